"""Columnar valuation of positions against a market snapshot.

Engines work on arrays, users on objects: :func:`value_positions` turns a sequence of
:class:`~marginlab.instruments.Position` into a :class:`PositionValuation` -- one array per
attribute (quantity, index, mark, forward, strike, years, vol...) -- once, and every margin
model reads those arrays.

Mark-to-market value (what a position adds to account equity):

* spot and options: ``quantity * mark`` (a short option is a liability);
* perpetuals and futures: ``quantity * (mark - entry)``, the unrealised P&L (zero when the
  entry price is not given, i.e. entered at the current mark).

>>> from marginlab.instruments import Position, Perpetual
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
>>> valuation = value_positions([Position(Perpetual("BTC"), -2.0, entry_price_usd=90000)], market)
>>> float(valuation.value_usd[0]), float(valuation.notional_usd[0])
(-20000.0, 200000.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from marginlab.exceptions import UnknownAssetError
from marginlab.instruments import Future, Option, Perpetual, Position
from marginlab.market import MarketSnapshot
from marginlab.pricing import black76_greeks

#: Collateral codes valued at exactly 1 USD (fiat cash); every other asset needs a market price.
USD_CODES = frozenset({"USD"})


@dataclass(frozen=True)
class PositionValuation:
    """Arrays describing positions valued at one market snapshot (one entry per position)."""

    symbols: tuple[str, ...]
    kinds: NDArray[np.str_]
    underlyings: NDArray[np.str_]
    quantity: NDArray[np.float64]
    index_usd: NDArray[np.float64]
    mark_usd: NDArray[np.float64]
    forward_usd: NDArray[np.float64]
    strike_usd: NDArray[np.float64]
    years: NDArray[np.float64]
    vol: NDArray[np.float64]
    is_call: NDArray[np.bool_]
    entry_usd: NDArray[np.float64]
    value_usd: NDArray[np.float64]
    delta: NDArray[np.float64]
    gamma: NDArray[np.float64]
    vega: NDArray[np.float64]
    theta: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def notional_usd(self) -> NDArray[np.float64]:
        """``|quantity| * index``: the size measure venues apply rates to."""
        return np.abs(self.quantity) * self.index_usd

    @property
    def is_option(self) -> NDArray[np.bool_]:
        return self.kinds == "option"

    def frame(self) -> pd.DataFrame:
        """One row per position with its valuation (greeks per unit, forward-based)."""
        return pd.DataFrame(
            {
                "symbol": self.symbols,
                "kind": self.kinds,
                "underlying": self.underlyings,
                "quantity": self.quantity,
                "index_usd": self.index_usd,
                "mark_usd": self.mark_usd,
                "notional_usd": self.notional_usd,
                "value_usd": self.value_usd,
                "strike_usd": self.strike_usd,
                "years_to_expiry": self.years,
                "vol": self.vol,
            }
        )


def value_positions(positions: Sequence[Position], market: MarketSnapshot) -> PositionValuation:
    """Value ``positions`` at ``market``: marks, forwards, vols and greeks as arrays.

    Raises
    ------
    UnknownAssetError
        When an underlying is not in the snapshot.
    ExpiredInstrumentError
        When a future or option has expired at ``market.as_of``.
    MissingMarketDataError
        When an option has no implied volatility.
    """
    count = len(positions)
    kinds = np.empty(count, dtype=object)
    underlyings = np.empty(count, dtype=object)
    quantity = np.empty(count)
    index = np.empty(count)
    forward = np.empty(count)
    strike = np.full(count, np.nan)
    years = np.zeros(count)
    vol = np.full(count, np.nan)
    is_call = np.zeros(count, dtype=bool)
    entry = np.full(count, np.nan)
    for i, position in enumerate(positions):
        instrument = position.instrument
        kinds[i] = instrument.kind
        underlyings[i] = instrument.underlying
        quantity[i] = position.quantity
        index[i] = market.index_usd(instrument.underlying)
        if position.entry_price_usd is not None:
            entry[i] = position.entry_price_usd
        if isinstance(instrument, Perpetual):
            forward[i] = market.perpetual_usd(instrument.underlying)
        elif isinstance(instrument, Future | Option):
            years[i] = market.time_to_expiry_years(instrument.expiry)
            forward[i] = market.forward_usd(instrument.underlying, instrument.expiry)
            if isinstance(instrument, Option):
                strike[i] = instrument.strike_usd
                vol[i] = market.vol(instrument.underlying, instrument.expiry, instrument.strike_usd)
                is_call[i] = instrument.is_call
        else:
            forward[i] = index[i]
    options = kinds == "option"
    mark = forward.copy()
    delta = np.ones(count)
    gamma = np.zeros(count)
    vega = np.zeros(count)
    theta = np.zeros(count)
    if options.any():
        greeks = black76_greeks(forward[options], strike[options], years[options], vol[options], market.rate, is_call[options])
        mark[options] = greeks.price
        delta[options], gamma[options] = greeks.delta, greeks.gamma
        vega[options], theta[options] = greeks.vega, greeks.theta
    linear_derivative = (kinds == "perpetual") | (kinds == "future")
    value = np.where(linear_derivative, quantity * np.where(np.isnan(entry), 0.0, mark - np.nan_to_num(entry, nan=0.0)), quantity * mark)
    return PositionValuation(
        tuple(p.symbol for p in positions),
        kinds.astype(str),
        underlyings.astype(str),
        quantity,
        index,
        mark,
        forward,
        strike,
        years,
        vol,
        is_call,
        entry,
        value,
        delta,
        gamma,
        vega,
        theta,
    )


def collateral_value_usd(collateral: Mapping[str, float], market: MarketSnapshot) -> dict[str, float]:
    """Market value in USD of each collateral balance (``USD`` counts at 1)."""
    values = {}
    for asset, amount in collateral.items():
        if asset in USD_CODES:
            values[asset] = float(amount)
            continue
        if asset not in market.assets:
            raise UnknownAssetError(f"collateral[{asset}]", asset, f"has no price in the market snapshot (known: {sorted(market.assets)})")
        values[asset] = float(amount) * market.index_usd(asset)
    return values


def equity_usd(cash_usd: float, collateral: Mapping[str, float], valuation: PositionValuation, market: MarketSnapshot) -> float:
    """Account equity: cash + collateral at market (no haircut) + positions' mark-to-market."""
    total = cash_usd + sum(collateral_value_usd(collateral, market).values()) + float(np.sum(valuation.value_usd))
    if not math.isfinite(total):
        raise ValueError("account equity is not finite")
    return total
