"""Tests of the procyclicality metrics (hand calculations)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.analysis.procyclicality import procyclicality_metrics, procyclicality_table
from marginlab.exceptions import InputError


def test_hand_example():
    rates = pd.Series([0.10, 0.12, 0.30, 0.20, 0.05, 0.06], index=pd.date_range("2024-01-01", periods=6))
    metrics = procyclicality_metrics(rates, increase_days=(1, 2))
    assert metrics["peak_to_trough"] == pytest.approx(0.30 / 0.05)
    assert metrics["average_rate"] == pytest.approx(0.83 / 6)
    # 1-day relative increases: 0.2, 1.5, -1/3, -0.75, 0.2 -> 1.5 (0.12 -> 0.30)
    assert metrics["max_increase_1d"] == pytest.approx(1.5)
    assert metrics["max_increase_1d_points"] == pytest.approx(0.18)
    # 2-day: 0.30 / 0.10 - 1 = 2.0
    assert metrics["max_increase_2d"] == pytest.approx(2.0)
    assert metrics["peak_date"] == pd.Timestamp("2024-01-03")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=60), st.floats(0.1, 10.0))
def test_scale_invariance(values, factor):
    rates = pd.Series(values)
    scaled = procyclicality_metrics(rates * factor, increase_days=(1,))
    base = procyclicality_metrics(rates, increase_days=(1,))
    assert scaled["peak_to_trough"] == pytest.approx(base["peak_to_trough"])
    assert scaled["max_increase_1d"] == pytest.approx(base["max_increase_1d"], abs=1e-9)
    assert base["peak_to_trough"] >= 1.0


def test_table_and_errors():
    index = pd.date_range("2024-01-01", periods=3)
    table = procyclicality_table({"flat": pd.Series(0.1, index=index), "up": pd.Series([0.1, 0.2, 0.4], index=index)})
    assert table.loc["up", "peak_to_trough"] == pytest.approx(4.0)
    assert table.loc["flat", "max_increase_1d"] == pytest.approx(0.0)
    with pytest.raises(InputError, match="positive"):
        procyclicality_metrics(pd.Series([0.1, 0.0]))
    with pytest.raises(InputError):
        procyclicality_metrics(pd.Series([np.nan]))
    with pytest.raises(InputError):
        procyclicality_table({})
