"""Instruments and positions.

Four instrument kinds cover the products the margin models handle:

* :class:`Spot` -- the asset itself (long spot is collateral-like; short spot is a borrow);
* :class:`Perpetual` -- a perpetual swap, linear or inverse;
* :class:`Future` -- a dated future, linear or inverse;
* :class:`Option` -- a European option on the underlying's forward, linear or coin-settled.

Settlement
----------
Every derivative has a ``settlement`` currency:

* ``"USD"`` (default), ``"USDC"``, ``"USDT"`` -- **linear**: quantity in coins, P&L
  ``q (exit - entry)`` in the settlement currency (stablecoin P&L is counted 1:1 in USD; a
  depeg acts through the stablecoin collateral balance);
* the underlying itself (``"BTC"``) -- **inverse** perpetuals and futures and **coin-settled**
  options, as Deribit lists them. An inverse contract has a USD face value (Deribit: 10 USD
  per BTC contract, 1 USD per ETH contract), its quantity is that **face value in USD**, and
  its P&L is paid in coin: ``face * (1/entry - 1/exit)`` (Deribit, "Contract
  Specifications -- BTC Futures", https://legacy.deribit.com/pages/docs/futures, read
  2026-12-01: "1 USD per Index Point, with contract size USD 10 ... Cash settlement in
  BTC"). A coin-settled option's quantity is in coins, it is quoted in coin and pays
  ``max(S - K, 0) / S`` coins (call).

Symbol grammar
--------------
:func:`parse_symbol` reads the package's own names and the venues' real ones; every
instrument's ``symbol`` reads back to it (``deribit_symbol`` gives Deribit's listing name).

=================================  ==========================  ===================================
symbol                             instrument                  settlement
=================================  ==========================  ===================================
``BTC`` / ``BTC_USDC``             spot                        --
``BTC-PERPETUAL`` (``-PERP``)      perpetual                   USD linear (Deribit convention:
                                                               inverse, see below)
``BTC-20250328``                   future, 08:00 UTC           USD linear
``BTC-20250328-100000-C``          option (``-P`` put)         USD linear
``BTC_USDC-PERPETUAL``             perpetual                   USDC linear (Deribit's name)
``ETH_USDC-28MAR25``               future                      USDC linear (Deribit's name)
``BTC_USDC-28MAR25-100000-C``      option                      USDC linear (Deribit's name)
``BTC-28MAR25``                    future                      BTC, **inverse** (Deribit's name)
``BTC-28MAR25-100000-C``           option                      BTC, **coin-settled** (Deribit)
``BTC-PERPETUAL:BTC``              perpetual                   BTC, inverse (explicit suffix)
``BTC-20250328:BTC``               future                      BTC, inverse (canonical form)
``BTC-20250328-100000-C:BTC``      option                      BTC, coin-settled (canonical)
=================================  ==========================  ===================================

Rules: a ``_QUOTE`` after the coin or a ``:SETTLEMENT`` tail states the settlement explicitly
(they must agree when both are given). Otherwise a date written Deribit's way (``DMMMYY``,
``28MAR25`` or ``7MAR25``) means Deribit's convention -- a bare coin is inverse / coin-settled.
``BTC-PERPETUAL`` is the one name both grammars use: it stays USD-linear by default (the
package's historical meaning, kept for backward compatibility) and reads as Deribit's inverse
perpetual with ``parse_symbol(..., convention="deribit")``. Deribit's fractional strikes
(``2d2``) are accepted. Dated contracts expire at 08:00 UTC.

Quantities are signed (positive is long): coins for spot, linear contracts and options
(1 option = the right on one coin), USD face value for inverse perpetuals and futures.

>>> from marginlab.instruments import parse_symbol
>>> parse_symbol("BTC-20250328-100000-C")
Option(underlying='BTC', expiry=datetime.datetime(2025, 3, 28, 8, 0, tzinfo=datetime.timezone.utc), strike_usd=100000.0, option_type='call', settlement='USD')
>>> parse_symbol("ETH-PERPETUAL").symbol
'ETH-PERPETUAL'
>>> parse_symbol("BTC-28MAR25-100000-C").symbol, parse_symbol("BTC-PERPETUAL", "deribit").symbol
('BTC-20250328-100000-C:BTC', 'BTC-PERPETUAL:BTC')
>>> parse_symbol("BTC-20250328-100000-C:BTC").deribit_symbol
'BTC-28MAR25-100000-C'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Literal, Union

import numpy as np

from marginlab.exceptions import InputError

#: Hour of day (UTC) at which dated contracts expire when a symbol gives only the date.
DEFAULT_EXPIRY_HOUR_UTC = 8

_ASSET_PATTERN = re.compile(r"^[A-Z0-9]{2,10}$")

#: Settlement currencies of linear contracts (P&L counted 1:1 in USD); any other settlement
#: must be the contract's own underlying (inverse / coin-settled).
LINEAR_SETTLEMENTS = frozenset({"USD", "USDC", "USDT"})

#: How :func:`parse_symbol` reads a bare-coin derivative symbol that states no settlement.
SymbolConvention = Literal["marginlab", "deribit"]

#: USD face value of one Deribit inverse contract, for converting a count of contracts
#: (Deribit "Contract Specifications": BTC futures contract size USD 10; ETH USD 1).
DERIBIT_CONTRACT_SIZE_USD = {"BTC": 10.0, "ETH": 1.0}

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DERIBIT_DATE = re.compile(r"(\d{1,2})([A-Z]{3})(\d{2})")


def _check_asset(field_name: str, asset: str) -> str:
    if not isinstance(asset, str) or not _ASSET_PATTERN.match(asset):
        raise InputError(field_name, asset, "must be an upper-case asset code such as 'BTC'")
    return asset


def to_float(field_name: str, value: object) -> float:
    """``float(value)``, raising :class:`InputError` naming ``field_name`` for non-numbers.

    >>> to_float("quantity", "2.5")
    2.5
    """
    if isinstance(value, bool):
        raise InputError(field_name, value, "must be a number, not a boolean")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(field_name, value, "must be a number") from None


def _strike_text(strike: float) -> str:
    """Shortest exact positional text of a strike (``100000``, ``0.35``, ``123456.7``)."""
    return np.format_float_positional(strike, trim="-")


def to_utc(value: datetime | str, field_name: str = "expiry") -> datetime:
    """Return ``value`` as a timezone-aware UTC datetime.

    Accepts a datetime (naive values are taken as UTC), an ISO-8601 string, or a compact
    ``YYYYMMDD`` date (which expires at :data:`DEFAULT_EXPIRY_HOUR_UTC`).

    >>> to_utc("20250328")
    datetime.datetime(2025, 3, 28, 8, 0, tzinfo=datetime.timezone.utc)
    """
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{8}", text):
            try:
                parsed = datetime.strptime(text, "%Y%m%d").replace(hour=DEFAULT_EXPIRY_HOUR_UTC)
            except ValueError as error:
                raise InputError(field_name, value, f"is not a calendar date ({error})") from None
        else:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as error:
                raise InputError(field_name, value, "is not an ISO-8601 time") from error
            if len(text) == 10:  # a bare date: contracts expire at the default hour
                parsed = datetime.combine(parsed.date(), time(DEFAULT_EXPIRY_HOUR_UTC))
        value = parsed
    if not isinstance(value, datetime):
        # pandas.Timestamp is a datetime subclass; dates and others are rejected
        raise InputError(field_name, value, "must be a datetime or an ISO-8601 string")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Spot:
    """The asset itself, e.g. one BTC.

    Parameters
    ----------
    underlying : str
        The asset, e.g. ``"BTC"``.
    """

    underlying: str

    def __post_init__(self) -> None:
        _check_asset("underlying", self.underlying)

    kind = "spot"
    settlement = "USD"  # spot is valued at the index in USD
    is_inverse = False

    @property
    def symbol(self) -> str:
        return self.underlying


def _check_settlement(underlying: str, settlement: str) -> str:
    """``settlement`` upper-cased: USD, a linear stablecoin or the underlying itself (inverse)."""
    if not isinstance(settlement, str):
        raise InputError("settlement", settlement, "must be an asset code such as 'USD', 'USDC' or the underlying")
    code = settlement.strip().upper()
    if code not in LINEAR_SETTLEMENTS and code != underlying:
        raise InputError(
            "settlement",
            settlement,
            f"must be one of {sorted(LINEAR_SETTLEMENTS)} (linear) or the underlying {underlying!r} (inverse / coin-settled); "
            "quanto contracts are not modelled",
        )
    return code


def _settlement_prefix(underlying: str, settlement: str) -> str:
    """``BTC`` (USD), ``BTC_USDC`` (stablecoin): the head of a canonical symbol."""
    return underlying if settlement in ("USD", underlying) else f"{underlying}_{settlement}"


def _settlement_suffix(underlying: str, settlement: str) -> str:
    """``:BTC`` for an inverse / coin-settled contract, empty otherwise."""
    return f":{settlement}" if settlement == underlying else ""


def deribit_date(expiry: datetime) -> str:
    """Deribit's expiry code ``DMMMYY`` (day without a leading zero): ``28MAR25``, ``7MAR25``.

    >>> deribit_date(datetime(2025, 3, 7, 8, tzinfo=UTC))
    '7MAR25'
    """
    return f"{expiry.day}{_MONTHS[expiry.month - 1]}{expiry.year % 100:02d}"


def _parse_deribit_date(text: str) -> datetime | None:
    """``28MAR25`` -> 2025-03-28 08:00 UTC; ``None`` when ``text`` is not in that form."""
    match = _DERIBIT_DATE.fullmatch(text)
    if match is None:
        return None
    day, month, year = match.groups()
    if month not in _MONTHS:
        raise InputError("symbol", text, f"has an unknown month {month!r} (expected one of {', '.join(_MONTHS)})")
    try:
        return datetime(2000 + int(year), _MONTHS.index(month) + 1, int(day), DEFAULT_EXPIRY_HOUR_UTC, tzinfo=UTC)
    except ValueError as error:
        raise InputError("symbol", text, f"is not a calendar date ({error})") from None


@dataclass(frozen=True)
class Perpetual:
    """A perpetual swap on ``underlying``.

    Parameters
    ----------
    underlying : str
    settlement : str, default "USD"
        ``"USD"``, ``"USDC"`` or ``"USDT"``: linear, quantity in coins, P&L in the settlement
        currency ``q (exit - entry)``; the underlying itself (``"BTC"``): **inverse** (Deribit's
        ``BTC-PERPETUAL``), quantity = USD face value, P&L in coin ``face (1/entry - 1/exit)``.
    """

    underlying: str
    settlement: str = "USD"

    def __post_init__(self) -> None:
        _check_asset("underlying", self.underlying)
        object.__setattr__(self, "settlement", _check_settlement(self.underlying, self.settlement))

    kind = "perpetual"

    @property
    def is_inverse(self) -> bool:
        """True when settled in the underlying coin (USD face value, P&L in coin)."""
        return self.settlement == self.underlying

    @property
    def symbol(self) -> str:
        return f"{_settlement_prefix(self.underlying, self.settlement)}-PERPETUAL{_settlement_suffix(self.underlying, self.settlement)}"

    @property
    def deribit_symbol(self) -> str:
        """The name Deribit lists: ``BTC-PERPETUAL`` (inverse), ``BTC_USDC-PERPETUAL`` (linear USDC)."""
        return f"{_deribit_prefix(self)}-PERPETUAL"


@dataclass(frozen=True)
class Future:
    """A dated future on ``underlying`` expiring at ``expiry`` (UTC).

    ``settlement`` as for :class:`Perpetual`: linear (USD/USDC/USDT, quantity in coins) or
    inverse (the underlying, quantity = USD face value, Deribit's ``BTC-28MAR25``).

    Parameters
    ----------
    underlying : str
        The asset, e.g. ``"BTC"``.
    expiry : datetime or str
        The expiry (UTC).
    settlement : str
        ``"USD"``, ``"USDC"``, ``"USDT"`` (linear) or the underlying (inverse).
    """

    underlying: str
    expiry: datetime
    settlement: str = "USD"

    def __post_init__(self) -> None:
        _check_asset("underlying", self.underlying)
        object.__setattr__(self, "expiry", to_utc(self.expiry))
        object.__setattr__(self, "settlement", _check_settlement(self.underlying, self.settlement))

    kind = "future"

    @property
    def is_inverse(self) -> bool:
        """True when settled in the underlying coin (USD face value, P&L in coin)."""
        return self.settlement == self.underlying

    @property
    def symbol(self) -> str:
        prefix = _settlement_prefix(self.underlying, self.settlement)
        return f"{prefix}-{self.expiry:%Y%m%d}{_settlement_suffix(self.underlying, self.settlement)}"

    @property
    def deribit_symbol(self) -> str:
        """``BTC-28MAR25`` (inverse) or ``BTC_USDC-28MAR25`` (linear USDC)."""
        return f"{_deribit_prefix(self)}-{deribit_date(self.expiry)}"


@dataclass(frozen=True)
class Option:
    """A European option on the forward of ``underlying``.

    Parameters
    ----------
    underlying : str
        Asset code, e.g. ``"BTC"``.
    expiry : datetime
        Expiry time in UTC.
    strike_usd : float
        Strike price in USD; must be positive and finite.
    option_type : {"call", "put"}
    settlement : str, default "USD"
        ``"USD"``/``"USDC"``/``"USDT"``: linear, pays ``max(S - K, 0)`` in that currency;
        the underlying (``"BTC"``): **coin-settled** like Deribit's ``BTC-28MAR25-100000-C``,
        quoted in coin and paying ``max(S - K, 0) / S`` coins. Its USD value is the same as the
        linear option's (the payoff converted at ``S`` is identical); what differs is the
        currency it is held and margined in. Quantity is in coins either way.
    """

    underlying: str
    expiry: datetime
    strike_usd: float
    option_type: Literal["call", "put"]
    settlement: str = "USD"

    def __post_init__(self) -> None:
        _check_asset("underlying", self.underlying)
        object.__setattr__(self, "expiry", to_utc(self.expiry))
        strike = to_float("strike_usd", self.strike_usd)
        if not math.isfinite(strike) or strike <= 0:
            raise InputError("strike_usd", self.strike_usd, "must be a positive finite number")
        object.__setattr__(self, "strike_usd", strike)
        if self.option_type not in ("call", "put"):
            raise InputError("option_type", self.option_type, "must be 'call' or 'put'")
        object.__setattr__(self, "settlement", _check_settlement(self.underlying, self.settlement))

    kind = "option"

    @property
    def is_call(self) -> bool:
        return self.option_type == "call"

    @property
    def is_inverse(self) -> bool:
        """True when coin-settled (quoted and paid in the underlying)."""
        return self.settlement == self.underlying

    @property
    def symbol(self) -> str:
        prefix = _settlement_prefix(self.underlying, self.settlement)
        suffix = _settlement_suffix(self.underlying, self.settlement)
        return f"{prefix}-{self.expiry:%Y%m%d}-{_strike_text(self.strike_usd)}-{'C' if self.is_call else 'P'}{suffix}"

    @property
    def deribit_symbol(self) -> str:
        """``BTC-28MAR25-100000-C`` (coin-settled) or ``BTC_USDC-28MAR25-100000-C`` (linear);
        Deribit writes a fractional strike with ``d`` (``XRP_USDC-30MAY25-2d2-C``)."""
        strike = _strike_text(self.strike_usd).replace(".", "d")
        return f"{_deribit_prefix(self)}-{deribit_date(self.expiry)}-{strike}-{'C' if self.is_call else 'P'}"


Instrument = Union[Spot, Perpetual, Future, Option]


def _deribit_prefix(instrument: Perpetual | Future | Option) -> str:
    # Deribit lists USDC-settled linear contracts; a USD-settled one is shown as its USDC twin.
    if instrument.is_inverse:
        return instrument.underlying
    settlement = "USDC" if instrument.settlement == "USD" else instrument.settlement
    return f"{instrument.underlying}_{settlement}"


def parse_symbol(symbol: str, convention: SymbolConvention = "marginlab") -> Instrument:
    """Read an instrument from its symbol (grammar in the module docstring).

    Parameters
    ----------
    symbol : str
        Case-insensitive.
    convention : {"marginlab", "deribit"}
        Settlement of a bare-coin derivative (``BTC-PERPETUAL``, ``BTC-20250328``) that states
        none: USD-linear under ``"marginlab"`` (the package's historical meaning), inverse /
        coin-settled under ``"deribit"``. A date in Deribit's form (``28MAR25``) always reads
        with Deribit's convention; an explicit ``_USDC`` head or ``:BTC`` tail always wins.

    Returns
    -------
    Spot, Perpetual, Future or Option
        The instrument the symbol names.

    Raises
    ------
    InputError
        Naming ``symbol`` and what is wrong with it.

    >>> parse_symbol("BTC-PERPETUAL").is_inverse, parse_symbol("BTC-PERPETUAL", "deribit").is_inverse
    (False, True)
    >>> parse_symbol("BTC-28MAR25").symbol
    'BTC-20250328:BTC'
    >>> parse_symbol("ETH_USDC-28MAR25-3500-P").settlement
    'USDC'
    """
    if not isinstance(symbol, str) or not symbol.strip():
        raise InputError("symbol", symbol, "must be a non-empty string")
    if convention not in ("marginlab", "deribit"):
        raise InputError("convention", convention, "must be 'marginlab' or 'deribit'")
    text = symbol.strip().upper()
    explicit: str | None = None
    if ":" in text:
        text, explicit = text.split(":", 1)
    parts = text.split("-")
    head = parts[0]
    quote: str | None = None
    if "_" in head:
        head, quote = head.split("_", 1)
    try:
        if explicit is not None and quote is not None and explicit != quote:
            raise InputError("symbol", symbol, f"names two settlements ({quote} and {explicit})")
        stated = explicit if explicit is not None else quote
        if len(parts) == 1:
            if explicit is not None:
                raise InputError("symbol", symbol, "a spot symbol has no settlement suffix")
            return Spot(head)
        date_text = parts[1]
        deribit_expiry = _parse_deribit_date(date_text) if date_text not in ("PERPETUAL", "PERP") else None
        coin_default = convention == "deribit" or deribit_expiry is not None
        settlement = stated if stated is not None else (head if coin_default else "USD")
        if len(parts) == 2 and date_text in ("PERPETUAL", "PERP"):
            return Perpetual(head, settlement)
        expiry = deribit_expiry if deribit_expiry is not None else to_utc(date_text, "symbol")
        if len(parts) == 2:
            return Future(head, expiry, settlement)
        if len(parts) == 4 and parts[3] in ("C", "P"):
            strike = float(parts[2].replace("D", "."))
            return Option(head, expiry, strike, "call" if parts[3] == "C" else "put", settlement)
    except (InputError, ValueError) as error:
        raise InputError("symbol", symbol, f"is not a valid instrument symbol ({error})") from error
    raise InputError(
        "symbol",
        symbol,
        "is not a valid instrument symbol; expected BTC, BTC-PERPETUAL, BTC-YYYYMMDD, BTC-YYYYMMDD-STRIKE-C/P, "
        "Deribit's BTC-28MAR25 / BTC_USDC-PERPETUAL forms, or a :BTC settlement suffix",
    )


@dataclass(frozen=True)
class Position:
    """A signed holding of one instrument.

    Parameters
    ----------
    instrument : Instrument
        What is held.
    quantity : float
        Signed size (positive long, negative short); non-zero. Coins of the underlying for
        spot, linear contracts and options; **USD face value** for inverse perpetuals and
        futures (Deribit's ``amount``: 100 BTC-PERPETUAL contracts of 10 USD = 1,000).
    entry_price_usd : float, optional
        Average entry price (perpetuals and futures: the unrealised P&L is
        ``quantity * (mark - entry)`` for linear and ``face * (1/entry - 1/mark)`` coins for
        inverse contracts; ``None`` means entered at the current mark).
    isolated_collateral_usd : float, optional
        Collateral assigned to this position under isolated margin.
    leverage : float, optional
        Leverage chosen by the trader, for venues whose initial margin is notional/leverage.
    """

    instrument: Instrument
    quantity: float
    entry_price_usd: float | None = None
    isolated_collateral_usd: float | None = None
    leverage: float | None = None
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        quantity = to_float("quantity", self.quantity)
        if not math.isfinite(quantity) or quantity == 0:
            raise InputError("quantity", self.quantity, "must be a non-zero finite number")
        object.__setattr__(self, "quantity", quantity)
        for name in ("entry_price_usd", "isolated_collateral_usd", "leverage"):
            value = getattr(self, name)
            if value is None:
                continue
            value = to_float(name, value)
            if not math.isfinite(value) or value < 0 or (value == 0 and name != "isolated_collateral_usd"):
                raise InputError(name, getattr(self, name), "must be a positive finite number")
            object.__setattr__(self, name, value)

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def underlying(self) -> str:
        return self.instrument.underlying

    @property
    def is_inverse(self) -> bool:
        """True for an inverse perpetual or future (quantity = USD face value)."""
        return isinstance(self.instrument, Perpetual | Future) and self.instrument.is_inverse

    def coin_quantity(self, mark_usd: float) -> float:
        """Signed size in coins: ``face / mark`` for an inverse contract (Deribit's size in BTC), else ``quantity``.

        >>> Position(Perpetual("BTC", "BTC"), 2_500_000.0).coin_quantity(100_000.0)
        25.0
        """
        return self.quantity / float(mark_usd) if self.is_inverse else self.quantity

    def scaled(self, factor: float) -> "Position":
        """The same position with its quantity (and isolated collateral) multiplied by ``factor``."""
        collateral = None if self.isolated_collateral_usd is None else self.isolated_collateral_usd * factor
        return Position(self.instrument, self.quantity * factor, self.entry_price_usd, collateral, self.leverage, self.label)
