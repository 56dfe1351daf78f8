"""Pre-trade table (``marginlab.margin.pretrade``): the same numbers as the full risk-matrix model, and what_if near the threshold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.account import Account
from marginlab.exceptions import InputError, ParameterError
from marginlab.instruments import Future, Option, Perpetual, Position
from marginlab.margin.base import what_if as full_what_if
from marginlab.margin.presets import get_model
from marginlab.margin.pretrade import PretradeTable, what_if
from marginlab.market import MarketSnapshot

MARKET = MarketSnapshot.from_dict({"as_of": "2025-01-15T08:00:00Z", "assets": {
    "BTC": {"index_usd": 100_000, "expiries": {"2025-02-28": {"atm_vol": 0.6}, "2025-03-28": {"atm_vol": 0.55}}},
    "ETH": {"index_usd": 4_000, "expiries": {"2025-03-28": {"atm_vol": 0.7}}}}})
UNIVERSE = [Perpetual("BTC"), Perpetual("ETH"), Future("BTC", "2025-03-28"), Option("BTC", "2025-02-28", 100_000, "call"),
            Option("BTC", "2025-03-28", 90_000, "put"), Option("BTC", "2025-03-28", 110_000, "call"), Option("ETH", "2025-03-28", 4_000, "put")]
ACCOUNT = Account((Position(UNIVERSE[3], -3.0), Position(UNIVERSE[4], 2.0), Position(UNIVERSE[0], 1.0), Position(UNIVERSE[6], -20.0)),
                  cash_usd=300_000.0)


@pytest.mark.parametrize("name", ["deribit-pm", "deribit-pm-legacy", "deribit-pm-c3"])
@settings(max_examples=15, deadline=None)
@given(pick=st.integers(0, len(UNIVERSE) - 1), size=st.floats(-8.0, 8.0).filter(lambda q: abs(q) > 1e-3))
def test_table_equals_the_full_model(name: str, pick: int, size: float) -> None:
    # the risk-matrix P&L is linear in the quantities at fixed scenarios: the table is exact for these presets
    model = get_model(name)
    table = PretradeTable.build(model, ACCOUNT, MARKET, UNIVERSE)
    check = table.check([(UNIVERSE[pick], size)])
    full = model.margin(ACCOUNT.with_positions([Position(UNIVERSE[pick], size)]), MARKET)
    assert check.initial_margin_usd == pytest.approx(full.initial_margin_usd, rel=1e-9, abs=1e-6)
    assert check.maintenance_margin_usd == pytest.approx(full.maintenance_margin_usd, rel=1e-9, abs=1e-6)
    assert check.equity_usd == pytest.approx(full.equity_usd, rel=1e-9, abs=1e-6)


def test_check_many_and_errors() -> None:
    model = get_model("deribit-pm")
    table = PretradeTable.build(model, ACCOUNT, MARKET, UNIVERSE)
    rows = np.array([table.row_of[i.symbol] for i in UNIVERSE])
    sizes = np.linspace(-3.0, 3.0, len(UNIVERSE))
    many = table.check_many(rows, sizes)
    assert many == pytest.approx([table.check([(i, q)]).initial_margin_usd for i, q in zip(UNIVERSE, sizes)], rel=1e-12)
    with pytest.raises(InputError, match="not in the pre-trade table"):
        table.check([(Perpetual("SOL"), 1.0)])
    with pytest.raises(ParameterError, match="risk-matrix"):
        PretradeTable.build(get_model("deribit-standard"), ACCOUNT, MARKET)  # type: ignore[arg-type]


def test_what_if_uses_the_full_model_near_the_threshold() -> None:
    model = get_model("deribit-pm")
    far = what_if(model, ACCOUNT, [Position(UNIVERSE[0], 0.5)], MARKET)
    assert far.after.details.get("approximate") is True
    reference = full_what_if(model, ACCOUNT, [Position(UNIVERSE[0], 0.5)], MARKET)
    assert far.after.initial_margin_usd == pytest.approx(reference.after.initial_margin_usd, rel=1e-9)
    assert far.accepted == reference.accepted
    # size the trade so that the free margin after it is about zero: the full model decides
    table = PretradeTable.build(model, ACCOUNT, MARKET, UNIVERSE)
    sizes = np.linspace(0.0, 40.0, 4001)
    free = np.array([table.check([(UNIVERSE[0], q)]).free_margin_usd for q in sizes])
    q0 = float(sizes[np.argmin(np.abs(free))])
    near = what_if(model, ACCOUNT, [Position(UNIVERSE[0], q0)], MARKET, table=table)
    assert near.after.details.get("approximate") is None  # the full model's result
    # a model with features the table leaves out (Derive's static discount, skew) always goes to the full model
    derive = get_model("derive-pmrm-v2")
    assert what_if(derive, ACCOUNT, [Position(UNIVERSE[0], 0.5)], MARKET).after.details.get("approximate") is None
