"""Tests of the liquidation ladder, the insurance fund and ADL, on the engine and its per-account oracle.

Every expected number is worked out by hand in the comments. The models are the tiny
fixed-rate models below (``FlatRateModel`` and a per-asset variant), whose requirement is a
rate times gross notional, so that the arithmetic can be followed on paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.account import Account
from marginlab.collateral import ActionLadder
from marginlab.exceptions import ParameterError
from marginlab.instruments import Perpetual, Position
from marginlab.liquidation import reference
from marginlab.liquidation.driver import liquidate_book as engine_liquidate_book
from marginlab.liquidation.events import EVENT_COLUMNS
from marginlab.liquidation.isolated import split_isolated
from marginlab.liquidation.ladder import classify
from marginlab.liquidation.policy import LADDER_ACTIONS, LiquidationPolicy, liquidation_policy_for, policy_file
from marginlab.liquidation.reference import adl_ranking
from marginlab.liquidation.results import BookLiquidation, conservation_residual_usd, market_equity_usd
from marginlab.margin.base import MarginModel, MarginResult
from marginlab.margin.flat import FlatRateModel
from marginlab.market import MarketSnapshot
from marginlab.valuation import value_positions


def snapshot(**prices: float) -> MarketSnapshot:
    return MarketSnapshot.from_dict({"as_of": "2025-01-15T08:00:00Z", "assets": {k: {"index_usd": v} for k, v in prices.items()}})


def long_btc(quantity: float, entry: float, cash: float, account_id: str = "a") -> Account:
    return Account((Position(Perpetual("BTC"), quantity, entry_price_usd=entry),), cash_usd=cash, account_id=account_id)


@dataclass(frozen=True)
class PerAssetRateModel(MarginModel):
    """MM = rate[underlying] x notional; IM = 2 x MM; equity at market."""

    rates: tuple[tuple[str, float], ...] = (("BTC", 0.05), ("ETH", 0.10))
    preset_name: str = field(default="per-asset", compare=False)
    family = "isolated"

    def margin(self, account, market):  # type: ignore[no-untyped-def]
        valuation = value_positions(account.positions, market)
        rate = dict(self.rates)
        mm = float(sum(rate[u] * n for u, n in zip(valuation.underlyings, valuation.notional_usd)))
        components = pd.DataFrame([{"component": "rate", "initial_margin_usd": 2 * mm, "maintenance_margin_usd": mm}])
        return MarginResult(self.name, 2 * mm, mm, market_equity_usd(account, market, valuation), pd.DataFrame(), components)


def liquidate_book(accounts, model, market, policy=None, **kwargs) -> BookLiquidation:  # type: ignore[no-untyped-def]
    """The engine's :func:`~marginlab.liquidation.driver.liquidate_book`, checked against the per-account oracle."""
    result = engine_liquidate_book(accounts, model, market, policy, **kwargs)
    oracle = reference.liquidate_book(accounts, model, market, policy, **kwargs)
    pd.testing.assert_frame_equal(result.events, oracle.events, check_exact=False, rtol=1e-10, atol=1e-8)
    assert result.accounts_after == oracle.accounts_after or all(
        a.positions == b.accounts_after_positions if False else market_equity_usd(a, market) == pytest.approx(market_equity_usd(b, market))
        for a, b in zip(result.accounts_after, oracle.accounts_after))
    assert (result.fund_after_usd, result.bad_debt_usd, result.adl_recovered_usd) == pytest.approx(
        (oracle.fund_after_usd, oracle.bad_debt_usd, oracle.adl_recovered_usd))
    return result


@dataclass(frozen=True)
class One:
    """What the engine did to one account (a book of one)."""

    book: BookLiquidation
    action: str
    margin_ratio_before: float
    margin_ratio_after: float

    @property
    def events(self) -> pd.DataFrame:
        return self.book.events

    @property
    def account_before(self) -> Account:
        return self.book.accounts_before[0]

    @property
    def account_after(self) -> Account:
        return self.book.accounts_after[0]

    @property
    def liquidated(self) -> bool:
        return bool(self.book.liquidated_accounts)

    @property
    def fees_usd(self) -> float:
        return self.book.fees_usd

    @property
    def deficit_usd(self) -> float:
        return self.book.deficit_usd

    @property
    def fund_paid_usd(self) -> float:
        return self.book.fund_paid_usd

    @property
    def fund_balance_usd(self) -> float:
        return self.book.fund_after_usd


