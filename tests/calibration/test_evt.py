"""Tests of the peaks-over-threshold GPD tails (marginlab.calibration.evt)."""

import numpy as np
import pytest
from scipy import stats

from marginlab.calibration.evt import GpdTailFit, evt_quantile, fit_gpd_tail
from marginlab.exceptions import CalibrationError, InputError, ParameterError


def test_quantile_formula_hand_calculation():
    # u = 2, beta = 0.5, xi = 0.2, N_u / n = 0.1, p = 0.99:
    # VaR = 2 + 0.5 / 0.2 * ((0.01 / 0.1) ** -0.2 - 1) = 2 + 2.5 * (10 ** 0.2 - 1) = 2 + 2.5 * 0.584893 = 3.462233
    fit = GpdTailFit("lower", 2.0, 0.2, 0.5, 100, 1000, 0.9)
    assert evt_quantile(fit, 0.99) == pytest.approx(3.462233, rel=1e-6)
    # xi -> 0 limit: u - beta ln(0.1) = 2 + 0.5 * 2.302585 = 3.151293
    exponential = GpdTailFit("lower", 2.0, 0.0, 0.5, 100, 1000, 0.9)
    assert evt_quantile(exponential, 0.99) == pytest.approx(3.151293, rel=1e-6)


def test_exponential_tail_recovers_exact_quantile():
    # Laplace(0, 1): the lower tail beyond any threshold is exponential (xi = 0, beta = 1);
    # exact 99.9% quantile of the loss: -ln(2 * 0.001) = 6.2146
    sample = np.random.default_rng(0).laplace(size=50_000)
    fit = fit_gpd_tail(sample, "lower", 0.95)
    assert abs(fit.shape) < 0.08
    assert fit.scale == pytest.approx(1.0, rel=0.08)
    assert evt_quantile(fit, 0.999) == pytest.approx(-np.log(2 * 0.001), rel=0.05)


def test_student_t_tail_index_and_upper_tail():
    # Student-t with 3 d.o.f.: tail index xi = 1/3; exact 99.9% quantile from scipy
    sample = np.random.default_rng(1).standard_t(3, 100_000)
    upper = fit_gpd_tail(sample, "upper", 0.95)
    assert upper.shape == pytest.approx(1 / 3, abs=0.1)
    assert evt_quantile(upper, 0.999) == pytest.approx(stats.t.ppf(0.999, 3), rel=0.08)


def test_quantile_monotone_in_confidence():
    fit = fit_gpd_tail(np.random.default_rng(2).standard_t(4, 5000))
    quantiles = evt_quantile(fit, np.array([0.95, 0.99, 0.999, 0.9999]))
    assert np.all(np.diff(quantiles) > 0)


def test_errors():
    with pytest.raises(CalibrationError, match="exceedances"):
        fit_gpd_tail(np.arange(100.0), min_exceedances=30)
    with pytest.raises(InputError, match="tail"):
        fit_gpd_tail(np.arange(1000.0), tail="left")
    with pytest.raises(ParameterError):
        fit_gpd_tail(np.arange(1000.0), threshold_quantile=0.3)
    fit = GpdTailFit("lower", 2.0, 0.2, 0.5, 100, 1000, 0.9)
    with pytest.raises(ParameterError, match="threshold level"):
        evt_quantile(fit, 0.8)
