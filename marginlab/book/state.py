"""The replay state of a book: accounts as mutable columns, and one step's market as arrays.

:class:`BookState` holds every account of a book as columns -- one row per position (account,
instrument, quantity, entry price, alive flag), cash and collateral per account -- so that a stress
replay (:mod:`marginlab.liquidation.driver`) margins every account at a step in one call and
liquidates by updating the arrays in place. :class:`StepMarket` holds the per-instrument market
arrays of one step (marks, deltas, forwards, collateral prices); :class:`PseudoAccounts` names
accounts to margin by the rows they hold (a trial close is a pseudo-account with one row reduced,
so it never copies the book). Like the rest of :mod:`marginlab.book`, it imports nothing from
``margin``, ``analysis`` or ``calibration``.

>>> from marginlab.account import Account
>>> from marginlab.instruments import Perpetual, Position
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
>>> accounts = [Account((Position(Perpetual("BTC"), 1.0, entry_price_usd=90_000),), 5_000.0, account_id="a")]
>>> state = BookState(accounts)
>>> len(state), state.n_accounts, state.to_accounts() == tuple(accounts)
(1, 1, True)
>>> StepMarket.build(state, market).market_equity(state).tolist()  # 5,000 + 1 x (100,000 - 90,000)
[15000.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from marginlab.account import Account
from marginlab.book.kinds import FUTURE, OPTION, PERPETUAL, kind_code
from marginlab.instruments import Future, Instrument, Option, Perpetual, Position
from marginlab.market import SECONDS_PER_YEAR, MarketSnapshot
from marginlab.pricing import black76_greeks
from marginlab.valuation import inverse_pnl_usd

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


class BookState:
    """Mutable columnar state of a book (see the module docstring).

    Rows are sorted by account and keep each account's position order; a closed position is
    marked dead (``alive = False``) so that the order of the remaining ones is that of the
    account's position tuple after a deletion.
    """

    def __init__(self, accounts: Sequence[Account]) -> None:
        accounts = tuple(accounts)
        self.originals: tuple[Account, ...] = accounts  # margin currency and any other account field
        self.ids: tuple[str, ...] = tuple(a.account_id for a in accounts)
        #: coin-margined accounts (margined in their coin: per-account reference path of the margin models)
        self.coin_margined = np.array([bool(getattr(a, "is_coin_margined", False)) for a in accounts], dtype=bool)
        self.cash = np.array([a.cash_usd for a in accounts], dtype=np.float64)
        self.collateral: list[dict[str, float]] = [dict(a.collateral) for a in accounts]
        assets = sorted({asset for a in accounts for asset in a.collateral})
        self.collateral_assets: tuple[str, ...] = tuple(assets)
        self.collateral_qty = np.zeros((len(accounts), len(assets)))
        for i, account in enumerate(accounts):
            for asset, amount in account.collateral.items():
                self.collateral_qty[i, assets.index(asset)] = float(amount)
        symbols: dict[str, int] = {}
        known: dict[Instrument, int] = {}  # instrument -> row (a symbol is formatted once per distinct instrument)
        self.instruments: list[Instrument] = []
        acc, inst, qty, entry, leverage = [], [], [], [], []
        #: the positions as given (quantities as at construction; the current ones are ``quantity``)
        self.positions: list[Position] = []
        for a, account in enumerate(accounts):
            for position in account.positions:
                row = known.get(position.instrument)
                if row is None:
                    row = symbols.setdefault(position.symbol, len(self.instruments))
                    known[position.instrument] = row
                    if row == len(self.instruments):
                        self.instruments.append(position.instrument)
                acc.append(a)
                inst.append(row)
                qty.append(position.quantity)
                entry.append(np.nan if position.entry_price_usd is None else position.entry_price_usd)
                leverage.append(np.nan if position.leverage is None else position.leverage)
                self.positions.append(position)
        self.account: IntArray = np.asarray(acc, dtype=np.int64)
        self.instrument: IntArray = np.asarray(inst, dtype=np.int64)
        self.quantity: FloatArray = np.asarray(qty, dtype=np.float64)
        self.entry: FloatArray = np.asarray(entry, dtype=np.float64)
        self.leverage: FloatArray = np.asarray(leverage, dtype=np.float64)
        self.alive = np.ones(len(acc), dtype=bool)
        self.starts: IntArray = np.searchsorted(self.account, np.arange(len(accounts) + 1)).astype(np.int64)
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.kind: IntArray = np.array([kind_code(i.kind) for i in self.instruments], dtype=np.int64)
        self.underlying: tuple[str, ...] = tuple(i.underlying for i in self.instruments)
        self.expiry: list[datetime | None] = [i.expiry if isinstance(i, Future | Option) else None for i in self.instruments]
        #: inverse perpetuals and futures (quantity = USD face value, P&L paid in coin)
        self.inverse = np.array([isinstance(i, Perpetual | Future) and bool(i.is_inverse) for i in self.instruments], dtype=bool)

    @classmethod
    def from_accounts(cls, accounts: Sequence[Account]) -> "BookState":
        return cls(accounts)

    def slice(self, a0: int, a1: int) -> "BookState":
        """Accounts ``a0 .. a1 - 1`` as their own state (copies of the arrays; instruments shared)."""
        r0, r1 = int(self.starts[a0]), int(self.starts[a1])
        part = object.__new__(BookState)
        part.originals = self.originals[a0:a1]
        part.ids = self.ids[a0:a1]
        part.coin_margined = self.coin_margined[a0:a1]
        part.cash = self.cash[a0:a1].copy()
        part.collateral = self.collateral[a0:a1]
        part.collateral_assets = self.collateral_assets
        part.collateral_qty = self.collateral_qty[a0:a1].copy()
        part.instruments, part.symbols, part.kind, part.underlying, part.expiry = self.instruments, self.symbols, self.kind, self.underlying, self.expiry
        part.inverse = self.inverse
        part.positions = self.positions[r0:r1]
        part.account = self.account[r0:r1] - a0
        part.instrument = self.instrument[r0:r1].copy()
        part.quantity = self.quantity[r0:r1].copy()
        part.entry = self.entry[r0:r1].copy()
        part.leverage = self.leverage[r0:r1].copy()
        part.alive = self.alive[r0:r1].copy()
        part.starts = self.starts[a0 : a1 + 1] - r0
        return part

    def merge(self, part: "BookState", a0: int) -> None:
        """Write back a :meth:`slice` starting at account ``a0`` after it was updated."""
        a1 = a0 + part.n_accounts
        r0, r1 = int(self.starts[a0]), int(self.starts[a1])
        self.cash[a0:a1] = part.cash
        self.quantity[r0:r1] = part.quantity
        self.alive[r0:r1] = part.alive

    def __len__(self) -> int:
        return len(self.account)

    @property
    def n_accounts(self) -> int:
        return len(self.ids)

    # ----------------------------------------------------------------- rows
    def alive_counts(self) -> IntArray:
        """Number of open positions per account."""
        return np.bincount(self.account[self.alive], minlength=self.n_accounts).astype(np.int64)

    def rows_of(self, accounts: IntArray) -> tuple[IntArray, IntArray]:
        """Alive rows of ``accounts`` (in position order) and the position in ``accounts`` each belongs to."""
        accounts = np.asarray(accounts, dtype=np.int64)
        lo, hi = self.starts[accounts], self.starts[accounts + 1]
        lengths = hi - lo
        owner = np.repeat(np.arange(len(accounts)), lengths)
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        rows = np.repeat(lo, lengths) + offsets
        keep = self.alive[rows]
        return rows[keep], owner[keep]

    def set_quantity(self, rows: IntArray, quantity: FloatArray) -> None:
        """Reduce rows to ``quantity`` (0 closes them); Position objects are rebuilt on access only."""
        quantity = np.asarray(quantity, dtype=np.float64)
        self.alive[rows[quantity == 0.0]] = False
        self.quantity[rows] = quantity

    def account_at(self, a: int, rows: IntArray | None = None, quantity: FloatArray | None = None) -> Account:
        """Account ``a`` as an object (optionally with other rows / quantities: a pseudo-account)."""
        if rows is None:
            rows, _ = self.rows_of(np.array([a]))
        rows = np.asarray(rows)
        current = self.quantity[rows] if quantity is None else np.asarray(quantity, dtype=np.float64)
        positions = [_with_quantity(self.positions[row], q) for row, q in zip(rows.tolist(), current.tolist())]
        return replace(self.originals[a], positions=tuple(positions), cash_usd=float(self.cash[a]), collateral=dict(self.collateral[a]))

    def to_accounts(self) -> tuple[Account, ...]:
        """Every account as an :class:`~marginlab.account.Account` (current state)."""
        return tuple(self.account_at(a) for a in range(self.n_accounts))

    def frozen_accounts(self) -> "LazyAccounts":
        """The current accounts as a read-only sequence built on access (a copy of the arrays)."""
        return LazyAccounts(self.originals, self.cash.copy(), self.collateral, self.positions, self.quantity.copy(), self.alive.copy(), self.starts)

    def equity_without_positions(self, step: "StepMarket", a: int) -> float:
        """Market equity of account ``a`` counting cash and collateral only (an account whose positions are all closed)."""
        collateral = float(self.collateral_qty[a] @ step.collateral_price) if len(self.collateral_assets) else 0.0
        return float(self.cash[a] + collateral)


def _with_quantity(position: Position, quantity: float) -> Position:
    return position if quantity == position.quantity else replace(position, quantity=quantity)


class LazyAccounts(Sequence[Account]):
    """Accounts of a book state frozen at one moment, built as :class:`Account` objects on access."""

    def __init__(self, originals: tuple[Account, ...], cash: FloatArray, collateral: list[dict[str, float]], positions: list[Position],
                 quantity: FloatArray, alive: NDArray[np.bool_], starts: IntArray) -> None:
        self._ids = tuple(a.account_id for a in originals)
        self._originals, self._cash, self._collateral, self._positions, self._alive, self._starts = originals, cash, collateral, positions, alive, starts
        self._quantity = quantity

    def __len__(self) -> int:
        return len(self._ids)

    def _one(self, a: int) -> Account:
        rows = range(int(self._starts[a]), int(self._starts[a + 1]))
        positions = tuple(_with_quantity(self._positions[r], float(self._quantity[r])) for r in rows if self._alive[r])
        return replace(self._originals[a], positions=positions, cash_usd=float(self._cash[a]), collateral=dict(self._collateral[a]))

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        if isinstance(index, slice):
            return tuple(self._one(a) for a in range(*index.indices(len(self))))
        a = int(index)
        if a < 0:
            a += len(self)
        if not 0 <= a < len(self):
            raise IndexError(index)
        return self._one(a)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(other) == len(self) and all(x == y for x, y in zip(self, other))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class StepMarket:
    """Per-instrument market arrays of one step (instruments of the book, in book order)."""

    market: MarketSnapshot
    live: NDArray[np.bool_]  # not expired
    index: FloatArray
    mark: FloatArray  # as marginlab.valuation.value_positions: perpetual mark, forward, option price
    delta: FloatArray
    forward: FloatArray
    strike: FloatArray
    seconds: FloatArray
    vol: FloatArray
    is_call: NDArray[np.bool_]
    collateral_price: FloatArray  # per collateral asset

    @classmethod
    def build(cls, state: BookState, market: MarketSnapshot) -> "StepMarket":
        n = len(state.instruments)
        index = np.array([market.index_usd(a) for a in state.underlying], dtype=np.float64)
        live = np.array([e is None or e > market.as_of for e in state.expiry], dtype=bool)
        forward = index.copy()
        strike = np.full(n, np.nan)
        seconds = np.zeros(n)
        vol = np.full(n, np.nan)
        is_call = np.zeros(n, dtype=bool)
        for i, instrument in enumerate(state.instruments):
            if not live[i]:
                continue
            if isinstance(instrument, Perpetual):
                forward[i] = market.perpetual_usd(instrument.underlying)
            elif isinstance(instrument, Future | Option):
                years = market.time_to_expiry_years(instrument.expiry)
                seconds[i] = years * SECONDS_PER_YEAR
                forward[i] = market.forward_usd(instrument.underlying, instrument.expiry)
                if isinstance(instrument, Option):
                    strike[i] = instrument.strike_usd
                    vol[i] = market.vol(instrument.underlying, instrument.expiry, instrument.strike_usd)
                    is_call[i] = instrument.is_call
        mark = forward.copy()
        delta = np.ones(n)
        option = (state.kind == OPTION) & live
        if option.any():
            greeks = black76_greeks(forward[option], strike[option], seconds[option] / SECONDS_PER_YEAR, vol[option], market.rate, is_call[option])
            mark[option] = greeks.price
            delta[option] = greeks.delta
        prices = np.array([1.0 if a == "USD" else market.index_usd(a) for a in state.collateral_assets], dtype=np.float64)
        return cls(market, live, index, mark, delta, forward, strike, seconds, vol, is_call, prices)

    def row_value(self, state: BookState, rows: IntArray, quantity: FloatArray | None = None) -> FloatArray:
        """Mark-to-market of rows (``value_positions``: linear ``q (mark - entry)``, inverse
        ``face (1/entry - 1/mark) index``, others ``q mark``)."""
        q = state.quantity[rows] if quantity is None else quantity
        inst = state.instrument[rows]
        mark = self.mark[inst]
        entry = state.entry[rows]
        linear = (state.kind[inst] == PERPETUAL) | (state.kind[inst] == FUTURE)
        value = np.where(linear, q * np.where(np.isnan(entry), 0.0, mark - np.nan_to_num(entry, nan=0.0)), q * mark)
        inverse = state.inverse[inst]
        if inverse.any():
            e, m = entry[inverse], mark[inverse]
            with np.errstate(divide="ignore", invalid="ignore"):  # no entry price: entered at the mark, no P&L
                value[inverse] = inverse_pnl_usd(q[inverse], np.where(np.isnan(e), m, e), m, self.index[inst[inverse]])
        return np.asarray(value, dtype=np.float64)

    def notional(self, state: BookState, rows: IntArray, quantity: FloatArray | None = None) -> FloatArray:
        """``|quantity| x index`` of rows, an inverse contract counted at its coin-equivalent size ``face / mark``."""
        q = state.quantity[rows] if quantity is None else quantity
        inst = state.instrument[rows]
        size = np.abs(q)
        inverse = state.inverse[inst]
        if inverse.any():
            size = np.where(inverse, size / np.where(inverse, self.mark[inst], 1.0), size)
        return np.asarray(size * self.index[inst], dtype=np.float64)

    def market_equity(self, state: BookState, accounts: IntArray | None = None) -> FloatArray:
        """Cash + collateral at market + positions' mark-to-market per account (no haircuts)."""
        if accounts is None:
            accounts = np.arange(state.n_accounts)
        rows, owner = state.rows_of(accounts)
        mtm = np.bincount(owner, weights=self.row_value(state, rows), minlength=len(accounts))
        collateral = state.collateral_qty[accounts] @ self.collateral_price if len(state.collateral_assets) else 0.0
        return np.asarray(state.cash[accounts] + collateral + mtm, dtype=np.float64)


@dataclass(frozen=True)
class PseudoAccounts:
    """Accounts to margin: pseudo-account ``k`` is book account ``account[k]`` holding
    ``rows[owner == k]`` with quantities ``quantity[owner == k]``."""

    account: IntArray
    rows: IntArray
    owner: IntArray
    quantity: FloatArray

    @classmethod
    def of(cls, state: BookState, accounts: IntArray) -> "PseudoAccounts":
        rows, owner = state.rows_of(accounts)
        return cls(np.asarray(accounts, dtype=np.int64), rows, owner, state.quantity[rows])