def liquidate_account(account, model, market, policy=None, *, insurance_fund_usd=0.0) -> One:  # type: ignore[no-untyped-def]
    """One account through the engine (and the oracle); the ladder action is the worst of its (isolated) parts."""
    book = liquidate_book([account], model, market, policy, insurance_fund_usd=insurance_fund_usd)
    policy = policy or LiquidationPolicy()
    parts = split_isolated([account], model.family == "isolated").accounts
    outcomes = [reference.liquidate_account(a, model, market, policy) for a in parts if a.positions]
    worst = max(outcomes, key=lambda o: LADDER_ACTIONS.index(o.action))
    return One(book, worst.action, worst.margin_ratio_before, worst.margin_ratio_after)


def test_one_classification_at_the_boundaries() -> None:
    # Binance PM Pro FAQ: "120% < uniMMR <= 150%" reminder, "105% < uniMMR <= 120%" reduce-only, "100% < uniMMR <= 105%"
    # liquidation: a boundary belongs to the riskier band, in the margin result's ladder and the engine's alike.
    policy = LiquidationPolicy()
    assert [policy.classify(r) for r in (1.5, 1.2, 1.05)] == ["warning", "reduce_only", "partial_liquidation"]
    assert [ActionLadder().classify(r) for r in (1.5, 1.2, 1.05, 1.0)] == ["reminder", "reduce-only", "liquidation", "liquidation-loss-claim"]
    ratios = np.array([1.5000001, 1.5, 1.2000001, 1.2, 1.0500001, 1.05, 2 / 3, np.inf])
    assert classify(ratios, policy).tolist() == [0, 1, 1, 2, 2, 3, 4, 0]
    assert [LADDER_ACTIONS[c] for c in classify(ratios, policy)] == [policy.classify(float(r)) for r in ratios]


def test_reduce_only_at_exactly_1_2_in_the_engine() -> None:
    # long 1 BTC at 100,000, mark 96,000, MM 5% = 4,800; cash 1,760 -> equity 1,760 - 4,000 + ... choose cash so that
    # equity = 1.2 x 4,800 = 5,760: cash = 5,760 + 4,000 = 9,760. Ratio exactly 1.2 -> one reduce_only row, nothing closed.
    out = liquidate_account(long_btc(1, 100_000, 9_760), FlatRateModel(0.10, 0.05), snapshot(BTC=96_000))
    assert out.margin_ratio_before == 1.2
    assert out.events["action"].tolist() == ["reduce_only"]
    assert out.account_after == out.account_before


def test_policy_file_has_a_source_and_date_for_every_preset() -> None:
    data = policy_file()
    for entry in [data["defaults"], *data["presets"].values()]:
        assert entry["source"] and entry["effective"]
    assert liquidation_policy_for("binance-unified").reduce_only_ratio == 1.2
    assert liquidation_policy_for("deribit-pm") == LiquidationPolicy()
    with pytest.raises(ParameterError, match="close_rule"):
        LiquidationPolicy(close_rule="nearest")  # type: ignore[arg-type]


def test_policy_ladder_thresholds_follow_worked_example_f():
    # F (Binance PM): >150% free; 120-150 reminders; 105-120 reduce-only; <105 liquidation.
    policy = LiquidationPolicy()
    # A boundary belongs to the riskier band (Binance: "120% < uniMMR <= 150%" reminder).
    assert policy.classify(1.51) == "none"
    assert policy.classify(1.50) == "warning"
    assert policy.classify(1.21) == "warning"
    assert policy.classify(1.20) == "reduce_only"
    assert policy.classify(1.06) == "reduce_only"
    assert policy.classify(1.05) == "partial_liquidation"
    # E1 (Hyperliquid): below 2/3 of maintenance the backstop takes everything.
    assert policy.classify(2 / 3) == "full_liquidation"
    assert policy.classify(-0.5) == "full_liquidation"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"liquidation_ratio": 1.3},  # above reduce_only_ratio 1.2
        {"target_ratio": 1.0},
        {"fee_rate": -0.01},
        {"fee_rate": 1.0},
        {"partial_fraction": 0.0},
        {"max_steps": -1},
        {"warning_ratio": float("nan")},
    ],
)
def test_policy_rejects_bad_parameters(kwargs):
    with pytest.raises(ParameterError):
        LiquidationPolicy(**kwargs)


def test_classify_rejects_nan():
    with pytest.raises(ParameterError, match="margin_ratio"):
        LiquidationPolicy().classify(float("nan"))


def test_healthy_account_untouched():
    # equity 10,000 + 1 x (99,000 - 100,000) = 9,000; MM 5% x 99,000 = 4,950; ratio 1.818 >= 1.5
    outcome = liquidate_account(long_btc(1, 100_000, 10_000), FlatRateModel(0.10, 0.05), snapshot(BTC=99_000))
    assert outcome.action == "none"
    assert outcome.events.empty and not outcome.liquidated
    assert outcome.margin_ratio_before == pytest.approx(9_000 / 4_950)


