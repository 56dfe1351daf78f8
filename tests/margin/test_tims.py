"""OCC TIMS (``marginlab.margin.tims``): class, product and portfolio groups with percentage offsets, worked by hand.

The grouping follows OCC's TIMS methodology (RBH/CPM User Guide v1.13, Nov 2021; the P&L offsets of
themargininvestor.com/pl-offsets.html: 100% within a class group, a percentage of one class group's gain
against another's loss within a product group, product groups grouped in portfolio groups), the
valuation points FINRA Rule 4210(g)(2)(F) (10 equidistant points over the range). The offsets of
``tims-example`` are illustrative (majors 50%, alt coins 30%, portfolio 20%).
"""

from __future__ import annotations

import numpy as np
import pytest

from marginlab.account import Account
from marginlab.book import Book
from marginlab.exceptions import ParameterError
from marginlab.instruments import Perpetual, Position
from marginlab.margin.presets import get_model
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.margin.scenarios import ScenarioGrid
from marginlab.margin.tims import TimsModel, group_pnl
from marginlab.market import MarketSnapshot

MARKET = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000}, "ETH": {"index_usd": 4_000},
                                                                      "SOL": {"index_usd": 200}}})


def test_hand_worked_three_levels() -> None:
    """Long 1 BTC (100,000), short 25 ETH (100,000), long 500 SOL (100,000) perpetuals; valuation points m in 10 equidistant
    moves over -15%..+15%. Class P&L: BTC 100,000 m, ETH -100,000 m, SOL 100,000 m.

    Product 'crypto-majors' (BTC, ETH; 50%): m > 0: -100,000 m + 0.5 x 100,000 m = -50,000 m; m < 0: 100,000 m + 0.5 x (-100,000 m)
    = 50,000 m. So -50,000 |m|.  Product 'crypto-alts' (SOL; 30%): m < 0: 100,000 m; m > 0: 0.3 x 100,000 m = 30,000 m.
    Portfolio 'crypto' (20%): m > 0: -50,000 m + 0.2 x 30,000 m = -44,000 m -> -6,600 at +15%;
    m < 0: -50,000 |m| - 100,000 |m| = -150,000 |m| -> -22,500 at -15%.  Requirement 22,500 (IM = MM, loss factors 1).
    Without any group (each class group stands alone, in its own worst point): BTC 15,000 (-15%) + ETH 15,000 (+15%)
    + SOL 15,000 (-15%) = 45,000.
    """
    account = Account([Position(Perpetual("BTC"), 1.0), Position(Perpetual("ETH"), -25.0), Position(Perpetual("SOL"), 500.0)])
    model = get_model("tims-example")
    result = model.margin(account, MARKET)
    assert result.maintenance_margin_usd == pytest.approx(22_500.0, rel=1e-12)
    assert result.initial_margin_usd == pytest.approx(22_500.0, rel=1e-12)
    table = result.scenarios
    top = table.iloc[-1]  # +15%
    assert top["product crypto-majors pnl_usd"] == pytest.approx(-7_500.0) and top["product crypto-alts pnl_usd"] == pytest.approx(4_500.0)
    assert top["portfolio crypto pnl_usd"] == pytest.approx(-6_600.0)
    assert table.iloc[0]["portfolio crypto pnl_usd"] == pytest.approx(-22_500.0)
    assert len(table) == 10 and np.allclose(np.diff(table["spot_shock"]), 0.3 / 9)
    plain = TimsModel(model.engine, preset_name="no-groups")
    assert plain.margin(account, MARKET).maintenance_margin_usd == pytest.approx(45_000.0, rel=1e-12)


def test_group_pnl_and_validation() -> None:
    pnl = np.array([[[-100.0, 40.0], [60.0, -10.0]]])
    assert group_pnl(pnl, np.array([0, 0]), 1, np.array([0.5])).tolist() == [[[-70.0, 10.0]]]
    assert group_pnl(pnl, np.array([0, 1]), 2, np.array([1.0, 1.0])).tolist() == pnl.tolist()
    engine = RiskMatrixModel(ScenarioGrid.regular(0.15, 10, ("none",)))
    with pytest.raises(ParameterError, match="product_offsets"):
        TimsModel(engine, product_offsets={"x": 1.5})
    with pytest.raises(ParameterError, match="product_of_class"):
        TimsModel(engine, product_of_class={"BTC": "majors"})


def test_book_is_the_one_account_case() -> None:
    accounts = [Account([Position(Perpetual("BTC"), 1.0), Position(Perpetual("ETH"), -25.0)], account_id="a"),
                Account([Position(Perpetual("SOL"), -300.0), Position(Perpetual("ETH"), 10.0)], account_id="b"),
                Account([Position(Perpetual("BTC"), -2.0)], account_id="c")]
    model = get_model("tims-example")
    totals = model.margin_book(Book.from_accounts(accounts, MARKET))
    for k, account in enumerate(accounts):
        assert totals.maintenance_margin_usd[k] == pytest.approx(model.margin(account, MARKET).maintenance_margin_usd, rel=1e-12)
    assert "crypto loss" in totals.components
