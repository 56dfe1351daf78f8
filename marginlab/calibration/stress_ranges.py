"""Adaptive price scan ranges (filtered historical simulation and EVT), anti-procyclicality tools and volatility scan ranges.

**Price scan range** at confidence ``alpha`` over ``h`` days, for the date ``d`` (computed with data up to ``d-1``):

1. Volatility: the out-of-sample GARCH forecasts of :func:`~marginlab.calibration.garch.rolling_forecast`
   (``vol_h`` = volatility of the sum of the next h daily log returns, ``mean`` the daily drift).
2. Standardised h-day shocks: every block of h consecutive out-of-sample standardised residuals available before
   ``d`` gives ``u = (z_s + ... + z_{s+h-1}) / sqrt(h)``; the pool holds all of them since the start of the history
   (``pool="own"``), optionally with those of other assets (``pool="pooled"``, passed to :meth:`StressRangeModel.fit`):
   a long pool is what makes the empirical 1% quantile stable, and pooling helps short histories (SOL).
   The h-day log move is ``h * mean + vol_h * u``: this treats the forecast vol term structure as flat over the h
   days (for a GJR fit the daily vols of a 2-day horizon differ by < 2%).
3. Quantiles of ``u``: ``"fhs"`` -- empirical quantiles of the pool (filtered historical simulation, Barone-Adesi et al.);
   ``"evt"`` -- the empirical quantile below the EVT threshold, the generalised Pareto tail above it
   (:func:`~marginlab.calibration.evt.fit_gpd_tail` on the pool, refitted every ``refit_every_days``);
   ``"ewma-normal"`` -- the RiskMetrics benchmark, EWMA(0.94) vol times ``sqrt(h)`` times the normal quantile.
4. Rates: ``scan_down = 1 - exp(h mean + vol_h q_{1-alpha})``, ``scan_up = exp(h mean + vol_h q_alpha) - 1``
   (fractions of the price), ``scan_range = max(scan_down, scan_up)``.

**Extreme moves** (the tail layer of the grid): ``extreme_down/up`` at ``extreme_confidence`` (default 99.97%), from the
GPD tail of the pool applied to the *stressed* volatility -- the largest ``vol_h`` forecast seen up to ``d-1`` (or the
current forecast with ``extreme_vol="current"``) -- and never below the largest historical h-day move in the data up to
``d-1`` (a historical-scenario floor).

**Anti-procyclicality** (:class:`AntiProcyclicality`, EMIR RTS 153/2013 art. 28 style), applied to ``scan_down`` and
``scan_up`` in this order: the floors (``lookback_floor_years``, ``slow_ewma_lambda``, ``stressed_period``) on the daily
base rate, THEN the smoothing (so a jump of the floored rate -- e.g. a switch of the residual pool -- is phased in
too; a floor applied after the smoothing would pass it straight through), then the stressed weight and the buffer:

* ``smoothing_lambda`` s: the requirement is smoothed, ``m_t = s m_{t-1} + (1 - s) m_base,t`` (an EWMA of the rate, so a
  spike of the volatility forecast is phased in and released over ~1/(1-s) days); combine it with a floor -- the
  recommended methodology (:class:`~marginlab.calibration.methodology.Methodology`) uses ``slow_ewma_lambda=0.995``
  then ``smoothing_lambda=0.99`` on the 2-day 99.7% scan range (notebooks 02 and 06);

* ``stressed_weight`` w (art. 28(1)(b)): ``m = (1 - w) m_base + w m_stressed`` with ``m_stressed`` the largest base rate
  seen up to ``d-1`` (the rate of the most stressed day of the history);
* ``lookback_floor_years`` Y (art. 28(1)(c)): ``m >= `` the empirical ``alpha`` quantile of the h-day moves of the last
  Y years (all available history if shorter);
* ``slow_ewma_lambda`` l: ``m >= `` the same FHS/EVT quantile applied to an EWMA volatility with slow decay l (e.g. 0.995,
  a half-life of 138 days);
* ``buffer`` b (art. 28(1)(a)): ``m_t = max(m'_t, min((1 + b) m'_t, m_{t-1}))`` -- in calm the margin is ``(1+b)`` times the
  requirement, and a rise of the requirement is first absorbed by the buffer (the margin does not move until the
  requirement exceeds it); the buffer is rebuilt as the requirement falls.

Then the fixed ``floor`` / ``cap`` of the model apply (the cap also bounds the base rate before the tools, so a smoothing
never carries an uncapped spike). The result's frame flags which tool was binding each day.

**Volatility scan ranges** (:func:`vol_scan_ranges`): quantiles of the h-day log changes of DVOL (30-day implied vol):
``vol_up_range = exp(q_alpha) - 1``, ``vol_down_range = 1 - exp(q_{1-alpha})`` at 30 days to expiry, extended to other
expiries with the ``(30 / DTE)^p`` term structure of the portfolio-margin presets: ``p`` = the short-tenor power (0.30) at or
below 30 days, the long-tenor power (0.13) beyond, for the up and the down shock alike (one meaning everywhere). DVOL has a
single tenor, so the powers cannot be fitted from it: the Derive defaults are used and reported as such.
:func:`vol_shock_30d` gives the methodology's shocks for every asset, with or without an implied-vol index.

Examples
--------
>>> from marginlab.calibration.garch import simulate_garch
>>> returns = simulate_garch(1200, omega=0.05, alpha=0.08, beta=0.9, nu=5, rng=0)
>>> model = StressRangeModel(confidence=0.99, horizon_days=1, min_obs=500, refit_every_days=100, progress=False)
>>> result = model.fit(returns)
>>> latest = result.latest()
>>> bool(0.01 < latest["scan_range"] < 0.2), bool(latest["extreme_move"] > latest["scan_range"])
(True, True)
"""

from __future__ import annotations

import hashlib
import math
import typing
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer
from scipy import stats

from marginlab._validation import check_choice
from marginlab.calibration.evt import GpdTailFit, evt_quantile, fit_gpd_tail
from marginlab.calibration.garch import _validate_returns, ewma_forecast, rolling_forecast
from marginlab.calibration.specs import (
    AntiProcyclicalitySpec,
    Distribution,
    ExtremeMovesChoice,
    ExtremeMoveSpec,
    ExtremeVol,
    ForecastVolModel,
    GarchModel,
    RateSpec,
    Requirement,
    ResidualPool,
    ResidualPoolSpec,
    ScanMethod,
    Side,
    VolatilitySpec,
)
from marginlab.calibration.vol_shocks import VolScanRanges as VolScanRanges  # re-exported: split to vol_shocks
from marginlab.calibration.vol_shocks import VolShockSettings as VolShockSettings
from marginlab.calibration.vol_shocks import to_utc_index as _to_utc_index
from marginlab.calibration.vol_shocks import vol_scan_ranges as vol_scan_ranges
from marginlab.calibration.vol_shocks import vol_shock_30d as vol_shock_30d
from marginlab.data.stylised import REFERENCE_MOVES
from marginlab.exceptions import CalibrationError, InputError, ParameterError
from marginlab.stats.ewma import ewma_volatility

