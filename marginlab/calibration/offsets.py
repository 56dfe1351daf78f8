"""Inter-underlying offset credits estimated from data: one rule for every pair of assets.

A book long one underlying and short another (a *spread*) loses less than the sum of its legs when the two
assets move together. :func:`estimate_offsets` measures how much they move together **in stress** and turns
it into a SPAN-style *spread credit rate* per pair, with one documented rule that is never tuned per pair
(:class:`StressOffsetMethod`):

1. Moves. Daily log returns up to ``asof`` (inclusive, nothing later), standardised by the one EWMA
   volatility of :mod:`marginlab.stats.ewma` (``standardise="ewma"``: the FHS residuals ``z_t = r_t /
   sigma_t`` with ``sigma_t`` forecast from returns before ``t``; ``"raw"`` keeps the returns), summed over
   ``horizon_days`` (overlapping windows). The first ``warmup_days`` of each asset's history seed the EWMA and
   are dropped; ``window_days`` keeps only the last days before ``asof`` (default: all of them).
2. Stress days of a pair: the days where **either** asset's absolute move is beyond its own
   ``stress_quantile`` quantile (over the pair's common days).
3. Correlation used: ``rho = min(rho_stress, rho_all) - haircut`` -- the smaller of the Pearson correlations
   on the stress days and on all common days (conditioning on large moves biases a correlation upwards, so
   the stress figure alone is not conservative), minus a haircut for correlation breakdown (default 0.20:
   over 2018-2024 the 30-day correlation of BTC/ETH daily log returns has a median of 0.86, a 5% quantile of 0.63
   -- about 0.2 lower one window in twenty -- and a minimum of 0.38, in the window ending 2021-01-09).
4. Credit rate: ``rate = min(cap, 1 - sqrt(1 - rho))`` for ``rho > 0``, else 0 (and 0 when fewer than
   ``min_observations`` stress days). Derivation: two legs of equal standalone requirement ``S`` and opposite
   sign, credited as SPAN does (``rate`` of each leg's requirement,
   :class:`marginlab.margin.span.InterCommoditySpread`), cost ``2 S (1 - rate) = 2 S sqrt(1 - rho)``; under
   joint normality at the same confidence their joint requirement is ``S sqrt(2 (1 - rho_true))``. The rule
   thus charges ``sqrt(2)`` times the normal-theory requirement at the haircut correlation -- a margin for fat
   tails (VaR of heavy-tailed legs need not be sub-additive) -- and is 0 at zero correlation and continuous.

The result is an :class:`~marginlab.parameters.OffsetParameters` table (pair -> credit rate, both correlations,
numbers of observations, data window) stored in the parameter file by
:func:`marginlab.calibration.calibrate.calibrate` and applied by the ``calibrated-portfolio`` model
(:mod:`marginlab.margin.calibrated`); :func:`marginlab.margin.calibrated.span_spreads` turns the same table into SPAN inter-commodity spread
definitions for :class:`marginlab.margin.span.SpanModel`. The FHS model (:mod:`marginlab.margin.fhs`) needs no table:
it revalues the book on joint historical scenarios, so a long-ETH/short-BTC book already costs less than its legs
(tested on the snapshot in ``tests/margin/test_calibrated_offsets.py``). :func:`spread_backtest` checks that the
credit does not raise the exception rate of a spread book above the maintenance target.

Examples
--------
Hand check of the rule: stress correlation 0.85, full-sample 0.80, haircut 0.20 -> rho = 0.60 and
rate = 1 - sqrt(0.40) = 0.3675.

>>> round(StressOffsetMethod().credit_rate(0.85, 0.80, 200), 4)
0.3675
>>> StressOffsetMethod().credit_rate(0.15, 0.3, 200), StressOffsetMethod().credit_rate(0.9, 0.9, 5)
(0.0, 0.0)

On prices (two assets sharing a common factor):

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> common = rng.standard_normal(1500)
>>> r = pd.DataFrame({"AAA": 0.03 * (0.9 * common + 0.44 * rng.standard_normal(1500)),
...                   "BBB": 0.04 * (0.9 * common + 0.44 * rng.standard_normal(1500))},
...                  index=pd.date_range("2020-01-01", periods=1500, freq="D", tz="UTC"))
>>> table = estimate_offsets(np.exp(r.cumsum()) * 100, "2023-12-31")
>>> pair = table.pair("BBB", "AAA")
>>> (pair.asset_a, pair.asset_b, pair.window_end), bool(0.75 < pair.correlation_all < 0.85), bool(0.2 < pair.credit_rate < 0.4)
(('AAA', 'BBB', '2023-12-31'), True, True)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from marginlab._validation import check_choice, parse_date
from marginlab.analysis.backtest import kupiec_test
from marginlab.calibration.methodology import Methodology
from marginlab.data import close_panel
from marginlab.exceptions import InputError, ParameterError
from marginlab.parameters import OffsetParameters, PairOffset
from marginlab.stats.ewma import EWMA_DECAY, ewma_volatility

__all__ = ["OFFSET_RULE", "SpreadBacktest", "Standardisation", "StressOffsetMethod", "estimate_offsets", "spread_backtest",
           "spread_credit", "stress_moves"]

Standardisation = Literal["ewma", "raw"]

#: The rule, as written into the parameter file.
OFFSET_RULE = "rate = min(cap, 1 - sqrt(1 - rho)), rho = min(rho_stress, rho_all) - haircut (0 if rho <= 0 or n_stress < min_observations)"

#: Sizing of a spread backtest: 1 USD each leg, or the short leg scaled to equal maintenance risk.
SpreadSizing = Literal["equal_notional", "equal_risk"]


@dataclass(frozen=True)
class StressOffsetMethod:
    """The one rule that turns two assets' history into a spread credit rate (see the module docstring).

    Parameters
    ----------
    horizon_days : int
        Horizon of the moves (1 = the daily moves a 1-day maintenance margin covers).
    stress_quantile : float
        A day is a stress day of a pair when either asset's absolute move is beyond this quantile of its own.
    standardise : {"ewma", "raw"}
        FHS-standardised moves (EWMA volatility, ``ewma_decay``) or raw log returns.
    ewma_decay : float
    warmup_days : int
        First days of each asset's returns dropped (EWMA seed).
    window_days : int, optional
        Keep only the last ``window_days`` calendar days up to ``asof`` (default: the whole history).
    haircut : float
        Subtracted from the correlation (correlation breakdown).
    cap : float
        Largest credit rate.
    min_observations : int
        Fewest stress days for a credit (fewer: rate 0).
    """

    horizon_days: int = 1
    stress_quantile: float = 0.95
    standardise: Standardisation = "ewma"
    ewma_decay: float = EWMA_DECAY
    warmup_days: int = 30
    window_days: int | None = None
    haircut: float = 0.20
    cap: float = 0.70
    min_observations: int = 30

    def __post_init__(self) -> None:
        if not (isinstance(self.horizon_days, int | np.integer) and 1 <= self.horizon_days <= 30):
            raise ParameterError("horizon_days", self.horizon_days, "must be an integer from 1 to 30")
        if not (math.isfinite(self.stress_quantile) and 0.5 <= self.stress_quantile < 1.0):
            raise ParameterError("stress_quantile", self.stress_quantile, "must be in [0.5, 1)")
        if self.standardise not in ("ewma", "raw"):
            raise ParameterError("standardise", self.standardise, "must be 'ewma' or 'raw'")
        if not 0.0 < self.ewma_decay < 1.0:
            raise ParameterError("ewma_decay", self.ewma_decay, "must lie strictly between 0 and 1")
        if not (isinstance(self.warmup_days, int | np.integer) and self.warmup_days >= 0):
            raise ParameterError("warmup_days", self.warmup_days, "must be a non-negative integer")
        if self.window_days is not None and not (isinstance(self.window_days, int | np.integer) and self.window_days >= 30):
            raise ParameterError("window_days", self.window_days, "must be None or an integer >= 30")
        if not (math.isfinite(self.haircut) and 0.0 <= self.haircut <= 1.0):
            raise ParameterError("haircut", self.haircut, "must be in [0, 1]")
        if not (math.isfinite(self.cap) and 0.0 <= self.cap <= 1.0):
            raise ParameterError("cap", self.cap, "must be in [0, 1]")
        if not (isinstance(self.min_observations, int | np.integer) and self.min_observations >= 3):
            raise ParameterError("min_observations", self.min_observations, "must be an integer >= 3")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rule": OFFSET_RULE}

    def credit_rate(self, correlation_stress: float, correlation_all: float, n_stress: int) -> float:
        """``min(cap, 1 - sqrt(1 - rho))`` with ``rho = min(rho_stress, rho_all) - haircut``; 0 if ``rho <= 0``,
        a correlation is not finite, or ``n_stress < min_observations``."""
        if n_stress < self.min_observations or not (math.isfinite(correlation_stress) and math.isfinite(correlation_all)):
            return 0.0
        rho = min(correlation_stress, correlation_all) - self.haircut
        if rho <= 0.0:
            return 0.0
        return float(min(self.cap, 1.0 - math.sqrt(1.0 - min(rho, 1.0))))


def stress_moves(prices: pd.DataFrame, asof: Any, method: StressOffsetMethod | None = None) -> pd.DataFrame:
    """The moves the rule correlates: one column per asset, dates up to ``asof`` (inclusive) only.

    Standardised (or raw) ``horizon_days``-day log moves, after the warm-up, within ``window_days``.
    """
    method = method or StressOffsetMethod()
    if not isinstance(prices, pd.DataFrame) or prices.shape[1] < 1:
        raise InputError("prices", type(prices).__name__, "must be a DataFrame of closes (dates x assets)")
    try:
        stamp = pd.Timestamp(asof)
    except (TypeError, ValueError):
        raise InputError("asof", asof, "is not a date") from None
    index = pd.DatetimeIndex(prices.index)
    if index.tz is None:
        index = index.tz_localize("UTC")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(index.tz)
    end = stamp.normalize() + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    frame = prices.set_axis(index)
    frame = frame[frame.index <= end]  # nothing after asof is read
    columns = {}
    for asset in frame.columns:
        close = frame[asset].dropna().astype(float)
        if (close <= 0).any():
            raise InputError(f"prices[{asset}]", float(close[close <= 0].iloc[0]), "prices must be positive")
        returns = pd.Series(np.log(close.to_numpy()), index=close.index).diff().dropna()
        if method.standardise == "ewma" and len(returns) > 1:
            vol = ewma_volatility(returns, decay=method.ewma_decay)
            moves = returns / vol.where(vol > 0)
        else:
            moves = returns
        moves = moves.iloc[method.warmup_days:]
        if method.horizon_days > 1:
            moves = moves.rolling(method.horizon_days).sum().dropna()
        columns[str(asset)] = moves
    out = pd.DataFrame(columns)
    if method.window_days is not None and len(out):
        out = out[out.index > end - pd.Timedelta(days=method.window_days)]
    return out


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def estimate_offsets(
    prices: pd.DataFrame,
    asof: Any,
    method: StressOffsetMethod | None = None,
    assets: Sequence[str] | None = None,
) -> OffsetParameters:
    """Spread credit rates of every pair of ``assets`` from closes up to ``asof`` (see the module docstring).

    Parameters
    ----------
    prices : DataFrame
        Daily closes, dates x assets (rows after ``asof`` are ignored).
    asof : date-like
        Last day of data used (inclusive).
    method : StressOffsetMethod, optional
    assets : sequence of str, optional
        Columns to pair (default: all); at least two.

    Returns
    -------
    OffsetParameters
        One :class:`~marginlab.parameters.PairOffset` per pair (sorted names, ``asset_a < asset_b``).
    """
    method = method or StressOffsetMethod()
    names = sorted(str(a) for a in (assets if assets is not None else prices.columns))
    if len(set(names)) < 2:
        raise InputError("assets", names, "offsets need at least two different assets")
    missing = [a for a in names if a not in prices.columns]
    if missing:
        raise InputError("assets", missing, f"have no price series (available: {', '.join(map(str, prices.columns))})")
    moves = stress_moves(prices[names], asof, method)
    pairs = []
    for a, b in itertools.combinations(names, 2):
        joint = moves[[a, b]].replace([np.inf, -np.inf], np.nan).dropna()
        x, y = joint[a].to_numpy(), joint[b].to_numpy()
        if x.size:
            stress = (np.abs(x) >= np.quantile(np.abs(x), method.stress_quantile)) | (np.abs(y) >= np.quantile(np.abs(y), method.stress_quantile))
        else:
            stress = np.zeros(0, dtype=bool)
        rho_all, rho_stress = _correlation(x, y), _correlation(x[stress], y[stress])
        n_stress = int(stress.sum())
        pairs.append(PairOffset(
            asset_a=a,
            asset_b=b,
            credit_rate=method.credit_rate(rho_stress, rho_all, n_stress),
            correlation_stress=rho_stress if math.isfinite(rho_stress) else None,
            correlation_all=rho_all if math.isfinite(rho_all) else None,
            n_stress=n_stress,
            n_observations=int(x.size),
            window_start=joint.index[0].strftime("%Y-%m-%d") if x.size else None,
            window_end=joint.index[-1].strftime("%Y-%m-%d") if x.size else None,
        ))
    return OffsetParameters(method=f"stress-correlation ({method.standardise}, {method.horizon_days}-day)", settings=method.to_dict(),
                            pairs=tuple(pairs))


# ------------------------------------------------------------------------------------------ backtest
@dataclass(frozen=True, eq=False)
class SpreadBacktest:
    """Result of :func:`spread_backtest`: does the credit raise the exception rate of a spread book above target?

    Attributes
    ----------
    long_asset, short_asset : str
    alpha : float
        Confidence the maintenance rates claim (per tail); target exception rate ``1 - alpha``.
    credited, uncredited : CoverageTest
        Kupiec proportion-of-failures tests of the credited requirement and of the sum of the legs.
    frame : DataFrame
        Per tested day ``d`` (move from close ``d-1`` to close ``d``, per 1 USD notional of each leg):
        ``rate_long``, ``rate_short`` (the legs' maintenance rates set at close ``d-1``), ``notional_short`` (USD short per
        1 USD long), ``requirement_long``, ``requirement_short``, ``credit_rate`` (estimated with data up to ``d-1``,
        refitted every ``refit_days``), ``requirement`` (sum of legs), ``credited_requirement``, ``loss`` (of the
        spread), ``exception``, ``exception_uncredited``.
    sizing : {"equal_notional", "equal_risk"}
    """

    long_asset: str
    short_asset: str
    alpha: float
    credited: Any
    uncredited: Any
    frame: pd.DataFrame
    sizing: SpreadSizing = "equal_notional"

    @property
    def exception_rate(self) -> float:
        return float(self.frame["exception"].mean())

    @property
    def break_even_credit_rate(self) -> float:
        """Largest constant credit rate whose exception rate stays at or below ``1 - alpha`` on these days.

        A day is an exception at rate ``c`` when ``loss > R - 2 c min(R_long, R_short)``, i.e. when
        ``c > b = (R - loss) / (2 min(R_long, R_short))``; with ``k = floor((1 - alpha) n)`` tolerated exceptions,
        the answer is the ``(k + 1)``-th smallest ``b`` (floored at 0).
        """
        f = self.frame
        bound = np.sort(((f["requirement"] - f["loss"]) / (2.0 * np.minimum(f["requirement_long"], f["requirement_short"]))).to_numpy())
        k = int(math.floor((1.0 - self.alpha) * bound.size + 1e-9))
        return float(max(bound[min(k, bound.size - 1)], 0.0))

    def summary(self) -> str:
        f = self.frame
        return (
            f"Spread long {self.long_asset} / short {self.short_asset} ({self.sizing.replace('_', ' ')}), 1-day {self.alpha:.0%} maintenance, "
            f"{f.index[0].date()}..{f.index[-1].date()}: {len(f):,} days; credited: {int(f['exception'].sum())} exceptions "
            f"({self.exception_rate:.2%}, target {1 - self.alpha:.2%}, Kupiec p={self.credited.p_value:.3f}); without credit: "
            f"{int(f['exception_uncredited'].sum())} ({float(f['exception_uncredited'].mean()):.2%}); average credit rate "
            f"{float(f['credit_rate'].mean()):.1%} (break-even {self.break_even_credit_rate:.1%}), requirement saved "
            f"{1 - float(f['credited_requirement'].sum() / f['requirement'].sum()):.1%}"
        )


def spread_credit(rate_a: Any, rate_b: Any, credit_rate: Any) -> Any:
    """Credited requirement of a two-leg spread (arrays): ``R_a + R_b - 2 x credit_rate x min(R_a, R_b)``.

    The vectorised form of :func:`marginlab.margin.correlation.inter_commodity_credit` for one spread of opposite legs
    in scan-risk units (ratio 1:1), the rule of ``calibrated-portfolio``.

    >>> float(spread_credit(6000.0, 8000.0, 0.4))
    9200.0
    """
    a, b = np.asarray(rate_a, dtype=float), np.asarray(rate_b, dtype=float)
    return a + b - 2.0 * np.asarray(credit_rate, dtype=float) * np.minimum(a, b)


def spread_backtest(
    long_asset: str,
    short_asset: str,
    start: Any,
    end: Any,
    *,
    prices: pd.DataFrame | None = None,
    methodology: Any = None,
    method: StressOffsetMethod | None = None,
    refit_days: int = 30,
    sizing: SpreadSizing = "equal_notional",
) -> SpreadBacktest:
    """Backtest the credited maintenance requirement of a spread book (long one asset, short the other, 1 USD each).

    Each day ``d`` from ``start`` to ``end``: the legs' maintenance rates are the calibrated ones set at close ``d-1``
    (``max(scan_down, scan_up)`` of ``methodology.stress_range_model(maintenance horizon, confidence,
    extreme_moves="none")``, what ``calibrate`` publishes and ``calibrated-portfolio`` charges a lone perpetual), the
    credit rate is :func:`estimate_offsets` with data up to ``d-1`` (refitted every ``refit_days`` days), the
    requirement is :func:`spread_credit`; an exception is a spread loss from close ``d-1`` to close ``d`` above it.
    Kupiec tests (:func:`marginlab.analysis.backtest.kupiec_test`) compare the exception rates with ``1 - confidence``.
    Only the 1-day maintenance horizon is supported. ``sizing="equal_notional"``: 1 USD long, 1 USD short;
    ``"equal_risk"``: 1 USD long and ``rate_long / rate_short`` USD short (re-sized daily), so both legs carry the same
    requirement and the whole smaller leg is in the spread (the case where the credit matters most).
    """
    config = methodology if methodology is not None else Methodology()
    rates = config.rates
    if rates.maintenance_horizon_days != 1:
        raise InputError("methodology.rates.maintenance_horizon_days", rates.maintenance_horizon_days, "spread_backtest supports 1 only")
    if not (isinstance(refit_days, int) and refit_days >= 1):
        raise InputError("refit_days", refit_days, "must be a positive integer")
    check_choice("sizing", sizing, SpreadSizing, error=InputError)
    if long_asset == short_asset:
        raise InputError("short_asset", short_asset, "a spread needs two different assets")
    first, last = (day if day.tzinfo is not None else day.tz_localize("UTC") for day in (parse_date(start, "start"), parse_date(end, "end")))
    if prices is None:
        prices = close_panel([long_asset, short_asset], end=last.strftime("%Y-%m-%d"), how="outer")
    missing = [a for a in (long_asset, short_asset) if a not in prices.columns]
    if missing:
        raise InputError("assets", missing, f"have no price series (available: {', '.join(map(str, prices.columns))})")
    frame = prices[[long_asset, short_asset]].copy()
    frame.index = pd.DatetimeIndex(frame.index).tz_localize("UTC") if pd.DatetimeIndex(frame.index).tz is None else pd.DatetimeIndex(frame.index)
    frame = frame[frame.index <= last + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)]
    legs = {}
    moves = {}
    for asset in (long_asset, short_asset):
        close = frame[asset].dropna()
        returns = pd.Series(np.log(close.to_numpy()), index=close.index).diff().dropna()
        model = config.stress_range_model(rates.maintenance_horizon_days, rates.maintenance_confidence, extreme_moves="none")
        fitted = model.fit(returns).frame
        fitted = fitted[~fitted["in_sample"].astype(bool)]
        legs[asset] = np.maximum(fitted["scan_down"], fitted["scan_up"])  # row d: the rate set at close d-1
        moves[asset] = np.expm1(returns)
    table = pd.DataFrame({"rate_long": legs[long_asset], "rate_short": legs[short_asset],
                          "move_long": moves[long_asset], "move_short": moves[short_asset]}).dropna()
    table = table[table.index >= first]
    if table.empty:
        raise InputError("start", str(first.date()), f"no day with rates for both {long_asset} and {short_asset} up to {last.date()}")
    credit = pd.Series(np.nan, index=table.index)
    for position in range(0, len(table), refit_days):
        day = table.index[position]
        offsets = estimate_offsets(frame, day - pd.Timedelta(days=1), method, [long_asset, short_asset])
        credit.iloc[position] = offsets.rate(long_asset, short_asset)
    table["credit_rate"] = credit.ffill()
    table["notional_short"] = 1.0 if sizing == "equal_notional" else table["rate_long"] / table["rate_short"]
    table["requirement_long"] = table["rate_long"]
    table["requirement_short"] = table["rate_short"] * table["notional_short"]
    table["requirement"] = table["requirement_long"] + table["requirement_short"]
    table["credited_requirement"] = spread_credit(table["requirement_long"], table["requirement_short"], table["credit_rate"])
    table["loss"] = table["notional_short"] * table["move_short"] - table["move_long"]
    table["exception"] = table["loss"] > table["credited_requirement"]
    table["exception_uncredited"] = table["loss"] > table["requirement"]
    alpha = float(rates.maintenance_confidence)
    return SpreadBacktest(long_asset, short_asset, alpha, kupiec_test(table["exception"].to_numpy(), alpha),
                          kupiec_test(table["exception_uncredited"].to_numpy(), alpha), table, sizing)
