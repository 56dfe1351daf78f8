"""Tests of the VaR / margin backtests (marginlab.analysis.backtest) on hand calculations and simulated data with known truth."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from marginlab.analysis.backtest import (
    BASEL_QUARTER_OBS,
    backtest_table,
    christoffersen_test,
    es_backtest,
    horizon_moves,
    kupiec_test,
    margin_backtest,
    traffic_light_bounds,
    traffic_light_windows,
    traffic_light_zone,
)
from marginlab.exceptions import InputError, ParameterError


def test_kupiec_hand_calculation():
    # n = 100, x = 5, p = 0.01:
    # LR = -2 [95 ln 0.99 + 5 ln 0.01] + 2 [95 ln 0.95 + 5 ln 0.05]
    expected = -2 * (95 * math.log(0.99) + 5 * math.log(0.01)) + 2 * (95 * math.log(0.95) + 5 * math.log(0.05))
    assert expected == pytest.approx(8.2583, abs=1e-4)
    result = kupiec_test([True] * 5 + [False] * 95, alpha=0.99)
    assert result.statistic == pytest.approx(expected)
    assert result.p_value == pytest.approx(stats.chi2.sf(expected, 1))
    assert result.rejected()
    # no exception: LR = -2 n ln(1 - p)
    assert kupiec_test([False] * 250, 0.99).statistic == pytest.approx(-2 * 250 * math.log(0.99))


def test_christoffersen_hand_calculation():
    # sequence 0,0,1,1,0,0,0,0,0,0: n00 = 6, n01 = 1, n10 = 1, n11 = 1; pi = 2/9, pi01 = 1/7, pi11 = 1/2
    restricted = 7 * math.log(7 / 9) + 2 * math.log(2 / 9)
    unrestricted = 6 * math.log(6 / 7) + math.log(1 / 7) + 2 * math.log(0.5)
    lr_ind = -2 * (restricted - unrestricted)
    independence, coverage = christoffersen_test([0, 0, 1, 1, 0, 0, 0, 0, 0, 0], alpha=0.9)
    assert independence.statistic == pytest.approx(lr_ind)
    assert independence.statistic == pytest.approx(1.0205, abs=1e-4)
    assert coverage.statistic == pytest.approx(lr_ind + kupiec_test([0, 0, 1, 1, 0, 0, 0, 0, 0, 0], 0.9).statistic)
    assert coverage.p_value == pytest.approx(stats.chi2.sf(coverage.statistic, 2))


def test_clustered_exceptions_rejected_by_independence():
    hits = np.zeros(1000, dtype=bool)
    hits[500:510] = True  # ten exceptions in a row, 1% overall
    independence, _ = christoffersen_test(hits, 0.99)
    assert independence.rejected()
    assert not kupiec_test(hits, 0.99).rejected()


def test_traffic_light_basel_zones_and_binomial():
    assert traffic_light_bounds(250, 0.99) == (5, 10)  # Basel 1996: green 0-4, yellow 5-9, red 10+
    for count in range(0, 15):
        cdf = stats.binom.cdf(count, 250, 0.01)
        expected = "green" if cdf < 0.95 else ("yellow" if cdf < 0.9999 else "red")
        assert traffic_light_zone(count) == expected
    # generalisation: 500 observations at 97.5%
    first_yellow, first_red = traffic_light_bounds(500, 0.975)
    assert stats.binom.cdf(first_yellow - 1, 500, 0.025) < 0.95 <= stats.binom.cdf(first_yellow, 500, 0.025)
    assert stats.binom.cdf(first_red - 1, 500, 0.025) < 0.9999 <= stats.binom.cdf(first_red, 500, 0.025)


def test_traffic_light_windows_counts():
    hits = np.zeros(300, dtype=bool)
    hits[[10, 20, 30, 40, 50]] = True
    windows = traffic_light_windows(hits, window=250)
    assert len(windows) == 51
    assert windows["n_exceptions"].iloc[0] == 5 and windows["zone"].iloc[0] == "yellow"
    assert windows["n_exceptions"].iloc[-1] == 1 and windows["zone"].iloc[-1] == "green"  # window 50..299


def test_traffic_light_windows_quarterly_step_by_hand():
    # 1000 observations, 250-observation windows evaluated every 63 observations (Basel quarterly convention):
    # windows end at 249, 312, 375, ..., 942 -> (999 - 249) // 63 + 1 = 11 + 1 = 12 windows
    hits = np.zeros(1000, dtype=bool)
    hits[:10] = True  # 10 exceptions in observations 0..9: only the first window (0..249) contains them -> red
    hits[[400, 450, 500, 550, 600]] = True
    windows = traffic_light_windows(hits, window=250, step=BASEL_QUARTER_OBS)
    assert BASEL_QUARTER_OBS == 63
    assert windows["end"].tolist() == [249 + 63 * k for k in range(12)]
    # by hand: window ending e covers e-249..e; exceptions at 400, 450, 500, 550, 600
    # e=249: 10 (red); e=312: 0; e=375: 0; e=438 (189..438): {400} = 1; e=501 (252..501): 3; e=564 (315..564): 4;
    # e=627 (378..627): 5 (yellow); e=690 (441..690): 4; e=753 (504..753): 2; e=816 (567..816): 1; e=879, e=942: 0
    assert windows["n_exceptions"].tolist() == [10, 0, 0, 1, 3, 4, 5, 4, 2, 1, 0, 0]
    assert windows["zone"].tolist() == ["red"] + ["green"] * 5 + ["yellow"] + ["green"] * 5
    with pytest.raises(InputError):
        traffic_light_windows(hits, step=0)


def test_margin_backtest_traffic_light_step():
    returns = pd.Series(np.zeros(1000), index=pd.date_range("2020-01-01", periods=1000))
    returns.iloc[[400, 450, 500, 550, 600]] = -0.05  # 5 exceptions against a flat 1% margin
    rates = pd.Series(0.01, index=returns.index)
    daily = margin_backtest(returns, rates, alpha=0.99)
    quarterly = margin_backtest(returns, rates, alpha=0.99, traffic_light_step=63)
    assert sum(daily.traffic_light.values()) == 751  # every window: ends 249..999
    # windows containing all 5 exceptions end in 600..649 -> 50 yellow windows when stepping daily
    assert daily.traffic_light == {"green": 701, "yellow": 50, "red": 0}
    assert quarterly.traffic_light == {"green": 11, "yellow": 1, "red": 0}  # only the window ending at 627
    assert quarterly.traffic_light_step == 63
    table = backtest_table(returns, {"flat": rates}, traffic_light_step=63)
    assert table.loc["flat", "yellow"] == 1 and table.loc["flat", "green"] == 11


def test_true_quantile_margin_not_rejected_and_too_small_rejected():
    rng = np.random.default_rng(42)
    sigma = 0.03
    returns = pd.Series(sigma * rng.standard_normal(20_000), index=pd.date_range("2000-01-01", periods=20_000))
    true_rate = -math.expm1(sigma * stats.norm.ppf(0.01))  # exact 1% quantile of the price move
    result = margin_backtest(returns, pd.Series(true_rate, index=returns.index), alpha=0.99)
    assert 0.008 < result.exception_rate < 0.012
    assert not result.kupiec.rejected() and not result.conditional_coverage.rejected()
    assert result.traffic_light["red"] == 0
    too_small = margin_backtest(returns, pd.Series(0.7 * true_rate, index=returns.index), alpha=0.99)
    assert too_small.kupiec.rejected() and too_small.exception_rate > 0.02


def test_two_day_non_overlapping_and_overlapping():
    rng = np.random.default_rng(7)
    sigma = 0.02
    returns = pd.Series(sigma * rng.standard_normal(20_000), index=pd.date_range("2000-01-01", periods=20_000))
    rate = -math.expm1(sigma * math.sqrt(2) * stats.norm.ppf(0.01))  # 2-day sum of iid normals
    result = margin_backtest(returns, pd.Series(rate, index=returns.index), horizon_days=2, alpha=0.99)
    assert result.n_obs == 10_000  # 19 999 complete 2-day windows, every second one
    assert 0.007 < result.exception_rate < 0.013 and not result.kupiec.rejected()
    overlapping = margin_backtest(returns, pd.Series(rate, index=returns.index), horizon_days=2, alpha=0.99, overlapping=True)
    assert overlapping.n_obs == 19_999
    assert not overlapping.kupiec.rejected()


def test_horizon_moves_and_sides():
    returns = pd.Series(np.log([1.1, 0.8, 1.05]), index=pd.date_range("2024-01-01", periods=3))
    moves = horizon_moves(returns, 2)
    assert moves.iloc[0] == pytest.approx(1.1 * 0.8 - 1) and np.isnan(moves.iloc[-1])
    rates = pd.Series(0.15, index=returns.index)
    both = margin_backtest(returns, rates, side="both", alpha=0.99)
    assert both.expected_rate == pytest.approx(0.02)
    assert both.frame["long"].tolist() == [False, True, False]
    assert both.frame["short"].tolist() == [False, False, False]


def test_es_backtest_detects_too_small_es():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(20_000)
    alpha = 0.975
    var = np.full(x.size, stats.norm.ppf(alpha))
    es = np.full(x.size, stats.norm.pdf(stats.norm.ppf(alpha)) / (1 - alpha))  # exact N(0,1) ES = 2.3378
    good = es_backtest(x, var, es, alpha=alpha, rng=0)
    assert good["p_value_bootstrap"] > 0.05 and abs(good["z2"]) < 0.15
    bad = es_backtest(1.5 * x, var, es, alpha=alpha, rng=0)
    assert bad["p_value_bootstrap"] < 0.01 and bad["z2"] < -0.3


def test_backtest_table_and_errors():
    returns = pd.Series(0.02 * np.random.default_rng(0).standard_normal(600), index=pd.date_range("2020-01-01", periods=600))
    table = backtest_table(returns, {"a": pd.Series(0.05, index=returns.index), "b": pd.Series(0.01, index=returns.index)})
    assert list(table.index) == ["a", "b"]
    assert {"kupiec_p", "christoffersen_cc_p", "green", "yellow", "red"} <= set(table.columns)
    with pytest.raises(InputError, match="side"):
        margin_backtest(returns, pd.Series(0.05, index=returns.index), side="up")
    with pytest.raises(InputError, match="margin_rates"):
        margin_backtest(returns, pd.Series(-0.05, index=returns.index))
    with pytest.raises(ParameterError):
        kupiec_test([True, False], alpha=1.0)
    with pytest.raises(InputError):
        kupiec_test([2, 3], alpha=0.99)