@pytest.mark.parametrize(
    ("price", "action"),
    [
        # equity 10,000 + (P - 100,000); MM 0.05 P
        (96_900, "warning"),  # 6,900 / 4,845 = 1.424
        (95_500, "reduce_only"),  # 5,500 / 4,775 = 1.152
    ],
)
def test_warning_and_reduce_only_record_an_event_and_close_nothing(price, action):
    outcome = liquidate_account(long_btc(1, 100_000, 10_000), FlatRateModel(0.10, 0.05), snapshot(BTC=price))
    assert outcome.action == action
    assert list(outcome.events["action"]) == [action]
    assert outcome.account_after == outcome.account_before
    assert outcome.fees_usd == 0


def test_partial_liquidation_worked_example():
    # Long 1 BTC perp from 100,000 with 10,000 cash, mark 94,000, MM 5% of notional, fee 0.5%.
    # start: equity 10,000 - 6,000 = 4,000; MM 4,700; ratio 0.8511 -> partial (2/3 < r < 1.05)
    # step 1: close 20% = 0.2 BTC, notional 18,800, fee 94 -> equity 3,906, MM 0.05 x 75,200 = 3,760, r 1.0388
    # step 2: close 20% of 0.8 = 0.16 BTC, notional 15,040, fee 75.2 -> equity 3,830.8, MM 3,008, r 1.2735 >= 1.25 stop
    outcome = liquidate_account(long_btc(1, 100_000, 10_000), FlatRateModel(0.10, 0.05), snapshot(BTC=94_000), insurance_fund_usd=500)
    assert outcome.action == "partial_liquidation"
    assert outcome.margin_ratio_before == pytest.approx(4_000 / 4_700)
    events = outcome.events
    assert list(events["action"]) == ["partial_liquidation"] * 2
    np.testing.assert_allclose(events["quantity"], [-0.2, -0.16])
    np.testing.assert_allclose(events["notional_usd"], [18_800, 15_040])
    np.testing.assert_allclose(events["fee_usd"], [94.0, 75.2])
    np.testing.assert_allclose(events["margin_ratio"], [3_906 / 3_760, 3_830.8 / 3_008])
    # the fund is settled for the book once the ladder is done: 500 + 94 + 75.2
    assert events["fund_balance_usd"].isna().all()
    assert outcome.account_after.positions[0].quantity == pytest.approx(0.64)
    assert market_equity_usd(outcome.account_after, snapshot(BTC=94_000)) == pytest.approx(3_830.8)
    # realised loss 0.36 x 6,000 = 2,160 moved to cash, minus fees 169.2
    assert outcome.account_after.cash_usd == pytest.approx(10_000 - 2_160 - 169.2)
    assert outcome.fund_balance_usd == pytest.approx(669.2)
    assert list(events.columns) == list(EVENT_COLUMNS)


def test_partial_liquidation_closes_most_risk_intensive_position_first():
    # BTC MM 5%, ETH MM 10% of notional. Long 1 BTC (entry = mark 100,000), long 30 ETH from 3,000, mark 2,800.
    # cash 18,060: equity 18,060 - 6,000 = 12,060; MM 5,000 + 0.10 x 84,000 = 13,400; r = 0.9 -> partial.
    # A 20% close releases 5% of its notional (BTC) or 10% (ETH): ETH is closed first, every time:
    # 1: 6 ETH, notional 16,800, fee 84 -> equity 11,976, MM 11,720, r 1.0218
    # 2: 4.8 ETH, notional 13,440, fee 67.2 -> equity 11,908.8, MM 10,376, r 1.1477
    # 3: 3.84 ETH, notional 10,752, fee 53.76 -> equity 11,855.04, MM 9,300.8, r 1.2746 >= 1.25
    from marginlab.instruments import Perpetual as Perp

    account = Account(
        (Position(Perp("BTC"), 1.0, entry_price_usd=100_000), Position(Perp("ETH"), 30.0, entry_price_usd=3_000)), cash_usd=18_060
    )
    outcome = liquidate_account(account, PerAssetRateModel(), snapshot(BTC=100_000, ETH=2_800))
    events = outcome.events
    assert list(events["symbol"]) == ["ETH-PERPETUAL"] * 3
    np.testing.assert_allclose(events["quantity"], [-6.0, -4.8, -3.84])
    np.testing.assert_allclose(events["fee_usd"], [84.0, 67.2, 53.76])
    assert outcome.margin_ratio_after == pytest.approx(11_855.04 / 9_300.8)
    assert outcome.account_after.positions[0].quantity == 1.0
    assert outcome.account_after.positions[1].quantity == pytest.approx(15.36)


