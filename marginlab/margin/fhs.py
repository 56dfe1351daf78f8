"""VaR/ES portfolio margin by filtered historical simulation (FHS), SPAN 2 / CCP style.

The model answers "how much could this book lose over ``horizon_days`` if the market moved as it
did on some past day, scaled to today's volatility?". It works in five steps.

1. **Joint daily log returns.** ``r[t, a] = ln(P[t, a] / P[t-1, a])`` of every underlying on common
   dates, so that each historical day moves all underlyings together (the joint scenario keeps
   the co-movements: no correlation matrix is estimated).
2. **Devolatilise** (filter) with an EWMA variance forecast (RiskMetrics), made with information up
   to the previous day::

       sigma2[t] = lambda * sigma2[t-1] + (1 - lambda) * r[t-1]^2,   z[t] = r[t] / sigma[t]

   seeded with the mean of ``r^2`` over the first ``min(30, n)`` days (zero-mean returns). A
   volatility series passed in (e.g. a GARCH conditional volatility, daily fraction) replaces the
   EWMA. ``z`` has unit variance whatever the volatility regime.
3. **Revolatilise** to the current volatility forecast ``sigma[T+1]`` (the EWMA one step after the
   last day): ``r_filtered[t] = z[t] * sigma[T+1]``. A series of constant volatility is left
   unchanged.
4. **Horizon.** The h-day scenario ending on day ``s`` is the *overlapping sum* of h filtered
   daily log returns ``R[s] = r_filtered[s-h+1] + ... + r_filtered[s]`` -- no ``sqrt(h)`` scaling,
   so autocorrelation and volatility clustering inside the h days are kept. Overlapping windows
   are not independent: the effective sample size is about ``lookback_days / h``.
   Implied volatility moves with the same dates: the relative DVOL change over the h days,
   ``DVOL[s] / DVOL[s-h] - 1``, where DVOL exists (BTC, ETH from 2021-03-24). Elsewhere the
   documented proxy ``vol_proxy`` applies: ``"realised"`` uses ``beta`` times the relative change of
   the EWMA volatility over the same h days, ``"none"`` keeps implied vols unchanged. The default
   ``beta = REALISED_VOL_BETA = 0.35`` is the slope (through the origin) of DVOL's relative h-day
   change on the EWMA(0.94) volatility's relative change, BTC and ETH 2021-03 to 2025-02 (0.27-0.30
   at h = 1-2 days, 0.38 at 5 days; correlation 0.4-0.6): implied vol reacts about a third as much
   as the EWMA of realised moves. DVOL changes are not filtered (they are already relative).
5. **Full revaluation.** Every position is revalued in every scenario in one vectorised Black-76
   call (positions x scenarios): index, perpetual and forward prices are multiplied by
   ``exp(R[s, a])`` (basis unchanged) and each option's implied volatility by ``1 + dvol[s, a]``
   (floored at 1e-4). The shock is instantaneous: time to expiry is not advanced.

Risk measures over the ``n`` scenario losses ``L`` (loss = minus P&L), with ``k = ceil((1 - alpha) n)``:
``VaR`` is the k-th largest loss (the empirical alpha-quantile, ``inverted_cdf``) and ``ES`` the
mean of the k largest losses, so ``ES >= VaR`` always (:func:`marginlab.stats.risk_measures.tail_measures`,
re-exported here). Both are floored at 0.

Stress component: the worst loss over the *stress scenarios*, by default every **unfiltered**
h-day joint move of the whole history available before ``as_of`` (a CCP's stressed period, e.g.
2020-03-12), plus any user-given scenarios. The initial margin is::

    IM = (1 - stress_weight) * risk_measure + stress_weight * stress + liquidity add-on
    MM = mm_fraction * IM

with ``risk_measure`` the ES by default (``risk_measure="var"`` to use VaR). The liquidity add-on is
a hook called once per position (see :func:`square_root_liquidity_addon`).

Books and time. :meth:`FilteredHistoricalMargin.margin_book` margins every account of a columnar
:class:`~marginlab.margin.risk_matrix.Book` at once (the book protocol of :mod:`marginlab.margin.base`):
each distinct instrument's unit P&L is computed once per scenario (:meth:`~FilteredHistoricalMargin.prepare_book`),
the (accounts x scenarios) P&L is a sparse product, VaR/ES are taken per row -- the same totals as
:meth:`~FilteredHistoricalMargin.margin`, which stays the reference. :meth:`~FilteredHistoricalMargin.as_of`
gives the model as it would have been on a past day (history cut at the previous close, crisis days not yet
seen dropped), so that a replay of 2020 does not use 2021-2025 moves: ``replay(book, {"fhs": model.as_of}, path)``.

>>> import numpy as np, pandas as pd
>>> from marginlab.account import Account
>>> from marginlab.instruments import Perpetual, Position
>>> from marginlab.market import MarketSnapshot
>>> rng = np.random.default_rng(0)
>>> dates = pd.date_range("2020-01-01", periods=600, freq="D", tz="UTC")
>>> prices = pd.DataFrame({"BTC": 100 * np.exp(np.cumsum(rng.normal(0, 0.03, 600)))}, index=dates)
>>> history = HistoricalScenarios.from_history(prices)
>>> model = FilteredHistoricalMargin(history, confidence=0.99, horizon_days=1, lookback_days=500)
>>> market = MarketSnapshot.from_dict({"as_of": "2021-08-24", "assets": {"BTC": {"index_usd": 100.0}}})
>>> result = model.margin(Account((Position(Perpetual("BTC"), 1.0),)), market)
>>> 4 < result.details["es_usd"] < 12
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import seaborn as sns
from numpy.typing import NDArray
from scipy import sparse

from marginlab.account import Account
from marginlab.book import FUTURE, OPTION, STATIC
from marginlab.exceptions import DataWarning, InputError, ParameterError, UnknownAssetError
from marginlab.instruments import Position
from marginlab.margin.base import BookMarginResult, MarginModel, MarginResult, account_chunks
from marginlab.margin.fhs_scenarios import (  # re-exported: the scenario histories live there
    MIN_SCENARIO_VOL as MIN_SCENARIO_VOL,
)
from marginlab.margin.fhs_scenarios import (
    REALISED_VOL_BETA as REALISED_VOL_BETA,
)
from marginlab.margin.fhs_scenarios import (
    HistoricalScenarios as HistoricalScenarios,
)
from marginlab.margin.fhs_scenarios import (
    JointScenarios as JointScenarios,
)
from marginlab.margin.fhs_scenarios import (
    LiquidityAddon as LiquidityAddon,
)
from marginlab.margin.fhs_scenarios import (
    ScenarioKind as ScenarioKind,
)
from marginlab.margin.fhs_scenarios import _check_beta, _check_horizon, _check_lambda
from marginlab.margin.fhs_scenarios import (
    crisis_scenarios as crisis_scenarios,
)
from marginlab.margin.fhs_scenarios import (
    snapshot_crises as snapshot_crises,
)
from marginlab.margin.fhs_scenarios import (
    snapshot_history as snapshot_history,
)
from marginlab.margin.fhs_scenarios import (
    snapshot_history_source as snapshot_history_source,
)
from marginlab.margin.fhs_scenarios import (
    user_scenarios as user_scenarios,
)
from marginlab.market import SECONDS_PER_YEAR, MarketSnapshot
from marginlab.pricing import black76_greeks, black76_price
from marginlab.stats.ewma import EWMA_SEED_DAYS as EWMA_SEED_DAYS  # re-exported
from marginlab.stats.impact import square_root_impact
from marginlab.stats.risk_measures import tail_measures, tail_measures_by_row
from marginlab.valuation import PositionValuation, equity_usd, value_positions


# --------------------------------------------------------------------------- revaluation
def scenario_pnl(valuation: PositionValuation, scenarios: JointScenarios, rate: float = 0.0) -> NDArray[np.float64]:
    """P&L (USD) of each position in each scenario, shape (n_scenarios, n_positions).

    Linear positions gain ``quantity * mark * (exp(R) - 1)``; options are fully revalued with
    Black-76 at forward ``F * exp(R)`` and vol ``vol * (1 + dvol)`` in one vectorised call.
    Positions on assets absent from ``scenarios`` raise :class:`UnknownAssetError`.
    """
    columns = []
    for underlying in valuation.underlyings:
        if underlying not in scenarios.assets:
            raise UnknownAssetError("underlying", str(underlying), f"has no history in the scenario set (assets: {list(scenarios.assets)})")
        columns.append(scenarios.assets.index(underlying))
    columns_array = np.asarray(columns, dtype=np.intp)
    factor = np.exp(scenarios.log_returns[:, columns_array])  # (n, p)
    pnl = valuation.quantity * valuation.mark_usd * (factor - 1.0)
    options = valuation.is_option
    if options.any():
        vol = np.maximum(valuation.vol[options] * (1.0 + scenarios.vol_changes[:, columns_array[options]]), MIN_SCENARIO_VOL)
        prices = black76_price(
            valuation.forward_usd[options] * factor[:, options],
            valuation.strike_usd[options],
            valuation.years[options],
            vol,
            rate,
            valuation.is_call[options],
        )
        pnl[:, options] = valuation.quantity[options] * (prices - valuation.mark_usd[options])
    return np.asarray(pnl)


def unit_valuation(valuation: PositionValuation) -> tuple[PositionValuation, NDArray[np.intp], NDArray[np.float64]]:
    """One unit of each distinct instrument of ``valuation``, the position -> instrument map and the net quantities.

    Scenario P&L is linear in the quantity, so ``scenario_pnl(units, ...) @ net`` is the account's
    P&L and ``quantity[i] * unit_pnl[:, group[i]]`` position ``i``'s, without a positions x
    scenarios array.
    """
    group = valuation.instrument_index
    first = valuation.first_rows
    net = np.bincount(group, weights=valuation.quantity, minlength=len(first)).astype(np.float64)
    arrays = {name: getattr(valuation, name)[first] for name in ("kinds", "underlyings", "index_usd", "mark_usd", "forward_usd", "strike_usd", "years",
                                                                "vol", "is_call", "entry_usd", "delta", "gamma", "vega", "theta")}
    units = replace(valuation, symbols=tuple(valuation.symbols[i] for i in first), quantity=np.ones(len(first)),
                    value_usd=arrays["mark_usd"].copy(), netted=None, **arrays)
    return units, group, net


# --------------------------------------------------------------------------- liquidity
def square_root_liquidity_addon(k: float, adv_units: Mapping[str, float]) -> LiquidityAddon:
    """Square-root market-impact add-on ``k * sigma_daily * sqrt(|quantity| / ADV) * notional``.

    The impact fraction is :func:`marginlab.calibration.haircuts.square_root_impact` (with ``|quantity|`` and ADV in
    units of the underlying).

    Parameters
    ----------
    k : float
        Impact coefficient (order 0.5-1 in the literature), >= 0.
    adv_units : mapping asset -> float
        Average daily volume in units of the underlying, positive.

    >>> from marginlab.instruments import Perpetual, Position
    >>> addon = square_root_liquidity_addon(1.0, {"BTC": 10_000.0})
    >>> round(addon(Position(Perpetual("BTC"), 100.0), 10_000_000.0, 0.03), 2)
    30000.0
    """
    if not (math.isfinite(k) and k >= 0):
        raise ParameterError("k", k, "must be a non-negative finite number")
    volumes = {}
    for asset, volume in adv_units.items():
        if not (math.isfinite(volume) and volume > 0):
            raise ParameterError(f"adv_units[{asset}]", volume, "must be positive")
        volumes[asset] = float(volume)

    def addon(position: Position, notional_usd: float, daily_vol: float) -> float:
        if position.underlying not in volumes:
            raise UnknownAssetError("adv_units", position.underlying, "has no average daily volume for the liquidity add-on")
        return float(square_root_impact(abs(position.quantity), volumes[position.underlying], daily_vol, k)) * notional_usd

    return addon


class _PreparedFHS:
    """Unit losses (minus P&L of one unit) of the instruments of a table in every scenario, filtered scenarios
    first; a row is computed the first time a book holds that instrument (a replay's table keeps instruments
    nobody holds any more)."""

    def __init__(self, instruments: Any, mark: NDArray[np.float64], years: NDArray[np.float64], growth: NDArray[np.float64],
                 vol_change: NDArray[np.float64], n_filtered: int, unknown: NDArray[np.bool_]) -> None:
        self.instruments, self.mark, self.years, self.growth, self.vol_change = instruments, mark, years, growth, vol_change
        self.n_filtered = n_filtered
        self.unknown = unknown
        self.option = instruments.kind == OPTION
        self.loss_units = np.zeros((len(instruments), growth.shape[1]))
        self.done = (instruments.kind == STATIC) | unknown  # rows that stay zero

    def units(self, held: NDArray[np.int64]) -> NDArray[np.float64]:
        """``loss_units`` with the rows of the instruments ``held`` computed (as :func:`scenario_pnl`)."""
        todo = np.unique(held[~self.done[held]])
        if len(todo):
            t = self.instruments
            row_asset = t.asset[todo]
            opt = self.option[todo]
            linear, rows = todo[~opt], todo[opt]
            # negation is exact: an account's losses are then one sparse product, the same numbers as -P&L
            self.loss_units[linear] = -(self.mark[linear, None] * (self.growth[row_asset[~opt]] - 1.0))
            if len(rows):
                vol = np.maximum(t.vol[rows, None] * (1.0 + self.vol_change[row_asset[opt]]), MIN_SCENARIO_VOL)
                prices = black76_price(t.forward_usd[rows, None] * self.growth[row_asset[opt]], t.strike_usd[rows, None], self.years[rows, None], vol,
                                       t.rate[rows, None], t.is_call[rows, None])
                self.loss_units[rows] = -(prices - self.mark[rows, None])
            self.done[todo] = True
        return self.loss_units


# --------------------------------------------------------------------------- model
@dataclass(frozen=True)
class FilteredHistoricalMargin(MarginModel):
    """Portfolio margin = blend of FHS VaR/ES and a historical stress loss, plus a liquidity add-on.

    Parameters
    ----------
    history : HistoricalScenarios
        Daily joint history of the underlyings (computed once, see :meth:`HistoricalScenarios.from_snapshot`).
    confidence : float
        Confidence level alpha in (0, 1), e.g. 0.99.
    horizon_days : int
        Margin period of risk h in days (>= 1): overlapping h-day sums of filtered daily returns.
    lookback_days : int or None
        Number of (most recent) h-day scenarios; None uses all the history.
    ewma_lambda : float
        EWMA decay of the filter.
    stress_weight : float
        Weight ``1 - x`` of the stress loss in ``IM = x * measure + (1 - x) * stress``, in [0, 1].
    risk_measure : {"es", "var"}
        The measure in the blend (ES by default; both are reported).
    mm_fraction : float
        Maintenance margin as a fraction of the initial margin, in (0, 1].
    filtered : bool
        False runs plain historical simulation (no devolatilisation).
    vol_proxy : {"realised", "none"}
        Implied-vol change where DVOL does not exist.
    realised_vol_beta : float
        Share of the EWMA volatility's relative change the ``"realised"`` proxy passes to implied vols.
    stress_scenarios : DataFrame, optional
        User-given stress scenarios (see :func:`user_scenarios`), added to the raw historical ones.
    historical_stress : bool
        Include every raw h-day joint move of the history in the stress set (default True).
    liquidity_addon : callable, optional
        ``addon(position, notional_usd, daily_vol) -> USD`` per position, added to IM and MM.
    history_source : callable, optional
        ``history_source(day) -> HistoricalScenarios``: the history as known at the close of ``day``,
        used by :meth:`as_of` (default: ``history.until(day)``). The ``fhs-var`` preset rebuilds it from
        the snapshot with the assets that have enough history on that day.
    """

    history: HistoricalScenarios
    confidence: float = 0.99
    horizon_days: int = 2
    lookback_days: int | None = 750
    ewma_lambda: float = 0.94
    stress_weight: float = 0.25
    risk_measure: Literal["es", "var"] = "es"
    mm_fraction: float = 0.8
    filtered: bool = True
    vol_proxy: Literal["realised", "none"] = "realised"
    realised_vol_beta: float = REALISED_VOL_BETA
    stress_scenarios: pd.DataFrame | None = field(default=None, compare=False)
    historical_stress: bool = True
    liquidity_addon: LiquidityAddon | None = field(default=None, compare=False)
    preset_name: str = ""
    history_source: Callable[[pd.Timestamp], HistoricalScenarios] | None = field(default=None, compare=False, repr=False)
    _point_in_time: dict[pd.Timestamp, "FilteredHistoricalMargin"] = field(default_factory=dict, init=False, repr=False, compare=False)

    family: ClassVar[str] = "portfolio"

    def __post_init__(self) -> None:
        if not isinstance(self.history, HistoricalScenarios):
            raise InputError("history", type(self.history).__name__, "must be a HistoricalScenarios")
        if not (isinstance(self.confidence, int | float) and 0 < self.confidence < 1):
            raise ParameterError("confidence", self.confidence, "must be in (0, 1), e.g. 0.99")
        _check_horizon(self.horizon_days)
        _check_lambda(self.ewma_lambda)
        if not (isinstance(self.stress_weight, int | float) and 0 <= self.stress_weight <= 1):
            raise ParameterError("stress_weight", self.stress_weight, "must be in [0, 1]")
        if self.risk_measure not in ("es", "var"):
            raise ParameterError("risk_measure", self.risk_measure, "must be 'es' or 'var'")
        if not (isinstance(self.mm_fraction, int | float) and 0 < self.mm_fraction <= 1):
            raise ParameterError("mm_fraction", self.mm_fraction, "must be in (0, 1]")
        if self.vol_proxy not in ("realised", "none"):
            raise ParameterError("vol_proxy", self.vol_proxy, "must be 'realised' or 'none'")
        _check_beta(self.realised_vol_beta)
        if self.stress_weight > 0 and not self.historical_stress and self.stress_scenarios is None:
            raise ParameterError("stress_weight", self.stress_weight, "needs stress scenarios: historical_stress=True or stress_scenarios")
        # building the scenarios validates the lookback against the history
        count = len(self.scenarios())
        needed = math.ceil(round(1.0 / (1.0 - self.confidence), 9))
        if count < needed:
            raise ParameterError(
                "lookback_days", self.lookback_days,
                f"too short: {count} scenarios, but a {self.confidence:.4g} quantile needs at least {needed}",
            )
        if self.stress_scenarios is not None:
            user_scenarios(self.stress_scenarios)

    def scenarios(self) -> JointScenarios:
        """The filtered h-day joint scenarios the VaR/ES uses."""
        return self.history.joint_scenarios(self.horizon_days, self.lookback_days, self.ewma_lambda, filtered=self.filtered,
                                            vol_proxy=self.vol_proxy, realised_vol_beta=self.realised_vol_beta)

    def stress_set(self) -> list[JointScenarios]:
        """The stress scenario sets: raw historical h-day moves and/or user scenarios."""
        sets = []
        if self.historical_stress:
            sets.append(self.history.joint_scenarios(self.horizon_days, None, self.ewma_lambda, filtered=False,
                                                     vol_proxy=self.vol_proxy, realised_vol_beta=self.realised_vol_beta))
        if self.stress_scenarios is not None:
            sets.append(user_scenarios(self.stress_scenarios))
        return sets

    # ------------------------------------------------------------------ point in time
    def as_of(self, time: Any) -> "FilteredHistoricalMargin":
        """The same configuration with the history cut at the last daily close before ``time``.

        A daily close is the price at the end of the UTC day, so at ``2020-03-12 08:00`` the last close
        known is that of 2020-03-11. User stress scenarios with a ``date`` column (the crisis days of
        the ``fhs-var`` preset) are kept only when they happened on or before that close. Cached per day:
        a replay calls it at every step (``replay(book, {"fhs": model.as_of}, path)``).

        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> dates = pd.date_range("2020-01-01", periods=600, freq="D", tz="UTC")
        >>> prices = pd.DataFrame({"BTC": 100 * np.exp(np.cumsum(rng.normal(0, 0.03, 600)))}, index=dates)
        >>> model = FilteredHistoricalMargin(HistoricalScenarios.from_history(prices), horizon_days=1, lookback_days=300)
        >>> str(model.as_of("2021-06-01 08:00").history.as_of.date())
        '2021-05-31'
        >>> model.as_of("2021-06-01 08:00") is model.as_of("2021-06-01 23:00")
        True
        """
        stamp = pd.Timestamp(time)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        day = stamp.normalize() - pd.Timedelta(days=1)
        cached = self._point_in_time.get(day)
        if cached is not None:
            return cached
        history = self.history_source(day) if self.history_source is not None else self.history.until(day)
        stress = self.stress_scenarios
        if stress is not None and "date" in stress.columns:
            stress = stress[pd.to_datetime(stress["date"], utc=True) <= day].reset_index(drop=True)
            stress = stress if len(stress) else None
        model = replace(self, history=history, stress_scenarios=stress)
        self._point_in_time[day] = model
        return model

    def check_look_ahead(self, time: Any, stacklevel: int = 3) -> None:
        """Warn (:class:`~marginlab.exceptions.DataWarning`) when the history runs past the last close before ``time``."""
        history_close = self.history.as_of + pd.Timedelta(days=1)
        if history_close.tzinfo is None:
            history_close = history_close.tz_localize("UTC")
        stamp = pd.Timestamp(time)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        if stamp < history_close:
            warnings.warn(
                f"the scenario history runs to the close of {self.history.as_of.date()}, after the market snapshot "
                f"({stamp.isoformat()}): the scenarios look ahead; build the history with as_of=<snapshot day> or use model.as_of(time)",
                DataWarning,
                stacklevel=stacklevel,
            )

    # ------------------------------------------------------------------ the book protocol
    @property
    def book_vectorised(self) -> bool:
        """True unless a per-position liquidity add-on is configured (a callable of each position,
        margined account by account by the book engine)."""
        return self.liquidity_addon is None

    def prepare_book(self, instruments: Any, *, as_of: Any = None) -> _PreparedFHS:
        """P&L of one unit of every instrument of the table in every filtered and stress scenario.

        Linear instruments (spot, perpetual, future) gain ``mark (exp(R) - 1)``, options are revalued
        with Black-76 at ``F exp(R)`` and ``max(vol (1 + dvol), MIN_SCENARIO_VOL)`` (as :func:`scenario_pnl`),
        static collateral does not move. ``as_of`` (the valuation time) is checked for look-ahead.
        """
        if as_of is not None:
            self.check_look_ahead(as_of, stacklevel=3)
        kind = instruments.kind
        mark = np.where(kind == FUTURE, np.nan_to_num(instruments.forward_usd), np.nan_to_num(instruments.price_usd))
        option = kind == OPTION
        years = instruments.seconds / SECONDS_PER_YEAR
        if np.any(option):
            mark[option] = black76_greeks(instruments.forward_usd[option], instruments.strike_usd[option], years[option], instruments.vol[option],
                                          instruments.rate[option], instruments.is_call[option]).price
        # scenario moves per asset of the table: filtered scenarios first, then every stress set
        table_assets = list(instruments.assets)
        growth, vol_change = [], []
        known = np.ones(len(table_assets), dtype=bool)
        filtered = self.scenarios()
        for number, scenarios in enumerate([filtered, *self.stress_set()]):
            g = np.ones((len(table_assets), len(scenarios)))
            v = np.zeros((len(table_assets), len(scenarios)))
            for a, asset in enumerate(table_assets):
                if asset in scenarios.assets:
                    j = scenarios.assets.index(asset)
                    g[a] = np.exp(scenarios.log_returns[:, j])
                    v[a] = scenarios.vol_changes[:, j]
                elif scenarios.kind != "user" or number == 0:  # a user scenario that does not move an underlying leaves it unchanged
                    known[a] = False
            growth.append(g)
            vol_change.append(v)
        unknown = (kind != STATIC) & ~known[instruments.asset]
        return _PreparedFHS(instruments, mark, years, np.hstack(growth), np.hstack(vol_change), len(filtered), unknown)

    def margin_book(self, book: Any, *, prepared: _PreparedFHS | None = None) -> BookMarginResult:
        """FHS margin of every account of ``book``, vectorised over accounts (same totals as :meth:`margin`).

        The (accounts x scenarios) P&L is one sparse product of the book's quantities with the unit P&L of
        :meth:`prepare_book`, taken in chunks of accounts of about 100 MB; VaR and ES per account are
        :func:`~marginlab.stats.risk_measures.tail_measures_by_row` (the convention of :func:`tail_measures`),
        the stress loss the worst stress-scenario loss. Equity is cash plus every row's mark-to-market
        (collateral included). Components: ``var_usd``, ``es_usd``, ``stress_usd``. Not vectorised with a
        liquidity add-on (:attr:`book_vectorised`).

        >>> import numpy as np, pandas as pd
        >>> from marginlab.book import Book, InstrumentTable, PERPETUAL
        >>> rng = np.random.default_rng(0)
        >>> dates = pd.date_range("2020-01-01", periods=600, freq="D", tz="UTC")
        >>> prices = pd.DataFrame({"BTC": 100 * np.exp(np.cumsum(rng.normal(0, 0.03, 600)))}, index=dates)
        >>> model = FilteredHistoricalMargin(HistoricalScenarios.from_history(prices), horizon_days=1, lookback_days=500)
        >>> table = InstrumentTable.build(["BTC-PERP"], [PERPETUAL], ["BTC"], price_usd=[100.0])
        >>> result = model.margin_book(Book.build(table, account=[0, 1], instrument=[0, 0], quantity=[1.0, 2.0]))
        >>> bool(np.isclose(result.components["es_usd"][1], 2 * result.components["es_usd"][0]))
        True
        """
        if self.liquidity_addon is not None:
            raise InputError("liquidity_addon", "set", "a per-position liquidity add-on is margined account by account (FilteredHistoricalMargin.margin)")
        prep = self.prepare_book(book.instruments) if prepared is None else prepared
        if len(book) and np.any(prep.unknown[book.instrument]):
            i = int(book.instrument[np.argmax(prep.unknown[book.instrument])])
            asset = book.instruments.assets[book.instruments.asset[i]]
            raise UnknownAssetError("underlying", asset, f"has no history in the scenario set (assets: {list(self.scenarios().assets)})")
        n = book.n_accounts
        equity = np.bincount(book.account, weights=book.mtm_usd, minlength=n) + book.cash_usd
        matrix = sparse.csr_matrix((book.quantity, (book.account, book.instrument)), shape=(n, len(book.instruments)))
        n_var = prep.n_filtered
        var, es, stress = np.zeros(n), np.zeros(n), np.zeros(n)
        units = prep.units(book.instrument)
        for a0, a1 in account_chunks(n, units.shape[1]):
            losses = np.asarray(matrix[a0:a1] @ units)  # (accounts, scenarios)
            var[a0:a1], es[a0:a1] = tail_measures_by_row(losses[:, :n_var], self.confidence)
            if losses.shape[1] > n_var:
                stress[a0:a1] = np.maximum(losses[:, n_var:].max(axis=1), 0.0)
        var, es = np.maximum(var, 0.0), np.maximum(es, 0.0)
        measure = es if self.risk_measure == "es" else var
        weight = float(self.stress_weight)
        initial = (1.0 - weight) * measure + weight * stress
        return BookMarginResult(self.name, book.account_ids, initial, self.mm_fraction * initial, equity,
                                {"var_usd": var, "es_usd": es, "stress_usd": stress}).check_finite()

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        """FHS VaR/ES margin of ``account`` at ``market`` (see the module docstring for the method)."""
        account.require_positions()
        self.check_look_ahead(market.as_of)
        valuation = value_positions(account.positions, market)
        equity = equity_usd(account.cash_usd, account.collateral, valuation, market)
        scenarios = self.scenarios()
        # net identical instruments: P&L of one unit of each distinct instrument (scenarios x instruments),
        # then the account's P&L is a matrix-vector product and a position's P&L its quantity times its unit P&L
        units, group, net = unit_valuation(valuation)
        unit_pnl = scenario_pnl(units, scenarios, market.rate)
        total_pnl = unit_pnl @ net
        losses = -total_pnl
        var, es, tail = tail_measures(losses, self.confidence)
        var, es = max(var, 0.0), max(es, 0.0)
        measure = es if self.risk_measure == "es" else var

        stress = 0.0
        stress_label = "none"
        stress_rows = []
        for stress_set in self.stress_set():
            for_underlyings = [u for u in dict.fromkeys(valuation.underlyings) if u not in stress_set.assets]
            if stress_set.kind == "user" and for_underlyings:
                # a user scenario that does not move an underlying leaves it unchanged
                stress_set = _extend_user(stress_set, for_underlyings)
            stress_pnl = scenario_pnl(units, stress_set, market.rate) @ net
            worst = int(np.argmin(stress_pnl))
            labels = stress_set.labels()
            frame = stress_set.frame()
            frame["scenario"] = list(labels)
            frame["pnl_usd"] = stress_pnl
            stress_rows.append(frame)
            if -stress_pnl[worst] > stress:
                stress = float(-stress_pnl[worst])
                stress_label = f"{stress_set.kind} {labels[worst]}"

        addons = np.zeros(len(valuation))
        if self.liquidity_addon is not None:
            for i, position in enumerate(account.positions):
                daily_vol = scenarios.current_daily_vol.get(position.underlying, float("nan"))
                value = float(self.liquidity_addon(position, float(valuation.notional_usd[i]), daily_vol))
                if not (math.isfinite(value) and value >= 0):
                    raise InputError(f"liquidity_addon[{position.symbol}]", value, "the add-on must return a non-negative finite USD amount")
                addons[i] = value
        liquidity = float(addons.sum())

        weight = float(self.stress_weight)
        blended = (1.0 - weight) * measure + weight * stress
        initial = blended + liquidity
        maintenance = self.mm_fraction * initial

        measure_name = "ES" if self.risk_measure == "es" else "VaR"
        tail_dates = scenarios.dates[tail]
        components = pd.DataFrame(
            [
                {
                    "component": f"{measure_name} {self.confidence:.4g} (FHS, {self.horizon_days}d)",
                    "initial_margin_usd": (1.0 - weight) * measure,
                    "maintenance_margin_usd": self.mm_fraction * (1.0 - weight) * measure,
                    "explanation": f"(1 - {weight:g}) x {measure_name} {measure:,.2f} over {len(scenarios)} filtered scenarios "
                    f"(VaR {var:,.2f}, ES {es:,.2f})",
                },
                {
                    "component": "stress",
                    "initial_margin_usd": weight * stress,
                    "maintenance_margin_usd": self.mm_fraction * weight * stress,
                    "explanation": f"{weight:g} x worst stress loss {stress:,.2f} ({stress_label})",
                },
                {
                    "component": "liquidity add-on",
                    "initial_margin_usd": liquidity,
                    "maintenance_margin_usd": self.mm_fraction * liquidity,
                    "explanation": "sum of the per-position liquidity add-ons" if self.liquidity_addon else "no liquidity add-on configured",
                },
            ]
        )
        positions = valuation.frame()[["symbol", "kind", "underlying", "quantity", "mark_usd", "notional_usd", "value_usd"]].copy()
        positions["tail_loss_usd"] = -valuation.quantity * unit_pnl[tail].mean(axis=0)[group]  # component ES: sums to the (unfloored) ES
        positions["var_scenario_pnl_usd"] = valuation.quantity * unit_pnl[tail[-1]][group]
        positions["liquidity_addon_usd"] = addons

        table = scenarios.frame()
        table["scenario"] = scenarios.dates.strftime("%Y-%m-%d")
        table["pnl_usd"] = total_pnl
        table["loss_usd"] = losses
        table["in_tail"] = False
        table.loc[tail, "in_tail"] = True
        if stress_rows:
            stress_table = pd.concat(stress_rows, ignore_index=True)
            stress_table["loss_usd"] = -stress_table["pnl_usd"]
            stress_table["in_tail"] = False
            table = pd.concat([table, stress_table], ignore_index=True)

        worst_dates = [d.strftime("%Y-%m-%d") for d in tail_dates[:5]]
        notes: tuple[str, ...] = (
            f"Joint {self.horizon_days}-day moves of {', '.join(scenarios.assets)} on the {len(scenarios)} windows ending "
            f"{scenarios.dates[0].date()} to {scenarios.dates[-1].date()}, "
            + (f"devolatilised with EWMA (lambda {self.ewma_lambda:g}) and revolatilised to today's volatility." if self.filtered else "unfiltered."),
            f"VaR {self.confidence:.4g} = {var:,.2f} USD, ES = {es:,.2f} USD (mean of the {len(tail)} worst losses; worst dates {', '.join(worst_dates)}).",
            f"Stress = {stress:,.2f} USD ({stress_label}); IM = (1 - {weight:g}) x {measure_name} + {weight:g} x stress + liquidity {liquidity:,.2f}.",
            "Implied-vol moves: " + ", ".join(f"{a}: {s}" for a, s in scenarios.vol_sources.items()) + ".",
        )
        if market.as_of.date() != self.history.as_of.date():
            notes += (f"The history ends {self.history.as_of.date()}, the market snapshot is as of {market.as_of.date()}.",)
        return MarginResult(
            self.name,
            float(initial),
            float(maintenance),
            float(equity),
            positions,
            components,
            table,
            {
                "var_usd": var,
                "es_usd": es,
                "stress_usd": stress,
                "risk_measure": self.risk_measure,
                "confidence": self.confidence,
                "horizon_days": self.horizon_days,
                "scenario_count": len(scenarios),
                "tail_count": len(tail),
                "worst_dates": worst_dates,
                "worst_scenario": f"{worst_dates[0]} (loss {float(losses[tail[0]]):,.2f} USD)",
                "worst_stress_scenario": stress_label,
                "liquidity_addon_usd": liquidity,
                "current_daily_vol": dict(scenarios.current_daily_vol),
                "vol_sources": dict(scenarios.vol_sources),
                "history_as_of": self.history.as_of,
            },
            notes,
        )


def _extend_user(scenarios: JointScenarios, extra: Sequence[str]) -> JointScenarios:
    width = len(extra)
    return JointScenarios(
        scenarios.dates,
        scenarios.assets + tuple(extra),
        np.hstack([scenarios.log_returns, np.zeros((len(scenarios), width))]),
        np.hstack([scenarios.vol_changes, np.zeros((len(scenarios), width))]),
        dict(scenarios.vol_sources),
        {},
        "user",
        scenarios.names,
    )


# --------------------------------------------------------------------------- figure
def plot_scenario_losses(result: MarginResult, ax=None):  # type: ignore[no-untyped-def]
    """Histogram of the filtered scenario losses of an FHS result, with VaR, ES and stress marked.

    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    if result.scenarios is None or "loss_usd" not in result.scenarios or "var_usd" not in result.details:
        raise InputError("result", result.model, "is not a FilteredHistoricalMargin result")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    losses = result.scenarios.loc[result.scenarios["kind"] == "filtered", "loss_usd"]
    sns.histplot(losses, bins=60, ax=ax, color="tab:blue")
    details = result.details
    for name, value, colour in (("VaR", details["var_usd"], "tab:orange"), ("ES", details["es_usd"], "tab:red"),
                                ("stress", details["stress_usd"], "black")):
        ax.axvline(value, color=colour, linestyle="--", label=f"{name} {value:,.0f} USD")
    ax.set_xlabel(f"{details['horizon_days']}-day scenario loss (USD, loss > 0)")
    ax.set_ylabel("number of scenarios")
    ax.set_title(f"{result.model}: {details['scenario_count']} filtered historical scenarios, confidence {details['confidence']:.3g}")
    ax.legend()
    return ax
