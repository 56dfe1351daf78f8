"""Columnar valuation of positions against a market snapshot.

Engines work on arrays, users on objects: :func:`value_positions` turns a sequence of
:class:`~marginlab.instruments.Position` into a :class:`PositionValuation` -- one array per
attribute (quantity, index, mark, forward, strike, years, vol...) -- once, and every margin
model reads those arrays.

Mark-to-market value (what a position adds to account equity):

* spot and options: ``quantity * mark`` (a short option is a liability);
* linear perpetuals and futures: ``quantity * (mark - entry)``, the unrealised P&L (zero when
  the entry price is not given, i.e. entered at the current mark);
* inverse perpetuals and futures (``settlement`` = the underlying, quantity = USD face value):
  the P&L is paid in coin, ``face * (1/entry - 1/mark)`` (:func:`inverse_pnl_coin`), and
  converted to USD at the underlying's **index** -- the price a venue values coin balances at
  (:func:`inverse_pnl_usd`). For a perpetual whose mark equals the index this is
  ``face * (mark/entry - 1)``: in USD an inverse contract is a linear one of ``face/entry``
  coins; the non-linearity is in coin terms (see :func:`inverse_pnl_coin`);
* coin-settled options: ``quantity * mark`` as for linear options -- the payoff converted at
  the settlement price is the same -- and ``mark / index`` coins in coin terms.

The engines see every position through one array ``quantity`` in **coins**: for an inverse
contract it is its coin-equivalent size at the current mark, ``face / mark`` (Deribit's
"position size in BTC"), so per-size rates and notionals ``|q| * index`` apply unchanged.
The face value stays in ``face_usd``.

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
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from marginlab.exceptions import InputError, NumericalError, UnknownAssetError
from marginlab.instruments import Future, Instrument, Option, Perpetual, Position
from marginlab.market import MarketSnapshot
from marginlab.pricing import black76_greeks

#: Collateral codes valued at exactly 1 USD (fiat cash); every other asset needs a market price.
USD_CODES = frozenset({"USD"})


@dataclass(frozen=True)
class NettedPositions:
    """Positions grouped by identical instrument (the netting every engine does before building arrays).

    Attributes
    ----------
    instruments : tuple of Instrument
        The distinct instruments, in order of first appearance.
    group : ndarray of int, shape (n_positions,)
        Row of ``instruments`` of each position.
    quantity : ndarray, shape (n_positions,)
        Signed quantity of each position.
    net_quantity, gross_quantity : ndarray, shape (n_instruments,)
        Sum of signed and of absolute quantities per instrument.

    A quantity that is linear in the position (scenario P&L, mark-to-market) is computed once
    per instrument for one unit and multiplied back by each position's quantity, so per-position
    tables still add up exactly to the instrument's total.

    >>> from marginlab.instruments import Perpetual, Position
    >>> netted = net_positions([Position(Perpetual("BTC"), 2.0), Position(Perpetual("ETH"), 1.0), Position(Perpetual("BTC"), -0.5)])
    >>> len(netted.instruments), netted.group.tolist(), netted.net_quantity.tolist()
    (2, [0, 1, 0], [1.5, 1.0])
    """

    instruments: tuple[Instrument, ...]
    group: NDArray[np.intp]
    quantity: NDArray[np.float64]
    net_quantity: NDArray[np.float64]
    gross_quantity: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.instruments)


def net_positions(positions: Sequence[Position]) -> NettedPositions:
    """Group ``positions`` by identical instrument (see :class:`NettedPositions`)."""
    objects = [p.instrument for p in positions]
    quantity = np.fromiter((p.quantity for p in positions), dtype=np.float64, count=len(positions))
    # instruments are usually shared objects: group by identity on arrays, then merge equal values
    identity = np.fromiter(map(id, objects), dtype=np.int64, count=len(objects))
    _, first, inverse = np.unique(identity, return_index=True, return_inverse=True)
    by_value: dict[Instrument, int] = {}
    distinct: list[Instrument] = []
    row_of_identity = np.empty(len(first), dtype=np.intp)
    for j in np.argsort(first, kind="stable"):  # order of first appearance
        instrument = objects[first[j]]
        row = by_value.get(instrument)
        if row is None:
            row = by_value[instrument] = len(distinct)
            distinct.append(instrument)
        row_of_identity[j] = row
    group = row_of_identity[inverse.reshape(-1)] if len(objects) else np.zeros(0, dtype=np.intp)
    n = len(distinct)
    net = np.bincount(group, weights=quantity, minlength=n).astype(np.float64) if len(group) else np.zeros(n)
    gross = np.bincount(group, weights=np.abs(quantity), minlength=n).astype(np.float64) if len(group) else np.zeros(n)
    return NettedPositions(tuple(distinct), group, quantity, net, gross)


def text_column(values: Sequence[str] | NDArray[Any]) -> pd.Series:
    """A string column for a positions table, built from its few distinct values.

    Per-position tables repeat a handful of symbols, kinds and rules over many rows; converting
    each row's Python string to pandas' string storage dominates the cost of a 200,000-row
    table, so the distinct values are converted once and taken by code (same values and dtype
    as ``pd.Series(values)``).

    >>> text_column(["BTC", "ETH", "BTC"]).tolist()
    ['BTC', 'ETH', 'BTC']
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    return pd.Series(np.asarray(uniques, dtype=object).astype(str)).take(codes).reset_index(drop=True)


