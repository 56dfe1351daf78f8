"""Margin provisions (``marginlab.margin.provisions``), each worked by hand or against a closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from marginlab.account import Account
from marginlab.exceptions import ParameterError
from marginlab.instruments import Option, Perpetual, Position
from marginlab.margin.presets import get_model
from marginlab.margin.provisions import (
    DenseValuationInterval,
    FundingProvision,
    OpenOrdersProvision,
    TimeToExpiryAdjustment,
    WithProvisions,
)
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.margin.scenarios import ScenarioGrid
from marginlab.market import MarketSnapshot

MARKET = MarketSnapshot.from_dict({"as_of": "2025-01-15T00:00:00Z", "assets": {"BTC": {"index_usd": 100_000, "expiries": {"2025-02-14": {"atm_vol": 0.6}}}}})
CALL = Option("BTC", "2025-02-14", 100_000, "call")
DAYS = MARKET.time_to_expiry_years(CALL.expiry) * 365  # 30 days and Deribit's 08:00 UTC expiry


def black_call(spot: float, strike: float, days: float, vol: float) -> float:
    """Black-76 call, rate 0, forward = spot."""
    t = days / 365
    d1 = (math.log(spot / strike) + 0.5 * vol * vol * t) / (vol * math.sqrt(t))
    return spot * norm.cdf(d1) - strike * norm.cdf(d1 - vol * math.sqrt(t))


def _parts(result) -> dict:  # type: ignore[no-untyped-def]
    return result.components.set_index("component")[["initial_margin_usd", "maintenance_margin_usd"]].T.to_dict("list")


def test_funding_provision_paradex() -> None:
    """Long 2 BTC perpetual at 100,000, rate +0.01% per 8 h, horizon 8 h: 2 x 100,000 x 0.0001 = 20 USD in IM and MM;
    a short receives funding: no provision; a 16 h horizon doubles it."""
    base = get_model("deribit-pm")
    long = Account([Position(Perpetual("BTC"), 2.0)], cash_usd=50_000)
    result = WithProvisions(base, (FundingProvision({"BTC": 0.0001}),)).margin(long, MARKET)
    assert _parts(result)["funding provision"] == pytest.approx([20.0, 20.0])
    assert result.initial_margin_usd == pytest.approx(base.margin(long, MARKET).initial_margin_usd + 20.0)
    short = Account([Position(Perpetual("BTC"), -2.0)], cash_usd=50_000)
    assert FundingProvision({"BTC": 0.0001}).amounts(base, short, MARKET) == (0.0, 0.0)
    assert FundingProvision({"BTC": 0.0001}, horizon_hours=16).amounts(base, long, MARKET) == pytest.approx((40.0, 40.0))
    with pytest.raises(ParameterError, match="interval_hours"):
        FundingProvision({"BTC": 0.0001}, interval_hours=0.0)


def test_open_orders_provision_deribit() -> None:
    """deribit-pm (IM = worst loss = 16% of notional for a perpetual): long 1 BTC -> IM 16,000. Open bid 1 BTC (-> 2 BTC,
    IM 32,000, +16,000) and ask 4 BTC (-> -3 BTC, IM 48,000, +32,000): provision = 32,000 IM, 0 MM."""
    base = get_model("deribit-pm")
    account = Account([Position(Perpetual("BTC"), 1.0)], cash_usd=100_000)
    assert base.margin(account, MARKET).initial_margin_usd == pytest.approx(16_000.0)
    orders = OpenOrdersProvision((Position(Perpetual("BTC"), 1.0), Position(Perpetual("BTC"), -4.0)))
    assert orders.amounts(base, account, MARKET) == pytest.approx((32_000.0, 0.0))
    result = WithProvisions(base, (orders,)).margin(account, MARKET)
    assert result.initial_margin_usd == pytest.approx(48_000.0) and result.maintenance_margin_usd == pytest.approx(0.8 * 16_000.0)
    assert OpenOrdersProvision().amounts(base, account, MARKET) == (0.0, 0.0)


def test_time_to_expiry_adjustment() -> None:
    """Long 1 ATM 30-day call, vol 0.6: revalued 2 days later, loss = C(30 d) - C(28 d) (Black-76 closed form)."""
    account = Account([Position(CALL, 1.0)])
    loss = black_call(100_000, 100_000, DAYS, 0.6) - black_call(100_000, 100_000, DAYS - 2, 0.6)
    im, mm = TimeToExpiryAdjustment(2.0).amounts(get_model("deribit-pm"), account, MARKET)
    assert (im, mm) == pytest.approx((loss, loss), rel=1e-9)
    assert 30 < DAYS < 30.5 and loss > 0
    # a short call gains from time decay: no adjustment
    assert TimeToExpiryAdjustment(2.0).amounts(get_model("deribit-pm"), Account([Position(CALL, -1.0)]), MARKET) == (0.0, 0.0)


def test_dense_valuation_interval_finds_the_interior_worst_point() -> None:
    """Long 1 call K = 105,000 (30 d, vol 0.6) hedged with 0.5 BTC short: P&L(m) = C(S(1 + m)) - C(S) - 0.5 S m is convex, its
    minimum near m = +5%. A 9-point grid over +-16% (4% steps) sees the loss at +4%; 31 points (16/15 % steps) get closer."""
    strike, vol, days = 105_000.0, 0.6, DAYS
    account = Account([Position(Option("BTC", "2025-02-14", strike, "call"), 1.0), Position(Perpetual("BTC"), -0.5)], cash_usd=10_000)
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15T00:00:00Z", "assets": {"BTC": {"index_usd": 100_000, "expiries": {
        "2025-02-14": {"atm_vol": vol}}}}})

    def pnl(m: float) -> float:
        return black_call(100_000 * (1 + m), strike, days, vol) - black_call(100_000, strike, days, vol) - 0.5 * 100_000 * m

    coarse = max(0.0, -min(pnl(m) for m in np.linspace(-0.16, 0.16, 9)))
    dense = max(0.0, -min(pnl(m) for m in np.linspace(-0.16, 0.16, 31)))
    assert dense > coarse > 0
    base = RiskMatrixModel(ScenarioGrid.regular(0.16, 9, ("none",)))
    assert base.margin(account, market).maintenance_margin_usd == pytest.approx(coarse, rel=1e-9)
    provision = DenseValuationInterval(0.16, 31)
    assert provision.amounts(base, account, market) == pytest.approx((dense - coarse, dense - coarse), rel=1e-9)
    total = WithProvisions(base, (provision,)).margin(account, market)
    assert total.maintenance_margin_usd == pytest.approx(dense, rel=1e-9)
    assert DenseValuationInterval.interval_for(0.05, 4) == pytest.approx(0.10)
