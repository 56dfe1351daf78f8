"""Margin provisions: optional components some venues and clearing houses add to the scenario margin.

Each provision is a small frozen class with ``amounts(model, account, market) -> (im_usd, mm_usd)``;
:class:`WithProvisions` adds them, one component row each, to the result of any model. All are
off unless configured.

:class:`FundingProvision` (Paradex)
    "Funding Provision is margin reserved to cover any expected funding PnL over the next 8 hours",
    added to both the IMR and the MMR (docs.paradex.trade/risk/portfolio-margin). The expected
    funding of a perpetual is ``quantity x mark x rate x horizon / interval`` (paid by longs when the
    rate is positive); the provision is the account's expected payment, ``max(0, sum)``.
:class:`OpenOrdersProvision` (Deribit)
    Since the 18 August 2022 release Deribit charges portfolio-margin accounts initial margin for
    their open orders (support.deribit.com, "18 August 2022", risk change 1). Here: the larger IM
    increase of the two sides filled, ``max(IM(account + bids) - IM, IM(account + asks) - IM, 0)``;
    no maintenance part (orders are not positions).
:class:`TimeToExpiryAdjustment` (Eurex Prisma style)
    Positions are revalued at the end of the holding period: the loss of the options' time value over
    ``horizon_days`` at unchanged spot and vol, ``max(0, -sum q (V(T - h) - V(T)))``, added to IM and MM.
    (The Prisma documents were not retrieved; the holding-period revaluation is the rule stated here.)
:class:`DenseValuationInterval` (Nasdaq OMS II)
    "The worst-case scenario ... can occur anywhere in the valuation interval ... divided into 31
    valuation points"; the interval's size follows the liquidation period (2 days on average, up to 5)
    and the historical moves over it (business.nasdaq.com, Nasdaq Clearing margining methodology).
    The add-on is ``max(0, worst loss over the 31 points - the model's maintenance margin)``, so the
    requirement is at least the dense interval's worst loss; ``interval_for(daily_move, close_out_days)``
    gives ``daily_move x sqrt(close_out_days)``.

>>> from marginlab.account import Account
>>> from marginlab.instruments import Perpetual, Position
>>> from marginlab.margin.presets import get_model
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000}}})
>>> model = WithProvisions(get_model("deribit-pm"), (FundingProvision({"BTC": 0.0001}),))
>>> result = model.margin(Account([Position(Perpetual("BTC"), 2.0)], cash_usd=50_000), market)
>>> float(result.components.set_index("component").loc["funding provision", "maintenance_margin_usd"])   # 2 x 100,000 x 0.01%
20.0
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import pandas as pd

from marginlab.account import Account
from marginlab.exceptions import ParameterError
from marginlab.instruments import Option, Perpetual, Position
from marginlab.margin.base import MarginModel, MarginResult
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.margin.scenarios import ScenarioGrid
from marginlab.market import MarketSnapshot


class Provision(Protocol):
    """What :class:`WithProvisions` needs of a provision."""

    name: str

    def amounts(self, model: MarginModel, account: Account, market: MarketSnapshot) -> tuple[float, float]: ...

    def explain(self) -> str: ...


def _check(name: str, value: float, low: float = 0.0) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= low):
        raise ParameterError(name, value, f"must be a finite number >= {low:g}")
    return float(value)


@dataclass(frozen=True)
class FundingProvision:
    """Expected funding over the next ``horizon_hours`` (Paradex: 8 hours), reserved in IM and MM.

    Parameters
    ----------
    funding_rate : mapping asset -> rate per interval
        Signed rate per funding interval (longs pay when positive), e.g. ``{"BTC": 0.0001}``.
    interval_hours, horizon_hours : float
    """

    funding_rate: Mapping[str, float]
    interval_hours: float = 8.0
    horizon_hours: float = 8.0
    name: str = "funding provision"

    def __post_init__(self) -> None:
        _check("interval_hours", self.interval_hours, 1e-9)
        _check("horizon_hours", self.horizon_hours)
        for asset, rate in self.funding_rate.items():
            if not (isinstance(rate, int | float) and math.isfinite(rate)):
                raise ParameterError(f"funding_rate[{asset}]", rate, "must be a finite number")

    def expected_payment_usd(self, account: Account, market: MarketSnapshot) -> float:
        """Funding the account expects to pay (> 0) or receive (< 0) over the horizon."""
        total = 0.0
        for position in account.positions:
            if isinstance(position.instrument, Perpetual) and position.underlying in self.funding_rate:
                mark = market.perpetual_usd(position.underlying)
                coins = position.coin_quantity(mark)
                total += coins * mark * self.funding_rate[position.underlying] * self.horizon_hours / self.interval_hours
        return total

    def amounts(self, model: MarginModel, account: Account, market: MarketSnapshot) -> tuple[float, float]:
        amount = max(self.expected_payment_usd(account, market), 0.0)
        return amount, amount

    def explain(self) -> str:
        return f"expected funding payment over the next {self.horizon_hours:g} h (quantity x mark x rate x {self.horizon_hours:g}/{self.interval_hours:g})"


@dataclass(frozen=True)
class OpenOrdersProvision:
    """IM for open orders (Deribit portfolio margin since 2022-08-18): the larger IM increase of either side filled.

    Parameters
    ----------
    orders : sequence of Position
        Open orders as signed quantities (bids > 0, asks < 0).
    """

    orders: Sequence[Position] = ()
    name: str = "open orders"

    def amounts(self, model: MarginModel, account: Account, market: MarketSnapshot) -> tuple[float, float]:
        bids = tuple(p for p in self.orders if p.quantity > 0)
        asks = tuple(p for p in self.orders if p.quantity < 0)
        if not bids and not asks:
            return 0.0, 0.0
        now = model.margin(account, market).initial_margin_usd if account.positions else 0.0
        worst = 0.0
        for side in (bids, asks):
            if side:
                worst = max(worst, model.margin(account.with_positions(side), market).initial_margin_usd - now)
        return worst, 0.0

    def explain(self) -> str:
        return f"IM of {len(self.orders)} open orders: the larger IM increase of the bids or the asks filled (no MM)"


def _side_engine(horizon_days: float) -> RiskMatrixModel:
    grid = ScenarioGrid((1.0,), ("none",), (1.0,), ("base",)).with_time_and_rates(horizon_days, ())
    return RiskMatrixModel(grid, preset_name="time to expiry")


@dataclass(frozen=True)
class TimeToExpiryAdjustment:
    """The loss of the options' time value over the holding period, at unchanged spot and vol (IM and MM).

    Parameters
    ----------
    horizon_days : float
        Holding (close-out) period, e.g. 2.
    """

    horizon_days: float = 2.0
    name: str = "time-to-expiry adjustment"

    def __post_init__(self) -> None:
        _check("horizon_days", self.horizon_days, 1e-9)

    def amounts(self, model: MarginModel, account: Account, market: MarketSnapshot) -> tuple[float, float]:
        options = tuple(p for p in account.positions if isinstance(p.instrument, Option))
        if not options:
            return 0.0, 0.0
        result = _side_engine(self.horizon_days).margin(Account(options, account_id=account.account_id), market)
        assert result.scenarios is not None
        loss = max(0.0, -float(result.scenarios["pnl_usd"].iloc[0]))
        return loss, loss

    def explain(self) -> str:
        return f"options revalued {self.horizon_days:g} days later at unchanged spot and vol (time decay over the holding period)"


@dataclass(frozen=True)
class DenseValuationInterval:
    """The worst loss over ``points`` equidistant moves of the valuation interval, as a floor of the maintenance margin.

    Parameters
    ----------
    spot_range : float
        Half-width of the valuation interval (a fraction of the price), e.g. ``interval_for(0.05, 2)``.
    points : int
        Valuation points over ``[-spot_range, +spot_range]`` (Nasdaq OMS II: 31).
    """

    spot_range: float
    points: int = 31
    name: str = "dense valuation interval"

    def __post_init__(self) -> None:
        _check("spot_range", self.spot_range, 1e-9)
        if not (isinstance(self.points, int) and self.points >= 2):
            raise ParameterError("points", self.points, "must be an integer >= 2")

    @staticmethod
    def interval_for(daily_move: float, close_out_days: float) -> float:
        """``daily_move x sqrt(close_out_days)`` (a move scaled to the liquidation period, 2 to 5 days at Nasdaq).

        >>> round(DenseValuationInterval.interval_for(0.05, 4), 6)
        0.1
        """
        return _check("daily_move", daily_move) * math.sqrt(_check("close_out_days", close_out_days, 1e-9))

    def worst_loss_usd(self, account: Account, market: MarketSnapshot) -> float:
        """The worst loss over the dense valuation interval (vols unchanged)."""
        engine = RiskMatrixModel(ScenarioGrid.regular(self.spot_range, self.points, ("none",)), preset_name="dense valuation interval")
        return float(engine.margin(account, market).maintenance_margin_usd)

    def amounts(self, model: MarginModel, account: Account, market: MarketSnapshot) -> tuple[float, float]:
        base = model.margin(account, market)
        extra = max(0.0, self.worst_loss_usd(account, market) - base.maintenance_margin_usd)
        return extra, extra

    def explain(self) -> str:
        return f"worst loss over {self.points} valuation points in +-{self.spot_range:.2%} above the model's maintenance margin"


@dataclass(frozen=True)
class WithProvisions(MarginModel):
    """``base`` with the ``provisions`` added as components (IM and MM parts as each provision states).

    Parameters
    ----------
    base : MarginModel
    provisions : tuple of provisions
    """

    family: ClassVar[str] = "portfolio"

    base: MarginModel
    provisions: tuple[Any, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.base.name

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        result = self.base.margin(account, market)
        rows = []
        im = mm = 0.0
        for provision in self.provisions:
            p_im, p_mm = provision.amounts(self.base, account, market)
            rows.append((provision.name, p_im, p_mm, provision.explain()))
            im += p_im
            mm += p_mm
        table = pd.DataFrame(rows, columns=["component", "initial_margin_usd", "maintenance_margin_usd", "explanation"])
        components = pd.concat([result.components, table], ignore_index=True) if len(table) else result.components
        return dataclasses.replace(result, initial_margin_usd=result.initial_margin_usd + im, maintenance_margin_usd=result.maintenance_margin_usd + mm,
                                   components=components, assumptions=result.assumptions)

    def account_equity_usd(self, account: Account, market: MarketSnapshot) -> float:
        return self.base.account_equity_usd(account, market)


__all__ = ["DenseValuationInterval", "FundingProvision", "OpenOrdersProvision", "Provision", "TimeToExpiryAdjustment", "WithProvisions"]
