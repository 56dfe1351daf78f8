"""Instruments and positions.

Four instrument kinds cover the products the margin models handle:

* :class:`Spot` -- the asset itself (long spot is collateral-like; short spot is a borrow);
* :class:`Perpetual` -- a linear (USD- or stablecoin-margined) perpetual swap;
* :class:`Future` -- a linear dated future;
* :class:`Option` -- a European option on the underlying's forward, linear (USD-settled).

Coin-settled (inverse) contracts are not modelled as separate instruments: a venue preset that
states its rates in coin (Deribit) applies them to the USD value at the snapshot's index
price, which gives the same USD requirement at that instant.

Quantities are signed and counted in units of the underlying (1 option = the right on one
coin); positive is long. Every instrument has a readable ``symbol`` that
:func:`parse_symbol` reads back:

>>> from marginlab.instruments import parse_symbol
>>> parse_symbol("BTC-20250328-100000-C")
Option(underlying='BTC', expiry=datetime.datetime(2025, 3, 28, 8, 0, tzinfo=datetime.timezone.utc), strike_usd=100000.0, option_type='call')
>>> parse_symbol("ETH-PERPETUAL").symbol
'ETH-PERPETUAL'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Literal, Union

from marginlab.exceptions import InputError

#: Hour of day (UTC) at which dated contracts expire when a symbol gives only the date.
DEFAULT_EXPIRY_HOUR_UTC = 8

_ASSET_PATTERN = re.compile(r"^[A-Z0-9]{2,10}$")


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
    import numpy as np

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
            parsed = datetime.strptime(text, "%Y%m%d").replace(hour=DEFAULT_EXPIRY_HOUR_UTC)
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
    """The asset itself, e.g. one BTC."""

    underlying: str

    def __post_init__(self) -> None:
        _check_asset("underlying", self.underlying)

    kind = "spot"

    @property
    def symbol(self) -> str:
        return self.underlying


@dataclass(frozen=True)
class Perpetual:
    """A linear perpetual swap on ``underlying``, quoted and settled in USD."""

    underlying: str

    def __post_init__(self) -> None:
        _check_asset("underlying", self.underlying)

    kind = "perpetual"

    @property
    def symbol(self) -> str:
        return f"{self.underlying}-PERPETUAL"


@dataclass(frozen=True)
class Future:
    """A linear dated future on ``underlying`` expiring at ``expiry`` (UTC)."""

    underlying: str
    expiry: datetime

    def __post_init__(self) -> None:
        _check_asset("underlying", self.underlying)
        object.__setattr__(self, "expiry", to_utc(self.expiry))

    kind = "future"

    @property
    def symbol(self) -> str:
        return f"{self.underlying}-{self.expiry:%Y%m%d}"


@dataclass(frozen=True)
class Option:
    """A European option on the forward of ``underlying``, USD-settled.

    Parameters
    ----------
    underlying : str
        Asset code, e.g. ``"BTC"``.
    expiry : datetime
        Expiry time in UTC.
    strike_usd : float
        Strike price in USD; must be positive and finite.
    option_type : {"call", "put"}
    """

    underlying: str
    expiry: datetime
    strike_usd: float
    option_type: Literal["call", "put"]

    def __post_init__(self) -> None:
        _check_asset("underlying", self.underlying)
        object.__setattr__(self, "expiry", to_utc(self.expiry))
        strike = to_float("strike_usd", self.strike_usd)
        if not math.isfinite(strike) or strike <= 0:
            raise InputError("strike_usd", self.strike_usd, "must be a positive finite number")
        object.__setattr__(self, "strike_usd", strike)
        if self.option_type not in ("call", "put"):
            raise InputError("option_type", self.option_type, "must be 'call' or 'put'")

    kind = "option"

    @property
    def is_call(self) -> bool:
        return self.option_type == "call"

    @property
    def symbol(self) -> str:
        return f"{self.underlying}-{self.expiry:%Y%m%d}-{_strike_text(self.strike_usd)}-{'C' if self.is_call else 'P'}"


Instrument = Union[Spot, Perpetual, Future, Option]


def parse_symbol(symbol: str) -> Instrument:
    """Read an instrument from its symbol.

    Symbols are ``BTC`` (spot), ``BTC-PERPETUAL``, ``BTC-20250328`` (future) and
    ``BTC-20250328-100000-C`` / ``-P`` (option). Dates may also be ISO ``2025-03-28``-free
    compact ``YYYYMMDD``; dated contracts expire at 08:00 UTC.
    """
    if not isinstance(symbol, str) or not symbol.strip():
        raise InputError("symbol", symbol, "must be a non-empty string")
    parts = symbol.strip().upper().split("-")
    try:
        if len(parts) == 1:
            return Spot(parts[0])
        if len(parts) == 2 and parts[1] in ("PERPETUAL", "PERP"):
            return Perpetual(parts[0])
        if len(parts) == 2:
            return Future(parts[0], to_utc(parts[1], "symbol"))
        if len(parts) == 4 and parts[3] in ("C", "P"):
            return Option(
                parts[0],
                to_utc(parts[1], "symbol"),
                float(parts[2]),
                "call" if parts[3] == "C" else "put",
            )
    except (InputError, ValueError) as error:
        raise InputError("symbol", symbol, f"is not a valid instrument symbol ({error})") from error
    raise InputError(
        "symbol",
        symbol,
        "is not a valid instrument symbol; expected BTC, BTC-PERPETUAL, BTC-YYYYMMDD "
        "or BTC-YYYYMMDD-STRIKE-C/P",
    )


@dataclass(frozen=True)
class Position:
    """A signed holding of one instrument.

    Parameters
    ----------
    instrument : Instrument
        What is held.
    quantity : float
        Signed size in units of the underlying (positive long, negative short); non-zero.
    entry_price_usd : float, optional
        Average entry price (perpetuals and futures: the unrealised P&L is
        ``quantity * (mark - entry)``; ``None`` means entered at the current mark).
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

    def scaled(self, factor: float) -> "Position":
        """The same position with its quantity (and isolated collateral) multiplied by ``factor``."""
        collateral = None if self.isolated_collateral_usd is None else self.isolated_collateral_usd * factor
        return Position(self.instrument, self.quantity * factor, self.entry_price_usd, collateral, self.leverage, self.label)
