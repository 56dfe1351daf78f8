"""Collateral haircuts, the action ladder (worked example F) and the Aave health factor (E4)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.collateral import (
    UNIFIED_ACCOUNT_LADDER,
    ActionLadder,
    CollateralTier,
    DynamicHaircut,
    FlatHaircut,
    HaircutSchedule,
    HealthFactorRules,
    TieredHaircut,
    adjusted_collateral_usd,
    collateral_table,
    health_factor,
)
from marginlab.exceptions import InputError, MissingMarketDataError, ParameterError, UnknownAssetError
from marginlab.market import MarketSnapshot

MARKET = MarketSnapshot.from_dict(
    {
        "as_of": "2025-01-15T08:00:00Z",
        "assets": {"BTC": {"index_usd": 100_000}, "ETH": {"index_usd": 3_000}, "USDC": {"index_usd": 1.0}, "XRP": {"index_usd": 2.0}},
    }
)


def test_f_btc_collateral_rate_095_and_unlisted_01() -> None:
    # F: BTC collateral rate 0.95, so 3 BTC count as 2.85 BTC = 285,000 USD at 100k; unlisted assets 0.1:
    # 1,000 XRP at $2 = 2,000 -> 200.
    schedule = FlatHaircut.from_collateral_ratios({"BTC": 0.95}, default_ratio=0.1)
    table = collateral_table({"BTC": 3.0, "XRP": 1_000.0}, MARKET, schedule)
    assert table.set_index("asset")["adjusted_value_usd"].to_dict() == pytest.approx({"BTC": 285_000.0, "XRP": 200.0})
    assert adjusted_collateral_usd({"BTC": 3.0}, MARKET, schedule) / 100_000 == pytest.approx(2.85)


def test_stablecoin_valued_at_market_depeg_lowers_collateral() -> None:
    # H: USDC traded as low as 0.877 on 2023-03-11 -> 100,000 USDC back 87,700 USD (no haircut)
    depeg = MarketSnapshot.from_dict({"as_of": "2023-03-11", "assets": {"USDC": {"index_usd": 0.877}}})
    assert adjusted_collateral_usd({"USDC": 100_000.0}, depeg, FlatHaircut({"USDC": 0.0})) == pytest.approx(87_700.0)
    # USD cash counts at 1 without a price
    assert adjusted_collateral_usd({"USD": 500.0}, depeg, FlatHaircut()) == 500.0


def test_tiered_haircut_by_hand() -> None:
    # Binance-style tiers: first 1M at 0.95, next 1M at 0.90, above 2M at 0.5 (illustrative values)
    schedule = TieredHaircut({"BTC": [(1e6, 0.95), (2e6, 0.90), (math.inf, 0.5)]})
    # 25 BTC = 2.5M: 950,000 + 900,000 + 500,000 x 0.5 = 2,100,000 counted -> haircut 1 - 2.1/2.5 = 0.16
    table = collateral_table({"BTC": 25.0}, MARKET, schedule)
    assert table["adjusted_value_usd"].iat[0] == pytest.approx(2_100_000.0)
    assert table["haircut"].iat[0] == pytest.approx(0.16)
    # 5 BTC = 500k, all in the first tier
    assert schedule.haircut("BTC", 5.0, MARKET) == pytest.approx(0.05)
    assert isinstance(schedule, HaircutSchedule)


def test_tiered_haircut_binance_published_example() -> None:
    # Binance FAQ "Binance Cross Margin Collateral Haircuts", Example 1 (BTC tiers by USDT value: 0-100M 100%,
    # 100-120M 97.5%, 120-150M 95%, 150-180M 90%, 180-200M 85%): 6,000 BTC at 20,000 = 120,000,000 ->
    # 100,000,000 x 100% + 20,000,000 x 97.5% = 119,500,000. The same table is the data of binance-cross-margin-tiered.
    from marginlab.margin.venues import load_venue

    tiers = load_venue("binance-cross-margin-tiered").parameters["haircuts"]["tiers"]["BTC"]
    schedule = TieredHaircut({"BTC": [tuple(t) for t in tiers]})
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 20_000}}})
    assert adjusted_collateral_usd({"BTC": 6_000.0}, market, schedule) == pytest.approx(119_500_000.0)
    # 9,000 BTC = 180M: 100M + 20M x 0.975 + 30M x 0.95 + 30M x 0.90 = 175,000,000
    assert adjusted_collateral_usd({"BTC": 9_000.0}, market, schedule) == pytest.approx(175_000_000.0)


def test_dynamic_haircut_by_hand_and_clipping() -> None:
    # haircut = clip(base x current_vol / reference_vol, floor, cap)
    schedule = DynamicHaircut({"BTC": 0.05, "ETH": 0.10}, {"BTC": 0.5, "ETH": 0.6}, {"BTC": 1.0, "ETH": 0.15}, floor=0.04, cap=0.08)
    assert schedule.haircut("BTC", 1.0, MARKET) == pytest.approx(0.08)  # 0.05 x 2 = 0.10, capped at 0.08
    assert schedule.haircut("ETH", 1.0, MARKET) == pytest.approx(0.04)  # 0.10 x 0.25 = 0.025, floored at 0.04
    fed = schedule.with_current_vol({"ETH": 0.66})
    assert fed.haircut("ETH", 1.0, MARKET) == pytest.approx(0.08)  # 0.10 x 1.1 = 0.11 -> cap
    loose = DynamicHaircut({"ETH": 0.10}, {"ETH": 0.6}, {"ETH": 0.9})
    assert loose.haircut("ETH", 1.0, MARKET) == pytest.approx(0.15)
    from_file = DynamicHaircut.from_parameters({"floor": 0.0, "cap": 1.0, "assets": {"ETH": {"base": 0.1, "reference_vol": 0.6, "current_vol": 0.9}}})
    assert from_file == loose


def test_haircut_errors() -> None:
    with pytest.raises(UnknownAssetError, match="DOGE"):
        FlatHaircut({"BTC": 0.05}).haircut("DOGE", 1.0, MARKET)
    with pytest.raises(MissingMarketDataError, match="current_vol"):
        DynamicHaircut({"BTC": 0.05}, {"BTC": 0.5}).haircut("BTC", 1.0, MARKET)
    with pytest.raises(ParameterError, match="haircuts"):
        FlatHaircut({"BTC": 1.5})
    with pytest.raises(ParameterError, match="reference_vol"):
        DynamicHaircut({"BTC": 0.05}, {"BTC": -0.5})
    with pytest.raises(ParameterError, match="floor"):
        DynamicHaircut({"BTC": 0.05}, {"BTC": 0.5}, floor=0.5, cap=0.2)
    with pytest.raises(ParameterError, match="upper"):
        TieredHaircut({"BTC": [(2e6, 0.9), (1e6, 0.95)]})
    with pytest.raises(ParameterError, match="ratio"):
        CollateralTier(1e6, 1.2)
    with pytest.raises(UnknownAssetError, match="SOL"):
        collateral_table({"SOL": 1.0}, MARKET, FlatHaircut(default=0.1))  # no price for SOL


@settings(max_examples=100, deadline=None)
@given(
    amount=st.floats(0.0, 1e4),
    base=st.floats(0.0, 1.0),
    reference=st.floats(0.05, 3.0),
    current=st.floats(0.05, 3.0),
    floor=st.floats(0.0, 0.5),
    width=st.floats(0.0, 0.5),
    ratios=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4),
)
def test_haircuts_within_unit_interval(amount: float, base: float, reference: float, current: float, floor: float, width: float, ratios: list[float]) -> None:
    dynamic = DynamicHaircut({"BTC": base}, {"BTC": reference}, {"BTC": current}, floor=floor, cap=floor + width)
    assert floor <= dynamic.haircut("BTC", amount, MARKET) <= floor + width
    tiered = TieredHaircut({"BTC": [(1e5 * (i + 1), r) for i, r in enumerate(ratios)]})
    haircut = tiered.haircut("BTC", amount, MARKET)
    assert 0.0 <= haircut <= 1.0
    value = amount * 100_000
    adjusted = collateral_table({"BTC": amount}, MARKET, tiered)["adjusted_value_usd"].iat[0]
    assert 0.0 <= adjusted <= value + 1e-9


@pytest.mark.parametrize(
    ("ratio", "action"),
    [
        (math.inf, "free"),
        (1.51, "free"),
        (1.5, "reminder"),  # boundary: assumed to belong to the riskier band (stated in ActionLadder)
        (1.3, "reminder"),
        (1.2, "reduce-only"),
        (1.1, "reduce-only"),
        (1.05, "liquidation"),
        (1.01, "liquidation"),
        (1.0, "liquidation-loss-claim"),  # F: at or below 100%
        (0.4, "liquidation-loss-claim"),
        (-0.2, "liquidation-loss-claim"),
    ],
)
def test_f_action_ladder(ratio: float, action: str) -> None:
    assert UNIFIED_ACCOUNT_LADDER.classify(ratio) == action


def test_ladder_validation() -> None:
    with pytest.raises(ParameterError, match="levels"):
        ActionLadder(((1.0, "a"), (1.5, "b")))
    with pytest.raises(InputError, match="margin_ratio"):
        UNIFIED_ACCOUNT_LADDER.classify(float("nan"))


def test_e4_health_factor_and_close_factor() -> None:
    # E4: HF = sum collateral x liquidation threshold / debt. Thresholds are assumptions (Aave v3 ETH 0.825).
    # 10 ETH at 3,000 = 30,000 x 0.825 = 24,750; debt 25,000 -> HF 0.99 (liquidatable, >= 0.95: close factor 50%)
    hf = health_factor({"ETH": 30_000.0}, {"ETH": 0.825}, 25_000.0)
    assert hf == pytest.approx(0.99)
    rules = HealthFactorRules()
    assert rules.max_repay_usd(hf, 25_000.0) == pytest.approx(12_500.0)
    # debt 27,000 -> HF 24,750 / 27,000 = 0.9167 < 0.95 -> 100% may be repaid
    hf_low = health_factor({"ETH": 30_000.0}, {"ETH": 0.825}, 27_000.0)
    assert hf_low == pytest.approx(24_750 / 27_000)
    assert rules.max_repay_usd(hf_low, 27_000.0) == pytest.approx(27_000.0)
    # bonus (assumed 5%, E4 does not state it): repaying 12,500 seizes 13,125 of collateral
    assert rules.collateral_seized_usd(12_500.0) == pytest.approx(13_125.0)
    assert rules.max_repay_usd(1.2, 10_000.0) == 0.0
    assert health_factor({"ETH": 1.0}, {"ETH": 0.8}, 0.0) == math.inf
    with pytest.raises(UnknownAssetError):
        health_factor({"WBTC": 1.0}, {"ETH": 0.8}, 1.0)
    with pytest.raises(InputError, match="debt_usd"):
        health_factor({"ETH": 1.0}, {"ETH": 0.8}, -1.0)


# ---------------------------------------------------------------- Aave v3.3 liquidation rules
# Source: Aave v3.3 LiquidationLogic.sol (github.com/aave-dao/aave-v3-origin, src/contracts/protocol/libraries/logic/
# LiquidationLogic.sol at commit 027aaed77f89f3d7453764bd94159b5693450169, read 2026-12-07):
# CLOSE_FACTOR_HF_THRESHOLD = 0.95e18 "below(inclusive) which the full amount of debt becomes liquidatable";
# MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD = 2000e8 (USD); MIN_LEFTOVER_BASE = 1000e8;
# _calculateAvailableCollateralToLiquidate caps the collateral at the user's balance and cuts the debt covered.
def test_full_close_factor_at_exactly_095() -> None:
    rules = HealthFactorRules()
    # HF exactly 0.95 is "below (inclusive)": 100% of a 25,000 debt may be repaid
    assert rules.max_repay_usd(0.95, 25_000.0, 30_000.0) == pytest.approx(25_000.0)
    # just above 0.95: 50%
    assert rules.max_repay_usd(0.9500001, 25_000.0, 30_000.0) == pytest.approx(12_500.0)
    assert rules.max_repay_usd(1.0, 25_000.0, 30_000.0) == 0.0


def test_small_positions_fully_liquidatable() -> None:
    rules = HealthFactorRules()
    # debt 1,900 < 2,000 USD at HF 0.99: close factor 100% (v3.3 MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD)
    assert rules.max_repay_usd(0.99, 1_900.0, 2_280.0) == pytest.approx(1_900.0)
    # collateral 1,999 < 2,000 with a 2,100 debt: also 100%
    assert rules.max_repay_usd(0.99, 2_100.0, 1_999.0) == pytest.approx(2_100.0)
    # both >= 2,000 at HF 0.99: 50%
    assert rules.max_repay_usd(0.99, 2_000.0, 2_400.0) == pytest.approx(1_000.0)
    # HF 0.99, debt 1,900, collateral 2,400: repay all 1,900, seize 1,900 x 1.05 = 1,995, 405 collateral left
    call = rules.liquidate(0.99, 1_900.0, 2_400.0)
    assert (call.debt_repaid_usd, call.collateral_seized_usd) == (pytest.approx(1_900.0), pytest.approx(1_995.0))
    assert call.remaining_debt_usd == pytest.approx(0.0) and call.remaining_collateral_usd == pytest.approx(405.0)
    assert call.bad_debt_usd == 0.0


def test_seizure_capped_at_collateral_balance() -> None:
    rules = HealthFactorRules(liquidation_bonus=0.05)
    # HF 0.8: debt 10,000, collateral 10,200. Full repay would seize 10,500 > 10,200, so all 10,200 is seized and the
    # debt covered is cut to 10,200 / 1.05 = 9,714.2857; 285.7143 of debt is left with no collateral: bad debt.
    call = rules.liquidate(0.8, 10_000.0, 10_200.0)
    assert call.collateral_seized_usd == pytest.approx(10_200.0)
    assert call.debt_repaid_usd == pytest.approx(10_200.0 / 1.05)
    assert call.remaining_collateral_usd == 0.0
    assert call.bad_debt_usd == pytest.approx(10_000.0 - 10_200.0 / 1.05)
    assert call.capped_at_collateral


def test_dust_rule_cuts_partial_liquidation() -> None:
    # eMode-like LT 0.95: debt 2,000, collateral 2,050, HF = 2,050 x 0.95 / 2,000 = 0.97375 -> 50% close factor.
    # Repaying 1,000 seizes 1,050 and leaves 1,000 collateral (= MIN_LEFTOVER_BASE, allowed).
    rules = HealthFactorRules()
    call = rules.liquidate(2_050 * 0.95 / 2_000, 2_000.0, 2_050.0)
    assert call.debt_repaid_usd == pytest.approx(1_000.0) and call.remaining_collateral_usd == pytest.approx(1_000.0)
    # collateral 2,040 (HF 0.969): 1,000 repaid would leave 990 < 1,000 of collateral; the most that leaves 1,000 is
    # (2,040 - 1,000) / 1.05 = 990.476
    call = rules.liquidate(2_040 * 0.95 / 2_000, 2_000.0, 2_040.0)
    assert call.debt_repaid_usd == pytest.approx(1_040.0 / 1.05)
    assert call.remaining_collateral_usd == pytest.approx(1_000.0)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.5, 1.2), st.floats(0.0, 1e6), st.floats(0.0, 1e6), st.floats(0.0, 0.2),
)
def test_liquidation_never_takes_more_than_held(health: float, debt: float, collateral: float, bonus: float) -> None:
    rules = HealthFactorRules(liquidation_bonus=bonus)
    call = rules.liquidate(health, debt, collateral)
    assert call.collateral_seized_usd <= collateral * (1 + 1e-12) + 1e-9
    assert call.debt_repaid_usd <= debt * (1 + 1e-12) + 1e-9
    # money conservation: what the liquidator pays plus its bonus is what it receives
    assert call.collateral_seized_usd == pytest.approx(call.debt_repaid_usd * (1 + bonus), rel=1e-9, abs=1e-6)
    if health >= 1.0:
        assert call.debt_repaid_usd == 0.0
