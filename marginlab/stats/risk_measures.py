"""Value at risk and expected shortfall of a sample of profits or returns.

Conventions: ``sample`` holds profits (or returns; positive = gain); ``alpha`` is the confidence
level (0.99). Both measures are returned as **positive losses**: ``value_at_risk`` is minus the
``1 - alpha`` empirical quantile (linear interpolation, numpy's default), ``expected_shortfall`` is
minus the mean of the observations at or below that quantile.

Other conventions in marginlab, deliberately different (they are part of their models' specifications):

* :func:`tail_measures` (here; the FHS margin uses it): *losses* in, ``k = ceil((1 - alpha) n)``, VaR the k-th
  largest loss (``inverted_cdf``, no interpolation), ES the mean of the k largest (so ``ES >= VaR`` always).
* :func:`drop_risk` (here; the haircuts use it): VaR the linear-interpolation quantile (as here), ES the mean of
  the ``max(1, floor((1 - alpha) n))`` largest losses.
* :func:`weighted_expected_shortfall` (here; the depeg model uses it): ES of a *weighted* discrete distribution,
  splitting the atom at the boundary (equals :func:`tail_measures`' ES when weights are equal and
  ``(1 - alpha) n`` is an integer).

Examples
--------
>>> import numpy as np
>>> sample = np.arange(-50, 50)  # -50, ..., 49
>>> float(value_at_risk(sample, 0.95))
45.05
>>> float(expected_shortfall(sample, 0.95))
48.0
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from marginlab.exceptions import InputError, ParameterError

ArrayLike = np.ndarray | pd.Series | list | tuple

__all__ = ["drop_risk", "expected_shortfall", "tail_measures", "tail_measures_by_row", "value_at_risk", "weighted_expected_shortfall"]


def _check(sample: ArrayLike, alpha: float) -> np.ndarray:
    if not 0.0 < float(alpha) < 1.0:
        raise ParameterError("alpha", alpha, "confidence level must lie strictly between 0 and 1")
    values = np.asarray(sample, dtype=float).ravel()
    if values.size == 0:
        raise InputError("sample", sample, "is empty")
    if not np.all(np.isfinite(values)):
        raise InputError("sample", f"{int(np.sum(~np.isfinite(values)))} non-finite values", "must be finite")
    return values


def value_at_risk(sample: ArrayLike, alpha: float = 0.99) -> float:
    """Value at risk at confidence ``alpha``: ``-quantile(sample, 1 - alpha)``, a positive loss.

    Parameters
    ----------
    sample : array-like
        Profits or returns (positive = gain).
    alpha : float
        Confidence level in (0, 1), e.g. 0.99.

    Returns
    -------
    float
        The loss not exceeded with probability ``alpha`` (may be negative if the whole tail is a gain).

    Examples
    --------
    >>> round(value_at_risk([-3.0, -1.0, 0.0, 1.0, 2.0], 0.75), 6)
    1.0
    """
    values = _check(sample, alpha)
    return float(-np.quantile(values, 1.0 - alpha))


def expected_shortfall(sample: ArrayLike, alpha: float = 0.99) -> float:
    """Expected shortfall (conditional VaR) at ``alpha``: minus the mean of the sample at or below its ``1-alpha`` quantile.

    Examples
    --------
    >>> round(expected_shortfall([-3.0, -1.0, 0.0, 1.0, 2.0], 0.75), 6)
    2.0
    """
    values = _check(sample, alpha)
    threshold = np.quantile(values, 1.0 - alpha)
    return float(-values[values <= threshold].mean())


def tail_measures(losses: NDArray[np.float64], confidence: float) -> tuple[float, float, NDArray[np.intp]]:
    """Empirical VaR, ES and the indices of the tail scenarios of ``losses`` (order-statistic convention).

    With ``k = ceil((1 - confidence) * n)`` (at least 1), VaR is the k-th largest loss (numpy's
    ``inverted_cdf`` quantile) and ES the mean of the k largest, so ``ES >= VaR``. Not floored, inputs not
    validated beyond emptiness (callers check them). Used by the FHS margin
    (:mod:`marginlab.margin.fhs`, which re-exports it).

    Parameters
    ----------
    losses : array, shape (n,)
        Scenario losses (positive = loss; note: *losses*, unlike :func:`value_at_risk`'s profits).
    confidence : float
        Confidence level alpha in (0, 1).

    Returns
    -------
    (float, float, numpy.ndarray)
        VaR, ES and the indices of the k worst scenarios (worst first, ties in input order).

    >>> tail_measures(np.arange(1.0, 101.0), 0.95)[:2]
    (96.0, 98.0)
    """
    losses = np.asarray(losses, dtype=np.float64)
    count = len(losses)
    if count == 0:
        raise InputError("losses", "empty", "needs at least one scenario")
    tail_count = max(1, math.ceil(round((1.0 - confidence) * count, 9)))
    order = np.argsort(-losses, kind="stable")
    tail = order[:tail_count]
    return float(losses[tail[-1]]), float(losses[tail].mean()), tail


def tail_measures_by_row(losses: NDArray[np.float64], confidence: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`tail_measures` of every row of a (portfolios x scenarios) loss matrix: VaR and ES per row.

    Same convention (``k = ceil((1 - confidence) n)``, VaR the k-th largest loss, ES the mean of
    the k largest), computed with one partial sort of the matrix instead of a loop over rows.

    >>> losses = np.vstack([np.arange(1.0, 101.0), -np.arange(1.0, 101.0)])
    >>> var, es = tail_measures_by_row(losses, 0.95)
    >>> var.tolist(), es.tolist()
    ([96.0, -5.0], [98.0, -3.0])
    """
    losses = np.atleast_2d(np.asarray(losses, dtype=np.float64))
    count = losses.shape[1]
    if count == 0:
        raise InputError("losses", "empty", "needs at least one scenario")
    tail_count = max(1, math.ceil(round((1.0 - confidence) * count, 9)))
    largest = np.partition(losses, count - tail_count, axis=1)[:, count - tail_count :]
    return largest.min(axis=1), largest.mean(axis=1)


def drop_risk(horizon_log_returns: np.ndarray, confidence: float) -> dict[str, float]:
    """VaR and ES at ``confidence`` of the log loss ``-R`` and of the price drop ``1 - exp(R)``.

    Returns a dict with ``var_log, es_log, var, es`` (positive = loss). VaR is the linear-interpolation quantile
    (as :func:`value_at_risk`), ES the mean of the ``max(1, floor((1 - c) n))``
    worst outcomes -- a different tail count from :func:`tail_measures`
    (``ceil``) and from ``expected_shortfall`` (at or below the quantile); kept because the haircut specification and
    its tests use it.

    >>> out = drop_risk(np.log([0.5, 0.9, 1.0, 1.1]), 0.5)
    >>> round(out["es"], 6)  # mean of the two worst drops 50% and 10%
    0.3
    """
    if not 0.5 <= confidence < 1.0:
        raise ParameterError("confidence", confidence, "must lie in [0.5, 1)")
    r = np.asarray(horizon_log_returns, dtype=float)
    losses = -r
    n = losses.size
    tail_count = max(int(math.floor(n * (1.0 - confidence) + 1e-9)), 1)
    worst = np.sort(losses)[::-1]
    var_log = float(np.quantile(losses, confidence))
    es_log = float(worst[:tail_count].mean())
    return {
        "var_log": var_log,
        "es_log": es_log,
        "var": float(1.0 - math.exp(-var_log)),
        "es": float(np.mean(1.0 - np.exp(-worst[:tail_count]))),
    }


def weighted_expected_shortfall(losses: np.ndarray, weights: np.ndarray, confidence: float) -> float:
    """Expected shortfall of a discrete loss distribution (positive = loss).

    The mean of the worst ``1 - confidence`` probability mass, splitting the atom at the boundary. With equal weights
    and ``(1 - confidence) n`` an integer it equals the ES of
    :func:`tail_measures`; the weights are why it is a separate function.

    >>> weighted_expected_shortfall(np.array([0.0, 1.0]), np.array([0.995, 0.005]), 0.99)
    0.5
    """
    losses = np.asarray(losses, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if losses.size == 0:
        raise InputError("losses", losses, "is empty")
    weights = weights / weights.sum()
    order = np.argsort(losses)[::-1]
    tail = 1.0 - confidence
    cumulative = np.cumsum(weights[order])
    taken = np.minimum(weights[order], np.maximum(tail - (cumulative - weights[order]), 0.0))
    return float(np.sum(taken * losses[order]) / tail)
