"""Accounts: positions, cash and multi-asset collateral, and their files.

An :class:`Account` is what a margin model margins. It holds signed positions, a USD cash
balance (negative means borrowed) and collateral balances per asset (``{"BTC": 1.5,
"USDC": 20_000}``, in the asset's own units, valued at the market snapshot's prices).

Files
-----
YAML or JSON (chosen by the file suffix)::

    account_id: desk-7
    cash_usd: 10000
    collateral: {BTC: 1.5, USDC: 20000}
    margin_currency: USD          # optional; BTC for a coin-margined account
    symbol_convention: marginlab  # optional; deribit reads BTC-PERPETUAL as the inverse perpetual
    positions:
      - {symbol: BTC-PERPETUAL, quantity: -2.0, entry_price_usd: 95000}
      - {symbol: BTC-20250328-100000-C, quantity: -1}

or a positions CSV with columns ``symbol, quantity`` and optionally ``entry_price_usd``,
``isolated_collateral_usd``, ``leverage``, ``label`` (cash and collateral then default to 0).
Every column name must be one of these, once; an empty cell means "not given"; every other cell
is read as written (``nan`` or ``inf`` in a numeric column is an error, as ``.nan`` is in YAML).
A chosen ``leverage`` lies in ``[1, MAX_LEVERAGE]``.

>>> from marginlab.account import Account
>>> account = Account.from_dict({"positions": [{"symbol": "BTC-PERPETUAL", "quantity": 2}]})
>>> account.positions[0].instrument.kind
'perpetual'
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from marginlab.exceptions import EmptyPortfolioError, FileFormatError, InputError
from marginlab.fileio import read_mapping as _read_mapping
from marginlab.fileio import read_text
from marginlab.fileio import write_mapping as _write_mapping
from marginlab.instruments import LINEAR_SETTLEMENTS, Option, Position, SymbolConvention, parse_symbol, to_float
from marginlab.io import atomic_write_text

_CURRENCY_PATTERN = re.compile(r"^[A-Z0-9]{2,10}$")
_POSITION_FIELDS = ("symbol", "quantity", "entry_price_usd", "isolated_collateral_usd", "leverage", "label")

#: Largest notional (USD) of one position, cash balance or collateral value an account may hold.
#: Margin arithmetic multiplies notionals by prices, shocks and rates and sums their squares
#: (variances); 1e18 USD (a billion times the largest real book) keeps every such product far
#: inside float64, whereas 1e306 overflows to ``inf`` and turns totals into NaN.
MAX_NOTIONAL_USD = 1e18

#: Largest leverage a position of an account file may choose. The highest maximum leverage of the modelled
#: venues is 125x (Binance USD-M BTCUSDT, first bracket; Hyperliquid lists 40x for BTC), so 200x bounds every
#: real choice with room to spare; 1,000x is a typo. An assumed bound, not a venue rule: a model whose venue
#: allows less rejects the position itself.
MAX_LEVERAGE = 200.0


def _check_notionals(positions: tuple[Position, ...]) -> None:
    """Reject a position whose size times its reference price exceeds :data:`MAX_NOTIONAL_USD`.

    The account has no market, so the reference price is the entry price, else the strike,
    else 1 USD per unit (a size above 1e18 units is rejected whatever its price). One pass
    over the positions (large accounts hold hundreds of thousands).
    """
    prices = [p.entry_price_usd or (p.instrument.strike_usd if type(p.instrument) is Option else 1.0) for p in positions]
    notionals = [abs(p.quantity) * price for p, price in zip(positions, prices)]
    if not notionals or max(notionals) <= MAX_NOTIONAL_USD:  # quantities and prices are finite (Position checks them)
        return
    for index, (position, price, notional) in enumerate(zip(positions, prices, notionals)):
        if not notional <= MAX_NOTIONAL_USD:
            raise InputError(
                f"positions[{index}].quantity", position.quantity,
                f"notional of {position.symbol} ({notional:.3g} USD at {price:g} USD per unit) exceeds {MAX_NOTIONAL_USD:.0e} USD; "
                "totals would overflow",
            )


@dataclass(frozen=True)
class Account:
    """Positions, cash and collateral of one margin account.

    Parameters
    ----------
    positions : tuple of Position
    cash_usd : float
        USD cash; negative is a loan.
    collateral : mapping of asset -> quantity
        Collateral balances in asset units (non-negative), valued at market with haircuts.
    account_id : str
    margin_currency : str, default "USD"
        Currency the account is margined and settled in: ``"USD"`` (or a stablecoin) for a
        USD account, a coin such as ``"BTC"`` for a coin-margined account (Deribit's BTC
        account: collateral, equity, requirements and P&L all in BTC). Results are reported in
        it and in USD (``MarginResult.currency``); scenario engines measure losses in it, so a
        coin account's option losses in a crash are counted in the coin that has fallen
        (the wrong-way effect).
    """

    positions: tuple[Position, ...] = ()
    cash_usd: float = 0.0
    collateral: Mapping[str, float] = field(default_factory=dict)
    account_id: str = "account"
    margin_currency: str = "USD"

    def __post_init__(self) -> None:
        positions = tuple(self.positions)
        for index, position in enumerate(positions):
            if not isinstance(position, Position):
                raise InputError(f"positions[{index}]", position, "must be a Position")
        _check_notionals(positions)
        object.__setattr__(self, "positions", positions)
        cash = to_float("cash_usd", self.cash_usd)
        if not math.isfinite(cash) or abs(cash) > MAX_NOTIONAL_USD:
            raise InputError("cash_usd", self.cash_usd, f"must be finite and at most {MAX_NOTIONAL_USD:.0e} USD in size")
        object.__setattr__(self, "cash_usd", cash)
        balances: dict[str, float] = {}
        for asset, quantity in dict(self.collateral).items():
            quantity = to_float(f"collateral[{asset}]", quantity)
            if not math.isfinite(quantity) or quantity < 0 or quantity > MAX_NOTIONAL_USD:
                raise InputError(f"collateral[{asset}]", quantity, f"must be a non-negative finite quantity up to {MAX_NOTIONAL_USD:.0e}")
            balances[str(asset)] = quantity
        object.__setattr__(self, "collateral", MappingProxyType(balances))
        currency = self.margin_currency
        if not isinstance(currency, str) or not _CURRENCY_PATTERN.match(currency.strip().upper()):
            raise InputError("margin_currency", currency, "must be an asset code such as 'USD' or 'BTC'")
        object.__setattr__(self, "margin_currency", currency.strip().upper())

    @property
    def is_coin_margined(self) -> bool:
        """True when the margin currency is a coin (not USD or a stablecoin)."""
        return self.margin_currency not in LINEAR_SETTLEMENTS

    @property
    def is_empty(self) -> bool:
        """True when the account has no position, no cash and no collateral."""
        return not self.positions and self.cash_usd == 0 and not any(self.collateral.values())

    def require_positions(self) -> None:
        """Raise :class:`EmptyPortfolioError` when there is nothing to margin."""
        if not self.positions:
            raise EmptyPortfolioError("positions", [], f"account {self.account_id!r} holds no position to margin")

    @property
    def underlyings(self) -> tuple[str, ...]:
        """Underlyings of the positions, in order of first appearance."""
        return tuple(dict.fromkeys(p.underlying for p in self.positions))

    def with_positions(self, positions: Iterable[Position]) -> "Account":
        """A copy with ``positions`` added (a proposed trade, for what-if analysis)."""
        return Account(self.positions + tuple(positions), self.cash_usd, dict(self.collateral), self.account_id, self.margin_currency)

    def scaled(self, factor: float) -> "Account":
        """Every position, the cash and the collateral multiplied by ``factor`` (> 0)."""
        if not factor > 0:
            raise InputError("factor", factor, "must be positive")
        return Account(
            tuple(p.scaled(factor) for p in self.positions),
            self.cash_usd * factor,
            {a: q * factor for a, q in self.collateral.items()},
            self.account_id,
            self.margin_currency,
        )

    # ------------------------------------------------------------------ files
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> "Account":
        """Build an account from the mapping a YAML/JSON file holds."""
        if not isinstance(data, Mapping):
            raise FileFormatError(f"{source}: an account must be a mapping, got {type(data).__name__}")
        unknown = set(data) - {"account_id", "cash_usd", "collateral", "positions", "margin_currency", "symbol_convention"}
        if unknown:
            raise FileFormatError(f"{source}: unknown account field(s) {sorted(unknown)}")
        raw_positions = data.get("positions") or []
        if not isinstance(raw_positions, list):
            raise FileFormatError(f"{source}: 'positions' must be a list")
        convention = data.get("symbol_convention", "marginlab")
        if convention not in ("marginlab", "deribit"):
            raise FileFormatError(f"{source}: symbol_convention={convention!r} must be 'marginlab' or 'deribit'")
        positions = tuple(_position_from_record(record, f"{source}: positions[{i}]", convention) for i, record in enumerate(raw_positions))
        collateral = data.get("collateral") or {}
        if not isinstance(collateral, Mapping):
            raise FileFormatError(f"{source}: 'collateral' must be a mapping of asset to quantity")
        try:
            return cls(positions, data.get("cash_usd", 0.0), collateral, str(data.get("account_id", "account")), data.get("margin_currency", "USD"))
        except InputError as error:
            raise FileFormatError(f"{source}: {error}") from error

    def to_dict(self) -> dict[str, Any]:
        """The mapping :meth:`from_dict` reads."""
        positions = []
        for position in self.positions:
            record: dict[str, Any] = {"symbol": position.symbol, "quantity": position.quantity}
            for name in _POSITION_FIELDS[2:]:
                value = getattr(position, name)
                if value not in (None, ""):
                    record[name] = value
            positions.append(record)
        data: dict[str, Any] = {
            "account_id": self.account_id,
            "cash_usd": self.cash_usd,
            "collateral": dict(self.collateral),
            "positions": positions,
        }
        if self.margin_currency != "USD":
            data["margin_currency"] = self.margin_currency
        return data

    @classmethod
    def load(cls, path: str | Path) -> "Account":
        """Read an account from a ``.yaml``/``.yml``, ``.json`` or positions ``.csv`` file."""
        path = Path(path)
        if path.suffix.lower() == ".csv":
            try:
                return cls(positions_from_csv(path), account_id=path.stem)
            except InputError as error:
                raise FileFormatError(f"{path}: {error}") from error
        return cls.from_dict(_read_mapping(path, "account file"), str(path))

    def save(self, path: str | Path) -> None:
        """Write the account as YAML or JSON (by suffix), or its positions as CSV (atomically)."""
        path = Path(path)
        if path.suffix.lower() == ".csv":
            import pandas as pd

            atomic_write_text(path, pd.DataFrame(self.to_dict()["positions"]).to_csv(index=False))
            return
        write_mapping(path, self.to_dict())


def _position_from_record(record: Any, where: str, convention: SymbolConvention = "marginlab") -> Position:
    if not isinstance(record, Mapping):
        raise FileFormatError(f"{where}: a position must be a mapping")
    unknown = set(record) - set(_POSITION_FIELDS)
    if unknown:
        raise FileFormatError(f"{where}: unknown position field(s) {sorted(unknown)}")
    if "symbol" not in record or "quantity" not in record:
        raise FileFormatError(f"{where}: a position needs 'symbol' and 'quantity'")
    kwargs = {name: record[name] for name in _POSITION_FIELDS[2:] if name in record and record[name] is not None}
    try:
        symbol = record["symbol"]
        if not isinstance(symbol, str):
            raise InputError("symbol", symbol, "must be a symbol such as 'BTC-PERPETUAL'")
        if "label" in kwargs and not isinstance(kwargs["label"], str):
            if isinstance(kwargs["label"], int | float) and not isinstance(kwargs["label"], bool):
                kwargs["label"] = str(kwargs["label"])
            else:
                raise InputError("label", kwargs["label"], "must be text")
        position = Position(parse_symbol(symbol, convention), record["quantity"], **kwargs)
        if position.leverage is not None and not 1.0 <= position.leverage <= MAX_LEVERAGE:
            raise InputError("leverage", kwargs["leverage"], f"must lie in [1, {MAX_LEVERAGE:g}] (MAX_LEVERAGE)")
        return position
    except (InputError, ValueError, TypeError) as error:
        raise FileFormatError(f"{where}: {error}") from error


def positions_from_csv(path: str | Path) -> tuple[Position, ...]:
    """Read positions from a CSV with columns ``symbol, quantity`` (and optional extras)."""
    import pandas as pd

    text = read_text(path, "positions CSV").removeprefix("\ufeff")  # a spreadsheet's byte-order mark
    header = [name.strip() for name in next(csv.reader(io.StringIO(text)), [])]
    seen: set[str] = set()
    for index, name in enumerate(header):
        column = f"columns[{index}]"
        if name not in _POSITION_FIELDS:
            close = difflib.get_close_matches(name.strip().lower(), _POSITION_FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise FileFormatError(f"{path}: {column}={name!r}: not a positions column (known: {', '.join(_POSITION_FIELDS)}){hint}")
        if name in seen:
            raise FileFormatError(f"{path}: {column}={name!r}: column given twice")
        seen.add(name)
    missing = {"symbol", "quantity"} - seen
    if missing:
        raise FileFormatError(f"{path}: positions CSV lacks column(s) {sorted(missing)}")
    try:  # every cell as written: an empty cell is "not given", "nan" stays text and is rejected as a number
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[], skip_blank_lines=True)
    except Exception as error:  # pandas raises several types for malformed CSV
        raise FileFormatError(f"{path}: cannot read positions CSV ({error})") from error
    if len(frame.columns) == len(header):
        frame.columns = header
    return tuple(
        _position_from_record({k: (None if v is None or str(v).strip() == "" else v) for k, v in row.items()}, f"{path}: row {i + 1}")
        for i, row in enumerate(frame.to_dict("records"))
    )


def read_mapping(path: str | Path, what: str = "file") -> Any:
    """Parse a YAML or JSON file strictly (see :func:`marginlab.fileio.read_mapping`)."""
    return _read_mapping(path, what)


def write_mapping(path: str | Path, data: Any) -> None:
    """Write ``data`` atomically as JSON (``.json``) or YAML (see :func:`marginlab.fileio.write_mapping`)."""
    _write_mapping(path, data)
