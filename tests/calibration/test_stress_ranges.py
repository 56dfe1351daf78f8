"""Tests of marginlab.calibration.stress_ranges on simulated data with known truth, hand calculations and one real-data backtest."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from marginlab.analysis.backtest import margin_backtest
from marginlab.calibration.garch import rolling_forecast, simulate_garch
from marginlab.calibration.stress_ranges import (
    AntiProcyclicality,
    StressRangeModel,
    VolScanRanges,
    _apply_buffer,
    _blocks,
    tail_coverage_table,
    vol_scan_ranges,
)
from marginlab.exceptions import InputError, ParameterError


@pytest.fixture(scope="module")
def simulated():
    returns = simulate_garch(3000, omega=0.05, alpha=0.08, gamma=0.04, beta=0.88, nu=5, rng=3)
    garch = rolling_forecast(returns, "gjr", "t", refit_every_days=250, min_obs=750, horizon_days=2, progress=False)
    return returns, garch


def test_blocks_hand_calculation():
    z = np.array([1.0, -2.0, 0.5, 3.0])
    np.testing.assert_allclose(_blocks(z, 2), np.array([-1.0, -1.5, 3.5]) / math.sqrt(2))
    np.testing.assert_allclose(_blocks(z, 1), z)


def test_buffer_rule_hand_calculation():
    # m_t = max(r_t, min(1.25 r_t, m_{t-1})): calm 1.25x, a 10% rise absorbed, a 40% rise passes through
    rates = np.array([0.10, 0.10, 0.11, 0.14, 0.10])
    out, binding = _apply_buffer(rates, 0.25)
    np.testing.assert_allclose(out, [0.125, 0.125, 0.125, 0.14, 0.125])
    assert binding.tolist() == [False, False, True, True, False]


def test_fhs_coverage_on_simulated_garch(simulated):
    returns, garch = simulated
    result = StressRangeModel(confidence=0.99, horizon_days=2, method="fhs", refit_every_days=250, progress=False).fit(
        returns, garch=garch
    )
    frame = result.frame
    assert {"scan_range", "extreme_move", "vol_forecast", "floor_binding", "cap_binding"} <= set(frame.columns)
    assert (frame["scan_range"] > 0).all() and (frame["extreme_move"] >= frame["scan_range"]).all()
    backtest = margin_backtest(returns, result.margin_rates("long"), horizon_days=2, alpha=0.99)
    assert 0.004 < backtest.exception_rate < 0.02 and not backtest.kupiec.rejected(0.01)
    # the pool only uses shocks dated before each date: its size grows by one a day
    assert (np.diff(frame["pool_size"].to_numpy()) == 1).all()


def test_scan_range_matches_hand_formula(simulated):
    returns, garch = simulated
    model = StressRangeModel(confidence=0.99, horizon_days=2, method="fhs", refit_every_days=250, progress=False)
    frame = model.fit(returns, garch=garch).frame
    day = frame.index[500]
    # pool: 2-day blocks of out-of-sample standardised residuals dated before `day`
    z = garch["std_residual"].dropna()
    u = (z.rolling(2).sum() / math.sqrt(2)).dropna()
    pool = u.loc[: day - pd.Timedelta(days=1)].to_numpy()
    q = np.quantile(pool, 0.01)
    expected = -math.expm1(2 * garch.loc[day, "mean"] + garch.loc[day, "vol_h"] * q)
    assert frame.loc[day, "scan_down"] == pytest.approx(expected, rel=1e-10)


def test_ewma_normal_closed_form(simulated):
    returns, garch = simulated
    frame = (
        StressRangeModel(confidence=0.99, horizon_days=2, method="ewma-normal", refit_every_days=250, progress=False)
        .fit(returns, garch=garch)
        .frame
    )
    np.testing.assert_allclose(frame["scan_down"], -np.expm1(frame["vol_forecast"] * stats.norm.ppf(0.01)))


def test_anti_procyclicality_reduces_peak_to_trough_and_monotone(simulated):
    returns, garch = simulated
    base = StressRangeModel(confidence=0.99, horizon_days=2, refit_every_days=250, progress=False).fit(returns, garch=garch).frame
    for tools in (
        AntiProcyclicality(stressed_weight=0.25),
        AntiProcyclicality(lookback_floor_years=1),
        AntiProcyclicality(slow_ewma_lambda=0.995),
    ):
        # each tool only adds margin, so the peak-to-trough ratio cannot rise unless the peak rises
        frame = (
            StressRangeModel(confidence=0.99, horizon_days=2, anti_procyclicality=tools, refit_every_days=250, progress=False)
            .fit(returns, garch=garch)
            .frame
        )
        assert (frame["scan_down"] >= base["scan_down"] - 1e-12).all()  # tools only add margin
        assert frame["scan_down"].min() >= base["scan_down"].min()
    buffered = StressRangeModel(
        confidence=0.99, horizon_days=2, anti_procyclicality=AntiProcyclicality(buffer=0.25), refit_every_days=250, progress=False
    )
    frame = buffered.fit(returns, garch=garch).frame
    assert (frame["scan_down"] <= 1.25 * base["scan_down"] + 1e-12).all() and (
        frame["scan_down"] >= base["scan_down"] - 1e-12
    ).all()


def test_floor_cap_and_flags(simulated):
    returns, garch = simulated
    frame = (
        StressRangeModel(confidence=0.99, horizon_days=2, floor=0.05, cap=0.08, refit_every_days=250, progress=False)
        .fit(returns, garch=garch)
        .frame
    )
    assert frame["scan_range"].between(0.05, 0.08).all()
    assert frame["floor_binding"].any() or frame["cap_binding"].any()


def test_evt_method_and_latest(simulated):
    returns, garch = simulated
    result = StressRangeModel(confidence=0.997, horizon_days=2, method="evt", refit_every_days=250, progress=False).fit(
        returns, garch=garch
    )
    latest = result.latest()
    assert latest.name == garch.index[-1]
    assert latest["scan_range"] > 0 and latest["extreme_move"] >= latest["scan_range"]
    assert set(result.tail_fits) == {"lower", "upper"}
    assert "scan_range" in result.summary()


def test_vol_scan_ranges_closed_form():
    # log DVOL a random walk with daily sd 0.05: 2-day log change ~ N(0, 0.05 sqrt 2); 99% up shock exp(q) - 1
    dvol = pd.Series(50 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.05, 20_000))))
    ranges = vol_scan_ranges(dvol, horizon_days=2, confidence=0.99)
    q = 0.05 * math.sqrt(2) * stats.norm.ppf(0.99)
    assert ranges.vol_up_range == pytest.approx(math.expm1(q), rel=0.05)
    assert ranges.vol_down_range == pytest.approx(-math.expm1(-q), rel=0.05)
    assert ranges.powers_source == "deribit-default"
    shocks = ranges.shocks([7, 30, 180])
    # (30 / DTE)^p term structure: 7 DTE up shock = range * (30/7)^0.3
    assert shocks.loc[0, "vol_up"] == pytest.approx(ranges.vol_up_range * (30 / 7) ** 0.3)
    assert shocks["vol_up"].is_monotonic_decreasing
    with pytest.raises(InputError, match="positive"):
        vol_scan_ranges(pd.Series([50.0, -1.0] * 100))


def test_tail_coverage_table(simulated):
    returns, garch = simulated
    result = StressRangeModel(confidence=0.99, horizon_days=2, refit_every_days=250, progress=False).fit(returns, garch=garch)
    day = str(result.frame.index[100].date())
    table = tail_coverage_table({"SIM": result}, [("SIM", day, 2, -0.5), ("SIM", day, 1, -0.1), ("XYZ", day, 2, -0.1)])
    assert not table.loc[0, "covered_scan"] and table.loc[0, "scan_range"] == pytest.approx(result.frame.loc[day, "scan_down"])
    assert "horizon" in table.loc[1, "note"] and "no calibrated" in table.loc[2, "note"]
    assert isinstance(VolScanRanges(0.1, 0.1, 0.3, 0.13, "x", 1, 0.99, 100).shocks(30), pd.DataFrame)


def test_parameter_errors():
    with pytest.raises(ParameterError):
        StressRangeModel(confidence=1.2)
    with pytest.raises(InputError, match="method"):
        StressRangeModel(method="magic")
    with pytest.raises(ParameterError, match="floor"):
        StressRangeModel(floor=0.3, cap=0.2)
    with pytest.raises(ParameterError):
        AntiProcyclicality(buffer=-0.1)
    with pytest.raises(ParameterError):
        AntiProcyclicality(slow_ewma_lambda=1.0)


@pytest.mark.slow
def test_btc_one_day_99_backtest_real_data():
    """Real data: BTC 1-day 99% FHS margin, 2016 -> end of data, refit every 63 days (quality target of the brief)."""
    from marginlab.data import load_daily, log_returns

    returns = log_returns(load_daily("BTC", start="2014-01-01")["close"])
    model = StressRangeModel(confidence=0.99, horizon_days=1, method="fhs", refit_every_days=63, min_obs=730, progress=False)
    result = model.fit(returns)
    backtest = margin_backtest(returns, result.margin_rates("long").loc["2016-01-01":], horizon_days=1, alpha=0.99)
    assert 0.008 <= backtest.exception_rate <= 0.012
    assert not backtest.kupiec.rejected() and not backtest.conditional_coverage.rejected()
    assert backtest.traffic_light["red"] == 0
    assert backtest.green_share >= 0.85


def test_smoothing_is_ewma_of_requirement(simulated):
    returns, garch = simulated
    base = StressRangeModel(confidence=0.99, horizon_days=2, refit_every_days=250, progress=False).fit(returns, garch=garch).frame
    tools = AntiProcyclicality(smoothing_lambda=0.9)
    frame = (
        StressRangeModel(confidence=0.99, horizon_days=2, anti_procyclicality=tools, refit_every_days=250, progress=False)
        .fit(returns, garch=garch)
        .frame
    )
    # hand recursion m_t = 0.9 m_{t-1} + 0.1 r_t, m_0 = r_0
    expected = [base["base_down"].iloc[0]]
    for rate in base["base_down"].iloc[1:6]:
        expected.append(0.9 * expected[-1] + 0.1 * rate)
    np.testing.assert_allclose(frame["scan_down"].iloc[:6], expected)
    assert frame["scan_down"].max() / frame["scan_down"].min() < base["scan_down"].max() / base["scan_down"].min()


def test_out_of_sample_pool_drops_the_seed(simulated):
    returns, garch = simulated
    model = StressRangeModel(confidence=0.99, horizon_days=2, residual_pool="out-of-sample", refit_every_days=250, progress=False)
    frame = model.fit(returns, garch=garch).frame
    day = frame.index[-300]
    z = garch["std_residual"].dropna()
    u = (z.rolling(2).sum() / math.sqrt(2)).dropna()
    seed_dates = garch.index[garch["in_sample"].astype(bool)]
    pool = u.loc[(u.index < day) & ~u.index.isin(seed_dates)].to_numpy()
    assert pool.size >= 250
    expected = -math.expm1(2 * garch.loc[day, "mean"] + garch.loc[day, "vol_h"] * np.quantile(pool, 0.01))
    assert frame.loc[day, "scan_down"] == pytest.approx(expected, rel=1e-10)
    with pytest.raises(InputError, match="residual_pool"):
        StressRangeModel(residual_pool="recent")


def test_extreme_layer_parts(simulated):
    returns, garch = simulated
    for extreme_vol in ("stressed", "current"):
        model = StressRangeModel(confidence=0.99, horizon_days=2, extreme_vol=extreme_vol, refit_every_days=250, progress=False)
        frame = model.fit(returns, garch=garch).frame
        np.testing.assert_allclose(
            frame["extreme_down"],
            np.maximum.reduce([frame["extreme_down_evt"], frame["historical_worst_down"], frame["scan_down"]]),
        )
        # the historical floor is the worst 2-day move of the days before
        day = frame.index[400]
        moves = np.expm1(returns.rolling(2).sum())
        assert frame.loc[day, "historical_worst_down"] == pytest.approx(max(0.0, -moves.loc[: day - pd.Timedelta(days=1)].min()))
    with pytest.raises(InputError, match="extreme_vol"):
        StressRangeModel(extreme_vol="max")


def test_out_of_sample_pool_switch_counts_independent_shocks(simulated):
    # out_of_sample_min_independent=500 at h=2: the seed is kept until 500 * 2 = 1000 overlapping out-of-sample
    # 2-day blocks exist, then dropped; quantiles recomputed here from the residuals directly
    returns, garch = simulated
    model = StressRangeModel(
        confidence=0.99, horizon_days=2, residual_pool="out-of-sample", out_of_sample_min_independent=500,
        refit_every_days=250, progress=False,
    )
    frame = model.fit(returns, garch=garch).frame
    z = garch["std_residual"].dropna()
    u = (z.rolling(2).sum() / math.sqrt(2)).dropna()
    seed_dates = garch.index[garch["in_sample"].astype(bool)]
    out_of_sample = u.loc[~u.index.isin(seed_dates)]
    early = out_of_sample.index[600]  # 600 out-of-sample blocks before it: < 1000, the seed stays in the pool
    late = frame.index[-300]
    assert (out_of_sample.index < late).sum() >= 1000
    for day, pool in (
        (early, u.loc[u.index < early].to_numpy()),
        (late, out_of_sample.loc[out_of_sample.index < late].to_numpy()),
    ):
        expected = -math.expm1(2 * garch.loc[day, "mean"] + garch.loc[day, "vol_h"] * np.quantile(pool, 0.01))
        assert frame.loc[day, "scan_down"] == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ParameterError, match="out_of_sample_min_independent"):
        StressRangeModel(out_of_sample_min_independent=0)
