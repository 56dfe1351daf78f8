"""Tests of marginlab.analysis.coverage_targets: scoring rules by hand and by their defining property, clustered
standard errors by hand, the rejected-cell null on a model that is correct by construction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from marginlab.analysis.coverage_targets import (
    fz0_score,
    pooled_exception_rates,
    quantile_score,
    rejected_cell_null,
    rejection_flags,
    score_difference,
    score_table,
)
from marginlab.analysis.methodology_backtest import MethodologyBacktest
from marginlab.calibration.methodology import Methodology


def test_quantile_and_fz0_scores_by_hand():
    # tick loss: exceedance 0.05 > 0.03 -> 0.99 * 0.02; no exceedance -> 0.01 * (0.03 + 0.01)
    assert quantile_score(np.array([0.05, -0.01]), np.array([0.03, 0.03]), 0.99) == pytest.approx([0.0198, 0.0004])
    # FZ0 (Patton, Ziegel & Chen 2019, eq. (6)) on returns: y = -0.05, v = -0.03, e = -0.04, a = 0.01:
    # -1/(a e) 1[y<=v] (v - y) + v/e + ln(-e) - 1 = 0.02/0.0004 + 0.75 + ln(0.04) - 1
    y, v, e, a = -0.05, -0.03, -0.04, 0.01
    by_hand = -1 / (a * e) * (v - y) + v / e + math.log(-e) - 1
    assert by_hand == pytest.approx(50 + 0.75 + math.log(0.04) - 1)
    assert fz0_score(np.array([0.05]), np.array([0.03]), np.array([0.04]), 0.99)[0] == pytest.approx(by_hand)
    # no exceedance: only v/e + ln(-e) - 1
    assert fz0_score(np.array([0.0]), np.array([0.03]), np.array([0.04]), 0.99)[0] == pytest.approx(0.75 + math.log(0.04) - 1)


def test_scores_are_minimised_by_the_true_var_and_es():
    """Strict consistency (Gneiting 2011; Fissler & Ziegel 2016): on Student-t(4) losses the true 99% quantile and ES
    score lower on average than forecasts 20% too low or too high."""
    nu, c = 4, 0.99
    loss = stats.t.rvs(nu, size=400_000, random_state=np.random.default_rng(0))
    var = stats.t.ppf(c, nu)
    es = stats.t.expect(lambda x: x, args=(nu,), lb=var) / (1 - c)
    true_q = quantile_score(loss, var, c).mean()
    true_fz = fz0_score(loss, var, es, c).mean()
    for scale in (0.8, 1.2):
        assert quantile_score(loss, scale * var, c).mean() > true_q
        assert fz0_score(loss, scale * var, scale * es, c).mean() > true_fz


def _run(frame: pd.DataFrame, sides=("long",), confidence=0.99) -> MethodologyBacktest:
    empty = pd.DataFrame(columns=["date", "asset", "horizon_days", "confidence", "requirement", "side", "rate"])
    return MethodologyBacktest(Methodology(), confidence, (1,), empty, pd.DataFrame(), frame, tuple(sides))


def test_pooled_rates_with_date_clustered_standard_errors_by_hand():
    dates = pd.to_datetime(["2021-01-01", "2021-01-02", "2021-01-03"], utc=True)
    # two assets, three days; both breach on day 2 (a clustered exception day), one on day 3
    frame = pd.DataFrame({
        "date": list(dates) * 2, "asset": ["A"] * 3 + ["B"] * 3, "horizon_days": 1, "side": "long",
        "rate": 0.05, "es": 0.06, "loss": [0.0, 0.1, 0.1, 0.0, 0.1, 0.0],
        "exception": [False, True, True, False, True, False],
    })
    table = pooled_exception_rates(_run(frame), [("all", "2021-01-01", "2021-12-31")]).iloc[0]
    p = 3 / 6
    assert table["exception_rate"] == pytest.approx(p)
    assert table["se_binomial"] == pytest.approx(math.sqrt(p * (1 - p) / 6))
    # per-day x_d = 0, 2, 1 with n_d = 2: residuals -1, 1, 0; sum of squares 2; G/(G-1) = 3/2
    assert table["se_clustered"] == pytest.approx(math.sqrt(2 * 1.5) / 6)
    assert table["exception_days"] == 2 and table["assets_per_exception_day"] == pytest.approx(1.5)
    scores = score_table(_run(frame), [("all", "2021-01-01", "2021-12-31")]).iloc[0]
    assert scores["quantile_score"] == pytest.approx(np.mean(quantile_score(frame["loss"], frame["rate"], 0.99)))


def test_rejection_flags_are_the_package_tests():
    from marginlab.analysis.backtest import christoffersen_test, kupiec_test

    rng = np.random.default_rng(4)
    hits = rng.random((600, 6)) < np.array([0.01, 0.02, 0.03, 0.005, 0.01, 0.05])
    hits[100:104, 4] = True  # a cluster
    valid = np.ones_like(hits)
    valid[:50, 0] = False
    flags = rejection_flags(hits, valid, 0.99)
    upper = rejection_flags(hits, valid, 0.99, kupiec="upper")
    for c in range(6):
        seq = hits[valid[:, c], c]
        independence = christoffersen_test(seq, 0.99)[0].p_value < 0.05
        expected = kupiec_test(seq, 0.99).p_value < 0.05 or independence
        assert flags[c] == expected, c
        # one-sided at 5%: too many exceptions and the two-sided likelihood-ratio test rejecting at 10%
        too_many = seq.mean() > 0.01 and kupiec_test(seq, 0.99).p_value < 0.10
        assert upper[c] == (too_many or independence), c


def test_a_correct_model_lies_within_its_null_range():
    """Losses drawn from the model itself (a common factor: cross-asset clustering) at the exact 99% rate: the observed
    rejected-cell count is inside the simulated 95% range, and the clustered null is wider than the binomial one."""
    rng = np.random.default_rng(1)
    days = pd.date_range("2019-01-01", periods=1500, tz="UTC")
    common = rng.standard_normal(1500)
    rows = []
    for i in range(12):
        z = 0.8 * common + 0.6 * rng.standard_normal(1500)
        for side, sign in (("long", 1), ("short", -1)):
            rows.append(pd.DataFrame({"date": days, "asset": f"A{i}", "horizon_days": 1, "side": side, "rate": stats.norm.ppf(0.99),
                                      "es": np.nan, "loss": sign * z, "exception": sign * z > stats.norm.ppf(0.99)}))
    run = _run(pd.concat(rows, ignore_index=True), sides=("long", "short"))
    null = rejected_cell_null(run, n_simulations=60, rng=2)
    table = null.table.set_index("side")
    assert table.loc["long", "cells"] == 12
    assert table["within_range"].all(), table
    assert (table["null_high"] >= table["independent_high"]).all()


def test_score_difference_by_hand():
    dates = pd.to_datetime(["2021-01-01", "2021-01-02"], utc=True)
    base = pd.DataFrame({"date": list(dates) * 2, "asset": ["A", "A", "B", "B"], "horizon_days": 1, "side": "long",
                         "rate": 0.05, "es": 0.06, "loss": [0.0, 0.1, 0.02, 0.0], "exception": [False, True, False, False]})
    wider = base.assign(rate=0.08, es=0.09)
    result = score_difference(_run(wider), _run(base))
    d = fz0_score(base["loss"].to_numpy(), 0.08, 0.09, 0.99) - fz0_score(base["loss"].to_numpy(), 0.05, 0.06, 0.99)
    assert result["difference"] == pytest.approx(d.mean())
    per_day = np.array([d[0] + d[2], d[1] + d[3]]) - 2 * d.mean()
    assert result["se"] == pytest.approx(math.sqrt(np.sum(per_day**2) * 2) / 4)
