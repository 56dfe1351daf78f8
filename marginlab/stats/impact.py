"""Square-root market impact: the one implementation in marginlab.

Selling ``size`` into a market trading ``ADV`` a day moves the price by about ``k * sigma_daily * sqrt(size / ADV)``
(Almgren, Thum, Hauptmann & Li 2005; Toth et al. 2011; the prefactor ``k`` is 0.5-1 empirically). Used by the
haircut liquidity add-on, the FHS margin liquidity add-on and the cascade price impact.
"""

from __future__ import annotations

import math

import numpy as np

from marginlab.exceptions import InputError, ParameterError

__all__ = ["square_root_impact"]


def square_root_impact(size_usd: float | np.ndarray, adv_usd: float | np.ndarray, sigma_daily: float | np.ndarray, k: float = 1.0) -> float | np.ndarray:
    """Square-root market impact ``k * sigma_daily * sqrt(size_usd / adv_usd)`` as a fraction of price.

    The one implementation of the square-root law in marginlab: the FHS liquidity add-on
    (:func:`marginlab.margin.fhs.square_root_liquidity_addon`) and the cascade price impact
    (:class:`marginlab.analysis.cascade.SquareRootImpact`) call it with sizes and volumes in units of the
    asset -- only the ratio ``size / adv`` matters, so any common unit works.

    Parameters
    ----------
    size_usd : float or array
        Value of the position to sell (>= 0), or its size in units when ``adv_usd`` is in units too.
    adv_usd : float or array
        Average daily traded value (> 0), in the unit of ``size_usd``.
    sigma_daily : float or array
        Daily volatility (fraction, >= 0).
    k : float
        Impact prefactor (literature 0.5-1).

    Examples
    --------
    >>> round(square_root_impact(1e6, 1e8, 0.04, k=1.0), 6)  # 1 * 4% * sqrt(0.01)
    0.004
    """
    size = np.asarray(size_usd, dtype=float)
    adv = np.asarray(adv_usd, dtype=float)
    sigma = np.asarray(sigma_daily, dtype=float)
    if np.any(~np.isfinite(size)) or np.any(size < 0):
        raise InputError("size_usd", size_usd, "must be finite and >= 0")
    if np.any(~np.isfinite(adv)) or np.any(adv <= 0):
        raise InputError("adv_usd", adv_usd, "must be finite and > 0")
    if np.any(~np.isfinite(sigma)) or np.any(sigma < 0):
        raise InputError("sigma_daily", sigma_daily, "must be finite and >= 0")
    if not (math.isfinite(k) and k >= 0):
        raise ParameterError("k", k, "must be finite and >= 0")
    out = k * sigma * np.sqrt(size / adv)
    return float(out) if out.ndim == 0 else out
