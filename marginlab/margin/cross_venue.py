"""Cross-venue accounts: positions and collateral on several venues, margined per venue and as one portfolio.

A trading desk holds positions on several venues, each margined by its own model against the
collateral posted there, and may hold collateral *off exchange* with a tri-party agent (a custodian
that pledges it to a venue and settles moves in cycles: 2-, 4- or 24-hour settlement). Two views:

* **per venue** -- each venue's model margins that venue's account; the requirements add up and a
  surplus on one venue does not cover a shortfall on another;
* **unified** -- one portfolio model margins every position against all the collateral, so hedges
  across venues offset (what a unified or cross-venue margining arrangement would charge).

Off-exchange collateral counts only after a **settlement-lag add-on**: between a margin call and the
moment the agent's transfer settles, the collateral's price can move. For collateral of value ``V``
in an asset of daily volatility ``sigma_d`` and a settlement cycle of ``h`` hours, at confidence
``alpha`` (normal quantile ``z``)::

    add-on = V * z * sigma_d * sqrt(h / 24)

(square-root-of-time scaling of the daily move to the cycle; a stable coin with ``sigma_d = 0`` has
none). The lag add-on is deducted from the collateral's value in both views.

>>> from marginlab.instruments import Perpetual, Position
>>> lag = SettlementLag(cycle_hours=4, daily_vol={"BTC": 0.04}, confidence=0.99)
>>> round(lag.addon_usd("BTC", 1_000_000.0), 2)   # 1,000,000 x 2.326 x 0.04 x sqrt(4/24)
37989.1
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
from scipy.stats import norm

from marginlab.account import Account
from marginlab.collateral import USD_CODES
from marginlab.exceptions import InputError, ParameterError
from marginlab.margin.base import MarginModel
from marginlab.market import MarketSnapshot

#: The settlement cycles of tri-party collateral arrangements considered (hours).
TRI_PARTY_CYCLES_HOURS = (2.0, 4.0, 24.0)


@dataclass(frozen=True)
class SettlementLag:
    """The add-on for collateral that settles ``cycle_hours`` after a call.

    Parameters
    ----------
    cycle_hours : float
        Settlement cycle of the tri-party agent (2, 4 or 24 hours).
    daily_vol : mapping asset -> daily volatility (fraction)
        Assets not listed: USD codes 0, others an error.
    confidence : float
        One-sided confidence of the move covered, in (0.5, 1).
    """

    cycle_hours: float
    daily_vol: Mapping[str, float] = field(default_factory=dict)
    confidence: float = 0.99

    def __post_init__(self) -> None:
        if not (isinstance(self.cycle_hours, int | float) and math.isfinite(self.cycle_hours) and self.cycle_hours >= 0):
            raise ParameterError("cycle_hours", self.cycle_hours, "must be a non-negative number of hours")
        if not (isinstance(self.confidence, int | float) and 0.5 < self.confidence < 1):
            raise ParameterError("confidence", self.confidence, "must be in (0.5, 1), e.g. 0.99")
        for asset, vol in self.daily_vol.items():
            if not (isinstance(vol, int | float) and math.isfinite(vol) and vol >= 0):
                raise ParameterError(f"daily_vol[{asset}]", vol, "must be a non-negative daily volatility")

    def addon_usd(self, asset: str, value_usd: float) -> float:
        """``value x z x sigma_d x sqrt(cycle / 24)``."""
        if asset in self.daily_vol:
            vol = float(self.daily_vol[asset])
        elif asset in USD_CODES or asset in ("USDC", "USDT"):
            vol = 0.0
        else:
            raise InputError(f"daily_vol[{asset}]", None, "no daily volatility for this off-exchange collateral asset")
        return abs(value_usd) * float(norm.ppf(self.confidence)) * vol * math.sqrt(self.cycle_hours / 24.0)


@dataclass(frozen=True)
class VenueBook:
    """One venue's positions and posted collateral, and the model that venue margins them with."""

    venue: str
    model: MarginModel
    account: Account


@dataclass(frozen=True)
class CrossVenueAccount:
    """A desk's accounts on several venues and its off-exchange (tri-party) collateral.

    Parameters
    ----------
    venues : sequence of VenueBook
    off_exchange : mapping asset -> quantity
        Collateral held with the tri-party agent (not posted on any venue).
    """

    venues: Sequence[VenueBook]
    off_exchange: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [v.venue for v in self.venues]
        if not names or len(set(names)) != len(names):
            raise InputError("venues", names, "give at least one venue, each name once")

    def unified_account(self) -> Account:
        """Every position and all the collateral (posted and off-exchange) in one account."""
        positions = tuple(p for v in self.venues for p in v.account.positions)
        collateral: dict[str, float] = {}
        for v in self.venues:
            for asset, quantity in v.account.collateral.items():
                collateral[asset] = collateral.get(asset, 0.0) + float(quantity)
        for asset, quantity in self.off_exchange.items():
            collateral[asset] = collateral.get(asset, 0.0) + float(quantity)
        cash = sum(v.account.cash_usd for v in self.venues)
        return Account(positions, cash_usd=cash, collateral=collateral, account_id="+".join(v.venue for v in self.venues))


