"""The positions book: many accounts' positions as columns over one instrument table.

:class:`Book`
    ``account``, ``instrument``, ``quantity`` and the mark-to-market ``mtm_usd`` per position
    (sorted by account, duplicates merged), ``cash_usd`` and the price of each account's stable
    coin; :meth:`Book.from_accounts` builds it from :class:`~marginlab.account.Account` objects
    at a market snapshot (collateral, coin-margined accounts and inverse contracts included).
:func:`book_scenario_pnl`
    Plain P&L of every account under arbitrary scenarios (a sparse product).

This module is on the low floor of the package: it imports nothing from ``margin``,
``analysis`` or ``calibration``.

>>> from marginlab.book import Book, InstrumentTable, PERPETUAL
>>> table = InstrumentTable.build(["BTC-PERP"], [PERPETUAL], ["BTC"], price_usd=[100_000.0])
>>> book = Book.build(table, account=[0, 0, 1], instrument=[0, 0, 0], quantity=[1.0, 0.5, -2.0])
>>> book.n_accounts, book.quantity.tolist()      # the two rows of account 0 are merged
(2, [1.5, -2.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from marginlab.account import Account
from marginlab.book.instruments import InstrumentTable, revalue_instruments
from marginlab.book.kinds import FUTURE, OPTION, PERPETUAL, SPOT, STATIC
from marginlab.exceptions import InputError
from marginlab.instruments import Future, Option, Perpetual, Spot
from marginlab.market import SECONDS_PER_YEAR, MarketSnapshot
from marginlab.valuation import inverse_pnl_usd, net_positions

__all__ = ["Book", "book_scenario_pnl"]


@dataclass(frozen=True)
class Book:
    """Columnar positions of many accounts over one :class:`InstrumentTable`.

    Positions are sorted by account and merged per (account, instrument) at construction, so
    splitting a position into pieces never changes a margin.

    Parameters
    ----------
    instruments : InstrumentTable
    account : array of int
        Account index (0 .. n_accounts - 1) of each position.
    instrument : array of int
        Row of ``instruments``.
    quantity : array
        Signed quantity (units of the underlying / contracts; collateral in token units).
    mtm_usd : array, optional
        Mark-to-market each position adds to equity (default ``quantity * unit value`` for
        spot, options and collateral; zero, i.e. entered at the mark, for perpetuals and futures).
    cash_usd : array, optional
        Cash per account.
    stable_price : array, optional
        Price of the stable coin each account is denominated in (depeg add-on; default 1).
    account_ids : sequence of str, optional

    The rows given to :meth:`build` are kept as ``source_row`` (their merged row),
    ``source_quantity`` and ``source_mtm_usd``, so that per-position explanation tables can be
    rebuilt from the merged (netted) book.
    """

    instruments: InstrumentTable
    account: NDArray[np.int64]
    instrument: NDArray[np.int64]
    quantity: NDArray[np.float64]
    mtm_usd: NDArray[np.float64]
    cash_usd: NDArray[np.float64]
    stable_price: NDArray[np.float64]
    account_ids: tuple[str, ...]
    source_row: NDArray[np.int64] | None = None
    source_quantity: NDArray[np.float64] | None = None
    source_mtm_usd: NDArray[np.float64] | None = None

    @classmethod
    def build(
        cls,
        instruments: InstrumentTable,
        account: ArrayLike,
        instrument: ArrayLike,
        quantity: ArrayLike,
        *,
        mtm_usd: ArrayLike | None = None,
        cash_usd: ArrayLike | None = None,
        stable_price: ArrayLike | None = None,
        account_ids: Sequence[str] | None = None,
        n_accounts: int | None = None,
    ) -> "Book":
        """Validate, sort by account and merge duplicate (account, instrument) positions."""
        acc = np.asarray(account, dtype=np.int64).reshape(-1)
        inst = np.asarray(instrument, dtype=np.int64).reshape(-1)
        qty = np.asarray(quantity, dtype=np.float64).reshape(-1)
        if not (len(acc) == len(inst) == len(qty)):
            raise InputError("quantity", len(qty), "account, instrument and quantity must have the same length")
        if np.any(~np.isfinite(qty)):
            i = int(np.argmax(~np.isfinite(qty)))
            raise InputError(f"quantity[{i}]", float(qty[i]), "must be finite")
        if len(inst) and (inst.min() < 0 or inst.max() >= len(instruments)):
            raise InputError("instrument", int(inst.max()), f"must index the instrument table (size {len(instruments)})")
        count = int(n_accounts if n_accounts is not None else (len(account_ids) if account_ids is not None else (acc.max() + 1 if len(acc) else 0)))
        if len(acc) and (acc.min() < 0 or acc.max() >= count):
            raise InputError("account", int(acc.max()), f"must be in [0, {count})")
        if mtm_usd is None:
            unit = revalue_instruments(instruments, np.ones(1), np.ones(1))[:, 0]
            linear = np.isin(instruments.kind, (PERPETUAL, FUTURE))
            mtm = np.where(linear[inst], 0.0, qty * unit[inst]) if len(inst) else np.zeros(0)
        else:
            mtm = np.asarray(mtm_usd, dtype=np.float64).reshape(-1)
        key = acc * np.int64(len(instruments)) + inst
        keys, where = np.unique(key, return_inverse=True)
        merged_qty = np.bincount(where, weights=qty, minlength=len(keys)).astype(np.float64)
        merged_mtm = np.bincount(where, weights=mtm, minlength=len(keys)).astype(np.float64)
        cash = _vector(cash_usd, count, 0.0, "cash_usd")
        stable = _vector(stable_price, count, 1.0, "stable_price")
        ids = tuple(account_ids) if account_ids is not None else tuple(str(i) for i in range(count))
        return cls(instruments, keys // len(instruments) if len(instruments) else keys, keys % max(len(instruments), 1), merged_qty, merged_mtm, cash, stable, ids,
                   where.reshape(-1).astype(np.int64), qty, mtm)

    @property
    def n_accounts(self) -> int:
        return len(self.cash_usd)

    def __len__(self) -> int:
        return len(self.quantity)

    @classmethod
    def from_accounts(cls, accounts: Sequence[Account], market: MarketSnapshot, *, stable_asset: str | None = None) -> "Book":
        """Columnar book of ordinary :class:`~marginlab.account.Account` objects at ``market``.

        Collateral balances become :data:`STATIC` instruments valued at the market index
        (``USD`` at 1); futures and options use the snapshot's forwards and vols and
        ``market.rate``; perpetuals and futures with an entry price carry their unrealised
        P&L as mark-to-market. ``stable_asset`` (e.g. ``"USDC"``) sets each account's stable
        price for the depeg add-on.

        Inverse perpetuals and futures (USD face value ``f``, entry ``E``, mark ``F``, index ``S``)
        become linear rows whose scenario P&L is exactly the inverse one when index and mark move
        together: ``f S / (E F)`` coins for a USD account (whose USD P&L ``f (1/E - 1/F x) S x``
        is linear in ``x``) and ``f S / F^2`` for a coin-margined account (coin P&L
        ``f (1/F - 1/F x)``, its unrealised coin P&L staying constant in coin). Positions of
        coin-margined accounts (``Account.margin_currency``, e.g. ``"BTC"``) are separate rows
        ``"<symbol>@<coin>"`` revalued in that coin (:func:`to_numeraire`); the coin's own collateral
        is a spot row (constant in coin) and USD cash a static row ``collateral:USD@<coin>`` in the
        coin's risk unit (it gains in coin when the coin falls).
        """
        rows: dict[str, int] = {}
        table: dict[str, list[Any]] = {k: [] for k in ("symbol", "kind", "asset", "price", "index", "forward", "strike", "seconds", "vol", "call", "numeraire")}
        numeraire: str | None = None

        def add(symbol: str, kind: int, asset: str, price: float, index: float, forward=np.nan, strike=np.nan, seconds=0.0, vol=0.0, call=False) -> int:  # type: ignore[no-untyped-def]
            if numeraire is not None:
                symbol = f"{symbol}@{numeraire}"
            if symbol not in rows:
                rows[symbol] = len(table["symbol"])
                for name, value in zip(table, (symbol, kind, asset, price, index, forward, strike, seconds, vol, call, numeraire)):
                    table[name].append(value)
            return rows[symbol]

        def row_of(instrument: Any) -> int:
            asset = instrument.underlying
            index = market.index_usd(asset)
            if isinstance(instrument, Perpetual):
                return add(instrument.symbol, PERPETUAL, asset, market.perpetual_usd(asset), index)
            if isinstance(instrument, Spot):
                return add(instrument.symbol, SPOT, asset, index, index)
            if isinstance(instrument, Future | Option):
                seconds = market.time_to_expiry_years(instrument.expiry) * SECONDS_PER_YEAR
                forward = market.forward_usd(asset, instrument.expiry)
                if isinstance(instrument, Option):
                    vol = market.vol(asset, instrument.expiry, instrument.strike_usd)
                    return add(instrument.symbol, OPTION, asset, np.nan, index, forward, instrument.strike_usd, seconds, vol, instrument.is_call)
                return add(instrument.symbol, FUTURE, asset, np.nan, index, forward, np.nan, seconds)
            raise InputError("instrument", instrument, "unsupported instrument kind")  # pragma: no cover

        # identical instruments are looked up once per book (and per numeraire); a large account is
        # grouped on arrays first (valuation.net_positions)
        known: dict[tuple[Any, str | None], int] = {}

        def row_for(instrument: Any) -> int:
            key = (instrument, numeraire)
            row = known.get(key)
            if row is None:
                row = known[key] = row_of(instrument)
            return row

        account_index: list[int] = []
        instrument_index: list[int] = []
        quantity: list[float] = []
        entry: list[float] = []
        inverse_mtm: dict[int, float] = {}  # position number -> USD mark-to-market of an inverse contract
        cash = np.zeros(len(accounts))
        for a, account in enumerate(accounts):
            cash[a] = account.cash_usd
            numeraire = account.margin_currency if getattr(account, "is_coin_margined", False) else None
            if numeraire is not None and numeraire not in account.collateral:
                price = market.index_usd(numeraire)  # the coin must be an asset of the table
                account_index.append(a)
                instrument_index.append(add(f"collateral:{numeraire}", SPOT, numeraire, price, price))
                quantity.append(0.0)
                entry.append(np.nan)
            if numeraire is not None and account.cash_usd != 0.0:
                # USD cash of a coin account is a position in coin terms (worth more coins when the coin falls)
                cash[a] = 0.0
                account_index.append(a)
                instrument_index.append(add("collateral:USD", STATIC, numeraire, 1.0, 1.0))  # in the coin's risk unit
                quantity.append(account.cash_usd)
                entry.append(np.nan)
            positions = account.positions
            if len(positions) > 64:
                netted = net_positions(positions)
                distinct: Sequence[Any] = netted.instruments
                position_rows = np.array([row_for(i) for i in distinct], dtype=np.int64)[netted.group].tolist()
            else:
                distinct = [p.instrument for p in positions]
                position_rows = [row_for(i) for i in distinct]
            if not any(isinstance(i, Perpetual | Future) and i.is_inverse for i in distinct):
                account_index.extend([a] * len(positions))
                instrument_index.extend(position_rows)
                quantity.extend(p.quantity for p in positions)
                entry.extend(np.nan if p.entry_price_usd is None else p.entry_price_usd for p in positions)
            else:
                for position, row in zip(positions, position_rows):
                    instrument = position.instrument
                    account_index.append(a)
                    instrument_index.append(row)
                    if isinstance(instrument, Perpetual | Future) and instrument.is_inverse:
                        index = market.index_usd(instrument.underlying)
                        mark = table["price"][row] if isinstance(instrument, Perpetual) else table["forward"][row]
                        entered = mark if position.entry_price_usd is None else position.entry_price_usd
                        inverse_mtm[len(quantity)] = float(inverse_pnl_usd(position.quantity, entered, mark, index))
                        quantity.append(position.quantity * index / ((mark if numeraire is not None else entered) * mark))
                        entry.append(np.nan)
                        continue
                    quantity.append(position.quantity)
                    entry.append(np.nan if position.entry_price_usd is None else position.entry_price_usd)
            for asset, amount in account.collateral.items():
                price = 1.0 if asset == "USD" else market.index_usd(asset)
                # a coin account's own coin is a SPOT row: constant in coin, its USD value moving with the coin
                row = add(f"collateral:{asset}", SPOT if asset == numeraire else STATIC, asset, price, price)
                account_index.append(a)
                instrument_index.append(row)
                quantity.append(float(amount))
                entry.append(np.nan)
        instruments = InstrumentTable.build(
            table["symbol"], table["kind"], table["asset"], price_usd=table["price"], index_usd=table["index"],
            forward_usd=table["forward"], strike_usd=table["strike"], seconds=table["seconds"], vol=table["vol"],
            rate=np.full(len(table["symbol"]), market.rate), is_call=table["call"], numeraire=table["numeraire"],
        )
        inst = np.asarray(instrument_index, dtype=np.int64)
        qty = np.asarray(quantity, dtype=np.float64)
        unit = revalue_instruments(instruments, np.ones(1), np.ones(1))[:, 0] if len(inst) else np.zeros(0)
        mtm = qty * unit[inst] if len(inst) else np.zeros(0)
        entry_ = np.asarray(entry, dtype=np.float64)
        linear = np.isin(instruments.kind[inst], (PERPETUAL, FUTURE)) if len(inst) else np.zeros(0, dtype=bool)
        mtm = np.where(linear, np.where(np.isnan(entry_), 0.0, qty * (unit[inst] - np.nan_to_num(entry_))), mtm) if len(inst) else mtm
        for position_number, value in inverse_mtm.items():
            mtm[position_number] = value
        stable = None
        if stable_asset is not None:
            stable = np.full(len(accounts), market.index_usd(stable_asset))
        return cls.build(instruments, account_index, inst, qty, mtm_usd=mtm, cash_usd=cash, stable_price=stable,
                         account_ids=[a.account_id or str(i) for i, a in enumerate(accounts)])


def _vector(values: ArrayLike | None, n: int, default: float, name: str) -> NDArray[np.float64]:
    if values is None:
        return np.full(n, default)
    out = np.asarray(values, dtype=np.float64).reshape(-1)
    if out.shape == (1,) and n != 1:
        out = np.full(n, out[0])
    if out.shape != (n,) or np.any(~np.isfinite(out)):
        raise InputError(name, values, f"must be {n} finite values (one per account)")
    return out


def book_scenario_pnl(book: Book, spot_multipliers: ArrayLike, vol_multipliers: ArrayLike, **kwargs: Any) -> NDArray[np.float64]:
    """P&L of every account under arbitrary (spot, vol) multiplier scenarios, shape (n_accounts, n_scenarios).

    Plain revaluation (no static discounts, contingencies or dampening):
    ``sum over positions of quantity * (value(scenario) - value(unshocked))``, aggregated with a
    sparse matrix product. Keyword arguments go to :func:`revalue_instruments`.
    """
    values = revalue_instruments(book.instruments, spot_multipliers, vol_multipliers, **kwargs)
    base = revalue_instruments(book.instruments, np.ones(1), np.ones(1), **kwargs)[:, 0]
    matrix = sparse.csr_matrix((book.quantity, (book.account, book.instrument)), shape=(book.n_accounts, len(book.instruments)))
    return np.asarray(matrix @ (values - base[:, None]))
