"""A book of accounts as arrays, margined in one vectorised call per model.

:class:`BookState` holds every account of a book as columns -- one row per position
(account, instrument, quantity, entry price, alive flag), cash and collateral per account --
so that a stress replay (:mod:`marginlab.analysis.replay`) can margin *every* account at a
step in one call and liquidate by updating the arrays in place.

Margining (:func:`book_margin`)
-------------------------------
* Models of the :class:`~marginlab.margin.base.BookMarginModel` protocol (risk-matrix presets
  ``deribit-pm``, ``derive-pmrm-v2``, ...; ``fhs-var``, ``okx-pm``, ``span-example``,
  ``calibrated-portfolio``) run on the
  sparse columnar :class:`~marginlab.margin.risk_matrix.Book`: one instrument table per step,
  prepared once (each distinct instrument revalued once per scenario), and one ``margin_book``
  call over all accounts, or over *pseudo-accounts* (an account with one position reduced) when
  the liquidation ladder looks for the most risk-intensive position.
* :class:`~marginlab.margin.isolated.IsolatedMargin` and :class:`~marginlab.margin.cross.CrossMargin`
  rule sets (venue presets, ``calibrated-isolated``, ``calibrated-cross``) are vectorised over positions.
* :class:`~marginlab.analysis.liquidation.FlatRateModel` is computed from the arrays directly.
* Coin-margined accounts, inverse contracts, and any other model are margined account by account
  through ``model.margin`` (the reference path, same numbers by construction).

Every pseudo-account is described by the rows it holds (indices into the book's position rows)
and their quantities, so a trial close never copies the book.

>>> from marginlab.analysis.book import BookState
>>> from marginlab.analysis.synthetic import synthetic_book
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
>>> state = BookState.from_accounts(synthetic_book(3, market, rng=0, strategies={"long_perp": 1}))
>>> len(state), state.n_accounts
(3, 3)
>>> state.to_accounts() == synthetic_book(3, market, rng=0, strategies={"long_perp": 1})
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from marginlab.account import Account
from marginlab.book import FUTURE, OPTION, PERPETUAL, SPOT, STATIC, Book, InstrumentTable, kind_code, revalue_instruments
from marginlab.exceptions import EmptyPortfolioError
from marginlab.instruments import Future, Instrument, Option, Perpetual, Position
from marginlab.margin.base import MarginModel
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


class BookMargin:
    """Margin of pseudo-accounts of a :class:`BookState` under one model at one step.

    ``__call__`` returns ``(initial, maintenance, model equity)`` arrays; a pseudo-account
    without positions gets ``(0, 0, market equity)`` like the reference ladder.
    """

    def __init__(self, model: MarginModel, state: BookState, step: StepMarket) -> None:
        from marginlab.analysis.liquidation import FlatRateModel
        from marginlab.margin.cross import CrossMargin
        from marginlab.margin.isolated import IsolatedMargin

        self.model = model
        self.state = state
        self.step = step
        if _margins_books(model):
            self.kind = "book"
        elif isinstance(model, FlatRateModel):
            self.kind = "flat"
        elif type(model) in (IsolatedMargin, CrossMargin) or _rules_subclass(model):
            self.kind = "rules"
        else:
            self.kind = "reference"
        self._adjusted: FloatArray | None = None
        self.calls = 0
        self._prepared: Any = None  # the model's prepare_book of this step's instrument table (once per step)
        if self.kind == "book":
            self._build_table()

    def _build_table(self) -> None:
        state, step = self.state, self.step
        live = np.flatnonzero(step.live)
        self.table_row = np.full(len(state.instruments), -1, dtype=np.int64)
        self.table_row[live] = np.arange(len(live))
        symbols = [state.symbols[i] for i in live] + [f"collateral:{a}" for a in state.collateral_assets]
        kinds = list(state.kind[live]) + [STATIC] * len(state.collateral_assets)
        assets = [state.underlying[i] for i in live] + list(state.collateral_assets)
        is_option = state.kind[live] == OPTION
        is_derivative = (state.kind[live] == FUTURE) | is_option
        price = np.concatenate([np.where(is_derivative, np.nan, step.forward[live]), step.collateral_price])
        index = np.concatenate([step.index[live], step.collateral_price])
        nan_c = np.full(len(state.collateral_assets), np.nan)
        zero_c = np.zeros(len(state.collateral_assets))
        table = InstrumentTable.build(
            symbols, kinds, assets, price_usd=price, index_usd=index,
            forward_usd=np.concatenate([np.where(is_derivative, step.forward[live], np.nan), nan_c]),
            strike_usd=np.concatenate([step.strike[live], nan_c]),
            seconds=np.concatenate([step.seconds[live], zero_c]),
            vol=np.concatenate([np.where(is_option, step.vol[live], 0.0), zero_c]),
            rate=np.full(len(symbols), step.market.rate),
            is_call=np.concatenate([step.is_call[live], np.zeros(len(state.collateral_assets), dtype=bool)]),
        )
        self.table = table
        self.unit = revalue_instruments(table, np.ones(1), np.ones(1))[:, 0]

    def __call__(self, pseudo: PseudoAccounts) -> tuple[FloatArray, FloatArray, FloatArray]:
        self.calls += 1
        n = len(pseudo.account)
        counts = np.bincount(pseudo.owner, minlength=n)
        has = counts > 0
        im = np.zeros(n)
        mm = np.zeros(n)
        equity = np.zeros(n)
        if (~has).any():
            empty = np.flatnonzero(~has)
            equity[empty] = self.step.market_equity(self.state, pseudo.account[empty])
        if not has.any():
            return im, mm, equity
        # coin-margined accounts and inverse contracts are margined account by account (the reference
        # path: numeraire conversion, coin-equivalent sizes); every other pseudo-account on arrays
        special = np.zeros(n, dtype=bool)
        if self.kind != "reference":
            special = self.state.coin_margined[pseudo.account].copy()
            inverse_rows = self.state.inverse[self.state.instrument[pseudo.rows]]
            if inverse_rows.any():
                special[pseudo.owner[inverse_rows]] = True
            special &= has
        if special.any():
            im[special], mm[special], equity[special] = self._reference(pseudo, special)
            has = has & ~special
            if not has.any():
                return im, mm, equity
            keep = has[pseudo.owner]
            pseudo = PseudoAccounts(pseudo.account, pseudo.rows[keep], pseudo.owner[keep], pseudo.quantity[keep])
        if self.kind == "book":
            im_, mm_, eq_ = self._book(pseudo, has)
        elif self.kind == "flat":
            im_, mm_, eq_ = self._flat(pseudo, has)
        elif self.kind == "rules":
            im_, mm_, eq_ = self._rules(pseudo, has)
        else:
            im_, mm_, eq_ = self._reference(pseudo, has)
        im[has], mm[has], equity[has] = im_, mm_, eq_
        return im, mm, equity

    def _book(self, pseudo: PseudoAccounts, has: NDArray[np.bool_]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Models of the :class:`~marginlab.margin.base.BookMarginModel` protocol: the pseudo-accounts as one
        columnar book over this step's instrument table, one ``margin_book`` call."""
        state = self.state
        where = np.flatnonzero(has)
        renumber = np.full(len(has), -1, dtype=np.int64)
        renumber[where] = np.arange(len(where))
        owner = renumber[pseudo.owner]
        inst = self.table_row[state.instrument[pseudo.rows]]
        qty = pseudo.quantity
        unit = self.unit[inst]
        entry = state.entry[pseudo.rows]
        kind = self.table.kind[inst]
        linear = (kind == PERPETUAL) | (kind == FUTURE)
        mtm = np.where(linear, np.where(np.isnan(entry), 0.0, qty * (unit - np.nan_to_num(entry))), qty * unit)
        n_live = int(np.sum(self.table_row >= 0))
        accounts = pseudo.account[where]
        coll = state.collateral_qty[accounts]
        c_acc, c_asset = np.nonzero(coll)
        c_qty = coll[c_acc, c_asset]
        c_inst = n_live + c_asset
        c_mtm = c_qty * self.unit[c_inst]
        book = Book.build(
            self.table,
            np.concatenate([owner, c_acc]),
            np.concatenate([inst, c_inst]),
            np.concatenate([qty, c_qty]),
            mtm_usd=np.concatenate([mtm, c_mtm]),
            cash_usd=state.cash[accounts],
            n_accounts=len(where),
        )
        model: Any = self.model
        if self._prepared is None:
            self._prepared = model.prepare_book(self.table, as_of=self.step.market.as_of)
        result = model.margin_book(book, prepared=self._prepared)
        return (np.asarray(result.initial_margin_usd, dtype=np.float64), np.asarray(result.maintenance_margin_usd, dtype=np.float64),
                np.asarray(result.equity_usd, dtype=np.float64))

    def _flat(self, pseudo: PseudoAccounts, has: NDArray[np.bool_]) -> tuple[FloatArray, FloatArray, FloatArray]:
        state, step = self.state, self.step
        where = np.flatnonzero(has)
        notional = np.abs(pseudo.quantity) * step.index[state.instrument[pseudo.rows]]
        gross = np.bincount(pseudo.owner, weights=notional, minlength=len(has))[where]
        value = step.row_value(state, pseudo.rows, pseudo.quantity)
        mtm = np.bincount(pseudo.owner, weights=value, minlength=len(has))[where]
        accounts = pseudo.account[where]
        collateral = state.collateral_qty[accounts] @ step.collateral_price if len(state.collateral_assets) else 0.0
        model: Any = self.model
        return model.im_rate * gross, model.mm_rate * gross, state.cash[accounts] + collateral + mtm

    def _adjusted_collateral(self) -> FloatArray:
        """Collateral after the cross model's haircuts, per account (computed once per step)."""
        if self._adjusted is None:
            from marginlab.collateral import TieredHaircut

            model: Any = self.model
            schedule = model.haircuts
            state, step = self.state, self.step
            adjusted = np.zeros(state.n_accounts)
            for a, asset_k in zip(*np.nonzero(state.collateral_qty)):
                asset = state.collateral_assets[asset_k]
                amount = float(state.collateral_qty[a, asset_k])
                value = amount * float(step.collateral_price[asset_k])
                if schedule is None:
                    haircut = 0.0
                elif isinstance(schedule, TieredHaircut):
                    haircut = float(schedule.haircut(asset, amount, step.market, value_usd=value))
                else:
                    haircut = float(schedule.haircut(asset, amount, step.market))
                adjusted[a] += value * (1.0 - haircut)
            self._adjusted = adjusted
        return self._adjusted

    def _rules(self, pseudo: PseudoAccounts, has: NDArray[np.bool_]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Isolated and cross rule sets (:class:`~marginlab.margin.isolated.IsolatedMargin`), vectorised over positions."""
        from marginlab.margin.cross import CrossMargin

        model: Any = self.model
        rules: Any = model.rules if isinstance(model, CrossMargin) else model
        state, step = self.state, self.step
        inst = state.instrument[pseudo.rows]
        kind = state.kind[inst]
        qty = pseudo.quantity
        option = kind == OPTION
        if option.any() and rules.option_rule is None:
            return self._reference(pseudo, has)  # raises the model's own error
        n = len(has)
        where = np.flatnonzero(has)
        # one venue position per (account, instrument): rate of the net quantity
        key = pseudo.owner * np.int64(len(state.instruments)) + inst
        keys, group = np.unique(key, return_inverse=True)
        g_owner = keys // len(state.instruments)
        g_inst = keys % len(state.instruments)
        net = np.bincount(group, weights=qty, minlength=len(keys))
        g_kind = state.kind[g_inst]
        long_spot_row = (kind == SPOT) & (qty > 0)
        im_g = np.zeros(len(keys))
        mm_g = np.zeros(len(keys))
        g_option = g_kind == OPTION
        if g_option.any():
            i = g_inst[g_option]
            im_o, mm_o = rules.option_rule.requirements(net[g_option], step.index[i], step.forward[i], step.strike[i], step.mark[i], step.is_call[i])
            im_g[g_option], mm_g[g_option] = im_o, mm_o
        linear_row = ~option & ~long_spot_row
        if linear_row.any():
            # rows of one group are all linear (same instrument) except spot groups mixing long and short rows
            l_group = group[linear_row]
            l_keys, l_where = np.unique(l_group, return_inverse=True)
            net_l = np.abs(np.bincount(l_where, weights=qty[linear_row], minlength=len(l_keys)))
            lev = np.full(len(l_keys), np.inf)
            chosen = state.leverage[pseudo.rows[linear_row]]
            np.minimum.at(lev, l_where, np.where(np.isnan(chosen), np.inf, chosen))
            lev[np.isinf(lev)] = np.nan
            l_inst = g_inst[l_keys]
            mark = step.mark[l_inst]
            assets = np.asarray(state.underlying, dtype=object)[l_inst]
            for asset in np.unique(assets.astype(str)):
                sel = assets == asset
                rule = rules.rule(str(asset))
                im_l, mm_l = rule.requirements(net_l[sel], net_l[sel] * mark[sel], lev[sel], rules.open_interest_usd.get(str(asset)))
                im_g[l_keys[sel]] += im_l
                mm_g[l_keys[sel]] += mm_l
        initial = np.bincount(g_owner, weights=im_g, minlength=n)[where]
        maintenance = np.bincount(g_owner, weights=mm_g, minlength=n)[where]
        value = step.row_value(state, pseudo.rows, qty)
        mtm = np.bincount(pseudo.owner, weights=value, minlength=n)[where]
        accounts = pseudo.account[where]
        collateral: Any
        if isinstance(model, CrossMargin):
            collateral = self._adjusted_collateral()[accounts]
        else:
            collateral = state.collateral_qty[accounts] @ step.collateral_price if len(state.collateral_assets) else 0.0
        equity = np.asarray(state.cash[accounts] + collateral + mtm, dtype=np.float64)
        return np.asarray(initial, dtype=np.float64), np.asarray(maintenance, dtype=np.float64), equity

    def _reference(self, pseudo: PseudoAccounts, has: NDArray[np.bool_]) -> tuple[FloatArray, FloatArray, FloatArray]:
        out = np.zeros((3, int(has.sum())))
        order = np.argsort(pseudo.owner, kind="stable")
        bounds = np.searchsorted(pseudo.owner[order], np.arange(len(has) + 1))
        for k, p in enumerate(np.flatnonzero(has)):
            sel = order[bounds[p] : bounds[p + 1]]
            account = self.state.account_at(int(pseudo.account[p]), pseudo.rows[sel], pseudo.quantity[sel])
            try:
                result = self.model.margin(account, self.step.market)
            except EmptyPortfolioError:
                out[:, k] = (0.0, 0.0, float(self.step.market_equity(self.state, pseudo.account[p : p + 1])[0]))
                continue
            out[:, k] = (result.initial_margin_usd, result.maintenance_margin_usd, result.equity_usd)
        return out[0], out[1], out[2]


def _margins_books(model: MarginModel) -> bool:
    from marginlab.margin.base import BookMarginModel

    return isinstance(model, BookMarginModel) and bool(model.book_vectorised)


def _rules_subclass(model: MarginModel) -> bool:
    """A subclass of isolated or cross margin that declares (``book_rules_path = True`` in its own class body, not
    inherited) that it only adds validation the rules path reproduces (e.g. ``calibrated-cross`` refusing options)."""
    from marginlab.margin.cross import CrossMargin
    from marginlab.margin.isolated import IsolatedMargin

    return isinstance(model, IsolatedMargin | CrossMargin) and bool(vars(type(model)).get("book_rules_path", False))


def is_vectorised(model: MarginModel) -> bool:
    """True when the book engine margins ``model`` in vectorised calls: models of the
    :class:`~marginlab.margin.base.BookMarginModel` protocol (risk-matrix presets, FHS, OKX PM, SPAN)
    in a configuration they vectorise, isolated, cross and flat-rate models; other models run
    account by account inside the book engine (same results, per-account speed).

    >>> from marginlab.margin.presets import get_model
    >>> [is_vectorised(get_model(name)) for name in ("deribit-pm", "hyperliquid-cross", "fhs-var", "okx-pm", "span-example")]
    [True, True, True, True, True]
    """
    from marginlab.analysis.liquidation import FlatRateModel
    from marginlab.margin.cross import CrossMargin
    from marginlab.margin.isolated import IsolatedMargin

    return _margins_books(model) or isinstance(model, FlatRateModel) or type(model) in (IsolatedMargin, CrossMargin) or _rules_subclass(model)


def book_margin(model: MarginModel, accounts: Sequence[Account], market: MarketSnapshot) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Initial margin, maintenance margin and model equity of every account, vectorised where the model allows.

    >>> from marginlab.analysis.liquidation import FlatRateModel
    >>> from marginlab.account import Account
    >>> from marginlab.instruments import Perpetual, Position
    >>> from marginlab.market import MarketSnapshot
    >>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
    >>> im, mm, eq = book_margin(FlatRateModel(0.1, 0.05), [Account((Position(Perpetual("BTC"), 2.0),), 30_000)], market)
    >>> im.tolist(), mm.tolist(), eq.tolist()
    ([20000.0], [10000.0], [30000.0])
    """
    state = BookState(accounts)
    step = StepMarket.build(state, market)
    return BookMargin(model, state, step)(PseudoAccounts.of(state, np.arange(state.n_accounts)))


def gross_notional_usd(accounts: Sequence[Account], market: MarketSnapshot) -> float:
    """Gross notional of a book, ``sum |quantity| x index`` over every position (an inverse contract at its
    coin-equivalent size ``face / mark``), USD.

    >>> from marginlab.account import Account
    >>> from marginlab.instruments import Perpetual, Position
    >>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
    >>> gross_notional_usd([Account((Position(Perpetual("BTC"), 2.0),)), Account((Position(Perpetual("BTC"), -0.5),))], market)
    250000.0
    """
    state = BookState(accounts)
    step = StepMarket.build(state, market)
    return float(np.sum(step.notional(state, np.flatnonzero(state.alive))))

