"""Columnar valuation of positions, collateral and equity (hand calculations and QuantLib)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from marginlab.exceptions import ExpiredInstrumentError, MissingMarketDataError, UnknownAssetError
from marginlab.instruments import Future, Option, Perpetual, Position, Spot
from marginlab.market import AssetMarket, ExpiryMarket, MarketSnapshot, VolSmile
from marginlab.valuation import collateral_value_usd, equity_usd, value_positions

EXPIRY = "2025-03-28T08:00:00Z"
YEARS = 72 / 365


def _market() -> MarketSnapshot:
    btc = AssetMarket(100_000.0, 100_200.0, {EXPIRY: ExpiryMarket(101_000.0, VolSmile.flat(0.5))})
    return MarketSnapshot("2025-01-15T08:00:00Z", {"BTC": btc, "USDC": AssetMarket(0.99)}, 0.04)


def test_values_by_hand_and_quantlib() -> None:
    ql = pytest.importorskip("QuantLib")
    positions = [
        Position(Perpetual("BTC"), -2.0, entry_price_usd=90_000),  # P&L -2 x (100,200 - 90,000) = -20,400
        Position(Future("BTC", EXPIRY), 1.0, entry_price_usd=102_000),  # 1 x (101,000 - 102,000) = -1,000
        Position(Perpetual("BTC"), 3.0),  # no entry: entered at mark, P&L 0
        Position(Spot("BTC"), 0.5),  # 0.5 x 100,000 = 50,000
        Position(Option("BTC", EXPIRY, 110_000, "call"), -4.0),
    ]
    valuation = value_positions(positions, _market())
    mark = ql.blackFormula(ql.Option.Call, 110_000, 101_000, 0.5 * math.sqrt(YEARS), math.exp(-0.04 * YEARS))
    np.testing.assert_allclose(valuation.value_usd, [-20_400.0, -1_000.0, 0.0, 50_000.0, -4 * mark], rtol=1e-12)
    np.testing.assert_allclose(valuation.mark_usd[:4], [100_200.0, 101_000.0, 100_200.0, 100_000.0])
    np.testing.assert_allclose(valuation.notional_usd, [200_000.0, 100_000.0, 300_000.0, 50_000.0, 400_000.0])
    assert list(valuation.kinds) == ["perpetual", "future", "perpetual", "spot", "option"]
    assert valuation.years[4] == pytest.approx(YEARS) and valuation.years[0] == 0.0
    assert list(valuation.is_option) == [False, False, False, False, True]
    frame = valuation.frame()
    assert len(frame) == 5 and frame["symbol"].iat[4] == "BTC-20250328-110000-C"


def test_collateral_and_equity_by_hand() -> None:
    market = _market()
    # USDC valued at market 0.99 (a depeg shows), USD at 1
    assert collateral_value_usd({"USDC": 10_000, "USD": 5.0, "BTC": 0.1}, market) == pytest.approx({"USDC": 9_900.0, "USD": 5.0, "BTC": 10_000.0})
    valuation = value_positions([Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000)], market)
    # cash 1,000 + 9,900 + P&L 200
    assert equity_usd(1_000.0, {"USDC": 10_000}, valuation, market) == pytest.approx(11_100.0)
    with pytest.raises(UnknownAssetError, match="collateral\\[DAI\\]"):
        collateral_value_usd({"DAI": 1.0}, market)


def test_valuation_errors() -> None:
    market = _market()
    with pytest.raises(UnknownAssetError, match="ETH"):
        value_positions([Position(Perpetual("ETH"), 1.0)], market)
    with pytest.raises(ExpiredInstrumentError):
        value_positions([Position(Option("BTC", "2025-01-10", 100_000, "put"), 1.0)], market)
    with pytest.raises(MissingMarketDataError, match="vol"):
        value_positions([Position(Option("BTC", "2025-06-27", 100_000, "put"), 1.0)], market)


def test_empty_book_values_to_nothing() -> None:
    valuation = value_positions([], _market())
    assert len(valuation) == 0 and valuation.value_usd.sum() == 0.0
