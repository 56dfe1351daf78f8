"""Market snapshots: index prices, forwards, implied volatilities and the rate.

A :class:`MarketSnapshot` is everything a margin model needs to value positions at one
instant ``as_of`` (UTC):

* per asset an index (spot) price in USD, optionally a perpetual mark price;
* per asset and expiry an :class:`ExpiryMarket` with the forward (future mark) and a
  :class:`VolSmile` of implied volatilities by strike;
* one continuously-compounded annual ``rate`` (a fraction) used for discounting.

Stablecoins and other collateral assets are simply assets with an index price (USDC at
0.97 during a depeg lowers the collateral it backs).

When an expiry has no explicit forward, the forward is ``index * exp(rate * t)`` (cost of
carry with no yield); options always need a volatility and raise
:class:`~marginlab.exceptions.MissingMarketDataError` without one.

File format (YAML or JSON)::

    as_of: 2025-01-15T08:00:00Z
    rate: 0.0
    assets:
      BTC:
        index_usd: 100000
        perpetual_usd: 100050          # optional, defaults to the index
        expiries:
          2025-03-28T08:00:00Z:
            forward_usd: 101500        # optional
            atm_vol: 0.55              # or a smile:
            smile: {strikes_usd: [80000, 100000, 120000], vols: [0.62, 0.55, 0.57]}
      USDC: {index_usd: 0.9998}

Every key must be one of those shown (a misspelt ``perpetual_usd`` or ``atm_vol`` is an error, not
silently ignored); an expiry holds ``atm_vol`` or ``smile``, not both; ``as_of`` and the expiries are
ISO-8601 times (a number is refused; ``2025-02-30`` is not a date).

>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15T08:00:00Z",
...     "assets": {"BTC": {"index_usd": 100000,
...                        "expiries": {"2025-03-28": {"atm_vol": 0.55}}}}})
>>> round(market.vol("BTC", market.expiries("BTC")[0], 120000.0), 2)
0.55
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from marginlab.exceptions import (
    ExpiredInstrumentError,
    FileFormatError,
    InputError,
    MissingMarketDataError,
    UnknownAssetError,
)
from marginlab.fileio import read_mapping, write_mapping
from marginlab.instruments import to_float, to_utc

SECONDS_PER_YEAR = 365 * 86_400
"""A year is 365 days of 86,400 s throughout marginlab (crypto trades every day)."""


#: Largest price (USD) a market file may hold; larger values are typos or overflow bait.
MAX_PRICE_USD = 1e15


def _positive(field_name: str, value: Any) -> float:
    number = to_float(field_name, value)
    if not math.isfinite(number) or number <= 0:
        raise InputError(field_name, value, "must be a positive finite number")
    if number > MAX_PRICE_USD:
        raise InputError(field_name, value, f"exceeds {MAX_PRICE_USD:.0e} USD")
    return number


_MARKET_KEYS = ("as_of", "rate", "assets")
_ASSET_KEYS = ("index_usd", "perpetual_usd", "expiries")
_EXPIRY_KEYS = ("forward_usd", "atm_vol", "smile")
_SMILE_KEYS = ("strikes_usd", "vols")


def _known_keys(data: Mapping[Any, Any], known: tuple[str, ...], source: str, where: str) -> None:
    """A :class:`FileFormatError` for the first key of ``data`` not in ``known`` (a typo is never ignored)."""
    for key in data:
        if key not in known:
            raise FileFormatError(f"{source}: {where}{key}: unknown field (known: {', '.join(known)})")


@dataclass(frozen=True)
class VolSmile:
    """Implied volatilities (annualised fractions) by strike for one expiry.

    Interpolation is linear in log-strike and flat beyond the outermost strikes. A smile with
    one point is flat.

    >>> round(float(VolSmile((90.0, 110.0), (0.6, 0.5)).vol_at(100.0)), 4)
    0.5475
    """

    strikes_usd: tuple[float, ...]
    vols: tuple[float, ...]

    def __post_init__(self) -> None:
        strikes = tuple(_positive("smile.strikes_usd", k) for k in self.strikes_usd)
        vols = tuple(to_float("smile.vols", v) for v in self.vols)
        if len(strikes) == 0 or len(strikes) != len(vols):
            raise InputError("smile", (self.strikes_usd, self.vols), "needs as many vols as strikes, at least one")
        for vol in vols:
            if not math.isfinite(vol) or vol < 0:
                raise InputError("smile.vols", vol, "must be a non-negative finite volatility")
        if any(b <= a for a, b in zip(strikes, strikes[1:])):
            raise InputError("smile.strikes_usd", strikes, "must be strictly increasing")
        object.__setattr__(self, "strikes_usd", strikes)
        object.__setattr__(self, "vols", vols)

    @classmethod
    def flat(cls, vol: float) -> "VolSmile":
        """A smile with the same volatility at every strike."""
        return cls((1.0,), (vol,))

    def vol_at(self, strike_usd: float | np.ndarray) -> Any:
        """Volatility at ``strike_usd`` (scalar or array)."""
        if len(self.strikes_usd) == 1:
            return np.full(np.shape(strike_usd), self.vols[0])[()] if np.ndim(strike_usd) else self.vols[0]
        return np.interp(np.log(strike_usd), np.log(self.strikes_usd), self.vols)


@dataclass(frozen=True)
class ExpiryMarket:
    """Forward and smile of one expiry of one asset; ``forward_usd=None`` means cost of carry."""

    forward_usd: float | None = None
    smile: VolSmile | None = None

    def __post_init__(self) -> None:
        if self.forward_usd is not None:
            object.__setattr__(self, "forward_usd", _positive("forward_usd", self.forward_usd))


@dataclass(frozen=True)
class AssetMarket:
    """Market data of one asset: index price, perpetual mark, expiries."""

    index_usd: float
    perpetual_usd: float | None = None
    expiries: Mapping[datetime, ExpiryMarket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index_usd", _positive("index_usd", self.index_usd))
        if self.perpetual_usd is not None:
            object.__setattr__(self, "perpetual_usd", _positive("perpetual_usd", self.perpetual_usd))
        expiries = {to_utc(expiry): data for expiry, data in dict(self.expiries).items()}
        object.__setattr__(self, "expiries", MappingProxyType(dict(sorted(expiries.items()))))


@dataclass(frozen=True)
class MarketSnapshot:
    """Prices, forwards and volatilities of every asset at ``as_of``.

    Parameters
    ----------
    as_of : datetime
        Valuation time (UTC).
    assets : mapping of asset -> AssetMarket
    rate : float
        Continuously-compounded annual risk-free rate (fraction), used for discounting.
    """

    as_of: datetime
    assets: Mapping[str, AssetMarket]
    rate: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "as_of", to_utc(self.as_of, "as_of"))
        if not self.assets:
            raise InputError("assets", {}, "a market snapshot needs at least one asset")
        object.__setattr__(self, "assets", MappingProxyType(dict(self.assets)))
        rate = to_float("rate", self.rate)
        if not math.isfinite(rate) or abs(rate) > 1:
            raise InputError("rate", self.rate, "must be a finite annual rate between -1 and 1")
        object.__setattr__(self, "rate", rate)

    # ----------------------------------------------------------------- access
    def asset(self, asset: str) -> AssetMarket:
        try:
            return self.assets[asset]
        except KeyError:
            raise UnknownAssetError("asset", asset, f"not in the market snapshot (known: {sorted(self.assets)})") from None

    def index_usd(self, asset: str) -> float:
        """Index (spot) price of ``asset`` in USD."""
        return self.asset(asset).index_usd

    def perpetual_usd(self, asset: str) -> float:
        """Perpetual mark price (the index when no mark is given)."""
        data = self.asset(asset)
        return data.perpetual_usd if data.perpetual_usd is not None else data.index_usd

    def expiries(self, asset: str) -> tuple[datetime, ...]:
        return tuple(self.asset(asset).expiries)

    def time_to_expiry_years(self, expiry: datetime) -> float:
        """Years (of 365 days) from ``as_of`` to ``expiry``; raises if expired."""
        seconds = (to_utc(expiry) - self.as_of).total_seconds()
        if seconds <= 0:
            raise ExpiredInstrumentError("expiry", to_utc(expiry).isoformat(), f"is not after as_of={self.as_of.isoformat()}")
        return seconds / SECONDS_PER_YEAR

    def _expiry(self, asset: str, expiry: datetime) -> ExpiryMarket | None:
        return self.asset(asset).expiries.get(to_utc(expiry))

    def forward_usd(self, asset: str, expiry: datetime) -> float:
        """Forward price for ``expiry``: the given one, else ``index * exp(rate * t)``."""
        years = self.time_to_expiry_years(expiry)
        data = self._expiry(asset, expiry)
        if data is not None and data.forward_usd is not None:
            return data.forward_usd
        return self.index_usd(asset) * math.exp(self.rate * years)

    def smile(self, asset: str, expiry: datetime) -> VolSmile:
        data = self._expiry(asset, expiry)
        if data is None or data.smile is None:
            raise MissingMarketDataError(
                "vol", f"{asset} {to_utc(expiry):%Y-%m-%d}", "no implied volatility for this asset and expiry"
            )
        return data.smile

    def vol(self, asset: str, expiry: datetime, strike_usd: float) -> float:
        """Implied volatility of ``asset`` at ``expiry`` and ``strike_usd``."""
        return float(self.smile(asset, expiry).vol_at(strike_usd))

    # -------------------------------------------------------------- variations
    def shifted(self, *, spot_factor: Mapping[str, float] | None = None, vol_factor: float = 1.0, as_of: datetime | None = None) -> "MarketSnapshot":
        """A copy with index, perpetual and forward prices multiplied per asset and vols scaled.

        Used for what-if questions ("what if BTC falls 20% and vols rise by half?").
        """
        spot_factor = dict(spot_factor or {})
        assets = {}
        for name, data in self.assets.items():
            factor = spot_factor.get(name, 1.0)
            expiries = {
                expiry: ExpiryMarket(
                    None if e.forward_usd is None else e.forward_usd * factor,
                    None if e.smile is None else VolSmile(e.smile.strikes_usd, tuple(v * vol_factor for v in e.smile.vols)),
                )
                for expiry, e in data.expiries.items()
            }
            perp = None if data.perpetual_usd is None else data.perpetual_usd * factor
            assets[name] = AssetMarket(data.index_usd * factor, perp, expiries)
        return MarketSnapshot(as_of or self.as_of, assets, self.rate)

    # ------------------------------------------------------------------ files
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> "MarketSnapshot":
        """Build a snapshot from the mapping a YAML/JSON market file holds."""
        if not isinstance(data, Mapping) or "as_of" not in data or "assets" not in data:
            raise FileFormatError(f"{source}: a market file needs 'as_of' and 'assets'")
        _known_keys(data, _MARKET_KEYS, source, "")
        try:
            assets = {}
            if not isinstance(data["assets"], Mapping):
                raise FileFormatError(f"{source}: 'assets' must be a mapping of asset code to its market data")
            for name, raw in dict(data["assets"]).items():
                if not isinstance(raw, Mapping) or "index_usd" not in raw:
                    raise FileFormatError(f"{source}: assets.{name} needs 'index_usd'")
                _known_keys(raw, _ASSET_KEYS, source, f"assets.{name}.")
                raw_expiries = raw.get("expiries") or {}
                if not isinstance(raw_expiries, Mapping):
                    raise FileFormatError(f"{source}: assets.{name}.expiries must be a mapping of expiry time to forward and vols")
                expiries = {}
                for expiry, raw_expiry in dict(raw_expiries).items():
                    try:
                        if raw_expiry is not None and not isinstance(raw_expiry, Mapping):
                            raise FileFormatError(f"{source}: assets.{name}.expiries.{expiry} must be a mapping (forward_usd, atm_vol or smile)")
                        raw_expiry = dict(raw_expiry or {})
                        _known_keys(raw_expiry, _EXPIRY_KEYS, source, f"assets.{name}.expiries.{expiry}.")
                        if "smile" in raw_expiry and "atm_vol" in raw_expiry:
                            raise FileFormatError(f"{source}: assets.{name}.expiries.{expiry}: give atm_vol or smile, not both")
                        smile = None
                        if "smile" in raw_expiry:
                            raw_smile = raw_expiry["smile"]
                            if not isinstance(raw_smile, Mapping) or not all(
                                isinstance(raw_smile.get(key), list | tuple) for key in _SMILE_KEYS
                            ):
                                raise FileFormatError(f"{source}: assets.{name}.expiries.{expiry}.smile needs lists strikes_usd and vols")
                            _known_keys(raw_smile, _SMILE_KEYS, source, f"assets.{name}.expiries.{expiry}.smile.")
                            smile = VolSmile(tuple(raw_smile["strikes_usd"]), tuple(raw_smile["vols"]))
                        elif "atm_vol" in raw_expiry:
                            smile = VolSmile.flat(raw_expiry["atm_vol"])
                        expiry_key = expiry if isinstance(expiry, datetime) else str(expiry)
                        expiries[to_utc(expiry_key, f"assets.{name}.expiries")] = ExpiryMarket(raw_expiry.get("forward_usd"), smile)
                    except InputError as error:
                        raise FileFormatError(f"{source}: assets.{name}.expiries.{expiry}: {error}") from error
                try:
                    assets[str(name)] = AssetMarket(raw["index_usd"], raw.get("perpetual_usd"), expiries)
                except InputError as error:
                    raise FileFormatError(f"{source}: assets.{name}: {error}") from error
            raw_as_of = data["as_of"]
            if isinstance(raw_as_of, bool | int | float):
                raise InputError("as_of", raw_as_of, "must be an ISO-8601 time such as 2025-01-15T08:00:00Z, not a number")
            as_of = raw_as_of if isinstance(raw_as_of, datetime) else str(raw_as_of)
            return cls(to_utc(as_of, "as_of"), assets, data.get("rate", 0.0))
        except InputError as error:
            raise FileFormatError(f"{source}: {error}") from error
        except (TypeError, KeyError, AttributeError, ValueError) as error:
            if isinstance(error, FileFormatError):
                raise
            raise FileFormatError(f"{source}: malformed market data ({error!r})") from error

    def to_dict(self) -> dict[str, Any]:
        assets: dict[str, Any] = {}
        for name, data in self.assets.items():
            record: dict[str, Any] = {"index_usd": data.index_usd}
            if data.perpetual_usd is not None:
                record["perpetual_usd"] = data.perpetual_usd
            if data.expiries:
                record["expiries"] = {}
                for expiry, e in data.expiries.items():
                    entry: dict[str, Any] = {}
                    if e.forward_usd is not None:
                        entry["forward_usd"] = e.forward_usd
                    if e.smile is not None:
                        entry["smile"] = {"strikes_usd": list(e.smile.strikes_usd), "vols": list(e.smile.vols)}
                    record["expiries"][expiry.isoformat().replace("+00:00", "Z")] = entry
            assets[name] = record
        return {"as_of": self.as_of.isoformat().replace("+00:00", "Z"), "rate": self.rate, "assets": assets}

    @classmethod
    def load(cls, path: str | Path) -> "MarketSnapshot":
        path = Path(path)
        return cls.from_dict(read_mapping(path, "market file"), str(path))

    def save(self, path: str | Path) -> None:
        write_mapping(Path(path), self.to_dict())
