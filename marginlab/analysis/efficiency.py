"""Capital efficiency: a library of option and basis strategies, and margin tables across models.

Strategy builders return an :class:`~marginlab.account.Account` holding the strategy's legs on one
underlying, sized in units of the underlying (``size = 1`` means one coin per leg, a butterfly's
body is ``2 * size``). Strikes are set relative to the forward of the chosen expiry and rounded to
a listed-like grid (:func:`round_strike`): "10% OTM" is ``otm = 0.10``. The expiry is the nearest
one listed in the snapshot at least ``min_days`` (default 30) days ahead; calendar spreads use the
next listed expiry after it.

Strategies (name: legs)

* ``covered_call``: +1 spot, -1 call ``F (1 + otm)``
* ``call_spread`` (bull): +1 call ``F``, -1 call ``F (1 + otm)``
* ``put_spread`` (bear): +1 put ``F``, -1 put ``F (1 - otm)``
* ``straddle`` (short): -1 call ``F``, -1 put ``F``
* ``strangle`` (short): -1 call ``F (1 + otm)``, -1 put ``F (1 - otm)``
* ``butterfly`` (long, calls): +1 ``F (1 - otm)``, -2 ``F``, +1 ``F (1 + otm)``
* ``iron_condor`` (short): +1 put ``F (1 - 2 otm)``, -1 put ``F (1 - otm)``, -1 call ``F (1 + otm)``, +1 call ``F (1 + 2 otm)``
* ``risk_reversal``: +1 call ``F (1 + otm)``, -1 put ``F (1 - otm)``
* ``calendar_spread``: -1 call ``F`` near expiry, +1 call ``F`` next expiry
* ``box``: +1 call ``K1``, -1 call ``K2``, -1 put ``K1``, +1 put ``K2`` with ``K1 = F (1 - otm)``, ``K2 = F (1 + otm)``
  (worth ``(K2 - K1) D`` by put-call parity)
* ``basis_trade``: +1 spot, -1 perpetual
* ``delta_neutral_call``: +1 call ``F``, perpetual short its delta
* ``naked_short_call``: -1 call ``F (1 + otm)``
* ``naked_short_put``: -1 put ``F (1 - otm)``

:func:`margin_table` margins every strategy under every model. A model that rejects a strategy (any
:class:`~marginlab.exceptions.MarginLabError`, e.g. a venue that does not list the product) yields
NaN with the reason recorded in the ``error`` column -- never a silent wrong number.

>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15T08:00:00Z", "assets": {"BTC": {"index_usd": 100000,
...     "expiries": {"2025-01-31": {"atm_vol": 0.5}, "2025-02-28": {"atm_vol": 0.5}, "2025-03-28": {"atm_vol": 0.5}}}}})
>>> [p.symbol for p in strangle(market, "BTC").positions]
['BTC-20250228-110000-C', 'BTC-20250228-90000-P']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import seaborn as sns

from marginlab.account import Account
from marginlab.exceptions import InputError, MarginLabError, MissingMarketDataError, ParameterError, UnknownAssetError
from marginlab.instruments import Option, Perpetual, Position, Spot
from marginlab.margin.base import MarginModel
from marginlab.margin.presets import get_model
from marginlab.market import MarketSnapshot
from marginlab.pricing import black76_greeks
from marginlab.valuation import value_positions

StrategyBuilder = Callable[..., Account]


# --------------------------------------------------------------------------- helpers
def round_strike(strike_usd: float, forward_usd: float) -> float:
    """Round ``strike_usd`` to a listed-like grid: the largest 1-2-2.5-5 step not above 1% of the forward.

    (forward 100,000 -> steps of 1,000; 98,000 -> 500; 3,000 -> 25; 150 -> 1.)

    >>> round_strike(109_876.0, 100_000.0), round_strike(3_333.0, 3_000.0)
    (110000.0, 3325.0)
    """
    raw = 0.01 * forward_usd
    power = 10.0 ** math.floor(math.log10(raw))
    step = max(m * power for m in (1.0, 2.0, 2.5, 5.0) if m * power <= raw * (1 + 1e-12))
    return float(max(step, round(strike_usd / step) * step))


def nearest_expiry(market: MarketSnapshot, underlying: str, min_days: float = 30.0, *, after: datetime | None = None) -> datetime:
    """The first listed expiry of ``underlying`` at least ``min_days`` after ``as_of`` (and after ``after``)."""
    limit = market.as_of + timedelta(days=min_days)
    for expiry in market.expiries(underlying):
        if expiry >= limit and (after is None or expiry > after):
            return expiry
    raise MissingMarketDataError(
        "expiry", f"{underlying} >= {min_days:g} days" + (f" after {after:%Y-%m-%d}" if after else ""),
        f"no listed expiry that far in the snapshot (listed: {[f'{e:%Y-%m-%d}' for e in market.expiries(underlying)]})",
    )


def _setup(market: MarketSnapshot, underlying: str, size: float, otm: float, min_days: float) -> tuple[datetime, float]:
    if not (math.isfinite(size) and size > 0):
        raise InputError("size", size, "must be a positive number of units of the underlying")
    if not (math.isfinite(otm) and 0 < otm < 0.45):
        raise ParameterError("otm", otm, "must be a fraction in (0, 0.45), e.g. 0.10 for 10% out of the money")
    expiry = nearest_expiry(market, underlying, min_days)
    return expiry, market.forward_usd(underlying, expiry)


def _option(underlying: str, expiry: datetime, strike: float, forward: float, kind: str) -> Option:
    return Option(underlying, expiry, round_strike(strike, forward), "call" if kind == "call" else "put")


def _account(name: str, underlying: str, legs: Sequence[tuple[object, float]]) -> Account:
    return Account(tuple(Position(instrument, quantity, label=name) for instrument, quantity in legs), account_id=f"{name}:{underlying}")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- strategies
def covered_call(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Long spot, short an OTM call."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    return _account("covered_call", underlying, [(Spot(underlying), size), (_option(underlying, expiry, forward * (1 + otm), forward, "call"), -size)])


def call_spread(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Bull call spread: long the ATM call, short the OTM call."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    return _account("call_spread", underlying, [
        (_option(underlying, expiry, forward, forward, "call"), size),
        (_option(underlying, expiry, forward * (1 + otm), forward, "call"), -size),
    ])


def put_spread(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Bear put spread: long the ATM put, short the OTM put."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    return _account("put_spread", underlying, [
        (_option(underlying, expiry, forward, forward, "put"), size),
        (_option(underlying, expiry, forward * (1 - otm), forward, "put"), -size),
    ])


def straddle(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Short straddle: short the ATM call and put (``otm`` is unused)."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    return _account("straddle", underlying, [
        (_option(underlying, expiry, forward, forward, "call"), -size),
        (_option(underlying, expiry, forward, forward, "put"), -size),
    ])


def strangle(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Short strangle: short the OTM call and the OTM put."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    return _account("strangle", underlying, [
        (_option(underlying, expiry, forward * (1 + otm), forward, "call"), -size),
        (_option(underlying, expiry, forward * (1 - otm), forward, "put"), -size),
    ])


def butterfly(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Long call butterfly: +1 at ``F (1 - otm)``, -2 at ``F``, +1 at ``F (1 + otm)``."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    return _account("butterfly", underlying, [
        (_option(underlying, expiry, forward * (1 - otm), forward, "call"), size),
        (_option(underlying, expiry, forward, forward, "call"), -2 * size),
        (_option(underlying, expiry, forward * (1 + otm), forward, "call"), size),
    ])


def iron_condor(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Short iron condor: short the OTM strangle, long the wings twice as far out."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    return _account("iron_condor", underlying, [
        (_option(underlying, expiry, forward * (1 - 2 * otm), forward, "put"), size),
        (_option(underlying, expiry, forward * (1 - otm), forward, "put"), -size),
        (_option(underlying, expiry, forward * (1 + otm), forward, "call"), -size),
        (_option(underlying, expiry, forward * (1 + 2 * otm), forward, "call"), size),
    ])


def risk_reversal(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Long the OTM call, short the OTM put."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    return _account("risk_reversal", underlying, [
        (_option(underlying, expiry, forward * (1 + otm), forward, "call"), size),
        (_option(underlying, expiry, forward * (1 - otm), forward, "put"), -size),
    ])


def calendar_spread(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Short the near ATM call, long the same strike on the next listed expiry (``otm`` unused)."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    far = nearest_expiry(market, underlying, min_days, after=expiry)
    strike = round_strike(forward, forward)
    return _account("calendar_spread", underlying, [
        (Option(underlying, expiry, strike, "call"), -size),
        (Option(underlying, far, strike, "call"), size),
    ])


def box(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Long box: bull call spread + bear put spread on ``K1 = F (1 - otm)``, ``K2 = F (1 + otm)``."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    low, high = forward * (1 - otm), forward * (1 + otm)
    return _account("box", underlying, [
        (_option(underlying, expiry, low, forward, "call"), size),
        (_option(underlying, expiry, high, forward, "call"), -size),
        (_option(underlying, expiry, low, forward, "put"), -size),
        (_option(underlying, expiry, high, forward, "put"), size),
    ])


def basis_trade(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Cash-and-carry on the perpetual: long spot, short perpetual (``otm``, ``min_days`` unused)."""
    if not (math.isfinite(size) and size > 0):
        raise InputError("size", size, "must be a positive number of units of the underlying")
    market.index_usd(underlying)
    return _account("basis_trade", underlying, [(Spot(underlying), size), (Perpetual(underlying), -size)])


