"""Columnar valuation of positions, collateral and equity (hand calculations and QuantLib)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marginlab.exceptions import ExpiredInstrumentError, MissingMarketDataError, UnknownAssetError
from marginlab.instruments import Future, Option, Perpetual, Position, Spot
from marginlab.market import AssetMarket, ExpiryMarket, MarketSnapshot, VolSmile
from marginlab.valuation import collateral_value_usd, equity_usd, inverse_pnl_coin, inverse_pnl_usd, value_positions

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

# ------------------------------------------------------------------ inverse contracts
# Sources: Deribit Insights, "Deribit Inverse Contracts -- Calculating Profit in BTC and USD" (Cryptarbitrage,
# 2020-06-23): P&L in BTC = size_USD x (1/entry - 1/exit); R. Romano, "Trading bitcoin inverse futures contracts"
# (Medium, 2019-06-13, https://romanornr.medium.com/trading-bitcoin-inverse-futures-contracts-dbdccae9eddd):
# short 16,000 USD at 8,000 closed at 10,000 -> (1/10000 - 1/8000) x 16000 = -0.4 BTC.
INVERSE_PERP = Perpetual("BTC", settlement="BTC")


def _btc_market(index_usd: float) -> MarketSnapshot:
    return MarketSnapshot.from_dict({"as_of": "2025-01-15T08:00:00Z", "assets": {"BTC": {"index_usd": index_usd}}})


def test_inverse_pnl_published_examples() -> None:
    # Romano: short 16,000 USD at 8,000, exit 10,000: (1/8000 - 1/10000) x (-16000) = -0.4 BTC
    assert float(inverse_pnl_coin(-16_000.0, 8_000.0, 10_000.0)) == pytest.approx(-0.4, rel=1e-12)
    # ... and exit 5,000: -16000 x (1/8000 - 1/5000) = -16000 x (-0.000075) = +1.2 BTC
    assert float(inverse_pnl_coin(-16_000.0, 8_000.0, 5_000.0)) == pytest.approx(1.2, rel=1e-12)
    # long 100,000 USD from 50,000 to 100,000: 100000 x (1/50000 - 1/100000) = 2 - 1 = 1 BTC = 100,000 USD at exit
    assert float(inverse_pnl_coin(100_000.0, 50_000.0, 100_000.0)) == pytest.approx(1.0, rel=1e-12)
    assert float(inverse_pnl_usd(100_000.0, 50_000.0, 100_000.0)) == pytest.approx(100_000.0, rel=1e-12)


def test_valuation_of_an_inverse_perpetual() -> None:
    # 10,000 USD long entered at 80,000; index (= perpetual mark) 100,000:
    # P&L = 10000 x (1/80000 - 1/100000) = 0.125 - 0.1 = 0.025 BTC -> x 100,000 = 2,500 USD (converted at the index)
    valuation = value_positions([Position(INVERSE_PERP, 10_000.0, entry_price_usd=80_000)], _btc_market(100_000.0))
    assert valuation.value_usd[0] == pytest.approx(2_500.0, rel=1e-12)
    assert valuation.value_in("BTC", 100_000.0)[0] == pytest.approx(0.025, rel=1e-12)
    assert valuation.quantity[0] == pytest.approx(0.1)  # coin-equivalent size face / mark = 10,000 / 100,000
    assert valuation.face_usd is not None and valuation.face_usd[0] == 10_000.0
    assert bool(valuation.is_inverse[0])
    # the linear twin of the same coin size is worth 0.1 x (100,000 - 80,000) = 2,000 USD: not the same contract
    linear = value_positions([Position(Perpetual("BTC"), 0.1, entry_price_usd=80_000)], _btc_market(100_000.0))
    assert linear.value_usd[0] == pytest.approx(2_000.0)


prices = st.floats(1_000.0, 1_000_000.0, allow_nan=False)
faces = st.floats(10.0, 1e7, allow_nan=False)


@given(face=faces, entry=prices, exit_=prices, long=st.booleans())
def test_inverse_pnl_sign(face: float, entry: float, exit_: float, long: bool) -> None:
    signed = face if long else -face
    pnl = float(inverse_pnl_coin(signed, entry, exit_))
    assert np.sign(pnl) == np.sign(signed) * np.sign(exit_ - entry) or abs(pnl) < 1e-12 * face / entry


@given(face=faces, entry=prices, a=prices, b=prices)
def test_inverse_long_is_concave_and_short_convex_in_price(face: float, entry: float, a: float, b: float) -> None:
    mid = float(inverse_pnl_coin(face, entry, 0.5 * (a + b)))
    chord = 0.5 * (float(inverse_pnl_coin(face, entry, a)) + float(inverse_pnl_coin(face, entry, b)))
    tolerance = 1e-9 * face / min(a, b, entry)
    assert mid >= chord - tolerance  # long: concave
    assert -mid <= -chord + tolerance  # short: convex


@given(face=faces, entry=prices, move=st.floats(-0.2, 0.2, allow_nan=False))
def test_linear_and_inverse_agree_to_first_order(face: float, entry: float, move: float) -> None:
    # inverse coin P&L x entry = face x h / (1 + h); the linear position of face/entry coins makes face x h USD
    exit_ = entry * (1.0 + move)
    inverse_usd_at_entry = float(inverse_pnl_coin(face, entry, exit_)) * entry
    linear_usd = face / entry * (exit_ - entry)
    # difference = face h^2 / (1 + h) <= face h^2 / 0.8 for |h| <= 0.2: second order
    assert abs(inverse_usd_at_entry - linear_usd) <= face * move * move / 0.8 * (1 + 1e-9) + 1e-9 * face
