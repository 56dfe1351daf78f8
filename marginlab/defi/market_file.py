"""The lending-market file: reserves, liquidity, borrower populations and risk targets (YAML/JSON).

Every field is checked before any simulation, and a bad one is a one-line
:class:`~marginlab.exceptions.InputError` naming it: an unknown collateral type (``reserves[XYZ]``), an LTV above
the liquidation threshold (``reserves[ETH].ltv``), a negative cap (``reserves[ETH].supply_cap_usd``), a pair on an
asset without a reserve. ``examples/lending_market.yaml`` is the reference example.

Examples
--------
>>> from pathlib import Path
>>> spec = load_market_file(Path(__file__).resolve().parents[2] / "examples" / "lending_market.yaml")
>>> spec.assets
('ETH', 'wstETH', 'BTC', 'USDC', 'USDe')
>>> spec.reserves["ETH"].liquidation_threshold
0.83
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from marginlab.defi.collateral_types import CollateralRegistry, load_collateral_types
from marginlab.defi.lending import ConstantProductCurve, DepthTableCurve, LiquidityCurve, ReserveParameters
from marginlab.exceptions import InputError, ParameterError, UnknownAssetError

__all__ = ["MarketSpec", "PairSpec", "RiskTargets", "load_market_file", "parse_market"]

_TOP_KEYS = {"name", "asof", "assumed", "horizon_days", "steps_per_day", "n_paths", "seed", "targets", "prices_usd", "reserves",
             "liquidity", "pairs", "collateral_types_file", "max_step", "risk_dao_c", "source", "note"}


@dataclass(frozen=True)
class RiskTargets:
    """Targets of the market's bad debt: VaR95 and EVaR99 (USD)."""

    var95_usd: float
    evar99_usd: float


@dataclass(frozen=True)
class PairSpec:
    """A borrower population: ``supplied_usd`` of ``collateral`` borrowing ``debt``."""

    collateral: str
    debt: str
    supplied_usd: float
    accounts: int
    borrow_usage_mean: float = 0.6
    emode_candidate: bool = False

    @property
    def name(self) -> str:
        return f"{self.collateral}/{self.debt}"


@dataclass(frozen=True)
class MarketSpec:
    """A parsed lending-market file (see the module docstring)."""

    name: str
    asof: pd.Timestamp
    horizon_days: int
    steps_per_day: int
    n_paths: int
    seed: int
    targets: RiskTargets
    prices_usd: Mapping[str, float]
    reserves: Mapping[str, ReserveParameters]
    liquidity: Mapping[str, LiquidityCurve]
    pairs: tuple[PairSpec, ...]
    registry: CollateralRegistry = field(repr=False)
    max_step: float = 0.03
    risk_dao_c: float = 2.33
    source: str = ""

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(self.reserves)

    def with_targets(self, var95_usd: float | None = None, evar99_usd: float | None = None) -> "MarketSpec":
        """A copy with other targets (``None`` keeps one)."""
        from dataclasses import replace

        targets = RiskTargets(self.targets.var95_usd if var95_usd is None else _amount("--target-var", var95_usd),
                              self.targets.evar99_usd if evar99_usd is None else _amount("--target-evar", evar99_usd))
        return replace(self, targets=targets)


