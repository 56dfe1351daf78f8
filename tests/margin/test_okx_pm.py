"""OKX portfolio margin (worked example G of ``../shared/reference/worked_examples.md``): hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from marginlab.account import Account
from marginlab.exceptions import ParameterError
from marginlab.instruments import Future, Perpetual, Position, Spot
from marginlab.margin.okx_pm import OkxPortfolioMarginModel, okx_pm, size_multiplier
from marginlab.margin.presets import get_model
from marginlab.market import MarketSnapshot

MARKET = MarketSnapshot.from_dict(
    {"as_of": "2025-01-01T00:00:00Z", "rate": 0.0, "assets": {"BTC": {"index_usd": 100_000}, "SOL": {"index_usd": 200}, "PEPE": {"index_usd": 0.00002},
                                                             "ETH": {"index_usd": 4_000}}}
)


def _breakdown(result) -> dict:  # type: ignore[no-untyped-def]
    frame = result.details["breakdown"]
    return dict(zip(frame["component"], frame["usd"]))


def test_g_price_grids_by_asset_class() -> None:
    """G: MR1 grids BTC/ETH +-0/4/8/12%, tier-2 +-0/6/12/18%, others +-0/8/16/25%; MR6 +-24/36/50%."""
    model = okx_pm()
    for asset, grid, extreme in (("BTC", [0.04, 0.08, 0.12], 0.24), ("SOL", [0.06, 0.12, 0.18], 0.36), ("PEPE", [0.08, 0.16, 0.25], 0.50)):
        engine = model.engine_for(model.asset_class(asset))
        frame = engine.scenarios.frame()
        moves = sorted(np.round(frame.loc[frame["family"] == "MR1", "spot_shock"] - 1, 10))
        assert moves == pytest.approx(sorted([-g for g in grid] + [0.0] + grid))
        assert sorted(np.round(frame.loc[frame["family"] == "MR6", "spot_shock"] - 1, 10)) == pytest.approx([-extreme, extreme])


def test_g_linear_position_mmr_hand_numbers() -> None:
    # long 1 BTC perp at 100,000: MR1 = 12% = 12,000; MR6 = 24% = 24,000; MR4 = 0 (no expiry);
    # MR7 = 0.0001 x 4 (100k <= 170k tier) x 100,000 = 40 -> MMR = max(24,000 + 0, 40) = 24,000; IMR = 1.3 x MMR
    result = okx_pm().margin(Account([Position(Perpetual("BTC"), 1.0)]), MARKET)
    parts = _breakdown(result)
    assert parts["BTC MR1 price grid"] == pytest.approx(12_000.0)
    assert parts["BTC MR6 extreme move"] == pytest.approx(24_000.0)
    assert parts["BTC MR4 basis"] == 0.0
    assert parts["BTC MR7 minimum charge"] == pytest.approx(40.0)
    assert result.maintenance_margin_usd == pytest.approx(24_000.0)
    assert result.initial_margin_usd == pytest.approx(31_200.0)
    # SOL (tier 2): short 100 SOL perps at 200 -> MR6 = 36% x 20,000 = 7,200
    sol = okx_pm().margin(Account([Position(Perpetual("SOL"), -100.0)]), MARKET)
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
    # spot hedged by a perp: only MR7 remains = 0.0001 x 6 x 200,000 = 120
    hedged = okx_pm().margin(Account([Position(Spot("BTC"), 1.0), Position(Perpetual("BTC"), -1.0)]), MARKET)
    assert hedged.maintenance_margin_usd == pytest.approx(120.0)


def test_g_size_tiers() -> None:
    """G: <= 10k x1, <= 70k x2, <= 170k x4, <= 300k x6, <= 470k x8, <= 700k x10, above x12."""
    assert [size_multiplier(s) for s in (5e3, 1e4, 5e4, 1.7e5, 2e5, 4e5, 7e5, 7.1e5)] == [1, 1, 2, 4, 6, 8, 10, 12]
    assert math.isinf(OkxPortfolioMarginModel().size_tiers[-1][0])


def test_multi_asset_sum_and_errors() -> None:
    account = Account([Position(Perpetual("BTC"), 1.0), Position(Perpetual("SOL"), -100.0)])
    assert okx_pm().margin(account, MARKET).maintenance_margin_usd == pytest.approx(24_000.0 + 7_200.0)
    with pytest.raises(ParameterError, match="asset_classes"):
        OkxPortfolioMarginModel(asset_classes={"BTC": "gold"})
    assert get_model("okx-pm").name == "okx-pm"
