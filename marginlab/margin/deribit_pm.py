"""Deribit portfolio margin, one venue file per publicly described version (worked examples C3 and D).

Every number lives in a venue file (``marginlab/margin/venues/``); :func:`marginlab.margin.presets.deribit_pm`
reads one and changes what its arguments name (engines never read the venue files).

``deribit-pm`` (the current model, 2024; the default)
    Spot moves of -16%..+16% in 9 evenly spaced points (including 0), each with the vol up,
    unchanged and down (27 scenarios); vol shocks multiplicative with a (30/DTE)^p term
    structure, ``p = 0.3`` at or below 30 days and ``0.13`` above::

        up   = max(vol * (1 + 0.5 * (30/DTE)^p), 0.5)       down = vol * (1 - 0.25 * (30/DTE)^p)

    IM is the worst loss, MM = 0.8 x IM (``mm_factor``); no contingencies (the 2024 model
    removed them). Every value is published (Deribit's support page and the example parameters
    of its ``private/pme/simulate`` API). The extended table of large moves is described but its
    dampener is not published, so the file leaves it out (``omitted``).
``deribit-pm-c3``
    The C3 summary: the same grid plus the extended table (-66%, -33%, +50% .. +500%, vol up
    only) counted at an **assumed** dampening of 0.1, and IM = MM (assumed).
``deribit-pm-v2`` (an undated page, after v1)
    +-10%; IV change ``(30/DTE)^0.30 x 38%``; 0.01 BTC per net short option per strike (calls and
    puts of a strike netted); 1% of the offsetting futures amount ``min(long, short)``.
``deribit-pm-v1`` (the first documented version)
    +-12.5%; IV change ``sqrt(30/DTE) x 40%``; 1% of the underlying value of all options (long and
    short); 2% of the offsetting futures amount; 25% of the offsetting vega across expiries,
    ``min(sum of the positive expiry vegas, sum of the negative ones)``.
``deribit-pm-legacy``
    C3's summary of older parameter sets (+-12.5%, 1% option and futures contingencies).
``deribit-futures-pm`` (D, the Dederi wiki example)
    Futures only: spot moves -15%..+15% in 3% steps (11 points), no vol shock, futures
    contingency 0.6% of ``index * sum |Q|``.

The risk-matrix versions are instances of :class:`~marginlab.margin.risk_matrix.RiskMatrixModel`;
v1 and v2, whose contingencies the engine does not have (offsetting futures, all options,
offsetting vega), are :class:`DeribitPortfolioMargin`: the engine's scenarios plus those components.

>>> from marginlab.margin.presets import deribit_pm
>>> model = deribit_pm()
>>> len(model.scenarios), model.vol_shock.min_shocked_vol, model.mm_loss_factor
(27, 0.5, 0.8)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from marginlab.account import Account
from marginlab.exceptions import ParameterError
from marginlab.instruments import Future, Option, Perpetual, Position
from marginlab.margin.base import MarginModel, MarginResult
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.market import MarketSnapshot
from marginlab.pricing import black76_greeks


# --------------------------------------------------------------------------- versions with other contingencies
@dataclass(frozen=True)
class DeribitPortfolioMargin(MarginModel):
    """Deribit's earlier portfolio margin: the scenario engine plus the contingencies of its pages.

    Parameters
    ----------
    engine : RiskMatrixModel
        Grid, vol shock, loss factors and the net-short-option-per-strike contingency.
    all_options_contingency : float
        Fraction of the underlying value of every option, long and short (v1: 1%).
    offsetting_futures_contingency : float
        Fraction of the underlying value of the offsetting futures amount per underlying,
        ``min(sum of long coins, sum of short coins)`` over its futures and perpetuals (v1 2%, v2 1%).
    vega_offset_contingency : float
        Fraction of the offsetting vega per underlying, ``min(sum of the positive net vegas of the
        expiries, sum of the negative ones)`` in USD per ``vega_unit`` of vol (v1: 25%).
    vega_unit : float
        The vol move one unit of vega refers to (0.01: one vol point).
    preset_name : str

    Examples
    --------
    >>> from marginlab.margin.presets import get_model
    >>> get_model("deribit-pm-v2").offsetting_futures_contingency
    0.01
    """

    family: ClassVar[str] = "portfolio"

    engine: RiskMatrixModel
    all_options_contingency: float = 0.0
    offsetting_futures_contingency: float = 0.0
    vega_offset_contingency: float = 0.0
    vega_unit: float = 0.01
    preset_name: str = ""

    def __post_init__(self) -> None:
        for name in ("all_options_contingency", "offsetting_futures_contingency", "vega_offset_contingency", "vega_unit"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ParameterError(name, value, "must be a finite non-negative number")

    def contingencies(self, account: Account, market: MarketSnapshot) -> pd.DataFrame:
        """One row per underlying: ``all_options_usd``, ``offsetting_futures_usd``, ``offsetting_vega_usd`` (charges, USD)."""
        rows = []
        for asset in account.underlyings:
            index = market.index_usd(asset)
            options = 0.0
            long_coins = short_coins = 0.0
            vega_by_expiry: dict[Any, float] = {}
            for position in account.positions:
                instrument = position.instrument
                if position.underlying != asset:
                    continue
                if isinstance(instrument, Option):
                    coins = abs(position.coin_quantity(index))
                    options += coins * index
                    years = market.time_to_expiry_years(instrument.expiry)
                    forward = market.forward_usd(asset, instrument.expiry)
                    vol = market.vol(asset, instrument.expiry, instrument.strike_usd)
                    greeks = black76_greeks(forward, instrument.strike_usd, years, vol, market.rate, instrument.is_call)
                    vega = position.coin_quantity(forward) * float(greeks.vega) * self.vega_unit
                    vega_by_expiry[instrument.expiry] = vega_by_expiry.get(instrument.expiry, 0.0) + vega
                elif isinstance(instrument, Future | Perpetual):
                    coins = Position(instrument, position.quantity).coin_quantity(index)
                    long_coins += max(coins, 0.0)
                    short_coins += max(-coins, 0.0)
            vegas = list(vega_by_expiry.values())
            offset_vega = min(sum(v for v in vegas if v > 0), -sum(v for v in vegas if v < 0))
            rows.append({"underlying": asset,
                         "all_options_usd": self.all_options_contingency * options,
                         "offsetting_futures_usd": self.offsetting_futures_contingency * min(long_coins, short_coins) * index,
                         "offsetting_vega_usd": self.vega_offset_contingency * offset_vega})
        return pd.DataFrame(rows, columns=["underlying", "all_options_usd", "offsetting_futures_usd", "offsetting_vega_usd"])

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        """The engine's result with the three contingencies added to IM and MM (one component row each)."""
        base = self.engine.margin(account, market)
        table = self.contingencies(account, market)
        totals = {c: float(table[c].sum()) for c in ("all_options_usd", "offsetting_futures_usd", "offsetting_vega_usd")}
        rows = pd.DataFrame([
            ("all options contingency", totals["all_options_usd"], totals["all_options_usd"],
             f"{self.all_options_contingency:g} x underlying value of every option (long and short)"),
            ("offsetting futures contingency", totals["offsetting_futures_usd"], totals["offsetting_futures_usd"],
             f"{self.offsetting_futures_contingency:g} x min(long, short) futures coins x index, per underlying"),
            ("vega offset contingency", totals["offsetting_vega_usd"], totals["offsetting_vega_usd"],
             f"{self.vega_offset_contingency:g} x min(long, short) net vega of the expiries (USD per {self.vega_unit:g} vol)"),
        ], columns=["component", "initial_margin_usd", "maintenance_margin_usd", "explanation"])
        extra = sum(totals.values())
        details = {**base.details, "deribit_contingencies": table}
        return dataclasses.replace(base, model=self.name, initial_margin_usd=base.initial_margin_usd + extra,
                                   maintenance_margin_usd=base.maintenance_margin_usd + extra,
                                   components=pd.concat([base.components, rows], ignore_index=True), details=details, assumptions=())

    def describe(self) -> str:
        """The configuration in one sentence."""
        grid, shock = self.engine.scenarios, self.engine.vol_shock
        return (f"{len(grid)} scenarios, spot {100 * (min(grid.spot_shock) - 1):+.1f}%..{100 * (max(grid.spot_shock) - 1):+.1f}%; vol shock "
                f"{shock.up_range:g} / {shock.down_range:g} x (30/DTE)^{shock.short_term_power:g}; contingencies: net short options per strike "
                f"{self.engine.option_contingency_mm:g}, all options {self.all_options_contingency:g}, offsetting futures "
                f"{self.offsetting_futures_contingency:g}, offsetting vega {self.vega_offset_contingency:g} (per {self.vega_unit:g} vol)")


__all__ = ["DeribitPortfolioMargin"]
