"""Collateral valuation: haircut schedules, the margin-ratio action ladder, health factors.

Collateral balances (``Account.collateral``, in asset units) are valued at the market
snapshot's index price -- stablecoins included, so a depeg (USDC at 0.88) lowers the
collateral it backs -- and then reduced by a *haircut* ``h`` in ``[0, 1]``: the adjusted value
is ``value * (1 - h)``. The *collateral ratio* (Binance's "collateral rate") is ``1 - h``.

Three schedules implement the :class:`HaircutSchedule` protocol
(``haircut(asset, amount, market) -> fraction``):

* :class:`FlatHaircut` -- one haircut per asset (and an optional default);
* :class:`TieredHaircut` -- value tiers, each slice of the USD value counted at its own ratio
  (Binance "tiered collateral ratio"); the haircut returned is the value-weighted effective one;
* :class:`DynamicHaircut` -- ``clip(base * current_vol / reference_vol, floor, cap)``, fed by a
  volatility forecast (e.g. GARCH) or a parameter file.

:class:`ActionLadder` maps a margin ratio (equity / maintenance margin) to the venue's action
(worked example F); :func:`health_factor` and :class:`HealthFactorRules` implement the Aave-style
collateral rules (worked example E4).

>>> from marginlab.collateral import FlatHaircut, adjusted_collateral_usd
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
>>> adjusted_collateral_usd({"BTC": 3.0}, market, FlatHaircut({"BTC": 0.05}))  # 3 BTC count as 2.85 BTC
285000.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from marginlab._validation import as_float
from marginlab.exceptions import InputError, MissingMarketDataError, ParameterError, UnknownAssetError
from marginlab.market import MarketSnapshot
from marginlab.valuation import USD_CODES

#: Collateral assets that hold a dollar peg: they do not move with a portfolio model's spot scenarios (their risk
#: is a depeg, :mod:`marginlab.calibration.depeg`). Every other coin held as collateral moves with its own price.
STABLE_COLLATERAL: frozenset[str] = frozenset({
    "USD", "USDT", "USDC", "DAI", "BUSD", "TUSD", "USDP", "GUSD", "HUSD", "LUSD", "FRAX", "FEI", "MIM", "SUSD", "USDN",
    "USTC", "UST", "FDUSD", "PYUSD", "USDe", "USDE", "USDS", "USD1", "USDtb", "RLUSD", "BFUSD", "USDf",
})


def moves_with_market(asset: str) -> bool:
    """Whether collateral ``asset`` moves with a portfolio model's scenarios (every coin but the dollars).

    >>> moves_with_market("ETH"), moves_with_market("USDC")
    (True, False)
    """
    return str(asset) not in STABLE_COLLATERAL


def coin_collateral(collateral: Mapping[str, float], asset: str | None = None) -> dict[str, float]:
    """The balances of ``collateral`` that move with the market (coins, not dollars), optionally of one ``asset`` only.

    Portfolio models add them to an underlying's scenarios, so that coin collateral gains and loses with the
    positions on the same coin (:meth:`marginlab.book.Book.from_accounts` makes them ``SPOT`` rows).

    >>> coin_collateral({"ETH": 10.0, "USDC": 5_000.0}), coin_collateral({"ETH": 10.0}, "BTC")
    ({'ETH': 10.0}, {})
    """
    return {a: float(v) for a, v in collateral.items() if moves_with_market(a) and float(v) != 0.0 and (asset is None or a == asset)}


def _fraction(field_name: str, value: Any) -> float:
    number = as_float(field_name, value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ParameterError(field_name, value, "must be a fraction in [0, 1]")
    return number


def _price_usd(asset: str, market: MarketSnapshot) -> float:
    if asset in USD_CODES:
        return 1.0
    if asset not in market.assets:
        raise UnknownAssetError(f"collateral[{asset}]", asset, f"has no price in the market snapshot (known: {sorted(market.assets)})")
    return market.index_usd(asset)


@runtime_checkable
class HaircutSchedule(Protocol):
    """Anything that gives the haircut (a fraction in ``[0, 1]``) of ``amount`` units of ``asset``."""

    def haircut(self, asset: str, amount: float, market: MarketSnapshot) -> float:
        """Haircut of ``amount`` units of ``asset`` valued at ``market``."""
        ...


@dataclass(frozen=True)
class FlatHaircut:
    """One haircut per asset, independent of the amount.

    Parameters
    ----------
    haircuts : mapping asset -> fraction
        Haircut per asset (``0.05`` = the asset counts at 95%).
    default : float, optional
        Haircut of unlisted assets; ``None`` raises :class:`UnknownAssetError` for them.
        ``USD`` is always at 0 unless listed.

    >>> FlatHaircut({"BTC": 0.05}, default=0.9).haircut("DOGE", 1.0, None)
    0.9
    """

    haircuts: Mapping[str, float] = field(default_factory=dict)
    default: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "haircuts", {str(a): _fraction(f"haircuts[{a}]", h) for a, h in dict(self.haircuts).items()})
        if self.default is not None:
            object.__setattr__(self, "default", _fraction("default", self.default))

    @classmethod
    def from_collateral_ratios(cls, ratios: Mapping[str, float], default_ratio: float | None = None) -> "FlatHaircut":
        """Build from collateral ratios (``1 - haircut``), the way Binance publishes them."""
        return cls(
            {a: 1.0 - _fraction(f"ratios[{a}]", r) for a, r in ratios.items()},
            None if default_ratio is None else 1.0 - _fraction("default_ratio", default_ratio),
        )

    def haircut(self, asset: str, amount: float, market: MarketSnapshot | None) -> float:
        if asset in self.haircuts:
            return self.haircuts[asset]
        if asset in USD_CODES:
            return 0.0
        if self.default is None:
            raise UnknownAssetError("asset", asset, f"has no haircut (known: {sorted(self.haircuts)}) and no default is set")
        return self.default


@dataclass(frozen=True)
class CollateralTier:
    """One value tier of a tiered collateral ratio: USD value up to ``upper_usd`` counts at ``ratio``."""

    upper_usd: float
    ratio: float

    def __post_init__(self) -> None:
        upper = as_float("upper_usd", self.upper_usd)
        if not upper > 0:
            raise ParameterError("upper_usd", self.upper_usd, "must be positive (use math.inf for the last tier)")
        object.__setattr__(self, "upper_usd", upper)
        object.__setattr__(self, "ratio", _fraction("ratio", self.ratio))


@dataclass(frozen=True)
class TieredHaircut:
    """Size-tiered collateral ratios (Binance style): each slice of the value counts at its tier's ratio.

    A balance worth ``V`` USD counts ``sum_i ratio_i * (min(V, upper_i) - upper_{i-1})^+``; the
    haircut returned is ``1 - counted / V``. Beyond the last tier's upper bound the value counts at 0.

    Parameters
    ----------
    tiers : mapping asset -> sequence of CollateralTier (or ``(upper_usd, ratio)`` pairs)
        Tiers in increasing ``upper_usd`` order.
    default : FlatHaircut-like float, optional
        Flat haircut for assets without tiers; ``None`` raises for them.

    >>> schedule = TieredHaircut({"BTC": [(1_000_000, 0.95), (2_000_000, 0.9)]})
    >>> round(schedule.haircut("BTC", 15.0, None, value_usd=1_500_000), 6)  # 950k + 450k counted
    0.066667
    """

    tiers: Mapping[str, Sequence[CollateralTier]] = field(default_factory=dict)
    default: float | None = None

    def __post_init__(self) -> None:
        tiers: dict[str, tuple[CollateralTier, ...]] = {}
        for asset, raw in dict(self.tiers).items():
            parsed = tuple(t if isinstance(t, CollateralTier) else CollateralTier(*t) for t in raw)
            if not parsed:
                raise ParameterError(f"tiers[{asset}]", raw, "needs at least one tier")
            uppers = [t.upper_usd for t in parsed]
            if any(b <= a for a, b in zip(uppers, uppers[1:])):
                raise ParameterError(f"tiers[{asset}]", uppers, "upper bounds must be strictly increasing")
            tiers[str(asset)] = parsed
        object.__setattr__(self, "tiers", tiers)
        if self.default is not None:
            object.__setattr__(self, "default", _fraction("default", self.default))

    def counted_usd(self, asset: str, value_usd: float) -> float:
        """USD value counted for a balance worth ``value_usd``."""
        tiers = self.tiers[asset]
        uppers = np.array([t.upper_usd for t in tiers])
        lowers = np.concatenate([[0.0], uppers[:-1]])
        ratios = np.array([t.ratio for t in tiers])
        slices = np.clip(value_usd - lowers, 0.0, uppers - lowers)
        return float(np.sum(slices * ratios))

    def haircut(self, asset: str, amount: float, market: MarketSnapshot | None, value_usd: float | None = None) -> float:
        if asset not in self.tiers:
            if asset in USD_CODES:
                return 0.0
            if self.default is None:
                raise UnknownAssetError("asset", asset, f"has no collateral tiers (known: {sorted(self.tiers)}) and no default")
            return self.default
        if value_usd is None:
            if market is None:
                raise InputError("market", None, "a tiered haircut needs the market to value the balance")
            value_usd = abs(amount) * _price_usd(asset, market)
        if value_usd <= 0:
            return 1.0 - self.tiers[asset][0].ratio
        return float(min(max(1.0 - self.counted_usd(asset, value_usd) / value_usd, 0.0), 1.0))


@dataclass(frozen=True)
class DynamicHaircut:
    """Volatility-scaled haircut: ``clip(base * current_vol / reference_vol, floor, cap)``.

    The calibration step feeds ``current_vol`` (e.g. a GARCH forecast of annualised volatility)
    and ``reference_vol`` (the volatility at which ``base`` was set) per asset; when volatility
    doubles the haircut doubles, within ``[floor, cap]``.

    Parameters
    ----------
    base : mapping asset -> fraction
        Haircut at the reference volatility.
    reference_vol, current_vol : mapping asset -> annualised volatility (fraction)
    floor, cap : float
        Bounds of the haircut, ``0 <= floor <= cap <= 1``.

    An asset without a current volatility raises :class:`MissingMarketDataError` (a stale or
    missing forecast must not silently fall back to the base haircut).

    >>> schedule = DynamicHaircut({"ETH": 0.10}, {"ETH": 0.60}, {"ETH": 0.90}, floor=0.05, cap=0.5)
    >>> round(schedule.haircut("ETH", 1.0, None), 10)
    0.15
    """

    base: Mapping[str, float]
    reference_vol: Mapping[str, float]
    current_vol: Mapping[str, float] = field(default_factory=dict)
    floor: float = 0.0
    cap: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", {a: _fraction(f"base[{a}]", h) for a, h in dict(self.base).items()})
        for name in ("reference_vol", "current_vol"):
            vols = {}
            for asset, vol in dict(getattr(self, name)).items():
                number = as_float(f"{name}[{asset}]", vol)
                if not math.isfinite(number) or number <= 0:
                    raise ParameterError(f"{name}[{asset}]", vol, "must be a positive finite volatility")
                vols[asset] = number
            object.__setattr__(self, name, vols)
        floor, cap = _fraction("floor", self.floor), _fraction("cap", self.cap)
        if floor > cap:
            raise ParameterError("floor", floor, f"must not exceed cap={cap}")
        object.__setattr__(self, "floor", floor)
        object.__setattr__(self, "cap", cap)

    def with_current_vol(self, current_vol: Mapping[str, float]) -> "DynamicHaircut":
        """A copy fed with new volatility forecasts (merged over the old ones)."""
        return DynamicHaircut(self.base, self.reference_vol, {**self.current_vol, **current_vol}, self.floor, self.cap)

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> "DynamicHaircut":
        """Build from a mapping ``{floor, cap, assets: {ASSET: {base, reference_vol, current_vol}}}``."""
        assets = parameters.get("assets")
        if not isinstance(assets, Mapping) or not assets:
            raise ParameterError("assets", assets, "a dynamic haircut needs a non-empty 'assets' mapping")
        base, reference, current = {}, {}, {}
        for asset, entry in assets.items():
            if not isinstance(entry, Mapping) or "base" not in entry or "reference_vol" not in entry:
                raise ParameterError(f"assets[{asset}]", entry, "needs 'base' and 'reference_vol'")
            base[asset], reference[asset] = entry["base"], entry["reference_vol"]
            if entry.get("current_vol") is not None:
                current[asset] = entry["current_vol"]
        return cls(base, reference, current, parameters.get("floor", 0.0), parameters.get("cap", 1.0))

    def haircut(self, asset: str, amount: float, market: MarketSnapshot | None) -> float:
        if asset in USD_CODES and asset not in self.base:
            return 0.0
        if asset not in self.base or asset not in self.reference_vol:
            raise UnknownAssetError("asset", asset, f"has no base haircut/reference volatility (known: {sorted(self.base)})")
        if asset not in self.current_vol:
            raise MissingMarketDataError("current_vol", asset, "no volatility forecast for this asset; feed one with with_current_vol()")
        raw = self.base[asset] * self.current_vol[asset] / self.reference_vol[asset]
        return float(min(max(raw, self.floor), self.cap))


def collateral_table(collateral: Mapping[str, float], market: MarketSnapshot, schedule: HaircutSchedule | None = None) -> pd.DataFrame:
    """One row per collateral balance: amount, price, value, haircut and adjusted value (USD).

    ``adjusted_value_usd = value_usd * (1 - haircut)``; without a schedule the haircut is 0.
    """
    rows = []
    for asset, amount in collateral.items():
        price = _price_usd(asset, market)
        value = float(amount) * price
        if schedule is None:
            haircut = 0.0
        elif isinstance(schedule, TieredHaircut):
            haircut = schedule.haircut(asset, amount, market, value_usd=value)
        else:
            haircut = schedule.haircut(asset, float(amount), market)
        haircut = float(haircut)
        if not 0.0 <= haircut <= 1.0:
            raise ParameterError(f"haircut[{asset}]", haircut, "the schedule returned a haircut outside [0, 1]")
        rows.append((asset, float(amount), price, value, haircut, 1.0 - haircut, value * (1.0 - haircut)))
    return pd.DataFrame(
        rows, columns=["asset", "amount", "price_usd", "value_usd", "haircut", "collateral_ratio", "adjusted_value_usd"]
    )


def adjusted_collateral_usd(collateral: Mapping[str, float], market: MarketSnapshot, schedule: HaircutSchedule | None = None) -> float:
    """Total collateral value in USD after haircuts."""
    table = collateral_table(collateral, market, schedule)
    return float(table["adjusted_value_usd"].sum()) if len(table) else 0.0


# ------------------------------------------------------------------ action ladder
def ladder_band(margin_ratio: Any, thresholds: Sequence[float]) -> Any:
    """The band of a margin ratio on a ladder of decreasing ``thresholds``: how many thresholds it is at or below.

    The one classification of every action ladder in the package (:class:`ActionLadder` of a margin result,
    :meth:`marginlab.liquidation.policy.LiquidationPolicy.classify` and the liquidation engine's arrays): band 0 is
    ``ratio > thresholds[0]``, band ``i`` is ``thresholds[i] < ratio <= thresholds[i - 1]``, the last band is
    ``ratio <= thresholds[-1]``. A boundary belongs to the **riskier** band, as Binance publishes its unified-account
    ladder: "120% < uniMMR <= 150%" reminder, "105% < uniMMR <= 120%" reduce-only, "100% < uniMMR <= 105%"
    liquidation (Binance FAQ "Binance Portfolio Margin Pro Maintenance Margin Ratio Calculation",
    https://www.binance.com/en/support/faq/binance-portfolio-margin-pro-maintenance-margin-ratio-calculation-5e33af8e6ac04d57a1d0a3398e0a0752,
    read 2026-12-07), so a ratio of exactly 1.2 is reduce-only. ``inf`` (nothing required) is band 0; NaN is an error.

    Parameters
    ----------
    margin_ratio : float or array of float
        Equity / maintenance margin.
    thresholds : sequence of float
        Strictly decreasing band edges.

    Returns
    -------
    int or array of int64
        The band of each ratio, ``0 .. len(thresholds)``.

    Examples
    --------
    >>> ladder_band(1.2, (1.5, 1.2, 1.05)), ladder_band(1.2000001, (1.5, 1.2, 1.05))
    (2, 1)
    >>> ladder_band(np.array([2.0, 1.5, 1.05, 0.5, np.inf]), (1.5, 1.2, 1.05)).tolist()
    [0, 1, 3, 3, 0]
    """
    ratio = np.asarray(margin_ratio, dtype=np.float64)
    if np.isnan(ratio).any():
        raise InputError("margin_ratio", float(ratio[np.isnan(ratio)].flat[0]) if ratio.ndim else float(ratio), "must not be NaN")
    edges = np.asarray(tuple(thresholds), dtype=np.float64)
    band = np.sum(ratio[..., None] <= edges, axis=-1).astype(np.int64)
    return int(band) if band.ndim == 0 else band


@dataclass(frozen=True)
class ActionLadder:
    """Actions by margin ratio (equity / maintenance margin), from the safest down.

    ``levels`` are ``(threshold, action)`` pairs with decreasing thresholds: a ratio strictly
    above the first threshold gets the first action, a ratio in ``(t_{i+1}, t_i]`` gets action
    ``i + 1``, and a ratio at or below the last threshold gets ``final_action``.

    The default is worked example F (Binance unified account): above 150% free; 120-150%
    reminder; 105-120% reduce-only; 100-105% liquidation; at or below 100% liquidation with a
    possible loss claim. Binance's published table puts each boundary in the riskier band
    ("105% < uniMMR <= 120%": reduce-only), so a ratio of exactly 1.20 is reduce-only
    (:func:`ladder_band`, the one classification shared with the liquidation engine).

    >>> ladder = ActionLadder()
    >>> [ladder.classify(r) for r in (2.0, 1.3, 1.1, 1.02, 0.9)]
    ['free', 'reminder', 'reduce-only', 'liquidation', 'liquidation-loss-claim']
    """

    levels: tuple[tuple[float, str], ...] = ((1.5, "free"), (1.2, "reminder"), (1.05, "reduce-only"), (1.0, "liquidation"))
    final_action: str = "liquidation-loss-claim"

    def __post_init__(self) -> None:
        levels = tuple((as_float("levels", t), str(a)) for t, a in self.levels)
        if not levels:
            raise ParameterError("levels", self.levels, "needs at least one level")
        thresholds = [t for t, _ in levels]
        if any(b >= a for a, b in zip(thresholds, thresholds[1:])) or any(not math.isfinite(t) for t in thresholds):
            raise ParameterError("levels", thresholds, "thresholds must be finite and strictly decreasing")
        object.__setattr__(self, "levels", levels)

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(a for _, a in self.levels) + (self.final_action,)

    def classify(self, margin_ratio: float) -> str:
        """The action for ``margin_ratio`` (``inf`` -- nothing required -- is the first action)."""
        return self.actions[ladder_band(float(margin_ratio), [t for t, _ in self.levels])]

    def band(self, margin_ratio: Any) -> Any:
        """The index into :attr:`actions` of each ratio (:func:`ladder_band` on this ladder's thresholds)."""
        return ladder_band(margin_ratio, [t for t, _ in self.levels])


UNIFIED_ACCOUNT_LADDER = ActionLadder()
"""Worked example F's ladder (Binance unified account)."""


# -------------------------------------------------------------- health factor (Aave)
def health_factor(collateral_usd: Mapping[str, float], liquidation_threshold: Mapping[str, float], debt_usd: float) -> float:
    """Aave-style health factor ``sum(collateral_i * threshold_i) / debt`` (``inf`` without debt).

    >>> health_factor({"ETH": 10_000.0, "WBTC": 5_000.0}, {"ETH": 0.825, "WBTC": 0.78}, 9_000.0)
    1.35
    """
    debt = float(debt_usd)
    if not math.isfinite(debt) or debt < 0:
        raise InputError("debt_usd", debt_usd, "must be a non-negative finite amount")
    total = 0.0
    for asset, value in collateral_usd.items():
        if asset not in liquidation_threshold:
            raise UnknownAssetError("liquidation_threshold", asset, "no liquidation threshold for this collateral asset")
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise InputError(f"collateral_usd[{asset}]", value, "must be a non-negative finite amount")
        total += value * _fraction(f"liquidation_threshold[{asset}]", liquidation_threshold[asset])
    return math.inf if debt == 0 else total / debt


@dataclass(frozen=True)
class LiquidationCall:
    """What one health-factor liquidation does (:meth:`HealthFactorRules.liquidate`), all in USD.

    ``debt_repaid_usd * (1 + bonus) == collateral_seized_usd`` always; ``bad_debt_usd`` is the debt left
    on a position with no collateral left (Aave v3.3 burns it and books it as the reserve's deficit).
    """

    debt_repaid_usd: float
    collateral_seized_usd: float
    remaining_debt_usd: float
    remaining_collateral_usd: float
    bad_debt_usd: float
    close_factor: float
    capped_at_collateral: bool


@dataclass(frozen=True)
class HealthFactorRules:
    """Aave v3.3 health-factor liquidation rules (worked example E4), for one collateral / debt pair.

    Source: Aave v3.3 ``LiquidationLogic.sol`` (aave-dao/aave-v3-origin, commit 027aaed7, read 2026-12-07):

    * a position is liquidatable when its health factor is below 1;
    * the liquidator may repay the **whole** debt when the health factor is **at or below**
      ``CLOSE_FACTOR_HF_THRESHOLD = 0.95`` ("below(inclusive) which the full amount of debt becomes
      liquidatable"), **or** when the position's collateral or debt is worth less than
      ``MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD = 2,000`` USD (small positions); otherwise at most
      ``DEFAULT_LIQUIDATION_CLOSE_FACTOR = 50%`` of the debt;
    * it receives collateral worth ``repaid * (1 + liquidation_bonus)``, but never more than the position holds:
      when that exceeds the collateral balance, all the collateral is seized and the debt covered is cut to
      ``collateral / (1 + bonus)`` (``_calculateAvailableCollateralToLiquidate``);
    * a partial liquidation must leave at least ``MIN_LEFTOVER_BASE = 1,000`` USD of both debt and collateral
      (else the call reverts with ``MUST_NOT_LEAVE_DUST``); a liquidator who wants the maximum then repays the
      most that leaves that much (what :meth:`liquidate` does by default);
    * a position left with debt and no collateral is bad debt (v3.3 "deficit").

    The bonus is asset-specific at Aave: the default 5% is an assumption. The protocol fee on the bonus is
    not modelled (it only splits the bonus between liquidator and treasury).

    Parameters
    ----------
    close_factor : float
        Share of the debt repayable above the threshold (Aave 0.5).
    full_close_factor : float
        Share repayable at or below the threshold and for small positions (Aave 1.0).
    full_close_threshold : float
        Health factor at or below which ``full_close_factor`` applies (Aave 0.95).
    liquidation_bonus : float
        Collateral bonus as a fraction (0.05 = the liquidator receives 105% of what it repays).
    small_position_usd : float
        Collateral or debt value below which the full close factor applies (Aave 2,000; 0 disables).
    min_leftover_usd : float
        Debt and collateral a partial liquidation must leave (Aave 1,000; 0 disables).

    Examples
    --------
    >>> rules = HealthFactorRules()
    >>> call = rules.liquidate(0.95, debt_usd=10_000.0, collateral_usd=10_000.0)  # HF 0.95: full close factor
    >>> call.close_factor, round(call.debt_repaid_usd, 2), call.collateral_seized_usd  # capped at the collateral
    (1.0, 9523.81, 10000.0)
    """

    close_factor: float = 0.5
    full_close_factor: float = 1.0
    full_close_threshold: float = 0.95
    liquidation_bonus: float = 0.05
    small_position_usd: float = 2_000.0
    min_leftover_usd: float = 1_000.0

    def __post_init__(self) -> None:
        for name in ("close_factor", "full_close_factor", "liquidation_bonus", "full_close_threshold"):
            object.__setattr__(self, name, _fraction(name, getattr(self, name)))
        for name in ("small_position_usd", "min_leftover_usd"):
            number = as_float(name, getattr(self, name))
            if not math.isfinite(number) or number < 0:
                raise ParameterError(name, getattr(self, name), "must be a finite amount >= 0")
            object.__setattr__(self, name, number)

    def close_factors(self, health: Any, debt_usd: Any, collateral_usd: Any = None) -> np.ndarray:
        """Share of the debt a liquidator may repay, elementwise (0 where the health factor is >= 1)."""
        hf = np.asarray(health, dtype=float)
        if np.any(np.isnan(hf)):
            raise InputError("health_factor", float(hf[np.isnan(hf)].ravel()[0]), "must not be NaN")
        debt = np.asarray(debt_usd, dtype=float)
        small = debt < self.small_position_usd
        if collateral_usd is not None:
            small = small | (np.asarray(collateral_usd, dtype=float) < self.small_position_usd)
        full = (hf <= self.full_close_threshold) | small
        return np.where(hf >= 1.0, 0.0, np.where(full, self.full_close_factor, self.close_factor))

    def max_repay_usd(self, health: float, debt_usd: float, collateral_usd: float | None = None) -> float:
        """Largest debt amount a liquidator may repay (0 when not liquidatable), before the collateral cap.

        Without ``collateral_usd`` only the debt's size is tested against ``small_position_usd``.
        """
        return float(self.close_factors(health, debt_usd, collateral_usd)) * float(debt_usd)

    def collateral_seized_usd(self, repaid_usd: float) -> float:
        """Collateral value the liquidator receives for repaying ``repaid_usd`` (before the collateral cap)."""
        return float(repaid_usd) * (1.0 + self.liquidation_bonus)

    def liquidate_arrays(
        self, health: Any, debt_usd: Any, collateral_usd: Any, debt_to_cover_usd: Any = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One liquidation call on every position at once: ``(debt_repaid, collateral_seized, close_factor)``.

        Arrays broadcast together (e.g. accounts x paths). The liquidator repays
        ``min(debt_to_cover, close_factor * debt)`` (``debt_to_cover`` default: as much as allowed), capped so the
        collateral seized ``repaid * (1 + bonus)`` does not exceed ``collateral_usd``; a partial liquidation that
        would leave less than ``min_leftover_usd`` of debt or collateral is cut back to leave exactly that much
        (or to nothing when that is impossible). The one implementation of the rules:
        :meth:`liquidate` and :mod:`marginlab.defi.lending` call it.
        """
        debt = np.asarray(debt_usd, dtype=float)
        collateral = np.asarray(collateral_usd, dtype=float)
        if np.any(~np.isfinite(debt)) or np.any(debt < 0):
            raise InputError("debt_usd", debt_usd, "must be finite and >= 0")
        if np.any(~np.isfinite(collateral)) or np.any(collateral < 0):
            raise InputError("collateral_usd", collateral_usd, "must be finite and >= 0")
        factor = self.close_factors(health, debt, collateral)
        allowed = factor * debt
        if debt_to_cover_usd is not None:
            cover = np.asarray(debt_to_cover_usd, dtype=float)
            if np.any(~np.isfinite(cover)) or np.any(cover < 0):
                raise InputError("debt_to_cover_usd", debt_to_cover_usd, "must be finite and >= 0")
            allowed = np.minimum(allowed, cover)
        multiplier = 1.0 + self.liquidation_bonus
        repaid = np.minimum(allowed, collateral / multiplier)
        seized = repaid * multiplier
        # all collateral taken: the cap binds (avoid a rounding remainder)
        seized = np.where(repaid >= collateral / multiplier, collateral, seized)
        partial = (repaid < debt) & (seized < collateral) & (repaid > 0)
        floor = self.min_leftover_usd
        leaves_dust = partial & ((debt - repaid < floor) | (collateral - seized < floor))
        if np.any(leaves_dust):
            most = np.maximum(np.minimum(debt - floor, (collateral - floor) / multiplier), 0.0)
            repaid = np.where(leaves_dust, np.minimum(repaid, most), repaid)
            seized = np.where(leaves_dust, repaid * multiplier, seized)
        return repaid, seized, factor

    def liquidate(self, health: float, debt_usd: float, collateral_usd: float, debt_to_cover_usd: float | None = None) -> LiquidationCall:
        """One liquidation call on one position (see :meth:`liquidate_arrays`)."""
        repaid, seized, factor = (float(v) for v in self.liquidate_arrays(health, debt_usd, collateral_usd, debt_to_cover_usd))
        remaining_collateral = max(float(collateral_usd) - seized, 0.0)
        remaining_debt = max(float(debt_usd) - repaid, 0.0)
        bad = remaining_debt if remaining_collateral <= 0.0 else 0.0
        requested = factor * float(debt_usd) if debt_to_cover_usd is None else min(factor * float(debt_usd), float(debt_to_cover_usd))
        capped = float(collateral_usd) > 0.0 and seized >= float(collateral_usd) and repaid < requested
        return LiquidationCall(repaid, seized, remaining_debt, remaining_collateral, bad, factor, bool(capped))