def test_full_liquidation_with_insurance_fund_and_no_fee_when_bankrupt():
    # mark 85,000: equity 10,000 - 15,000 = -5,000 -> ratio < 2/3 -> full liquidation.
    # The fee is capped at the positive equity (0). Deficit 5,000; fund 1,000 pays 1,000; 4,000 uncovered.
    outcome = liquidate_account(long_btc(1, 100_000, 10_000), FlatRateModel(), snapshot(BTC=85_000), insurance_fund_usd=1_000)
    assert outcome.action == "full_liquidation"
    assert list(outcome.events["action"]) == ["full_liquidation", "insurance_fund", "bad_debt"]
    assert outcome.fees_usd == 0
    assert outcome.deficit_usd == pytest.approx(5_000)
    assert outcome.fund_paid_usd == pytest.approx(1_000)
    assert outcome.book.bad_debt_usd == pytest.approx(4_000)
    assert outcome.fund_balance_usd == 0.0
    assert outcome.account_after.positions == ()
    assert outcome.account_after.cash_usd == pytest.approx(-4_000)


def test_full_liquidation_fee_goes_to_fund_and_fund_covers_deficit_later():
    # mark 93,000: equity 3,000; MM 4,650; r 0.645 <= 2/3 -> full. Fee 0.5% x 93,000 = 465 -> fund.
    outcome = liquidate_account(long_btc(1, 100_000, 10_000), FlatRateModel(), snapshot(BTC=93_000), insurance_fund_usd=0)
    assert outcome.action == "full_liquidation"
    assert outcome.fees_usd == pytest.approx(465)
    assert market_equity_usd(outcome.account_after, snapshot(BTC=93_000)) == pytest.approx(3_000 - 465)
    assert outcome.fund_balance_usd == pytest.approx(465)


def test_max_steps_exhausted_leads_to_full_liquidation():
    policy = LiquidationPolicy(max_steps=1)
    # same start as the worked example: step 1 gives r 1.0388 < 1.25, then everything is closed
    outcome = liquidate_account(long_btc(1, 100_000, 10_000), FlatRateModel(), snapshot(BTC=94_000), policy)
    assert list(outcome.events["action"]) == ["partial_liquidation", "full_liquidation"]
    np.testing.assert_allclose(outcome.events["quantity"], [-0.2, -0.8])
    # fees 94 + 0.5% x 75,200 = 94 + 376
    assert outcome.fees_usd == pytest.approx(470)


def book_for_adl():
    a = long_btc(1, 100_000, 10_000, "bankrupt")
    b = Account((Position(Perpetual("BTC"), -2.0, entry_price_usd=100_000),), cash_usd=50_000, account_id="short-b")
    c = Account((Position(Perpetual("BTC"), -1.0, entry_price_usd=90_000),), cash_usd=30_000, account_id="short-c")
    return [a, b, c]


def test_adl_ranking_by_pnl_pct_times_leverage():
    # at 85,000: B pnl 30,000, pnl% 30,000 / 200,000 = 0.15, equity 80,000, notional 170,000, leverage 2.125 -> 0.31875
    #            C pnl 5,000, pnl% 5,000 / 90,000 = 0.0556, equity 35,000, notional 85,000, leverage 2.4286 -> 0.1349
    ranking = adl_ranking(book_for_adl(), snapshot(BTC=85_000), "BTC-PERPETUAL", -1.0)
    assert list(ranking["account_id"]) == ["short-b", "short-c"]
    np.testing.assert_allclose(ranking["score"], [0.15 * 170_000 / 80_000, 5_000 / 90_000 * 85_000 / 35_000])


def test_adl_at_bankruptcy_price_and_conservation():
    # A bankrupt with deficit 5,000; fund 1,000 pays 1,000; 4,000 recovered by ADL from B (ranked first):
    # bankruptcy price = 85,000 + 4,000 / 1 = 89,000; B buys back 1 of its 2 short BTC at 89,000:
    # B equity 80,000 -> 76,000, A's cash -4,000 -> 0.
    market = snapshot(BTC=85_000)
    result = liquidate_book(book_for_adl(), FlatRateModel(), market, insurance_fund_usd=1_000)
    assert result.liquidated_accounts == ("bankrupt",)
    assert result.adl_recovered_usd == pytest.approx(4_000)
    assert result.bad_debt_usd == 0
    assert result.fund_after_usd == 0
    adl = result.events[result.events["action"] == "adl"]
    assert list(adl["account_id"]) == ["short-b"]
    assert adl["price_usd"].iloc[0] == pytest.approx(89_000)
    assert adl["quantity"].iloc[0] == pytest.approx(1.0)
    a, b, c = result.accounts_after
    assert market_equity_usd(a, market) == pytest.approx(0)
    assert market_equity_usd(b, market) == pytest.approx(76_000)
    assert b.positions[0].quantity == pytest.approx(-1.0)
    assert c == book_for_adl()[2]
    # before: -5,000 + 80,000 + 35,000 + fund 1,000 = 111,000 = after: 0 + 76,000 + 35,000 + 0
    assert conservation_residual_usd(result, market) == pytest.approx(0, abs=1e-6)


