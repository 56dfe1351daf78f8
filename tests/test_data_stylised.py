"""Stylised facts and reference moves, checked against scipy/statsmodels and the data README."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.tsa.stattools import acf

from marginlab.data import close_panel, load_daily, log_returns
from marginlab.data.stylised import (
    REFERENCE_MOVES,
    ReferenceMove,
    autocorrelation,
    excess_kurtosis,
    normal_qq,
    reference_move_table,
    stylised_facts,
    worst_days,
)
from marginlab.exceptions import InputError


def test_kurtosis_and_acf_against_libraries():
    rng = np.random.default_rng(7)
    x = rng.standard_t(5, size=2000)
    assert excess_kurtosis(x) == pytest.approx(stats.kurtosis(x, fisher=True, bias=True), rel=1e-12)
    np.testing.assert_allclose(autocorrelation(x, 5), acf(x, nlags=5, fft=False)[1:], rtol=1e-12)
    np.testing.assert_allclose(autocorrelation(x**2, [1, 3]), acf(x**2, nlags=3, fft=False)[[1, 3]], rtol=1e-12)


def test_hand_calculations():
    # -2..2: m2 = 10/5 = 2, m4 = 34/5 = 6.8, 6.8/4 - 3 = -1.3
    assert excess_kurtosis([-2, -1, 0, 1, 2]) == pytest.approx(-1.3)
    # alternating +-1: lag-1 products -1 (3 of them) / sum of squares 4
    assert autocorrelation([1, -1, 1, -1], 1)[0] == pytest.approx(-0.75)
    with pytest.raises(InputError):
        excess_kurtosis([1.0, 1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="lags"):
        autocorrelation([1.0, 2.0, 3.0, 4.0], 4)


@settings(max_examples=30, deadline=None)
@given(st.floats(min_value=0.1, max_value=100.0), st.floats(min_value=-5, max_value=5))
def test_kurtosis_is_affine_invariant(scale, shift):
    x = np.random.default_rng(1).standard_normal(200)
    assert excess_kurtosis(scale * x + shift) == pytest.approx(excess_kurtosis(x), abs=1e-9)


def test_btc_stylised_facts():
    returns = log_returns(load_daily("BTC", "2015-01-01", "2024-12-31")["close"])
    table = stylised_facts(returns.rename("BTC"))
    row = table.loc["BTC"]
    assert row["days"] == len(returns)
    assert row["excess_kurtosis"] > 5  # fat tails
    assert row["acf1_squared"] > abs(row["acf1_returns"])  # volatility clustering
    assert row["jarque_bera_pvalue"] < 1e-10
    assert row["vol_annualised"] == pytest.approx(returns.std() * np.sqrt(365))


def test_normal_qq_points():
    qq = normal_qq([3.0, 1.0, 2.0])
    # plotting positions 1/6, 1/2, 5/6; sample standardised by mean 2 and sd 1
    np.testing.assert_allclose(qq["normal_quantile"], stats.norm.ppf([1 / 6, 0.5, 5 / 6]))
    np.testing.assert_allclose(qq["sample_quantile"], [-1.0, 0.0, 1.0])


def test_worst_days_btc():
    # marginlab/datasets/README.md section 1: 2013-04-11 is -48.5%, 2020-03-12 is -38.8%
    table = worst_days(load_daily("BTC")["close"].rename("BTC"), count=3)
    assert table["date"].iloc[0] == pd.Timestamp("2013-04-11", tz="UTC")
    assert table["simple_return"].iloc[0] == pytest.approx(-0.485, abs=0.001)
    panel = close_panel(["BTC", "ETH"], "2020-01-01", "2020-12-31")
    both = worst_days(panel, count=1)
    assert both["date"].tolist() == [pd.Timestamp("2020-03-12", tz="UTC")] * 2


def test_reference_moves_match_section_h():
    table = reference_move_table()
    assert len(table) == len(REFERENCE_MOVES) == 7
    assert table["within_reference"].all(), table
    btc = table[(table["symbol"] == "BTC") & (table["horizon_days"] == 1)]["observed"].iloc[0]
    assert btc == pytest.approx(4857 / 7935 - 1, abs=0.002)  # README: close 4857 after ~7935 (-38.8%)
    wrong = reference_move_table([ReferenceMove("made up", "BTC", "2020-03-12", "return", -0.10, -0.05)])
    assert not wrong["within_reference"].iloc[0]
    with pytest.raises(InputError, match="measure"):
        reference_move_table([ReferenceMove("bad", "BTC", "2020-03-12", "volume", 0, 1)])