def delta_neutral_call(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Long the ATM call, short its Black-76 forward delta in perpetuals (``otm`` unused)."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    option = _option(underlying, expiry, forward, forward, "call")
    greeks = black76_greeks(forward, option.strike_usd, market.time_to_expiry_years(expiry),
                            market.vol(underlying, expiry, option.strike_usd), market.rate, True)
    return _account("delta_neutral_call", underlying, [(option, size), (Perpetual(underlying), -size * float(greeks.delta))])


def naked_short_call(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Short an OTM call."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    return _account("naked_short_call", underlying, [(_option(underlying, expiry, forward * (1 + otm), forward, "call"), -size)])


def naked_short_put(market: MarketSnapshot, underlying: str = "BTC", size: float = 1.0, otm: float = 0.10, min_days: float = 30.0) -> Account:
    """Short an OTM put."""
    expiry, forward = _setup(market, underlying, size, otm, min_days)
    return _account("naked_short_put", underlying, [(_option(underlying, expiry, forward * (1 - otm), forward, "put"), -size)])


#: Every strategy builder by name.
STRATEGIES: dict[str, StrategyBuilder] = {
    "covered_call": covered_call,
    "call_spread": call_spread,
    "put_spread": put_spread,
    "straddle": straddle,
    "strangle": strangle,
    "butterfly": butterfly,
    "iron_condor": iron_condor,
    "risk_reversal": risk_reversal,
    "calendar_spread": calendar_spread,
    "box": box,
    "basis_trade": basis_trade,
    "delta_neutral_call": delta_neutral_call,
    "naked_short_call": naked_short_call,
    "naked_short_put": naked_short_put,
}


def build_strategies(
    market: MarketSnapshot,
    underlying: str = "BTC",
    size: float = 1.0,
    otm: float = 0.10,
    min_days: float = 30.0,
    names: Sequence[str] | None = None,
) -> dict[str, Account]:
    """Accounts of the named strategies (default all of :data:`STRATEGIES`) with the same parameters.

    Parameters
    ----------
    market : MarketSnapshot
        The market the strikes and expiries are taken from.
    underlying : str
        The coin.
    size : float
        Coins per leg.
    otm : float
        Strikes this fraction away from the forward.
    min_days : float
        The first expiry at least this many days ahead.
    names : sequence of str, optional
        Strategy names (default all).

    Returns
    -------
    dict of str to Account
        One account per strategy.
    """
    selected = list(STRATEGIES) if names is None else list(names)
    accounts = {}
    for name in selected:
        if name not in STRATEGIES:
            raise UnknownAssetError("strategy", name, f"is not a known strategy (known: {sorted(STRATEGIES)})")
        accounts[name] = STRATEGIES[name](market, underlying, size, otm, min_days)
    return accounts


def payoff_at_expiry_usd(account: Account, terminal_price_usd: float | np.ndarray) -> np.ndarray:
    """Value at the (common) expiry of the strategy's options when the underlying ends at ``terminal_price_usd``.

    Spot is worth the terminal price, perpetuals their P&L from the current mark is not included
    (entry prices unknown): only spot and option legs count. Options expiring later than the first
    expiry are not supported (calendar spreads) and raise :class:`InputError`.
    """
    prices = np.asarray(terminal_price_usd, dtype=np.float64)
    expiries = {p.instrument.expiry for p in account.positions if isinstance(p.instrument, Option)}
    if len(expiries) > 1:
        raise InputError("account", account.account_id, "options with different expiries have no single expiry payoff")
    total = np.zeros_like(prices)
    for position in account.positions:
        instrument = position.instrument
        if isinstance(instrument, Spot):
            total = total + position.quantity * prices
        elif isinstance(instrument, Option):
            intrinsic = np.maximum(prices - instrument.strike_usd, 0.0) if instrument.is_call else np.maximum(instrument.strike_usd - prices, 0.0)
            total = total + position.quantity * intrinsic
    return total


# --------------------------------------------------------------------------- tables
def margin_table(
    strategies: Mapping[str, Account],
    models: Mapping[str, MarginModel] | Sequence[str],
    market: MarketSnapshot,
) -> pd.DataFrame:
    """Initial and maintenance margin of every strategy under every model.

    Parameters
    ----------
    strategies : mapping name -> Account
        E.g. :func:`build_strategies`.
    models : mapping label -> MarginModel, or sequence of preset names
        Preset names are resolved with :func:`marginlab.margin.presets.get_model`.
    market : MarketSnapshot

    Returns
    -------
    DataFrame
        One row per (strategy, model): ``strategy, model, initial_margin_usd, maintenance_margin_usd,
        notional_usd, im_pct_of_notional`` (percent), ``error`` (empty, or why the model rejected
        the strategy -- the margins are then NaN) and ``assumed`` (the assumed venue parameters the
        result depends on, ``"; "``-separated; :attr:`~marginlab.margin.base.MarginResult.assumptions`).
    """
    if isinstance(models, Mapping):
        resolved = dict(models)
    else:
        resolved = {name: get_model(name) for name in models}
    rows = []
    for strategy, account in strategies.items():
        notional = float(np.sum(value_positions(account.positions, market).notional_usd))
        for label, model in resolved.items():
            record: dict[str, object] = {"strategy": strategy, "model": label, "notional_usd": notional}
            try:
                result = model.margin(account, market)
            except (MarginLabError, NotImplementedError) as error:
                record.update(initial_margin_usd=np.nan, maintenance_margin_usd=np.nan, im_pct_of_notional=np.nan,
                              error=f"{type(error).__name__}: {error}")
            else:
                initial = result.initial_margin_usd
                record.update(initial_margin_usd=initial, maintenance_margin_usd=result.maintenance_margin_usd,
                              im_pct_of_notional=100.0 * initial / notional if notional > 0 else np.nan, error="",
                              assumed="; ".join(result.assumptions))
            rows.append(record)
    columns = ["strategy", "model", "initial_margin_usd", "maintenance_margin_usd", "notional_usd", "im_pct_of_notional", "error", "assumed"]
    return pd.DataFrame(rows, columns=columns)


def plot_margin_table(table: pd.DataFrame, value: str = "im_pct_of_notional", ax=None):  # type: ignore[no-untyped-def]
    """Heatmap of ``value`` by strategy (rows) and model (columns); rejected cells stay blank.

    Returns the matplotlib Axes. ``value`` is ``"im_pct_of_notional"`` (IM as % of notional) or
    ``"initial_margin_usd"``.
    """
    import matplotlib.pyplot as plt

    if value not in ("im_pct_of_notional", "initial_margin_usd", "maintenance_margin_usd"):
        raise InputError("value", value, "must be 'im_pct_of_notional', 'initial_margin_usd' or 'maintenance_margin_usd'")
    pivot = table.pivot(index="strategy", columns="model", values=value)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * pivot.shape[1] + 3, 0.45 * pivot.shape[0] + 1.5))
    label = "initial margin, % of notional" if value == "im_pct_of_notional" else value.replace("_usd", " (USD)").replace("_", " ")
    sns.heatmap(pivot, annot=True, fmt=".1f" if value == "im_pct_of_notional" else ",.0f", cmap="viridis_r", ax=ax,
                cbar_kws={"label": label}, linewidths=0.5)
    ax.set_xlabel("margin model")
    ax.set_ylabel("strategy")
    ax.set_title(f"{label} by strategy and model (blank: model rejects the strategy)")
    return ax
