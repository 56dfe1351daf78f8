"""The parameter contract: typed per-asset margin parameters, their schema, atomic load and save.

A low floor of the package: calibration *produces* a :class:`ParameterSet`
(:func:`marginlab.calibration.calibrate.calibrate`), margin models *consume* it
(:mod:`marginlab.margin.calibrated`), and neither imports the other. This module imports neither.

One record per asset (:class:`AssetParameters`), every value a fraction (0.1 = 10%):

========================  =====================================================================
``haircut``               collateral haircut; ``haircut_details`` holds the numbers behind it
``price_scan_range``      half-width of the spot grid (two-sided move at the scan horizon/confidence)
``vol_shock``             relative shocks of 30-day implied vol, ``up_30d`` / ``down_30d``, and the powers of
                          their term structure ``shock(DTE) = shock_30d * (30 / DTE) ** p`` with
                          ``p = short_tenor_power`` for DTE <= 30 days and ``long_tenor_power`` beyond (both
                          shocks use the same powers: one meaning, as :class:`marginlab.margin.scenarios.VolShock`)
``extreme_move``          extreme ``down`` (fraction of price, <= 1) and ``up`` moves of the grid, whose losses count
                          at ``cover`` (:data:`SPAN_EXTREME_COVER`, SPAN's published 35%)
``maintenance_rate``      maintenance margin rate of notional
``initial_rate``          initial margin rate of notional (>= the maintenance rate)
``side_rates``            (optional) :class:`SideRates`: the maintenance and initial rates of a long and of a short;
                          ``maintenance_rate`` / ``initial_rate`` are the larger side (what one-rate engines charge)
``provenance``            data range, volatility model and fit status, short-history flag, warnings
========================  =====================================================================

plus the as-of date, the whole methodology that produced the numbers (a plain mapping, as written by
``Methodology.to_dict``) and the file-level :class:`Provenance` (dataset name and version -- never a path --,
package version, creation time). The file is YAML or JSON (by suffix) and is validated against
``parameters.schema.json`` (next to this module) on write and on read; a malformed file raises
:class:`~marginlab.exceptions.FileFormatError` naming the offending field. Writes are atomic
(:func:`marginlab.io.atomic_write_text`) and the target is checked before any work.

Examples
--------
>>> params = example_parameters()
>>> params.asset("BTC").haircut, params.asset("BTC").vol_shock.short_tenor_power
(0.12, 0.3)
>>> ParameterSet.from_dict(params.to_dict()) == params
True
>>> bad = params.to_dict()
>>> bad["assets"]["BTC"]["haircut"] = 1.5
>>> ParameterSet.from_dict(bad)
Traceback (most recent call last):
...
marginlab.exceptions.FileFormatError: parameter file field assets.BTC.haircut: 1.5 is greater than the maximum of 1
"""

from __future__ import annotations

import copy
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from marginlab.exceptions import FileFormatError, InputError, UnknownAssetError
from marginlab.fileio import read_mapping  # one strict loader: UTF-8, no duplicate keys, no NaN
from marginlab.io import atomic_write_text, check_writable

__all__ = [
    "DEFAULT_LONG_TENOR_POWER",
    "DEFAULT_SHORT_TENOR_POWER",
    "PARAMETER_FILE_SUFFIXES",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "SPAN_EXTREME_COVER",
    "AssetClass",
    "AssetParameters",
    "AssetProvenance",
    "ExtremeMoveParameters",
    "HaircutDetails",
    "OffsetParameters",
    "PairOffset",
    "ParameterSet",
    "Provenance",
    "SideRates",
    "VolShockParameters",
    "example_parameters",
    "load",
    "schema",
    "validate_document",
]

#: SPAN's published extreme-move cover: a fraction of the loss of the extreme scenarios counts (CME: 35%).
SPAN_EXTREME_COVER = 0.35
#: Power ``p`` of the ``(30 / DTE) ** p`` vol-shock term structure for expiries at or below 30 days (Derive PMRM v2).
DEFAULT_SHORT_TENOR_POWER = 0.30
#: Power ``p`` of the term structure for expiries beyond 30 days (Derive PMRM v2).
DEFAULT_LONG_TENOR_POWER = 0.13

