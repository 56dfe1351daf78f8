"""A book of accounts as arrays, margined in one vectorised call per model.

:class:`~marginlab.book.state.BookState` holds every account of a book as columns -- one row per position
(account, instrument, quantity, entry price, alive flag), cash and collateral per account --
so that a stress replay (:mod:`marginlab.analysis.replay`) can margin *every* account at a
step in one call and liquidate by updating the arrays in place.

Margining (:func:`book_margin`)
-------------------------------
Every model of the :class:`~marginlab.margin.base.BookMarginModel` protocol -- the risk-matrix
presets (``deribit-pm``, ``derive-pmrm-v2``, ...), ``fhs-var``, ``okx-pm``, ``span-example``,
``calibrated-portfolio``, the isolated and cross rule sets (venue presets, ``calibrated-isolated``,
``calibrated-cross``) and the flat-rate reference -- runs on the sparse columnar
:class:`~marginlab.book.Book`: one instrument table per step, prepared once, and one
``margin_book`` call over all accounts, or over *pseudo-accounts* (an account with one position
reduced) when the liquidation ladder looks for the most risk-intensive position. No margin rule
is written here: the models' own ``margin_book`` computes every number. Inverse contracts are
rows of the book (their coin size and USD mark-to-market); coin-margined accounts and any other
model are margined account by account through ``model.margin`` (the reference path).

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
from typing import Any

import numpy as np
from numpy.typing import NDArray

from marginlab.account import Account
from marginlab.book import FUTURE, OPTION, PERPETUAL, STATIC, Book, InstrumentTable, revalue_instruments
from marginlab.book.state import BookState, LazyAccounts, PseudoAccounts, StepMarket
from marginlab.exceptions import EmptyPortfolioError
from marginlab.margin.base import BookMarginModel, MarginModel
from marginlab.market import MarketSnapshot
from marginlab.valuation import inverse_pnl_usd

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: The replay state lives in :mod:`marginlab.book.state` (re-exported here for the margin call below).
__all__ = ["BookMargin", "BookState", "LazyAccounts", "PseudoAccounts", "StepMarket", "book_margin", "gross_notional_usd", "is_vectorised"]


class BookMargin:
    """Margin of pseudo-accounts of a :class:`BookState` under one model at one step.

    ``__call__`` returns ``(initial, maintenance, model equity)`` arrays; a pseudo-account
    without positions gets ``(0, 0, market equity)`` like the reference ladder.
    """

    def __init__(self, model: MarginModel, state: BookState, step: StepMarket) -> None:
        self.model = model
        self.state = state
        self.step = step
        self.kind = "book" if _margins_books(model) else "reference"
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
            inverse=np.concatenate([state.inverse[live], np.zeros(len(state.collateral_assets), dtype=bool)]),
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
        # coin-margined accounts are margined account by account (the reference path: their rows are
        # revalued in the coin, Book.from_accounts); every other pseudo-account on arrays
        special = np.zeros(n, dtype=bool)
        if self.kind != "reference":
            special = self.state.coin_margined[pseudo.account] & has
        if special.any():
            im[special], mm[special], equity[special] = self._reference(pseudo, special)
            has = has & ~special
            if not has.any():
                return im, mm, equity
            keep = has[pseudo.owner]
            pseudo = PseudoAccounts(pseudo.account, pseudo.rows[keep], pseudo.owner[keep], pseudo.quantity[keep])
        if self.kind == "book":
            im_, mm_, eq_ = self._book(pseudo, has)
        else:
            im_, mm_, eq_ = self._reference(pseudo, has)
        im[has], mm[has], equity[has] = im_, mm_, eq_
        return im, mm, equity

    def _book(self, pseudo: PseudoAccounts, has: NDArray[np.bool_]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Every model of the :class:`~marginlab.margin.base.BookMarginModel` protocol (scenario models, isolated and
        cross rule sets, the flat rate): the pseudo-accounts as one columnar book over this step's instrument
        table, one ``margin_book`` call. An inverse contract (face ``f``, entry ``E``, mark ``F``, index ``S``) is a
        row of ``f S / (E F)`` coins with mark-to-market ``inverse_pnl_usd`` and rule size ``f / F``, as in
        :meth:`~marginlab.book.Book.from_accounts`."""
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
        size = qty
        inverse = state.inverse[state.instrument[pseudo.rows]]
        if inverse.any():
            mark, index = unit[inverse], self.table.index_usd[inst[inverse]]
            entered = np.where(np.isnan(entry[inverse]), mark, entry[inverse])
            face = qty[inverse]
            mtm, size, qty = mtm.copy(), qty.copy(), qty.copy()
            mtm[inverse] = inverse_pnl_usd(face, entered, mark, index)
            size[inverse] = face / mark
            qty[inverse] = face * index / (entered * mark)
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
            leverage=np.concatenate([state.leverage[pseudo.rows], np.full(len(c_qty), np.nan)]),
            size=np.concatenate([size, c_qty]) if inverse.any() else None,
        )
        model: Any = self.model
        if self._prepared is None:
            self._prepared = model.prepare_book(self.table, as_of=self.step.market.as_of)
        result = model.margin_book(book, prepared=self._prepared)
        return (np.asarray(result.initial_margin_usd, dtype=np.float64), np.asarray(result.maintenance_margin_usd, dtype=np.float64),
                np.asarray(result.equity_usd, dtype=np.float64))

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
    """A model of the :class:`~marginlab.margin.base.BookMarginModel` protocol in a configuration it vectorises, whose
    ``margin_book`` is the book case of its own ``margin``: a subclass that overrides ``margin`` but not ``margin_book``
    is margined account by account, unless it declares (``book_rules_path = True`` in its own class body) that it only
    adds validation (e.g. ``calibrated-cross`` refusing options)."""
    if not (isinstance(model, BookMarginModel) and bool(model.book_vectorised)):
        return False
    mro = type(model).__mro__
    margin_owner = next(c for c in mro if "margin" in vars(c))
    book_owner = next(c for c in mro if "margin_book" in vars(c))
    return issubclass(book_owner, margin_owner) or bool(vars(type(model)).get("book_rules_path", False))


def is_vectorised(model: MarginModel) -> bool:
    """True when the book engine margins ``model`` in vectorised calls: every model of the
    :class:`~marginlab.margin.base.BookMarginModel` protocol (risk-matrix presets, FHS, OKX PM, SPAN, isolated
    and cross rule sets, the flat rate) in a configuration it vectorises; other models run account by account
    inside the book engine (same results, per-account speed).

    >>> from marginlab.margin.presets import get_model
    >>> [is_vectorised(get_model(name)) for name in ("deribit-pm", "hyperliquid-cross", "fhs-var", "okx-pm", "span-example")]
    [True, True, True, True, True]
    """
    return _margins_books(model)


def book_margin(model: MarginModel, accounts: Sequence[Account], market: MarketSnapshot) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Initial margin, maintenance margin and model equity of every account, vectorised where the model allows.

    >>> from marginlab.margin.flat import FlatRateModel
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

