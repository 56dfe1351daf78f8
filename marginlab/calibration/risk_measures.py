"""Value at risk and expected shortfall of a sample of profits or returns.

Conventions: ``sample`` holds profits (or returns; positive = gain); ``alpha`` is the confidence
level (0.99). Both measures are returned as **positive losses**: ``value_at_risk`` is minus the
``1 - alpha`` empirical quantile (linear interpolation, numpy's default), ``expected_shortfall`` is
minus the mean of the observations at or below that quantile.

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

import numpy as np
import pandas as pd

from marginlab.exceptions import InputError, ParameterError

ArrayLike = np.ndarray | pd.Series | list | tuple


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
