"""Procyclicality metrics of a margin-rate series: peak-to-trough ratio, largest n-day increases, average level.

Definitions for a daily margin-rate series ``m_t`` (fraction of price; NaN dropped):

* ``average_rate`` = mean of ``m_t``; ``peak_rate`` = max, ``trough_rate`` = min;
* ``peak_to_trough`` = ``max m / min m`` over the whole sample (the CPMI-IOSCO "peak-to-trough" measure);
* ``max_increase_{n}d`` = largest relative increase over n days, ``max_t (m_t / m_{t-n} - 1)``;
  ``max_increase_{n}d_points`` = largest absolute increase ``max_t (m_t - m_{t-n})`` (fraction of price).

Examples
--------
>>> import pandas as pd
>>> rates = pd.Series([0.10, 0.10, 0.20, 0.25, 0.15], index=pd.date_range("2024-01-01", periods=5))
>>> metrics = procyclicality_metrics(rates, increase_days=(1,))
>>> metrics["peak_to_trough"], metrics["max_increase_1d"], round(metrics["max_increase_1d_points"], 2)
(2.5, 1.0, 0.1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from marginlab.exceptions import InputError


def procyclicality_metrics(margin_rate: pd.Series, increase_days: Sequence[int] = (1, 5, 30)) -> dict[str, Any]:
    """Procyclicality figures of one margin-rate series (see the module docstring).

    Parameters
    ----------
    margin_rate : pandas.Series
        Daily margin rates (fraction of price), positive.
    increase_days : sequence of int
        Horizons of the largest-increase measures.

    Returns
    -------
    dict
        ``n_obs, average_rate, peak_rate, peak_date, trough_rate, trough_date, peak_to_trough`` and, per n,
        ``max_increase_{n}d``, ``max_increase_{n}d_points``.
    """
    if not isinstance(margin_rate, pd.Series):
        raise InputError("margin_rate", type(margin_rate).__name__, "must be a pandas Series")
    rates = margin_rate.astype(float).dropna()
    if rates.empty:
        raise InputError("margin_rate", "empty", "needs at least one non-NaN rate")
    if (rates <= 0).any():
        raise InputError("margin_rate", float(rates[rates <= 0].iloc[0]), "margin rates must be positive")
    out: dict[str, Any] = {
        "n_obs": float(rates.size),
        "average_rate": float(rates.mean()),
        "peak_rate": float(rates.max()),
        "peak_date": rates.idxmax(),
        "trough_rate": float(rates.min()),
        "trough_date": rates.idxmin(),
        "peak_to_trough": float(rates.max() / rates.min()),
    }
    for days in increase_days:
        if int(days) != days or days < 1:
            raise InputError("increase_days", days, "must be positive integers")
        ratio = rates / rates.shift(int(days)) - 1.0
        points = rates - rates.shift(int(days))
        out[f"max_increase_{days}d"] = float(np.nanmax(ratio.to_numpy())) if ratio.notna().any() else float("nan")
        out[f"max_increase_{days}d_points"] = float(np.nanmax(points.to_numpy())) if points.notna().any() else float("nan")
    return out


def procyclicality_table(margin_rates: Mapping[str, pd.Series], increase_days: Sequence[int] = (1, 5, 30)) -> pd.DataFrame:
    """:func:`procyclicality_metrics` of several margin-rate series (one row per name).

    Parameters
    ----------
    margin_rates : Mapping of str to pandas.Series
        Margin-rate series (fractions) by name, each indexed by date.
    increase_days : sequence of int
        Windows, in days, of the largest increases reported.

    Returns
    -------
    pandas.DataFrame
        One row per name: peak-to-trough ratio and the largest increase over each window.

    Examples
    --------
    >>> import pandas as pd
    >>> index = pd.date_range("2024-01-01", periods=3)
    >>> table = procyclicality_table({"flat": pd.Series(0.1, index=index), "rising": pd.Series([0.1, 0.2, 0.3], index=index)})
    >>> table["peak_to_trough"].round(2).tolist()
    [1.0, 3.0]
    """
    if not margin_rates:
        raise InputError("margin_rates", margin_rates, "needs at least one series")
    table = pd.DataFrame.from_dict(
        {name: procyclicality_metrics(rates, increase_days) for name, rates in margin_rates.items()}, orient="index"
    )
    table.index.name = "name"
    return table


def fixed_position_procyclicality(
    rates: pd.DataFrame,
    closes: Mapping[str, pd.Series],
    *,
    start: Any = None,
    end: Any = None,
    increase_days: Sequence[int] = (1, 5, 30),
) -> pd.DataFrame:
    """Procyclicality of the margin of fixed positions under published rates, per asset, requirement and side.

    ``rates`` is a ``marginlab backtest`` rates frame (``date, asset, requirement, side, rate``: the rate set at the close
    of ``date``, what ``calibrated-isolated`` and, for a lone perpetual, ``calibrated-portfolio`` charge). Two positions
    are held fixed: a constant **notional** (its margin is the rate itself, a fraction of the notional) and a constant
    **quantity** of one coin (its margin in USD is ``rate x close``, relative to its first value: a crash lowers the
    value margined while it raises the rate). Under the file's one rate (``requirement = "maintenance_rate"``) long and
    short pay the same rate, so their margins are the same series (both sides are listed to say so); under the side
    rates (``marginlab backtest --rates per-side``: ``maintenance_long``, ``maintenance_short``) each side has its own.

    Returns
    -------
    pandas.DataFrame
        One row per ``asset, requirement, side, position`` (``"fixed notional"``, ``"fixed quantity"``) with the
        :func:`procyclicality_metrics` figures.

    Examples
    --------
    >>> days = pd.date_range("2024-01-01", periods=3, tz="UTC")
    >>> rates = pd.DataFrame({"date": days, "asset": "X", "requirement": "maintenance_rate", "side": "long",
    ...                       "rate": [0.1, 0.2, 0.2]})
    >>> table = fixed_position_procyclicality(rates, {"X": pd.Series([100.0, 50.0, 100.0], index=days)}, increase_days=(1,))
    >>> table[["position", "peak_to_trough", "max_increase_1d"]].values.tolist()
    [['fixed notional', 2.0, 1.0], ['fixed quantity', 2.0, 1.0]]
    """
    frame = rates.copy()
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    if start is not None:
        frame = frame[frame["date"] >= pd.Timestamp(start, tz="UTC")]
    if end is not None:
        frame = frame[frame["date"] <= pd.Timestamp(end, tz="UTC")]
    rows = []
    for key, group in frame.groupby(["asset", "requirement", "side"], sort=False):
        asset, requirement, side = (str(part) for part in cast(tuple[Any, Any, Any], key))
        if asset not in closes:
            raise InputError("closes", asset, "has no close series")
        series = pd.Series(group["rate"].to_numpy(dtype=float), index=pd.DatetimeIndex(group["date"]))
        close = pd.Series(closes[asset], dtype=float)
        close.index = pd.DatetimeIndex(close.index)
        close.index = close.index.tz_localize("UTC") if close.index.tz is None else close.index.tz_convert("UTC")
        usd = series * close.reindex(series.index)
        usd = usd / usd.dropna().iloc[0] if usd.notna().any() else usd
        for position, margin in (("fixed notional", series), ("fixed quantity", usd)):
            metrics = procyclicality_metrics(margin, increase_days)
            rows.append({"asset": asset, "requirement": requirement, "side": side, "position": position, **metrics})
    return pd.DataFrame(rows)


def increases_explained(
    rates: pd.DataFrame,
    closes: Mapping[str, pd.Series],
    start: Any,
    end: Any,
    *,
    requirement: str | Sequence[str] = "maintenance_rate",
    factor: float = 2.0,
) -> pd.DataFrame:
    """Day-by-day rate of each asset (and side) over ``start .. end`` and whether an increase beyond ``factor`` is explained.

    The rate set at the close of D is compared with the one set at the close of D - 1; the day's own market move is
    ``P[D] / P[D-1] - 1``. An increase above ``factor`` (2 = the rate more than doubles) is **explained** when that
    day's loss exceeded the rate in force: for the one rate of both sides (``requirement`` without a side, e.g.
    ``"maintenance_rate"``) ``|move| > rate[D-1]`` (a long or a short lost more than its margin that very day); for a
    side rate (``"maintenance_long"``, ``"maintenance_short"``; pass both to see both) the loss of that side, ``-move``
    for a long and ``move`` for a short -- the market itself moved beyond the margin's cover.

    Returns
    -------
    pandas.DataFrame
        ``date, asset, requirement, side, previous_rate, rate, ratio, move, more_than_factor, explained`` (``ok`` = not
        more than the factor, or explained).

    Examples
    --------
    >>> days = pd.date_range("2022-11-07", periods=3, tz="UTC")
    >>> rates = pd.DataFrame({"date": days, "asset": "X", "requirement": "maintenance_rate", "side": "long",
    ...                       "rate": [0.05, 0.12, 0.13]})
    >>> table = increases_explained(rates, {"X": pd.Series([100.0, 80.0, 79.0], index=days)}, days[1], days[2])
    >>> table[["ratio", "move", "more_than_factor", "explained", "ok"]].round(3).values.tolist()
    [[2.4, -0.2, True, True, True], [1.083, -0.013, False, False, True]]
    >>> short = rates.assign(requirement="maintenance_short", side="short")
    >>> bool(increases_explained(short, {"X": pd.Series([100.0, 80.0, 79.0], index=days)}, days[1], days[2],
    ...                          requirement="maintenance_short")["explained"].iloc[0])
    False
    """
    wanted = [requirement] if isinstance(requirement, str) else list(requirement)
    frame = rates[rates["requirement"].isin(wanted)].copy()
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    frame["one_rate"] = ~frame["requirement"].astype(str).str.endswith(("_long", "_short"))
    frame.loc[frame["one_rate"], "side"] = "both"
    frame = frame.drop_duplicates(["date", "asset", "requirement"])  # the one rate: the same on both sides
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    lo = lo.tz_localize("UTC") if lo.tzinfo is None else lo
    hi = hi.tz_localize("UTC") if hi.tzinfo is None else hi
    rows = []
    for key, group in frame.groupby(["asset", "requirement"], sort=False):
        asset, name = (str(part) for part in cast(tuple[Any, Any], key))
        side = str(group["side"].iloc[0])
        series = pd.Series(group["rate"].to_numpy(dtype=float), index=pd.DatetimeIndex(group["date"])).sort_index()
        close = pd.Series(closes[asset], dtype=float)
        close.index = pd.DatetimeIndex(close.index)
        close.index = close.index.tz_localize("UTC") if close.index.tz is None else close.index.tz_convert("UTC")
        move = (close / close.shift(1) - 1.0).reindex(series.index)
        loss = move.abs() if side == "both" else (-move if side == "long" else move)
        previous = series.shift(1)
        window = (series.index >= lo) & (series.index <= hi)
        for day in series.index[window]:
            ratio = float(series[day] / previous[day]) if previous[day] > 0 else float("nan")
            more = bool(ratio > factor)
            explained = bool(float(loss[day]) > float(previous[day]))
            rows.append({"date": day, "asset": asset, "requirement": name, "side": side, "previous_rate": float(previous[day]),
                         "rate": float(series[day]), "ratio": ratio, "move": float(move[day]), "more_than_factor": more,
                         "explained": explained and more, "ok": (not more) or explained})
    return pd.DataFrame(rows)
