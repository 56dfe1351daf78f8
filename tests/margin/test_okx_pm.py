"""OKX portfolio margin (worked example G of ``../shared/reference/worked_examples.md``; OKX, "OKX will further
adjust portfolio margin parameters", January 2025): hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from marginlab.account import Account
from marginlab.exceptions import ParameterError
from marginlab.instruments import Future, Option, Perpetual, Position, Spot
from marginlab.margin.okx_pm import OkxPortfolioMarginModel, size_multiplier
from marginlab.margin.presets import describe, get_model, okx_pm
from marginlab.market import SECONDS_PER_YEAR, MarketSnapshot
from marginlab.pricing import black76_price

MARKET = MarketSnapshot.from_dict(
    {"as_of": "2025-01-01T00:00:00Z", "rate": 0.0, "assets": {"BTC": {"index_usd": 100_000}, "SOL": {"index_usd": 200}, "PEPE": {"index_usd": 0.00002},
                                                             "ETH": {"index_usd": 4_000}}}
)


def _breakdown(result) -> dict:  # type: ignore[no-untyped-def]
    frame = result.details["breakdown"]
    return dict(zip(frame["component"], frame["usd"]))


@pytest.mark.parametrize(
    ("asset", "grid", "extreme"),
    # published: BTC/ETH +-4/8/12% and +-24%; SOL is not in the MR1 tier-2 list (others +-8/16/25%) but is in the
    # MR6 list (+-36%); XRP is in both (+-6/12/18%, +-36%); PEPE: MR1 others, MR6 list
    [("BTC", [0.04, 0.08, 0.12], 0.24), ("SOL", [0.08, 0.16, 0.25], 0.36), ("XRP", [0.06, 0.12, 0.18], 0.36), ("PEPE", [0.08, 0.16, 0.25], 0.36),
     ("NEAR", [0.08, 0.16, 0.25], 0.50)],
)
def test_g_price_grids_by_asset(asset: str, grid: list[float], extreme: float) -> None:
    engine = okx_pm().engine_for(asset)
    frame = engine.scenarios.frame()
    moves = sorted(set(np.round(frame.loc[frame["family"] == "MR1", "spot_shock"] - 1, 10)))
    assert moves == pytest.approx(sorted([-g for g in grid] + [0.0] + grid))
    assert sorted(np.round(frame.loc[frame["family"] == "MR6", "spot_shock"] - 1, 10)) == pytest.approx([-extreme, extreme])


def test_g_linear_position_mmr_hand_numbers() -> None:
    # long 1 BTC perp at 100,000: MR1 = 12% = 12,000; MR6 = 24% = 24,000; MR2 = MR3 = MR4 = MR5 = 0 (no options, no expiry);
    # MR7 = 0.0001 x 4 (100k <= 170k tier) x 100,000 = 40 -> MMR = max(24,000 + 0, 40) = 24,000; IMR = 1.3 x MMR
    result = okx_pm().margin(Account([Position(Perpetual("BTC"), 1.0)]), MARKET)
    parts = _breakdown(result)
    assert parts["BTC MR1 price grid"] == pytest.approx(12_000.0)
    assert parts["BTC MR6 extreme move"] == pytest.approx(24_000.0)
    assert parts["BTC MR4 basis"] == 0.0
    assert parts["BTC MR2 time decay"] == 0.0 and parts["BTC MR5 interest rate"] == 0.0 and parts["BTC MR3 vega term structure"] == 0.0
    assert parts["BTC MR7 minimum charge"] == pytest.approx(40.0)
    assert result.maintenance_margin_usd == pytest.approx(24_000.0)
    assert result.initial_margin_usd == pytest.approx(31_200.0)
    # SOL: short 100 SOL perps at 200 -> MR1 = 25% x 20,000 = 5,000; MR6 = 36% x 20,000 = 7,200
    sol = okx_pm().margin(Account([Position(Perpetual("SOL"), -100.0)]), MARKET)
    assert _breakdown(sol)["SOL MR1 price grid"] == pytest.approx(5_000.0)
    assert sol.maintenance_margin_usd == pytest.approx(7_200.0)


def test_g_basis_and_minimum_charge() -> None:
    # long 1 BTC future (73 days = 0.2 y, forward = index at rate 0) vs short 1 BTC perp: MR1 = MR6 = 0;
    # MR4 = 5% x 0.2 x 100,000 = 1,000; MR7 = 0.0001 x 6 (200k <= 300k) x 200,000 = 120 -> MMR = 1,000
    account = Account([Position(Future("BTC", "2025-03-15T00:00:00Z"), 1.0), Position(Perpetual("BTC"), -1.0)])
    result = okx_pm().margin(account, MARKET)
    parts = _breakdown(result)
    assert parts["BTC MR1 price grid"] == pytest.approx(0.0, abs=1e-9)
    assert parts["BTC MR4 basis"] == pytest.approx(0.05 * 73 / 365 * 100_000)
    assert parts["BTC MR7 minimum charge"] == pytest.approx(120.0)
    assert result.maintenance_margin_usd == pytest.approx(1_000.0)
    hedged = okx_pm().margin(Account([Position(Spot("BTC"), 1.0), Position(Perpetual("BTC"), -1.0)]), MARKET)
    assert hedged.maintenance_margin_usd == pytest.approx(120.0)


def _bs(forward: float, strike: float, years: float, vol: float, rate: float) -> float:
    """Black-76 call written out (discounted), for hand checks independent of the engine."""
    d1 = (math.log(forward / strike) + 0.5 * vol * vol * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    n = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    return math.exp(-rate * years) * (forward * n(d1) - strike * n(d2))


def test_mr2_time_decay_and_mr5_rate_by_hand() -> None:
    # long 1 BTC 100k call, 73 days (0.2 y), vol 50%, rate 0, forward = index: MR2 = C(0.2 y) - C(0.2 y - 1 day);
    # MR5 = worst of C(r=0) - C(r=+-1%) at unchanged forward = C(0) x (1 - exp(-0.01 x 0.2))
    market = MarketSnapshot.from_dict({"as_of": "2025-01-01T00:00:00Z", "rate": 0.0,
                                       "assets": {"BTC": {"index_usd": 100_000, "expiries": {"2025-03-15T00:00:00Z": {"atm_vol": 0.5}}}}})
    call = Option("BTC", "2025-03-15T00:00:00Z", 100_000, "call")
    result = okx_pm().margin(Account([Position(call, 1.0)]), market)
    parts = _breakdown(result)
    years = market.time_to_expiry_years(call.expiry)
    assert years == pytest.approx(0.2, rel=1e-3)
    now = _bs(100_000, 100_000, years, 0.5, 0.0)
    one_day = 86_400 / SECONDS_PER_YEAR
    assert now == pytest.approx(black76_price(100_000, 100_000, years, 0.5, 0.0, True), rel=1e-9)
    assert parts["BTC MR2 time decay"] == pytest.approx(now - _bs(100_000, 100_000, years - one_day, 0.5, 0.0), rel=1e-6)
    assert parts["BTC MR2 time decay"] > 0
    assert parts["BTC MR5 interest rate"] == pytest.approx(now * (1 - math.exp(-0.01 * years)), rel=1e-6)
    # a short call gains from decay: MR2 = 0
    assert _breakdown(okx_pm().margin(Account([Position(call, -1.0)]), market))["BTC MR2 time decay"] == 0.0


def test_mr3_vega_term_structure_by_hand() -> None:
    # calendar vega spread: long 1 call 31 days, short 1 call 122 days. m_e = (30/DTE)^0.5; MR3 = 0.05 x (|v1 m1| + |v2 m2| - |v1 m1 - v2 m2|)
    market = MarketSnapshot.from_dict({"as_of": "2025-01-01T00:00:00Z", "rate": 0.0, "assets": {"BTC": {"index_usd": 100_000, "expiries": {
        "2025-02-01T00:00:00Z": {"atm_vol": 0.5}, "2025-05-03T00:00:00Z": {"atm_vol": 0.5}}}}})
    near, far = Option("BTC", "2025-02-01T00:00:00Z", 100_000, "call"), Option("BTC", "2025-05-03T00:00:00Z", 100_000, "call")
    parts = _breakdown(okx_pm().margin(Account([Position(near, 1.0), Position(far, -1.0)]), market))

    def vega(years: float) -> float:  # Black-76 vega per 1.00 vol, rate 0: F phi(d1) sqrt(T)
        d1 = 0.5 * 0.5 * math.sqrt(years)
        return 100_000 * math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi) * math.sqrt(years)

    y1, y2 = market.time_to_expiry_years(near.expiry), market.time_to_expiry_years(far.expiry)
    w1, w2 = vega(y1) * (30 / (y1 * 365)) ** 0.5, -vega(y2) * (30 / (y2 * 365)) ** 0.5
    assert parts["BTC MR3 vega term structure"] == pytest.approx(0.05 * (abs(w1) + abs(w2) - abs(w1 + w2)), rel=1e-9)
    assert parts["BTC MR3 vega term structure"] > 0


def test_g_size_tiers() -> None:
    """G: <= 10k x1, <= 70k x2, <= 170k x4, <= 300k x6, <= 470k x8, <= 700k x10, above x12."""
    assert [size_multiplier(s) for s in (5e3, 1e4, 5e4, 1.7e5, 2e5, 4e5, 7e5, 7.1e5)] == [1, 1, 2, 4, 6, 8, 10, 12]
    assert math.isinf(okx_pm().size_tiers[-1][0])


def test_multi_asset_sum_errors_and_describe() -> None:
    account = Account([Position(Perpetual("BTC"), 1.0), Position(Perpetual("SOL"), -100.0)])
    assert okx_pm().margin(account, MARKET).maintenance_margin_usd == pytest.approx(24_000.0 + 7_200.0)
    with pytest.raises(ParameterError, match="extreme_moves"):
        OkxPortfolioMarginModel(extreme_moves={"BTC": 1.5})
    assert get_model("okx-pm").name == "okx-pm"
    text = describe("okx-pm")
    assert "time" in text and "rate" in text and "assumed" in text and "MR3" in text
