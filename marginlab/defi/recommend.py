"""Risk-parameter recommendations for a lending market: LTV, liquidation threshold and bonus, caps, eMode.

For each collateral / debt pair of a :class:`~marginlab.defi.market_file.MarketSpec`, :class:`LendingRecommender`

1. simulates the market's price paths once (:func:`~marginlab.defi.lending.simulate_price_paths`: joint FHS of
   the drivers with the methodology's EWMA, depeg jumps) -- common random numbers for every candidate;
2. searches liquidation thresholds and bonuses **within one governance step** of the current values (Chaos Labs:
   "we limit the proposed changes by ±3% for all parameters as a high/low bound for a given proposal", Aave ARFC
   2023-02-20; read here as 3 percentage points), the LTV keeping its current gap below the threshold, borrowers
   keeping their borrow usage of the new LTV;
3. keeps the candidates whose VaR95 and EVaR99 of 24-hour bad debt (:class:`~marginlab.defi.lending.LendingRiskModel`)
   stay within the pair's share of the market's targets (pro rata supplied value) and whose liquidations at risk (LaR95)
   can be sold at once at a slippage below ``bonus / (1 + bonus)``, and picks the one of **least capital
   cost to borrowers**: ``1 / LTV - 1`` (collateral locked per unit borrowed beyond the loan) plus the expected
   liquidation bonus paid per unit borrowed; when none is feasible, the most conservative candidate, flagged;
4. sets the supply cap at twice the liquidity available at a slippage equal to the bonus (Chaos Labs' supply-cap
   framework, capped at 2x the current cap per proposal: "we provide an upper bound of 2*CurrentSupplyCap", Chaos Labs
   on Venus, "Supply and Borrow Cap Recommendations for WBETH"), lowered until the pair's VaR at a fully used cap
   is within its target; the borrow cap of a debt asset is the debt the capped collateral can back
   (``sum supply_cap x LTV`` over its pairs; an assumption);
5. screens with **Risk DAO's closed form** ``LTV = exp(-c sigma / sqrt(l / d)) - beta`` (Risk DAO, "A Smart Contract
   Formula for LTV ratio", 2023-06-04; the SmartLTV contract's ``e ^ (-c * sigma / sqrt(l/d)) - beta``): ``sigma`` the
   pair's price volatility (of ``log(P_collateral / P_debt)``), ``beta`` the liquidation bonus,
   ``l`` the DEX liquidity available at a price impact of ``beta``, ``d`` the pair's total debt and ``c`` the
   confidence parameter (``1 / r``, the risk level). ``sigma`` is taken per day -- the period over which ``l`` is
   available again -- so that ``sigma / sqrt(l / d) = sigma sqrt(d / l)`` is the volatility over the days needed
   to sell ``d``; the market file's ``risk_dao_c`` (assumed 2.33, a 99% normal quantile) sets ``c``;
6. tests **eMode** eligibility of correlated pairs: the spread volatility of ``log(P_c / P_d)`` and its divergence
   bound (ES99 of the ratio's drop over the horizon, depegs included) against limits; eligible pairs get
   ``LT = 1 - divergence - bonus`` and are simulated at it.

Examples
--------
>>> round(risk_dao_ltv(sigma=0.5, liquidity_usd=2.0, debt_usd=1.0, bonus=0.05, c=1.0), 6)  # exp(-0.5/sqrt 2) - 0.05
0.652189
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from marginlab import data
from marginlab._version import __version__
from marginlab.datasets import dataset_info
from marginlab.defi.backtest import backtest as run_backtest
from marginlab.defi.lending import (
    AccountBook,
    LendingMarket,
    LendingRiskModel,
    LendingRiskResult,
    PricePaths,
    ReserveParameters,
    simulate_price_paths,
    synthetic_accounts,
)
from marginlab.defi.market_file import MarketSpec, PairSpec
from marginlab.exceptions import InputError, ParameterError

__all__ = ["EModeTest", "LendingRecommender", "PairRecommendation", "Recommendation", "emode_test", "risk_dao_ltv"]

SCHEMA = "marginlab-lending-parameters/1"


def risk_dao_ltv(sigma: float, liquidity_usd: float, debt_usd: float, bonus: float, c: float) -> float:
    """Risk DAO's closed-form LTV ``exp(-c sigma / sqrt(l / d)) - beta`` (floored at 0; 1 - beta without debt)."""
    for name, value in (("sigma", sigma), ("liquidity_usd", liquidity_usd), ("debt_usd", debt_usd), ("bonus", bonus), ("c", c)):
        if not (math.isfinite(value) and value >= 0):
            raise ParameterError(name, value, "must be finite and >= 0")
    if debt_usd == 0:
        return 1.0 - bonus
    if liquidity_usd == 0:
        return 0.0
    return max(math.exp(-c * sigma / math.sqrt(liquidity_usd / debt_usd)) - bonus, 0.0)