def test_bad_debt_recorded_when_no_counterparty():
    market = snapshot(BTC=85_000)
    result = liquidate_book([long_btc(1, 100_000, 10_000, "bankrupt")], FlatRateModel(), market, insurance_fund_usd=1_000)
    assert result.bad_debt_usd == pytest.approx(4_000)
    assert list(result.events["action"]) == ["full_liquidation", "insurance_fund", "bad_debt"]
    assert result.fund_after_usd == 0
    assert conservation_residual_usd(result, market) == pytest.approx(0, abs=1e-6)


def test_book_processes_worst_ratio_first_and_shares_the_fund():
    # two bankrupt accounts, deficits 5,000 (x) and 2,000 (y); fund 3,000.
    # y: 10,000 + (85,000 - 97,000) = -2,000 -> ratio -0.47; x: -5,000 -> ratio -1.18 (worse, first)
    x = long_btc(1, 100_000, 10_000, "x")
    y = long_btc(1, 97_000, 10_000, "y")
    result = liquidate_book([y, x], FlatRateModel(), snapshot(BTC=85_000), insurance_fund_usd=3_000, adl=False)
    fund_rows = result.events[result.events["action"] == "insurance_fund"]
    assert list(fund_rows["account_id"]) == ["x", "y"]
    np.testing.assert_allclose(fund_rows["transfer_usd"], [3_000, 0])
    assert result.bad_debt_usd == pytest.approx(2_000 + 2_000)


@settings(max_examples=40, deadline=None)
@given(
    quantity=st.floats(0.1, 5).map(lambda q: round(q, 3)),
    side=st.sampled_from([1.0, -1.0]),
    move=st.floats(-0.5, 0.5),
    leverage=st.floats(1.5, 50),
    fund=st.floats(0, 20_000),
    fee_rate=st.floats(0, 0.02),
    slippage=st.floats(0, 0.01),
)
def test_conservation_and_fund_never_negative(quantity, side, move, leverage, fund, fee_rate, slippage):
    entry = 50_000.0
    policy = LiquidationPolicy(fee_rate=fee_rate, slippage_rate=slippage)
    trader = Account((Position(Perpetual("BTC"), side * quantity, entry_price_usd=entry),), cash_usd=quantity * entry / leverage, account_id="t")
    other = Account((Position(Perpetual("BTC"), -side * quantity, entry_price_usd=entry),), cash_usd=quantity * entry, account_id="o")
    market = snapshot(BTC=entry * (1 + move))
    result = liquidate_book([trader, other], FlatRateModel(0.1, 0.05), market, policy, insurance_fund_usd=fund)
    assert conservation_residual_usd(result, market) == pytest.approx(0, abs=1e-6 * quantity * entry)
    assert result.fund_after_usd >= 0
    assert (result.events["fund_balance_usd"].dropna() >= -1e-9).all()
    assert (result.events["fee_usd"] >= 0).all()
    # positions balance: closed quantity in the log equals the change in holdings
    for before, after in zip(result.accounts_before, result.accounts_after):
        held_before = sum(p.quantity for p in before.positions)
        held_after = sum(p.quantity for p in after.positions)
        logged = result.events.loc[result.events["account_id"] == before.account_id, "quantity"].sum()
        assert held_after - held_before == pytest.approx(logged, abs=1e-9)
    # any account still holding positions after a close was restored to the target
    for after in result.accounts_after:
        if after.account_id in result.liquidated_accounts and after.positions:
            assert FlatRateModel(0.1, 0.05).margin(after, market).margin_ratio >= policy.target_ratio * (1 - 1e-12)
    # a deficit is either paid by the fund, recovered by ADL or reported as bad debt
    deficit = result.deficit_usd
    paid = result.fund_paid_usd
    assert deficit == pytest.approx(paid + result.adl_recovered_usd + result.bad_debt_usd, abs=1e-6)


def test_insurance_fund_argument_validated():
    with pytest.raises(ParameterError, match="insurance_fund_usd"):
        liquidate_account(long_btc(1, 100_000, 10_000), FlatRateModel(), snapshot(BTC=90_000), insurance_fund_usd=-1)


# --------------------------------------------------------------------------- isolated positions (issue 12 item 1)
def _isolated_pair(btc_collateral: float = 5_000.0) -> Account:
    """Cash 20,000 holds two isolated longs: 1 BTC at 100,000 (collateral ``btc_collateral``) and 10 ETH at 3,000 (3,000)."""
    btc = Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000, isolated_collateral_usd=btc_collateral, leverage=20)
    eth = Position(Perpetual("ETH"), 10.0, entry_price_usd=3_000, isolated_collateral_usd=3_000, leverage=10)
    return Account((btc, eth), 20_000.0, account_id="iso")


