"""MarginResult and what_if (incremental margin of a proposed trade, for any model)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from marginlab.account import Account
from marginlab.collateral import FlatHaircut
from marginlab.instruments import Perpetual, Position
from marginlab.margin.base import MarginResult, what_if
from marginlab.margin.cross import CrossMargin
from marginlab.margin.isolated import IsolatedMargin, SizeLinearRate, deribit_standard
from marginlab.market import MarketSnapshot

MARKET = MarketSnapshot.from_dict(
    {"as_of": "2025-01-15T08:00:00Z", "assets": {"BTC": {"index_usd": 100_000}, "SOL": {"index_usd": 200}}}
)


def test_margin_result_ratios_by_hand() -> None:
    empty = pd.DataFrame(columns=["component", "initial_margin_usd", "maintenance_margin_usd"])
    result = MarginResult("m", 1_500.0, 1_000.0, 5_000.0, pd.DataFrame(), empty)
    assert (result.margin_ratio, result.free_margin_usd, result.excess_maintenance_usd) == (5.0, 3_500.0, 4_000.0)
    assert not result.is_liquidatable
    assert MarginResult("m", 0.0, 0.0, 1.0, pd.DataFrame(), empty).margin_ratio == math.inf
    assert list(result.to_frame()["component"]) == ["total"]


def test_what_if_isolated_size_dependent_rate() -> None:
    # Deribit C1: 10 BTC -> IM (2% + 10 x 0.005%) x 1,000,000 = 20,500; adding 15 BTC to the same
    # instrument makes one 25 BTC position -> 53,125 (C1). Increment 32,625, more than a separate
    # 15 BTC position would need (2.075% x 1,500,000 = 31,125): the size term of C1.
    account = Account((Position(Perpetual("BTC"), 10.0),), cash_usd=100_000)
    change = what_if(deribit_standard(), account, [Position(Perpetual("BTC"), 15.0)], MARKET)
    assert change.before.initial_margin_usd == pytest.approx(20_500.0)
    assert change.after.initial_margin_usd == pytest.approx(53_125.0)
    assert change.initial_margin_change_usd == pytest.approx(32_625.0)
    assert change.maintenance_margin_change_usd == pytest.approx(28_125.0 - 10_500.0)  # MM 1.05% x 1M = 10,500
    assert change.accepted  # free margin 100,000 - 53,125 >= 0
    assert "accepted" in change.summary()
    # a closing trade nets the instrument to zero: no requirement left
    closed = what_if(deribit_standard(), account, [Position(Perpetual("BTC"), -10.0)], MARKET)
    assert closed.after.initial_margin_usd == 0.0


def test_what_if_cross_and_from_an_account_without_positions() -> None:
    model = CrossMargin(IsolatedMargin({"*": SizeLinearRate(0.10, 0.05)}), FlatHaircut({"SOL": 0.2}))
    # no positions: before = 0 requirement, equity = 1,000 SOL x 200 x 0.8 = 160,000 (after the haircut)
    account = Account(collateral={"SOL": 1_000})
    change = what_if(model, account, [Position(Perpetual("BTC"), -20.0)], MARKET)
    assert change.before.initial_margin_usd == 0.0
    assert change.before.equity_usd == pytest.approx(160_000.0)
    # after: IM 10% x 2,000,000 = 200,000 > 160,000 -> rejected; MM change 100,000
    assert change.initial_margin_change_usd == pytest.approx(200_000.0)
    assert change.maintenance_margin_change_usd == pytest.approx(100_000.0)
    assert not change.accepted


def test_what_if_isolated_empty_account_equity_is_cash_and_collateral() -> None:
    change = what_if(deribit_standard(), Account(cash_usd=5_000.0, collateral={"SOL": 10}), [Position(Perpetual("SOL"), 25)], MARKET)
    assert change.before.equity_usd == pytest.approx(7_000.0)  # 5,000 + 10 x 200, no haircut
    assert change.after.initial_margin_usd == pytest.approx(200.625)  # C1: 25 SOL at 200
