"""The rates a parameter file publishes, for every date at once: one function for ``calibrate`` and the backtest.

:func:`published_rates` runs the methodology's three requirement models
(:meth:`~marginlab.calibration.methodology.Methodology.stress_range_model` at the maintenance, initial and scan-range
horizon and confidence, each with the methodology's anti-procyclicality tool) on an asset's log returns and applies the
file's rules, so that :func:`~marginlab.calibration.calibrate.calibrate` (its last row) and ``marginlab backtest``
(every row) read the same numbers:

=====================  ===============================================================================================
``maintenance_rate``   ``min(max(down, up), 1)`` of the maintenance model (``rates.cap`` bounds each side first):
                       one rate charged to longs and shorts alike (the isolated and cross models do)
``initial_rate``       ``min(max(down, up, maintenance_rate), 1)`` of the initial model
``price_scan_range``   ``max(down, up)`` of the scan model (the grid's half-width)
=====================  ===============================================================================================

and the **side rates** the file publishes next to them (``side_rates`` of
:class:`~marginlab.parameters.AssetParameters`): ``maintenance_long = min(down, 1)`` (a long loses when the price
falls), ``maintenance_short = min(up, 1)``, ``initial_long = min(max(initial down, maintenance_long), 1)``,
``initial_short`` likewise, ``scan_long`` / ``scan_short`` the scan model's sides; the one rate is the larger side
(``maintenance_rate == max(maintenance_long, maintenance_short)``), so a one-rate engine charges the side rate of
the heavier tail to both sides. With the sides kept (``maintenance_down``, ``maintenance_up``, ...). With ``volatility.side_specific`` each up side is
the down side of the same model fitted to the mirrored returns (a mirrored fall ``d`` is the rise ``d / (1 - d)``). Rows are dated as the
:class:`~marginlab.calibration.stress_ranges.StressRangeResult` frame: the row ``d`` holds the rates in force on ``d``,
set at the previous close with data up to it; the last row (the day after the data) is what a calibration at the
last date publishes.

Examples
--------
>>> from marginlab.calibration.garch import simulate_garch
>>> from marginlab.calibration.methodology import Methodology
>>> returns = simulate_garch(1200, omega=0.05, alpha=0.08, beta=0.9, nu=5, rng=0)
>>> rates = published_rates(Methodology(), returns)
>>> last = rates.iloc[-1]
>>> bool(last["maintenance_rate"] == max(last["maintenance_down"], last["maintenance_up"]))
True
>>> bool((rates["initial_rate"] >= rates["maintenance_rate"]).all())
True
>>> bool((rates["maintenance_rate"] == rates[["maintenance_long", "maintenance_short"]].max(axis=1)).all())
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from marginlab.exceptions import InputError

if TYPE_CHECKING:
    from marginlab.calibration.methodology import Methodology
    from marginlab.calibration.stress_ranges import StressRangeResult

__all__ = ["REQUIREMENT_PREFIX", "published_rates", "requirement_of", "side_rate_column"]

#: Column prefix of each requirement's sides in the :func:`published_rates` frame.
REQUIREMENT_PREFIX: dict[str, str] = {"maintenance_rate": "maintenance", "initial_rate": "initial", "price_scan_range": "scan"}


def side_rate_column(requirement: str, side: str) -> str:
    """The :func:`published_rates` column of a requirement's rate for one side (``"long"`` or ``"short"``).

    >>> side_rate_column("initial_rate", "short")
    'initial_short'
    """
    if requirement not in REQUIREMENT_PREFIX:
        raise InputError("requirement", requirement, f"must be among {list(REQUIREMENT_PREFIX)}")
    if side not in ("long", "short"):
        raise InputError("side", side, "must be 'long' or 'short'")
    return f"{REQUIREMENT_PREFIX[requirement]}_{side}"


def requirement_of(methodology: Methodology, horizon_days: int, confidence: float) -> str | None:
    """The published requirement whose horizon and confidence these are (``None`` when none).

    >>> from marginlab.calibration.methodology import Methodology
    >>> requirement_of(Methodology(), 1, 0.99), requirement_of(Methodology(), 2, 0.997), requirement_of(Methodology(), 3, 0.99)
    ('maintenance_rate', 'price_scan_range', None)
    """
    for name, key in methodology.requirement_keys().items():
        if key == (int(horizon_days), float(confidence)):
            return name
    return None


def _rise(fall: pd.Series) -> pd.Series:
    """The rise ``d / (1 - d)`` of the original price that a fall ``d`` of the mirrored price is (same log move)."""
    return fall / (1.0 - fall)


def _with_mirrored_up_side(frame: pd.DataFrame, methodology: Methodology, horizon_days: int, confidence: float,
                           anti_procyclicality: bool | None, returns: pd.Series) -> pd.DataFrame:
    """``frame`` with ``scan_up``, ``base_up`` and ``es_up`` from the model fitted to ``-returns`` (its down side)."""
    model = methodology.stress_range_model(horizon_days, confidence, anti_procyclicality=anti_procyclicality, extreme_moves="none")
    cap = model.cap
    if cap is not None:  # a mirrored fall of cap / (1 + cap) is a rise of cap: the cap holds before the tools too
        model = dataclasses.replace(model, cap=cap / (1.0 + cap))
    mirrored = model.fit(-returns).frame.reindex(frame.index)
    out = frame.copy()
    out["scan_up"] = _rise(mirrored["scan_down"])
    out["base_up"] = _rise(mirrored["base_down"])
    out["es_up"] = _rise(mirrored["es_down"])
    out["scan_range"] = np.maximum(out["scan_down"], out["scan_up"])
    return out


def published_rates(
    methodology: Methodology,
    returns: pd.Series,
    *,
    anti_procyclicality: bool | None = None,
    extreme_moves: Literal["all", "last", "none"] = "none",
    results: dict[str, StressRangeResult] | None = None,
    requirements: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The published rates of every date (see the module docstring).

    Parameters
    ----------
    methodology : Methodology
    returns : pandas.Series
        Fractional daily log returns of one asset.
    anti_procyclicality : bool or None
        ``None``: the methodology's tool on every requirement; ``False``: the plain quantiles (for comparison).
    extreme_moves : {"all", "last", "none"}
        Extreme moves of the scan model (``"last"`` for a calibration, ``"none"`` for a backtest).
    results : dict, optional
        Filled with the three :class:`~marginlab.calibration.stress_ranges.StressRangeResult` by requirement name.
    requirements : sequence of str, optional
        Compute only these (``"initial_rate"`` brings ``"maintenance_rate"``, which it is never below); default all
        three. The columns of the others are left out.

    Returns
    -------
    pandas.DataFrame
        Indexed by date (the dates all three models cover), columns ``maintenance_rate, initial_rate,
        price_scan_range``, the side rates ``maintenance_long/short, initial_long/short, scan_long/short`` (module
        docstring), their sides before the 100% cap and the initial >= maintenance rule ``maintenance_down/up,
        initial_down/up, scan_down/up``, the plain (before the
        tool) sides ``maintenance_base_down/up``..., the ratio of each side's expected shortfall to its plain rate
        ``maintenance_es_ratio_down/up``... (the ES that goes with a published rate on a side is the rate times it), and the scan model's ``extreme_*`` and ``historical_worst_*`` columns, ``maintenance_vol_1d`` and ``in_sample`` (a rate of the warm-up window, never published
        by a backtest).
    """
    fits: dict[tuple[int, float, bool], StressRangeResult] = {}
    frames: dict[str, pd.DataFrame] = {}
    side_specific = methodology.volatility.side_specific
    wanted = set(REQUIREMENT_PREFIX) if requirements is None else set(requirements)
    unknown = sorted(wanted - set(REQUIREMENT_PREFIX))
    if unknown:
        raise InputError("requirements", unknown[0], f"must be among {list(REQUIREMENT_PREFIX)}")
    if "initial_rate" in wanted:
        wanted.add("maintenance_rate")
    for name, (h, c) in methodology.requirement_keys().items():
        if name not in wanted:
            continue
        scan = name == "price_scan_range"
        key = (h, c, scan)
        if key not in fits:
            model = methodology.stress_range_model(h, c, anti_procyclicality=anti_procyclicality,
                                                   extreme_moves=extreme_moves if scan else "none")
            fits[key] = model.fit(returns)
        if results is not None:
            results[name] = fits[key]
        frames[name] = fits[key].frame
        if side_specific:
            frames[name] = _with_mirrored_up_side(frames[name], methodology, h, c, anti_procyclicality, returns)
    names = [name for name in REQUIREMENT_PREFIX if name in frames]
    index = frames[names[0]].index
    for frame in frames.values():
        index = index.intersection(frame.index)
    out = pd.DataFrame(index=index)
    for name in names:
        prefix = REQUIREMENT_PREFIX[name]
        frame = frames[name].reindex(index)
        out[f"{prefix}_down"] = frame["scan_down"]
        out[f"{prefix}_up"] = frame["scan_up"]
        out[f"{prefix}_base_down"] = frame["base_down"]
        out[f"{prefix}_base_up"] = frame["base_up"]
        out[f"{prefix}_es_ratio_down"] = frame["es_down"] / frame["base_down"]
        out[f"{prefix}_es_ratio_up"] = frame["es_up"] / frame["base_up"]
    position = 0
    if "maintenance_rate" in frames:
        maintenance = np.minimum(np.maximum(out["maintenance_down"], out["maintenance_up"]), 1.0)
        out.insert(position, "maintenance_rate", maintenance)
        position += 1
        out["maintenance_vol_1d"] = frames["maintenance_rate"].reindex(index)["vol_1d"]
    if "initial_rate" in frames:
        initial = np.minimum(np.maximum(np.maximum(out["initial_down"], out["initial_up"]), out["maintenance_rate"]), 1.0)
        out.insert(position, "initial_rate", initial)
        position += 1
    if "maintenance_rate" in frames:
        out["maintenance_long"] = np.minimum(out["maintenance_down"], 1.0)
        out["maintenance_short"] = np.minimum(out["maintenance_up"], 1.0)
    if "initial_rate" in frames:
        out["initial_long"] = np.minimum(np.maximum(out["initial_down"], out["maintenance_long"]), 1.0)
        out["initial_short"] = np.minimum(np.maximum(out["initial_up"], out["maintenance_short"]), 1.0)
    if "price_scan_range" in frames:
        out["scan_long"], out["scan_short"] = out["scan_down"], out["scan_up"]
        out.insert(position, "price_scan_range", np.maximum(out["scan_down"], out["scan_up"]))
        scan_frame = frames["price_scan_range"].reindex(index)
        for column in ("extreme_down", "extreme_up", "historical_worst_down", "historical_worst_up", "vol_forecast"):
            out[f"scan_{column}" if column == "vol_forecast" else column] = scan_frame[column]
    in_sample = np.zeros(len(index), dtype=bool)
    for frame in frames.values():
        in_sample |= frame["in_sample"].reindex(index).fillna(False).to_numpy(dtype=bool)
    out["in_sample"] = in_sample
    out.index.name = "date"
    return out
