"""Deribit portfolio margin presets of the risk-matrix engine (worked examples C3 and D).

``deribit-pm`` (C3, the current public description)
    Spot moves of -16%..+16% in 9 evenly spaced points (including 0), each with the vol up,
    unchanged and down (27 scenarios); vol shocks multiplicative with a (30/DTE)^p term
    structure, ``p = 0.3`` at or below 30 days and ``0.13`` above::

        up   = max(vol * (1 + 0.5 * (30/DTE)^p), 0.5)       down = vol * (1 - 0.25 * (30/DTE)^p)

    (BTC values as replicated publicly: up range 0.5, down range 0.25, minimum vol 0.5), plus
    an extended table of large moves (-66%, -33%, +50%, +100%, +200%, +300%, +400%, +500%, vol
    up only) counted at a dampened fraction. **Assumption**: the dampening of the extended
    table is not given in the source; ``tail_dampening`` defaults to 0.1. The source does not
    give a scaling between the worst loss and IM/MM either; both loss factors default to 1
    (parameters). The current description has no contingencies (they default to 0).
``deribit-pm-legacy`` (C3, older parameter sets)
    -12.5%..+12.5% (parameter ``spot_range``), option contingency 0.01 BTC per net short
    option per strike (= 1% of the index), futures contingency 1% of futures/perpetual notional.
``deribit-futures-pm`` (D, the Dederi wiki example)
    Futures only: spot moves -15%..+15% in 3% steps (11 points), no vol shock, futures
    contingency 0.6% of ``index * sum |Q|``.

All three are instances of :class:`~marginlab.margin.risk_matrix.RiskMatrixModel`. The
registered presets are read from the venue files ``venues/deribit-pm.yaml``,
``deribit-pm-legacy.yaml`` and ``deribit-futures-pm.yaml`` (the functions below build the same
shapes with other parameters; a test checks that the files and the functions agree).

>>> from marginlab.margin.deribit_pm import deribit_pm
>>> model = deribit_pm()
>>> len(model.scenarios), model.vol_shock.min_shocked_vol
(35, 0.5)
"""

from __future__ import annotations

from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.margin.scenarios import ScenarioGrid, VolShock

#: Extended (large-move) table of C3: spot multipliers, vol up only.
EXTENDED_MOVES = (0.34, 0.67, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)


def deribit_vol_shock(up_range: float = 0.5, down_range: float = 0.25, min_vol: float = 0.5) -> VolShock:
    """C3's vol shock: (30/DTE)^p with p = 0.3 (<= 30 days) / 0.13 (> 30 days), DTE floored at 1 day."""
    return VolShock(up_range=up_range, down_range=down_range, short_term_power=0.3, long_term_power=0.13, floor_days=1.0,
                    min_shocked_vol=min_vol, pivot_days=30.0)


def deribit_pm(
    spot_range: float = 0.16,
    points: int = 9,
    tail_dampening: float = 0.1,
    *,
    up_range: float = 0.5,
    down_range: float = 0.25,
    min_vol: float = 0.5,
    option_contingency: float = 0.0,
    futures_contingency: float = 0.0,
    mm_loss_factor: float = 1.0,
    im_loss_factor: float = 1.0,
    name: str = "deribit-pm",
) -> RiskMatrixModel:
    """Deribit portfolio margin (C3) with its parameters; see the module docstring."""
    grid = ScenarioGrid.regular(spot_range, points, ("up", "none", "down"), extra=[(x, "up", tail_dampening) for x in EXTENDED_MOVES])
    return RiskMatrixModel(
        grid,
        deribit_vol_shock(up_range, down_range, min_vol),
        mm_loss_factor=mm_loss_factor,
        im_loss_factor=im_loss_factor,
        option_contingency_mm=option_contingency,
        linear_contingency_mm=futures_contingency,
        preset_name=name,
    )


def deribit_pm_legacy() -> RiskMatrixModel:
    """Older Deribit PM parameters (C3): +-12.5%, 1% option and 1% futures contingencies."""
    return deribit_pm(spot_range=0.125, option_contingency=0.01, futures_contingency=0.01, name="deribit-pm-legacy")


def deribit_futures_pm(spot_range: float = 0.15, step: float = 0.03, futures_contingency: float = 0.006) -> RiskMatrixModel:
    """Futures portfolio margin of worked example D: +-15% in 3% steps, contingency 0.6% of index notional."""
    points = int(round(2 * spot_range / step)) + 1
    return RiskMatrixModel(ScenarioGrid.regular(spot_range, points, ("none",)), linear_contingency_mm=futures_contingency,
                           preset_name="deribit-futures-pm")