def test_isolated_position_fails_alone_while_the_account_ratio_is_healthy() -> None:
    from marginlab.margin.presets import get_model

    model = get_model("hyperliquid")  # E1: MM = half the IM at max leverage: BTC 40x -> 1.25%, ETH 25x -> 2%
    market = snapshot(BTC=95_500.0, ETH=3_000.0)
    account = _isolated_pair()
    # account level: equity 20,000 - 4,500 = 15,500; MM 1.25% x 95,500 + 2% x 30,000 = 1,193.75 + 600 = 1,793.75 -> 8.64
    assert model.margin(account, market).margin_ratio == pytest.approx(15_500 / 1_793.75)
    # BTC position alone: E = 5,000 - 4,500 = 500, MM 1,193.75, ratio 0.419 <= 2/3 -> full liquidation
    out = liquidate_account(account, model, market)
    assert out.action == "full_liquidation"
    closes = out.events[out.events["action"] == "full_liquidation"]
    assert closes["symbol"].tolist() == ["BTC-PERPETUAL"]
    fee = 0.005 * 95_500  # 477.50 <= the position's 500 of equity
    assert out.fees_usd == pytest.approx(fee)
    # cash 20,000 - 4,500 (realised) - 477.50 = 15,022.50; the ETH position and its 3,000 are untouched
    assert out.account_after.cash_usd == pytest.approx(15_022.5)
    assert [(p.symbol, p.quantity, p.isolated_collateral_usd) for p in out.account_after.positions] == [("ETH-PERPETUAL", 10.0, 3_000.0)]
    # free cash = cash - ETH collateral = 12,022.50 = the 12,000 not allocated + the 22.50 left of the BTC position's equity
    assert out.account_after.cash_usd - 3_000 == pytest.approx(12_000 + (500 - fee))


def test_isolated_loss_is_capped_at_the_position_collateral() -> None:
    from marginlab.margin.presets import get_model

    model = get_model("hyperliquid")
    market = snapshot(BTC=94_000.0, ETH=3_000.0)
    account = _isolated_pair()
    # BTC: E = 5,000 - 6,000 = -1,000 -> full close; fee capped at max(E, 0) = 0; deficit 1,000
    out = liquidate_account(account, model, market, insurance_fund_usd=300.0)
    assert out.fees_usd == 0.0
    assert out.deficit_usd == pytest.approx(1_000.0)
    assert out.fund_paid_usd == pytest.approx(300.0) and out.fund_balance_usd == pytest.approx(0.0)
    bad = out.events[out.events["action"] == "bad_debt"]
    assert bad["deficit_usd"].tolist() == pytest.approx([700.0])
    # the account loses exactly the 5,000 of collateral: 20,000 -> 15,000; ETH untouched
    assert out.account_after.cash_usd == pytest.approx(15_000.0)
    before, after = (market_equity_usd(a, market) for a in (out.account_before, out.account_after))
    assert (before, after) == pytest.approx((14_000.0, 15_000.0))
    # the isolated deficit took the path of every deficit: the fund's 300, then (no ADL counterparty) bad debt 700,
    # borne by the venue, and it counts in the shortfall
    assert out.book.isolated_bad_debt_usd == pytest.approx(700.0) and out.book.bad_debt_usd == pytest.approx(700.0)
    assert conservation_residual_usd(out.book, market) == pytest.approx(0.0, abs=1e-9)
    assert out.account_after.positions[0].symbol == "ETH-PERPETUAL"
    # money: the account's equity rises by the 1,000 it did not have to pay = fund 300 + the venue's bad debt 700
    assert after - before == pytest.approx(300.0 + 700.0)


def test_isolated_partial_ladder_on_one_position_and_cross_part_separately() -> None:
    model = FlatRateModel(0.10, 0.05)  # family "isolated": MM 5% of notional per position
    market = snapshot(BTC=96_000.0, ETH=3_000.0)
    btc = Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000, isolated_collateral_usd=8_900)
    eth_cross = Position(Perpetual("ETH"), 10.0, entry_price_usd=3_000)
    account = Account((btc, eth_cross), 20_000.0, account_id="mix")
    # BTC: E = 8,900 - 4,000 = 4,900; MM 4,800; ratio 1.0208 -> partial (below 1.05)
    # close 20%: notional 19,200, fee 96; E 4,804; MM on 0.8 BTC = 3,840 -> ratio 1.251 >= 1.25 target: stop
    out = liquidate_account(account, model, market)
    partial = out.events[out.events["action"] == "partial_liquidation"]
    assert len(partial) == 1 and partial["symbol"].iloc[0] == "BTC-PERPETUAL"
    assert partial["fee_usd"].iloc[0] == pytest.approx(96.0)
    assert partial["margin_ratio"].iloc[0] == pytest.approx(4_804 / 3_840)
    kept = {p.symbol: p for p in out.account_after.positions}
    assert kept["BTC-PERPETUAL"].quantity == pytest.approx(0.8)
    # collateral keeps the realised 20% of the loss (-800) net of the fee: 8,900 - 800 - 96 = 8,004
    assert kept["BTC-PERPETUAL"].isolated_collateral_usd == pytest.approx(8_004.0)
    # cross part: cash 20,000 - 8,900 = 11,100 against ETH MM 1,500 (ratio 7.4): untouched
    assert kept["ETH-PERPETUAL"].quantity == 10.0
    assert out.account_after.cash_usd == pytest.approx(20_000 - 800 - 96)


