"""Greeks report against QuantLib's BlackCalculator and hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from marginlab.account import Account
from marginlab.exceptions import EmptyPortfolioError
from marginlab.greeks import greeks_report, position_greeks
from marginlab.instruments import Future, Option, Perpetual, Position, Spot
from marginlab.market import AssetMarket, ExpiryMarket, MarketSnapshot, VolSmile

ql = pytest.importorskip("QuantLib")

AS_OF = "2025-01-15T08:00:00Z"
EXPIRY = "2025-03-28T08:00:00Z"
YEARS = 72 / 365
RATE = 0.03


def _market() -> MarketSnapshot:
    btc = AssetMarket(100_000.0, 100_100.0, {EXPIRY: ExpiryMarket(101_000.0, VolSmile.flat(0.55))})
    eth = AssetMarket(3_000.0, expiries={EXPIRY: ExpiryMarket(None, VolSmile.flat(0.70))})
    return MarketSnapshot(AS_OF, {"BTC": btc, "ETH": eth}, RATE)


def _quantlib(option_type, strike: float, forward: float, vol: float):  # type: ignore[no-untyped-def]
    discount = math.exp(-RATE * YEARS)
    calculator = ql.BlackCalculator(ql.PlainVanillaPayoff(option_type, strike), forward, vol * math.sqrt(YEARS), discount)
    return calculator.deltaForward(), calculator.gammaForward(), calculator.vega(YEARS), calculator.theta(forward, YEARS)


def test_report_matches_quantlib_and_hand_aggregation() -> None:
    positions = (
        Position(Option("BTC", EXPIRY, 110_000, "call"), -3),
        Position(Option("BTC", EXPIRY, 90_000, "put"), 2),
        Position(Perpetual("BTC"), 1.5),
        Position(Future("BTC", EXPIRY), -0.5),
        Position(Spot("BTC"), 0.25),
        Position(Option("ETH", EXPIRY, 3_200, "call"), 10),
    )
    report = greeks_report(Account(positions), _market())
    f_btc = 101_000.0
    d_c, g_c, v_c, t_c = _quantlib(ql.Option.Call, 110_000, f_btc, 0.55)
    d_p, g_p, v_p, t_p = _quantlib(ql.Option.Put, 90_000, f_btc, 0.55)
    # BTC coin delta: options -3 d_c + 2 d_p; perpetual 1.5 (forward = perp mark 100,100); future -0.5; spot 0.25
    delta_coin = -3 * d_c + 2 * d_p + 1.5 - 0.5 + 0.25
    delta_usd = (-3 * d_c + 2 * d_p - 0.5) * f_btc + 1.5 * 100_100.0 + 0.25 * 100_000.0
    btc = report.loc["BTC"]
    assert btc["delta_coin"] == pytest.approx(delta_coin, rel=1e-10)
    assert btc["delta_usd"] == pytest.approx(delta_usd, rel=1e-10)
    assert btc["delta_usd_per_1pct"] == pytest.approx(0.01 * delta_usd, rel=1e-10)
    gamma = -3 * g_c + 2 * g_p
    assert btc["gamma_coin_per_1pct"] == pytest.approx(gamma * 0.01 * f_btc, rel=1e-10)
    assert btc["gamma_usd_per_1pct"] == pytest.approx(0.5 * gamma * (0.01 * f_btc) ** 2, rel=1e-10)
    assert btc["vega_usd_per_vol_point"] == pytest.approx((-3 * v_c + 2 * v_p) / 100, rel=1e-10)
    assert btc["theta_usd_per_day"] == pytest.approx((-3 * t_c + 2 * t_p) / 365, rel=1e-10)
    # ETH forward by cost of carry: 3,000 exp(0.03 x 72/365)
    f_eth = 3_000.0 * math.exp(RATE * YEARS)
    d_e, _, v_e, _ = _quantlib(ql.Option.Call, 3_200, f_eth, 0.70)
    assert report.loc["ETH", "delta_coin"] == pytest.approx(10 * d_e, rel=1e-10)
    assert report.loc["ETH", "vega_usd_per_vol_point"] == pytest.approx(10 * v_e / 100, rel=1e-10)
    total = report.loc["TOTAL"]
    assert total["delta_usd"] == pytest.approx(btc["delta_usd"] + report.loc["ETH", "delta_usd"])
    assert math.isnan(total["delta_coin"])


def test_gamma_and_delta_against_finite_differences() -> None:
    # the 1% P&L implied by the report approximates full revaluation to second order
    account = Account((Position(Option("BTC", EXPIRY, 100_000, "call"), -2),))
    market = _market()
    frame = position_greeks(account, market)
    from marginlab.valuation import value_positions

    base = float(value_positions(account.positions, market).value_usd.sum())
    up = float(value_positions(account.positions, market.shifted(spot_factor={"BTC": 1.01})).value_usd.sum())
    down = float(value_positions(account.positions, market.shifted(spot_factor={"BTC": 0.99})).value_usd.sum())
    assert (up - down) / 2 == pytest.approx(frame["delta_usd_per_1pct"].iat[0], rel=1e-3)
    assert (up + down - 2 * base) / 2 == pytest.approx(frame["gamma_usd_per_1pct"].iat[0], rel=1e-3)


def test_linear_book_has_no_gamma_vega_theta_and_empty_account_raises() -> None:
    report = greeks_report(Account((Position(Perpetual("BTC"), -2),)), _market())
    assert report.loc["BTC", "delta_coin"] == -2.0
    assert report.loc["BTC", "delta_usd_per_1pct"] == pytest.approx(-0.02 * 100_100.0)
    assert np.allclose(report.loc["BTC", ["gamma_usd_per_1pct", "vega_usd_per_vol_point", "theta_usd_per_day"]].to_numpy(float), 0.0)
    with pytest.raises(EmptyPortfolioError):
        greeks_report(Account(), _market())