SCHEMA_PATH = Path(__file__).with_name("parameters.schema.json")
SCHEMA_VERSION = 2
PARAMETER_FILE_SUFFIXES = (".yaml", ".yml", ".json")

AssetClass = Literal["stablecoin", "major", "mid cap"]


# ----------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class VolShockParameters:
    """Relative implied-vol shocks at 30 days to expiry and their term-structure powers (see the module docstring).

    >>> VolShockParameters(0.45, 0.25).shock_at(7.5)   # (30 / 7.5) ** 0.3 = 1.516
    (0.682..., 0.379...)
    """

    up_30d: float
    down_30d: float
    short_tenor_power: float = DEFAULT_SHORT_TENOR_POWER
    long_tenor_power: float = DEFAULT_LONG_TENOR_POWER
    source: str = ""

    def shock_at(self, dte_days: float) -> tuple[float, float]:
        """``(up, down)`` relative shocks at ``dte_days`` days to expiry (down capped at 99%)."""
        power = self.short_tenor_power if dte_days <= 30.0 else self.long_tenor_power
        scale = (30.0 / max(float(dte_days), 1.0)) ** power
        return self.up_30d * scale, min(self.down_30d * scale, 0.99)


@dataclass(frozen=True)
class ExtremeMoveParameters:
    """Extreme moves of the scenario grid (fractions of price) and the cover their losses count at."""

    down: float
    up: float
    cover: float = SPAN_EXTREME_COVER
    historical_worst_down: float | None = None
    historical_worst_up: float | None = None


@dataclass(frozen=True)
class HaircutDetails:
    """The numbers behind a haircut: VaR/ES of the price drop, depeg risk, liquidity add-on, volatilities (annualised)."""

    var: float | None = None
    es: float | None = None
    market_risk: float | None = None
    depeg_risk: float | None = None
    liquidity_add_on: float | None = None
    size_usd: float | None = None
    adv_usd: float | None = None
    vol_forecast: float | None = None
    long_run_vol: float | None = None


@dataclass(frozen=True)
class AssetProvenance:
    """Where an asset's numbers come from: data range, volatility model, fit status, warnings."""

    data_start: str
    data_end: str
    n_returns: int
    vol_model: str
    vol_status: str = "converged"
    converged: bool = True
    persistence: float | None = None
    short_history: bool = False
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SideRates:
    """The maintenance and initial rates of each side (fractions of notional): a long loses when the price falls, a
    short when it rises. The file's one ``maintenance_rate`` / ``initial_rate`` is the larger side; each side's initial
    rate is at least its maintenance rate."""

    maintenance_long: float
    maintenance_short: float
    initial_long: float
    initial_short: float


@dataclass(frozen=True)
class AssetParameters:
    """Margin parameters of one asset (see the module docstring)."""

    asset: str
    asset_class: AssetClass
    haircut: float
    tier: str
    price_scan_range: float
    vol_shock: VolShockParameters
    extreme_move: ExtremeMoveParameters
    maintenance_rate: float
    initial_rate: float
    provenance: AssetProvenance
    haircut_details: HaircutDetails = field(default_factory=HaircutDetails)
    side_rates: SideRates | None = None


@dataclass(frozen=True)
class Provenance:
    """File-level provenance: the dataset (name and version, never a path), package version, creation time.

    ``allow_short_history`` records that assets with fewer returns than the methodology requires were accepted.
    """

    created_at: str
    package_version: str
    dataset: str
    dataset_version: str
    methodology: str
    allow_short_history: bool = False


@dataclass(frozen=True)
class PairOffset:
    """Inter-underlying spread credit of one pair of assets, with the data it was measured on.

    ``credit_rate`` is the SPAN-style share of each spread leg's scan risk credited when the book is long one
    asset and short the other; the correlations are of the (standardised) moves on stress days and on all
    common days; ``n_stress`` / ``n_observations`` count them; ``window_start`` / ``window_end`` date the data.
    """

    asset_a: str
    asset_b: str
    credit_rate: float
    correlation_stress: float | None = None
    correlation_all: float | None = None
    n_stress: int = 0
    n_observations: int = 0
    window_start: str | None = None
    window_end: str | None = None