METHODS = get_args(ScanMethod)
#: Quantiles averaged for the expected shortfall of the FHS pool (midpoint rule over the tail).
_ES_POINTS = 8
ExtremeMoves = ExtremeMovesChoice  # the name this module's callers know


class _PoolWindows(BaseIndexer):
    """Variable windows ``[start[j], end[j])`` of the sorted shock pool, for pandas' rolling quantile."""

    def get_window_bounds(self, num_values: int = 0, min_periods: int | None = None, center: bool | None = None,
                          closed: str | None = None, step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.start, self.end  # type: ignore[attr-defined]


@dataclass(frozen=True)
class AntiProcyclicality:
    """Anti-procyclicality tools (EMIR RTS 153/2013 art. 28 style); ``None`` disables a tool.

    Parameters
    ----------
    buffer : float or None
        Buffer b (0.25 = 25%) released in stress.
    stressed_weight : float or None
        Weight w of the stressed rate (0.25).
    lookback_floor_years : float or None
        Length Y of the historical-quantile floor (10).
    slow_ewma_lambda : float or None
        Decay of the slow-EWMA volatility floor (e.g. 0.995).
    smoothing_lambda : float or None
        Decay of the EWMA smoothing of the requirement itself (e.g. 0.97).

    Examples
    --------
    >>> AntiProcyclicality(buffer=0.25).active
    ('buffer',)
    """

    buffer: float | None = None
    stressed_weight: float | None = None
    lookback_floor_years: float | None = None
    slow_ewma_lambda: float | None = None
    smoothing_lambda: float | None = None

    def __post_init__(self) -> None:
        if self.buffer is not None and not 0.0 <= self.buffer <= 2.0:
            raise ParameterError("buffer", self.buffer, "must lie in [0, 2]")
        if self.stressed_weight is not None and not 0.0 <= self.stressed_weight <= 1.0:
            raise ParameterError("stressed_weight", self.stressed_weight, "must lie in [0, 1]")
        if self.lookback_floor_years is not None and not self.lookback_floor_years > 0:
            raise ParameterError("lookback_floor_years", self.lookback_floor_years, "must be positive")
        if self.slow_ewma_lambda is not None and not 0.0 < self.slow_ewma_lambda < 1.0:
            raise ParameterError("slow_ewma_lambda", self.slow_ewma_lambda, "must lie strictly between 0 and 1")
        if self.smoothing_lambda is not None and not 0.0 <= self.smoothing_lambda < 1.0:
            raise ParameterError("smoothing_lambda", self.smoothing_lambda, "must lie in [0, 1)")

    @property
    def active(self) -> tuple[str, ...]:
        """Names of the enabled tools."""
        return tuple(
            name
            for name in ("buffer", "stressed_weight", "lookback_floor_years", "slow_ewma_lambda", "smoothing_lambda")
            if getattr(self, name) is not None
        )


@dataclass(frozen=True)
class StressRangeResult:
    """Scan ranges per date produced by :meth:`StressRangeModel.fit`.

    Attributes
    ----------
    model : StressRangeModel
    frame : pandas.DataFrame
        Indexed by the date ``d`` the range applies to (data up to ``d-1``). Columns: ``scan_down``, ``scan_up``,
        ``scan_range`` (fractions of price), ``base_down``, ``base_up`` (before anti-procyclicality, floor and cap),
        ``es_down``, ``es_up`` (expected shortfall of the plain FHS rate beyond ``base_down`` / ``base_up``: the mean of
        8 pool quantiles at the tail's midpoints; NaN for the other methods),
        ``extreme_down``, ``extreme_up``, ``extreme_move`` (and their parts ``extreme_down_evt``/``extreme_up_evt``, the GPD
        quantile on the chosen vol, and ``historical_worst_down``/``historical_worst_up``), ``vol_forecast`` (h-day vol, fractional), ``vol_1d``,
        ``stressed_vol``, ``quantile_down``, ``quantile_up`` (standardised h-day shocks), ``realised_move`` (h-day move
        starting at ``d``, for backtests), and boolean flags ``floor_binding``, ``cap_binding``,
        ``stressed_weight_binding``, ``lookback_floor_binding``, ``slow_ewma_binding``, ``buffer_binding``.
    garch : pandas.DataFrame
        The rolling forecasts used.
    tail_fits : dict
        The last GPD fits ``{"lower": GpdTailFit, "upper": GpdTailFit}``.
    """

    model: StressRangeModel
    frame: pd.DataFrame
    garch: pd.DataFrame = field(repr=False)
    tail_fits: dict = field(repr=False, default_factory=dict)

    def latest(self) -> pd.Series:
        """The last date's row (the range for the day after the data): ``scan_range``, ``extreme_move``, ``vol_forecast``..."""
        return self.frame.iloc[-1]

    def margin_rates(self, side: Side | Literal["both"] = "long") -> pd.Series:
        """Margin-rate series for :func:`~marginlab.analysis.backtest.margin_backtest`: ``scan_down`` (long),
        ``scan_up`` (short) or ``scan_range`` (both)."""
        column = {"long": "scan_down", "short": "scan_up", "both": "scan_range"}.get(side)
        if column is None:
            raise InputError("side", side, "must be 'long', 'short' or 'both'")
        return self.frame[column].rename(f"{self.model.method} {self.model.horizon_days}d {self.model.confidence:.2%}")

    def summary(self) -> str:
        """Latest ranges, averages and how often each floor/cap/tool was binding."""
        latest = self.latest()
        flags = [c for c in self.frame.columns if c.endswith("_binding")]
        binding = ", ".join(f"{c.removesuffix('_binding')} {self.frame[c].mean():.0%}" for c in flags)
        return (
            f"StressRangeModel(method={self.model.method}, confidence={self.model.confidence}, horizon_days={self.model.horizon_days}) "
            f"over {self.frame.index[0].date()}..{self.frame.index[-1].date()}\n"
            f"latest ({self.frame.index[-1].date()}): scan_range={latest['scan_range']:.2%} (down {latest['scan_down']:.2%}, up {latest['scan_up']:.2%}), "
            f"extreme_move={latest['extreme_move']:.2%}, h-day vol={latest['vol_forecast']:.2%}\n"
            f"average scan_range={self.frame['scan_range'].mean():.2%}; share of days binding: {binding}"
        )


def _blocks(z: np.ndarray, horizon_days: int) -> np.ndarray:
    """``u_s = (z_s + ... + z_{s+h-1}) / sqrt(h)`` for every complete block (length ``len(z) - h + 1``)."""
    if horizon_days == 1:
        return z.copy()
    cumulative = np.concatenate([[0.0], np.cumsum(z)])
    return (cumulative[horizon_days:] - cumulative[:-horizon_days]) / math.sqrt(horizon_days)


def _window_quantiles(values: np.ndarray, start: np.ndarray, probabilities: Sequence[float]) -> list[np.ndarray]:
    """Empirical (linear) quantiles of every window ``values[start[j] : j + 1]``, one sliding pass per probability
    (pandas' skiplist rolling quantile; ``start`` must be non-decreasing)."""
    bounds = _PoolWindows(start=np.asarray(start, dtype=np.int64), end=np.arange(1, values.size + 1, dtype=np.int64))
    rolling = pd.Series(values).rolling(bounds, min_periods=1)
    return [rolling.quantile(float(probability)).to_numpy() for probability in probabilities]


#: GPD tail fits by sample content: the models of one asset share their shock pool (FHS, EVT, EWMA-normal and the
#: anti-procyclicality variants on one volatility frame), so most refits repeat a fit already made.
_GPD_CACHE: OrderedDict[tuple[bytes, int, float], dict[str, GpdTailFit]] = OrderedDict()
_GPD_CACHE_SIZE = 4096


def _gpd_tails(sample: np.ndarray, threshold_quantile: float) -> dict[str, GpdTailFit]:
    """``{"lower": fit, "upper": fit}`` of :func:`fit_gpd_tail` on ``sample`` (warnings silenced), or ``{}`` when there
    are too few exceedances; a sample already fitted is looked up (same values, same fits: results are unchanged)."""
    values = np.ascontiguousarray(sample, dtype=float)
    key = (hashlib.blake2b(values.tobytes(), digest_size=20).digest(), values.size, float(threshold_quantile))
    if key in _GPD_CACHE:
        _GPD_CACHE.move_to_end(key)
        return dict(_GPD_CACHE[key])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fits = {tail: fit_gpd_tail(values, tail, threshold_quantile) for tail in ("lower", "upper")}
        except CalibrationError:
            fits = {}
    _GPD_CACHE[key] = fits
    if len(_GPD_CACHE) > _GPD_CACHE_SIZE:
        _GPD_CACHE.popitem(last=False)
    return dict(fits)


def anti_procyclicality_tool(spec: AntiProcyclicalitySpec, requirement: Requirement = "price_scan_range") -> AntiProcyclicality | None:
    """The :class:`AntiProcyclicality` of a methodology's anti-procyclicality section for one requirement.

    Parameters
    ----------
    spec : AntiProcyclicalitySpec
        The section (:class:`~marginlab.calibration.specs.AntiProcyclicalitySpec`).
    requirement : {"price_scan_range", "maintenance_rate", "initial_rate"}
        The margin rates use ``margin_smoothing_lambda`` and ``margin_floor``; the floor comes before the tool.

    Returns
    -------
    AntiProcyclicality or None
        ``None`` when neither a tool nor a floor is set.

    Examples
    --------
    >>> anti_procyclicality_tool(AntiProcyclicalitySpec()).active
    ('slow_ewma_lambda', 'smoothing_lambda')
    >>> anti_procyclicality_tool(AntiProcyclicalitySpec(), "initial_rate").smoothing_lambda
    0.9
    """
    check_choice("requirement", requirement, Requirement)
    margin = requirement != "price_scan_range"
    floor = "none" if margin and not spec.margin_floor else spec.floor
    smoothing = spec.smoothing_lambda
    if margin and spec.margin_smoothing_lambda is not None:
        smoothing = spec.margin_smoothing_lambda
    if spec.tool == "none" and floor == "none":
        return None
    return AntiProcyclicality(
        smoothing_lambda=smoothing if spec.tool == "smoothing" else None,
        buffer=spec.buffer if spec.tool == "buffer" else None,
        stressed_weight=spec.stressed_weight if spec.tool == "stressed-weight" else None,
        slow_ewma_lambda=spec.floor_ewma_decay if floor == "slow-ewma" else None,
        lookback_floor_years=spec.floor_lookback_years if floor == "lookback-quantile" else None,
    )


def stress_range_settings(
    volatility: VolatilitySpec,
    pool: ResidualPoolSpec,
    rates: RateSpec,
    anti_procyclicality: AntiProcyclicalitySpec,
    extreme: ExtremeMoveSpec,
    horizon_days: int | None = None,
    confidence: float | None = None,
    *,
    apply_anti_procyclicality: bool | None = None,
    extreme_moves: ExtremeMovesChoice = "all",
) -> dict[str, Any]:
    """The :class:`StressRangeModel` arguments of a methodology's sections for one (horizon, confidence): the one map
    from the methodology to the model, which also gives ``StressRangeModel()`` its defaults (from the default sections).

    Parameters
    ----------
    volatility, pool, rates, anti_procyclicality, extreme
        The sections (:mod:`marginlab.calibration.specs`).
    horizon_days, confidence : int, float or None
        Default: the price scan range's (``rates.scan_horizon_days``, ``rates.scan_confidence``).
    apply_anti_procyclicality : bool or None
        Apply the tool; ``None``: exactly when (horizon, confidence) are those of a published rate.
    extreme_moves : {"all", "last", "none"}
        Dates with extreme moves.

    Returns
    -------
    dict
        Keyword arguments of :class:`StressRangeModel` (all but ``progress``).

    Examples
    --------
    >>> sections = (VolatilitySpec(), ResidualPoolSpec(), RateSpec(), AntiProcyclicalitySpec(), ExtremeMoveSpec())
    >>> settings = stress_range_settings(*sections, 1, 0.99)
    >>> settings["vol_model"], settings["confidence"], settings["apc_at_least_base"]
    ('ewma', 0.99, True)
    """
    h = rates.scan_horizon_days if horizon_days is None else int(horizon_days)
    c = rates.scan_confidence if confidence is None else float(confidence)
    scan = (h, c) == (rates.scan_horizon_days, rates.scan_confidence)
    apply = (h, c) in rates.requirement_keys().values() if apply_anti_procyclicality is None else apply_anti_procyclicality
    vol_model, distribution = volatility.candidates[0] if volatility.model == "select" else (volatility.model, volatility.distribution)
    return {
        "confidence": c,
        "horizon_days": h,
        "method": pool.quantile_method,
        "anti_procyclicality": anti_procyclicality_tool(anti_procyclicality, "price_scan_range" if scan else "maintenance_rate")
        if apply else None,
        "floor": rates.floor,
        "cap": rates.cap,
        "extreme_confidence": max(extreme.confidence, c),
        "extreme_vol": extreme.volatility,
        "extreme_window_days": extreme.window_days,
        "vol_model": vol_model,
        "distribution": distribution,
        "refit_every_days": volatility.refit_every_days,
        "min_obs": volatility.min_returns,
        "window": volatility.estimation_window_days,
        "evt_threshold_quantile": pool.evt_threshold_quantile,
        "min_pool": pool.min_shocks,
        "residual_pool": "all" if pool.include_seed else "out-of-sample",
        "ewma_decay": volatility.ewma_decay,
        "ewma_decay_after_fall": volatility.ewma_decay_after_fall,
        "pool_window_days": pool.length_days if pool.kind == "rolling" else None,
        "extreme_moves": extreme_moves,
        "apc_at_least_base": bool(apply and not scan and anti_procyclicality.at_least_plain_rate),
    }


#: The defaults of :class:`StressRangeModel`: the recommended methodology's price scan range model.
_RECOMMENDED: dict[str, Any] = stress_range_settings(
    VolatilitySpec(), ResidualPoolSpec(), RateSpec(), AntiProcyclicalitySpec(), ExtremeMoveSpec()
)
#: TRANSITION (revert this commit once notebooks 02, 04 and 06 pass these settings explicitly): the former defaults the
#: notebooks still rely on (GJR skew-t, no tool, no cap, expanding pool), laid over the recommended ones.
_RECOMMENDED |= {"confidence": 0.99, "anti_procyclicality": None, "cap": None, "extreme_vol": "stressed", "vol_model": "gjr",
                 "distribution": "skewt", "window": None, "ewma_decay": 0.94, "ewma_decay_after_fall": None,
                 "pool_window_days": None, "extreme_window_days": None}



@dataclass(frozen=True)
class StressRangeModel:
    """Adaptive price scan ranges per asset and date (see the module docstring for the formulas).

    Parameters
    ----------
    confidence : float
        Confidence per tail (0.99).
    horizon_days : int
        Margin period of risk in days (2).
    method : {"fhs", "evt", "ewma-normal"}
    anti_procyclicality : AntiProcyclicality or None
    floor, cap : float or None
        Fixed bounds on the scan rates (fractions of price).
    stressed_period : (str, str) or None
        If set, the scan rates are floored by the empirical ``confidence`` quantile of the h-day moves in this period
        (e.g. ``("2020-02-15", "2020-04-15")``), once the period is in the past.
    extreme_confidence : float
        Confidence of the extreme (tail) moves (0.9997).
    extreme_vol : {"stressed", "current"}
        Volatility the GPD tail quantile of the extreme moves is applied to: the largest h-day forecast seen so far
        (default, conservative and stable) or the current forecast.
    vol_model, distribution, refit_every_days, min_obs, window :
        Passed to :func:`~marginlab.calibration.garch.rolling_forecast`.
    evt_threshold_quantile : float
        Threshold of the GPD tails (0.90 = largest 10% of shocks).
    min_pool : int
        Fewest standardised shocks needed in the pool; earlier dates are dropped.
    residual_pool : {"all", "out-of-sample"}
        ``"all"`` (default): the pool holds the in-sample residuals of the first GARCH fit (the seed) and every
        out-of-sample residual since. ``"out-of-sample"``: the seed is dropped as soon as ``min_pool`` out-of-sample
        shocks exist, so the quantile also corrects a persistent bias of the volatility forecasts (SOL's forecasts
        after 2021 overstate its volatility: out-of-sample residual s.d. 0.85).
    out_of_sample_min_independent : int or None
        With ``residual_pool="out-of-sample"``: if set, the seed is dropped only once the out-of-sample pool holds this
        many *non-overlapping* h-day shocks, i.e. ``out_of_sample_min_independent * horizon_days`` overlapping blocks
        (the pool's blocks overlap, so ``n`` blocks carry about ``n / h`` independent shocks; this keeps the same
        effective sample size at every horizon). ``None`` (default): ``min_pool`` overlapping blocks, at any horizon.
    ewma_decay, ewma_decay_after_fall : float
        With ``vol_model="ewma"``: decays of the (asymmetric) EWMA volatility
        (:func:`~marginlab.calibration.garch.ewma_forecast`; ``ewma_decay_after_fall`` applies after a negative return,
        ``None`` = symmetric). No fit: the forecasts are out of sample from the first day.
    pool_window_days : int or None
        Rolling residual pool: only the shocks known in the last ``pool_window_days`` calendar days before the date
        (``None`` = expanding, every shock since the start).
    extreme_moves : {"all", "last", "none"}
        Dates with extreme (tail) moves: every date (GPD refitted every ``refit_every_days``), the last date only (one
        GPD fit: what a calibration at an as-of date needs) or none (NaN columns: what a backtest of the rates needs).
    extreme_window_days : int or None
        Look-back (days) of the stressed volatility and of the historical-move floor of the extreme moves (``None`` =
        the whole history: an early, very different regime -- BTC 2011-2013 -- then sets them forever).
    apc_at_least_base : bool
        After the anti-procyclicality tools, never below the plain rate (``base_down`` / ``base_up``): the tools may
        only add margin to the rate at ``confidence`` (EMIR art. 28 tools come on top of the art. 24 confidence
        level), so a smoothing phases in the *release* after a spike but never delays the cover of a new one
        (flag ``base_binding``). Used for the maintenance and initial rates of a methodology.
    progress : bool
        Show progress bars.
    """

    confidence: float = _RECOMMENDED["confidence"]
    horizon_days: int = _RECOMMENDED["horizon_days"]
    method: ScanMethod = _RECOMMENDED["method"]
    anti_procyclicality: AntiProcyclicality | None = _RECOMMENDED["anti_procyclicality"]
    floor: float | None = _RECOMMENDED["floor"]
    cap: float | None = _RECOMMENDED["cap"]
    stressed_period: tuple[str, str] | None = None
    extreme_confidence: float = _RECOMMENDED["extreme_confidence"]
    extreme_vol: ExtremeVol = _RECOMMENDED["extreme_vol"]
    vol_model: ForecastVolModel = _RECOMMENDED["vol_model"]
    distribution: Distribution = _RECOMMENDED["distribution"]
    refit_every_days: int = _RECOMMENDED["refit_every_days"]
    min_obs: int = _RECOMMENDED["min_obs"]
    window: int | None = _RECOMMENDED["window"]
    evt_threshold_quantile: float = _RECOMMENDED["evt_threshold_quantile"]
    min_pool: int = _RECOMMENDED["min_pool"]
    residual_pool: ResidualPool = _RECOMMENDED["residual_pool"]
    out_of_sample_min_independent: int | None = None
    ewma_decay: float = _RECOMMENDED["ewma_decay"]
    ewma_decay_after_fall: float | None = _RECOMMENDED["ewma_decay_after_fall"]
    pool_window_days: int | None = _RECOMMENDED["pool_window_days"]
    extreme_moves: ExtremeMovesChoice = _RECOMMENDED["extreme_moves"]
    extreme_window_days: int | None = _RECOMMENDED["extreme_window_days"]
    apc_at_least_base: bool = _RECOMMENDED["apc_at_least_base"]
    progress: bool = False

    def __post_init__(self) -> None:
        if not 0.5 < self.confidence < 1.0:
            raise ParameterError("confidence", self.confidence, "must lie in (0.5, 1)")
        if not self.confidence <= self.extreme_confidence < 1.0:
            raise ParameterError("extreme_confidence", self.extreme_confidence, f"must lie in [confidence={self.confidence}, 1)")
        if int(self.horizon_days) != self.horizon_days or self.horizon_days < 1:
            raise ParameterError("horizon_days", self.horizon_days, "must be a positive integer")
        check_choice("extreme_vol", self.extreme_vol, ExtremeVol)
        check_choice("residual_pool", self.residual_pool, ResidualPool)
        check_choice("vol_model", self.vol_model, ForecastVolModel)
        check_choice("distribution", self.distribution, Distribution)
        if self.out_of_sample_min_independent is not None and (
            int(self.out_of_sample_min_independent) != self.out_of_sample_min_independent or self.out_of_sample_min_independent < 1
        ):
            raise ParameterError("out_of_sample_min_independent", self.out_of_sample_min_independent, "must be a positive integer or None")
        if self.vol_model == "ewma":
            for name in ("ewma_decay", "ewma_decay_after_fall"):
                value = getattr(self, name)
                if value is not None and not 0.0 < value < 1.0:
                    raise ParameterError(name, value, "must lie strictly between 0 and 1")
        if self.pool_window_days is not None and (int(self.pool_window_days) != self.pool_window_days or self.pool_window_days < self.min_pool):
            raise ParameterError("pool_window_days", self.pool_window_days, f"must be an integer >= min_pool={self.min_pool} or None")
        if self.extreme_window_days is not None and (
            int(self.extreme_window_days) != self.extreme_window_days or self.extreme_window_days < self.horizon_days + 1
        ):
            raise ParameterError("extreme_window_days", self.extreme_window_days, "must be an integer > horizon_days or None")
        check_choice("extreme_moves", self.extreme_moves, ExtremeMovesChoice)
        check_choice("method", self.method, ScanMethod)
        for name in ("floor", "cap"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ParameterError(name, value, "must lie in [0, 1]")
        if self.floor is not None and self.cap is not None and self.floor > self.cap:
            raise ParameterError("floor", self.floor, f"must not exceed cap={self.cap}")

    # ------------------------------------------------------------------------------------------ fit
    def fit(
        self,
        returns: pd.Series,
        garch: pd.DataFrame | None = None,
        pool: Mapping[str, pd.Series] | pd.DataFrame | None = None,
    ) -> StressRangeResult:
        """Compute the scan ranges for every date with enough history.

        Parameters
        ----------
        returns : pandas.Series
            Fractional daily log returns of the asset (DatetimeIndex).
        garch : pandas.DataFrame, optional
            A :func:`~marginlab.calibration.garch.rolling_forecast` frame of these returns with ``horizon_days`` at least
            the model's (recomputed if omitted).
        pool : mapping or DataFrame, optional
            Out-of-sample standardised residuals of other assets (``rolling_forecast(...)["std_residual"]``, indexed by
            date) added to the shock pool; only those dated before each ``d`` are used.

        Returns
        -------
        StressRangeResult
        """
        series = _validate_returns(returns, min_obs=self.min_obs + 1)
        series.index = _to_utc_index(series.index)
        h = int(self.horizon_days)
        if garch is None and self.vol_model == "ewma":
            garch = ewma_forecast(series, self.ewma_decay, self.ewma_decay_after_fall, min_obs=self.min_obs, horizon_days=h)
        elif garch is None:
            garch = rolling_forecast(
                series,
                typing.cast(GarchModel, self.vol_model),  # not "ewma": the branch above
                self.distribution,
                refit_every_days=self.refit_every_days,
                window=self.window,
                min_obs=self.min_obs,
                horizon_days=h,
                progress=self.progress,
            )
        elif "std_residual" not in garch.columns or f"vol_day_{h}" not in garch.columns:
            raise InputError("garch", list(garch.columns)[:5], f"must be a rolling_forecast frame with horizon_days >= {h}")
        frame = garch.copy()
        frame.index = _to_utc_index(frame.index)
        # a frame computed for a longer horizon serves too: the h-day vol is the root of the first h daily variances
        frame["vol_h"] = np.sqrt(sum(frame[f"vol_day_{k + 1}"] ** 2 for k in range(h)))
        dates = frame.index
        # ---- pool of standardised h-day shocks, each with the date it becomes known (last residual's date)
        sources = [frame["std_residual"]]
        if pool is not None:
            items = pool.items() if isinstance(pool, pd.DataFrame | Mapping) else []
            for name, other in items:
                if not isinstance(other, pd.Series):
                    raise InputError(f"pool[{name}]", type(other).__name__, "must be a Series of standardised residuals")
                other = other.dropna()
                other.index = _to_utc_index(other.index)
                sources.append(other)
        shock_values, shock_dates, shock_seed = [], [], []
        seed_dates = frame.index[frame["in_sample"].astype(bool).to_numpy()] if "in_sample" in frame.columns else frame.index[:0]
        for position, source in enumerate(sources):
            source = source.dropna()
            if source.size < h:
                continue
            shock_values.append(_blocks(source.to_numpy(dtype=float), h))
            block_dates = source.index[h - 1 :]
            shock_dates.append(_to_utc_index(block_dates).as_unit("ns").asi8)
            shock_seed.append(
                np.asarray(block_dates.isin(seed_dates)) if position == 0 else np.zeros(len(block_dates), dtype=bool)
            )
        values = np.concatenate(shock_values)
        known = np.concatenate(shock_dates)
        seed = np.concatenate(shock_seed)
        order = np.argsort(known, kind="stable")
        values, known, seed = values[order], known[order], seed[order]
        out_of_sample_count = np.cumsum(~seed)
        available = np.searchsorted(known, _to_utc_index(dates).as_unit("ns").asi8, side="left")  # shocks dated strictly before d (ns)
        keep = available >= self.min_pool
        if not keep.any():
            raise CalibrationError(
                f"StressRangeModel: fewer than min_pool={self.min_pool} standardised shocks before the last date"
            )
        frame, available = frame.loc[keep], available[keep]
        dates = _to_utc_index(frame.index)
        n = len(frame)
        alpha, p = float(self.confidence), 1.0 - float(self.confidence)
        # ---- quantiles of the standardised h-day shock per date
        q_down = np.empty(n)
        q_up = np.empty(n)
        extreme_down_q = np.empty(n)
        extreme_up_q = np.empty(n)
        tail_fits: dict[str, GpdTailFit] = {}
        refit_positions = set(range(0, n, self.refit_every_days)) | {n - 1}
        current: dict[str, GpdTailFit] = {}
        switch_count = (
            self.min_pool if self.out_of_sample_min_independent is None else int(self.out_of_sample_min_independent) * h
        )
        # rolling pool: the shocks known in the pool_window_days days up to the previous close (the last known shock)
        known_ns = known
        if self.pool_window_days is not None:
            reach = (int(self.pool_window_days) - 1) * 86_400_000_000_000
            row_start = np.searchsorted(known_ns, known_ns - reach, side="left")  # window of the pool ending at shock j
        else:
            row_start = np.zeros(known_ns.size, dtype=np.int64)
        window_start = row_start[np.maximum(available - 1, 0)]
        if self.extreme_moves == "all":
            fit_positions = refit_positions
        elif self.extreme_moves == "last":
            fit_positions = {n - 1}
        else:
            fit_positions = set()
        contiguous = self.residual_pool == "all" and self.method == "fhs"
        es_q_down = np.full(n, np.nan)
        es_q_up = np.full(n, np.nan)
        if contiguous:  # vectorised: one sliding-window quantile over the sorted pool (pandas skiplist)
            levels = [p * (k + 0.5) / _ES_POINTS for k in range(_ES_POINTS)]
            windows = _window_quantiles(values, row_start, (p, alpha, *levels, *(1.0 - x for x in levels)))
            q_down[:], q_up[:] = windows[0][available - 1], windows[1][available - 1]
            # expected shortfall of the pool: the mean of the quantiles at the midpoints of the tail (midpoint rule of
            # ES = (1/p) int_0^p q(u) du)
            es_q_down[:] = np.mean([w[available - 1] for w in windows[2 : 2 + _ES_POINTS]], axis=0)
            es_q_up[:] = np.mean([w[available - 1] for w in windows[2 + _ES_POINTS :]], axis=0)
        switched = np.zeros(n, dtype=bool)  # out-of-sample pool: the seed is dropped from these dates on
        if self.residual_pool == "out-of-sample":
            switched = (available > 0) & (out_of_sample_count[np.maximum(available - 1, 0)] >= switch_count)
        # the empirical quantiles of every date at once (the pool of a date is a window of the sorted shocks, and
        # without the seed a window of the shocks that are not seeds) -- no per-date np.quantile
        empirical = not contiguous and self.method != "ewma-normal"
        if empirical and (~switched).any():
            low, high = _window_quantiles(values, row_start, (p, alpha))
            q_down[~switched], q_up[~switched] = low[available[~switched] - 1], high[available[~switched] - 1]
        if empirical and switched.any():
            if seed[available[switched] - 1].any():  # the newest shock is a seed (another asset's pool counted): by date
                for row in np.flatnonzero(switched):
                    sample = values[window_start[row] : available[row]][~seed[window_start[row] : available[row]]]
                    q_down[row], q_up[row] = np.quantile(sample, [p, alpha])
            else:  # the window of date i among the non-seed shocks ends at the newest shock, itself not a seed
                kept = ~seed
                before = np.concatenate([[0], np.cumsum(kept)])  # non-seed shocks before each position
                low, high = _window_quantiles(values[kept], before[row_start[kept]], (p, alpha))
                last = before[available[switched]] - 1
                q_down[switched], q_up[switched] = low[last], high[last]
        normal_down, normal_up = stats.norm.ppf(p), stats.norm.ppf(alpha)
        # the quantiles of the current fit, computed once per fit (they hold until the next one): the EVT quantiles at
        # `confidence` (only where the tail model applies) and the extreme ones
        alpha_quantiles: tuple[Any, Any] | None = None
        extreme_quantiles: tuple[Any, Any] | None = None
        for i in range(n):
            if contiguous and not fit_positions:
                break
            if i in fit_positions or (self.extreme_moves == "all" and not current):
                sample = values[window_start[i] : available[i]]
                if switched[i]:
                    sample = sample[~seed[window_start[i] : available[i]]]
                current = _gpd_tails(sample, self.evt_threshold_quantile)
                alpha_quantiles = extreme_quantiles = None
                if current and self.method == "evt" and p < current["lower"].exceedance_probability:
                    alpha_quantiles = (-evt_quantile(current["lower"], alpha), evt_quantile(current["upper"], alpha))
            if self.method == "ewma-normal":
                q_down[i], q_up[i] = normal_down, normal_up
            elif alpha_quantiles is not None:
                q_down[i], q_up[i] = alpha_quantiles
            if self.extreme_moves == "none" or (self.extreme_moves == "last" and i < n - 1):
                extreme_down_q[i] = extreme_up_q[i] = np.nan
            elif current:
                if extreme_quantiles is None:
                    extreme_quantiles = (-evt_quantile(current["lower"], self.extreme_confidence),
                                         evt_quantile(current["upper"], self.extreme_confidence))
                extreme_down_q[i], extreme_up_q[i] = extreme_quantiles
            else:  # no tail fit (too few exceedances): the sample was drawn above, on this very date
                extreme_down_q[i], extreme_up_q[i] = np.min(sample), np.max(sample)
        if contiguous and not fit_positions:
            extreme_down_q[:] = extreme_up_q[:] = np.nan
        elif contiguous and self.extreme_moves == "last":
            extreme_down_q[: n - 1] = extreme_up_q[: n - 1] = np.nan
        tail_fits = dict(current)
        # ---- volatilities and base rates
        drift = h * frame["mean"].to_numpy()
        if self.method == "ewma-normal":
            ewma = ewma_volatility(series, include_next=True).reindex(dates).to_numpy()
            vol_h = ewma * math.sqrt(h)
            drift = np.zeros(n)
        else:
            vol_h = frame["vol_h"].to_numpy()
        base_down = -np.expm1(drift + vol_h * q_down)
        base_up = np.expm1(drift + vol_h * q_up)
        es_down = -np.expm1(drift + vol_h * es_q_down)
        es_up = np.expm1(drift + vol_h * es_q_up)
        lookback = self.extreme_window_days
        if lookback is None:
            stressed_vol = np.maximum.accumulate(frame["vol_h"].to_numpy())
        else:  # the largest forecast of the last `lookback` days (rows are days)
            stressed_vol = frame["vol_h"].rolling(int(lookback), min_periods=1).max().to_numpy()
        # historical h-day moves known before d: the move over [s, s+h-1] is known at s+h-1 < d
        moves = np.expm1(series.rolling(h).sum())  # indexed by the last day of the window
        falls, rises = (-moves).clip(lower=0), moves.clip(lower=0)
        if lookback is None:
            falls, rises = falls.cummax(), rises.cummax()
        else:
            falls = falls.rolling(int(lookback), min_periods=1).max()
            rises = rises.rolling(int(lookback), min_periods=1).max()
        # the value in force on d: the running maximum at the last return date strictly before d (also for the
        # row after the data, which a calibration at the as-of date publishes)
        known_before = np.searchsorted(_to_utc_index(moves.index).as_unit("ns").asi8, _to_utc_index(dates).as_unit("ns").asi8, side="left") - 1
        falls_known = np.append(falls.fillna(0.0).to_numpy(), 0.0)  # position -1 (nothing known yet) reads the 0 appended
        rises_known = np.append(rises.fillna(0.0).to_numpy(), 0.0)
        history_down = falls_known[known_before]
        history_up = rises_known[known_before]
        tail_vol = stressed_vol if self.extreme_vol == "stressed" else vol_h
        model_down = -np.expm1(drift + tail_vol * extreme_down_q)
        model_up = np.expm1(drift + tail_vol * extreme_up_q)
        extreme_down = np.maximum(model_down, history_down)
        extreme_up = np.maximum(model_up, history_up)
        out: dict[str, np.ndarray] = {}  # the result's columns, made a DataFrame once at the end
        out["base_down"], out["base_up"] = base_down, base_up
        out["es_down"], out["es_up"] = es_down, es_up
        down, up = base_down.copy(), base_up.copy()
        if self.cap is not None:  # before the tools too: a smoothing must not carry an uncapped spike for months
            down, up = np.minimum(down, self.cap), np.minimum(up, self.cap)
        tools = self.anti_procyclicality or AntiProcyclicality()
        flags: dict[str, np.ndarray] = {}
        if tools.lookback_floor_years is not None:
            days = max(int(round(tools.lookback_floor_years * 365)), h + 1)
            rolling_low = moves.rolling(days, min_periods=h).quantile(p).shift(1).reindex(dates).to_numpy()
            rolling_high = moves.rolling(days, min_periods=h).quantile(alpha).shift(1).reindex(dates).to_numpy()
            floor_down = np.nan_to_num(-rolling_low, nan=0.0)
            floor_up = np.nan_to_num(rolling_high, nan=0.0)
            flags["lookback_floor_binding"] = (floor_down > down) | (floor_up > up)
            down, up = np.maximum(down, floor_down), np.maximum(up, floor_up)
        if tools.slow_ewma_lambda is not None:
            slow = ewma_volatility(series, decay=tools.slow_ewma_lambda, include_next=True).reindex(dates).to_numpy() * math.sqrt(
                h
            )
            quantile_down = q_down if self.method != "ewma-normal" else np.full(n, stats.norm.ppf(p))
            quantile_up = q_up if self.method != "ewma-normal" else np.full(n, stats.norm.ppf(alpha))
            floor_down = -np.expm1(slow * quantile_down)
            floor_up = np.expm1(slow * quantile_up)
            flags["slow_ewma_binding"] = (floor_down > down) | (floor_up > up)
            down, up = np.maximum(down, floor_down), np.maximum(up, floor_up)
        if self.stressed_period is not None:
            start, end = (
                pd.Timestamp(x, tz="UTC") if pd.Timestamp(x).tzinfo is None else pd.Timestamp(x) for x in self.stressed_period
            )
            window_moves = moves.loc[start:end].dropna()
            if window_moves.size < 10:
                raise InputError("stressed_period", self.stressed_period, "holds fewer than 10 h-day moves of the returns")
            period_down = float(-np.quantile(window_moves, p))
            period_up = float(np.quantile(window_moves, alpha))
            known_after = dates > end
            floor_down = np.where(known_after, period_down, 0.0)
            floor_up = np.where(known_after, period_up, 0.0)
            flags["stressed_period_binding"] = (floor_down > down) | (floor_up > up)
            down, up = np.maximum(down, floor_down), np.maximum(up, floor_up)
        if tools.smoothing_lambda is not None:  # after the floors: a jump of the floored rate is phased in too
            smooth = 1.0 - tools.smoothing_lambda
            floored_down, floored_up = down, up
            down = pd.Series(down).ewm(alpha=smooth, adjust=False).mean().to_numpy()
            up = pd.Series(up).ewm(alpha=smooth, adjust=False).mean().to_numpy()
            flags["smoothing_binding"] = (down > floored_down + 1e-12) | (up > floored_up + 1e-12)
        if tools.stressed_weight is not None:
            w = tools.stressed_weight
            stressed_down = pd.Series(base_down).cummax().shift(1).fillna(base_down[0]).to_numpy()
            stressed_up = pd.Series(base_up).cummax().shift(1).fillna(base_up[0]).to_numpy()
            new_down = (1 - w) * down + w * np.maximum(stressed_down, down)
            new_up = (1 - w) * up + w * np.maximum(stressed_up, up)
            flags["stressed_weight_binding"] = (new_down > down + 1e-12) | (new_up > up + 1e-12)
            down, up = new_down, new_up
        if tools.buffer is not None:
            down, binding_down = _apply_buffer(down, tools.buffer)
            up, binding_up = _apply_buffer(up, tools.buffer)
            flags["buffer_binding"] = binding_down | binding_up
        if self.apc_at_least_base and self.anti_procyclicality is not None:
            plain_down, plain_up = (base_down, base_up) if self.cap is None else (np.minimum(base_down, self.cap), np.minimum(base_up, self.cap))
            flags["base_binding"] = (plain_down > down + 1e-12) | (plain_up > up + 1e-12)
            down, up = np.maximum(down, plain_down), np.maximum(up, plain_up)
        if self.floor is not None:
            flags["floor_binding"] = (down < self.floor) | (up < self.floor)
            down, up = np.maximum(down, self.floor), np.maximum(up, self.floor)
        else:
            flags["floor_binding"] = np.zeros(n, dtype=bool)
        if self.cap is not None:
            flags["cap_binding"] = (down > self.cap) | (up > self.cap)
            down, up = np.minimum(down, self.cap), np.minimum(up, self.cap)
        else:
            flags["cap_binding"] = np.zeros(n, dtype=bool)
        out["scan_down"], out["scan_up"] = down, up
        out["scan_range"] = np.maximum(down, up)
        out["extreme_down"], out["extreme_up"] = np.maximum(extreme_down, down), np.maximum(extreme_up, up)
        out["extreme_move"] = np.maximum(out["extreme_down"], out["extreme_up"])
        out["vol_forecast"] = vol_h
        out["vol_1d"] = frame["vol_1d"].to_numpy() if self.method != "ewma-normal" else vol_h / math.sqrt(h)
        out["stressed_vol"] = stressed_vol
        out["extreme_down_evt"], out["extreme_up_evt"] = model_down, model_up
        out["historical_worst_down"], out["historical_worst_up"] = history_down, history_up
        out["quantile_down"], out["quantile_up"] = q_down, q_up
        out["pool_size"] = available - window_start
        out["in_sample"] = frame["in_sample"].astype(bool).to_numpy() if "in_sample" in frame.columns else np.zeros(n, dtype=bool)
        forward = np.expm1(series.rolling(h).sum().shift(-(h - 1)))
        out["realised_move"] = forward.reindex(dates).to_numpy()
        out.update(flags)
        result = pd.DataFrame(out, index=dates)
        result.index.name = "date"
        return StressRangeResult(model=self, frame=result, garch=garch, tail_fits=tail_fits)


def _apply_buffer(rates: np.ndarray, buffer: float) -> tuple[np.ndarray, np.ndarray]:
    """``m_t = max(r_t, min((1 + b) r_t, m_{t-1}))``; flag days where the buffer absorbed (part of) a rise."""
    out = np.empty_like(rates)
    binding = np.zeros(rates.size, dtype=bool)
    previous = (1.0 + buffer) * rates[0]
    for t, rate in enumerate(rates):
        value = max(rate, min((1.0 + buffer) * rate, previous))
        binding[t] = value < (1.0 + buffer) * rate - 1e-12
        out[t] = value
        previous = value
    return out, binding


# ---------------------------------------------------------------------------------------- vol ranges
# ---------------------------------------------------------------------------------------- tail coverage
def _tail_coverage_moves() -> tuple[tuple[str, str, int, float], ...]:
    """The reference moves of :data:`marginlab.data.stylised.REFERENCE_MOVES` as ``(asset, first day, horizon_days,
    move)``: an h-day return ending on ``date`` starts ``h - 1`` days earlier (midpoint of its documented range); a
    stablecoin's intraday ``low`` is a one-day move from par; a ``close`` level after a multi-day collapse is skipped."""
    out = []
    for move in REFERENCE_MOVES:
        middle = (move.reference_low + move.reference_high) / 2
        if move.measure == "return":
            first = (pd.Timestamp(move.date) - pd.Timedelta(days=move.horizon_days - 1)).strftime("%Y-%m-%d")
            out.append((move.symbol, first, move.horizon_days, round(middle, 4)))
        elif move.measure == "low":
            out.append((move.symbol, move.date, 1, round(middle - 1.0, 4)))
    return tuple(out)


#: The moves :func:`tail_coverage_table` checks: ``(asset, first day, horizon_days, approximate move)``, built from
#: the one list of reference moves (:data:`marginlab.data.stylised.REFERENCE_MOVES`, worked_examples.md section H).
TAIL_COVERAGE_MOVES: tuple[tuple[str, str, int, float], ...] = _tail_coverage_moves()


def tail_coverage_table(
    results: Mapping[str, StressRangeResult],
    reference_moves: Sequence[tuple[str, str, int, float]] = TAIL_COVERAGE_MOVES,
    returns: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Which reference moves each layer of the calibrated grid covers.

    For each reference move (asset, first day ``d``, horizon, move) the table reports the move (realised from
    ``returns`` when given -- close-to-close over the horizon -- else the reference figure), the adaptive scan range
    and the extreme move in force on ``d`` (computed with data up to ``d-1``), and whether each covers the move
    (``covered_scan``, ``covered_extreme``). Moves of an asset without a result, or with a different horizon, are
    reported with NaN ranges and a note.

    Returns
    -------
    pandas.DataFrame
        Columns ``asset, date, horizon_days, move, scan_range, extreme_move, covered_scan, covered_extreme, note``.
    """
    rows = []
    for asset, day, horizon, reference in reference_moves:
        stamp = pd.Timestamp(day, tz="UTC")
        move = reference
        if returns is not None and asset in returns:
            series = returns[asset].copy()
            series.index = _to_utc_index(series.index)
            window = series.loc[stamp : stamp + pd.Timedelta(days=horizon - 1)]
            if window.size == horizon:
                move = float(np.expm1(window.sum()))
        row = {
            "asset": asset,
            "date": stamp.date(),
            "horizon_days": horizon,
            "move": move,
            "scan_range": np.nan,
            "extreme_move": np.nan,
        }
        result = results.get(asset)
        if result is None:
            row["note"] = "no calibrated result for this asset"
        elif result.model.horizon_days != horizon:
            row["note"] = f"result horizon {result.model.horizon_days}d differs from the move's {horizon}d"
        elif stamp not in result.frame.index:
            row["note"] = "date outside the calibrated range"
        else:
            line = result.frame.loc[stamp]
            side = "down" if move < 0 else "up"
            row["scan_range"] = float(line[f"scan_{side}"])  # type: ignore[arg-type]
            row["extreme_move"] = float(line[f"extreme_{side}"])  # type: ignore[arg-type]
            row["note"] = (
                f"{result.model.method} {result.model.confidence:.2%} scan; extreme at {result.model.extreme_confidence:.2%} on stressed vol"
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    table["covered_scan"] = table["scan_range"] >= table["move"].abs()
    table["covered_extreme"] = table["extreme_move"] >= table["move"].abs()
    return table[
        ["asset", "date", "horizon_days", "move", "scan_range", "extreme_move", "covered_scan", "covered_extreme", "note"]
    ]
