"""Cross margin: one collateral pool, per-position requirements summed, an account margin ratio.

The requirement of each position is the isolated rule of the chosen venue
(:class:`~marginlab.margin.isolated.IsolatedMargin`, its isolated collateral ignored); the
account requirement is their sum. Equity is one pool::

    equity = cash_usd + sum_assets value_usd * (1 - haircut) + sum_positions mark-to-market

with collateral valued at market (stablecoins too: a depeg lowers equity) and haircuts from a
:class:`~marginlab.collateral.HaircutSchedule` (flat, size-tiered or dynamic). The margin
ratio ``equity / maintenance margin`` is classified by an
:class:`~marginlab.collateral.ActionLadder` (free, reminder, reduce-only, liquidation...).

The Binance unified-account preset (worked example F) is this engine with Binance's collateral
rates: ``uniMMR = sum adjusted equity / sum maintenance margin`` where adjusted equity counts each
asset at ``min(value x collateral rate, value)`` (BTC at 0.95: 3 BTC count as 2.85 BTC).
Positions' unrealised P&L and USD cash count at rate 1 (they are USD-settled).

>>> from marginlab.margin.presets import binance_unified
>>> from marginlab.account import Account
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
>>> account = Account.from_dict({"collateral": {"BTC": 3}, "positions": [{"symbol": "BTC-PERPETUAL", "quantity": 10}]})
>>> result = binance_unified().margin(account, market)
>>> result.equity_usd, result.details["action"]
(285000.0, 'free')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from marginlab.account import Account
from marginlab.collateral import (
    UNIFIED_ACCOUNT_LADDER,
    ActionLadder,
    HaircutSchedule,
    collateral_table,
)
from marginlab.exceptions import NumericalError
from marginlab.margin.base import MarginModel, MarginResult
from marginlab.margin.isolated import IsolatedMargin
from marginlab.market import MarketSnapshot
from marginlab.valuation import value_positions


@dataclass(frozen=True)
class CrossMargin(MarginModel):
    """Cross margin over one collateral pool.

    Parameters
    ----------
    rules : IsolatedMargin
        The venue's per-position rule set (its isolated collateral is ignored here).
    haircuts : HaircutSchedule, optional
        Collateral haircuts; ``None`` counts collateral at full market value.
    ladder : ActionLadder
        Actions by margin ratio (default: worked example F).
    preset_name : str
    """

    rules: IsolatedMargin
    haircuts: HaircutSchedule | None = None
    ladder: ActionLadder = field(default_factory=lambda: UNIFIED_ACCOUNT_LADDER)
    preset_name: str = ""
    family: ClassVar[str] = "cross"

    def account_equity_usd(self, account: Account, market: MarketSnapshot) -> float:
        """Pooled equity after haircuts (also for an account without positions)."""
        table = collateral_table(account.collateral, market, self.haircuts)
        positions = value_positions(account.positions, market) if account.positions else None
        mtm = float(np.sum(positions.value_usd)) if positions is not None else 0.0
        return account.cash_usd + (float(table["adjusted_value_usd"].sum()) if len(table) else 0.0) + mtm

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        valuation, frame = self.rules.position_requirements(account, market)
        frame = frame.copy()
        collateral = collateral_table(account.collateral, market, self.haircuts)
        collateral_usd = float(collateral["adjusted_value_usd"].sum()) if len(collateral) else 0.0
        collateral_market_usd = float(collateral["value_usd"].sum()) if len(collateral) else 0.0
        mtm = float(np.sum(valuation.value_usd))
        equity = account.cash_usd + collateral_usd + mtm
        initial = float(frame["initial_margin_usd"].sum())
        maintenance = float(frame["maintenance_margin_usd"].sum())
        components = frame.groupby(["underlying", "kind"], sort=True)[["initial_margin_usd", "maintenance_margin_usd"]].sum().reset_index()
        components.insert(0, "component", components["underlying"] + " " + components["kind"])
        components["explanation"] = "sum of per-position requirements under " + self.rules.name
        components = components.drop(columns=["underlying", "kind"])
        for name, total in (("initial_margin_usd", initial), ("maintenance_margin_usd", maintenance), ("equity_usd", equity)):
            if not math.isfinite(total):
                raise NumericalError(name, total, f"the {self.name} total is not finite (an overflow at these sizes); check quantities, prices and cash")
        ratio = equity / maintenance if maintenance > 0 else float("inf")
        action = self.ladder.classify(ratio)
        notes = (
            f"One pool: equity = cash {account.cash_usd:,.2f} + collateral after haircuts {collateral_usd:,.2f} "
            f"(market value {collateral_market_usd:,.2f}) + positions' mark-to-market {mtm:,.2f} USD.",
            f"Requirements are the per-position rules of {self.rules.name}, summed.",
            f"Margin ratio {ratio:.4f} -> action '{action}'.",
        )
        return MarginResult(
            self.name,
            initial,
            maintenance,
            equity,
            frame,
            components,
            details={
                "family": self.family,
                "collateral": collateral,
                "collateral_adjusted_usd": collateral_usd,
                "collateral_market_usd": collateral_market_usd,
                "cash_usd": account.cash_usd,
                "positions_mtm_usd": mtm,
                "action": action,
            },
            notes=notes,
        )
