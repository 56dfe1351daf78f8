"""SPAN on the risk-matrix engine: worked examples A1, A2 and B1 of ``../shared/reference/worked_examples.md``."""

from __future__ import annotations

import numpy as np
import pytest

from marginlab.account import Account
from marginlab.exceptions import InputError, ParameterError
from marginlab.instruments import Future, Option, Position
from marginlab.margin.presets import get_model
from marginlab.margin.span import CalendarSpreadTable, InterCommoditySpread, SpanModel, span_grid
from marginlab.market import MarketSnapshot

A1_TABLE = CalendarSpreadTable({"M2": 500, "M3": 500, "M4": 750}, {("M2", "M3"): 200, ("M2", "M4"): 50, ("M3", "M4"): 0})


def test_a1_intra_commodity_calendar_spreads() -> None:
    """A1: spread margin = |outright 1 - outright 2| + intra charge -> $200, $300, $250."""
    assert A1_TABLE.spread_margin("M2", "M3") == 200.0
    assert A1_TABLE.spread_margin("M2", "M4") == 300.0
    assert A1_TABLE.spread_margin("M3", "M4") == 250.0
    with pytest.raises(InputError, match="M9"):
        A1_TABLE.spread_margin("M2", "M9")


def test_a2_inter_commodity_credit() -> None:
    """A2: corn/soybeans 2:1 at 55%; outright 2 x 1,750 + 2,500 = 6,000; credit 3,300; requirement $2,700."""
    spread = InterCommoditySpread("corn", "soybeans", 2, 1, 0.55)
    outright = {"corn": 1_750.0, "soybeans": 2_500.0}
    quantity = {"corn": 2, "soybeans": -1}  # the spread legs
    total = sum(abs(q) * outright[c] for c, q in quantity.items())
    assert total == 6_000.0
    credit = spread.credit_usd(outright, quantity)
    assert credit == pytest.approx(3_300.0)
    assert total - credit == pytest.approx(2_700.0)
    assert spread.credit_usd(outright, {"corn": 2, "soybeans": 1}) == 0.0  # same direction: no spread
    with pytest.raises(ParameterError):
        InterCommoditySpread("a", "b", 1, 1, 1.5)


def test_b1_risk_array_of_one_long_future() -> None:
    """B1: one long S&P-like future, PSR 10,000 -> the published 16-point risk array (35% x 2 x PSR at the extremes)."""
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"SPX": {"index_usd": 100_000}}})
    future = Future("SPX", "2025-03-21")
    model = SpanModel({"SPX": 0.10}, vol_scan_range=0.05, extreme_multiple=2.0)  # PSR = 10% x 100,000 = 10,000
    account = Account([Position(future, 1.0)])
    forward = market.forward_usd("SPX", future.expiry)
    assert forward == 100_000
    array = model.risk_array(account, market)["pnl_usd"].to_numpy()
    published = [0, 0, 3330, 3330, -3330, -3330, 6670, 6670, -6670, -6670, 10000, 10000, -10000, -10000, 7000, -7000]
    np.testing.assert_allclose(array, published, atol=1e-6)
    result = model.margin(account, market)
    assert result.maintenance_margin_usd == pytest.approx(10_000.0)  # worst scan loss


def test_span_grid_table_b() -> None:
    grid = span_grid(extreme_multiple=3.0)
    assert grid.vol_shock[:4] == ("up", "down", "up", "down")
    assert grid.spot_shock[14:] == (4.0, -2.0)
    assert grid.dampening[14:] == (0.35, 0.35)
    with pytest.raises(ParameterError):
        span_grid(extreme_multiple=-1.0)


def test_calendar_spread_inside_span_and_short_option_minimum() -> None:
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000, "expiries": {"2025-03-28": {"atm_vol": 0.5}}}}})
    table = CalendarSpreadTable({"2025-03-28": 1000.0, "2025-06-27": 1200.0}, {("2025-03-28", "2025-06-27"): 150.0})
    model = SpanModel({"BTC": 0.2}, vol_scan_range=0.1, calendar_spreads={"BTC": table}, short_option_minimum_usd={"BTC": 500.0})
    # long March / short June, both at forward = index (rate 0): scan risk 0, calendar charge 150
    account = Account([Position(Future("BTC", "2025-03-28"), 1.0), Position(Future("BTC", "2025-06-27"), -1.0)])
    assert model.margin(account, market).maintenance_margin_usd == pytest.approx(150.0)
    # a far OTM short put whose scan loss is below 3 x 500: the short option minimum wins
    far = Account([Position(Option("BTC", "2025-03-28", 10_000, "put"), -3.0)])
    assert model.margin(far, market).maintenance_margin_usd == pytest.approx(1_500.0)
    with pytest.raises(InputError, match="ETH"):
        SpanModel({"ETH": 0.2}).margin(account, market)


def test_span_preset() -> None:
    assert get_model("span-example").name == "span-example"


def test_span_labels_in_price_scan_range_units() -> None:
    """Labels state moves in PSR / VSR units (a -1 x PSR move is not 'spot -100%')."""
    grid = span_grid(extreme_multiple=3.0, extreme_cover=0.30)
    assert grid.label(0) == "#1 price 0 x PSR, vol +1 x VSR"
    assert grid.label(9) == "#10 price -2/3 x PSR, vol -1 x VSR"
    assert grid.label(15) == "#16 price -3 x PSR, vol 0, 30% cover"
