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
from typing import Any

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
    margin_rates : mapping of str to pandas.Series
        Margin-rate series by name.
    increase_days : sequence of int
        Horizons of the largest increases reported.

    Returns
    -------
    pandas.DataFrame
        One row per name: average, peak, trough, peak-to-trough and the largest increases.

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