@dataclass(frozen=True)
class EModeTest:
    """eMode eligibility of a correlated pair: spread volatility and divergence bound against their limits."""

    pair: str
    spread_vol_annual: float
    divergence_es99: float
    eligible: bool
    liquidation_threshold: float | None
    ltv: float | None
    reason: str


def emode_test(pair: str, ratio_paths: np.ndarray, horizon_days: int, *, max_spread_vol: float = 0.10,
               max_divergence: float = 0.05, bonus: float = 0.01, ltv_gap: float = 0.02, depeg_es: float = 0.0) -> EModeTest:
    """Eligibility of ``pair`` for a high-LTV category from simulated ratios ``P_c / P_d`` (paths x steps + 1).

    ``spread_vol_annual`` is the standard deviation of the horizon log ratio scaled by ``sqrt(365 / h)``,
    ``divergence_es99`` the mean of the worst 1% ratio drops over the horizon; eligible when both are within their
    limits (assumed: 10% a year, 5%). eMode ``LT = 1 - divergence - bonus`` (floored to 0.5%), ``LTV = LT - ltv_gap``.
    ``depeg_es`` -- the closed-form ES99 of the pair's depeg jumps (:meth:`DepegJumpModel.expected_shortfall`), which
    a few thousand paths resolve badly -- floors the divergence bound.

    >>> ratios = np.column_stack([np.ones(200), np.linspace(0.995, 1.005, 200)])  # spread vol 0.29% x sqrt(365) = 5.5%
    >>> test = emode_test("A/B", ratios, 1, depeg_es=0.02)
    >>> test.eligible, test.liquidation_threshold, test.ltv
    (True, 0.97, 0.95)
    """
    ratio = np.asarray(ratio_paths, dtype=float)
    end = np.log(ratio[:, -1] / ratio[:, 0])
    spread_vol = float(np.std(end) * math.sqrt(365.0 / horizon_days))
    worst = np.min(ratio / ratio[:, :1], axis=1)
    drops = np.sort(1.0 - worst)[::-1]
    divergence = max(float(drops[: max(1, int(0.01 * drops.size))].mean()), float(depeg_es))
    eligible = spread_vol <= max_spread_vol and divergence <= max_divergence
    if not eligible:
        why = f"spread vol {spread_vol:.1%} (limit {max_spread_vol:.0%}), divergence ES99 {divergence:.2%} (limit {max_divergence:.0%})"
        return EModeTest(pair, spread_vol, divergence, False, None, None, "not eligible: " + why)
    lt = math.floor((1.0 - divergence - bonus) * 200.0) / 200.0
    lt = min(lt, 1.0 / (1.0 + bonus))
    return EModeTest(pair, spread_vol, divergence, True, lt, round(lt - ltv_gap, 4),
                     f"eligible: spread vol {spread_vol:.1%}, divergence ES99 {divergence:.2%}")


@dataclass(frozen=True)
class PairRecommendation:
    """The chosen parameters of one pair and the simulations behind them."""

    pair: PairSpec
    current: ReserveParameters
    recommended: ReserveParameters
    var95_usd: float
    evar99_usd: float
    lar95_usd: float
    var_target_usd: float
    evar_target_usd: float
    target_met: bool
    capital_cost: float
    risk_dao_ltv: float
    sigma_daily: float
    liquidity_at_bonus_usd: float
    candidates: pd.DataFrame = field(repr=False)
    emode: EModeTest | None = None


