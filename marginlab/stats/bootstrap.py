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

import zlib
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
