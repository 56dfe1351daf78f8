"""The derive-pmrm-v2 preset on ordinary accounts: hand calculations with the default parameters."""

from __future__ import annotations

import numpy as np
import pytest

from marginlab.account import Account
from marginlab.book import Book
from marginlab.instruments import Perpetual, Position
from marginlab.margin.derive import DEFAULT_PARAMETERS
from marginlab.margin.presets import get_model
from marginlab.market import MarketSnapshot

MARKET = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000}, "USDC": {"index_usd": 0.95}}})


def test_perpetual_account_hand_calculation() -> None:
    # 2 long BTC perps at 100,000. Worst scenario: -18% -> loss 36,000 (tails: 0.66 x 0.6/11 = 3.6%, 0.33 x 1.2/11 = 3.6% of 200,000)
    # MM = 0.8 x 36,000 + 1.5% x 200,000 = 31,800; IM = 1.0 x 36,000 + 1.5% x 200,000 + 0.5% x 200,000 = 40,000
    result = get_model("derive-pmrm-v2").margin(Account([Position(Perpetual("BTC"), 2.0)], cash_usd=100_000), MARKET)
    assert result.maintenance_margin_usd == pytest.approx(31_800.0, rel=1e-12)
    assert result.initial_margin_usd == pytest.approx(40_000.0, rel=1e-12)
    assert result.details["worst_scenario"] == "spot -18.0%, vol up"
    assert result.free_margin_usd == pytest.approx(60_000.0)
    # tail dampening: the -66% scenario counts 0.66 x 0.6/11 of the notional
    tail = result.scenarios[result.scenarios["family"] == "tail"].iloc[0]
    assert tail["pnl_usd"] == pytest.approx(-0.66 * 200_000 * 0.6 / 11, rel=1e-9)


def test_depeg_add_on_raises_im_only() -> None:
    # stable coin at 0.95 < 0.98: IM factor = 1 + (0.98 - 0.95) x 2 = 1.06 -> IM = 1.06 x 36,000 + 4,000
    model = get_model("derive-pmrm-v2")
    book = Book.from_accounts([Account([Position(Perpetual("BTC"), 2.0)])], MARKET, stable_asset="USDC")
    result = model.margin_book(book)
    assert result.initial_margin_usd[0] == pytest.approx(1.06 * 36_000 + 4_000, rel=1e-12)
    assert result.maintenance_margin_usd[0] == pytest.approx(31_800.0, rel=1e-12)


def test_default_scenarios_are_the_vectors_base_case() -> None:
    scenarios = DEFAULT_PARAMETERS["Scenarios"]
    assert len(scenarios) == 31
    assert [s["VolShockDirection"] for s in scenarios[-2:]] == ["LINEAR", "ABS"]
    assert np.isclose(scenarios[23]["DampeningFactor"], 0.054545454545454536)