def _amount(name: str, value: Any, positive: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(name, value, "must be a number") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise InputError(name, value, "must be a finite amount " + ("> 0" if positive else ">= 0"))
    return number


def _integer(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(name, value, f"must be an integer in [{low}, {high}]")
    return int(value)


def _mapping(name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise InputError(name, value if not isinstance(value, Mapping) else "{}", "must be a non-empty mapping")
    return value


def _curve(asset: str, entry: Any) -> LiquidityCurve:
    where = f"liquidity[{asset}]"
    entry = _mapping(where, entry)
    if "constant_product_depth_usd" in entry:
        return ConstantProductCurve(_amount(f"{where}.constant_product_depth_usd", entry["constant_product_depth_usd"], positive=True))
    if "depth_table" in entry:
        table = _mapping(f"{where}.depth_table", entry["depth_table"])
        sizes, slips = table.get("sizes_usd"), table.get("slippages")
        if not isinstance(sizes, list) or not isinstance(slips, list):
            raise InputError(f"{where}.depth_table", table, "needs lists sizes_usd and slippages")
        try:
            return DepthTableCurve(tuple(sizes), tuple(slips))
        except (TypeError, ValueError) as error:
            raise InputError(f"{where}.depth_table", table, str(error)) from None
    raise InputError(where, dict(entry), "needs constant_product_depth_usd or depth_table")


def parse_market(document: Any, source: str = "<market>") -> MarketSpec:
    """Check and build a :class:`MarketSpec` from a parsed mapping."""
    document = _mapping("market", document)
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise InputError(unknown[0], document[unknown[0]], f"unknown field of the market file (known: {sorted(_TOP_KEYS)})")
    registry = load_collateral_types(document.get("collateral_types_file"))
    try:
        asof = pd.Timestamp(str(document.get("asof")))
    except (TypeError, ValueError):
        raise InputError("asof", document.get("asof"), "must be a date (YYYY-MM-DD)") from None
    if pd.isna(asof):
        raise InputError("asof", document.get("asof"), "must be a date (YYYY-MM-DD)")
    asof = asof.tz_localize("UTC") if asof.tzinfo is None else asof
    targets_doc = _mapping("targets", document.get("targets"))
    targets = RiskTargets(_amount("targets.var95_usd", targets_doc.get("var95_usd")), _amount("targets.evar99_usd", targets_doc.get("evar99_usd")))
    prices = {str(a): _amount(f"prices_usd[{a}]", p, positive=True) for a, p in _mapping("prices_usd", document.get("prices_usd")).items()}
    reserves: dict[str, ReserveParameters] = {}
    for asset, entry in _mapping("reserves", document.get("reserves")).items():
        asset = str(asset)
        if asset not in registry.types:
            raise UnknownAssetError(f"reserves[{asset}]", asset, f"unknown collateral type (known: {sorted(registry.types)})")
        entry = _mapping(f"reserves[{asset}]", entry)
        extra = sorted(set(entry) - {"ltv", "liquidation_threshold", "liquidation_bonus", "supply_cap_usd", "borrow_cap_usd"})
        if extra:
            raise InputError(f"reserves[{asset}].{extra[0]}", entry[extra[0]], "unknown reserve field")
        for key in ("ltv", "liquidation_threshold", "liquidation_bonus"):
            if key not in entry:
                raise InputError(f"reserves[{asset}].{key}", None, "is required")
        for key in ("supply_cap_usd", "borrow_cap_usd"):
            if key in entry and entry[key] is not None:
                _amount(f"reserves[{asset}].{key}", entry[key])
        reserves[asset] = ReserveParameters(asset, entry["ltv"], entry["liquidation_threshold"], entry["liquidation_bonus"],
                                            entry.get("supply_cap_usd"), entry.get("borrow_cap_usd"))
        if asset not in prices:
            raise InputError(f"prices_usd[{asset}]", None, "every reserve needs a price today")
    liquidity = {str(a): _curve(str(a), e) for a, e in _mapping("liquidity", document.get("liquidity")).items()}
    raw_pairs = document.get("pairs")
    if not isinstance(raw_pairs, list) or not raw_pairs:
        raise InputError("pairs", raw_pairs, "must be a non-empty list of borrower populations")
    pairs = []
    for index, entry in enumerate(raw_pairs):
        where = f"pairs[{index}]"
        entry = _mapping(where, entry)
        for side in ("collateral", "debt"):
            if entry.get(side) not in reserves:
                raise UnknownAssetError(f"{where}.{side}", entry.get(side), f"has no reserve (known: {sorted(reserves)})")
        if entry["collateral"] == entry["debt"]:
            raise InputError(f"{where}.debt", entry["debt"], "must differ from the collateral")
        if entry["collateral"] not in liquidity:
            raise UnknownAssetError(f"liquidity[{entry['collateral']}]", None, "a collateral asset needs a liquidity curve")
        usage = entry.get("borrow_usage_mean", 0.6)
        if not isinstance(usage, int | float) or not 0 < float(usage) < 1:
            raise InputError(f"{where}.borrow_usage_mean", usage, "must lie in (0, 1)")
        pairs.append(PairSpec(str(entry["collateral"]), str(entry["debt"]), _amount(f"{where}.supplied_usd", entry.get("supplied_usd")),
                              _integer(f"{where}.accounts", entry.get("accounts", 100), 1, 100_000), float(usage),
                              bool(entry.get("emode_candidate", False))))
    max_step = document.get("max_step", 0.03)
    if not isinstance(max_step, int | float) or not 0 < float(max_step) <= 0.5:
        raise ParameterError("max_step", max_step, "must lie in (0, 0.5]")
    c = document.get("risk_dao_c", 2.33)
    if not isinstance(c, int | float) or not 0 < float(c) < 100:
        raise ParameterError("risk_dao_c", c, "must be positive")
    return MarketSpec(
        name=str(document.get("name", "market")), asof=asof,
        horizon_days=_integer("horizon_days", document.get("horizon_days", 1), 1, 30),
        steps_per_day=_integer("steps_per_day", document.get("steps_per_day", 6), 1, 48),
        n_paths=_integer("n_paths", document.get("n_paths", 1000), 100, 200_000),
        seed=_integer("seed", document.get("seed", 0), 0, 2**32 - 1),
        targets=targets, prices_usd=prices, reserves=reserves, liquidity=liquidity, pairs=tuple(pairs), registry=registry,
        max_step=float(max_step), risk_dao_c=float(c), source=source,
    )


def load_market_file(path: str | Path) -> MarketSpec:
    """Read and check a lending-market file (YAML or JSON)."""
    from marginlab.fileio import read_mapping

    return parse_market(read_mapping(path, what="lending-market file"), str(path))