@dataclass(frozen=True)
class OffsetParameters:
    """The offsets table of a parameter file: pairs -> credit rate, the method name and its settings.

    >>> table = OffsetParameters("stress-correlation", {}, (PairOffset("BTC", "ETH", 0.4),))
    >>> table.rate("ETH", "BTC"), table.rate("BTC", "SOL")
    (0.4, 0.0)
    """

    method: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    pairs: tuple[PairOffset, ...] = ()

    def pair(self, first: str, second: str) -> PairOffset:
        """The record of a pair (either order)."""
        for entry in self.pairs:
            if {entry.asset_a, entry.asset_b} == {first, second} and first != second:
                return entry
        raise UnknownAssetError("offset pair", f"{first}/{second}",
                                f"is not in the offsets table (pairs: {', '.join(f'{p.asset_a}/{p.asset_b}' for p in self.pairs) or 'none'})")

    def rate(self, first: str, second: str) -> float:
        """Credit rate of a pair (0 for a pair not in the table)."""
        try:
            return float(self.pair(first, second).credit_rate)
        except UnknownAssetError:
            return 0.0

    def rates(self) -> dict[tuple[str, str], float]:
        """``{(asset_a, asset_b): credit_rate}`` of every pair."""
        return {(p.asset_a, p.asset_b): float(p.credit_rate) for p in self.pairs}

    def table(self) -> Any:
        """One row per pair (a pandas DataFrame)."""
        columns = [f.name for f in fields(PairOffset)]
        return pd.DataFrame([{c: getattr(p, c) for c in columns} for p in self.pairs], columns=columns)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "settings": copy.deepcopy(dict(self.settings)),
                "pairs": [{f.name: getattr(p, f.name) for f in fields(p)} for p in self.pairs]}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> OffsetParameters:
        return cls(document["method"], dict(document.get("settings", {})),
                   tuple(_record(PairOffset, entry) for entry in document.get("pairs", [])))


# ------------------------------------------------------------------------------------ schema
@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON schema of the parameter file (``parameters.schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text())


def _jsonschema() -> Any:
    """Import ``jsonschema`` without its optional RFC 3987 format checker (~4 s of grammar compilation at import;
    the parameter schema uses no ``format`` keyword)."""
    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    hidden = "rfc3987_syntax" not in sys.modules
    if hidden:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        import jsonschema
    finally:
        if hidden:
            del sys.modules["rfc3987_syntax"]
    return jsonschema


def validate_document(document: Any) -> None:
    """Validate a parameter document; raise :class:`FileFormatError` naming the first bad field.

    Beyond the JSON schema: ``initial_rate >= maintenance_rate`` per asset; offset pairs name two different assets
    of the file, each pair once.
    """
    validator = _jsonschema().Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        error = errors[0]
        where = ".".join(str(p) for p in error.absolute_path) or "<root>"
        raise FileFormatError(f"parameter file field {where}: {error.message}")
    for asset, entry in document["assets"].items():
        if entry["initial_rate"] < entry["maintenance_rate"]:
            raise FileFormatError(
                f"parameter file field assets.{asset}.initial_rate: {entry['initial_rate']} is below "
                f"maintenance_rate {entry['maintenance_rate']}"
            )
        sides = entry.get("side_rates")
        for side in ("long", "short") if sides else ():
            if sides[f"initial_{side}"] < sides[f"maintenance_{side}"]:
                raise FileFormatError(f"parameter file field assets.{asset}.side_rates.initial_{side}: "
                                      f"{sides[f'initial_{side}']} is below maintenance_{side} {sides[f'maintenance_{side}']}")
    seen: set[frozenset[str]] = set()
    for i, pair in enumerate((document.get("offsets") or {}).get("pairs", [])):
        for key in ("asset_a", "asset_b"):
            if pair[key] not in document["assets"]:
                raise FileFormatError(f"parameter file field offsets.pairs.{i}.{key}: {pair[key]!r} is not an asset of the file")
        names = frozenset((pair["asset_a"], pair["asset_b"]))
        if len(names) < 2 or names in seen:
            raise FileFormatError(f"parameter file field offsets.pairs.{i}: {pair['asset_a']}/{pair['asset_b']} is not a new pair of two assets")
        seen.add(names)