# --------------------------------------------------------------------------- mechanics (issue 12 item 7)
def test_liquidator_share_of_the_fee() -> None:
    # 10x long 1 BTC at 100,000 with 10,000 cash, at 92,000: equity 2,000, MM 5% x 92,000 = 4,600, ratio 0.435 <= 2/3 -> full
    # fee 0.5% x 92,000 = 460 (below the 2,000 of equity): 25% = 115 to the liquidator, 345 to the fund
    policy = LiquidationPolicy(liquidator_share=0.25)
    out = liquidate_account(long_btc(1, 100_000, 10_000), FlatRateModel(0.10, 0.05), snapshot(BTC=92_000), policy, insurance_fund_usd=1_000)
    assert out.fees_usd == pytest.approx(460.0)
    assert out.fund_balance_usd == pytest.approx(1_000 + 345.0)
    book = liquidate_book([long_btc(1, 100_000, 10_000)], FlatRateModel(0.10, 0.05), snapshot(BTC=92_000), policy, insurance_fund_usd=1_000)
    assert book.liquidator_usd == pytest.approx(115.0)
    assert conservation_residual_usd(book, snapshot(BTC=92_000)) == pytest.approx(0.0, abs=1e-9)


def test_socialised_loss_after_fund_without_adl() -> None:
    # A: long 1 BTC at 100,000 with 5,000 cash; at 90,000 equity is -5,000 -> full close, fee capped at 0, deficit 5,000
    # fund 1,000 pays 1,000; no ADL; the 4,000 left is charged pro rata to equity: B 30,000 -> 3,000, C 10,000 -> 1,000
    a = long_btc(1, 100_000, 5_000, "a")
    b = Account((), 30_000.0, account_id="b")
    c = Account((), 10_000.0, account_id="c")
    policy = LiquidationPolicy(auto_deleverage=False, socialised_loss=True)
    market = snapshot(BTC=90_000)
    result = liquidate_book([a, b, c], FlatRateModel(0.10, 0.05), market, policy, insurance_fund_usd=1_000)
    assert result.socialised_usd == pytest.approx(4_000.0)
    assert result.bad_debt_usd == pytest.approx(0.0)
    assert [x.cash_usd for x in result.accounts_after[1:]] == pytest.approx([27_000.0, 9_000.0])
    assert market_equity_usd(result.accounts_after[0], market) == pytest.approx(0.0)
    row = result.events[result.events["action"] == "socialised_loss"]
    assert row["transfer_usd"].tolist() == pytest.approx([4_000.0])
    assert conservation_residual_usd(result, market) == pytest.approx(0.0, abs=1e-9)
    # without socialisation the 4,000 stays as bad debt on the bankrupt account
    plain = liquidate_book([a, b, c], FlatRateModel(0.10, 0.05), market, LiquidationPolicy(auto_deleverage=False), insurance_fund_usd=1_000)
    assert plain.bad_debt_usd == pytest.approx(4_000.0)


def test_policy_from_data_and_presets() -> None:
    policy = LiquidationPolicy.from_mapping({"fee_rate": 0.01, "socialised_loss": True})
    assert LiquidationPolicy.from_mapping(policy.to_mapping()) == policy
    with pytest.raises(ParameterError, match="bonus"):
        LiquidationPolicy.from_mapping({"bonus": 0.1})
    with pytest.raises(ParameterError, match="liquidator_share"):
        LiquidationPolicy(liquidator_share=1.5)
    assert liquidation_policy_for("hyperliquid").partial_fraction == 0.2
    assert all("source" in entry for entry in policy_file()["presets"].values())


