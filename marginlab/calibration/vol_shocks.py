"""Implied-volatility shocks: volatility scan ranges from DVOL and the methodology's 30-day vol shocks of every asset.

**Volatility scan ranges** (:func:`vol_scan_ranges`): quantiles of the h-day log changes of DVOL (30-day implied vol):
``vol_up_range = exp(q_alpha) - 1``, ``vol_down_range = 1 - exp(q_{1-alpha})`` at 30 days to expiry, extended to other
expiries with the ``(30 / DTE)^p`` term structure of the portfolio-margin presets (one meaning everywhere).
:func:`vol_shock_30d` gives the methodology's shocks for every asset, with or without an implied-vol index. Split from
:mod:`marginlab.calibration.stress_ranges` (which re-exports these names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from marginlab.calibration.specs import NonDvolVolShock
from marginlab.exceptions import InputError, ParameterError
from marginlab.parameters import DEFAULT_LONG_TENOR_POWER, DEFAULT_SHORT_TENOR_POWER
from marginlab.stats.ewma import ewma_volatility


class VolShockSettings(Protocol):
    """What :func:`vol_shock_30d` reads of a vol-shock specification
    (:class:`~marginlab.calibration.methodology.VolShockSpec`, which builds its models from this module)."""

    @property
    def horizon_days(self) -> int: ...
    @property
    def confidence(self) -> float: ...
    @property
    def non_dvol_method(self) -> NonDvolVolShock: ...
    @property
    def realised_vol_decay(self) -> float: ...
    @property
    def cap_up(self) -> float: ...
    @property
    def cap_down(self) -> float: ...


def to_utc_index(index: pd.Index) -> pd.DatetimeIndex:
    out = pd.DatetimeIndex(index)
    return out.tz_localize("UTC") if out.tz is None else out



@dataclass(frozen=True)
class VolScanRanges:
    """Volatility scan ranges from DVOL changes.

    Attributes
    ----------
    vol_up_range, vol_down_range : float
        Relative up / down shocks of implied vol at 30 days to expiry (0.45 = vol x 1.45; 0.30 = vol x 0.70).
    short_tenor_power, long_tenor_power : float
        Powers p of the ``(30 / DTE)^p`` term structure for expiries at or below / beyond 30 days, applied to the up
        AND the down shock (the meaning of :class:`marginlab.margin.scenarios.VolShock` and of the parameter file).
    powers_source : str
        ``"derive-default"`` (DVOL has one tenor, the powers cannot be fitted from it) or ``"user"``.
    horizon_days : int
    confidence : float
    n_obs : int
        Number of h-day changes used.
    reference_dte_days : float
    """

    vol_up_range: float
    vol_down_range: float
    short_tenor_power: float
    long_tenor_power: float
    powers_source: str
    horizon_days: int
    confidence: float
    n_obs: int
    reference_dte_days: float = 30.0

    def shocks(self, dte_days: float | Sequence[float] | np.ndarray) -> pd.DataFrame:
        """Relative vol shocks by days to expiry: ``range * (30 / DTE)^p`` with ``p`` the short-tenor power at or below
        30 days and the long-tenor power beyond (DTE floored at 1 day; the down shock capped at 99%).

        Examples
        --------
        >>> ranges = VolScanRanges(0.4, 0.3, 0.3, 0.13, "derive-default", 2, 0.99, 1000)
        >>> ranges.shocks([30, 7.5, 120]).round(3).to_dict("list")
        {'dte_days': [30.0, 7.5, 120.0], 'vol_up': [0.4, 0.606, 0.334], 'vol_down': [0.3, 0.455, 0.251]}
        """
        dte = np.maximum(np.atleast_1d(np.asarray(dte_days, dtype=float)), 1.0)
        power = np.where(dte <= self.reference_dte_days, self.short_tenor_power, self.long_tenor_power)
        factor = (self.reference_dte_days / dte) ** power
        down = np.minimum(self.vol_down_range * factor, 0.99)
        return pd.DataFrame({"dte_days": dte, "vol_up": self.vol_up_range * factor, "vol_down": down})


def _log_change_quantiles(levels: pd.Series, horizon_days: int, confidence: float, field: str) -> tuple[np.ndarray, int]:
    series = pd.Series(levels, dtype=float).dropna()
    if (series <= 0).any():
        raise InputError(field, float(series[series <= 0].iloc[0]), "vol levels must be positive")
    changes = pd.Series(np.log(series.to_numpy()), index=series.index).diff(int(horizon_days)).dropna()
    if changes.size < 100:
        raise InputError(field, f"{changes.size} changes", "at least 100 h-day changes are needed")
    return np.quantile(changes.to_numpy(), [1.0 - confidence, confidence]), int(changes.size)


def vol_scan_ranges(
    dvol: pd.Series | pd.DataFrame,
    horizon_days: int = 2,
    confidence: float = 0.99,
    short_tenor_power: float = DEFAULT_SHORT_TENOR_POWER,
    long_tenor_power: float = DEFAULT_LONG_TENOR_POWER,
) -> VolScanRanges:
    """Vol scan ranges from the empirical quantiles of h-day log changes of a DVOL series (overlapping changes).

    Parameters
    ----------
    dvol : pandas.Series or DataFrame
        DVOL closes in vol points (a DataFrame from :func:`marginlab.data.load_dvol` uses its ``close`` column).
    horizon_days : int
    confidence : float
    short_tenor_power, long_tenor_power : float
        Term-structure powers (Derive defaults 0.30 / 0.13, reported with ``powers_source``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> dvol = pd.Series(60 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.04, 2000))))
    >>> ranges = vol_scan_ranges(dvol, horizon_days=1, confidence=0.99)
    >>> bool(abs(ranges.vol_up_range - np.expm1(0.04 * 2.326)) < 0.02)
    True
    """
    if isinstance(dvol, pd.DataFrame):
        if "close" not in dvol.columns:
            raise InputError("dvol", list(dvol.columns), "needs a 'close' column")
        dvol = dvol["close"]
    if int(horizon_days) != horizon_days or horizon_days < 1:
        raise InputError("horizon_days", horizon_days, "must be a positive integer")
    if not 0.5 < confidence < 1.0:
        raise ParameterError("confidence", confidence, "must lie in (0.5, 1)")
    (low, high), n_obs = _log_change_quantiles(dvol, int(horizon_days), confidence, "dvol")
    default = (short_tenor_power, long_tenor_power) == (DEFAULT_SHORT_TENOR_POWER, DEFAULT_LONG_TENOR_POWER)
    return VolScanRanges(
        vol_up_range=float(np.expm1(high)),
        vol_down_range=float(-np.expm1(low)),
        short_tenor_power=float(short_tenor_power),
        long_tenor_power=float(long_tenor_power),
        powers_source="derive-default" if default else "user",
        horizon_days=int(horizon_days),
        confidence=float(confidence),
        n_obs=n_obs,
    )


def vol_shock_30d(
    asset: str,
    returns: pd.Series,
    implied_vol: pd.Series | None,
    reference: Mapping[str, tuple[pd.Series, pd.Series]],
    spec: VolShockSettings,
) -> tuple[float, float, str]:
    """Relative shocks ``(up_30d, down_30d, source)`` of an asset's 30-day implied volatility.

    * With an implied-vol index (``implied_vol``, e.g. Deribit DVOL): :func:`vol_scan_ranges` of it, i.e. the
      ``spec.confidence`` quantiles of its ``spec.horizon_days`` log changes (``up = exp(q_a) - 1``,
      ``down = 1 - exp(q_{1-a})``).
    * Without (``spec.non_dvol_method="scaled-realised"``): the asset's own realised volatility (EWMA with decay
      ``spec.realised_vol_decay`` of its ``returns``) gives the *relative* size of its vol moves, and the reference
      assets (BTC, ETH: ``reference[name] = (implied_vol, returns)``) convert realised-vol moves to implied-vol moves:
      ``up = exp(k_up q_a(asset realised)) - 1`` with ``k_up`` the mean over the references of
      ``q_a(implied) / q_a(realised)`` on their common dates (~0.54 for BTC and ETH: implied vol moves about half as
      much as a 0.94-EWMA realised vol). A realised EWMA vol can fall by at most ``1 - decay`` a day, so its falls say
      nothing about implied-vol falls: ``down`` is the mean of the references' DVOL down shocks. ``"garch-proxy"``
      uses the asset's realised-vol changes unscaled (the legacy proxy, for comparison).
    * Caps: ``up <= spec.cap_up`` (0.5: about the 99.9% quantile of the 2-day DVOL rises of BTC, 53%, and ETH, 46%,
      2021-2026 -- a 99% shock of a smaller coin above the majors' 1-in-1000 rise is not plausible) and
      ``down <= spec.cap_down`` (0.3: the largest 2-day DVOL fall observed, BTC 28%, ETH 23%).

    Returns
    -------
    (float, float, str)
        ``up_30d``, ``down_30d`` and a ``source`` label naming the method (and whether a cap bound).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from marginlab.calibration.methodology import VolShockSpec
    >>> days = pd.date_range("2020-01-01", periods=1500, tz="UTC")
    >>> rng = np.random.default_rng(0)
    >>> dvol = pd.Series(60 * np.exp(np.cumsum(rng.normal(0, 0.04, 1500))), index=days)
    >>> returns = pd.Series(rng.normal(0, 0.03, 1500), index=days)
    >>> up, down, source = vol_shock_30d("BTC", returns, dvol, {}, VolShockSpec())
    >>> source, bool(0.1 < up < 0.5)
    ('implied-vol index', True)
    >>> up, down, source = vol_shock_30d("XYZ", returns, None, {"BTC": (dvol, returns)}, VolShockSpec())
    >>> source
    'realised vol scaled by the BTC implied/realised ratio'
    """
    h, c = int(spec.horizon_days), float(spec.confidence)
    if implied_vol is not None and len(pd.Series(implied_vol).dropna()) > h + 100:
        ranges = vol_scan_ranges(implied_vol, horizon_days=h, confidence=c)
        up, down, source = ranges.vol_up_range, ranges.vol_down_range, "implied-vol index"
    else:
        (_, realised_high), _ = _log_change_quantiles(
            ewma_volatility(returns, decay=spec.realised_vol_decay), h, c, f"returns[{asset}]"
        )
        if spec.non_dvol_method == "garch-proxy" or not reference:
            (realised_low, _), _ = _log_change_quantiles(
                ewma_volatility(returns, decay=spec.realised_vol_decay), h, c, f"returns[{asset}]"
            )
            up, down = float(np.expm1(realised_high)), float(-np.expm1(realised_low))
            source = "realised-vol proxy (unscaled)" if reference else "realised-vol proxy (unscaled: no reference asset)"
        else:
            ratios, downs = [], []
            for name, (implied, reference_returns) in reference.items():
                implied_series = pd.Series(implied, dtype=float).dropna()
                realised = ewma_volatility(reference_returns.dropna(), decay=spec.realised_vol_decay)
                implied_series.index = to_utc_index(implied_series.index)
                realised.index = to_utc_index(realised.index)
                common = implied_series.index.intersection(realised.index)
                (implied_low, implied_high), _ = _log_change_quantiles(implied_series.loc[common], h, c, f"reference[{name}]")
                (_, ref_high), _ = _log_change_quantiles(realised.loc[common], h, c, f"reference[{name}]")
                ratios.append(implied_high / ref_high)
                downs.append(-np.expm1(implied_low))
            up = float(np.expm1(float(np.mean(ratios)) * realised_high))
            down = float(np.mean(downs))
            source = f"realised vol scaled by the {'/'.join(reference)} implied/realised ratio"
    capped: list[str] = []
    if up > spec.cap_up:
        up, capped = spec.cap_up, [*capped, f"up capped at {spec.cap_up:.0%}"]
    if down > spec.cap_down:
        down, capped = spec.cap_down, [*capped, f"down capped at {spec.cap_down:.0%}"]
    return max(float(up), 0.0), max(float(down), 0.0), source + (f" ({', '.join(capped)})" if capped else "")
