"""Tests of the inter-underlying credits of the calibrated portfolio model (marginlab.margin.calibrated) and of the
FHS model's joint netting across underlyings."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.account import Account
from marginlab.exceptions import InputError
from marginlab.instruments import Perpetual, Position
from marginlab.margin.calibrated import PerUnderlyingPortfolioMargin, calibrated_portfolio, span_spreads
from marginlab.market import MarketSnapshot
from marginlab.parameters import OffsetParameters, PairOffset, ParameterSet, example_parameters

MARKET = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {
    "BTC": {"index_usd": 100_000.0}, "ETH": {"index_usd": 4_000.0}, "SOL": {"index_usd": 200.0}}})


def _params(rate: float | None = 0.40) -> ParameterSet:
    """BTC (example: MM 6%, IM 8.5%, scan 12%), ETH (MM 10%, IM 12%), SOL (MM 12%, IM 15%); extreme moves 30% at 35%
    cover = 10.5% < the 12% scan range, so a lone perpetual costs exactly its rate x notional."""
    base = example_parameters()
    btc = base.asset("BTC")
    eth = replace(btc, asset="ETH", maintenance_rate=0.10, initial_rate=0.12)
    sol = replace(btc, asset="SOL", maintenance_rate=0.12, initial_rate=0.15)
    offsets = None
    if rate is not None:
        offsets = OffsetParameters("hand", {}, (PairOffset("BTC", "ETH", rate), PairOffset("BTC", "SOL", rate / 2), PairOffset("ETH", "SOL", rate / 4)))
    return replace(base, assets={"BTC": btc, "ETH": eth, "SOL": sol}, offsets=offsets)


def _account(btc: float = 0.0, eth: float = 0.0, sol: float = 0.0) -> Account:
    positions = [Position(Perpetual(a), q) for a, q in (("BTC", btc), ("ETH", eth), ("SOL", sol)) if q != 0]
    return Account(positions, cash_usd=50_000.0)


def test_hand_worked_two_leg_credit():
    # long 1 BTC (notional 100,000), short 20 ETH (notional 80,000), BTC/ETH rate 40%
    # MM legs: 6% x 100,000 = 6,000 (worst: a fall -> long leg), 10% x 80,000 = 8,000 (worst: a rise -> short leg)
    #   spreads = min(6,000, 8,000) = 6,000 scan-risk units; credit = 0.40 x 6,000 + 0.40 x 6,000 = 4,800
    #   MM = 6,000 + 8,000 - 4,800 = 9,200
    # IM legs: 8.5% x 100,000 = 8,500, 12% x 80,000 = 9,600; credit = 0.40 x 8,500 x 2 = 6,800; IM = 11,300
    result = calibrated_portfolio(_params()).margin(_account(btc=1.0, eth=-20.0), MARKET)
    assert result.maintenance_margin_usd == pytest.approx(9_200.0)
    assert result.initial_margin_usd == pytest.approx(11_300.0)
    credit = result.components[result.components["component"] == "inter-underlying credit BTC/ETH"]
    assert len(credit) == 1
    assert float(credit["maintenance_margin_usd"].iloc[0]) == pytest.approx(-4_800.0)
    assert float(credit["initial_margin_usd"].iloc[0]) == pytest.approx(-6_800.0)
    # the result adds up
    assert result.components["maintenance_margin_usd"].sum() == pytest.approx(result.maintenance_margin_usd)
    assert result.components["initial_margin_usd"].sum() == pytest.approx(result.initial_margin_usd)


def test_same_direction_legs_and_no_table_get_no_credit():
    model = calibrated_portfolio(_params())
    both_long = model.margin(_account(btc=1.0, eth=20.0), MARKET)
    assert both_long.maintenance_margin_usd == pytest.approx(6_000.0 + 8_000.0)
    assert not both_long.components["component"].str.startswith("inter-underlying").any()
    no_table = calibrated_portfolio(_params(None)).margin(_account(btc=1.0, eth=-20.0), MARKET)
    assert no_table.maintenance_margin_usd == pytest.approx(14_000.0)


def test_three_legs_take_the_highest_rate_first_and_use_remaining_risk():
    # MM legs: BTC long 6,000; ETH short 10% x 40,000 = 4,000; SOL short 12% x 20,000 = 2,400
    # BTC/ETH (40%) first: 4,000 units -> credit 0.4 x 4,000 x 2 = 3,200; BTC has 2,000 left
    # BTC/SOL (20%) next: min(2,000, 2,400) = 2,000 -> credit 0.2 x 2,000 x 2 = 800; ETH/SOL: same sign, none
    result = calibrated_portfolio(_params()).margin(_account(btc=1.0, eth=-10.0, sol=-100.0), MARKET)
    assert result.maintenance_margin_usd == pytest.approx(6_000 + 4_000 + 2_400 - 3_200 - 800)
    rows = result.components.set_index("component")["maintenance_margin_usd"]
    assert rows["inter-underlying credit BTC/ETH"] == pytest.approx(-3_200.0)
    assert rows["inter-underlying credit BTC/SOL"] == pytest.approx(-800.0)


@given(st.floats(-3, 3), st.floats(-80, 80), st.floats(-2_000, 2_000),
       st.floats(0, 0.7), st.floats(0, 0.7), st.floats(0, 0.7))
@settings(max_examples=60, deadline=None)
def test_credit_never_makes_the_margin_negative_nor_below_the_largest_leg_times_one_minus_max_rate(btc, eth, sol, r1, r2, r3):
    quantities = {"BTC": btc, "ETH": eth, "SOL": sol}
    if all(abs(q) < 1e-6 for q in quantities.values()):
        return
    quantities = {a: q for a, q in quantities.items() if abs(q) >= 1e-6}
    rates = {("BTC", "ETH"): r1, ("BTC", "SOL"): r2, ("ETH", "SOL"): r3}
    params = _params(None)
    plain = calibrated_portfolio(params)
    model = replace(plain, offsets=rates)
    account = Account([Position(Perpetual(a), q) for a, q in quantities.items()], cash_usd=0.0)
    credited, uncredited = model.margin(account, MARKET), plain.margin(account, MARKET)
    legs = [plain.margin(Account([Position(Perpetual(a), q)]), MARKET) for a, q in quantities.items()]
    largest = max(leg.maintenance_margin_usd for leg in legs)
    largest_im = max(leg.initial_margin_usd for leg in legs)
    tol = 1e-9 * (1.0 + uncredited.initial_margin_usd)
    assert credited.maintenance_margin_usd >= -tol
    assert credited.maintenance_margin_usd >= largest * (1 - max(rates.values())) - tol
    assert credited.initial_margin_usd >= largest_im * (1 - max(rates.values())) - tol
    assert credited.maintenance_margin_usd <= uncredited.maintenance_margin_usd + tol
    assert credited.components["maintenance_margin_usd"].sum() == pytest.approx(credited.maintenance_margin_usd, abs=1e-6)


def test_bad_offsets_are_one_line_errors():
    model = calibrated_portfolio(_params(None))
    with pytest.raises(InputError, match="offsets"):
        PerUnderlyingPortfolioMargin(model.models, offsets={("BTC", "BTC"): 0.3})
    with pytest.raises(InputError, match=r"offsets\[BTC/ETH\]"):
        PerUnderlyingPortfolioMargin(model.models, offsets={("BTC", "ETH"): 1.3})


# ------------------------------------------------------------------------------------------ FHS: joint netting
@pytest.mark.slow
def test_fhs_model_nets_a_long_eth_short_btc_book_on_real_history():
    """The FHS model margins the joint history: its scenarios move BTC and ETH together, so a spread costs less than
    the sum of its legs without any offsets table (documented: FHS needs none)."""
    from marginlab.data import close_panel
    from marginlab.margin.correlation import correlation_credit
    from marginlab.margin.fhs import FilteredHistoricalMargin, HistoricalScenarios

    try:
        prices = close_panel(["BTC", "ETH"], "2018-01-01", "2024-12-31")
    except Exception as error:  # pragma: no cover
        pytest.skip(f"no data snapshot: {error}")
    model = FilteredHistoricalMargin(HistoricalScenarios.from_history(prices), lookback_days=1500)
    market = MarketSnapshot.from_dict({"as_of": "2025-01-01", "assets": {
        "BTC": {"index_usd": float(prices["BTC"].iloc[-1])}, "ETH": {"index_usd": float(prices["ETH"].iloc[-1])}}})
    # equal notionals: long 100,000 USD of ETH, short 100,000 USD of BTC
    book = Account([Position(Perpetual("ETH"), 100_000 / float(prices["ETH"].iloc[-1])),
                    Position(Perpetual("BTC"), -100_000 / float(prices["BTC"].iloc[-1]))])
    report = correlation_credit(book, market, model)
    assert report.joint_usd < report.sum_of_standalone_usd
    assert 0.2 < report.credit_fraction < 0.9
    assert report.joint_usd > 0
    assert isinstance(report.standalone, pd.DataFrame) and np.isfinite(report.credit_usd)


def test_span_model_can_use_the_offsets_table():
    """SPAN example A2 structure with the table's rate: BTC PSR 20%, ETH PSR 25%, no vol, +1 BTC / -25 ETH at 1:25.
    Scan risk = the full -1 x PSR (long) / +1 x PSR (short) move: BTC 1 x 100,000 x 20% = 20,000, ETH 25 x 4,000 x 25% =
    25,000 (the extreme 2 x PSR at 35% cover = 0.7 PSR is smaller). One spread formed; credit = 0.4 x (1 x 20,000 + 25 x 1,000)
    = 18,000; requirement 45,000 - 18,000 = 27,000."""
    from marginlab.account import Account
    from marginlab.instruments import Perpetual, Position
    from marginlab.margin.span import SpanModel
    from marginlab.market import MarketSnapshot

    table = OffsetParameters("hand", {}, (PairOffset("BTC", "ETH", 0.4),))
    model = SpanModel({"BTC": 0.20, "ETH": 0.25}, inter_spreads=span_spreads(table, {"BTC": 1, "ETH": 25}))
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000.0}, "ETH": {"index_usd": 4_000.0}}})
    result = model.margin(Account([Position(Perpetual("BTC"), 1.0), Position(Perpetual("ETH"), -25.0)]), market)
    assert result.maintenance_margin_usd == pytest.approx(27_000.0)
    with pytest.raises(InputError, match=r"ratios\[ETH\]"):
        span_spreads(table, {"ETH": 0})
