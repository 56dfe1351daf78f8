"""Lending-market risk: accounts x paths, Aave v3.3 health-factor liquidations, VaR / LaR / EVaR of bad debt.

A lending market holds **accounts**, each with one supplied collateral and one borrowed debt asset (the unit of
an Aave liquidation call, one collateral / debt pair). Over a horizon cut into steps, on simulated **price
paths**, every step:

1. values collateral and debt at the step's prices and computes each account's health factor
   ``HF = collateral_usd x liquidation_threshold / debt_usd``;
2. liquidates the accounts with ``HF < 1`` by the protocol's rules (:class:`marginlab.collateral.HealthFactorRules`:
   50% / 100% close factor at ``HF <= 0.95`` or under 2,000 USD, the seizure ``repaid x (1 + bonus)`` capped at the
   collateral, the dust rule) -- one call per account and step, on arrays;
3. lets liquidators sell the seized collateral into the asset's **liquidity curve** (constant product ``x y = k``:
   selling ``s`` USD into a pool holding ``D`` USD of the asset costs ``s / (D + s)``; or a user depth table) and
   executes only what is profitable: all of it while the slippage stays below ``bonus / (1 + bonus)``, otherwise the
   share that keeps it there (pro rata);
4. books as **bad debt** the debt of an account left without collateral (Aave v3.3 "deficit").

At the horizon the bad debt of a path is the realised deficits plus ``sum max(debt - collateral, 0)`` over the
remaining accounts (the net insolvent amount). The metrics over paths (:class:`LendingRiskResult`):

* ``var95_usd`` -- Gauntlet's Value at Risk: "the 95th percentile net insolvent debt amount" over simulation runs
  (Gauntlet risk dashboard FAQ, risk.gauntlet.network/faq; "VaR Deepdive", Gauntlet, 2022-01-28);
* ``lar95_usd`` -- Gauntlet's Liquidations at Risk: "the 95th percentile amount of liquidations" (same FAQ), here the
  USD value of collateral seized;
* ``evar99_usd`` -- Chaos Labs' Extreme VaR, "the 99th percentile of the protocol losses that will be accrued due to
  bad debt from under-collateralized accounts over 24 hours", next to their VaR, the 95th percentile of the same
  (Chaos Labs, Aave governance ARFC "Risk Parameter Updates - Aave V3 Ethereum - 2023.05.18"). With a 1-day horizon
  ``var95_usd`` is Chaos Labs' VaR too.

Percentiles are numpy's linear-interpolation quantiles.

Price paths (:func:`simulate_price_paths`) come from the calibrated methodology: the asymmetric EWMA volatility of
:class:`marginlab.calibration.methodology.VolatilitySpec` filters each driver's daily log returns, and a *joint*
filtered historical simulation (:func:`marginlab.stats.fhs_joint_horizon_returns`) draws whole days of residuals
for every driver at once; each collateral type's price follows its drivers and its depeg jumps
(:mod:`marginlab.defi.collateral_types`).

Examples
--------
>>> import numpy as np
>>> market = LendingMarket(
...     reserves={"ETH": ReserveParameters("ETH", 0.80, 0.825, 0.05), "USDC": ReserveParameters("USDC", 0.75, 0.78, 0.045)},
...     liquidity={"ETH": ConstantProductCurve(1e9), "USDC": ConstantProductCurve(1e10)},
...     accounts=AccountBook.from_rows([("ETH", "USDC", 10.0, 20_000.0)]),
... )
>>> paths = PricePaths(("ETH", "USDC"), np.array([[[3000.0, 1.0], [2400.0, 1.0]]]))  # one path: ETH -20%
>>> result = LendingRiskModel().run(market, paths)
>>> round(float(result.liquidated_usd[0]), 2), round(float(result.bad_debt_usd[0]), 2)  # HF 0.99: half the debt repaid, 10,500 seized
(10500.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from marginlab.collateral import HealthFactorRules
from marginlab.exceptions import InputError, ParameterError, UnknownAssetError
from marginlab.stats.bootstrap import as_generator, fhs_joint_horizon_returns

__all__ = [
    "AccountBook",
    "ConstantProductCurve",
    "DepthTableCurve",
    "LendingMarket",
    "LendingRiskModel",
    "LendingRiskResult",
    "LiquidityCurve",
    "PricePaths",
    "ReserveParameters",
    "filtered_residuals",
    "simulate_price_paths",
    "synthetic_accounts",
]


# ----------------------------------------------------------------------------- liquidity
@runtime_checkable
class LiquidityCurve(Protocol):
    """Slippage (fraction of the value sold) of selling ``sell_usd`` at once, and its inverse."""

    def slippage(self, sell_usd: Any) -> Any:
        """Average execution shortfall of selling ``sell_usd``."""
        ...

    def size_at_slippage(self, slippage: float) -> float:
        """Largest USD amount sold at a slippage up to ``slippage``."""
        ...


@dataclass(frozen=True)
class ConstantProductCurve:
    """A constant-product pool ``x y = k`` holding ``depth_usd`` of the asset.

    Selling ``s`` (USD at spot) returns ``y s / (x + s)`` instead of ``y s / x``: slippage ``s / (D + s)``
    (Uniswap v2 Core, Adams et al. 2020, without the fee), and the size at slippage ``q`` is ``q D / (1 - q)``.

    >>> ConstantProductCurve(1e6).slippage(1e5), round(ConstantProductCurve(1e6).size_at_slippage(0.05), 2)
    (0.09090909090909091, 52631.58)
    """

    depth_usd: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.depth_usd) and self.depth_usd > 0):
            raise ParameterError("depth_usd", self.depth_usd, "must be positive and finite")

    def slippage(self, sell_usd: Any) -> Any:
        s = np.maximum(np.asarray(sell_usd, dtype=float), 0.0)
        out = s / (self.depth_usd + s)
        return float(out) if out.ndim == 0 else out

    def size_at_slippage(self, slippage: float) -> float:
        q = min(max(float(slippage), 0.0), 1.0 - 1e-12)
        return q * self.depth_usd / (1.0 - q)


@dataclass(frozen=True)
class DepthTableCurve:
    """A user depth table: slippage at each sold size, linear in between and beyond the last point (capped at 1).

    >>> DepthTableCurve((1e6, 1e7), (0.01, 0.05)).slippage(5.5e6)
    0.03
    """

    sizes_usd: tuple[float, ...]
    slippages: tuple[float, ...]

    def __post_init__(self) -> None:
        sizes, slips = tuple(float(v) for v in self.sizes_usd), tuple(float(v) for v in self.slippages)
        if len(sizes) < 1 or len(sizes) != len(slips):
            raise ParameterError("depth_table", (sizes, slips), "needs sizes_usd and slippages of the same non-zero length")
        if any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] <= 0:
            raise ParameterError("depth_table.sizes_usd", sizes, "must be positive and strictly increasing")
        if any(b < a for a, b in zip(slips, slips[1:])) or not all(0 <= s <= 1 for s in slips):
            raise ParameterError("depth_table.slippages", slips, "must be fractions in [0, 1], non-decreasing")
        object.__setattr__(self, "sizes_usd", sizes)
        object.__setattr__(self, "slippages", slips)

    def slippage(self, sell_usd: Any) -> Any:
        s = np.maximum(np.asarray(sell_usd, dtype=float), 0.0)
        x = np.concatenate([[0.0], self.sizes_usd])
        y = np.concatenate([[0.0], self.slippages])
        slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
        out = np.where(s <= x[-1], np.interp(s, x, y), np.minimum(y[-1] + slope * (s - x[-1]), 1.0))
        return float(out) if out.ndim == 0 else out

    def size_at_slippage(self, slippage: float) -> float:
        q = float(slippage)
        x = np.concatenate([[0.0], self.sizes_usd])
        y = np.concatenate([[0.0], self.slippages])
        if q <= y[-1]:
            return float(np.interp(q, y, x))
        slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
        return float(x[-1] + (q - y[-1]) / slope) if slope > 0 else math.inf


# ----------------------------------------------------------------------------- market
def _fraction(name: str, value: Any, low: float = 0.0, high: float = 1.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(name, value, "must be a number") from None
    if not (math.isfinite(number) and low <= number <= high):
        raise ParameterError(name, value, f"must lie in [{low}, {high}]")
    return number


@dataclass(frozen=True)
class ReserveParameters:
    """Risk parameters of one reserve (Aave v3 names): LTV, liquidation threshold and bonus, caps.

    Checks as Aave's ``PoolConfigurator.configureReserveAsCollateral``: ``ltv <= liquidation_threshold`` and
    ``liquidation_threshold x (1 + bonus) <= 1`` (so a liquidation at ``HF = 1`` can pay its bonus).
    """

    asset: str
    ltv: float
    liquidation_threshold: float
    liquidation_bonus: float
    supply_cap_usd: float | None = None
    borrow_cap_usd: float | None = None

    def __post_init__(self) -> None:
        where = f"reserves[{self.asset}]"
        ltv = _fraction(f"{where}.ltv", self.ltv)
        lt = _fraction(f"{where}.liquidation_threshold", self.liquidation_threshold)
        bonus = _fraction(f"{where}.liquidation_bonus", self.liquidation_bonus, 0.0, 0.5)
        if ltv > lt:
            raise ParameterError(f"{where}.ltv", self.ltv, f"must not exceed the liquidation threshold {lt}")
        if lt * (1.0 + bonus) > 1.0 + 1e-12:
            raise ParameterError(f"{where}.liquidation_bonus", self.liquidation_bonus,
                                 f"liquidation_threshold x (1 + bonus) = {lt * (1 + bonus):.4f} exceeds 1")
        object.__setattr__(self, "ltv", ltv)
        object.__setattr__(self, "liquidation_threshold", lt)
        object.__setattr__(self, "liquidation_bonus", bonus)
        for name in ("supply_cap_usd", "borrow_cap_usd"):
            value = getattr(self, name)
            if value is not None:
                number = float(value)
                if not (math.isfinite(number) and number >= 0):
                    raise ParameterError(f"{where}.{name}", value, "must be a finite amount >= 0 (or absent)")
                object.__setattr__(self, name, number)

    def replace(self, **changes: Any) -> "ReserveParameters":
        """A copy with some parameters changed (checked again)."""
        values = {k: getattr(self, k) for k in ("asset", "ltv", "liquidation_threshold", "liquidation_bonus", "supply_cap_usd", "borrow_cap_usd")}
        values.update(changes)
        return ReserveParameters(**values)


@dataclass(frozen=True)
class AccountBook:
    """Accounts as arrays: collateral asset and units, debt asset and units (one pair per account)."""

    collateral_asset: np.ndarray
    debt_asset: np.ndarray
    collateral_units: np.ndarray
    debt_units: np.ndarray

    def __post_init__(self) -> None:
        arrays = [np.asarray(getattr(self, n)) for n in ("collateral_asset", "debt_asset", "collateral_units", "debt_units")]
        if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
            raise InputError("accounts", [a.shape for a in arrays], "every account column must be 1-D of one length")
        for name, values in (("collateral_units", arrays[2]), ("debt_units", arrays[3])):
            values = values.astype(float)
            if np.any(~np.isfinite(values)) or np.any(values < 0):
                raise InputError(f"accounts.{name}", float(values[~np.isfinite(values) | (values < 0)][0]), "must be finite and >= 0")
        object.__setattr__(self, "collateral_asset", arrays[0].astype(str))
        object.__setattr__(self, "debt_asset", arrays[1].astype(str))
        object.__setattr__(self, "collateral_units", arrays[2].astype(float))
        object.__setattr__(self, "debt_units", arrays[3].astype(float))

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[str, str, float, float]]) -> "AccountBook":
        """From ``(collateral_asset, debt_asset, collateral_units, debt_units)`` rows."""
        columns: list[Any] = list(zip(*rows)) if rows else [(), (), (), ()]
        return cls(*(np.asarray(c) for c in columns))

    def __len__(self) -> int:
        return int(self.collateral_units.size)

    def select(self, mask: np.ndarray) -> "AccountBook":
        return AccountBook(self.collateral_asset[mask], self.debt_asset[mask], self.collateral_units[mask], self.debt_units[mask])

    def scale_debt(self, factor: Any) -> "AccountBook":
        return AccountBook(self.collateral_asset, self.debt_asset, self.collateral_units, self.debt_units * np.asarray(factor, dtype=float))


@dataclass(frozen=True)
class LendingMarket:
    """Reserves (parameters), liquidity curves per asset and the accounts."""

    reserves: Mapping[str, ReserveParameters]
    liquidity: Mapping[str, LiquidityCurve]
    accounts: AccountBook

    def __post_init__(self) -> None:
        for asset in np.unique(np.concatenate([self.accounts.collateral_asset, self.accounts.debt_asset])) if len(self.accounts) else []:
            if asset not in self.reserves:
                raise UnknownAssetError("accounts.asset", str(asset), f"has no reserve (known: {sorted(self.reserves)})")
        for asset in np.unique(self.accounts.collateral_asset) if len(self.accounts) else []:
            if asset not in self.liquidity:
                raise UnknownAssetError("liquidity", str(asset), "a collateral asset needs a liquidity curve")

    def with_reserve(self, reserve: ReserveParameters) -> "LendingMarket":
        return LendingMarket({**self.reserves, reserve.asset: reserve}, self.liquidity, self.accounts)

    def with_accounts(self, accounts: AccountBook) -> "LendingMarket":
        return LendingMarket(self.reserves, self.liquidity, accounts)


@dataclass(frozen=True)
class PricePaths:
    """USD prices of ``assets`` on paths: array ``(n_paths, n_steps + 1, n_assets)``, step 0 = today."""

    assets: tuple[str, ...]
    prices_usd: np.ndarray

    def __post_init__(self) -> None:
        prices = np.asarray(self.prices_usd, dtype=float)
        if prices.ndim != 3 or prices.shape[2] != len(self.assets) or prices.shape[1] < 2:
            raise InputError("prices_usd", prices.shape, f"must be (paths, steps + 1 >= 2, {len(self.assets)} assets)")
        if np.any(~np.isfinite(prices)) or np.any(prices <= 0):
            raise InputError("prices_usd", "non-positive or non-finite", "prices must be positive and finite")
        object.__setattr__(self, "assets", tuple(self.assets))
        object.__setattr__(self, "prices_usd", prices)

    @property
    def n_paths(self) -> int:
        return int(self.prices_usd.shape[0])

    def index(self, asset: str) -> int:
        if asset not in self.assets:
            raise UnknownAssetError("price_paths", asset, f"no price path for this asset (have {list(self.assets)})")
        return self.assets.index(asset)

    def with_prices(self, asset: str, prices: np.ndarray) -> "PricePaths":
        out = self.prices_usd.copy()
        out[:, :, self.index(asset)] = prices
        return PricePaths(self.assets, out)


# ----------------------------------------------------------------------------- engine
@dataclass(frozen=True)
class LendingRiskResult:
    """Per-path outcomes and their percentiles (see the module docstring for the definitions).

    Attributes
    ----------
    bad_debt_usd : array (n_paths,)
        Realised deficits + net insolvent debt at the horizon.
    liquidated_usd : array (n_paths,)
        Collateral value seized by liquidators over the horizon.
    var95_usd, evar99_usd, lar95_usd : float
    by_pair : DataFrame
        Per collateral/debt pair: accounts, supplied and borrowed USD, mean and 95th percentile bad debt, mean liquidations.
    """

    bad_debt_usd: np.ndarray
    liquidated_usd: np.ndarray
    var95_usd: float
    evar99_usd: float
    lar95_usd: float
    by_pair: pd.DataFrame = field(repr=False)
    total_debt_usd: float = 0.0

    def summary(self) -> dict[str, float]:
        return {"var95_usd": self.var95_usd, "evar99_usd": self.evar99_usd, "lar95_usd": self.lar95_usd,
                "mean_bad_debt_usd": float(self.bad_debt_usd.mean()), "total_debt_usd": self.total_debt_usd}


@dataclass(frozen=True)
class LendingRiskModel:
    """The health-factor liquidation model of a lending market, on accounts x paths arrays.

    Parameters
    ----------
    close_factor, full_close_threshold, small_position_usd, min_leftover_usd : float
        Aave v3.3 constants (:class:`marginlab.collateral.HealthFactorRules`); the bonus and threshold are per reserve.
    liquidator_profit_check : bool
        Liquidate only what is profitable after slippage (``False``: every allowed liquidation executes).
    """

    close_factor: float = 0.5
    full_close_threshold: float = 0.95
    small_position_usd: float = 2_000.0
    min_leftover_usd: float = 1_000.0
    liquidator_profit_check: bool = True

    def rules(self, bonus: float) -> HealthFactorRules:
        return HealthFactorRules(self.close_factor, 1.0, self.full_close_threshold, bonus, self.small_position_usd, self.min_leftover_usd)

    def run(self, market: LendingMarket, paths: PricePaths) -> LendingRiskResult:
        """Simulate the market's liquidations on every path (vectorised over paths x accounts).

        Accounts are grouped by collateral asset (contiguous slices); a step liquidates only on the paths where some
        account of the group has a health factor below 1.
        """
        accounts = market.accounts.select(np.argsort(market.accounts.collateral_asset, kind="stable"))
        n, a = paths.n_paths, len(accounts)
        prices = paths.prices_usd
        coll_idx = np.array([paths.index(s) for s in accounts.collateral_asset], dtype=int)
        debt_idx = np.array([paths.index(s) for s in accounts.debt_asset], dtype=int)
        coll = np.broadcast_to(accounts.collateral_units, (n, a)).copy()
        debt = np.broadcast_to(accounts.debt_units, (n, a)).copy()
        deficit = np.zeros((n, a))
        liquidated = np.zeros((n, a))
        assets, first = np.unique(accounts.collateral_asset, return_index=True)
        edges = list(first) + [a]
        groups = [(str(asset), slice(int(edges[i]), int(edges[i + 1]))) for i, asset in enumerate(assets)]
        for asset, sl in groups:
            reserve = market.reserves[asset]
            rules = self.rules(reserve.liquidation_bonus)
            lt = reserve.liquidation_threshold
            column = paths.index(asset)
            dcols = debt_idx[sl]
            limit = market.liquidity[asset].size_at_slippage(reserve.liquidation_bonus / (1.0 + reserve.liquidation_bonus))
            floor = 1e-12 * np.maximum(accounts.collateral_units[sl], 1.0)
            for step in range(1, prices.shape[1]):
                pc = prices[:, step, column][:, None]
                pdebt = prices[:, step, :][:, dcols]
                debt_usd = debt[:, sl] * pdebt
                coll_usd = coll[:, sl] * pc
                under = (coll_usd * lt < debt_usd).any(axis=1)
                if not under.any():
                    continue
                rows = np.flatnonzero(under)
                c_usd, d_usd = coll_usd[rows], debt_usd[rows]
                with np.errstate(divide="ignore", invalid="ignore"):
                    hf = np.where(d_usd > 0, c_usd * lt / np.where(d_usd > 0, d_usd, 1.0), np.inf)
                repaid, seized, _ = rules.liquidate_arrays(hf, d_usd, c_usd)
                if self.liquidator_profit_check:
                    total = seized.sum(axis=1)
                    share = np.where(total > limit, limit / np.where(total > 0, total, 1.0), 1.0)[:, None]
                    repaid, seized = repaid * share, seized * share
                liquidated[rows, sl] += seized
                new_coll = np.maximum(coll[rows, sl] - seized / pc[rows], 0.0)
                new_debt = np.maximum(debt[rows, sl] - repaid / pdebt[rows], 0.0)
                empty = (new_coll <= floor) & (new_debt > 0)
                if np.any(empty):  # Aave v3.3: the debt of a position with no collateral left is burnt as a deficit
                    deficit[rows, sl] += np.where(empty, new_debt * pdebt[rows], 0.0)
                    new_debt = np.where(empty, 0.0, new_debt)
                coll[rows, sl] = new_coll
                debt[rows, sl] = new_debt
        final = prices[:, -1, :]
        insolvent = np.maximum(debt * final[:, debt_idx] - coll * final[:, coll_idx], 0.0)
        bad = (insolvent + deficit).sum(axis=1)
        seized_total = liquidated.sum(axis=1)
        pairs = pd.Series([f"{c}/{d}" for c, d in zip(accounts.collateral_asset, accounts.debt_asset)])
        start = prices[:, 0, :]
        table_rows: list[dict[str, Any]] = []
        for pair, group in pairs.groupby(pairs).groups.items():
            idx = np.asarray(group, dtype=int)
            pair_bad = (insolvent + deficit)[:, idx].sum(axis=1)
            table_rows.append({
                "pair": pair, "accounts": idx.size,
                "supplied_usd": float((accounts.collateral_units[idx] * start[0, coll_idx[idx]]).sum()),
                "borrowed_usd": float((accounts.debt_units[idx] * start[0, debt_idx[idx]]).sum()),
                "mean_bad_debt_usd": float(pair_bad.mean()), "var95_usd": float(np.quantile(pair_bad, 0.95)),
                "mean_liquidated_usd": float(liquidated[:, idx].sum(axis=1).mean()),
            })
        by_pair = pd.DataFrame(table_rows).set_index("pair") if table_rows else pd.DataFrame()
        total_debt = float((accounts.debt_units * start[0, debt_idx]).sum()) if a else 0.0
        return LendingRiskResult(bad, seized_total, float(np.quantile(bad, 0.95)), float(np.quantile(bad, 0.99)),
                                 float(np.quantile(seized_total, 0.95)), by_pair, total_debt)


# ----------------------------------------------------------------------------- paths and accounts
def filtered_residuals(prices: pd.DataFrame, decay: float | None = None, decay_after_fall: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Standardised residuals (common dates x drivers) and the next-day volatility of each driver.

    The methodology's asymmetric EWMA (:class:`marginlab.calibration.methodology.VolatilitySpec` decays by default)
    filters each driver's daily log returns: ``z_t = r_t / sigma_t``.
    """
    from marginlab.calibration.garch import asymmetric_ewma_variance
    from marginlab.calibration.methodology import VolatilitySpec

    spec = VolatilitySpec()
    decay = spec.ewma_decay if decay is None else decay
    decay_after_fall = spec.ewma_decay_after_fall if decay_after_fall is None else decay_after_fall
    returns = pd.DataFrame(np.log(prices.astype(float))).diff().dropna(how="any")
    if len(returns) < 100:
        raise InputError("prices", f"{len(returns)} common daily returns", "needs at least 100 common daily returns")
    z, sigma = [], []
    for column in returns.columns:
        values = returns[column].to_numpy()
        variance = asymmetric_ewma_variance(values, decay, decay_after_fall)
        vol = np.sqrt(variance)
        z.append(values / np.where(vol[:-1] > 0, vol[:-1], np.nan))
        sigma.append(float(vol[-1]))
    return np.column_stack(z), np.asarray(sigma)


