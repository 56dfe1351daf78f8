"""Cross margin: one pool, haircut collateral, account margin ratio and action ladder (worked example F)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.account import Account
from marginlab.collateral import DynamicHaircut, FlatHaircut
from marginlab.exceptions import EmptyPortfolioError, UnknownAssetError
from marginlab.instruments import Perpetual, Position
from marginlab.margin.cross import CrossMargin
from marginlab.margin.isolated import IsolatedMargin, SizeLinearRate
from marginlab.margin.presets import binance_unified, deribit_cross, deribit_standard, get_model
from marginlab.market import MarketSnapshot

FLAT_RULES = IsolatedMargin({"*": SizeLinearRate(0.10, 0.05)}, preset_name="flat-10-5")


def market(btc: float = 100_000.0, usdc: float = 1.0) -> MarketSnapshot:
    return MarketSnapshot.from_dict(
        {
            "as_of": "2025-01-15T08:00:00Z",
            "assets": {"BTC": {"index_usd": btc}, "ETH": {"index_usd": 3_000}, "USDC": {"index_usd": usdc}, "XRP": {"index_usd": 2.0}},
        }
    )


def long_btc(entry: float = 100_000.0) -> Position:
    return Position(Perpetual("BTC"), 10.0, entry_price_usd=entry)


def test_f_uni_mmr_with_btc_collateral_at_095() -> None:
    # F: uniMMR = sum adjusted equity / sum MM, BTC collateral rate 0.95 (3 BTC count as 2.85 BTC).
    # Rule: flat MM 5% (stated here). Long 10 BTC at entry 100k, mark 100k -> P&L 0; MM = 0.05 x 1,000,000 = 50,000.
    # Adjusted equity = 2.85 x 100,000 = 285,000 -> uniMMR = 5.7 -> free.
    model = CrossMargin(FLAT_RULES, FlatHaircut.from_collateral_ratios({"BTC": 0.95}, default_ratio=0.1))
    result = model.margin(Account((long_btc(),), collateral={"BTC": 3.0}), market())
    assert result.equity_usd == pytest.approx(285_000.0)
    assert result.maintenance_margin_usd == pytest.approx(50_000.0)
    assert result.margin_ratio == pytest.approx(5.7)
    assert result.details["action"] == "free"
    assert result.details["collateral_market_usd"] == pytest.approx(300_000.0)


def test_binance_unified_preset_by_hand() -> None:
    # binance-unified: BTC brackets (illustrative table in BINANCE_RULES): 1,000,000 notional is in the
    # 600k-3M bracket, MMR 1%, cum = 50,000 x (0.005 - 0.004) + 600,000 x (0.01 - 0.005) = 50 + 3,000 = 3,050
    # -> MM = 10,000 - 3,050 = 6,950. Collateral 3 BTC at 0.95 (F) + 10,000 USDC at 1.0 + 1,000 XRP (unlisted,
    # F: 0.1) = 285,000 + 10,000 + 200 = 295,200. uniMMR = 295,200 / 6,950.
    result = binance_unified().margin(Account((long_btc(),), collateral={"BTC": 3.0, "USDC": 10_000, "XRP": 1_000}), market())
    assert result.maintenance_margin_usd == pytest.approx(6_950.0)
    assert result.equity_usd == pytest.approx(295_200.0)
    assert result.margin_ratio == pytest.approx(295_200 / 6_950)


@pytest.mark.parametrize(
    ("cash", "ratio", "action"),
    [
        (100_000.0, 2.0, "free"),
        (70_000.0, 1.4, "reminder"),
        (55_000.0, 1.1, "reduce-only"),
        (51_000.0, 1.02, "liquidation"),
        (40_000.0, 0.8, "liquidation-loss-claim"),
    ],
)
def test_f_action_ladder_on_account(cash: float, ratio: float, action: str) -> None:
    # MM = 5% x 1,000,000 = 50,000; equity = cash (P&L 0) -> ratio = cash / 50,000
    result = CrossMargin(FLAT_RULES).margin(Account((long_btc(),), cash_usd=cash), market())
    assert result.margin_ratio == pytest.approx(ratio)
    assert result.details["action"] == action


def test_stablecoin_depeg_moves_account_down_the_ladder() -> None:
    # 58,000 USDC collateral, MM 50,000: at par 1.16 -> reduce-only;
    # at 0.877 (H, 2023-03-11) 58,000 x 0.877 = 50,866 / 50,000 = 1.01732 -> liquidation
    model = CrossMargin(FLAT_RULES, FlatHaircut({"USDC": 0.0}))
    account = Account((long_btc(),), collateral={"USDC": 58_000})
    assert model.margin(account, market()).details["action"] == "reduce-only"
    depeg = model.margin(account, market(usdc=0.877))
    assert depeg.margin_ratio == pytest.approx(50_866 / 50_000)
    assert depeg.details["action"] == "liquidation"


def test_cross_pools_pnl_and_ignores_isolated_collateral() -> None:
    # price falls to 95k: P&L 10 x (95,000 - 100,000) = -50,000; MM = 5% x 950,000 = 47,500;
    # equity = 100,000 cash - 50,000 = 50,000
    position = Position(Perpetual("BTC"), 10.0, entry_price_usd=100_000, isolated_collateral_usd=1.0)
    result = CrossMargin(FLAT_RULES).margin(Account((position,), cash_usd=100_000), market(btc=95_000))
    assert result.equity_usd == pytest.approx(50_000.0)
    assert result.maintenance_margin_usd == pytest.approx(47_500.0)
    # requirements equal the isolated engine's per-position requirements
    isolated = deribit_standard().margin(Account((position,)), market(btc=95_000))
    crossed = CrossMargin(deribit_standard()).margin(Account((position,)), market(btc=95_000))
    assert crossed.initial_margin_usd == pytest.approx(isolated.initial_margin_usd)


def test_dynamic_haircut_plugs_into_cross_margin() -> None:
    # haircut = clip(0.05 x 1.0 / 0.5, 0, 1) = 0.10 -> 3 BTC count as 270,000
    schedule = DynamicHaircut({"BTC": 0.05}, {"BTC": 0.5}, {"BTC": 1.0})
    result = CrossMargin(FLAT_RULES, schedule).margin(Account((long_btc(),), collateral={"BTC": 3.0}), market())
    assert result.equity_usd == pytest.approx(270_000.0)
    assert result.details["collateral"]["haircut"].iat[0] == pytest.approx(0.10)


def test_presets_and_errors() -> None:
    for name in ("binance-unified", "deribit-cross", "hyperliquid-cross", "dydx-cross"):
        assert get_model(name).family == "cross"
    with pytest.raises(UnknownAssetError, match="XRP"):
        deribit_cross().margin(Account((long_btc(),), collateral={"XRP": 10}), market())
    with pytest.raises(EmptyPortfolioError):
        binance_unified().margin(Account(cash_usd=10.0), market())
    assert "action" in binance_unified().margin(Account((long_btc(),), cash_usd=1e5), market()).summary()


@settings(max_examples=25, deadline=None)
@given(
    quantities=st.lists(st.floats(-20, 20).filter(lambda q: abs(q) > 1e-3), min_size=1, max_size=5),
    btc=st.floats(0.0, 10.0),
    usdc=st.floats(0.0, 1e6),
    seed=st.integers(0, 2**32 - 1),
)
def test_cross_properties(quantities: list[float], btc: float, usdc: float, seed: int) -> None:
    book = tuple(Position(Perpetual(["BTC", "ETH"][i % 2]), q) for i, q in enumerate(quantities))
    model = binance_unified()
    result = model.margin(Account(book, collateral={"BTC": btc, "USDC": usdc}), market())
    assert result.initial_margin_usd >= 0 and result.maintenance_margin_usd >= 0
    order = np.random.default_rng(seed).permutation(len(book))
    shuffled = model.margin(Account(tuple(book[i] for i in order), collateral={"USDC": usdc, "BTC": btc}), market())
    assert shuffled.maintenance_margin_usd == pytest.approx(result.maintenance_margin_usd, rel=1e-12)
    assert shuffled.equity_usd == pytest.approx(result.equity_usd, rel=1e-12)
    more = model.margin(Account(book, collateral={"BTC": btc + 1.0, "USDC": usdc}), market())
    assert more.equity_usd > result.equity_usd  # more collateral never lowers equity
