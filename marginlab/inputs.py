"""Whole-input checks that commands run before any work or write.

The loaders (:mod:`marginlab.account`, :mod:`marginlab.market`, :mod:`marginlab.fileio`) check each
file on its own: types, finite numbers, known fields, dates. What only the combination of inputs
can show -- an option that has expired by the scenario's first step, an underlying or collateral
asset the market does not price, an expiry without a volatility, an ``--end`` date after the last
day of data -- is checked here, so that a command that writes (``stress-test --out``,
``backtest --rates-out``, ``calibrate --out``) fails in one line *before* it computes or writes
anything, instead of settling, skipping or extrapolating silently.

Every function raises an error of :mod:`marginlab.exceptions` whose message names the field
(``accounts[2].positions[0].symbol``, ``--end``) and the value.

>>> from marginlab.account import Account
>>> from marginlab.market import MarketSnapshot
>>> from marginlab.inputs import validate_book
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
>>> book = [Account.from_dict({"account_id": "a", "positions": [{"symbol": "BTC-20250110-90000-C", "quantity": 1}]})]
>>> validate_book(book, market)
Traceback (most recent call last):
...
marginlab.exceptions.ExpiredInstrumentError: accounts[0].positions[0].symbol='BTC-20250110-90000-C': expired at 2025-01-10T08:00:00+00:00, not after as_of=2025-01-15T08:00:00+00:00 (account 'a')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from marginlab.account import MAX_LEVERAGE, Account
from marginlab.exceptions import (
    EmptyPortfolioError,
    ExpiredInstrumentError,
    InputError,
    MarginLabError,
    MissingMarketDataError,
    UnknownAssetError,
)
from marginlab.instruments import Option
from marginlab.market import MarketSnapshot

__all__ = ["check_data_range", "parse_day", "validate_book"]

#: Collateral balances in these currencies need no market price (USD cash is 1 USD).
_CASH = frozenset({"USD"})


def validate_book(accounts: Sequence[Account], market: MarketSnapshot, *, require_positions: bool = False) -> None:
    """Check a book of accounts against the market its first step is valued at, before any work.

    Parameters
    ----------
    accounts : sequence of Account
        The book (at least one account).
    market : MarketSnapshot
        The market of the first step (for a stress replay: the scenario path's first snapshot with the
        book's expiries).
    require_positions : bool, default False
        Also reject an account that holds no position.

    Raises
    ------
    EmptyPortfolioError
        An empty book (or, with ``require_positions``, an account without positions).
    InputError
        Two accounts with one ``account_id``; a leverage outside ``[1, MAX_LEVERAGE]``.
    UnknownAssetError
        A position's underlying or a collateral asset the market does not price.
    ExpiredInstrumentError
        An option or future that has expired at ``market.as_of``.
    MissingMarketDataError
        An option whose expiry has no implied volatility in the market.

    Examples
    --------
    >>> from marginlab.account import Account
    >>> from marginlab.market import MarketSnapshot
    >>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
    >>> validate_book([Account.from_dict({"positions": [{"symbol": "BTC-PERPETUAL", "quantity": 1}]})], market)
    >>> validate_book([Account.from_dict({"collateral": {"XYZ": 1.0}})], market)
    Traceback (most recent call last):
    ...
    marginlab.exceptions.UnknownAssetError: accounts[0].collateral='XYZ': not priced by the market (known: BTC) (account 'account')
    """
    accounts = tuple(accounts)
    if not accounts:
        raise EmptyPortfolioError("accounts", [], "the book holds no account")
    known = sorted(market.assets)
    seen: dict[str, int] = {}
    for i, account in enumerate(accounts):
        if not isinstance(account, Account):
            raise InputError(f"accounts[{i}]", type(account).__name__, "must be an Account")
        who = f"(account {account.account_id!r})"
        if account.account_id in seen:
            raise InputError(f"accounts[{i}].account_id", account.account_id, f"already used by accounts[{seen[account.account_id]}]")
        seen[account.account_id] = i
        if require_positions and not account.positions:
            raise EmptyPortfolioError(f"accounts[{i}].positions", [], f"holds no position {who}")
        for asset in account.collateral:
            if asset not in _CASH and asset not in market.assets:
                raise UnknownAssetError(f"accounts[{i}].collateral", asset, f"not priced by the market (known: {', '.join(known)}) {who}")
        for j, position in enumerate(account.positions):
            field = f"accounts[{i}].positions[{j}]"
            instrument = position.instrument
            if position.underlying not in market.assets:
                raise UnknownAssetError(f"{field}.symbol", position.symbol,
                                        f"underlying {position.underlying} not priced by the market (known: {', '.join(known)}) {who}")
            leverage = position.leverage
            if leverage is not None and not (math.isfinite(leverage) and 1.0 <= leverage <= MAX_LEVERAGE):
                raise InputError(f"{field}.leverage", leverage, f"must lie in [1, {MAX_LEVERAGE:g}] {who}")
            expiry = getattr(instrument, "expiry", None)
            if expiry is None:
                continue
            if expiry <= market.as_of:
                raise ExpiredInstrumentError(f"{field}.symbol", position.symbol,
                                             f"expired at {expiry.isoformat()}, not after as_of={market.as_of.isoformat()} {who}")
            if isinstance(instrument, Option):
                try:
                    market.smile(position.underlying, expiry)
                except MissingMarketDataError:
                    raise MissingMarketDataError(f"{field}.symbol", position.symbol,
                                                 f"the market has no implied volatility for {position.underlying} {expiry:%Y-%m-%d} {who}") from None


def parse_day(value: Any, field: str = "--asof") -> pd.Timestamp:
    """A date ``YYYY-MM-DD`` (or ISO timestamp) as a UTC :class:`pandas.Timestamp`.

    >>> parse_day("2025-02-10")
    Timestamp('2025-02-10 00:00:00+0000', tz='UTC')
    >>> parse_day("2025-02-30", "--end")
    Traceback (most recent call last):
    ...
    marginlab.exceptions.InputError: --end='2025-02-30': not a valid date; expected YYYY-MM-DD
    """
    if isinstance(value, bool) or not isinstance(value, str | pd.Timestamp) and not hasattr(value, "isoformat"):
        raise InputError(field, value, "not a valid date; expected YYYY-MM-DD")
    text = value.strip() if isinstance(value, str) else value
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        raise InputError(field, value, "not a valid date; expected YYYY-MM-DD") from None
    if stamp is pd.NaT or pd.isna(stamp):
        raise InputError(field, value, "not a valid date; expected YYYY-MM-DD")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _day(value: Any, field: str) -> pd.Timestamp:
    return parse_day(value, field).normalize()


def check_data_range(assets: Iterable[str], *, start: Any = None, end: Any = None,
                     start_field: str = "--start", end_field: str = "--end", assets_field: str = "--assets") -> None:
    """Check that each asset has daily data, that ``start``/``end`` are dates and that the data reaches them.

    An ``end`` after the last day of an asset's data would silently mean "all the data" (a rate
    file dated in the future); a ``start`` after it leaves nothing to report.

    Parameters
    ----------
    assets : iterable of str
        Assets of the package data (:func:`marginlab.data.load_daily`).
    start, end : date-like, optional
        First reported day and last day of data used (``YYYY-MM-DD``).
    start_field, end_field, assets_field : str
        Names of the options, for the error message.

    Raises
    ------
    InputError
        An asset without daily data, a value that is not a date, ``start`` after ``end``, or a date after an
        asset's last day of data.

    Examples
    --------
    >>> check_data_range(["BTC"], end="2030-01-01")
    Traceback (most recent call last):
    ...
    marginlab.exceptions.InputError: --end='2030-01-01': is after the last day of data of BTC (2025-09-24)
    """
    first = None if start is None else _day(start, start_field)
    last = None if end is None else _day(end, end_field)
    if first is not None and last is not None and first > last:
        raise InputError(start_field, start, f"is after {end_field}={end}")
    from marginlab.data import load_daily

    for asset in dict.fromkeys(assets):
        try:
            index = load_daily(asset).index
        except MarginLabError:
            raise InputError(assets_field, asset, "has no daily price data (see 'marginlab data list')") from None
        if not len(index):
            continue
        final = pd.Timestamp(index[-1])
        final = final.tz_localize("UTC") if final.tzinfo is None else final.tz_convert("UTC")
        for value, stamp, field in ((end, last, end_field), (start, first, start_field)):
            if stamp is not None and stamp > final.normalize():
                raise InputError(field, value, f"is after the last day of data of {asset} ({final:%Y-%m-%d})")