@settings(max_examples=40, deadline=None)
@given(
    move=st.floats(-0.5, 0.5),
    leverage=st.floats(1.5, 50),
    fund=st.floats(0, 20_000),
    share=st.floats(0, 1),
    use_fund=st.booleans(),
    adl=st.booleans(),
    socialise=st.booleans(),
)
def test_conservation_with_every_mechanic(move, leverage, fund, share, use_fund, adl, socialise):
    entry = 50_000.0
    policy = LiquidationPolicy(liquidator_share=share, use_insurance_fund=use_fund, auto_deleverage=adl, socialised_loss=socialise)
    book = [
        Account((Position(Perpetual("BTC"), 2.0, entry_price_usd=entry),), cash_usd=2 * entry / leverage, account_id="long"),
        Account((Position(Perpetual("BTC"), -1.0, entry_price_usd=entry),), cash_usd=entry / leverage, account_id="short"),
        Account((Position(Perpetual("BTC"), -1.0, entry_price_usd=entry),), cash_usd=entry, account_id="safe-short"),
        Account((), 25_000.0, account_id="saver"),
    ]
    market = snapshot(BTC=entry * (1 + move))
    result = liquidate_book(book, FlatRateModel(0.1, 0.05), market, policy, insurance_fund_usd=fund)
    assert conservation_residual_usd(result, market) == pytest.approx(0, abs=1e-6 * entry)
    assert result.fund_after_usd >= -1e-9
    if not use_fund:
        assert result.fund_after_usd >= fund - 1e-9
    assert result.socialised_usd >= 0 and (socialise or result.socialised_usd == 0)


def test_adl_claims_consume_one_queue_snapshot_in_order_in_both_engines() -> None:
    """Two bankrupt longs (claims of 300 and 100 USD, 1 BTC each) and two profitable shorts at mark 90,000.

    Ranking at the snapshot (pnl% x gross / equity): ``c`` short 1.5 entered at 100,000, pnl 15,000,
    pnl% 10%, gross 135,000 / equity 25,000 = 5.4 -> score 0.54; ``d`` short 2 entered at 95,000, pnl
    10,000, pnl% 5.26%, gross 180,000 / equity 60,000 = 3 -> score 0.158. Queue: c (1.5), d (2).
    Claim 1 (1 BTC, 300): 1 from c at 300/unit. Claim 2 (1 BTC, 100): the remaining 0.5 of c, then 0.5
    of d at 100/unit. Recovered 300 and 100. c: closed, cash 10,000 + 10,000 - 300 + 5,000 - 50 = 24,650;
    d: 1.5 left, cash 50,000 + 0.5 x 5,000 - 50 = 52,450.
    """
    from marginlab.book.state import BookState, StepMarket
    from marginlab.liquidation.reference import AdlClaim, write_off_deficits
    from marginlab.liquidation.writeoff import write_off as write_off_arrays

    market = snapshot(BTC=90_000)
    closed_long = Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000)
    book = [
        Account((), -300.0, account_id="a"),
        Account((), -100.0, account_id="b"),
        Account((Position(Perpetual("BTC"), -1.5, entry_price_usd=100_000),), 10_000.0, account_id="c"),
        Account((Position(Perpetual("BTC"), -2.0, entry_price_usd=95_000),), 50_000.0, account_id="d"),
    ]
    claims = [AdlClaim(0, [(closed_long, -1.0)], 300.0), AdlClaim(1, [(closed_long, -1.0)], 100.0)]
    after, rows, totals = write_off_deficits(book, claims, market, LiquidationPolicy())
    assert totals["recovered_usd"].tolist() == pytest.approx([300.0, 100.0])
    assert [[(r["account_id"], r["quantity"]) for r in claim_rows] for claim_rows in rows] == [[("c", 1.0)], [("c", 0.5), ("d", 0.5)]]
    assert after[2].positions == () and after[2].cash_usd == pytest.approx(24_650.0)
    assert after[3].positions[0].quantity == pytest.approx(-1.5) and after[3].cash_usd == pytest.approx(52_450.0)
    assert (after[0].cash_usd, after[1].cash_usd) == pytest.approx((0.0, 0.0))
    # the arrays: same takes, same balances
    state = BookState(book)
    state.positions.append(closed_long)  # the closed piece, as the ladder leaves it: a dead row of the bankrupt account
    state.account = np.append(state.account, 0)
    state.instrument = np.append(state.instrument, 0)
    state.quantity = np.append(state.quantity, 0.0)
    state.entry = np.append(state.entry, 100_000.0)
    state.leverage = np.append(state.leverage, np.nan)
    state.alive = np.append(state.alive, False)
    step = StepMarket.build(state, market)
    done = write_off_arrays(state, step, np.array([0, 1]), np.array([300.0, 100.0]), np.zeros(2),
                            (np.array([2, 2]), np.array([-1.0, -1.0]), np.array([0, 1])), LiquidationPolicy(), adl=True)
    assert done.recovered_usd.tolist() == pytest.approx([300.0, 100.0])
    np.testing.assert_allclose(state.cash, [a.cash_usd for a in after], rtol=1e-12)
    np.testing.assert_allclose(state.quantity[state.alive], [-1.5])
