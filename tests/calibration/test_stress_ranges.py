"""Tests of marginlab.calibration.stress_ranges on simulated data with known truth, hand calculations and one real-data backtest."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from marginlab.analysis.backtest import margin_backtest
from marginlab.calibration.evt import fit_gpd_tail
from marginlab.calibration.garch import rolling_forecast, simulate_garch
from marginlab.calibration.stress_ranges import (
    AntiProcyclicality,
    StressRangeModel,
    VolScanRanges,
    _apply_buffer,
    _blocks,
    tail_coverage_table,
    vol_scan_ranges,
    vol_shock_30d,
)
from marginlab.exceptions import InputError, ParameterError


@pytest.fixture(scope="module")
def simulated():
    returns = simulate_garch(3000, omega=0.05, alpha=0.08, gamma=0.04, beta=0.88, nu=5, rng=3)
    garch = rolling_forecast(returns, "gjr", "t", refit_every_days=250, min_obs=750, horizon_days=2, progress=False)
    return returns, garch


#: The settings these tests were written for (the building blocks, not the recommended methodology that
#: ``StressRangeModel()`` defaults to): GJR skew-t forecasts on an expanding pool, no tool, no cap, stressed extreme vol.
PLAIN = dict(confidence=0.99, anti_procyclicality=None, cap=None, extreme_vol="stressed", vol_model="gjr", distribution="skewt",
             window=None, ewma_decay=0.94, ewma_decay_after_fall=None, pool_window_days=None, extreme_window_days=None)


def _plain_model(**settings):
    """A :class:`StressRangeModel` of :data:`PLAIN` with ``settings`` on top."""
    return StressRangeModel(**{**PLAIN, **settings})


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
    result = _plain_model(confidence=0.99, horizon_days=2, method="fhs", refit_every_days=250, progress=False).fit(
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
    model = _plain_model(confidence=0.99, horizon_days=2, method="fhs", refit_every_days=250, progress=False)
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
        _plain_model(confidence=0.99, horizon_days=2, method="ewma-normal", refit_every_days=250, progress=False)
        .fit(returns, garch=garch)
        .frame
    )
    np.testing.assert_allclose(frame["scan_down"], -np.expm1(frame["vol_forecast"] * stats.norm.ppf(0.01)))


def test_anti_procyclicality_reduces_peak_to_trough_and_monotone(simulated):
    returns, garch = simulated
    base = _plain_model(confidence=0.99, horizon_days=2, refit_every_days=250, progress=False).fit(returns, garch=garch).frame
    for tools in (
        AntiProcyclicality(stressed_weight=0.25),
        AntiProcyclicality(lookback_floor_years=1),
        AntiProcyclicality(slow_ewma_lambda=0.995),
    ):
        # each tool only adds margin, so the peak-to-trough ratio cannot rise unless the peak rises
        frame = (
            _plain_model(confidence=0.99, horizon_days=2, anti_procyclicality=tools, refit_every_days=250, progress=False)
            .fit(returns, garch=garch)
            .frame
        )
        assert (frame["scan_down"] >= base["scan_down"] - 1e-12).all()  # tools only add margin
        assert frame["scan_down"].min() >= base["scan_down"].min()
    buffered = _plain_model(
        confidence=0.99, horizon_days=2, anti_procyclicality=AntiProcyclicality(buffer=0.25), refit_every_days=250, progress=False
    )
    frame = buffered.fit(returns, garch=garch).frame
    assert (frame["scan_down"] <= 1.25 * base["scan_down"] + 1e-12).all() and (
        frame["scan_down"] >= base["scan_down"] - 1e-12
    ).all()


def test_floor_cap_and_flags(simulated):
    returns, garch = simulated
    frame = (
        _plain_model(confidence=0.99, horizon_days=2, floor=0.05, cap=0.08, refit_every_days=250, progress=False)
        .fit(returns, garch=garch)
        .frame
    )
    assert frame["scan_range"].between(0.05, 0.08).all()
    assert frame["floor_binding"].any() or frame["cap_binding"].any()


def test_evt_method_and_latest(simulated):
    returns, garch = simulated
    result = _plain_model(confidence=0.997, horizon_days=2, method="evt", refit_every_days=250, progress=False).fit(
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
    assert ranges.powers_source == "derive-default"
    shocks = ranges.shocks([7, 30, 180])
    # (30 / DTE)^p term structure, p = short-tenor power 0.30 at or below 30 days, long-tenor 0.13 beyond, up AND down
    assert shocks.loc[0, "vol_up"] == pytest.approx(ranges.vol_up_range * (30 / 7) ** 0.3)
    assert shocks.loc[0, "vol_down"] == pytest.approx(ranges.vol_down_range * (30 / 7) ** 0.3)
    assert shocks.loc[2, "vol_up"] == pytest.approx(ranges.vol_up_range * (30 / 180) ** 0.13)
    assert shocks.loc[2, "vol_down"] == pytest.approx(ranges.vol_down_range * (30 / 180) ** 0.13)
    assert shocks["vol_up"].is_monotonic_decreasing
    with pytest.raises(InputError, match="positive"):
        vol_scan_ranges(pd.Series([50.0, -1.0] * 100))


def test_tail_coverage_table(simulated):
    returns, garch = simulated
    result = _plain_model(confidence=0.99, horizon_days=2, refit_every_days=250, progress=False).fit(returns, garch=garch)
    day = str(result.frame.index[100].date())
    table = tail_coverage_table({"SIM": result}, [("SIM", day, 2, -0.5), ("SIM", day, 1, -0.1), ("XYZ", day, 2, -0.1)])
    assert not table.loc[0, "covered_scan"] and table.loc[0, "scan_range"] == pytest.approx(result.frame.loc[day, "scan_down"])
    assert "horizon" in table.loc[1, "note"] and "no calibrated" in table.loc[2, "note"]
    assert isinstance(VolScanRanges(0.1, 0.1, 0.3, 0.13, "x", 1, 0.99, 100).shocks(30), pd.DataFrame)


def test_parameter_errors():
    with pytest.raises(ParameterError):
        _plain_model(confidence=1.2)
    with pytest.raises(InputError, match="method"):
        _plain_model(method="magic")
    with pytest.raises(ParameterError, match="floor"):
        _plain_model(floor=0.3, cap=0.2)
    with pytest.raises(ParameterError):
        AntiProcyclicality(buffer=-0.1)
    with pytest.raises(ParameterError):
        AntiProcyclicality(slow_ewma_lambda=1.0)


@pytest.mark.slow
def test_btc_one_day_99_backtest_real_data():
    """Real data: BTC 1-day 99% FHS margin, 2016 -> end of data, refit every 63 days (quality target of the brief)."""
    from marginlab.data import load_daily, log_returns

    returns = log_returns(load_daily("BTC", start="2014-01-01")["close"])
    model = _plain_model(confidence=0.99, horizon_days=1, method="fhs", refit_every_days=63, min_obs=730, progress=False)
    result = model.fit(returns)
    backtest = margin_backtest(returns, result.margin_rates("long").loc["2016-01-01":], horizon_days=1, alpha=0.99)
    assert 0.008 <= backtest.exception_rate <= 0.012
    assert not backtest.kupiec.rejected() and not backtest.conditional_coverage.rejected()
    assert backtest.traffic_light["red"] == 0
    assert backtest.green_share >= 0.85


def test_smoothing_is_ewma_of_requirement(simulated):
    returns, garch = simulated
    base = _plain_model(confidence=0.99, horizon_days=2, refit_every_days=250, progress=False).fit(returns, garch=garch).frame
    tools = AntiProcyclicality(smoothing_lambda=0.9)
    frame = (
        _plain_model(confidence=0.99, horizon_days=2, anti_procyclicality=tools, refit_every_days=250, progress=False)
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
    model = _plain_model(confidence=0.99, horizon_days=2, residual_pool="out-of-sample", refit_every_days=250, progress=False)
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
        _plain_model(residual_pool="recent")


def test_extreme_layer_parts(simulated):
    returns, garch = simulated
    for extreme_vol in ("stressed", "current"):
        model = _plain_model(confidence=0.99, horizon_days=2, extreme_vol=extreme_vol, refit_every_days=250, progress=False)
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
        _plain_model(extreme_vol="max")


def test_out_of_sample_pool_switch_counts_independent_shocks(simulated):
    # out_of_sample_min_independent=500 at h=2: the seed is kept until 500 * 2 = 1000 overlapping out-of-sample
    # 2-day blocks exist, then dropped; quantiles recomputed here from the residuals directly
    returns, garch = simulated
    model = _plain_model(
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
        _plain_model(out_of_sample_min_independent=0)


# ------------------------------------------------------------------ EWMA volatility, rolling pool, APC order, vol shocks
@pytest.fixture(scope="module")
def simulated_long():
    returns = simulate_garch(2500, omega=0.05, alpha=0.08, gamma=0.04, beta=0.88, nu=5, rng=7)
    return returns


def test_ewma_rolling_pool_rate_by_hand(simulated_long):
    """The rate of date d = -expm1(vol_d sqrt(h) q_p), q_p the numpy quantile of the h-day shocks of the last
    pool_window_days days, vol_d the asymmetric EWMA written out as a loop here."""
    returns = simulated_long
    model = _plain_model(confidence=0.99, horizon_days=2, vol_model="ewma", ewma_decay=0.97, ewma_decay_after_fall=0.87,
                             pool_window_days=400, min_pool=250, min_obs=500, extreme_moves="none", progress=False)
    frame = model.fit(returns).frame
    x = returns.to_numpy()
    variance = [np.mean(x[:30] ** 2)]
    for r in x:
        lam = 0.87 if r < 0 else 0.97
        variance.append(lam * variance[-1] + (1 - lam) * r * r)
    vol = np.sqrt(np.array(variance))  # vol[t] = forecast for day t
    z = x / vol[:-1]
    for t in (800, 1500, 2400):  # the rate set at the close of day t (frame row t + 1)
        blocks = (z[t - 400 + 1 - 1 : t + 1][:-1] + z[t - 400 + 1 : t + 1]) / math.sqrt(2)  # blocks ending t-399..t
        q = np.quantile(blocks, 0.01)
        expected = -math.expm1(vol[t + 1] * math.sqrt(2) * q)
        row = frame.loc[returns.index[t + 1]]
        assert row["pool_size"] == 400
        assert row["scan_down"] == pytest.approx(expected, rel=1e-9)
    assert frame["extreme_move"].isna().all()


def test_no_look_ahead_when_the_data_are_cut(simulated_long):
    """Cutting the history at an earlier date leaves every earlier rate unchanged (APC tool included)."""
    returns = simulated_long
    model = _plain_model(confidence=0.997, horizon_days=2, vol_model="ewma", ewma_decay=0.97, ewma_decay_after_fall=0.87,
                             pool_window_days=1000, anti_procyclicality=AntiProcyclicality(smoothing_lambda=0.985, slow_ewma_lambda=0.995),
                             extreme_moves="none", progress=False)
    full = model.fit(returns).frame
    cut = model.fit(returns.iloc[:1800]).frame
    common = cut.index
    pd.testing.assert_series_equal(full.loc[common, "scan_down"], cut["scan_down"], rtol=1e-12)


def test_floor_is_applied_before_smoothing(simulated_long):
    """With a floor and smoothing, the result is the EWMA of max(base, floor): a jump of the floor is phased in."""
    returns = simulated_long
    tools = AntiProcyclicality(smoothing_lambda=0.9, slow_ewma_lambda=0.995)
    kwargs = dict(confidence=0.99, horizon_days=1, vol_model="ewma", pool_window_days=500, extreme_moves="none", progress=False)
    base = _plain_model(**kwargs).fit(returns).frame
    floored = _plain_model(**kwargs, anti_procyclicality=AntiProcyclicality(slow_ewma_lambda=0.995)).fit(returns).frame
    smoothed = _plain_model(**kwargs, anti_procyclicality=tools).fit(returns).frame
    expected = floored["scan_down"].ewm(alpha=0.1, adjust=False).mean()
    np.testing.assert_allclose(smoothed["scan_down"].to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert (floored["scan_down"] >= base["scan_down"] - 1e-15).all()
    # smoothing: no one-day rise above (1 - s) x the day's jump of the floored rate
    rise = smoothed["scan_down"].diff().max()
    assert rise <= 0.1 * floored["scan_down"].diff().max() + 1e-12 or rise <= 0.1 * floored["scan_down"].max()


def test_extreme_moves_last_matches_all_on_the_last_date(simulated):
    returns, garch = simulated
    kwargs = dict(confidence=0.99, horizon_days=2, refit_every_days=250, progress=False)
    every = _plain_model(**kwargs, extreme_moves="all").fit(returns, garch=garch).frame
    last = _plain_model(**kwargs, extreme_moves="last").fit(returns, garch=garch).frame
    assert last["extreme_move"].iloc[:-1].isna().all()
    assert last["extreme_move"].iloc[-1] == pytest.approx(every["extreme_move"].iloc[-1], rel=1e-9) or (
        (len(every) - 1) % 250 != 0  # "all" reuses a fit made up to 249 days earlier; "last" refits on the last date
    )
    pd.testing.assert_series_equal(every["scan_down"], last["scan_down"])
    with pytest.raises(InputError, match="extreme_moves"):
        _plain_model(extreme_moves="some")  # type: ignore[arg-type]


def test_vol_shock_30d_scaled_realised_by_hand():
    from marginlab.calibration.methodology import VolShockSpec
    from marginlab.stats.ewma import ewma_volatility

    days = pd.date_range("2020-01-01", periods=1500, tz="UTC")
    rng = np.random.default_rng(1)
    dvol = pd.Series(60 * np.exp(np.cumsum(rng.normal(0, 0.04, 1500))), index=days)
    ref_returns = pd.Series(rng.normal(0, 0.03, 1500), index=days)
    returns = pd.Series(rng.standard_t(4, 1500) * 0.05, index=days)
    spec = VolShockSpec(cap_up=5.0, cap_down=0.9)
    up, down, source = vol_shock_30d("XYZ", returns, None, {"BTC": (dvol, ref_returns)}, spec)

    def quantiles(levels):
        changes = np.log(levels).diff(2).dropna().to_numpy()
        return np.quantile(changes, [0.01, 0.99])

    implied_low, implied_high = quantiles(dvol)
    _, ref_high = quantiles(ewma_volatility(ref_returns, 0.94))
    _, own_high = quantiles(ewma_volatility(returns, 0.94))
    assert up == pytest.approx(math.expm1(implied_high / ref_high * own_high))
    assert down == pytest.approx(-math.expm1(implied_low))
    assert source.startswith("realised vol scaled")
    capped_up, _, capped_source = vol_shock_30d("XYZ", returns, None, {"BTC": (dvol, ref_returns)}, VolShockSpec(cap_up=0.01))
    assert capped_up == 0.01 and "capped" in capped_source
    direct_up, direct_down, direct_source = vol_shock_30d("BTC", ref_returns, dvol, {}, spec)
    assert direct_up == pytest.approx(math.expm1(implied_high)) and direct_source == "implied-vol index"


def test_historical_floor_of_the_last_row_and_its_window():
    """The row after the data (what a calibration publishes) carries the worst h-day moves known, over the window."""
    rng = np.random.default_rng(11)
    values = rng.normal(0, 0.02, 1400)
    values[100] = -0.5  # an early crash (a 39% fall), outside a 500-day window at the end
    values[1300] = -0.2  # a recent one (18%)
    returns = pd.Series(values, index=pd.date_range("2020-01-01", periods=1400, tz="UTC"))
    kwargs = dict(confidence=0.99, horizon_days=1, vol_model="ewma", pool_window_days=500, extreme_moves="last",
                  extreme_vol="current", progress=False)
    whole = _plain_model(**kwargs).fit(returns).latest()
    recent = _plain_model(**kwargs, extreme_window_days=500).fit(returns).latest()
    assert whole["historical_worst_down"] == pytest.approx(-math.expm1(-0.5))
    assert recent["historical_worst_down"] == pytest.approx(-math.expm1(-0.2))
    assert recent["extreme_down"] >= recent["historical_worst_down"]
    with pytest.raises(ParameterError, match="extreme_window_days"):
        _plain_model(extreme_window_days=1)


# ------------------------------------------------------------------ the vectorised pool quantiles and the shared tail fits
def test_pool_quantiles_of_every_date_match_a_per_date_numpy_reference(simulated):
    """quantile_down/up of every date = np.quantile of that date's pool, built here date by date: the h-day blocks of
    the asset's residuals and of another asset's known strictly before d, in the rolling window, without the seed
    once the out-of-sample count is reached (the fit takes them all at once from sliding windows)."""
    returns, garch = simulated
    other = pd.Series(np.random.default_rng(11).standard_t(5, 1800) / math.sqrt(5 / 3),
                      index=garch.index[-1800:] - pd.Timedelta(days=700)).rename("other")
    # an asset whose shocks all come before the seed ends: the newest shock of the early dates is a seed
    early = pd.Series(other.to_numpy()[:600], index=garch.index[:600] - pd.Timedelta(days=400)).rename("early")
    for residual_pool, window, pool in (("out-of-sample", None, None), ("out-of-sample", 900, {"other": other}),
                                        ("all", 900, {"other": other}), ("out-of-sample", None, {"early": early})):
        model = _plain_model(confidence=0.99, horizon_days=2, method="evt", residual_pool=residual_pool,
                                 pool_window_days=window, extreme_moves="none", progress=False)
        frame = model.fit(returns, garch=garch, pool=pool).frame
        z = garch["std_residual"].dropna()
        seed_dates = garch.index[garch["in_sample"].astype(bool)]
        own = (z.rolling(2).sum() / math.sqrt(2)).dropna()
        blocks = [(own, own.index.isin(seed_dates))]
        if pool:
            shocks = (next(iter(pool.values())).rolling(2).sum() / math.sqrt(2)).dropna()
            blocks.append((shocks, np.zeros(shocks.size, dtype=bool)))
        values = np.concatenate([b.to_numpy() for b, _ in blocks])
        def nanoseconds(index):  # UTC nanoseconds (the simulated dates are naive, the frame's UTC)
            index = pd.DatetimeIndex(index)
            return (index.tz_localize("UTC") if index.tz is None else index).as_unit("ns").asi8

        known = np.concatenate([nanoseconds(b.index) for b, _ in blocks])
        seed = np.concatenate([s for _, s in blocks])
        for day, row in zip(nanoseconds(frame.index[::7]), frame.iloc[::7].itertuples()):
            before = known < day
            if window is not None:
                newest = known[before].max()
                before &= known > newest - window * 86_400_000_000_000
            if residual_pool == "out-of-sample" and (~seed & (known < day)).sum() >= 250:
                before &= ~seed
            expected = np.quantile(values[before], [0.01, 0.99])
            np.testing.assert_allclose([row.quantile_down, row.quantile_up], expected, rtol=1e-12, atol=0)


def test_tail_fits_are_shared_and_unchanged(simulated):
    """A model whose pool another model already fitted looks the GPD fits up: same frame as with fresh fits."""
    from marginlab.calibration import stress_ranges

    returns, garch = simulated
    stress_ranges._GPD_CACHE.clear()
    fresh = {method: _plain_model(confidence=0.99, horizon_days=2, method=method, refit_every_days=250, progress=False)
             .fit(returns, garch=garch).frame for method in ("evt", "fhs")}
    assert len(stress_ranges._GPD_CACHE) > 0
    shared = _plain_model(confidence=0.99, horizon_days=2, method="evt", refit_every_days=250, progress=False).fit(returns, garch=garch)
    pd.testing.assert_frame_equal(shared.frame, fresh["evt"], check_exact=True)
    for column in ("extreme_down_evt", "extreme_up_evt"):  # one pool, one tail model, whatever the quantile method
        pd.testing.assert_series_equal(fresh["fhs"][column], fresh["evt"][column], check_exact=True)
    # the last fit is the GPD of the last date's pool, fitted here directly
    z = garch["std_residual"].dropna()
    u = pd.Series(_blocks(z.to_numpy(), 2), index=z.index[1:])  # the shocks exactly as the fit forms them
    u.index = u.index.tz_localize("UTC") if u.index.tz is None else u.index
    last = u.loc[u.index < shared.frame.index[-1]].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = fit_gpd_tail(last, "lower", 0.90)
    assert shared.tail_fits["lower"] == direct