def _value_usd(asset: str, quantity: float, market: MarketSnapshot) -> float:
    return float(quantity) * (1.0 if asset in USD_CODES or asset in ("USDC", "USDT") else market.index_usd(asset))


def margin_cross_venue(desk: CrossVenueAccount, market: MarketSnapshot, unified_model: MarginModel, lag: SettlementLag | None = None) -> pd.DataFrame:
    """Per-venue and unified margin of ``desk``, with the settlement-lag add-on of its off-exchange collateral.

    Parameters
    ----------
    desk : CrossVenueAccount
    market : MarketSnapshot
    unified_model : MarginModel
        The portfolio model of the unified view (e.g. ``get_model("deribit-pm")``).
    lag : SettlementLag, optional
        Settlement cycle of the off-exchange collateral (none: no add-on).

    Returns
    -------
    DataFrame
        One row per venue (``view = "per venue"``), a ``"per venue (sum)"`` row and a ``"unified"`` row:
        ``initial_margin_usd``, ``maintenance_margin_usd``, ``equity_usd`` (posted collateral and positions),
        ``off_exchange_usd`` (after the lag add-on), ``lag_addon_usd`` and ``excess_usd`` (equity - IM; per venue
        the ``per venue (sum)`` row: the off-exchange collateral after the add-on less the venues' shortfalls, since
        a venue's surplus stays on that venue).
    """
    rows = []
    for v in desk.venues:
        result = v.model.margin(v.account, market) if v.account.positions else None
        im = result.initial_margin_usd if result else 0.0
        mm = result.maintenance_margin_usd if result else 0.0
        equity = result.equity_usd if result else v.model.account_equity_usd(v.account, market)
        rows.append({"view": "per venue", "venue": v.venue, "model": v.model.name, "initial_margin_usd": im, "maintenance_margin_usd": mm,
                     "equity_usd": equity, "off_exchange_usd": 0.0, "lag_addon_usd": 0.0, "excess_usd": equity - im})
    off_value = sum(_value_usd(a, q, market) for a, q in desk.off_exchange.items())
    addon = sum(lag.addon_usd(a, _value_usd(a, q, market)) for a, q in desk.off_exchange.items()) if lag else 0.0
    per = pd.DataFrame(rows)
    shortfall = float((-per["excess_usd"].clip(upper=0.0)).sum())
    rows.append({"view": "per venue (sum)", "venue": "all", "model": "each venue's own", "initial_margin_usd": float(per["initial_margin_usd"].sum()),
                 "maintenance_margin_usd": float(per["maintenance_margin_usd"].sum()), "equity_usd": float(per["equity_usd"].sum()),
                 "off_exchange_usd": off_value - addon, "lag_addon_usd": addon,
                 # a venue's surplus stays on that venue: the desk's free collateral is the off-exchange collateral
                 # (after the add-on) less the venues' shortfalls
                 "excess_usd": off_value - addon - shortfall})
    unified = desk.unified_account()
    posted = Account(unified.positions, cash_usd=unified.cash_usd, collateral={a: q - float(desk.off_exchange.get(a, 0.0))
                                                                                for a, q in unified.collateral.items()
                                                                                if abs(q - float(desk.off_exchange.get(a, 0.0))) > 0},
                     account_id=unified.account_id)
    result = unified_model.margin(posted, market)
    rows.append({"view": "unified", "venue": "all", "model": unified_model.name, "initial_margin_usd": result.initial_margin_usd,
                 "maintenance_margin_usd": result.maintenance_margin_usd, "equity_usd": result.equity_usd, "off_exchange_usd": off_value - addon,
                 "lag_addon_usd": addon, "excess_usd": result.equity_usd + off_value - addon - result.initial_margin_usd})
    return pd.DataFrame(rows)


def lag_costs(desk: CrossVenueAccount, market: MarketSnapshot, daily_vol: Mapping[str, float], cycles_hours: Sequence[float] = TRI_PARTY_CYCLES_HOURS,
              confidence: float = 0.99) -> pd.DataFrame:
    """The settlement-lag add-on of the desk's off-exchange collateral for each cycle: ``cycle_hours, lag_addon_usd, share_of_value``."""
    value = sum(_value_usd(a, q, market) for a, q in desk.off_exchange.items())
    rows = []
    for hours in cycles_hours:
        lag = SettlementLag(hours, daily_vol, confidence)
        addon = sum(lag.addon_usd(a, _value_usd(a, q, market)) for a, q in desk.off_exchange.items())
        rows.append({"cycle_hours": float(hours), "lag_addon_usd": addon, "share_of_value": addon / value if value else 0.0})
    return pd.DataFrame(rows)


__all__ = ["CrossVenueAccount", "SettlementLag", "TRI_PARTY_CYCLES_HOURS", "VenueBook", "lag_costs", "margin_cross_venue"]