def _plain(value: Any) -> Any:
    """JSON-compatible copy: tuples as lists, numpy scalars as Python numbers, non-finite floats as None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _record(kind: type, values: Mapping[str, Any]) -> Any:
    known = {f.name for f in fields(kind)}
    return kind(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in known})


# ------------------------------------------------------------------------------- the file
@dataclass(frozen=True)
class ParameterSet:
    """A validated parameter file: per-asset records, the methodology that produced them, provenance.

    Parameters
    ----------
    asof : str
        Last day of data used (``YYYY-MM-DD``, inclusive, UTC).
    assets : mapping str -> AssetParameters
    methodology : mapping
        The methodology, as a plain mapping (``Methodology.to_dict()``); rebuild it with
        ``marginlab.calibration.methodology.Methodology.from_dict``.
    provenance : Provenance
    offsets : OffsetParameters, optional
        Inter-underlying spread credits (:mod:`marginlab.calibration.offsets`); absent in files without them.
    """

    asof: str
    assets: Mapping[str, AssetParameters]
    methodology: Mapping[str, Any]
    provenance: Provenance
    offsets: OffsetParameters | None = None

    def __post_init__(self) -> None:
        validate_document(self.to_dict())

    # -- accessors ---------------------------------------------------------------------------
    @property
    def asset_names(self) -> list[str]:
        return list(self.assets)

    def asset(self, name: str) -> AssetParameters:
        """The record of asset ``name`` (an error naming the calibrated assets and how to add one otherwise)."""
        try:
            return self.assets[name]
        except KeyError:
            raise UnknownAssetError(
                "asset", name,
                f"is not in the parameter file (calibrated: {', '.join(self.assets)}); add it with "
                f"`marginlab calibrate --assets {' '.join([*self.assets, name])} --asof {self.asof} --out FILE`",
            ) from None

    def table(self) -> Any:
        """One row per asset with the headline parameters (a pandas DataFrame)."""
        rows = []
        for name, entry in self.assets.items():
            rows.append({
                "asset": name,
                "haircut": entry.haircut,
                "tier": entry.tier,
                "price_scan_range": entry.price_scan_range,
                "vol_up_30d": entry.vol_shock.up_30d,
                "vol_down_30d": entry.vol_shock.down_30d,
                "extreme_down": entry.extreme_move.down,
                "extreme_up": entry.extreme_move.up,
                "maintenance_rate": entry.maintenance_rate,
                "initial_rate": entry.initial_rate,
                "vol_model": entry.provenance.vol_model,
                "vol_status": entry.provenance.vol_status,
            })
        return pd.DataFrame(rows).set_index("asset")

    def summary(self) -> str:
        """Readable report: the headline table in percent, with the methodology and dataset named."""
        table = self.table()
        for column in ("haircut", "price_scan_range", "vol_up_30d", "vol_down_30d", "extreme_down", "extreme_up",
                       "maintenance_rate", "initial_rate"):
            table[column] = table[column].map(lambda v: f"{v:.2%}")
        p = self.provenance
        lines = [
            f"Calibrated parameters as of {self.asof} (methodology {p.methodology!r}, dataset {p.dataset} {p.dataset_version}, "
            f"marginlab {p.package_version})",
            table.to_string(),
        ]
        if self.offsets is not None and self.offsets.pairs:
            lines.append(f"Inter-underlying spread credits ({self.offsets.method}):")
            lines.extend(
                f"  {o.asset_a}/{o.asset_b}: credit {o.credit_rate:.1%} (stress correlation "
                f"{'n/a' if o.correlation_stress is None else f'{o.correlation_stress:.2f}'}, all "
                f"{'n/a' if o.correlation_all is None else f'{o.correlation_all:.2f}'}; {o.n_stress:,} stress days of "
                f"{o.n_observations:,}, {o.window_start}..{o.window_end})"
                for o in self.offsets.pairs
            )
        return "\n".join(lines)

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The document written to the file (plain JSON types)."""
        assets = {}
        for name, entry in self.assets.items():
            record = {f.name: getattr(entry, f.name) for f in fields(entry) if f.name != "asset"}
            for key in ("vol_shock", "extreme_move", "provenance", "haircut_details", "side_rates"):
                if record[key] is None:  # an optional record left out (files without side rates)
                    del record[key]
                    continue
                record[key] = {f.name: getattr(record[key], f.name) for f in fields(record[key])}
            assets[name] = record
        document = {
            "schema_version": SCHEMA_VERSION,
            "asof": self.asof,
            "provenance": {f.name: getattr(self.provenance, f.name) for f in fields(self.provenance)},
            "methodology": copy.deepcopy(dict(self.methodology)),
            "assets": assets,
        }
        if self.offsets is not None:
            document["offsets"] = self.offsets.to_dict()
        return _plain(document)

    @classmethod
    def from_dict(cls, document: Any) -> ParameterSet:
        """Validate a document (schema, then ``initial_rate >= maintenance_rate``) and build the typed records."""
        if not isinstance(document, Mapping):
            raise FileFormatError(f"parameter file: top level must be a mapping, got {type(document).__name__}")
        document = _plain(document)
        validate_document(document)
        assets = {}
        for name, entry in document["assets"].items():
            assets[name] = AssetParameters(
                asset=name,
                asset_class=entry["asset_class"],
                haircut=entry["haircut"],
                tier=entry["tier"],
                price_scan_range=entry["price_scan_range"],
                vol_shock=_record(VolShockParameters, entry["vol_shock"]),
                extreme_move=_record(ExtremeMoveParameters, entry["extreme_move"]),
                maintenance_rate=entry["maintenance_rate"],
                initial_rate=entry["initial_rate"],
                provenance=_record(AssetProvenance, entry["provenance"]),
                haircut_details=_record(HaircutDetails, entry.get("haircut_details", {})),
                side_rates=_record(SideRates, entry["side_rates"]) if entry.get("side_rates") is not None else None,
            )
        offsets = OffsetParameters.from_dict(document["offsets"]) if document.get("offsets") is not None else None
        return cls(document["asof"], assets, document["methodology"], _record(Provenance, document["provenance"]), offsets)

    def save(self, path: str | Path) -> Path:
        """Write YAML (``.yaml``/``.yml``) or JSON (``.json``) atomically; the target is checked first."""
        target = check_writable(path, suffixes=PARAMETER_FILE_SUFFIXES)
        document = self.to_dict()
        if target.suffix.lower() == ".json":
            text = json.dumps(document, indent=2) + "\n"
        else:
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        return atomic_write_text(target, text)

    @classmethod
    def load(cls, path: str | Path) -> ParameterSet:
        """Read and validate a YAML or JSON parameter file."""

        source = Path(path)
        if not source.is_file():
            raise InputError("path", str(path), "no such parameter file")
        if source.suffix.lower() not in PARAMETER_FILE_SUFFIXES:
            raise InputError("path", str(path), f"suffix must be one of {', '.join(PARAMETER_FILE_SUFFIXES)}")

        document = read_mapping(source, "parameter file")
        return cls.from_dict(document)

    def __repr__(self) -> str:
        return f"ParameterSet(asof={self.asof!r}, assets={self.asset_names}, methodology={self.provenance.methodology!r})"


def load(path: str | Path) -> ParameterSet:
    """Read and validate a parameter file (:meth:`ParameterSet.load`).

    Parameters
    ----------
    path : str or Path
        A ``.yaml``, ``.yml`` or ``.json`` parameter file.

    Returns
    -------
    ParameterSet
        The validated parameters.
    """
    return ParameterSet.load(path)


def example_parameters() -> ParameterSet:
    """A small valid parameter set (BTC only, round numbers), for docs and tests."""
    btc = AssetParameters(
        asset="BTC",
        asset_class="major",
        haircut=0.12,
        tier="tier 2 (<= 15%)",
        price_scan_range=0.12,
        vol_shock=VolShockParameters(0.45, 0.25, source="example"),
        extreme_move=ExtremeMoveParameters(down=0.3, up=0.3),
        maintenance_rate=0.06,
        initial_rate=0.085,
        provenance=AssetProvenance("2021-01-01", "2025-01-31", 1491, "ewma(0.94)", "ewma"),
        haircut_details=HaircutDetails(vol_forecast=0.5),
    )
    provenance = Provenance("2025-02-01T00:00:00+00:00", "0.1.0", "example", "0", "example")
    return ParameterSet("2025-01-31", {"BTC": btc}, {"name": "example"}, provenance)
