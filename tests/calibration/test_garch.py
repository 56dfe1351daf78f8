"""Tests of marginlab.calibration.garch: known truth (simulation), arch's own filter/forecasts, no look-ahead, fallbacks."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from arch import arch_model

from marginlab.calibration import garch as garch_module
from marginlab.calibration.garch import (
    ewma_variance_forecasts,
    ewma_volatility,
    fit_garch,
    rolling_forecast,
    select_garch,
    simulate_garch,
)
from marginlab.exceptions import BoundaryWarning, CalibrationError, ConvergenceWarning, InputError


@pytest.fixture(scope="module")
def gjr_returns():
    # true percent-scale GJR: omega 0.1, alpha 0.05, gamma 0.1, beta 0.85 (persistence 0.95), Student-t(6) shocks
    return simulate_garch(4000, omega=0.1, alpha=0.05, gamma=0.1, beta=0.85, nu=6, rng=11)


def test_recovers_true_parameters(gjr_returns):
    fit = fit_garch(gjr_returns, "gjr", "t", diagnostics=False)
    assert fit.status == "converged"
    truth = {"omega": 0.1, "alpha[1]": 0.05, "gamma[1]": 0.1, "beta[1]": 0.85, "nu": 6.0}
    for name, value in truth.items():
        assert abs(fit.params[name] - value) < 4 * fit.std_errors[name] + 1e-3, name
    assert fit.persistence == pytest.approx(0.95, abs=0.06)  # alpha + gamma/2 + beta; sampling error about 0.02-0.03


def test_matches_arch_filter_and_analytic_forecast(gjr_returns):
    fit = fit_garch(gjr_returns, "gjr", "t", diagnostics=False)
    reference = arch_model(100 * gjr_returns, vol="GARCH", p=1, o=1, q=1, dist="t", rescale=False).fit(disp="off")
    # conditional vol is arch's, converted to fractions
    np.testing.assert_allclose(fit.conditional_vol.to_numpy(), reference.conditional_volatility.to_numpy() / 100, rtol=1e-4)
    # our numpy recursion, filtered from arch's first variance, reproduces arch's path
    eps = 100 * gjr_returns.to_numpy() - reference.params["mu"]
    path = garch_module._filter_variance("gjr", reference.params.to_dict(), eps, reference.conditional_volatility.iloc[0] ** 2)
    np.testing.assert_allclose(np.sqrt(path[:-1]), reference.conditional_volatility.to_numpy(), rtol=1e-6)
    # multi-step forecasts equal arch's analytic forecasts
    expected = np.sqrt(reference.forecast(horizon=10, reindex=False).variance.to_numpy()[-1]) / 100
    np.testing.assert_allclose(fit.forecast_vol(10), expected, rtol=2e-3)


def test_loglikelihood_on_fraction_scale(gjr_returns):
    fit = fit_garch(gjr_returns, "garch", "normal", diagnostics=False)
    reference = arch_model(100 * gjr_returns, vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(disp="off")
    # density of r = y / 100 is 100 f_y(100 r): log f_r = log f_y + ln 100 per observation
    assert fit.loglikelihood == pytest.approx(reference.loglikelihood + len(gjr_returns) * math.log(100), rel=1e-6)
    assert fit.bic == pytest.approx(-2 * fit.loglikelihood + 4 * math.log(len(gjr_returns)), rel=1e-9)
    assert fit.aic == pytest.approx(-2 * fit.loglikelihood + 2 * 4, rel=1e-9)


@pytest.mark.parametrize(("vol_model", "distribution", "o"), [("garch", "normal", 0), ("gjr", "t", 1)])
def test_loglikelihood_is_arch_own_on_the_fractional_returns(gjr_returns, vol_model, distribution, o):
    """Independent check (issue 19): ``arch`` evaluates the same model on the *fractional* returns themselves.

    The percent-scale fit maps to the fractional model by ``mu / 100``, ``omega / 100**2`` (alpha, gamma, beta and
    the shape parameters are scale free); ``arch``'s ``fix`` gives the log-likelihood of those returns at those
    parameters, which must be ours (the scale term enters with a plus sign: BTC GARCH(1,1)-normal is +8,487.97,
    not -30,969.13).
    """
    fit = fit_garch(gjr_returns, vol_model, distribution, diagnostics=False)
    fractional = fit.params.copy()
    fractional["mu"] /= 100.0
    fractional["omega"] /= 100.0**2
    model = arch_model(gjr_returns, vol="GARCH", p=1, o=o, q=1, dist=distribution, rescale=False)
    fixed = model.fix(fractional.to_numpy())  # arch's parameter order: mean, volatility, distribution
    assert fit.loglikelihood == pytest.approx(fixed.loglikelihood, rel=1e-7)
    # and arch's own fit of the fractional returns (started at our optimum: from its default start the optimiser,
    # badly scaled on fractions -- why arch rescales --, fails for the t); it ends at most a little lower
    own = model.fit(starting_values=fractional.to_numpy(), disp="off", show_warning=False)
    assert fit.loglikelihood == pytest.approx(own.loglikelihood, rel=2e-3)
    assert fit.loglikelihood >= own.loglikelihood - 1e-6 * abs(own.loglikelihood)
    assert fit.loglikelihood > 0  # daily fractional returns of a few percent: densities well above 1
    k = len(fit.params)
    assert fit.bic == pytest.approx(-2 * fixed.loglikelihood + k * math.log(len(gjr_returns)), rel=1e-7)


def test_diagnostics_table(gjr_returns):
    fit = fit_garch(gjr_returns.iloc[:2000], "gjr", "t")
    tests = list(fit.diagnostics["test"])
    assert tests == [
        "ljung_box_std_residuals",
        "ljung_box_squared_std_residuals",
        "arch_lm_std_residuals",
        "parameter_stability_halves",
    ]
    # a correctly specified model leaves no ARCH effect in z
    assert fit.diagnostics.set_index("test").loc["arch_lm_std_residuals", "p_value"] > 0.01
    assert "gjr" in fit.summary()


def test_select_garch_prefers_true_family(gjr_returns):
    selection = select_garch(gjr_returns, candidates=[("garch", "normal"), ("gjr", "normal"), ("gjr", "t")])
    assert (selection.best.vol_model, selection.best.distribution) == ("gjr", "t")
    assert selection.table["rank"].tolist() == [1, 2, 3]
    aic = select_garch(gjr_returns, candidates=[("garch", "normal"), ("gjr", "t")], criterion="aic")
    assert aic.criterion == "aic"


def test_ewma_hand_calculation():
    returns = pd.Series([0.01, -0.02, 0.03, 0.0])
    vol = ewma_volatility(returns, decay=0.9)
    # backcast over 4 obs with weights 0.94^i normalised; then sigma2_{t+1} = 0.9 sigma2_t + 0.1 r_t^2 (percent scale)
    weights = 0.94 ** np.arange(4) / np.sum(0.94 ** np.arange(4))
    s2 = float(np.sum(weights * (100 * returns.to_numpy()) ** 2))
    expected = [s2]
    for r in returns.to_numpy()[:-1]:
        s2 = 0.9 * s2 + 0.1 * (100 * r) ** 2
        expected.append(s2)
    np.testing.assert_allclose(vol.to_numpy(), np.sqrt(expected) / 100)


def test_ewma_variance_forecasts_conventions_against_arch_and_pandas():
    from arch.univariate import EWMAVariance, ZeroMean

    returns = np.random.default_rng(3).normal(0.0, 2.0, size=(300, 2))
    # backcast seed: arch's own EWMA(0.94) filter gives the in-sample conditional volatility (rows [:n])
    arch_vol = ZeroMean(returns[:, 0], volatility=EWMAVariance(0.94)).fix([]).conditional_volatility
    np.testing.assert_allclose(np.sqrt(ewma_variance_forecasts(returns[:, 0])[:-1]), arch_vol, rtol=1e-12)
    # mean seed over 1 day, rows [1:]: pandas ewm(adjust=False) of the squared returns (the "including today" estimate)
    pandas = (pd.DataFrame(returns) ** 2).ewm(alpha=0.1, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(ewma_variance_forecasts(returns, 0.9, seed="mean", seed_days=1)[1:], pandas, rtol=1e-12)
    # mean seed over 30 days, hand recursion; given-variance seed
    v = float(np.mean(returns[:30, 1] ** 2))
    for r in returns[:5, 1]:
        v = 0.94 * v + 0.06 * r * r
    assert ewma_variance_forecasts(returns[:, 1], seed="mean", seed_days=30)[5] == pytest.approx(v, rel=1e-12)
    assert ewma_variance_forecasts(np.array([0.0]), 0.5, seed=4.0).tolist() == [4.0, 2.0]
    with pytest.raises(InputError, match="seed"):
        ewma_variance_forecasts(returns, seed="median")
    with pytest.raises(InputError, match="returns"):
        ewma_variance_forecasts(np.array([np.nan]))


def test_fallback_on_failed_fit(monkeypatch, gjr_returns):
    monkeypatch.setattr(garch_module, "_arch_fit", lambda *args, **kwargs: (None, ["arch fit raised ValueError: boom"]))
    with pytest.warns(ConvergenceWarning, match="EWMA"):
        fit = fit_garch(gjr_returns, diagnostics=False)
    assert fit.status == "fallback-ewma" and not fit.converged
    assert np.all(np.diff(fit.forecast_vol(5)) == 0)  # EWMA forecasts are flat
    with pytest.raises(CalibrationError):
        fit_garch(gjr_returns, diagnostics=False, fallback=False)


def test_boundary_warning_on_iid_returns():
    # i.i.d. returns: no ARCH reaction, the fit sits on the alpha = 0 boundary
    returns = pd.Series(0.02 * np.random.default_rng(5).standard_normal(1500))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_garch(returns, "garch", "normal", diagnostics=False)
    if fit.params["alpha[1]"] < 1e-4:
        assert fit.status == "boundary"
        assert any(issubclass(w.category, BoundaryWarning) for w in caught)
        with pytest.warns(BoundaryWarning):
            assert fit_garch(returns, "garch", "normal", diagnostics=False, boundary_policy="fallback").status == "fallback-ewma"


def test_rolling_forecast_no_look_ahead(gjr_returns):
    returns = gjr_returns.iloc[:900]
    frame = rolling_forecast(returns, "garch", "normal", refit_every_days=50, min_obs=600, horizon_days=2, progress=False)
    assert frame.index[0] == returns.index[1] and frame.index[-1] == returns.index[-1] + pd.Timedelta(days=1)
    # tamper with the future: forecasts for dates up to the tamper date are unchanged
    tampered = returns.copy()
    tampered.iloc[750:] *= 3.0
    other = rolling_forecast(tampered, "garch", "normal", refit_every_days=50, min_obs=600, horizon_days=2, progress=False)
    cut = returns.index[750]
    pd.testing.assert_series_equal(frame.loc[:cut, "vol_1d"], other.loc[:cut, "vol_1d"])
    assert not np.allclose(frame.loc[cut + pd.Timedelta(days=1) :, "vol_1d"], other.loc[cut + pd.Timedelta(days=1) :, "vol_1d"])
    # the out-of-sample residual of a date is its return standardised by the forecast made the day before
    row = frame.loc[returns.index[700]]
    assert row["std_residual"] == pytest.approx((returns.iloc[700] - row["mean"]) / row["vol_1d"])
    # h-day vol is the root of the summed daily variances
    np.testing.assert_allclose(frame["vol_h"], np.sqrt(frame["vol_day_1"] ** 2 + frame["vol_day_2"] ** 2))
    assert frame.loc[: returns.index[599], "in_sample"].all() and not frame.loc[returns.index[600] :, "in_sample"].any()


def test_rolling_matches_single_fit_on_refit_day(gjr_returns):
    returns = gjr_returns.iloc[:700]
    frame = rolling_forecast(returns, "garch", "normal", refit_every_days=1000, min_obs=700, progress=False)
    fit = fit_garch(returns, "garch", "normal", diagnostics=False)
    assert frame["vol_1d"].iloc[-1] == pytest.approx(fit.forecast_vol(1)[0], rel=1e-3)


def test_rolling_forecast_dataframe_parallel(gjr_returns):
    panel = pd.DataFrame({"A": gjr_returns.iloc[:650], "B": gjr_returns.iloc[650:1300].set_axis(gjr_returns.index[:650])})
    frame = rolling_forecast(panel, "garch", "normal", refit_every_days=100, min_obs=600, n_jobs=2, progress=False)
    assert set(frame.columns.get_level_values(0)) == {"A", "B"}
    assert frame["A"]["vol_1d"].notna().all()


def test_input_errors():
    with pytest.raises(InputError, match="percent"):
        fit_garch(pd.Series(2.0 * np.random.default_rng(0).standard_normal(500)))
    with pytest.raises(InputError, match="finite"):
        fit_garch(pd.Series([0.01, np.nan] * 100))
    with pytest.raises(InputError, match="at least"):
        fit_garch(pd.Series([0.01, -0.01] * 10))
    with pytest.raises(InputError, match="vol_model"):
        fit_garch(pd.Series([0.01, -0.01] * 100), vol_model="figarch")
    with pytest.raises(InputError, match="window"):
        rolling_forecast(pd.Series([0.01, -0.01] * 400), min_obs=500, window=100)


def test_asymmetric_ewma_hand_calculation_and_symmetric_case():
    from marginlab.calibration.garch import asymmetric_ewma_variance
    from marginlab.stats.ewma import ewma_variance_forecasts

    r = np.array([0.02, -0.03, 0.01, -0.05])
    out = asymmetric_ewma_variance(r, 0.9, 0.8, seed_days=2)
    s0 = (0.02**2 + 0.03**2) / 2  # mean of the first two squared returns
    s1 = 0.9 * s0 + 0.1 * 0.02**2  # a rise: decay 0.9
    s2 = 0.8 * s1 + 0.2 * 0.03**2  # a fall: decay 0.8
    s3 = 0.9 * s2 + 0.1 * 0.01**2
    s4 = 0.8 * s3 + 0.2 * 0.05**2
    np.testing.assert_allclose(out, [s0, s1, s2, s3, s4], rtol=1e-14)
    np.testing.assert_allclose(asymmetric_ewma_variance(r, 0.9, 0.9, seed_days=2),
                               ewma_variance_forecasts(r, 0.9, seed="mean", seed_days=2), rtol=1e-14)
    with pytest.raises(Exception, match="decay_after_fall"):
        asymmetric_ewma_variance(r, 0.9, 1.5)


def test_ewma_forecast_frame_no_look_ahead_and_alignment():
    from marginlab.calibration.garch import asymmetric_ewma_variance, ewma_forecast

    rng = np.random.default_rng(5)
    returns = pd.Series(rng.normal(0, 0.03, 900), index=pd.date_range("2020-01-01", periods=900, tz="UTC"))
    frame = ewma_forecast(returns, 0.97, 0.87, min_obs=500, horizon_days=2)
    variance = asymmetric_ewma_variance(returns.to_numpy(), 0.97, 0.87)
    # row for date index[k+1] = forecast made with returns up to index[k]
    assert frame.loc[returns.index[600], "vol_1d"] == pytest.approx(math.sqrt(variance[600]))
    assert frame.loc[returns.index[600], "std_residual"] == pytest.approx(returns.iloc[600] / math.sqrt(variance[600]))
    assert frame.loc[returns.index[600], "vol_h"] == pytest.approx(math.sqrt(2 * variance[600]))
    assert int((~frame["in_sample"]).sum()) == 900 - 499  # forecasts made at the 500th .. 900th return
    cut = ewma_forecast(returns.iloc[:700], 0.97, 0.87, min_obs=500, horizon_days=2)
    # cutting the data leaves every earlier forecast unchanged; the last row (the day after the cut) has no realised return yet
    pd.testing.assert_frame_equal(cut.iloc[:-1], frame.loc[cut.index[:-1]], check_freq=False)
    assert cut["vol_1d"].iloc[-1] == frame.loc[cut.index[-1], "vol_1d"] and np.isnan(cut["std_residual"].iloc[-1])