@dataclass(frozen=True)
class Recommendation:
    """Recommended reserve parameters of a market, per pair and per reserve, with the market-level check."""

    spec: MarketSpec
    pairs: tuple[PairRecommendation, ...]
    reserves: Mapping[str, ReserveParameters]
    market: LendingRiskResult
    paths: PricePaths = field(repr=False)
    accounts: AccountBook = field(repr=False)
    base_books: Mapping[str, AccountBook] = field(default_factory=dict, repr=False)

    def accounts_for(self, reserves: Mapping[str, ReserveParameters]) -> AccountBook:
        """The market's borrowers under ``reserves``: each borrows its usage of the collateral's LTV."""
        books = [self.base_books[p.name].scale_debt(reserves[p.collateral].ltv) for p in self.spec.pairs]
        return AccountBook(*(np.concatenate([getattr(b, n) for b in books]) for n in ("collateral_asset", "debt_asset", "collateral_units", "debt_units")))

    def backtest(self, events: Any = None) -> pd.DataFrame:
        """Bad debt of the current and the recommended parameters through the historical events, with and without depegs."""
        sets = {"current": self.spec.reserves, "recommended": self.reserves}
        return run_backtest(self.spec, sets, {label: self.accounts_for(r) for label, r in sets.items()}, events)

    @property
    def target_met(self) -> bool:
        return self.market.var95_usd <= self.spec.targets.var95_usd and self.market.evar99_usd <= self.spec.targets.evar99_usd

    def reserve_table(self) -> pd.DataFrame:
        """One row per reserve: current and recommended parameters."""
        rows = []
        for asset, new in self.reserves.items():
            old = self.spec.reserves[asset]
            rows.append({"asset": asset, "ltv": old.ltv, "ltv_new": new.ltv, "lt": old.liquidation_threshold, "lt_new": new.liquidation_threshold,
                         "bonus": old.liquidation_bonus, "bonus_new": new.liquidation_bonus, "supply_cap_usd": old.supply_cap_usd,
                         "supply_cap_new_usd": new.supply_cap_usd, "borrow_cap_usd": old.borrow_cap_usd, "borrow_cap_new_usd": new.borrow_cap_usd})
        return pd.DataFrame(rows).set_index("asset")

    def pair_table(self) -> pd.DataFrame:
        """One row per pair: VaR/EVaR against the pair's targets, the closed-form screen and eMode."""
        rows = []
        for p in self.pairs:
            rows.append({"pair": p.pair.name, "lt_new": p.recommended.liquidation_threshold, "ltv_new": p.recommended.ltv,
                         "risk_dao_ltv": p.risk_dao_ltv, "var95_usd": p.var95_usd, "var_target_usd": p.var_target_usd,
                         "evar99_usd": p.evar99_usd, "evar_target_usd": p.evar_target_usd, "lar95_usd": p.lar95_usd,
                         "target_met": p.target_met, "emode": "" if p.emode is None else ("eligible" if p.emode.eligible else "no"),
                         "emode_lt": None if p.emode is None else p.emode.liquidation_threshold})
        return pd.DataFrame(rows).set_index("pair")

    def to_document(self, extra_provenance: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The lending parameter file (schema :data:`SCHEMA`), with provenance."""
        spec = self.spec
        reserves = {}
        for asset, new in self.reserves.items():
            old = spec.reserves[asset]
            reserves[asset] = {
                "ltv": new.ltv, "liquidation_threshold": new.liquidation_threshold, "liquidation_bonus": new.liquidation_bonus,
                "supply_cap_usd": new.supply_cap_usd, "borrow_cap_usd": new.borrow_cap_usd,
                "current": {"ltv": old.ltv, "liquidation_threshold": old.liquidation_threshold, "liquidation_bonus": old.liquidation_bonus,
                            "supply_cap_usd": old.supply_cap_usd, "borrow_cap_usd": old.borrow_cap_usd},
            }
        pairs = []
        for p in self.pairs:
            entry: dict[str, Any] = {
                "collateral": p.pair.collateral, "debt": p.pair.debt, "var95_usd": p.var95_usd, "evar99_usd": p.evar99_usd,
                "lar95_usd": p.lar95_usd, "var_target_usd": p.var_target_usd, "evar_target_usd": p.evar_target_usd,
                "target_met": p.target_met, "capital_cost": p.capital_cost, "risk_dao_ltv": p.risk_dao_ltv,
                "simulated_ltv": p.recommended.ltv, "sigma_daily": p.sigma_daily, "liquidity_at_bonus_usd": p.liquidity_at_bonus_usd,
            }
            if p.emode is not None:
                entry["emode"] = {"eligible": p.emode.eligible, "spread_vol_annual": p.emode.spread_vol_annual,
                                  "divergence_es99": p.emode.divergence_es99, "liquidation_threshold": p.emode.liquidation_threshold,
                                  "ltv": p.emode.ltv, "reason": p.emode.reason}
            pairs.append(entry)
        provenance = {
            "market_file": spec.source, "market_name": spec.name, "asof": spec.asof.strftime("%Y-%m-%d"),
            "created_utc": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"), "marginlab_version": __version__,
            "dataset": dataset_info(), "seed": spec.seed, "n_paths": spec.n_paths, "horizon_days": spec.horizon_days,
            "steps_per_day": spec.steps_per_day, "max_step": spec.max_step, "risk_dao_c": spec.risk_dao_c,
            "paths": "joint FHS of the drivers (methodology asymmetric EWMA) with depeg jumps (marginlab.defi.collateral_types)",
            "liquidations": "Aave v3.3 LiquidationLogic (close factor 50%/100% at HF <= 0.95 or < 2,000 USD, seizure capped, dust rule)",
            "metrics": "VaR95 / EVaR99 of 24-hour bad debt (Gauntlet, Chaos Labs), LaR95 of liquidated collateral (Gauntlet)",
            **dict(extra_provenance or {}),
        }
        market = {"var95_usd": self.market.var95_usd, "evar99_usd": self.market.evar99_usd, "lar95_usd": self.market.lar95_usd,
                  "target_met": self.target_met}
        return {"lending": {"schema": SCHEMA, "provenance": provenance, "targets": {"var95_usd": spec.targets.var95_usd, "evar99_usd": spec.targets.evar99_usd},
                            "reserves": reserves, "pairs": pairs, "market": market}}


def _grid(current: float, step: float, max_step: float, low: float, high: float) -> np.ndarray:
    offsets = np.arange(-max_step, max_step + 1e-12, step)
    values = np.round(current + offsets, 4)
    return np.unique(values[(values >= low - 1e-12) & (values <= high + 1e-12)])


@dataclass(frozen=True)
class LendingRecommender:
    """Searches reserve parameters within one governance step (see the module docstring).

    Parameters
    ----------
    lt_step, bonus_step : float
        Grid spacing of the liquidation threshold and bonus candidates.
    max_bonus_step : float
        Largest bonus change per proposal (an assumption: 1 point; thresholds move up to the market's ``max_step``).
    min_bonus, max_bonus : float
        Bounds of the bonus.
    max_spread_vol, max_divergence : float
        eMode limits (assumed).
    model : LendingRiskModel
    """

    lt_step: float = 0.01
    bonus_step: float = 0.005
    max_bonus_step: float = 0.01
    min_bonus: float = 0.01
    max_bonus: float = 0.15
    max_spread_vol: float = 0.10
    max_divergence: float = 0.05
    model: LendingRiskModel = field(default_factory=LendingRiskModel)

    def simulate_paths(self, spec: MarketSpec, driver_history: pd.DataFrame | None = None) -> PricePaths:
        """The market's price paths (history: the embedded daily closes of the drivers up to ``spec.asof``)."""
        if driver_history is None:
            driver_history = load_driver_history(spec)
        return simulate_price_paths(spec.registry, spec.assets, spec.prices_usd, driver_history, horizon_days=spec.horizon_days,
                                    steps_per_day=spec.steps_per_day, n_paths=spec.n_paths, asof=spec.asof, rng=spec.seed)

    def base_accounts(self, spec: MarketSpec) -> dict[str, AccountBook]:
        """Each pair's borrowers at LTV 1 (debt = usage x collateral); scaled by the LTV of a candidate."""
        rng = np.random.default_rng(spec.seed + 1)
        return {p.name: synthetic_accounts(p.collateral, p.debt, p.supplied_usd, p.accounts, 1.0, spec.prices_usd,
                                           borrow_usage_mean=p.borrow_usage_mean, rng=rng) for p in spec.pairs}

    def recommend(self, spec: MarketSpec, paths: PricePaths | None = None, driver_history: pd.DataFrame | None = None) -> Recommendation:
        """Recommend parameters for every pair, then check the whole market at them."""
        paths = self.simulate_paths(spec, driver_history) if paths is None else paths
        books = self.base_accounts(spec)
        total_supplied = sum(p.supplied_usd for p in spec.pairs) or 1.0
        results = [self._pair(spec, p, books[p.name], paths, p.supplied_usd / total_supplied) for p in spec.pairs]
        reserves = dict(spec.reserves)
        for asset in spec.reserves:
            chosen = [r.recommended for r in results if r.pair.collateral == asset]
            if chosen:
                conservative = min(chosen, key=lambda r: (r.liquidation_threshold, -r.liquidation_bonus))
                caps = [r.supply_cap_usd for r in chosen if r.supply_cap_usd is not None]
                reserves[asset] = conservative.replace(supply_cap_usd=min(caps) if caps else None)
        for asset in spec.reserves:  # borrow cap: the debt the capped collateral can back (assumption)
            backing = [reserves[p.collateral].supply_cap_usd or 0.0 for p in spec.pairs if p.debt == asset]
            if backing:
                limit = sum(cap * reserves[p.collateral].ltv for cap, p in zip(backing, [q for q in spec.pairs if q.debt == asset]))
                current = spec.reserves[asset].borrow_cap_usd
                if current is not None and current > 0:
                    limit = min(max(limit, current / 2.0), 2.0 * current)
                reserves[asset] = reserves[asset].replace(borrow_cap_usd=float(round(limit, -3)))
        books_at = [books[p.name].scale_debt(reserves[p.collateral].ltv) for p in spec.pairs]
        accounts = AccountBook(*(np.concatenate([getattr(b, n) for b in books_at]) for n in ("collateral_asset", "debt_asset", "collateral_units", "debt_units")))
        market = LendingMarket(reserves, spec.liquidity, accounts)
        return Recommendation(spec, tuple(results), reserves, self.model.run(market, paths), paths, accounts, books)

    def _pair(self, spec: MarketSpec, pair: PairSpec, book: AccountBook, paths: PricePaths, share: float) -> PairRecommendation:
        current = spec.reserves[pair.collateral]
        gap = current.liquidation_threshold - current.ltv
        var_target, evar_target = spec.targets.var95_usd * share, spec.targets.evar99_usd * share
        bonuses = _grid(current.liquidation_bonus, self.bonus_step, min(spec.max_step, self.max_bonus_step), self.min_bonus, self.max_bonus)
        curve = spec.liquidity[pair.collateral]
        rows = []
        for bonus in bonuses:  # for each bonus the highest feasible threshold is the cheapest: scan downwards, stop there
            for lt in _grid(current.liquidation_threshold, self.lt_step, spec.max_step, gap + 0.01, 1.0 / (1.0 + bonus))[::-1]:
                candidate = current.replace(ltv=round(lt - gap, 4), liquidation_threshold=float(lt), liquidation_bonus=float(bonus))
                market = LendingMarket({**spec.reserves, pair.collateral: candidate}, spec.liquidity, book.scale_debt(candidate.ltv))
                result = self.model.run(market, paths)
                debt = max(result.total_debt_usd, 1e-9)
                cost = 1.0 / candidate.ltv - 1.0 + float(result.liquidated_usd.mean()) * bonus / (1.0 + bonus) / debt
                # liquidations at risk must be absorbable at a profit: slippage of selling LaR95 at once below bonus / (1 + bonus)
                absorbable = float(curve.slippage(result.lar95_usd)) <= bonus / (1.0 + bonus)
                feasible = result.var95_usd <= var_target and result.evar99_usd <= evar_target and absorbable
                rows.append({"ltv": candidate.ltv, "liquidation_threshold": float(lt), "liquidation_bonus": float(bonus),
                             "var95_usd": result.var95_usd, "evar99_usd": result.evar99_usd, "lar95_usd": result.lar95_usd,
                             "capital_cost": cost, "feasible": feasible})
                if feasible:
                    break
        table = pd.DataFrame(rows)
        if table.empty:
            raise ParameterError(f"reserves[{pair.collateral}]", current, "no candidate within one step satisfies LT x (1 + bonus) <= 1")
        feasible = table[table["feasible"]]
        best = (feasible.sort_values(["capital_cost", "liquidation_bonus"]).iloc[0] if len(feasible)
                else table.sort_values(["liquidation_threshold", "var95_usd", "liquidation_bonus"], ascending=[True, True, False]).iloc[0])
        chosen = current.replace(ltv=float(best["ltv"]), liquidation_threshold=float(best["liquidation_threshold"]),
                                 liquidation_bonus=float(best["liquidation_bonus"]))
        # supply cap: 2x the liquidity at a slippage equal to the bonus, within 2x / half the current cap, lowered to the target
        at_bonus = curve.size_at_slippage(chosen.liquidation_bonus)
        cap = 2.0 * at_bonus
        if current.supply_cap_usd:
            cap = min(max(cap, current.supply_cap_usd / 2.0), 2.0 * current.supply_cap_usd)
        for _ in range(6):
            scale = cap / max(pair.supplied_usd, 1e-9)
            full = AccountBook(book.collateral_asset, book.debt_asset, book.collateral_units * scale, book.debt_units * scale * chosen.ltv)
            check = self.model.run(LendingMarket({**spec.reserves, pair.collateral: chosen}, spec.liquidity, full), paths)
            if check.var95_usd <= var_target * scale and check.evar99_usd <= evar_target * scale:
                break
            if current.supply_cap_usd and cap <= current.supply_cap_usd / 2.0 + 1e-6:
                break
            cap = cap * 0.75 if not current.supply_cap_usd else max(cap * 0.75, current.supply_cap_usd / 2.0)
        chosen = chosen.replace(supply_cap_usd=float(round(cap, -3)))
        # closed-form screen and eMode
        ci, di = paths.index(pair.collateral), paths.index(pair.debt)
        ratio = paths.prices_usd[:, :, ci] / paths.prices_usd[:, :, di]
        sigma = float(np.std(np.log(ratio[:, -1] / ratio[:, 0])) / math.sqrt(spec.horizon_days))  # daily
        borrowed = float((book.debt_units * chosen.ltv).sum() * spec.prices_usd[pair.debt])
        screen = risk_dao_ltv(sigma, at_bonus, borrowed, chosen.liquidation_bonus, spec.risk_dao_c)
        emode = None
        if pair.emode_candidate:
            histories = set(spec.registry.histories(pair.collateral)) ^ set(spec.registry.histories(pair.debt))
            depeg_es = sum(spec.registry.depeg[h].expected_shortfall(spec.horizon_days, 0.99) for h in histories)
            emode = emode_test(pair.name, ratio, spec.horizon_days, max_spread_vol=self.max_spread_vol, max_divergence=self.max_divergence,
                               depeg_es=depeg_es)
        final = table[(table["liquidation_threshold"] == best["liquidation_threshold"]) & (table["liquidation_bonus"] == best["liquidation_bonus"])].iloc[0]
        return PairRecommendation(pair, current, chosen, float(final["var95_usd"]), float(final["evar99_usd"]), float(final["lar95_usd"]),
                                  var_target, evar_target, bool(final["feasible"]), float(final["capital_cost"]), screen, sigma, at_bonus,
                                  table, emode)


def load_driver_history(spec: MarketSpec, window_days: int = 1500) -> pd.DataFrame:
    """Daily USD closes of the market's drivers from the embedded snapshot, the last ``window_days`` up to ``asof``."""
    drivers = sorted({d for a in spec.assets for d in spec.registry.drivers(a)})
    if not drivers:
        raise InputError("reserves", list(spec.assets), "no market driver to simulate (every asset is a dollar)")
    closes = {d: data.load_daily(d, end=spec.asof.strftime("%Y-%m-%d"), gaps="ignore")["close"] for d in drivers}
    frame = pd.DataFrame(closes).dropna()
    return frame.iloc[-window_days:]
