"""Isolated margin: venue presets against worked examples C1, C2, E1, E2, E3, liquidation prices, properties.

Worked examples are from ``shared/reference/worked_examples.md``; the section id is cited in
each test. Every expected number is written out by hand (or from QuantLib for an option mark).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.account import Account
from marginlab.exceptions import (
    EmptyPortfolioError,
    ExpiredInstrumentError,
    InputError,
    MissingMarketDataError,
    ParameterError,
    UnknownAssetError,
)
from marginlab.instruments import Future, Option, Perpetual, Position, Spot
from marginlab.margin.isolated import (
    EXAMPLE_BRACKETS,
    CoinOptionRule,
    IsolatedMargin,
    LiquidityTier,
    MaxLeverage,
    RiskBrackets,
    SizeLinearRate,
    liquidation_price_closed_form,
)
from marginlab.margin.presets import binance_brackets, deribit_standard, dydx, get_model, hyperliquid
from marginlab.market import AssetMarket, ExpiryMarket, MarketSnapshot, VolSmile

AS_OF = "2025-01-15T08:00:00Z"
EXPIRY = "2025-03-28T08:00:00Z"


def market(vol: float = 0.0, **prices: float) -> MarketSnapshot:
    prices = prices or {"BTC": 100_000.0, "ETH": 3_000.0, "SOL": 200.0}
    assets = {
        name: AssetMarket(price, expiries={EXPIRY: ExpiryMarket(None, VolSmile.flat(vol))}) for name, price in prices.items()
    }
    return MarketSnapshot(AS_OF, assets, 0.0)


def account(*positions: Position) -> Account:
    return Account(positions)


def perp(asset: str, quantity: float, **kwargs: float) -> Position:
    return Position(Perpetual(asset), quantity, **kwargs)


# ----------------------------------------------------------------- C1 Deribit futures
def test_c1_btc_25_at_100k() -> None:
    # C1: 25 BTC at $100,000 -> IM rate 2% + 25 x 0.005% = 2.125% -> 53,125 USDC; MM 1.125% -> 28,125
    result = deribit_standard().margin(account(perp("BTC", 25)), market())
    assert result.initial_margin_usd == pytest.approx(53_125.0, rel=1e-12)
    assert result.maintenance_margin_usd == pytest.approx(28_125.0, rel=1e-12)
    assert result.positions["initial_rate"].iat[0] == pytest.approx(0.02125)


def test_c1_sol_25_and_6000() -> None:
    # C1: SOL at $200, 25 SOL -> IM 4.0125% -> 200.625 USDC, MM 2.0125% -> 100.625 USDC
    model = deribit_standard()
    small = model.margin(account(perp("SOL", 25)), market())
    assert small.initial_margin_usd == pytest.approx(200.625, rel=1e-12)
    assert small.maintenance_margin_usd == pytest.approx(100.625, rel=1e-12)
    # C1: 6,000 SOL -> IM rate 4% + 6000 x 0.0005% = 7% -> 84,000 USDC.
    # MM (not stated in C1, by hand): 2% + 3% = 5% of 1,200,000 = 60,000.
    large = model.margin(account(perp("SOL", -6_000)), market())
    assert large.initial_margin_usd == pytest.approx(84_000.0, rel=1e-12)
    assert large.maintenance_margin_usd == pytest.approx(60_000.0, rel=1e-12)


def test_c1_eth_rate_and_future() -> None:
    # C1: ETH IM = 2% + size x 0.0004%. 100 ETH at $3,000 (a dated future, forward = index at r = 0):
    # IM = (0.02 + 100 x 0.000004) x 300,000 = 0.0204 x 300,000 = 6,120; MM = 0.0104 x 300,000 = 3,120
    position = Position(Future("ETH", EXPIRY), 100)
    result = deribit_standard().margin(account(position), market())
    assert result.initial_margin_usd == pytest.approx(6_120.0, rel=1e-12)
    assert result.maintenance_margin_usd == pytest.approx(3_120.0, rel=1e-12)


def test_deribit_default_for_other_assets_is_stated_assumption() -> None:
    # Assumption (documented in DERIBIT_RULES): other assets 4% / 2%, no size term.
    # 1,000 DOGE-like units at $2 -> notional 2,000 -> IM 80, MM 40.
    result = deribit_standard().margin(account(perp("XRP", 1_000)), market(XRP=2.0))
    assert (result.initial_margin_usd, result.maintenance_margin_usd) == pytest.approx((80.0, 40.0))


# ----------------------------------------------------------------- C2 Deribit options
@pytest.mark.parametrize(
    ("strike", "option_type", "initial", "maintenance"),
    [
        # vol 0, r 0 -> mark = intrinsic. Index S = 100,000; per option of one BTC.
        # OTM call K=110k: mark 0, OTM 10k -> IM max(0.15 - 0.1, 0.1) + 0 = 0.1 coin = 10,000; MM 0.075 -> 7,500
        (110_000.0, "call", 10_000.0, 7_500.0),
        # OTM put K=90k: IM 0.1 coin = 10,000; MM max(0.075, 0) + 0 = 7,500
        (90_000.0, "put", 10_000.0, 7_500.0),
        # far OTM call K=200k: IM max(0.15 - 1.0, 0.1) = 0.1 -> 10,000
        (200_000.0, "call", 10_000.0, 7_500.0),
        # ITM call K=90k: mark 10,000 = 0.1 coin; IM max(0.15, 0.1) + 0.1 = 0.25 -> 25,000; MM 0.175 -> 17,500
        (90_000.0, "call", 25_000.0, 17_500.0),
        # ITM put K=120k: mark 0.2 coin; MM max(0.075, 0.015) + 0.2 = 0.275; IM max(0.15 + 0.2, 0.275) = 0.35
        (120_000.0, "put", 35_000.0, 27_500.0),
        # deep ITM put K=500k: mark 4 coin; MM max(0.075, 0.3) + 4 = 4.3; IM max(0.15 + 4, 4.3) = 4.3 (MM wins)
        (500_000.0, "put", 430_000.0, 430_000.0),
    ],
)
def test_c2_short_option_formulas(strike: float, option_type: str, initial: float, maintenance: float) -> None:
    position = Position(Option("BTC", EXPIRY, strike, option_type), -2.0)  # two options: twice the per-coin amount
    result = deribit_standard().margin(account(position), market(vol=0.0))
    assert result.initial_margin_usd == pytest.approx(2 * initial, rel=1e-12)
    assert result.maintenance_margin_usd == pytest.approx(2 * maintenance, rel=1e-12)


def test_c2_with_quantlib_mark_and_long_option() -> None:
    ql = pytest.importorskip("QuantLib")
    years = 72 / 365  # 2025-01-15 -> 2025-03-28
    vol, index, strike = 0.6, 3_000.0, 3_500.0
    mark = ql.blackFormula(ql.Option.Call, strike, index, vol * math.sqrt(years), 1.0)
    # C2 short call: IM = max(0.15 - 500/3000, 0.1) + m/S = 0.1 + m/S (coin) -> x S = 300 + m; MM = 225 + m
    short = deribit_standard().margin(account(Position(Option("ETH", EXPIRY, strike, "call"), -1)), market(vol=vol))
    assert short.initial_margin_usd == pytest.approx(300.0 + mark, rel=1e-10)
    assert short.maintenance_margin_usd == pytest.approx(225.0 + mark, rel=1e-10)
    # C2 long: the premium (mark) only, for IM and MM
    long = deribit_standard().margin(account(Position(Option("ETH", EXPIRY, strike, "call"), 3)), market(vol=vol))
    assert long.initial_margin_usd == pytest.approx(3 * mark, rel=1e-10)
    assert long.maintenance_margin_usd == pytest.approx(3 * mark, rel=1e-10)


# ----------------------------------------------------------------- E1 Hyperliquid
def test_e1_hyperliquid_leverage_rule() -> None:
    # E1: IM = notional / leverage chosen; MM = half of IM at max leverage (1.25% at 40x)
    # 2 BTC at 100k = 200,000 notional at 10x -> IM 20,000; MM = 0.5 x 200,000 / 40 = 2,500
    result = hyperliquid().margin(account(perp("BTC", 2, leverage=10)), market())
    assert (result.initial_margin_usd, result.maintenance_margin_usd) == pytest.approx((20_000.0, 2_500.0))
    # no leverage chosen -> max leverage 40x: IM = 5,000
    assert hyperliquid().margin(account(perp("BTC", 2)), market()).initial_margin_usd == pytest.approx(5_000.0)
    # E1's other examples: 2.5% at 20x, 16.7% (1/6) at 3x
    assert MaxLeverage(20).maintenance_rate == pytest.approx(0.025)
    assert MaxLeverage(3).maintenance_rate == pytest.approx(1 / 6)
    # the default for unlisted assets is the 3x tier (assumption): 1,000 units at $2 -> MM 2,000/6
    other = hyperliquid().margin(account(perp("XRP", 1_000)), market(XRP=2.0))
    assert other.maintenance_margin_usd == pytest.approx(2_000.0 / 6.0)


def test_e1_leverage_above_maximum_is_rejected() -> None:
    with pytest.raises(ParameterError, match="leverage"):
        hyperliquid().margin(account(perp("BTC", 1, leverage=50)), market())


# ----------------------------------------------------------------- E2 brackets
def test_e2_cumulative_amounts_by_hand() -> None:
    # E2 table: 0-5k 1.0%; 5k-25k 2.5%; 25k-100k 5%; 100k-250k 10%; 250k-1M 12.5%; 1M-2M 50%.
    # cum_i = cum_{i-1} + floor_i (MMR_i - MMR_{i-1}):
    # 0; 5,000 x 0.015 = 75; 75 + 25,000 x 0.025 = 700; 700 + 100,000 x 0.05 = 5,700;
    # 5,700 + 250,000 x 0.025 = 11,950; 11,950 + 1,000,000 x 0.375 = 386,950
    np.testing.assert_allclose(EXAMPLE_BRACKETS.cumulative_usd, [0, 75, 700, 5_700, 11_950, 386_950])


@pytest.mark.parametrize(
    ("notional", "maintenance"),
    [
        (4_000.0, 40.0),  # 1% x 4,000
        (20_000.0, 20_000 * 0.025 - 75),  # 425
        (300_000.0, 300_000 * 0.125 - 11_950),  # 25,550
        (1_500_000.0, 1_500_000 * 0.5 - 386_950),  # 363,050
        (250_000.0, 19_300.0),  # continuity: 250k x 10% - 5,700 = 250k x 12.5% - 11,950 = 19,300
    ],
)
def test_e2_maintenance_margin(notional: float, maintenance: float) -> None:
    # E2 table as the default bracket of binance-brackets; an asset at $100 so quantity = notional / 100.
    # Maximum leverages are not in E2: we assume 50, 20, 10, 5, 4, 1 per bracket.
    result = binance_brackets().margin(account(perp("XYZ", notional / 100.0)), market(XYZ=100.0))
    assert result.maintenance_margin_usd == pytest.approx(maintenance, rel=1e-12)


def test_e2_initial_margin_uses_leverage_and_bracket_maximum() -> None:
    # 300k notional is in bracket 5 (assumed max 4x): IM = 300,000 / 4 = 75,000; chosen 2x -> 150,000
    model = binance_brackets()
    assert model.margin(account(perp("XYZ", 3_000)), market(XYZ=100.0)).initial_margin_usd == pytest.approx(75_000.0)
    assert model.margin(account(perp("XYZ", 3_000, leverage=2)), market(XYZ=100.0)).initial_margin_usd == pytest.approx(150_000.0)
    with pytest.raises(ParameterError, match="leverage"):
        model.margin(account(perp("XYZ", 3_000, leverage=10)), market(XYZ=100.0))
    with pytest.raises(InputError, match="notional_usd"):  # above the 2M cap of the table
        model.margin(account(perp("XYZ", 30_000)), market(XYZ=100.0))


# ----------------------------------------------------------------- E3 dYdX
def test_e3_dydx_tiers_without_open_interest() -> None:
    # E3 large cap: IMF 5%, MM = 60% of IM. 10 BTC at 100k = 1,000,000 -> IM 50,000, MM 30,000
    result = dydx().margin(account(perp("BTC", 10)), market())
    assert (result.initial_margin_usd, result.maintenance_margin_usd) == pytest.approx((50_000.0, 30_000.0))
    # mid cap (SOL): 10% / 50% -> 1,000 SOL at 200 = 200,000 -> IM 20,000, MM 10,000
    sol = dydx().margin(account(perp("SOL", -1_000)), market())
    assert (sol.initial_margin_usd, sol.maintenance_margin_usd) == pytest.approx((20_000.0, 10_000.0))
    # long tail (default): 20% / 50% -> 1,000 units at $2 -> IM 400, MM 200
    tail = dydx().margin(account(perp("XRP", 1_000)), market(XRP=2.0))
    assert (tail.initial_margin_usd, tail.maintenance_margin_usd) == pytest.approx((400.0, 200.0))


@pytest.mark.parametrize(
    ("open_interest", "imf"),
    [
        (10e6, 0.05),  # below the lower cap: s < 0 -> no increase
        (35e6, 0.05 + 0.5 * 0.95),  # s = (35 - 20) / (50 - 20) = 0.5 -> 0.525
        (60e6, 1.0),  # s = 4/3 -> 0.05 + 1.2667 capped at 1
    ],
)
def test_e3_open_interest_scaling(open_interest: float, imf: float) -> None:
    # E3 formula; caps 20M / 50M are our assumption for the large-cap tier (E3 gives none).
    tier = LiquidityTier(0.05, 0.60, 20e6, 50e6)
    assert tier.effective_initial_fraction(open_interest) == pytest.approx(imf)
    result = dydx({"BTC": open_interest}).margin(account(perp("BTC", 10)), market())
    assert result.initial_margin_usd == pytest.approx(imf * 1_000_000)
    assert result.maintenance_margin_usd == pytest.approx(30_000.0)  # MMF on the base IMF (assumption)


# ----------------------------------------------------------------- liquidation prices
def test_liquidation_price_closed_form_long_and_short() -> None:
    # long 25 BTC at entry 100k with 60,000 collateral, MM rate 1.125% (C1):
    # 60,000 + 25 (P - 100,000) = 25 P x 0.01125 -> P = (2,500,000 - 60,000) / (25 x 0.98875)
    model = deribit_standard()
    result = model.margin(account(perp("BTC", 25, entry_price_usd=100_000, isolated_collateral_usd=60_000)), market())
    expected_long = 2_440_000 / (25 * 0.98875)
    assert result.positions["liquidation_price_usd"].iat[0] == pytest.approx(expected_long, rel=1e-12)
    # short 6,000 SOL at 200 with 84,000 collateral, MM 5%: 84,000 - 6,000 (P - 200) = 6,000 P x 0.05
    # -> P = (1,200,000 + 84,000) / (6,000 x 1.05) = 203.8095...
    short = model.margin(account(perp("SOL", -6_000, entry_price_usd=200, isolated_collateral_usd=84_000)), market())
    assert short.positions["liquidation_price_usd"].iat[0] == pytest.approx(1_284_000 / 6_300, rel=1e-12)
    # a fully collateralised long cannot be liquidated at a positive price
    assert math.isnan(liquidation_price_closed_form(1.0, 100.0, 100.0, 0.01))


def test_liquidation_price_without_collateral_assumes_initial_margin() -> None:
    # Hyperliquid long 1 BTC at 100k, 10x: collateral assumed = IM = 10,000; MM rate 1.25%:
    # 10,000 + (P - 100,000) = 0.0125 P -> P = 90,000 / 0.9875
    result = hyperliquid().margin(account(perp("BTC", 1, leverage=10)), market())
    assert result.positions["collateral_source"].iat[0].startswith("assumed")
    assert result.positions["liquidation_price_usd"].iat[0] == pytest.approx(90_000 / 0.9875, rel=1e-12)


def test_liquidation_price_solved_across_brackets() -> None:
    # E2 brackets, long 3,000 units at entry 100 (notional 300k, bracket 5: 12.5%, cum 11,950).
    # Collateral 60,000: 60,000 + 3,000 (P - 100) = 3,000 P x 0.125 - 11,950 -> 2,625 P = 228,050
    # -> P = 86.876..., notional 260,629 is inside bracket 5: consistent.
    model = binance_brackets()
    result = model.margin(account(perp("XYZ", 3_000, entry_price_usd=100, isolated_collateral_usd=60_000)), market(XYZ=100.0))
    assert result.positions["liquidation_price_usd"].iat[0] == pytest.approx(228_050 / 2_625, rel=1e-10)
    # Collateral 80,000: bracket 5 would give P = 208,050 / 2,625 = 79.26 (notional 237,771 < 250k: not in
    # bracket 5). Bracket 4 (10%, cum 5,700): 3,000 P - 220,000 = 300 P - 5,700 -> P = 214,300 / 2,700 = 79.37
    # (notional 238,111, inside bracket 4).
    result = model.margin(account(perp("XYZ", 3_000, entry_price_usd=100, isolated_collateral_usd=80_000)), market(XYZ=100.0))
    assert result.positions["liquidation_price_usd"].iat[0] == pytest.approx(214_300 / 2_700, rel=1e-10)


def test_options_have_no_liquidation_price_and_table_columns() -> None:
    positions = (perp("BTC", 1), Position(Option("BTC", EXPIRY, 120_000, "call"), -1))
    result = deribit_standard().margin(account(*positions), market(vol=0.5))
    assert math.isnan(result.positions["liquidation_price_usd"].iat[1])
    for column in ("initial_margin_usd", "maintenance_margin_usd", "isolated_collateral_usd", "isolated_equity_usd", "liquidation_price_usd"):
        assert column in result.positions
    assert set(result.components["component"]) == {"BTC perpetual", "BTC option"}
    assert "deribit-standard" in result.summary()


def test_long_spot_is_fully_paid_and_short_spot_margined_like_a_perpetual() -> None:
    model = deribit_standard()
    assert model.margin(account(Position(Spot("BTC"), 1)), market()).initial_margin_usd == 0.0
    short = model.margin(account(Position(Spot("BTC"), -1)), market())
    # like a 1 BTC perpetual: (2% + 0.005%) x 100,000 = 2,005
    assert short.initial_margin_usd == pytest.approx(2_005.0)


# ----------------------------------------------------------------- presets and bad input
def test_presets_are_registered() -> None:
    for name in ("deribit-standard", "binance-brackets", "hyperliquid", "dydx"):
        model = get_model(name)
        assert isinstance(model, IsolatedMargin) and model.name == name


def test_bad_input_gets_clear_errors() -> None:
    btc_only = IsolatedMargin({"BTC": SizeLinearRate(0.02, 0.01)}, preset_name="btc-only")
    with pytest.raises(UnknownAssetError, match="ETH"):
        btc_only.margin(account(perp("ETH", 1)), market())
    with pytest.raises(UnknownAssetError, match="DOGE"):  # not in the market snapshot
        deribit_standard().margin(account(perp("DOGE", 1)), market())
    with pytest.raises(InputError, match="does not margin options"):
        hyperliquid().margin(account(Position(Option("BTC", EXPIRY, 100_000, "call"), -1)), market(vol=0.5))
    with pytest.raises(EmptyPortfolioError):
        deribit_standard().margin(Account(), market())
    with pytest.raises(ExpiredInstrumentError, match="expiry"):
        deribit_standard().margin(account(Position(Future("BTC", "2024-12-27"), 1)), market())
    no_vol = MarketSnapshot(AS_OF, {"BTC": AssetMarket(100_000.0)})
    with pytest.raises(MissingMarketDataError, match="vol"):
        deribit_standard().margin(account(Position(Option("BTC", EXPIRY, 100_000, "put"), -1)), no_vol)


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: SizeLinearRate(-0.01, 0.0), "initial_base"),
        (lambda: SizeLinearRate(0.01, 0.02), "maintenance_base"),
        (lambda: SizeLinearRate(float("nan"), 0.0), "initial_base"),
        (lambda: RiskBrackets((0, 100), (0.02, 0.01), (10, 5)), "maintenance_rates"),
        (lambda: RiskBrackets((10, 100), (0.01, 0.02), (10, 5)), "floors_usd"),
        (lambda: RiskBrackets((0, 100), (0.01, 0.02), (5, 10)), "max_leverages"),
        (lambda: MaxLeverage(0.5), "max_leverage"),
        (lambda: LiquidityTier(1.5, 0.5), "initial_fraction"),
        (lambda: CoinOptionRule(maintenance=-1), "maintenance"),
        (lambda: IsolatedMargin({}), "rules"),
        (lambda: IsolatedMargin({"BTC": 0.02}), "rules[BTC]"),
        (lambda: IsolatedMargin({"BTC": MaxLeverage(10)}, option_rule="deribit"), "option_rule"),
        (lambda: dydx({"BTC": -1.0}), "open_interest_usd[BTC]"),
    ],
)
def test_parameters_out_of_range(factory, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError, match=re.escape(field)):
        factory()


# ----------------------------------------------------------------- properties
PRESETS = [deribit_standard(), binance_brackets(), hyperliquid(), dydx({"BTC": 30e6})]
sizes = st.floats(min_value=0.001, max_value=15.0, allow_nan=False)
signs = st.sampled_from([1.0, -1.0])


def _book(quantities: list[float], kinds: list[int]) -> list[Position]:
    instruments = [Perpetual("BTC"), Perpetual("ETH"), Future("SOL", EXPIRY), Perpetual("BTC")]
    return [Position(instruments[k], q) for q, k in zip(quantities, kinds)]


@settings(max_examples=25, deadline=None)
@given(
    quantities=st.lists(st.floats(-15, 15).filter(lambda q: abs(q) > 1e-3), min_size=1, max_size=6),
    kinds=st.lists(st.integers(0, 3), min_size=6, max_size=6),
    preset=st.integers(0, len(PRESETS) - 1),
    permutation_seed=st.integers(0, 2**32 - 1),
)
def test_margins_nonnegative_and_order_invariant(quantities: list[float], kinds: list[int], preset: int, permutation_seed: int) -> None:
    model = PRESETS[preset]
    book = _book(quantities, kinds)
    result = model.margin(Account(tuple(book)), market())
    assert result.initial_margin_usd >= 0 and result.maintenance_margin_usd >= 0
    assert (result.positions["initial_margin_usd"] >= 0).all()
    order = np.random.default_rng(permutation_seed).permutation(len(book))
    shuffled = model.margin(Account(tuple(book[i] for i in order)), market())
    assert shuffled.initial_margin_usd == pytest.approx(result.initial_margin_usd, rel=1e-12)
    assert shuffled.maintenance_margin_usd == pytest.approx(result.maintenance_margin_usd, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(size=sizes, extra=sizes, sign=signs, preset=st.integers(0, len(PRESETS) - 1), option=st.booleans())
def test_margin_monotone_in_size(size: float, extra: float, sign: float, preset: int, option: bool) -> None:
    model = PRESETS[preset]
    if option and preset != 0:
        option = False  # only Deribit lists options
    instrument = Option("BTC", EXPIRY, 110_000, "put") if option else Perpetual("BTC")
    small = model.margin(account(Position(instrument, sign * size)), market(vol=0.6))
    large = model.margin(account(Position(instrument, sign * (size + extra))), market(vol=0.6))
    assert small.initial_margin_usd >= small.maintenance_margin_usd >= 0
    assert large.initial_margin_usd >= small.initial_margin_usd
    assert large.maintenance_margin_usd >= small.maintenance_margin_usd


@settings(max_examples=25, deadline=None)
@given(quantities=st.lists(st.floats(-50, 50).filter(lambda q: abs(q) > 1e-3), min_size=1, max_size=5), preset=st.integers(0, 2))
def test_doubling_a_book_without_size_dependent_rate_doubles_requirement(quantities: list[float], preset: int) -> None:
    # constant-rate rules: Hyperliquid, dYdX without open interest, and a flat SizeLinearRate
    model = [hyperliquid(), dydx(), IsolatedMargin({"*": SizeLinearRate(0.05, 0.03)})][preset]
    book = tuple(Position(Perpetual(["BTC", "ETH", "SOL"][i % 3]), q) for i, q in enumerate(quantities))
    single = model.margin(Account(book), market())
    double = model.margin(Account(book).scaled(2.0), market())
    assert double.initial_margin_usd == pytest.approx(2 * single.initial_margin_usd, rel=1e-12)
    assert double.maintenance_margin_usd == pytest.approx(2 * single.maintenance_margin_usd, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    quantity=st.floats(0.01, 40.0),
    sign=signs,
    leverage_collateral=st.floats(0.01, 0.5),
    preset=st.integers(0, len(PRESETS) - 1),
)
def test_isolated_equity_equals_maintenance_at_the_liquidation_price(quantity: float, sign: float, leverage_collateral: float, preset: int) -> None:
    # invariant: revaluing the position at its liquidation price P, collateral + q (P - E) = MM(P)
    model = PRESETS[preset]
    entry = 100_000.0
    collateral = leverage_collateral * quantity * entry
    position = Position(Perpetual("BTC"), sign * quantity, entry_price_usd=entry, isolated_collateral_usd=collateral)
    try:
        result = model.margin(account(position), market())
    except InputError:  # above the bracket table's cap
        return
    price = result.positions["liquidation_price_usd"].iat[0]
    # collateral below the notional: a long is liquidated before 0, a short before the table's cap
    assert not math.isnan(price)
    at_price = model.margin(account(position), market(BTC=price))
    equity = collateral + sign * quantity * (price - entry)
    assert equity == pytest.approx(at_price.maintenance_margin_usd, rel=1e-8, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(quantity=st.floats(1.0, 5_000.0), sign=signs, collateral_fraction=st.floats(0.01, 0.9), entry=st.floats(50.0, 150.0))
def test_bracket_closed_form_agrees_with_brent(quantity: float, sign: float, collateral_fraction: float, entry: float) -> None:
    # two independent methods for the same equation: piecewise closed form vs Brent's root finder
    from marginlab.margin.isolated import liquidation_price_solved

    q = sign * quantity
    collateral = collateral_fraction * quantity * entry
    closed = EXAMPLE_BRACKETS.liquidation_prices(np.array([q]), np.array([entry]), np.array([collateral]))[0]
    solved = liquidation_price_solved(q, entry, collateral, lambda n: float(EXAMPLE_BRACKETS.maintenance_usd(np.atleast_1d(n))[0]), 2e6 / quantity)
    if math.isnan(solved):
        assert math.isnan(closed)
    else:
        assert closed == pytest.approx(solved, rel=1e-9)


def test_rows_of_one_instrument_are_one_venue_position() -> None:
    # C1: ten rows of +2.5 BTC-PERPETUAL = one 25 BTC position -> IM 53,125, MM 28,125, each row 1/10
    rows = tuple(perp("BTC", 2.5) for _ in range(10))
    result = deribit_standard().margin(Account(rows), market())
    assert result.initial_margin_usd == pytest.approx(53_125.0)
    assert result.maintenance_margin_usd == pytest.approx(28_125.0)
    np.testing.assert_allclose(result.positions["initial_margin_usd"], 5_312.5)
    # +30 and -5 SOL net to 25 SOL (C1: IM 200.625), shared 30/35 and 5/35
    mixed = deribit_standard().margin(account(perp("SOL", 30), perp("SOL", -5)), market())
    assert mixed.initial_margin_usd == pytest.approx(200.625)
    assert mixed.positions["initial_margin_usd"].iat[1] == pytest.approx(200.625 * 5 / 35)
    # E2 brackets on the net notional: 2 x 150k rows of one instrument = 300k -> MM 25,550 (not 2 x 9,300)
    brackets = binance_brackets().margin(account(perp("XYZ", 1_500), perp("XYZ", 1_500)), market(XYZ=100.0))
    assert brackets.maintenance_margin_usd == pytest.approx(300_000 * 0.125 - 11_950)


def test_rows_of_one_option_net() -> None:
    # C2 with vol 0: short 110k call = 10,000 IM per option. Rows -3 and +1 of the same option net to -2 -> 20,000;
    # rows -1 and +1 cancel -> 0.
    call = Option("BTC", EXPIRY, 110_000, "call")
    netted = deribit_standard().margin(account(Position(call, -3), Position(call, 1)), market(vol=0.0))
    assert netted.initial_margin_usd == pytest.approx(20_000.0)
    flat = deribit_standard().margin(account(Position(call, -1), Position(call, 1)), market(vol=0.0))
    assert flat.initial_margin_usd == 0.0


def test_e1_liquidation_policy_is_preset_data() -> None:
    from marginlab.margin.isolated import VenueLiquidationRule

    # E1: over $100k liquidated 20% at a time, 30 s apart; backstop below 2/3 of MM
    policy = hyperliquid().margin(account(perp("BTC", 2)), market()).details["liquidation_policy"]
    assert (policy.partial_above_usd, policy.partial_fraction, policy.partial_interval_seconds) == (100_000.0, 0.2, 30.0)
    assert policy.backstop_below_mm_fraction == pytest.approx(2 / 3)
    with pytest.raises(ParameterError, match="partial_fraction"):
        VenueLiquidationRule(partial_fraction=0.0)


def test_rows_with_their_own_collateral_are_distinct_isolated_positions() -> None:
    # C1 (BTC): rate = 2% + size x 0.005% (IM), 1% + size x 0.005% (MM), notional at 100,000.
    # Two rows of 12.5 BTC, each with its own collateral, are two isolated positions of 12.5 BTC:
    # IM = (2% + 12.5 x 0.005%) x 1,250,000 = 25,781.25 each (51,562.50), MM = 1.0625% x 1,250,000 = 13,281.25 each;
    # without their own collateral they net into one 25 BTC position: IM 53,125, MM 28,125 (C1).
    own = deribit_standard().margin(account(perp("BTC", 12.5, isolated_collateral_usd=30_000), perp("BTC", 12.5, isolated_collateral_usd=30_000)),
                                    market())
    assert own.initial_margin_usd == pytest.approx(51_562.5, rel=1e-12)
    assert own.maintenance_margin_usd == pytest.approx(26_562.5, rel=1e-12)
    assert own.positions["initial_margin_usd"].tolist() == pytest.approx([25_781.25, 25_781.25])
    pooled = deribit_standard().margin(account(perp("BTC", 12.5), perp("BTC", 12.5)), market())
    assert pooled.initial_margin_usd == pytest.approx(53_125.0, rel=1e-12)
    assert pooled.maintenance_margin_usd == pytest.approx(28_125.0, rel=1e-12)


def test_many_fills_margin_like_their_netted_position() -> None:
    # 20,000 fills of 0.00125 BTC (= 25 BTC): C1 gives IM 53,125 and MM 28,125; each fill carries 1/20,000
    fills = account(*([perp("BTC", 0.00125)] * 20_000))
    result = deribit_standard().margin(fills, market())
    assert result.initial_margin_usd == pytest.approx(53_125.0, rel=1e-9)
    assert result.maintenance_margin_usd == pytest.approx(28_125.0, rel=1e-9)
    assert result.positions["initial_margin_usd"].iloc[0] == pytest.approx(53_125.0 / 20_000, rel=1e-9)
