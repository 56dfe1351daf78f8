"""The sections of a calibration methodology: every option's type, its recommended default and its check.

One ``Literal`` per choice, one name per option, in small frozen classes.

This is the one source of the calibration's defaults: :class:`~marginlab.calibration.methodology.Methodology` is
made of these sections, and the model classes (:class:`~marginlab.calibration.stress_ranges.StressRangeModel`,
:class:`~marginlab.calibration.haircuts.HaircutModel`) take their default values from the same section defaults, so
that ``StressRangeModel()`` is ``Methodology().stress_range_model()`` and ``HaircutModel()`` is
``Methodology().haircut_model()`` (``tests/calibration/test_specs.py``). It sits below the models (it imports none of
them), so that they can read it. A bad choice is a one-line :class:`~marginlab.exceptions.ParameterError` naming
the field and the value.

Examples
--------
>>> VolatilitySpec().model, RateSpec().scan_confidence
('ewma', 0.997)
>>> VolatilitySpec(model="gjr-garch")
Traceback (most recent call last):
...
marginlab.exceptions.ParameterError: volatility.model='gjr-garch': must be one of ['ewma', 'garch', 'gjr', 'egarch', 'select']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from marginlab._validation import check_choice
from marginlab.exceptions import ParameterError
from marginlab.parameters import DEFAULT_LONG_TENOR_POWER, DEFAULT_SHORT_TENOR_POWER, SPAN_EXTREME_COVER

# ---- the options of the calibration: one type per choice, one name per option (no aliases)
#: Volatility model of an asset: the EWMA recursion, a GARCH family fit, or a selection among ``candidates``.
VolModel = Literal["ewma", "garch", "gjr", "egarch", "select"]
#: The GARCH families (what :func:`~marginlab.calibration.garch.fit_garch` fits).
GarchModel = Literal["garch", "gjr", "egarch"]
#: Volatility model of a forecast path (:class:`~marginlab.calibration.stress_ranges.StressRangeModel`): ``"select"`` is
#: a methodology's choice, resolved to its first candidate before a model is built.
ForecastVolModel = Literal["ewma", "garch", "gjr", "egarch"]
#: Innovation distribution of a GARCH fit.
Distribution = Literal["normal", "t", "skewt"]
#: Mean model of a GARCH fit.
MeanModel = Literal["constant", "zero"]
#: What a GARCH fit does when a parameter sits on its boundary.
BoundaryPolicy = Literal["warn", "fallback"]
SelectionCriterion = Literal["bic", "aic"]
PoolKind = Literal["rolling", "expanding"]
#: Quantile of the shock pool: empirical (filtered historical simulation) or a generalised Pareto tail.
QuantileMethod = Literal["fhs", "evt"]
#: The quantile methods of a stress-range model: those of the methodology and the RiskMetrics benchmark.
ScanMethod = Literal["fhs", "evt", "ewma-normal"]
#: Residual pool of a stress-range model: keep the in-sample seed, or drop it once enough out-of-sample shocks exist.
ResidualPool = Literal["all", "out-of-sample"]
#: Dates with extreme (tail) moves.
ExtremeMovesChoice = Literal["all", "last", "none"]
ApcTool = Literal["none", "smoothing", "buffer", "stressed-weight"]
ApcFloor = Literal["none", "slow-ewma", "lookback-quantile"]
ExtremeVol = Literal["stressed", "current"]
NonDvolVolShock = Literal["scaled-realised", "garch-proxy"]
RiskMeasure = Literal["es", "var"]
#: The published rates (a requirement of the parameter file).
Requirement = Literal["maintenance_rate", "initial_rate", "price_scan_range"]
#: Side of a position: a long loses on a fall, a short on a rise.
Side = Literal["long", "short"]


def _check_choice(name: str, value: Any, literal: Any) -> None:
    check_choice(name, value, literal)


def _check_range(name: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParameterError(name, value, "must be a finite number")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        raise ParameterError(name, value, f"must lie in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}")


def _check_assets(name: str, values: Any) -> None:
    if isinstance(values, str) or not isinstance(values, tuple | list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ParameterError(name, values, "must be a list of asset codes such as [BTC, ETH]")


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise ParameterError(name, value, f"must be an integer >= {low}" + (f" and <= {high}" if high is not None else ""))


@dataclass(frozen=True)
class VolatilitySpec:
    """Conditional volatility model of every non-stablecoin asset.

    Parameters
    ----------
    model : {"ewma", "garch", "gjr", "egarch", "select"}
        ``"ewma"``: RiskMetrics recursion ``s2_{t+1} = l s2_t + (1 - l) r_t^2`` with decay ``ewma_decay`` (no fit, no
        boundary problem); GARCH family fitted with ``arch``; ``"select"`` picks among ``candidates`` by ``criterion``.
    ewma_decay : float
        Decay l of the EWMA model after a rise (0.94 = RiskMetrics daily; 0.97 = the issue-5 baseline).
    ewma_decay_after_fall : float or None
        Decay after a negative return (``None`` = symmetric EWMA): the volatility reacts faster to a fall
        (:func:`~marginlab.calibration.garch.asymmetric_ewma_variance`).
    distribution : {"normal", "t", "skewt"}
        Innovation distribution of a GARCH fit (the FHS quantiles do not use it; it only shapes the likelihood).
    candidates : tuple of (model, distribution)
        Candidate set of ``model="select"``.
    criterion : {"bic", "aic"}
    refit_every_days : int
        Trading days between re-estimations of the GARCH parameters (and of the EVT tails).
    estimation_window_days : int or None
        Returns used per fit (rolling window); ``None`` = expanding (all history up to the date).
    min_returns : int
        Fewest daily returns before the first estimate (and before an asset can be calibrated).
    side_specific : bool
        Each side's rate from its own volatility and residual pool: the up (short) side is the down side of the same
        model fitted to the mirrored returns ``-r`` (so the asymmetric EWMA reacts fast after a *rise* for the short
        side, as it does after a fall for the long side); a mirrored fall ``d`` is the rise ``d / (1 - d)``
        (:func:`~marginlab.calibration.published.published_rates`).
    """

    model: VolModel = "ewma"
    ewma_decay: float = 0.97
    ewma_decay_after_fall: float | None = 0.87
    distribution: Distribution = "t"
    candidates: tuple[tuple[GarchModel, Distribution], ...] = (("garch", "t"), ("gjr", "t"), ("gjr", "skewt"))
    criterion: SelectionCriterion = "bic"
    refit_every_days: int = 21
    estimation_window_days: int | None = 1500
    min_returns: int = 500
    side_specific: bool = True

    def __post_init__(self) -> None:
        _check_choice("volatility.model", self.model, VolModel)
        if not isinstance(self.side_specific, bool):
            raise ParameterError("volatility.side_specific", self.side_specific, "must be true or false")
        _check_range("volatility.ewma_decay", self.ewma_decay, 0.0, 1.0, low_open=True, high_open=True)
        if self.ewma_decay_after_fall is not None:
            _check_range("volatility.ewma_decay_after_fall", self.ewma_decay_after_fall, 0.0, 1.0, low_open=True, high_open=True)
        _check_choice("volatility.distribution", self.distribution, Distribution)
        _check_choice("volatility.criterion", self.criterion, SelectionCriterion)
        for pair in self.candidates:
            if isinstance(pair, str) or not isinstance(pair, tuple | list) or len(pair) != 2:
                raise ParameterError("volatility.candidates", pair, "each candidate is a pair [model, distribution]")
        for model, dist in self.candidates:
            _check_choice("volatility.candidates.model", model, GarchModel)
            _check_choice("volatility.candidates.distribution", dist, Distribution)
        _check_int("volatility.refit_every_days", self.refit_every_days, 1)
        _check_int("volatility.min_returns", self.min_returns, 100)
        if self.estimation_window_days is not None:
            _check_int("volatility.estimation_window_days", self.estimation_window_days, self.min_returns)


@dataclass(frozen=True)
class ResidualPoolSpec:
    """Pool of standardised h-day shocks of filtered historical simulation and the quantile taken from it.

    Parameters
    ----------
    kind : {"rolling", "expanding"}
        ``"rolling"``: the last ``length_days`` out-of-sample standardised residuals known before the date;
        ``"expanding"``: all of them since the first estimate.
    length_days : int
        Length of a rolling pool (1,000 days = the issue-5 baseline).
    min_shocks : int
        Fewest shocks in the pool before a rate is published (dates before are left out).
    include_seed : bool
        Keep the in-sample residuals of the first fit in the pool until ``min_shocks`` out-of-sample ones exist.
    quantile_method : {"fhs", "evt"}
        Empirical quantile of the pool, or the generalised Pareto tail beyond ``evt_threshold_quantile``.
    evt_threshold_quantile : float
        Threshold of the GPD tails (0.90 = the largest 10% of shocks); also used by the extreme moves.
    pooled_with : tuple of str
        Other assets whose residuals join each asset's pool (empty = own residuals only).
    """

    kind: PoolKind = "rolling"
    length_days: int = 1000
    min_shocks: int = 250
    include_seed: bool = True
    quantile_method: QuantileMethod = "fhs"
    evt_threshold_quantile: float = 0.90
    pooled_with: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_choice("pool.kind", self.kind, PoolKind)
        _check_int("pool.length_days", self.length_days, 100)
        _check_int("pool.min_shocks", self.min_shocks, 50)
        if self.kind == "rolling" and self.min_shocks > self.length_days:
            raise ParameterError("pool.min_shocks", self.min_shocks, f"must not exceed pool.length_days={self.length_days}")
        _check_choice("pool.quantile_method", self.quantile_method, QuantileMethod)
        _check_range("pool.evt_threshold_quantile", self.evt_threshold_quantile, 0.5, 0.99)
        _check_assets("pool.pooled_with", self.pooled_with)


@dataclass(frozen=True)
class RateSpec:
    """Horizons (days) and confidences (fractions) of the published rates.

    ``maintenance_rate`` = the long/short move at ``maintenance_confidence`` over ``maintenance_horizon_days``;
    ``initial_rate`` the same over ``initial_horizon_days`` (never below the maintenance rate);
    ``price_scan_range`` = the two-sided move at ``scan_confidence`` over ``scan_horizon_days`` after the
    anti-procyclicality tool (99.7%: the extreme-but-plausible level of a portfolio-margin grid). Every one of them
    carries the anti-procyclicality tool (:class:`AntiProcyclicalitySpec`). ``floor`` / ``cap`` bound every rate, each
    side (``None`` = no bound). The default cap is 1.0 (100% of notional): a requirement of the whole notional already
    makes the position fully funded (an unlevered long cannot lose more); for a short, the price rises beyond +100%
    within the margin period are the extreme-move layer's (``extreme.cap_up``, up to +500% at 35% cover). DOGE's
    2-day 99.7% up rate reached +1,298% in 2021 (a grid at thirteen times the price); notebook 02 counts the dates
    and realised moves the cap binds.

    Parameters
    ----------
    maintenance_horizon_days, initial_horizon_days, scan_horizon_days : int
        Horizons of the maintenance rate, the initial rate and the price scan range, 1-10 days.
    maintenance_confidence, initial_confidence, scan_confidence : float
        Their confidences, fractions in [0.9, 1).
    floor, cap : float or None
        Bounds of every rate, each side, fractions of the price in [0, 1] (``None`` = no bound).
    """

    maintenance_horizon_days: int = 1
    maintenance_confidence: float = 0.99
    initial_horizon_days: int = 2
    initial_confidence: float = 0.99
    scan_horizon_days: int = 2
    scan_confidence: float = 0.997
    floor: float | None = None
    cap: float | None = 1.0

    def __post_init__(self) -> None:
        for name in ("maintenance_horizon_days", "initial_horizon_days", "scan_horizon_days"):
            _check_int(f"rates.{name}", getattr(self, name), 1, 10)
        for name in ("maintenance_confidence", "initial_confidence", "scan_confidence"):
            _check_range(f"rates.{name}", getattr(self, name), 0.9, 1.0, high_open=True)
        for name in ("floor", "cap"):
            value = getattr(self, name)
            if value is not None:
                _check_range(f"rates.{name}", value, 0.0, 1.0)
        if self.floor is not None and self.cap is not None and self.floor > self.cap:
            raise ParameterError("rates.floor", self.floor, f"must not exceed rates.cap={self.cap}")

    def requirement_keys(self) -> dict[str, tuple[int, float]]:
        """``{requirement: (horizon_days, confidence)}`` of the published rates.

        Returns
        -------
        dict
            One ``(horizon_days, confidence)`` pair per :data:`Requirement`.

        Examples
        --------
        >>> RateSpec().requirement_keys()
        {'maintenance_rate': (1, 0.99), 'initial_rate': (2, 0.99), 'price_scan_range': (2, 0.997)}
        """
        return {
            "maintenance_rate": (self.maintenance_horizon_days, float(self.maintenance_confidence)),
            "initial_rate": (self.initial_horizon_days, float(self.initial_confidence)),
            "price_scan_range": (self.scan_horizon_days, float(self.scan_confidence)),
        }


@dataclass(frozen=True)
class AntiProcyclicalitySpec:
    """The anti-procyclicality tool of every rate that sets a requirement (one tool, one floor, in a fixed order).

    It governs the maintenance rate, the initial rate and the price scan range (``rates``), each on its own
    horizon and confidence. EMIR RTS 153/2013 art. 28 tools come on top of the art. 24 confidence level, so for the
    maintenance and initial rates (``at_least_plain_rate``) the result is never below the plain FHS quantile: the tool
    raises the calm-time level (floor) and phases in the *release* after a spike (smoothing), but never delays the cover
    of a new spike -- a smoothing that could go below the 99% rate would lag a volatility spike and fail the coverage
    tests (measured in notebook 06). The scan range (the portfolio grid's shape; the level of a linear position's
    requirement is the maintenance / initial rate, see :mod:`marginlab.margin.calibrated`) is smoothed as such. The
    30-day vol shocks are quantiles of the vol changes over the whole estimation window (a look-back quantile, the
    art. 28(1)(c) tool in effect), so no further tool applies to them.

    Order: (1) ``floor`` on the daily base rate -- the same FHS quantile applied to a slow EWMA volatility
    (decay ``floor_ewma_decay``) or the empirical quantile of the last ``floor_lookback_years`` of h-day moves;
    (2) the ``tool`` on the floored rate; (3) for the maintenance and initial rates, at least the plain rate. The floor
    comes BEFORE the smoothing, so a jump of the floored rate is phased in by the smoothing too (a floor applied after
    would pass it straight through).

    Parameters
    ----------
    tool : {"none", "smoothing", "buffer", "stressed-weight"}
        ``"smoothing"``: ``m_t = s m_{t-1} + (1 - s) r_t`` with ``s = smoothing_lambda``; ``"buffer"``:
        ``m_t = max(r_t, min((1 + b) r_t, m_{t-1}))``; ``"stressed-weight"``: ``(1 - w) r_t + w max_{s<t} r_s``.
    smoothing_lambda : float
    buffer : float
    stressed_weight : float
    floor : {"none", "slow-ewma", "lookback-quantile"}
    floor_ewma_decay : float
    floor_lookback_years : float
    at_least_plain_rate : bool
        The maintenance and initial rates never fall below their plain quantile (default True).
    margin_smoothing_lambda : float or None
        The smoothing of the maintenance and initial rates (with ``tool="smoothing"``; ``None`` = ``smoothing_lambda``).
        0.9 releases a spike over about ten days. With ``at_least_plain_rate`` the smoothing acts only on the release,
        so a longer memory only costs margin: at 0.99 BTC's 1-day rate averages 13.1% from 2019 against 11.1% plain
        (long exceptions 0.28%, short 0.49% -- far below 1%); at 0.9, 11.9% (0.53% / 0.90%).
    margin_floor : bool
        Apply ``floor`` to the maintenance and initial rates too (default False: the slow-EWMA floor raises BTC's
        average 1-day rate from 11% to about 19% since 2019, with long exceptions at 0.12% -- a cost notebook 06 shows).
    """

    tool: ApcTool = "smoothing"
    smoothing_lambda: float = 0.99
    buffer: float = 0.25
    stressed_weight: float = 0.25
    floor: ApcFloor = "slow-ewma"
    floor_ewma_decay: float = 0.995
    floor_lookback_years: float = 10.0
    at_least_plain_rate: bool = True
    margin_smoothing_lambda: float | None = 0.9
    margin_floor: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.at_least_plain_rate, bool):
            raise ParameterError("anti_procyclicality.at_least_plain_rate", self.at_least_plain_rate, "must be true or false")
        _check_choice("anti_procyclicality.tool", self.tool, ApcTool)
        _check_choice("anti_procyclicality.floor", self.floor, ApcFloor)
        _check_range("anti_procyclicality.smoothing_lambda", self.smoothing_lambda, 0.0, 1.0, high_open=True)
        _check_range("anti_procyclicality.buffer", self.buffer, 0.0, 2.0)
        _check_range("anti_procyclicality.stressed_weight", self.stressed_weight, 0.0, 1.0)
        _check_range("anti_procyclicality.floor_ewma_decay", self.floor_ewma_decay, 0.0, 1.0, low_open=True, high_open=True)
        _check_range("anti_procyclicality.floor_lookback_years", self.floor_lookback_years, 0.0, 50.0, low_open=True)
        if self.margin_smoothing_lambda is not None:
            _check_range("anti_procyclicality.margin_smoothing_lambda", self.margin_smoothing_lambda, 0.0, 1.0, high_open=True)
        if not isinstance(self.margin_floor, bool):
            raise ParameterError("anti_procyclicality.margin_floor", self.margin_floor, "must be true or false")


@dataclass(frozen=True)
class ExtremeMoveSpec:
    """Extreme (tail) moves of the scenario grid.

    ``extreme_down/up`` = the GPD quantile of the residual pool at ``confidence`` applied to the stressed (largest
    in the last ``window_days`` days) or current h-day volatility, never below the largest historical h-day move of
    the last ``window_days`` days (``None`` = the whole history), capped at ``cap_down`` / ``cap_up``. The window
    defaults to the residual pool's 1,000 days: BTC's 2011-2013 moves (+100% days) must not set today's grid. The
    default volatility is the current forecast: the stressed one of the fast-reacting EWMA is a one-day spike (BTC's
    2-day vol reached 26% after 12 March 2020), and 99.97% shocks on it give +500% up-moves; the historical floor
    (the worst h-day moves of the window: BTC -39% / +20% at 2022-11-01) carries the memory of stress instead. Losses in the extreme scenarios count at ``cover`` (SPAN's published 35%).

    Parameters
    ----------
    confidence : float
        Confidence of the extreme moves, in [0.99, 1) (never below the rate's own confidence).
    volatility : {"stressed", "current"}
        Volatility the GPD quantile is applied to: the largest h-day forecast of the window, or the current one.
    window_days : int or None
        Look-back of the stressed volatility and of the historical-move floor (``None`` = the whole history).
    cover : float
        Share of the extreme scenarios' losses that counts (SPAN's 35%).
    cap_down, cap_up : float
        Caps of the extreme fall (a fraction, at most 1) and rise (a fraction, up to 100 = +10,000%).
    """

    confidence: float = 0.9997
    volatility: ExtremeVol = "current"
    window_days: int | None = 1000
    cover: float = SPAN_EXTREME_COVER
    cap_down: float = 1.0
    cap_up: float = 5.0

    def __post_init__(self) -> None:
        _check_range("extreme.confidence", self.confidence, 0.99, 1.0, high_open=True)
        _check_choice("extreme.volatility", self.volatility, ExtremeVol)
        if self.window_days is not None:
            _check_int("extreme.window_days", self.window_days, 11)
        _check_range("extreme.cover", self.cover, 0.0, 1.0)
        _check_range("extreme.cap_down", self.cap_down, 0.0, 1.0, low_open=True)
        _check_range("extreme.cap_up", self.cap_up, 0.0, 100.0, low_open=True)


@dataclass(frozen=True)
class VolShockSpec:
    """Relative shocks of 30-day implied volatility, and their term structure.

    Assets with an implied-vol index (Deribit DVOL: BTC, ETH): the ``confidence`` quantiles of the ``horizon_days``
    log changes of the index over the estimation window (``up = exp(q_a) - 1``, ``down = 1 - exp(q_{1-a})``).
    Other assets (``non_dvol_method``): ``"scaled-realised"`` -- the same quantiles of the asset's own EWMA
    realised-vol changes, scaled by the BTC/ETH ratio of implied to realised vol-change quantiles (``dvol_reference``
    assets, same window) for the up shock, the references' mean DVOL down shock for the down shock, then capped at
    ``cap_up`` / ``cap_down`` (justified in :func:`~marginlab.calibration.stress_ranges.vol_shock_30d`);
    ``"garch-proxy"`` -- the realised-vol changes unscaled (the legacy proxy). Term structure: ``shock(DTE) = shock_30d * (30 / DTE) ** p`` with
    ``p = short_tenor_power`` for DTE <= 30 days and ``long_tenor_power`` beyond -- one meaning, everywhere.

    Parameters
    ----------
    horizon_days : int
        Horizon of the vol changes, 1-10 days.
    confidence : float
        Quantile level of the up shock (the down shock at ``1 - confidence``), in [0.9, 1).
    non_dvol_method : {"scaled-realised", "garch-proxy"}
        Shocks of the assets without an implied-vol index.
    dvol_reference : tuple of str
        Assets with DVOL whose implied / realised ratio scales the others' shocks.
    realised_vol_decay : float
        EWMA decay of the realised volatility of ``"scaled-realised"``.
    cap_up, cap_down : float
        Caps of the relative 30-day shocks (up at most 10 = +1,000%, down below 1).
    short_tenor_power, long_tenor_power : float
        Term-structure powers ``p`` at or below 30 days and beyond, in [0, 1].
    """

    horizon_days: int = 2
    confidence: float = 0.99
    non_dvol_method: NonDvolVolShock = "scaled-realised"
    dvol_reference: tuple[str, ...] = ("BTC", "ETH")
    realised_vol_decay: float = 0.94
    cap_up: float = 0.5
    cap_down: float = 0.3
    short_tenor_power: float = DEFAULT_SHORT_TENOR_POWER
    long_tenor_power: float = DEFAULT_LONG_TENOR_POWER

    def __post_init__(self) -> None:
        _check_int("vol_shock.horizon_days", self.horizon_days, 1, 10)
        _check_range("vol_shock.confidence", self.confidence, 0.9, 1.0, high_open=True)
        _check_choice("vol_shock.non_dvol_method", self.non_dvol_method, NonDvolVolShock)
        _check_assets("vol_shock.dvol_reference", self.dvol_reference)
        _check_range("vol_shock.realised_vol_decay", self.realised_vol_decay, 0.0, 1.0, low_open=True, high_open=True)
        _check_range("vol_shock.cap_up", self.cap_up, 0.0, 10.0, low_open=True)
        _check_range("vol_shock.cap_down", self.cap_down, 0.0, 1.0, low_open=True, high_open=True)
        _check_range("vol_shock.short_tenor_power", self.short_tenor_power, 0.0, 1.0)
        _check_range("vol_shock.long_tenor_power", self.long_tenor_power, 0.0, 1.0)


@dataclass(frozen=True)
class HaircutSpec:
    """Collateral haircut (:class:`~marginlab.calibration.haircuts.HaircutModel`).

    The FHS ``measure`` of the ``horizon_days`` price drop at ``confidence``, plus the square-root liquidity add-on for a position of
    ``position_size_usd`` against the ``adv_window_days`` average daily traded value (prefactor ``liquidity_k``),
    plus the stablecoin depeg risk; ``n_simulations`` FHS paths.

    Parameters
    ----------
    horizon_days : int
        Liquidation horizon, 1-10 days.
    confidence : float
        Confidence of the price-drop measure, in [0.9, 1).
    measure : {"es", "var"}
        Expected shortfall or value at risk of the price drop.
    liquidity_k : float
        Square-root impact prefactor, in [0, 5].
    position_size_usd : float
        Position size of the liquidity add-on, USD.
    adv_window_days : int
        Window of the average daily traded value, days.
    n_simulations : int
        FHS paths per asset (at least 1,000).
    minimum_haircut : float
        Floor of every haircut, a fraction.
    """

    horizon_days: int = 3
    confidence: float = 0.99
    measure: RiskMeasure = "es"
    liquidity_k: float = 1.0
    position_size_usd: float = 1_000_000.0
    adv_window_days: int = 30
    n_simulations: int = 20_000
    minimum_haircut: float = 0.0

    def __post_init__(self) -> None:
        _check_int("haircut.horizon_days", self.horizon_days, 1, 10)
        _check_range("haircut.confidence", self.confidence, 0.9, 1.0, high_open=True)
        _check_choice("haircut.measure", self.measure, RiskMeasure)
        _check_range("haircut.liquidity_k", self.liquidity_k, 0.0, 5.0)
        _check_range("haircut.position_size_usd", self.position_size_usd, 0.0, 1e15)
        _check_int("haircut.adv_window_days", self.adv_window_days, 1)
        _check_int("haircut.n_simulations", self.n_simulations, 1000)
        _check_range("haircut.minimum_haircut", self.minimum_haircut, 0.0, 1.0)
