"""Collateral haircuts: volatility-scaled expected shortfall of the price drop, liquidity add-on, depeg risk.

A collateral haircut ``H`` is the fraction of an asset's market value that is *not* counted as
margin, so that selling the collateral within the liquidation horizon still covers what it
backs in all but the worst ``1 - confidence`` of cases. :class:`HaircutModel` sets it per asset as

``H = min(1, max(market_risk, depeg_risk, minimum_haircut) + liquidity_add_on)``

**Market risk (filtered historical simulation, FHS).** A GARCH-family model (calibration-core's
:func:`~marginlab.calibration.garch.fit_garch`, GJR/Student-t by default; EWMA for stablecoins)
is fitted to the asset's daily log returns up to the as-of date. Its standardised residuals
``z_t`` are bootstrapped ``n_simulations`` times for each of the ``h`` days of the horizon and
multiplied by the *forecast* daily volatility path ``sigma_{T+1..T+h}``; the ``h``-day log
return is ``R = sum_k sigma_{T+k} z_k`` (zero drift). The simulated price drop is
``D = 1 - exp(R)``. Reported: ``var_log`` / ``es_log`` (VaR and ES of the log loss ``-R``) and
``var`` / ``es`` (of the price drop ``D``, the quantity a haircut covers). With normal ``z`` and
a constant ``sigma`` these tend to the closed forms ``var_log = sigma sqrt(h) z_a`` and
``es_log = sigma sqrt(h) phi(z_a) / (1 - a)``, and ``var = 1 - exp(-var_log)``.
The horizon is 2-5 days (the time to liquidate collateral); confidence 99% or 99.5%.

**Liquidity add-on (square-root market impact).** Selling a position of ``size_usd`` into a
market trading ``ADV_usd`` a day moves the price by about
``add_on = k * sigma_daily * sqrt(size_usd / ADV_usd)`` (Almgren, Thum, Hauptmann & Li 2005,
"Direct estimation of equity market impact"; Toth et al. 2011, "Anomalous price impact and the
critical nature of liquidity"): empirical estimates of the prefactor ``k`` ("Y") lie between
about 0.5 and 1; the default ``k = 1`` is the conservative end. ``sigma_daily`` is the model's
one-day volatility forecast and ``ADV_usd`` the mean USD volume of the last ``adv_window_days``.
The add-on is increasing in size and vanishes for a zero position.

**Stablecoins** get the larger of their FHS market risk (EWMA volatility, which reacts within
days to a depeg) and the depeg mixture of :class:`~marginlab.calibration.depeg.DepegModel`
(probability of a depeg within the horizon x loss given depeg, pooled over 15+ stablecoins;
a coin already off its peg gets the ES of drops observed from depegged states).

**Tiers.** Haircuts are mapped to the usual industry tiers (:data:`INDUSTRY_TIERS`): stablecoins
0-5%, BTC/ETH 10-15%, mid caps 25-40%; :meth:`HaircutResult.compare_with_industry` explains the
differences.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> days = pd.date_range("2021-01-01", periods=800, freq="D", tz="UTC")
>>> prices = pd.DataFrame({"XYZ": 100 * np.exp(np.cumsum(0.03 * rng.standard_normal(800)))}, index=days)
>>> model = HaircutModel(horizon_days=2, vol_model="ewma", n_simulations=20_000)
>>> result = model.fit(prices, rng=1)
>>> bool(0.08 < result.table.loc["XYZ", "haircut"] < 0.14)  # ES99 of a 2-day drop at 3% daily vol ~ 11%
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from marginlab import data
from marginlab._validation import check_choice
from marginlab.calibration import garch
from marginlab.calibration.depeg import STABLECOINS, DepegModel, DepegResult, load_stablecoin_history
from marginlab.calibration.specs import Distribution, HaircutSpec, RiskMeasure, VolatilitySpec, VolModel
from marginlab.collateral import DynamicHaircut
from marginlab.data.returns import DAYS_PER_YEAR
from marginlab.exceptions import (
    ConvergenceWarning,
    DataWarning,
    InputError,
    MissingMarketDataError,
    ParameterError,
)
from marginlab.progress import tqdm
from marginlab.stats.bootstrap import as_generator, asset_generators, fhs_horizon_returns
from marginlab.stats.ewma import ewma_variance_forecasts
from marginlab.stats.impact import square_root_impact
from marginlab.stats.risk_measures import drop_risk

#: Usual industry haircut ranges (fractions) by asset class, with the assets in each class.
INDUSTRY_TIERS: dict[str, tuple[float, float]] = {
    "stablecoin": (0.0, 0.05),
    "major": (0.10, 0.15),
    "mid cap": (0.25, 0.40),
}

#: Assets treated as majors (BTC, ETH) in the industry comparison.
MAJORS: tuple[str, ...] = ("BTC", "ETH")

#: Tier labels by upper haircut bound (a haircut up to the bound falls in the tier).
TIER_BOUNDS: tuple[tuple[str, float], ...] = (
    ("tier 1 (<= 5%)", 0.05),
    ("tier 2 (<= 15%)", 0.15),
    ("tier 3 (<= 40%)", 0.40),
    ("tier 4 (<= 75%)", 0.75),
    ("not accepted (> 75%)", 1.0),
)



def industry_class(asset: str) -> str:
    """``"stablecoin"``, ``"major"`` (BTC, ETH) or ``"mid cap"`` (everything else)."""
    if asset in STABLECOINS:
        return "stablecoin"
    if asset in MAJORS:
        return "major"
    return "mid cap"


def tier_of(haircut: float) -> str:
    """The tier label of a haircut (see :data:`TIER_BOUNDS`).

    >>> tier_of(0.12)
    'tier 2 (<= 15%)'
    """
    for label, upper in TIER_BOUNDS:
        if haircut <= upper + 1e-12:
            return label
    return TIER_BOUNDS[-1][0]


@dataclass(frozen=True)
class AssetVolatility:
    """What the volatility step produced for one asset (internal record, shown in the result)."""

    std_residuals: np.ndarray
    forecast_vol_daily: np.ndarray
    model: str
    status: str
    long_run_vol_daily: float
    warnings: tuple[str, ...] = ()


def volatility_forecast(
    log_returns: pd.Series,
    horizon_days: int,
    vol_model: VolModel = "gjr",
    distribution: Distribution = "t",
    ewma_decay: float = 0.94,
    ewma_decay_after_fall: float | None = None,
) -> AssetVolatility:
    """Standardised residuals and the daily volatility path for the next ``horizon_days`` days.

    ``vol_model`` is a GARCH family of :func:`~marginlab.calibration.garch.fit_garch` (``"gjr"``,
    ``"garch"``, ``"egarch"``), ``"select"`` (BIC choice among GARCH/GJR x normal/t) or
    ``"ewma"`` (the methodology's EWMA, :func:`~marginlab.calibration.garch.asymmetric_ewma_variance` with
    ``ewma_decay`` and, after a fall, ``ewma_decay_after_fall``: ``z_t = r_t / sigma_t`` and a flat forecast).
    A GARCH fit that does not converge falls back to EWMA inside ``fit_garch`` (with a
    :class:`ConvergenceWarning`); the result's ``status`` says so.
    """
    series = pd.Series(log_returns).dropna().astype(float)
    if len(series) < 100:
        raise InputError("returns", f"{len(series)} observations", "needs at least 100 daily returns to fit a volatility model")
    long_run = float(series.std(ddof=1))
    check_choice("vol_model", vol_model, VolModel)
    if vol_model == "ewma":
        values = series.to_numpy()
        if ewma_decay_after_fall is None or ewma_decay_after_fall == ewma_decay:  # arch's backcast seed
            variance = ewma_variance_forecasts(values, ewma_decay, seed="backcast")
        else:
            variance = garch.asymmetric_ewma_variance(values, ewma_decay, ewma_decay_after_fall)
        vol = np.sqrt(variance)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = values / vol[:-1]
        label = f"ewma({ewma_decay})" if ewma_decay_after_fall is None else f"ewma({ewma_decay}/{ewma_decay_after_fall})"
        return AssetVolatility(z[np.isfinite(z)], np.full(int(horizon_days), float(vol[-1])), label, "ewma", long_run)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        if vol_model == "select":
            fit = garch.select_garch(series, candidates=[("garch", "normal"), ("garch", "t"), ("gjr", "t")]).best
        else:
            fit = garch.fit_garch(series, vol_model=vol_model, distribution=distribution, diagnostics=False)
    for record in records:
        caught.append(str(record.message))
        if issubclass(record.category, Warning):
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
    z = np.asarray(fit.std_residuals, dtype=float)
    return AssetVolatility(
        z[np.isfinite(z)],
        np.asarray(fit.forecast_vol(int(horizon_days)), dtype=float),
        f"{fit.vol_model}/{fit.distribution}",
        fit.status,
        long_run,
        tuple(caught) + tuple(fit.warnings),
    )


def _aware(asof: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(asof)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if stamp == stamp.normalize():
        stamp = stamp + pd.Timedelta(hours=23, minutes=59, seconds=59)
    return stamp


@dataclass(frozen=True)
class HaircutResult:
    """Calibrated haircuts: one row per asset, with the numbers that explain them.

    Attributes
    ----------
    table : DataFrame
        Indexed by asset: ``price_usd``, ``vol_model``, ``vol_status``, ``vol_forecast`` (annualised),
        ``long_run_vol`` (annualised), ``var``, ``es`` (price drop over the horizon), ``market_risk``,
        ``depeg_risk``, ``size_usd``, ``adv_usd``, ``liquidity_add_on``, ``haircut``, ``tier``,
        ``explanation``.
    model : HaircutModel
    asof : Timestamp or None
    depeg : DepegResult or None
        The depeg calibration used for stablecoins.
    data_start, data_end : dict asset -> Timestamp
        Range of the returns used per asset.
    volatility : dict asset -> AssetVolatility
        The volatility fits used (pass them back as ``volatility_fits`` to re-run cheaply, e.g. for other sizes).
    """

    table: pd.DataFrame
    model: HaircutModel
    asof: pd.Timestamp | None = None
    depeg: DepegResult | None = None
    data_start: dict[str, pd.Timestamp] = field(default_factory=dict)
    data_end: dict[str, pd.Timestamp] = field(default_factory=dict)
    volatility: dict[str, AssetVolatility] = field(default_factory=dict, repr=False)

    @property
    def haircuts(self) -> dict[str, float]:
        """``{asset: haircut}``."""
        return {str(a): float(h) for a, h in self.table["haircut"].items()}

    def to_schedule(self, floor: float = 0.0, cap: float = 1.0) -> Any:
        """A volatility-scaled :class:`marginlab.collateral.DynamicHaircut` built from this calibration.

        ``base`` = the calibrated haircut, ``reference_vol`` = ``current_vol`` = the annualised
        volatility forecast it was calibrated at (a stablecoin's reference is floored at 1% so
        its depeg haircut does not explode with tiny vol changes). Feed new forecasts with
        ``schedule.with_current_vol({...})``: the haircut then scales with volatility.
        """
        reference = {str(a): max(float(v), 0.01) for a, v in self.table["vol_forecast"].items()}
        return DynamicHaircut(self.haircuts, reference, dict(reference), floor=floor, cap=cap)

    def compare_with_industry(self) -> pd.DataFrame:
        """Calibrated haircut against the usual industry range of the asset's class, with an explanation."""
        rows = []
        for asset, row in self.table.iterrows():
            cls = industry_class(str(asset))
            low, high = INDUSTRY_TIERS[cls]
            haircut = float(row["haircut"])
            ratio = float(row["vol_forecast"] / row["long_run_vol"]) if row["long_run_vol"] > 0 else float("nan")
            regime = f"current vol {row['vol_forecast']:.1%} is {ratio:.2f}x its long-run {row['long_run_vol']:.1%}"
            if haircut < low:
                position = "below"
                why = (f"{regime}; a {self.model.horizon_days}-day {self.model.confidence:.1%} ES is a shorter, "
                       "point-in-time horizon than the through-the-cycle buffers of static industry tiers")
            elif haircut > high:
                position = "above"
                why = f"{regime}; "
                if row["depeg_risk"] >= row["market_risk"] and cls == "stablecoin":
                    why += "depeg risk (probability x loss given depeg) dominates"
                elif row["liquidity_add_on"] > 0.25 * haircut:
                    why += f"liquidity add-on {row['liquidity_add_on']:.1%} for {row['size_usd']:,.0f} USD against ADV {row['adv_usd']:,.0f} USD"
                else:
                    why += "the asset's fat tails and volatility exceed what the static tier assumes"
            else:
                position = "within"
                why = f"{regime}; consistent with the industry tier"
            rows.append(
                {
                    "asset": asset,
                    "industry_class": cls,
                    "industry_range": f"{low:.0%}-{high:.0%}",
                    "haircut": haircut,
                    "tier": row["tier"],
                    "position": position,
                    "explanation": why,
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """Readable report of the calibration."""
        model = self.model
        columns = ["vol_model", "vol_forecast", "var", "es", "depeg_risk", "liquidity_add_on", "haircut", "tier"]
        lines = [
            f"Haircuts: {model.horizon_days}-day horizon, {model.measure.upper()} at {model.confidence:.2%}, "
            f"FHS with {model.n_simulations:,} paths; liquidity k={model.liquidity_k}",
            f"as of {self.asof}" if self.asof is not None else "as of the last observation",
            "",
            self.table[columns].to_string(float_format=lambda v: f"{v:.4f}"),
        ]
        notes = [f"  {a}: {e}" for a, e in self.table["explanation"].items() if e]
        if notes:
            lines += ["", "Why:", *notes]
        return "\n".join(lines)


def haircut_settings(volatility: VolatilitySpec, haircut: HaircutSpec) -> dict[str, Any]:
    """The :class:`HaircutModel` arguments of a methodology's volatility and haircut sections: the one map from the
    methodology to the model, which also gives ``HaircutModel()`` its defaults (from the default sections).

    Parameters
    ----------
    volatility : VolatilitySpec
        The volatility section (model, distribution, estimation window, EWMA decays).
    haircut : HaircutSpec
        The haircut section.

    Returns
    -------
    dict
        Keyword arguments of :class:`HaircutModel` (all but ``depeg`` and ``stablecoins``).

    Examples
    --------
    >>> settings = haircut_settings(VolatilitySpec(), HaircutSpec())
    >>> settings["vol_model"], settings["horizon_days"], settings["ewma_decay_after_fall"]
    ('ewma', 3, 0.87)
    """
    sections = {name: getattr(haircut, name) for name in (
        "horizon_days", "confidence", "measure", "n_simulations", "liquidity_k", "position_size_usd", "adv_window_days",
        "minimum_haircut")}
    return {**sections, "vol_model": volatility.model, "distribution": volatility.distribution,
            "window_days": volatility.estimation_window_days, "ewma_decay": volatility.ewma_decay,
            "ewma_decay_after_fall": volatility.ewma_decay_after_fall}


#: The defaults of :class:`HaircutModel`: the recommended methodology's.
_RECOMMENDED: dict[str, Any] = haircut_settings(VolatilitySpec(), HaircutSpec())
#: TRANSITION (revert with the stress-range one): notebook 04's former defaults.
_RECOMMENDED |= {"vol_model": "gjr", "ewma_decay": 0.94, "ewma_decay_after_fall": None}


@dataclass(frozen=True)
class HaircutModel:
    """Collateral haircut model (FHS expected shortfall + liquidity add-on + stablecoin depeg risk).

    Parameters
    ----------
    horizon_days : int
        Liquidation horizon, 1-10 days (2-5 usual).
    confidence : float
        Confidence level of VaR/ES (0.99 or 0.995 usual).
    measure : {"es", "var"}
        Which measure of the price drop sets the market-risk haircut.
    vol_model : {"ewma", "garch", "gjr", "egarch", "select"}
        Volatility model of non-stablecoins (stablecoins always use EWMA).
    distribution : {"t", "normal", "skewt"}
        Innovation distribution of the GARCH fit.
    n_simulations : int
        FHS paths per asset.
    liquidity_k : float
        Square-root impact prefactor ``k`` (0.5-1 in the literature).
    position_size_usd : float
        Default position size for the liquidity add-on (``sizes_usd`` of :meth:`fit` overrides per asset).
    adv_window_days : int
        Window of the average daily traded value.
    ewma_decay, ewma_decay_after_fall : float, float or None
        Decays of the ``"ewma"`` volatility (stablecoins always use it): ``ewma_decay`` after a rise, and after a
        fall ``ewma_decay_after_fall`` (``None`` = symmetric). The methodology passes its own.
    window_days : int or None
        Days of returns used for the volatility fit (``None`` = all history up to the as-of date).
    minimum_haircut : float
        Floor of every haircut.
    depeg : DepegModel or None
        Stablecoin depeg model (``None``: defaults with the same horizon/confidence).
    stablecoins : tuple of str
        Assets treated as stablecoins.
    """

    horizon_days: int = _RECOMMENDED["horizon_days"]
    confidence: float = _RECOMMENDED["confidence"]
    measure: RiskMeasure = _RECOMMENDED["measure"]
    vol_model: VolModel = _RECOMMENDED["vol_model"]
    distribution: Distribution = _RECOMMENDED["distribution"]
    n_simulations: int = _RECOMMENDED["n_simulations"]
    liquidity_k: float = _RECOMMENDED["liquidity_k"]
    position_size_usd: float = _RECOMMENDED["position_size_usd"]
    adv_window_days: int = _RECOMMENDED["adv_window_days"]
    window_days: int | None = _RECOMMENDED["window_days"]
    minimum_haircut: float = _RECOMMENDED["minimum_haircut"]
    ewma_decay: float = _RECOMMENDED["ewma_decay"]
    ewma_decay_after_fall: float | None = _RECOMMENDED["ewma_decay_after_fall"]
    depeg: DepegModel | None = None
    stablecoins: tuple[str, ...] = STABLECOINS

    def __post_init__(self) -> None:
        if int(self.horizon_days) != self.horizon_days or not 1 <= self.horizon_days <= 10:
            raise ParameterError("horizon_days", self.horizon_days, "must be an integer between 1 and 10")
        if not 0.9 <= self.confidence < 1.0:
            raise ParameterError("confidence", self.confidence, "must lie in [0.9, 1)")
        check_choice("measure", self.measure, RiskMeasure)
        check_choice("vol_model", self.vol_model, VolModel)
        check_choice("distribution", self.distribution, Distribution)
        if self.n_simulations < 1000:
            raise ParameterError("n_simulations", self.n_simulations, "must be at least 1000")
        if not (0.0 <= self.liquidity_k <= 5.0):
            raise ParameterError("liquidity_k", self.liquidity_k, "must lie in [0, 5] (literature 0.5-1)")
        if not (self.position_size_usd >= 0 and math.isfinite(self.position_size_usd)):
            raise ParameterError("position_size_usd", self.position_size_usd, "must be finite and >= 0")
        if self.adv_window_days < 1:
            raise ParameterError("adv_window_days", self.adv_window_days, "must be at least 1")
        if self.window_days is not None and self.window_days < 100:
            raise ParameterError("window_days", self.window_days, "must be at least 100 (or None)")
        for name in ("ewma_decay", "ewma_decay_after_fall"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value < 1.0:
                raise ParameterError(name, value, "must lie strictly between 0 and 1")
        if not 0.0 <= self.minimum_haircut <= 1.0:
            raise ParameterError("minimum_haircut", self.minimum_haircut, "must lie in [0, 1]")

    @property
    def depeg_model(self) -> DepegModel:
        return self.depeg or DepegModel(horizon_days=self.horizon_days, confidence=self.confidence)

    def fit(
        self,
        prices: pd.DataFrame,
        volumes_usd: pd.DataFrame | None = None,
        *,
        asof: Any = None,
        sizes_usd: Mapping[str, float] | None = None,
        stablecoin_history: pd.DataFrame | None = None,
        volatility_fits: Mapping[str, AssetVolatility] | None = None,
        rng: np.random.Generator | int | None = None,
    ) -> HaircutResult:
        """Calibrate haircuts for every column of ``prices``.

        Parameters
        ----------
        prices : DataFrame
            Daily closes (USD), dates x assets (NaN before a listing). Rows after ``asof`` are ignored.
        volumes_usd : DataFrame, optional
            Daily traded value (USD), same layout. Without it the liquidity add-on is 0 (and said so).
        asof : date-like, optional
            Use data up to this day (inclusive) only.
        sizes_usd : mapping asset -> float, optional
            Position sizes for the liquidity add-on (default ``position_size_usd``).
        stablecoin_history : DataFrame, optional
            Long table ``timestamp, symbol, close`` of stablecoin closes for the depeg model
            (default: :func:`~marginlab.calibration.depeg.load_stablecoin_history` when a stablecoin is present).
        volatility_fits : mapping asset -> AssetVolatility, optional
            Volatility fits already made on the same data (e.g. by :func:`~marginlab.calibration.calibrate.calibrate`);
            their forecast path must cover ``horizon_days``. Other assets are fitted here.
        rng : Generator, int or None
            Seed of the FHS bootstrap.
        """
        if not isinstance(prices, pd.DataFrame) or prices.empty:
            raise InputError("prices", type(prices).__name__, "must be a non-empty DataFrame of closes (dates x assets)")
        frame = prices.copy()
        frame.index = pd.to_datetime(frame.index, utc=True)
        stamp = None if asof is None else _aware(asof)
        if stamp is not None:
            frame = frame[frame.index <= stamp]
        if frame.empty:
            raise InputError("asof", asof, "no prices on or before this date")
        generators = asset_generators(rng, [str(a) for a in frame.columns])
        volumes = None
        if volumes_usd is not None:
            volumes = volumes_usd.copy()
            volumes.index = pd.to_datetime(volumes.index, utc=True)
            if stamp is not None:
                volumes = volumes[volumes.index <= stamp]
        sizes = dict(sizes_usd or {})
        depeg_result = None
        if any(str(a) in self.stablecoins for a in frame.columns):
            if stablecoin_history is None:
                stablecoin_history = load_stablecoin_history(stamp)
            depeg_result = self.depeg_model.fit(stablecoin_history, stamp)
        rows = []
        starts, ends = {}, {}
        fitted: dict[str, AssetVolatility] = {}
        for asset in frame.columns:
            name = str(asset)
            close = frame[asset].dropna()
            if (close <= 0).any():
                raise InputError(f"prices[{name}]", float(close[close <= 0].iloc[0]), "prices must be positive")
            returns = np.log(close).diff().dropna()
            if self.window_days is not None:
                returns = returns.iloc[-self.window_days :]
            if len(returns) < 100:
                raise InputError(f"prices[{name}]", f"{len(returns)} returns", "needs at least 100 daily returns up to the as-of date")
            starts[name], ends[name] = returns.index[0], returns.index[-1]
            is_stable = name in self.stablecoins
            given = (volatility_fits or {}).get(name)
            if given is not None and len(given.forecast_vol_daily) >= self.horizon_days:
                vol = AssetVolatility(given.std_residuals, np.asarray(given.forecast_vol_daily)[: self.horizon_days], given.model,
                                      given.status, given.long_run_vol_daily, given.warnings)
            else:
                vol = volatility_forecast(returns, self.horizon_days, "ewma" if is_stable else self.vol_model, self.distribution,
                                          self.ewma_decay, self.ewma_decay_after_fall)
            fitted[name] = vol
            simulated = fhs_horizon_returns(vol.std_residuals, vol.forecast_vol_daily, self.horizon_days, self.n_simulations, generators[name])
            risk = drop_risk(simulated, self.confidence)
            market = risk[self.measure]
            notes = []
            depeg_risk = 0.0
            if is_stable and depeg_result is not None:
                depeg_risk = depeg_result.haircut(name, float(close.iloc[-1]))
                if depeg_result.is_depegged(name, float(close.iloc[-1])):
                    notes.append(f"trades at {close.iloc[-1]:.4f}, off its peg: treated as a volatile asset")
            sigma_daily = float(vol.forecast_vol_daily[0])
            size = float(sizes.get(name, self.position_size_usd))
            adv = float("nan")
            add_on = 0.0
            if volumes is None:
                notes.append("no volume data: no liquidity add-on")
            else:
                if name not in volumes.columns:
                    raise MissingMarketDataError("volumes_usd", name, "has no traded-volume series for this asset")
                recent = volumes[name].dropna().iloc[-self.adv_window_days :]
                adv = float(recent.mean()) if len(recent) else float("nan")
                if not (math.isfinite(adv) and adv > 0):
                    warnings.warn(f"volumes_usd[{name}]: no positive volume in the last {self.adv_window_days} days; liquidity add-on set to 1",
                                  DataWarning, stacklevel=2)
                    add_on = 1.0
                    notes.append("no traded volume: cannot be liquidated, add-on 100%")
                else:
                    add_on = float(square_root_impact(size, adv, sigma_daily, self.liquidity_k))
            if vol.status == "fallback-ewma":
                notes.append("GARCH fit failed, EWMA fallback used")
            base = max(market, depeg_risk, self.minimum_haircut)
            haircut = float(min(max(base + add_on, 0.0), 1.0))
            rows.append(
                {
                    "asset": name,
                    "price_usd": float(close.iloc[-1]),
                    "vol_model": vol.model,
                    "vol_status": vol.status,
                    "vol_forecast": sigma_daily * math.sqrt(DAYS_PER_YEAR),
                    "long_run_vol": vol.long_run_vol_daily * math.sqrt(DAYS_PER_YEAR),
                    "var_log": risk["var_log"],
                    "es_log": risk["es_log"],
                    "var": risk["var"],
                    "es": risk["es"],
                    "market_risk": market,
                    "depeg_risk": depeg_risk,
                    "size_usd": size,
                    "adv_usd": adv,
                    "liquidity_add_on": add_on,
                    "haircut": haircut,
                    "tier": tier_of(haircut),
                    "explanation": "; ".join(notes),
                }
            )
        table = pd.DataFrame(rows).set_index("asset")
        return HaircutResult(table=table, model=self, asof=stamp, depeg=depeg_result, data_start=starts, data_end=ends, volatility=fitted)

    def history(
        self,
        prices: pd.DataFrame,
        dates: Sequence[Any],
        volumes_usd: pd.DataFrame | None = None,
        *,
        stablecoin_history: pd.DataFrame | None = None,
        rng: np.random.Generator | int | None = None,
        progress: bool = False,
    ) -> pd.DataFrame:
        """Haircuts re-calibrated at each of ``dates`` (data up to each date only): dates x assets.

        Assets with fewer than 100 returns at a date are NaN there.
        """
        generator = as_generator(rng)
        out = {}
        for date in tqdm(list(dates), disable=not progress, desc="haircuts"):
            stamp = _aware(date)
            available = [a for a in prices.columns if prices[a].loc[: stamp].dropna().shape[0] > 101]
            if not available:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                result = self.fit(prices[available], volumes_usd, asof=stamp, stablecoin_history=stablecoin_history, rng=generator)
            out[pd.Timestamp(date)] = result.table["haircut"]
        return pd.DataFrame(out).T.reindex(columns=prices.columns)


def load_haircut_inputs(assets: Sequence[str], asof: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily closes and USD volumes of ``assets`` from the snapshot, up to ``asof``.

    BTC and ETH come from their long dedicated files (closes) and the universe file (USD volume);
    other assets from the universe file, then the stablecoin file.
    """
    closes, volumes = {}, {}
    for asset in assets:
        bars = data.load_daily(asset)
        closes[asset] = bars["close"]
        if asset in ("BTC", "ETH"):  # their dedicated files report volume in coins; the universe file in USD
            volumes[asset] = data.load_daily(asset, dataset="universe")["volume"]
        else:
            volumes[asset] = bars["volume"]
    close_frame = pd.DataFrame(closes).sort_index()
    volume_frame = pd.DataFrame(volumes).sort_index()
    if asof is not None:
        stamp = _aware(asof)
        close_frame = close_frame[close_frame.index <= stamp]
        volume_frame = volume_frame[volume_frame.index <= stamp]
    return close_frame, volume_frame
