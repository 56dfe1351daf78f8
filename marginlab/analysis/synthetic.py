"""Seeded synthetic books: many accounts with a realistic mix of strategies and leverage.

:func:`synthetic_book` draws ``n_accounts`` accounts, each running one strategy on one asset,
sized and levered at random (seeded, reproducible):

===================  ==========================================================================
strategy             positions (``q = notional / index``; ``L`` = leverage drawn)
===================  ==========================================================================
``long_perp``        ``+q`` perpetual from the index; cash ``notional / L``
``short_perp``       ``-q`` perpetual; cash ``notional / L``
``basis``            ``q`` coin as collateral, ``-q`` future (nearest expiry); cash ``notional / 20``
``covered_call``     ``q`` coin as collateral, ``-q`` call struck 10-20% out of the money
``short_strangle``   ``-q`` call at +20%, ``-q`` put at -20%; cash ``notional / L`` (``L <= 5``)
``call_spread``      ``+q`` call at the money, ``-q`` call at +15%; cash ``notional / 10``
``put_spread``       ``+q`` put at the money, ``-q`` put at -15%; cash ``notional / 10``
===================  ==========================================================================

Notionals are log-normal (median ``median_notional_usd``, log-sd ``notional_dispersion``),
leverage is drawn from ``leverage_choices``, option expiries from ``expiry_days`` after
``market.as_of`` (08:00 UTC), strikes rounded to two significant digits below the index's
magnitude (1,000 for BTC at 100,000). Every position carries its strategy as ``label``, and
perpetuals the chosen ``leverage`` (used by venues whose IM is notional / leverage).

>>> from marginlab.market import MarketSnapshot
>>> from marginlab.analysis.synthetic import synthetic_book, describe_book
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15T00:00:00Z",
...     "assets": {"BTC": {"index_usd": 100000}, "ETH": {"index_usd": 3000}}})
>>> book = synthetic_book(20, market, rng=7)
>>> len(book), book == synthetic_book(20, market, rng=7)
(20, True)
>>> sorted(describe_book(book).columns)[:3]
['account_id', 'asset', 'cash_usd']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd

from marginlab.account import Account
from marginlab.exceptions import InputError, ParameterError
from marginlab.instruments import Future, Option, Perpetual, Position
from marginlab.market import MarketSnapshot

#: Default strategy mix (weights, normalised).
DEFAULT_STRATEGIES: dict[str, float] = {
    "long_perp": 0.35,
    "short_perp": 0.15,
    "basis": 0.10,
    "covered_call": 0.10,
    "short_strangle": 0.12,
    "call_spread": 0.09,
    "put_spread": 0.09,
}

STRATEGIES = tuple(DEFAULT_STRATEGIES)


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A numpy Generator from a Generator, a seed or ``None``."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def round_to_index_grid(strike_usd: float, index_usd: float) -> float:
    """Round to a grid of ``10 ** (floor(log10(index)) - 2)`` (1,000 for BTC at 100,000).

    >>> round_to_index_grid(117_340.0, 100_000.0), round_to_index_grid(3_456.0, 3_000.0)
    (117000.0, 3460.0)
    """
    step = 10.0 ** (math.floor(math.log10(index_usd)) - 2)
    return float(max(round(strike_usd / step), 1) * step)


def _expiry(as_of: datetime, days: int) -> datetime:
    day = (as_of + timedelta(days=int(days))).date()
    return datetime.combine(day, time(8), tzinfo=as_of.tzinfo)


def synthetic_book(
    n_accounts: int,
    market: MarketSnapshot,
    rng: np.random.Generator | int | None = None,
    *,
    strategies: Mapping[str, float] | None = None,
    assets: Mapping[str, float] | Sequence[str] | None = None,
    leverage_choices: Sequence[float] = (2, 3, 5, 10, 20),
    median_notional_usd: float = 100_000.0,
    notional_dispersion: float = 1.0,
    expiry_days: Sequence[int] = (30, 60, 90),
) -> tuple[Account, ...]:
    """``n_accounts`` seeded accounts with the strategy mix ``strategies`` (see module docstring).

    Parameters
    ----------
    n_accounts : int
    market : MarketSnapshot
        Gives the index prices (entries are at the index) and ``as_of`` (expiries).
    rng : Generator, int or None
        Seed.
    strategies : mapping name -> weight, optional
        Subset of :data:`STRATEGIES` with non-negative weights.
    assets : mapping asset -> weight or sequence, optional
        Default: BTC 0.6 / ETH 0.4 when both are in ``market``, else the market's assets equally.
    leverage_choices : sequence of float
    median_notional_usd, notional_dispersion : float
    expiry_days : sequence of int
    """
    if not isinstance(n_accounts, int | np.integer) or n_accounts < 1:
        raise InputError("n_accounts", n_accounts, "must be a positive integer")
    generator = as_generator(rng)
    mix = dict(strategies or DEFAULT_STRATEGIES)
    for name, weight in mix.items():
        if name not in STRATEGIES:
            raise InputError("strategies", name, f"unknown strategy (known: {', '.join(STRATEGIES)})")
        if not math.isfinite(weight) or weight < 0:
            raise ParameterError(f"strategies[{name}]", weight, "must be a non-negative weight")
    if sum(mix.values()) <= 0:
        raise ParameterError("strategies", mix, "weights must not all be zero")
    if assets is None:
        asset_weights = {"BTC": 0.6, "ETH": 0.4} if {"BTC", "ETH"} <= set(market.assets) else dict.fromkeys(market.assets, 1.0)
    elif isinstance(assets, Mapping):
        asset_weights = {str(a): float(w) for a, w in assets.items()}
    else:
        asset_weights = dict.fromkeys(assets, 1.0)
    for asset in asset_weights:
        market.index_usd(asset)  # raises UnknownAssetError with the known assets
    leverages = np.asarray(leverage_choices, dtype=float)
    if leverages.size == 0 or not np.all(np.isfinite(leverages)) or np.any(leverages <= 0):
        raise ParameterError("leverage_choices", tuple(leverage_choices), "must be positive leverages")
    if not median_notional_usd > 0 or not notional_dispersion >= 0:
        raise ParameterError("median_notional_usd", median_notional_usd, "must be positive (and notional_dispersion >= 0)")
    if not expiry_days or min(expiry_days) < 1:
        raise ParameterError("expiry_days", tuple(expiry_days), "must be positive numbers of days")

    names = list(mix)
    probabilities = np.array([mix[n] for n in names]) / sum(mix.values())
    asset_names = list(asset_weights)
    asset_probabilities = np.array([asset_weights[a] for a in asset_names]) / sum(asset_weights.values())
    strategy_draw = generator.choice(len(names), size=n_accounts, p=probabilities)
    asset_draw = generator.choice(len(asset_names), size=n_accounts, p=asset_probabilities)
    notional_draw = median_notional_usd * np.exp(notional_dispersion * generator.standard_normal(n_accounts))
    leverage_draw = generator.choice(leverages, size=n_accounts)
    expiry_draw = generator.choice(np.asarray(expiry_days), size=n_accounts)
    moneyness_draw = generator.uniform(0.10, 0.20, size=n_accounts)
    width = int(math.log10(n_accounts)) + 1
    accounts = []
    for i in range(n_accounts):
        strategy = names[strategy_draw[i]]
        asset = asset_names[asset_draw[i]]
        index = market.index_usd(asset)
        notional = float(notional_draw[i])
        quantity = notional / index
        leverage = float(leverage_draw[i])
        expiry = _expiry(market.as_of, int(expiry_draw[i]))
        account_id = f"acct-{i:0{width}d}"

        def option(
            strike: float, kind: str, sign: float, asset: str = asset, expiry: datetime = expiry, index: float = index,
            quantity: float = quantity, label: str = strategy,
        ) -> Position:
            return Position(Option(asset, expiry, round_to_index_grid(strike, index), kind), sign * quantity, label=label)  # type: ignore[arg-type]

        collateral: dict[str, float] = {}
        if strategy in ("long_perp", "short_perp"):
            sign = 1.0 if strategy == "long_perp" else -1.0
            positions = [Position(Perpetual(asset), sign * quantity, entry_price_usd=index, leverage=leverage, label=strategy)]
            cash = notional / leverage
        elif strategy == "basis":
            future = Future(asset, expiry)
            positions = [Position(future, -quantity, entry_price_usd=_forward(market, asset, expiry), label=strategy)]
            collateral = {asset: quantity}
            cash = notional / 20.0
        elif strategy == "covered_call":
            positions = [option(index * (1 + moneyness_draw[i]), "call", -1.0)]
            collateral = {asset: quantity}
            cash = 0.0
        elif strategy == "short_strangle":
            positions = [option(index * 1.2, "call", -1.0), option(index * 0.8, "put", -1.0)]
            cash = notional / min(leverage, 5.0)
        elif strategy == "call_spread":
            positions = [option(index, "call", 1.0), option(index * 1.15, "call", -1.0)]
            cash = notional / 10.0
        else:  # put_spread
            positions = [option(index, "put", 1.0), option(index * 0.85, "put", -1.0)]
            cash = notional / 10.0
        accounts.append(Account(tuple(positions), round(cash, 2), collateral, account_id))
    return tuple(accounts)


def strategies_for_models(
    models: Sequence[Any], market: Any, strategies: Mapping[str, float] | None = None, *, assets: Sequence[str] | None = None
) -> dict[str, float]:
    """The strategies of ``strategies`` (default :data:`DEFAULT_STRATEGIES`) that every model of ``models`` can margin.

    Each strategy is tried on one seeded account per asset at the first step of ``market`` (a
    :class:`~marginlab.analysis.stress_scenarios.MarketPath`, whose snapshot then carries vols for the
    probe's expiries, or a :class:`~marginlab.market.MarketSnapshot` that has them); a strategy a
    model rejects with a :class:`~marginlab.exceptions.MarginLabError` (e.g. options under a
    perpetuals-only venue) is dropped, so that a synthetic book suits the models it is replayed under.

    >>> from marginlab.analysis.stress_scenarios import scenario_path
    >>> from marginlab.margin.presets import get_model
    >>> path = scenario_path("btc-minus-40pct-instant", ["BTC"], base_vol=0.5)
    >>> sorted(strategies_for_models([get_model("hyperliquid")], path))
    ['basis', 'long_perp', 'short_perp']
    >>> len(strategies_for_models([get_model("deribit-pm")], path)) == len(DEFAULT_STRATEGIES)
    True
    """
    from marginlab.exceptions import MarginLabError

    snapshot = market if isinstance(market, MarketSnapshot) else market.snapshot(0)
    mix = dict(strategies or DEFAULT_STRATEGIES)
    kept = {}
    for name, weight in mix.items():
        try:
            for asset in assets or [a for a in ("BTC", "ETH") if a in snapshot.assets] or list(snapshot.assets):
                account = synthetic_book(1, snapshot, rng=0, strategies={name: 1.0}, assets=[asset])[0]
                at = snapshot
                if not isinstance(market, MarketSnapshot):
                    expiries: dict[str, list[datetime]] = {}
                    for position in account.positions:
                        expiry = getattr(position.instrument, "expiry", None)
                        if expiry is not None:
                            expiries.setdefault(position.underlying, []).append(expiry)
                    at = market.snapshot(0, expiries)
                for model in models:  # a replay spec callable(time) -> model is taken at the first step
                    (model if hasattr(model, "margin") else model(at.as_of)).margin(account, at)
        except MarginLabError:
            continue
        kept[name] = weight
    if not kept:
        raise InputError("models", [getattr(m, "name", m) for m in models], "no synthetic strategy can be margined by every model")
    return kept


def _forward(market: MarketSnapshot, asset: str, expiry: datetime) -> float:
    return market.forward_usd(asset, expiry)


def describe_book(accounts: Sequence[Account]) -> pd.DataFrame:
    """One row per account: id, strategy (position labels), asset, positions, cash, collateral assets."""
    rows = []
    for account in accounts:
        labels = sorted({p.label for p in account.positions if p.label}) or ["custom"]
        rows.append(
            {
                "account_id": account.account_id,
                "strategy": "+".join(labels),
                "asset": "+".join(account.underlyings),
                "positions": len(account.positions),
                "cash_usd": account.cash_usd,
                "collateral": ", ".join(f"{q:.4g} {a}" for a, q in account.collateral.items()),
            }
        )
    return pd.DataFrame(rows)
