"""Filtered historical simulation (FHS): bootstrap of standardised residuals, re-scaled by a volatility forecast.

``R = sum_k sigma_{T+k} z_k`` with ``z_k`` drawn with replacement (i.i.d. across days) from the standardised
residuals of a volatility model (Barone-Adesi, Giannopoulos & Vosper 1999). The one implementation of the
bootstrap in marginlab: haircuts, the calibrated rates and the FHS margin model draw from it. Seeding helpers give
one independent generator per asset, so an asset's draws do not depend on which other assets are calibrated with it.

Examples
--------
>>> import numpy as np
>>> z = np.array([-1.0, 1.0] * 10)
>>> sorted(set(np.round(fhs_horizon_returns(z, [0.01, 0.02], 2, n_simulations=200, rng=0), 6).tolist()))
[-0.03, -0.01, 0.01, 0.03]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from marginlab.exceptions import InputError, ParameterError

__all__ = ["as_generator", "asset_generators", "fhs_horizon_returns"]


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A numpy Generator from a Generator, a seed or ``None``."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def asset_generators(rng: np.random.Generator | int | None, assets: Sequence[str]) -> dict[str, np.random.Generator]:
    """One independent Generator per asset, seeded by ``(one draw of rng, crc32(asset))``.

    An asset's simulations then do not depend on which other assets are calibrated with it, nor
    on their order (results are permutation invariant).
    """
    import zlib

    base = int(as_generator(rng).integers(0, 2**63 - 1))
    return {str(a): np.random.default_rng([base, zlib.crc32(str(a).encode())]) for a in assets}


def fhs_horizon_returns(
    std_residuals: np.ndarray,
    forecast_vol_daily: float | np.ndarray,
    horizon_days: int,
    n_simulations: int = 20_000,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Filtered historical simulation of ``h``-day log returns ``sum_k sigma_{T+k} z_k``.

    Parameters
    ----------
    std_residuals : array
        Standardised residuals ``z_t`` (bootstrapped with replacement, i.i.d. across days).
    forecast_vol_daily : float or array of length ``horizon_days``
        Daily volatility forecast path (fraction).
    horizon_days : int
    n_simulations : int
    rng : Generator, int or None

    Returns
    -------
    ndarray of shape ``(n_simulations,)``
    """
    z = np.asarray(std_residuals, dtype=float)
    z = z[np.isfinite(z)]
    if z.size < 20:
        raise InputError("std_residuals", f"{z.size} finite values", "needs at least 20 residuals to bootstrap")
    h = int(horizon_days)
    if h < 1 or h != horizon_days:
        raise ParameterError("horizon_days", horizon_days, "must be a positive integer")
    sigma = np.broadcast_to(np.asarray(forecast_vol_daily, dtype=float), (h,))
    if np.any(~np.isfinite(sigma)) or np.any(sigma < 0):
        raise InputError("forecast_vol_daily", forecast_vol_daily, "must be finite and >= 0")
    generator = as_generator(rng)
    draws = z[generator.integers(0, z.size, size=(int(n_simulations), h))]
    return draws @ sigma


def fhs_joint_horizon_returns(
    std_residuals: np.ndarray,
    forecast_vol_daily: np.ndarray,
    horizon_days: int,
    n_simulations: int = 20_000,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Joint filtered historical simulation of ``h``-day log returns of several assets.

    Like :func:`fhs_horizon_returns`, but one *day* (a row of standardised residuals of every asset) is drawn at a
    time, so the cross-asset dependence of the residuals is kept (Barone-Adesi et al. 1999, multivariate FHS):
    ``R_j = sum_k sigma_{j,T+k} z_{d_k, j}`` with day indices ``d_k`` drawn with replacement.

    Parameters
    ----------
    std_residuals : array, shape (n_days, n_assets)
        Standardised residuals on common dates (rows with a non-finite value are dropped).
    forecast_vol_daily : array, shape (n_assets,) or (horizon_days, n_assets)
        Daily volatility forecasts (fraction).
    horizon_days, n_simulations : int
    rng : Generator, int or None

    Returns
    -------
    ndarray of shape ``(n_simulations, n_assets)``

    Examples
    --------
    >>> z = np.column_stack([np.linspace(-2, 2, 50), np.linspace(-2, 2, 50)])
    >>> out = fhs_joint_horizon_returns(z, np.array([0.01, 0.02]), 1, 5, rng=0)
    >>> bool(np.allclose(out[:, 1], 2 * out[:, 0]))  # the same day drawn for both assets
    True
    """
    z = np.asarray(std_residuals, dtype=float)
    if z.ndim != 2:
        raise InputError("std_residuals", z.shape, "must be a (days x assets) matrix")
    z = z[np.all(np.isfinite(z), axis=1)]
    if z.shape[0] < 20:
        raise InputError("std_residuals", f"{z.shape[0]} complete days", "needs at least 20 days to bootstrap")
    h = int(horizon_days)
    if h < 1 or h != horizon_days:
        raise ParameterError("horizon_days", horizon_days, "must be a positive integer")
    sigma = np.broadcast_to(np.asarray(forecast_vol_daily, dtype=float), (h, z.shape[1]))
    if np.any(~np.isfinite(sigma)) or np.any(sigma < 0):
        raise InputError("forecast_vol_daily", forecast_vol_daily, "must be finite and >= 0")
    generator = as_generator(rng)
    days = generator.integers(0, z.shape[0], size=(int(n_simulations), h))
    return np.einsum("nhk,hk->nk", z[days], sigma)
