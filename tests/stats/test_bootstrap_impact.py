"""Tests of marginlab.stats.bootstrap and marginlab.stats.impact (closed forms and hand calculations)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from marginlab.exceptions import InputError, ParameterError
from marginlab.stats.bootstrap import asset_generators, fhs_horizon_returns
from marginlab.stats.impact import square_root_impact


def test_fhs_of_normal_residuals_has_the_closed_form_quantile():
    """z ~ N(0,1), sigma = 2% flat over 3 days: R ~ N(0, 0.02^2 * 3); 1% quantile = -0.02 sqrt(3) 2.326."""
    z = np.random.default_rng(0).standard_normal(50_000)
    simulated = fhs_horizon_returns(z, 0.02, 3, n_simulations=200_000, rng=1)
    expected = 0.02 * math.sqrt(3) * stats.norm.ppf(0.01)
    assert np.quantile(simulated, 0.01) == pytest.approx(expected, rel=0.02)


def test_fhs_uses_the_volatility_path_day_by_day():
    # residuals +-1: each path is sum_k sigma_k (+-1); with sigma = (1%, 2%) the outcomes are +-1% +-2%
    outcomes = set(np.round(fhs_horizon_returns(np.array([-1.0, 1.0] * 10), [0.01, 0.02], 2, 1000, rng=0), 9))
    assert outcomes == {-0.03, -0.01, 0.01, 0.03}


def test_asset_generators_do_not_depend_on_the_other_assets():
    a = asset_generators(5, ["BTC", "ETH"])["BTC"].random(3)
    b = asset_generators(5, ["SOL", "BTC"])["BTC"].random(3)
    np.testing.assert_array_equal(a, b)


def test_square_root_impact_hand_value_and_errors():
    assert square_root_impact(1e6, 1e8, 0.04, k=1.0) == pytest.approx(0.004)  # 4% * sqrt(1/100)
    assert square_root_impact(0.0, 1e8, 0.04) == 0.0
    with pytest.raises(InputError, match="adv_usd"):
        square_root_impact(1e6, 0.0, 0.04)
    with pytest.raises(ParameterError, match="k"):
        square_root_impact(1e6, 1e8, 0.04, k=-1)
    with pytest.raises(ParameterError, match="horizon_days"):
        fhs_horizon_returns(np.ones(30), 0.01, 0)
