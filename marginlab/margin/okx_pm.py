"""OKX portfolio margin (worked example G, 2025 parameters) on the risk-matrix engine.

Per risk unit (underlying)::

    MMR = max( max(MR1, MR2, MR6) + MR3 + MR4 + MR5 , MR7 )       IMR = im_multiplier * MMR

* **MR1** price grid: the worst loss over spot moves 0, +-a, +-2a, +-3a by asset class
  (BTC/ETH +-0/4/8/12%, tier-2 alts +-0/6/12/18%, others +-0/8/16/25%), vols unchanged by
  default (``vol_shock`` adds up/down vol scenarios).
* **MR6** extreme move: BTC/ETH +-24%, SOL/DOGE-class +-36%, others +-50%, counted at
  ``extreme_weight`` (**assumption**: the source gives no weight; default 1).
  MR1 and MR6 are one scenario grid of the engine, so ``max(MR1, MR6)`` is its scan loss.
* **MR4** basis: annualised basis move ``b`` (BTC/ETH 5%, majors 15%, others 30%) times each
  expiry's years to expiry times the absolute net forward-delta notional of that expiry
  (futures and options; perpetuals and spot have no expiry and no basis charge).
* **MR7** minimum charge: ``minimum_charge_rate * multiplier(size) * gross notional`` with the
  size-tier multipliers of G (<= 10k x1, <= 70k x2, <= 170k x4, <= 300k x6, <= 470k x8,
  <= 700k x10, above x12). **Assumption**: the source states neither the size unit nor the base
  charge; size is the gross notional in USD and the base rate a parameter (default 0.0001).
* **Simplified to zero** (documented, not modelled): MR2 (time decay), MR3 (vega / term
  structure), MR5 (interest rate).
* **IMR** multiplier: **assumption** 1.3 x MMR (parameter).

>>> from marginlab.margin.okx_pm import okx_asset_class
>>> okx_asset_class("BTC"), okx_asset_class("SOL"), okx_asset_class("PEPE")
('btc_eth', 'major', 'other')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from marginlab.account import Account
from marginlab.exceptions import ParameterError
from marginlab.instruments import Future, Option
from marginlab.margin.base import MarginModel, MarginResult
from marginlab.margin.presets import register
from marginlab.margin.risk_matrix import Book, RiskMatrixModel
from marginlab.margin.scenarios import ScenarioGrid, VolShock
from marginlab.market import MarketSnapshot
from marginlab.pricing import black76_greeks
from marginlab.valuation import net_positions


@dataclass(frozen=True)
class OkxAssetClass:
    """Parameters of one OKX asset class: MR1 grid moves (positive side), MR6 extreme move, MR4 annual basis move."""

    grid: tuple[float, ...]
    extreme_move: float
    basis_move: float


#: Asset classes of worked example G.
ASSET_CLASSES: dict[str, OkxAssetClass] = {
    "btc_eth": OkxAssetClass((0.04, 0.08, 0.12), 0.24, 0.05),
    "major": OkxAssetClass((0.06, 0.12, 0.18), 0.36, 0.15),
    "other": OkxAssetClass((0.08, 0.16, 0.25), 0.50, 0.30),
}
#: Assets treated as tier-2 "majors" (SOL/DOGE-class) by default.
MAJOR_ASSETS = frozenset({"SOL", "DOGE", "XRP", "ADA", "LTC", "BCH", "DOT", "LINK", "AVAX", "TRX", "BNB", "TON"})
#: MR7 size-tier multipliers (upper bound of size, multiplier).
SIZE_TIERS: tuple[tuple[float, float], ...] = ((10_000, 1), (70_000, 2), (170_000, 4), (300_000, 6), (470_000, 8), (700_000, 10), (math.inf, 12))


def okx_asset_class(asset: str) -> str:
    """Default asset class of ``asset``: ``"btc_eth"``, ``"major"`` or ``"other"``."""
    if asset in ("BTC", "ETH"):
        return "btc_eth"
    return "major" if asset in MAJOR_ASSETS else "other"


def size_multiplier(size: float, tiers: tuple[tuple[float, float], ...] = SIZE_TIERS) -> float:
    """MR7 multiplier of a position size (first tier whose upper bound is >= size).

    >>> size_multiplier(10_000), size_multiplier(10_001), size_multiplier(1e9)
    (1.0, 2.0, 12.0)
    """
    for bound, multiplier in tiers:
        if size <= bound:
            return float(multiplier)
    return float(tiers[-1][1])


@dataclass(frozen=True)
class OkxPortfolioMarginModel(MarginModel):
    """OKX portfolio margin (see the module docstring for MR1..MR7 and the assumptions)."""

    family: ClassVar[str] = "portfolio"

    asset_classes: Mapping[str, str] = field(default_factory=dict)
    extreme_weight: float = 1.0
    vol_shock: VolShock | None = None
    minimum_charge_rate: float = 0.0001
    size_tiers: tuple[tuple[float, float], ...] = SIZE_TIERS
    im_multiplier: float = 1.3
    preset_name: str = ""

    def __post_init__(self) -> None:
        for name in ("extreme_weight", "minimum_charge_rate", "im_multiplier"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ParameterError(name, value, "must be a finite non-negative number")
        for asset, name in self.asset_classes.items():
            if name not in ASSET_CLASSES:
                raise ParameterError(f"asset_classes[{asset}]", name, f"must be one of {sorted(ASSET_CLASSES)}")

    def asset_class(self, asset: str) -> OkxAssetClass:
        return ASSET_CLASSES[self.asset_classes.get(asset, okx_asset_class(asset))]

    def engine_for(self, cls: OkxAssetClass) -> RiskMatrixModel:
        """The risk-matrix engine of one asset class: MR1 grid (+ vol scenarios) and the two MR6 moves."""
        moves = sorted({0.0, *cls.grid, *(-g for g in cls.grid)})
        vols = ("none",) if self.vol_shock is None else ("up", "none", "down")
        spot, vol, damp, family = [], [], [], []
        for move in moves:
            for v in vols:
                spot.append(1.0 + move)
                vol.append(v)
                damp.append(1.0)
                family.append("MR1")
        for move in (-cls.extreme_move, cls.extreme_move):
            spot.append(1.0 + move)
            vol.append("none")
            damp.append(self.extreme_weight)
            family.append("MR6")
        return RiskMatrixModel(ScenarioGrid(tuple(spot), tuple(vol), tuple(damp), tuple(family)), self.vol_shock or VolShock(), preset_name=self.name)

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        account.require_positions()
        rows = []
        scenario_tables = []
        position_tables = []
        total_mm = 0.0
        for asset in account.underlyings:
            cls = self.asset_class(asset)
            engine = self.engine_for(cls)
            sub = Account(tuple(p for p in account.positions if p.underlying == asset), account_id=account.account_id)
            result = engine.result_from_book(Book.from_accounts([sub], market), 0)
            assert result.scenarios is not None
            scenarios = result.scenarios.assign(underlying=asset)
            scenario_tables.append(scenarios)
            position_tables.append(result.positions)
            pnl = scenarios["pnl_usd"].to_numpy()
            is_mr1 = (scenarios["family"] == "MR1").to_numpy()
            mr1 = max(0.0, -float(np.min(pnl[is_mr1])))
            mr6 = max(0.0, -float(np.min(pnl[~is_mr1])))
            # MR4: basis move x years x |net forward-delta notional| per expiry
            basis_by_expiry: dict[object, float] = {}
            years_by_expiry: dict[object, float] = {}
            netted = net_positions(sub.positions)  # identical instruments once (engines net before building arrays)
            for instrument, quantity in zip(netted.instruments, netted.net_quantity.tolist()):
                if isinstance(instrument, Future | Option):
                    years = market.time_to_expiry_years(instrument.expiry)
                    forward = market.forward_usd(asset, instrument.expiry)
                    delta = 1.0
                    if isinstance(instrument, Option):
                        vol = market.vol(asset, instrument.expiry, instrument.strike_usd)
                        delta = float(black76_greeks(forward, instrument.strike_usd, years, vol, market.rate, instrument.is_call).delta)
                    basis_by_expiry[instrument.expiry] = basis_by_expiry.get(instrument.expiry, 0.0) + quantity * delta * forward
                    years_by_expiry[instrument.expiry] = years
            mr4 = cls.basis_move * sum(years_by_expiry[e] * abs(v) for e, v in basis_by_expiry.items())
            gross = float(np.sum(np.abs(netted.net_quantity)) * market.index_usd(asset))
            mr7 = self.minimum_charge_rate * size_multiplier(gross, self.size_tiers) * gross
            mmr = max(max(mr1, mr6) + mr4, mr7)
            total_mm += mmr
            rows += [
                (f"{asset} MR1 price grid", mr1, f"worst loss over spot moves 0, +-{', +-'.join(f'{g:.0%}' for g in cls.grid)}"),
                (f"{asset} MR6 extreme move", mr6, f"worst loss at +-{cls.extreme_move:.0%} x weight {self.extreme_weight:g}"),
                (f"{asset} MR4 basis", mr4, f"{cls.basis_move:.0%} annual basis move x years x |net delta notional| per expiry"),
                (f"{asset} MR7 minimum charge", mr7, f"{self.minimum_charge_rate:g} x tier multiplier x gross notional {gross:,.2f} USD"),
                (f"{asset} MMR", mmr, "max(max(MR1, MR2, MR6) + MR3 + MR4 + MR5, MR7); MR2 = MR3 = MR5 = 0 (not modelled)"),
            ]
        equity = Book.from_accounts([account], market).mtm_usd.sum() + account.cash_usd
        components = pd.DataFrame(rows, columns=["component", "maintenance_margin_usd", "explanation"])
        components.insert(1, "initial_margin_usd", components["maintenance_margin_usd"] * self.im_multiplier)
        components = components[components["component"].str.endswith("MMR")].reset_index(drop=True)
        details = {"breakdown": pd.DataFrame(rows, columns=["component", "usd", "explanation"])}
        return MarginResult(self.name, self.im_multiplier * total_mm, total_mm, float(equity), pd.concat(position_tables, ignore_index=True), components,
                            pd.concat(scenario_tables, ignore_index=True), details,
                            ("MMR per underlying = max(max(MR1, MR6) + MR4, MR7); MR2, MR3, MR5 simplified to zero.",))


def okx_pm() -> OkxPortfolioMarginModel:
    """OKX portfolio margin with the 2025 parameters of worked example G."""
    return OkxPortfolioMarginModel(preset_name="okx-pm")


register("okx-pm", "portfolio", "OKX portfolio margin (G): MR1 price grid by asset class, MR4 basis, MR6 extreme move, MR7 minimum charge", okx_pm)
