"""The one EWMA (RiskMetrics) variance recursion of marginlab.

``sigma2[t+1] = decay sigma2[t] + (1 - decay) r[t]^2`` (zero mean) is computed once, by
:func:`ewma_variance_forecasts`, as a single IIR filter (``scipy.signal.lfilter``) over all columns. It is the
recursion of ``arch``'s :class:`arch.univariate.EWMAVariance` (tested against it, backcast seed included);
``arch``'s own class is used for fitting, this function for the fast path over thousands of dates and assets.
Two views of it:

* :func:`ewma_volatility` -- pandas, aligned on the return dates (the value at ``t`` uses returns before ``t``),
  ``arch``'s backcast seed; used by calibration (stress ranges, the GARCH fallback, haircuts).
* :func:`ewma_volatility_forecasts` -- numpy, ``n + 1`` rows (the last one is the forecast for the day after the
  data), mean-of-first-days seed; used by the FHS margin model and the market history.

Examples
--------
>>> import numpy as np
>>> ewma_variance_forecasts(np.array([0.1, 0.2]), 0.5, seed="mean", seed_days=1)
array([0.01 , 0.01 , 0.025])
>>> np.round(ewma_volatility_forecasts(np.array([0.01, -0.01, 0.01]), 0.94), 6)
array([0.01, 0.01, 0.01, 0.01])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.signal import lfilter

from marginlab.exceptions import InputError, ParameterError

__all__ = [
    "EWMA_DECAY",
    "EWMA_SEED_DAYS",
    "backcast",
    "ewma_variance_forecasts",
    "ewma_volatility",
    "ewma_volatility_forecasts",
]

#: RiskMetrics decay (daily data).
EWMA_DECAY = 0.94
#: Days of the mean seed of :func:`ewma_volatility_forecasts`.
EWMA_SEED_DAYS = 30


def backcast(eps: np.ndarray) -> float:
    """``arch``'s backcast: exponentially weighted mean of the first 75 squared residuals (weights 0.94^i).

    >>> backcast(np.array([0.1, 0.1]))
    0.01
    """
    tau = min(75, eps.size)
    weights = 0.94 ** np.arange(tau)
    weights /= weights.sum()
    return float(np.sum(weights * eps[:tau] ** 2))


def _as_series(returns: Any) -> pd.Series:
    series = returns if isinstance(returns, pd.Series) else pd.Series(np.asarray(returns, dtype=float))
    series = series.astype(float)
    if len(series) < 2:
        raise InputError("returns", f"{len(series)} observations", "at least 2 are needed")
    if not np.all(np.isfinite(series.to_numpy())):
        bad = series.index[~np.isfinite(series.to_numpy())][:3].tolist()
        raise InputError("returns", f"non-finite values at {bad}", "returns must be finite (drop or fill gaps first)")
    return series


def ewma_variance_forecasts(
    returns: Any, decay: float = EWMA_DECAY, *, seed: str | float = "backcast", seed_days: int = 75
) -> np.ndarray:
    """RiskMetrics EWMA one-step variance forecasts: the one implementation every EWMA in marginlab uses.

    ``sigma2[0] = seed``, ``sigma2[t+1] = decay sigma2[t] + (1 - decay) r[t]^2`` (zero mean), so row ``t`` of the
    ``n + 1`` rows is the forecast for day ``t`` made with ``r[:t]`` and the last row the forecast for the day after
    the data. Vectorised over columns (one IIR filter). Callers differ only in the seed and in which rows they keep:

    * :func:`ewma_volatility` (and the GARCH fallback of :func:`marginlab.calibration.garch.fit_garch`):
      ``seed="backcast"`` (``arch``'s backcast, a
      0.94-weighted mean of the first 75 squared returns), rows ``[:n]``, or all rows with ``include_next``;
    * :func:`ewma_volatility_forecasts` (the FHS margin): ``seed="mean"`` over ``seed_days=30``, all ``n + 1`` rows;
    * the scenario paths of :mod:`marginlab.analysis.stress_scenarios`: ``seed="mean"``, ``seed_days=1`` and rows ``[1:]``,
      i.e. the estimate *at the end of* day ``t`` including ``r[t]`` (what ``pandas ewm(adjust=False)`` gives).

    Parameters
    ----------
    returns : array_like, shape (n,) or (n, k)
        Daily log returns (fractions or any scale; the variance is in the squared unit), finite, ``n >= 1``.
    decay : float
        lambda in (0, 1).
    seed : {"backcast", "mean"} or float
        Initial variance: ``arch``'s backcast over ``min(75, n)`` returns (``seed_days`` ignored), the plain mean
        of the first ``min(seed_days, n)`` squared returns, or a given variance (>= 0, one column only).
    seed_days : int
        Window of the ``"mean"`` seed (>= 1).

    Returns
    -------
    numpy.ndarray, shape (n + 1,) or (n + 1, k)
        Variances (not volatilities).

    Examples
    --------
    >>> ewma_variance_forecasts(np.array([0.1, 0.2]), 0.5, seed="mean", seed_days=1)
    array([0.01 , 0.01 , 0.025])
    """
    if not 0.0 < decay < 1.0:
        raise ParameterError("decay", decay, "must lie strictly between 0 and 1")
    if isinstance(seed, str):
        if seed not in ("backcast", "mean"):
            raise InputError("seed", seed, "must be one of ['backcast', 'mean'] or a variance")
    elif not (math.isfinite(seed) and seed >= 0):
        raise ParameterError("seed", seed, "an initial variance must be finite and >= 0")
    if seed_days < 1:
        raise ParameterError("seed_days", seed_days, "must be at least 1")
    values = np.asarray(returns, dtype=np.float64)
    one_dimensional = values.ndim == 1
    values = values.reshape(len(values), -1)
    if len(values) == 0:
        raise InputError("returns", "empty", "needs at least one return")
    if not np.all(np.isfinite(values)):
        raise InputError("returns", "non-finite", "returns contain NaN or inf")
    squared = values * values
    if not isinstance(seed, str):
        start = np.full(values.shape[1], float(seed))
    elif seed == "backcast":
        start = np.array([backcast(column) for column in values.T])
    else:
        start = squared[: min(seed_days, len(values))].mean(axis=0)
    variance = np.empty((len(values) + 1, values.shape[1]))
    variance[0] = start
    # the recursion v[t+1] = decay v[t] + (1 - decay) r[t]^2 as one IIR filter over all columns
    variance[1:], _ = lfilter([1.0 - decay], [1.0, -decay], squared, axis=0, zi=decay * variance[:1])
    return variance[:, 0] if one_dimensional else variance


def ewma_volatility(returns: pd.Series, decay: float = EWMA_DECAY, include_next: bool = False) -> pd.Series:
    """RiskMetrics EWMA one-step volatility forecasts (fractional, daily), indexed by the return date they forecast.

    ``sigma2_{t+1} = decay sigma2_t + (1 - decay) r_t^2`` (zero mean), started at ``arch``'s backcast of the
    first 75 squared returns. The value at date ``t`` uses returns strictly before ``t`` (same length as
    ``returns``); ``include_next=True`` appends the forecast for the day after the data (one index step after the
    last date), as :func:`rolling_forecast` does. Computed by :func:`ewma_variance_forecasts`.

    Examples
    --------
    >>> import pandas as pd
    >>> vol = ewma_volatility(pd.Series([0.01, -0.02, 0.03] * 50), decay=0.94)
    >>> len(vol), round(float(vol.iloc[-1]), 4)
    (150, 0.0214)
    >>> len(ewma_volatility(pd.Series([0.01, -0.02, 0.03] * 50), include_next=True))
    151
    """
    if not 0.0 < decay < 1.0:
        raise ParameterError("decay", decay, "must lie strictly between 0 and 1")
    series = _as_series(returns)
    variance = ewma_variance_forecasts(series.to_numpy(), decay, seed="backcast")
    if not include_next:
        return pd.Series(np.sqrt(variance[:-1]), index=series.index, name="ewma_vol")
    index = series.index.append(pd.Index([series.index[-1] + (series.index[-1] - series.index[-2])]))
    return pd.Series(np.sqrt(variance), index=index, name="ewma_vol")


def ewma_volatility_forecasts(returns: Any, decay: float = EWMA_DECAY, seed_days: int = EWMA_SEED_DAYS) -> NDArray[np.float64]:
    """EWMA daily volatility forecasts, one row more than ``returns`` (numpy view, mean seed).

    Row ``t`` is the forecast for day ``t`` made with returns up to ``t - 1``; the last row is the forecast for the
    day after the sample. The initial variance is the mean of the squared returns of the first
    ``min(seed_days, n)`` days.

    Parameters
    ----------
    returns : array_like, shape (n,) or (n, k)
        Daily log returns (fractions), no NaN.
    decay : float
        lambda in (0, 1).
    seed_days : int
        Window of the seed.
    """
    if not (isinstance(decay, int | float) and 0 < decay < 1):
        raise ParameterError("decay", decay, "must lie strictly between 0 and 1")
    values = np.asarray(returns, dtype=np.float64)
    if len(values) == 0:
        raise InputError("returns", "empty", "needs at least one return")
    if not np.all(np.isfinite(values)):
        raise InputError("returns", "non-finite", "daily returns contain NaN or inf")
    return np.sqrt(ewma_variance_forecasts(values, decay, seed="mean", seed_days=max(1, int(seed_days))))

