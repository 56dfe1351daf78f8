"""Tests of marginlab.stats.risk_measures against hand calculations and closed forms."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from marginlab.exceptions import InputError, ParameterError
from marginlab.stats.risk_measures import expected_shortfall, tail_measures, value_at_risk


def test_hand_example():
    # sample -3, -1, 0, 1, 2; 25% quantile with linear interpolation: position 0.25 * 4 = 1 -> -1
    sample = [-3.0, -1.0, 0.0, 1.0, 2.0]
    assert value_at_risk(sample, 0.75) == pytest.approx(1.0)
    # observations at or below -1: {-3, -1}, mean -2 -> ES 2
    assert expected_shortfall(sample, 0.75) == pytest.approx(2.0)


def test_normal_closed_form():
    # closed forms for N(0, 1): VaR = z_alpha, ES = phi(z_alpha) / (1 - alpha)
    sample = stats.norm.ppf((np.arange(200_000) + 0.5) / 200_000)
    alpha = 0.975
    assert value_at_risk(sample, alpha) == pytest.approx(stats.norm.ppf(alpha), rel=1e-3)
    assert expected_shortfall(sample, alpha) == pytest.approx(stats.norm.pdf(stats.norm.ppf(alpha)) / (1 - alpha), rel=1e-3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=5, max_size=200), st.floats(0.5, 0.995))
def test_es_at_least_var_and_translation(sample, alpha):
    var, es = value_at_risk(sample, alpha), expected_shortfall(sample, alpha)
    assert es >= var - 1e-9
    # translation: adding c to profits lowers both by c
    assert value_at_risk(np.asarray(sample) + 10.0, alpha) == pytest.approx(var - 10.0, abs=1e-6)


def test_bad_input():
    with pytest.raises(ParameterError):
        value_at_risk([1.0, 2.0], 1.5)
    with pytest.raises(InputError, match="sample"):
        expected_shortfall([1.0, np.nan], 0.9)
    with pytest.raises(InputError):
        value_at_risk([], 0.9)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=200), st.floats(0.5, 0.995))
def test_tail_measures_is_the_inverted_cdf_quantile(losses, alpha):
    # order-statistic convention: VaR = numpy's inverted_cdf alpha-quantile of the losses, ES = mean of the
    # k = ceil((1 - alpha) n) largest (computed here by sorting)
    values = np.array(losses)
    var, es, tail = tail_measures(values, alpha)
    k = max(1, int(np.ceil(round((1 - alpha) * len(values), 9))))
    assert len(tail) == k
    assert var == np.sort(values)[::-1][k - 1]
    assert es == pytest.approx(np.sort(values)[::-1][:k].mean(), rel=1e-12, abs=1e-9)
    if round(alpha * len(values), 9) % 1:  # away from ties of alpha * n with an integer, where rounding decides
        assert var == np.quantile(values, alpha, method="inverted_cdf")
    with pytest.raises(InputError):
        tail_measures(np.array([]), alpha)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 120), st.floats(0.5, 0.995), st.integers(0, 2**32 - 1))
def test_tail_measures_by_row_is_tail_measures_of_each_row(rows, columns, alpha, seed):
    from marginlab.stats.risk_measures import tail_measures_by_row

    losses = np.round(np.random.default_rng(seed).normal(0.0, 100.0, (rows, columns)), 1)  # rounded: ties happen
    var, es = tail_measures_by_row(losses, alpha)
    for row, (v, e) in enumerate(zip(var, es)):
        reference = tail_measures(losses[row], alpha)
        assert v == reference[0]
        assert e == pytest.approx(reference[1], rel=1e-12, abs=1e-9)
