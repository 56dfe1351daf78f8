"""Tests of marginlab.stats.ewma against arch's own EWMA variance process and hand calculations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from arch.univariate import EWMAVariance
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.exceptions import InputError, ParameterError
from marginlab.stats.ewma import backcast, ewma_variance_forecasts, ewma_volatility, ewma_volatility_forecasts


def _arch_ewma(returns: np.ndarray, decay: float) -> np.ndarray:
    """sigma2_t of arch's EWMAVariance (its backcast seed), t = 0..n-1."""
    process = EWMAVariance(decay)
    sigma2 = np.empty_like(returns)
    bounds = np.tile([0.0, np.inf], (returns.size, 1))
    process.compute_variance(np.empty(0), returns, sigma2, process.backcast(returns), bounds)
    return sigma2


@pytest.mark.parametrize("decay", [0.94, 0.97, 0.995])
def test_ewma_volatility_matches_arch_ewma_variance(decay):
    returns = np.random.default_rng(3).standard_t(4, 600) * 0.03
    ours = ewma_volatility(pd.Series(returns), decay=decay).to_numpy() ** 2
    np.testing.assert_allclose(ours, _arch_ewma(returns, decay), rtol=1e-12)


def test_backcast_matches_arch():
    returns = np.random.default_rng(1).normal(0, 0.02, 300)
    assert backcast(returns) == pytest.approx(float(EWMAVariance(0.94).backcast(returns)), rel=1e-12)


def test_hand_recursion():
    # seed = mean of first square 0.01; v1 = 0.5*0.01 + 0.5*0.01 = 0.01; v2 = 0.5*0.01 + 0.5*0.04 = 0.025
    np.testing.assert_allclose(ewma_variance_forecasts(np.array([0.1, 0.2]), 0.5, seed="mean", seed_days=1), [0.01, 0.01, 0.025])
    np.testing.assert_allclose(ewma_volatility_forecasts(np.full(5, 0.03)), 0.03, rtol=1e-12)


def test_include_next_appends_the_forecast_for_the_day_after():
    index = pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC")
    vol = ewma_volatility(pd.Series(np.full(10, 0.02), index=index), include_next=True)
    assert len(vol) == 11 and vol.index[-1] == pd.Timestamp("2024-01-11", tz="UTC")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-0.3, 0.3), min_size=2, max_size=60), st.floats(0.5, 0.999))
def test_variance_is_bounded_by_the_seed_and_the_largest_square(values, decay):
    returns = np.array(values)
    variance = ewma_variance_forecasts(returns, decay, seed="mean", seed_days=1)
    assert np.all(variance >= -1e-15)
    assert np.all(variance <= max(returns.max() ** 2, returns.min() ** 2) + 1e-12)


def test_bad_input():
    with pytest.raises(ParameterError, match="decay"):
        ewma_variance_forecasts(np.ones(3), 1.0)
    with pytest.raises(InputError, match="returns"):
        ewma_volatility(pd.Series([0.01, np.nan, 0.02]))
    with pytest.raises(InputError, match="seed"):
        ewma_variance_forecasts(np.ones(3), 0.9, seed="median")