@dataclass(frozen=True)
class PositionValuation:
    """Arrays describing positions valued at one market snapshot (one entry per position).

    ``instrument_index`` maps each position to its row of ``netted.instruments``: market data and
    greeks are looked up once per distinct instrument and broadcast to the positions.
    """

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
    settlement: NDArray[np.str_] | None = None
    face_usd: NDArray[np.float64] | None = None
    netted: NettedPositions | None = None

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def instrument_index(self) -> NDArray[np.intp]:
        """Row of the distinct instrument of each position (see :class:`NettedPositions`)."""
        if self.netted is None:
            return np.unique(np.asarray(self.symbols, dtype=object).astype(str), return_inverse=True)[1].reshape(-1)
        return self.netted.group

    @property
    def first_rows(self) -> NDArray[np.intp]:
        """One position row per distinct instrument (its first), to read per-instrument values."""
        group = self.instrument_index
        n = int(group.max()) + 1 if len(group) else 0
        first = np.full(n, len(group), dtype=np.intp)
        np.minimum.at(first, group, np.arange(len(group), dtype=np.intp))
        return first

    def text(self, name: str) -> pd.Series:
        """``symbol``, ``kind`` or ``underlying`` of every position as a string column (built per instrument)."""
        values = {"symbol": self.symbols, "kind": self.kinds, "underlying": self.underlyings}[name]
        if self.netted is None:
            return text_column(np.asarray(values, dtype=object))
        first = self.first_rows
        distinct = np.asarray(values, dtype=object)[first].astype(str) if len(first) else np.zeros(0, dtype=str)
        return pd.Series(distinct.astype(object)).astype("str").take(self.netted.group).reset_index(drop=True)

    @property
    def notional_usd(self) -> NDArray[np.float64]:
        """``|quantity| * index``: the size measure venues apply rates to."""
        return np.abs(self.quantity) * self.index_usd

    @property
    def is_option(self) -> NDArray[np.bool_]:
        return self.kinds == "option"

    @property
    def is_inverse(self) -> NDArray[np.bool_]:
        """True for inverse perpetuals/futures and coin-settled options (settled in the underlying)."""
        if self.settlement is None:
            return np.zeros(len(self.symbols), dtype=bool)
        return np.asarray(self.settlement == self.underlyings, dtype=bool)

    def value_in(self, currency: str, price_usd: float) -> NDArray[np.float64]:
        """Mark-to-market of each position in ``currency`` worth ``price_usd`` (``value_usd / price_usd``).

        >>> from marginlab.instruments import Position, Perpetual
        >>> from marginlab.market import MarketSnapshot
        >>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
        >>> inverse = Position(Perpetual("BTC", settlement="BTC"), 10_000.0, entry_price_usd=80_000)
        >>> float(value_positions([inverse], market).value_in("BTC", 100_000.0)[0])  # 10,000 x (1/80,000 - 1/100,000)
        0.025
        """
        if not (math.isfinite(price_usd) and price_usd > 0):
            raise InputError(f"price_usd[{currency}]", price_usd, "must be a positive finite price")
        return self.value_usd / price_usd

    def frame(self) -> pd.DataFrame:
        """One row per position with its valuation (greeks per unit, forward-based)."""
        return pd.DataFrame(
            {
                "symbol": self.text("symbol"),
                "kind": self.text("kind"),
                "underlying": self.text("underlying"),
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


def inverse_pnl_coin(face_usd: ArrayLike, entry_usd: ArrayLike, exit_usd: ArrayLike) -> NDArray[np.float64]:
    """P&L in coin of an inverse contract: ``face * (1/entry - 1/exit)`` (vectorised).

    ``face_usd`` is signed (positive long). Long P&L is increasing and **concave** in the exit
    price (bounded by ``face/entry`` coins as the price grows, unbounded loss as it falls to 0);
    short P&L is convex. Source: Deribit Insights, "Deribit Inverse Contracts -- Calculating
    Profit in BTC and USD" (Cryptarbitrage, 2020-06-23),
    https://insights.deribit.com/education/deribit-inverse-contracts-calculating-profit-in-btc-and-usd/.

    >>> float(inverse_pnl_coin(100_000.0, 50_000.0, 100_000.0))  # 100k USD long from 50k to 100k: 2 - 1 BTC
    1.0
    >>> float(inverse_pnl_coin(-16_000.0, 8_000.0, 10_000.0))    # short 16k USD from 8k to 10k
    -0.4
    """
    face, entry, exit_ = (np.asarray(a, dtype=np.float64) for a in (face_usd, entry_usd, exit_usd))
    return np.asarray(face * (1.0 / entry - 1.0 / exit_), dtype=np.float64)


def inverse_pnl_usd(face_usd: ArrayLike, entry_usd: ArrayLike, exit_usd: ArrayLike, conversion_usd: ArrayLike | None = None) -> NDArray[np.float64]:
    """USD value of an inverse contract's coin P&L, converted at ``conversion_usd`` (default: the exit price).

    ``face * (1/entry - 1/exit) * conversion``; with ``conversion = exit`` it is
    ``face * (exit/entry - 1)``, i.e. a linear position of ``face/entry`` coins.

    >>> float(inverse_pnl_usd(100_000.0, 50_000.0, 100_000.0))
    100000.0
    """
    conversion = exit_usd if conversion_usd is None else conversion_usd
    return np.asarray(inverse_pnl_coin(face_usd, entry_usd, exit_usd) * np.asarray(conversion, dtype=np.float64), dtype=np.float64)


def value_positions(positions: Sequence[Position], market: MarketSnapshot) -> PositionValuation:
    """Value ``positions`` at ``market``: marks, forwards, vols and greeks as arrays.

    Identical instruments are netted first (:func:`net_positions`): market data and greeks are
    computed once per distinct instrument, then broadcast to the positions, so 200,000 fills of
    ten instruments cost ten look-ups.

    Raises
    ------
    UnknownAssetError
        When an underlying is not in the snapshot.
    ExpiredInstrumentError
        When a future or option has expired at ``market.as_of``.
    MissingMarketDataError
        When an option has no implied volatility.
    """
    netted = net_positions(positions)
    count = len(netted.instruments)
    kinds = np.empty(count, dtype=object)
    underlyings = np.empty(count, dtype=object)
    symbols = np.empty(count, dtype=object)
    index = np.empty(count)
    forward = np.empty(count)
    strike = np.full(count, np.nan)
    years = np.zeros(count)
    vol = np.full(count, np.nan)
    is_call = np.zeros(count, dtype=bool)
    settlement = np.empty(count, dtype=object)
    for i, instrument in enumerate(netted.instruments):
        settlement[i] = instrument.settlement
        kinds[i] = instrument.kind
        underlyings[i] = instrument.underlying
        symbols[i] = instrument.symbol
        index[i] = market.index_usd(instrument.underlying)
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
    g = netted.group
    quantity = netted.quantity.copy()
    entry = np.array([p.entry_price_usd for p in positions], dtype=np.float64) if len(positions) else np.zeros(0)
    kinds_p = kinds.astype(str)[g] if count else np.zeros(0, dtype=str)
    linear_derivative = (kinds_p == "perpetual") | (kinds_p == "future")
    mark_p = mark[g]
    index_p = index[g]
    value = np.where(linear_derivative, quantity * np.where(np.isnan(entry), 0.0, mark_p - np.nan_to_num(entry, nan=0.0)), quantity * mark_p)
    settlement_p = settlement.astype(str)[g] if count else np.zeros(0, dtype=str)
    underlyings_p = underlyings.astype(str)[g] if count else np.zeros(0, dtype=str)
    face = np.full(len(quantity), np.nan)
    inverse = linear_derivative & (settlement_p == underlyings_p)
    if inverse.any():
        # quantity is the USD face value: P&L in coin face (1/entry - 1/mark), worth index USD per
        # coin; the engines see the coin-equivalent size face / mark.
        face[inverse] = quantity[inverse]
        entered = np.where(np.isnan(entry[inverse]), mark_p[inverse], entry[inverse])
        value[inverse] = inverse_pnl_coin(face[inverse], entered, mark_p[inverse]) * index_p[inverse]
        quantity[inverse] = face[inverse] / mark_p[inverse]
    return PositionValuation(
        tuple(symbols[g].tolist()) if count else (),
        kinds_p,
        underlyings_p,
        quantity,
        index_p,
        mark_p,
        forward[g],
        strike[g],
        years[g],
        vol[g],
        is_call[g],
        entry,
        value,
        delta[g],
        gamma[g],
        vega[g],
        theta[g],
        settlement_p,
        face,
        netted,
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
        raise NumericalError("equity_usd", total, "account equity overflows (cash + collateral + mark-to-market is not finite); check the sizes")
    return total