def simulate_price_paths(
    registry: Any,
    assets: Sequence[str],
    prices_usd: Mapping[str, float],
    driver_history: pd.DataFrame,
    *,
    horizon_days: int = 1,
    steps_per_day: int = 6,
    n_paths: int = 1_000,
    depeg: bool = True,
    asof: Any = None,
    rng: np.random.Generator | int | None = None,
) -> PricePaths:
    """Joint FHS price paths of the market's assets (drivers filtered by the methodology, plus depeg jumps).

    Each step draws one day of residuals for every driver and scales it by ``sigma / sqrt(steps_per_day)``;
    a depeg of a history starts at a uniformly drawn step and lasts to the horizon (its probability over the
    whole horizon from :class:`~marginlab.defi.collateral_types.DepegJumpModel`).

    Parameters
    ----------
    registry : CollateralRegistry
    assets : sequence of str
        Market assets (collateral types or drivers).
    prices_usd : mapping asset -> float
        Prices today.
    driver_history : DataFrame
        Daily USD closes of the drivers (dates x drivers).
    """
    generator = as_generator(rng)
    for asset in assets:
        if asset not in prices_usd:
            raise UnknownAssetError("prices_usd", asset, "needs a price today")
        if not (math.isfinite(float(prices_usd[asset])) and float(prices_usd[asset]) > 0):
            raise InputError(f"prices_usd[{asset}]", prices_usd[asset], "must be positive")
    drivers = sorted({d for a in assets for d in registry.drivers(a)})
    missing = [d for d in drivers if d not in driver_history.columns]
    if missing:
        raise UnknownAssetError("driver_history", missing[0], f"no price history for this driver (have {list(driver_history.columns)})")
    steps = int(horizon_days) * int(steps_per_day)
    if steps < 1:
        raise ParameterError("steps_per_day", steps_per_day, "horizon_days x steps_per_day must be at least 1")
    ratios = {d: np.ones((n_paths, steps + 1)) for d in drivers}
    if drivers:
        z, sigma = filtered_residuals(driver_history[drivers])
        log_paths = np.zeros((n_paths, steps + 1, len(drivers)))
        for step in range(steps):
            log_paths[:, step + 1] = log_paths[:, step] + fhs_joint_horizon_returns(z, sigma / math.sqrt(steps_per_day), 1, n_paths, generator)
        ratios = {d: np.exp(log_paths[:, :, j]) for j, d in enumerate(drivers)}
    histories = sorted({h for a in assets for h in registry.histories(a)}) if depeg else []
    loss_paths = {}
    for history in histories:
        loss = registry.depeg[history].sample(n_paths, horizon_days, generator)
        start = generator.integers(1, steps + 1, size=n_paths)
        loss_paths[history] = np.where(np.arange(steps + 1)[None, :] >= start[:, None], loss[:, None], 0.0)
    shocks = generator.standard_normal(n_paths)[:, None]
    out = np.empty((n_paths, steps + 1, len(assets)))
    for j, asset in enumerate(assets):
        value = registry.value_ratio(asset, ratios, loss_paths, horizon_days * np.arange(steps + 1)[None, :] / steps, asof, shocks) \
            if registry.types.get(asset) is None or registry.types[asset].kind != "principal_token" else \
            np.column_stack([registry.value_ratio(asset, {d: r[:, k] for d, r in ratios.items()}, {h: v[:, k] for h, v in loss_paths.items()},
                                                  horizon_days * k / steps, asof, shocks[:, 0]) for k in range(steps + 1)])
        out[:, :, j] = float(prices_usd[asset]) * np.broadcast_to(value, (n_paths, steps + 1))
    return PricePaths(tuple(assets), out)


