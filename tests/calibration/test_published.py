"""Tests of marginlab.calibration.published: the rates a parameter file publishes, for every date (issue 19)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marginlab.calibration.garch import simulate_garch
from marginlab.calibration.methodology import Methodology, RateSpec
from marginlab.calibration.published import published_rates, requirement_of


@pytest.fixture(scope="module")
def returns():
    return simulate_garch(1400, omega=0.2, alpha=0.1, beta=0.88, nu=4, rng=5)


def test_the_file_rules_hold_on_every_date(returns):
    rates = published_rates(Methodology(), returns)
    assert (rates["maintenance_rate"] == np.minimum(rates[["maintenance_down", "maintenance_up"]].max(axis=1), 1.0)).all()
    assert (rates["initial_rate"] >= rates["maintenance_rate"]).all()
    assert (rates[["maintenance_rate", "initial_rate", "price_scan_range"]] <= 1.0).all().all()
    plain = np.minimum(rates[["maintenance_base_down", "maintenance_base_up"]].max(axis=1), 1.0)
    assert (rates["maintenance_rate"] >= plain - 1e-12).all()  # the tool only adds margin


def test_margin_tool_is_a_release_smoothing_never_below_the_plain_rate(returns):
    """By hand: s_t = 0.9 s_(t-1) + 0.1 b_t (s_0 = b_0) on the plain side b, then m_t = max(b_t, s_t)."""
    fits: dict = {}
    published_rates(Methodology(), returns, results=fits)
    frame = fits["maintenance_rate"].frame
    base = frame["base_down"].to_numpy()
    smooth = np.empty_like(base)
    smooth[0] = base[0]
    for t in range(1, base.size):
        smooth[t] = 0.9 * smooth[t - 1] + 0.1 * base[t]
    np.testing.assert_allclose(frame["scan_down"].to_numpy(), np.maximum(base, smooth), rtol=1e-12)
    plain = published_rates(Methodology(), returns, anti_procyclicality=False)
    np.testing.assert_allclose(plain["maintenance_down"], plain["maintenance_base_down"], rtol=1e-12)


def test_cap_bounds_each_side_before_the_smoothing():
    # a +150% day: the uncapped 2-day 99.7% up rate explodes; the published one stays at the cap and the smoothing does
    # not carry the spike (before the fix the scan range was 12.98 for DOGE at 2021-06-30)
    days = pd.date_range("2018-01-01", periods=1300, tz="UTC")
    values = 0.03 * np.random.default_rng(1).standard_normal(1300)
    values[1000], values[1001] = np.log(4.0), np.log(2.0)
    rates = published_rates(Methodology(), pd.Series(values, index=days))
    assert rates["scan_base_up"].max() > 1.0
    assert rates["price_scan_range"].max() <= 1.0 and rates["maintenance_rate"].max() <= 1.0
    uncapped = published_rates(Methodology(rates=RateSpec(cap=None)), pd.Series(values, index=days))
    assert uncapped["scan_base_up"].max() == pytest.approx(rates["scan_base_up"].max())
    # uncapped, the smoothing carries the spike: the capped scan range is lower for months after it
    after = rates.index > days[1001]
    assert (rates.loc[after, "scan_up"] <= uncapped.loc[after, "scan_up"] + 1e-12).all()
    assert uncapped.loc[after, "scan_up"].iloc[60] > 1.05 * rates.loc[after, "scan_up"].iloc[60]


def test_requirement_of():
    m = Methodology()
    assert requirement_of(m, 2, 0.99) == "initial_rate"
    assert requirement_of(m, 1, 0.997) is None


def test_side_specific_up_side_is_the_mirrored_fall(returns):
    """The short side's rate is the long side's of the mirrored prices: a mirrored fall d is the rise d / (1 - d)."""
    from marginlab.calibration.methodology import VolatilitySpec

    assert Methodology().volatility.side_specific
    rates = published_rates(Methodology(), returns)
    mirrored = Methodology().stress_range_model(1, 0.99).fit(-returns).frame.reindex(rates.index)
    # the model fitted to -r with the cap 1 / (1 + 1) on its fall (a rise of at most 100%)
    fall = np.minimum(mirrored["base_down"], 0.5)
    np.testing.assert_allclose(rates["maintenance_base_up"], mirrored["base_down"] / (1 - mirrored["base_down"]), rtol=1e-12)
    assert (rates["maintenance_up"] >= fall / (1 - fall) - 1e-12).all()
    symmetric = published_rates(Methodology(volatility=VolatilitySpec(side_specific=False)), returns)
    np.testing.assert_allclose(symmetric["maintenance_base_down"], rates["maintenance_base_down"], rtol=1e-12)
    assert not np.allclose(symmetric["maintenance_base_up"], rates["maintenance_base_up"])
