"""Tests of correlation credits across underlyings (marginlab.margin.correlation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marginlab.account import Account
from marginlab.exceptions import EmptyPortfolioError, InputError, ParameterError, UnknownAssetError
from marginlab.instruments import Perpetual, Position
from marginlab.margin.correlation import InterCommoditySpread, correlation_credit, inter_commodity_credit
from marginlab.margin.fhs import FilteredHistoricalMargin, HistoricalScenarios
from marginlab.market import MarketSnapshot


# ----------------------------------------------------------------------------- SPAN (worked example A2)
def test_worked_example_a2_corn_soybeans():
    # worked_examples.md section A2: corn vs soybeans 2:1, credit 55%; outright corn $1,750,
    # soybeans $2,500; book 2 corn (long) and 1 soybean (short): scan risks 3,500 and 2,500.
    # Credit = 0.55 x 3,500 + 0.55 x 2,500 = 3,300; requirement = 6,000 - 3,300 = 2,700.
    result = inter_commodity_credit({"CORN": (2 * 1_750.0, 2.0), "SOYBEAN": (2_500.0, -1.0)},
                                    [InterCommoditySpread("CORN", "SOYBEAN", 2.0, 1.0, 0.55)])
    assert result.scan_risk_usd == pytest.approx(6_000.0)
    assert result.total_credit_usd == pytest.approx(3_300.0)
    assert result.requirement_usd == pytest.approx(2_700.0)
    row = result.spreads.iloc[0]
    assert row["spreads_formed"] == pytest.approx(1.0)
    assert row["first_credit_usd"] == pytest.approx(0.55 * 3_500.0)
    assert row["second_credit_usd"] == pytest.approx(0.55 * 2_500.0)
    assert result.by_underlying.set_index("underlying")["remaining_delta"].abs().max() == pytest.approx(0.0)


def test_inter_commodity_credit_needs_opposite_deltas_and_uses_remaining_deltas():
    same_side = inter_commodity_credit({"A": (1_000.0, 2.0), "B": (500.0, 1.0)}, [InterCommoditySpread("A", "B", 1, 1, 0.5)])
    assert same_side.total_credit_usd == 0.0
    # 3 long A (weighted price risk 1,000 / 3 per delta) vs 1 short B (500 per delta), 1:1 at 50%:
    # one spread -> credit 0.5 x (1,000/3 + 500); then A's remaining 2 deltas meet C (1:1, 40%)
    # with 4 short C (wpr 200): two spreads -> 0.4 x 2 x (1,000/3 + 200).
    result = inter_commodity_credit(
        {"A": (1_000.0, 3.0), "B": (500.0, -1.0), "C": (800.0, -4.0)},
        [InterCommoditySpread("A", "B", 1, 1, 0.5), InterCommoditySpread("A", "C", 1, 1, 0.4)],
    )
    expected = 0.5 * (1_000 / 3 + 500) + 0.4 * 2 * (1_000 / 3 + 200)
    assert result.total_credit_usd == pytest.approx(expected)
    assert result.spreads["spreads_formed"].tolist() == pytest.approx([1.0, 2.0])


def test_inter_commodity_bad_input():
    with pytest.raises(ParameterError):
        InterCommoditySpread("A", "B", 1, 1, 1.5)
    with pytest.raises(ParameterError):
        InterCommoditySpread("A", "B", 0.0, 1, 0.5)
    with pytest.raises(InputError):
        inter_commodity_credit({"A": (1.0, 1.0)}, [InterCommoditySpread("A", "A", 1, 1, 0.5)])
    with pytest.raises(InputError):
        inter_commodity_credit({"A": (-1.0, 1.0)}, [])
    with pytest.raises(UnknownAssetError):
        inter_commodity_credit({"A": (1.0, 1.0)}, [InterCommoditySpread("A", "B", 1, 1, 0.5)])


# ----------------------------------------------------------------------------- joint scenarios
def _history(returns: np.ndarray, columns=("BTC", "ETH")) -> HistoricalScenarios:
    dates = pd.date_range("2010-01-01", periods=len(returns) + 1, freq="D", tz="UTC")
    levels = 100.0 * np.exp(np.vstack([np.zeros((1, returns.shape[1])), np.cumsum(returns, axis=0)]))
    return HistoricalScenarios.from_history(pd.DataFrame(levels, index=dates, columns=list(columns)))


MARKET = MarketSnapshot.from_dict({"as_of": "2030-01-01", "assets": {"BTC": {"index_usd": 50_000.0}, "ETH": {"index_usd": 2_500.0}}})


def _book(btc: float, eth: float) -> Account:
    return Account((Position(Perpetual("BTC"), btc), Position(Perpetual("ETH"), eth)))


def test_perfectly_correlated_same_direction_gets_no_credit():
    rng = np.random.default_rng(1)
    common = rng.standard_t(4, 2000) * 0.02
    model = FilteredHistoricalMargin(_history(np.column_stack([common, common])), lookback_days=1500)
    # comonotone legs: every scenario ranks the same for each leg, so VaR/ES/stress add up exactly
    report = correlation_credit(_book(1.0, 20.0), MARKET, model)
    assert report.credit_usd == pytest.approx(0.0, abs=1e-6 * report.sum_of_standalone_usd)
    assert report.sum_of_standalone_usd > 0
    assert len(report.standalone) == 2
    # opposite direction on identical moves: the book is hedged (equal notionals), joint ~ 0
    hedged = correlation_credit(_book(1.0, -20.0), MARKET, model)
    assert hedged.joint_usd == pytest.approx(0.0, abs=1e-6)
    assert hedged.credit_fraction == pytest.approx(1.0)


def test_long_btc_short_eth_gets_positive_credit():
    rng = np.random.default_rng(2)
    covariance = np.array([[0.03**2, 0.8 * 0.03 * 0.04], [0.8 * 0.03 * 0.04, 0.04**2]])
    model = FilteredHistoricalMargin(_history(rng.multivariate_normal([0, 0], covariance, 2000)), lookback_days=1500)
    report = correlation_credit(_book(1.0, -20.0), MARKET, model)
    assert report.credit_usd > 0
    assert 0 < report.credit_fraction < 1
    assert report.joint_usd == pytest.approx(report.joint_result.initial_margin_usd)
    assert report.frame()["underlying"].tolist()[-3:] == ["sum of standalone", "joint", "credit"]


def test_independent_assets_joint_is_less_than_sum():
    rng = np.random.default_rng(3)
    model = FilteredHistoricalMargin(_history(rng.normal(0, 0.03, size=(3000, 2))), lookback_days=2500, stress_weight=0.0)
    report = correlation_credit(_book(1.0, 20.0), MARKET, model)
    assert report.joint_usd < report.sum_of_standalone_usd
    # equal standalone risks, independent normal legs: joint ES ~ sqrt(2) x one leg, credit ~ 1 - 1/sqrt(2) = 29%
    assert report.credit_fraction == pytest.approx(1 - 1 / np.sqrt(2), abs=0.06)


def test_correlation_credit_rejects_an_empty_book():
    rng = np.random.default_rng(4)
    model = FilteredHistoricalMargin(_history(rng.normal(0, 0.03, size=(300, 2))), lookback_days=200)
    with pytest.raises(EmptyPortfolioError):
        correlation_credit(Account(), MARKET, model)


def test_es_credit_is_never_negative_on_random_books():
    # the empirical ES (mean of the k worst losses) and the stress maximum are sub-additive:
    # mean of the k largest of (x + y) <= mean of the k largest of x + mean of the k largest of y.
    from hypothesis import given, settings
    from hypothesis import strategies as st

    rng = np.random.default_rng(5)
    model = FilteredHistoricalMargin(_history(rng.standard_t(3, size=(600, 2)) * 0.03), lookback_days=500, risk_measure="es")

    @given(st.floats(-10, 10).filter(lambda q: abs(q) > 1e-3), st.floats(-200, 200).filter(lambda q: abs(q) > 1e-3))
    @settings(max_examples=40, deadline=None)
    def check(btc, eth):
        report = correlation_credit(_book(btc, eth), MARKET, model)
        assert report.credit_usd >= -1e-9 * max(1.0, report.sum_of_standalone_usd)

    check()