def synthetic_accounts(
    collateral: str,
    debt: str,
    supplied_usd: float,
    n_accounts: int,
    ltv: float,
    prices_usd: Mapping[str, float],
    *,
    borrow_usage_mean: float = 0.6,
    borrow_usage_concentration: float = 3.0,
    size_sigma: float = 1.5,
    rng: np.random.Generator | int | None = None,
) -> AccountBook:
    """A synthetic borrower population of one pair: lognormal sizes adding to ``supplied_usd``, Beta borrow usage.

    Each account borrows ``usage x ltv x collateral`` (usage ~ Beta with mean ``borrow_usage_mean``, the
    "borrow usage" of Gauntlet's dashboards), so its health factor starts at ``LT / (usage x LTV)``.
    """
    if n_accounts < 1:
        raise ParameterError("accounts", n_accounts, "must be at least 1")
    if not (math.isfinite(supplied_usd) and supplied_usd >= 0):
        raise ParameterError("supplied_usd", supplied_usd, "must be a finite amount >= 0")
    if not 0 < borrow_usage_mean < 1:
        raise ParameterError("borrow_usage_mean", borrow_usage_mean, "must lie in (0, 1)")
    generator = as_generator(rng)
    sizes = generator.lognormal(0.0, size_sigma, n_accounts)
    sizes = supplied_usd * sizes / sizes.sum()
    a = borrow_usage_mean * borrow_usage_concentration
    usage = np.minimum(generator.beta(a, borrow_usage_concentration - a, n_accounts), 0.995)
    coll_units = sizes / float(prices_usd[collateral])
    debt_units = usage * ltv * sizes / float(prices_usd[debt])
    return AccountBook(np.full(n_accounts, collateral), np.full(n_accounts, debt), coll_units, debt_units)
