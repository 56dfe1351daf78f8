"""Validation of market-data files: each defect raises one DataError naming file, row, column, value."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.data import clear_cache, load_daily, validate_frame
from marginlab.data.validate import fill_gaps, infer_frequency
from marginlab.exceptions import DataError, DataWarning, InputError

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = [
    "2024-01-01T00:00:00Z,100,110,95,105,1",
    "2024-01-02T00:00:00Z,105,108,100,101,1",
    "2024-01-03T00:00:00Z,101,104,99,103,1",
    "2024-01-04T00:00:00Z,103,106,102,104,1",
]


def _snapshot(tmp_path, monkeypatch, rows):
    """A snapshot directory whose btc_usd_daily.csv holds ``rows``."""
    (tmp_path / "btc_usd_daily.csv").write_text(HEADER + "\n".join(rows) + "\n")
    monkeypatch.setenv("MARGINLAB_DATA_DIR", str(tmp_path))
    clear_cache()
    return tmp_path


def test_good_file_loads(tmp_path, monkeypatch):
    _snapshot(tmp_path, monkeypatch, GOOD)
    bars = load_daily("BTC")
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars["close"].tolist() == [105.0, 101.0, 103.0, 104.0]


@pytest.mark.parametrize(
    ("bad_row", "column", "fragment"),
    [
        # line 4 of the file (header = line 1) repeats the timestamp of line 3
        ("2024-01-02T00:00:00Z,101,104,99,103,1", "timestamp", "duplicated timestamp"),
        ("2024-01-03T00:00:00Z,101,104,99,0,1", "close", "must be positive"),
        ("2024-01-03T00:00:00Z,101,98,99,99,1", "high", "high < low"),
        ("2024-01-03T00:00:00Z,101,104,99,110,1", "close", "outside [low, high]"),
        ("2024-01-03T00:00:00Z,101,104,99,,1", "close", "not a finite number"),
        ("2023-12-31T00:00:00Z,101,104,99,103,1", "timestamp", "not sorted"),
        ("2024-01-02T12:00:00Z,101,104,99,103,1", "timestamp", "mixed frequencies"),
        ("not-a-date,101,104,99,103,1", "timestamp", "unparsable"),
    ],
)
def test_defect_names_file_row_column(tmp_path, monkeypatch, bad_row, column, fragment):
    rows = GOOD[:2] + [bad_row] + GOOD[3:]
    _snapshot(tmp_path, monkeypatch, rows)
    with pytest.raises(DataError) as info:
        load_daily("BTC")
    error = info.value
    assert fragment in str(error)
    assert error.file == "btc_usd_daily.csv"
    assert error.row == 4  # the bad row is the 3rd data row, i.e. line 4 of the file
    assert error.column == column
    assert "btc_usd_daily.csv" in str(error) and "row=4" in str(error)


def test_gap_is_reported_not_filled(tmp_path, monkeypatch):
    _snapshot(tmp_path, monkeypatch, [GOOD[0], GOOD[2], GOOD[3]])  # 2024-01-02 missing
    with pytest.warns(DataWarning, match="1 missing bar"):
        bars = load_daily("BTC")
    assert len(bars) == 3
    with pytest.raises(DataError, match="gap"):
        load_daily("BTC", gaps="raise")
    filled = load_daily("BTC", gaps="ffill")
    assert len(filled) == 4
    # the filled day repeats the previous close (105) as OHLC with zero volume
    assert filled.loc[pd.Timestamp("2024-01-02", tz="UTC"), ["open", "high", "low", "close", "volume"]].tolist() == [105, 105, 105, 105, 0]
    assert filled["filled"].tolist() == [False, True, False, False]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_daily("BTC", gaps="ignore")


def test_missing_file_and_bad_policy(tmp_path, monkeypatch):
    monkeypatch.setenv("MARGINLAB_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="btc_usd_daily.csv"):
        load_daily("BTC", source="overlay")  # the folder lacks it; "snapshot"/"auto" fall back to the embedded file
    with pytest.raises(InputError, match="gaps"):
        load_daily("BTC", gaps="interpolate")


def test_long_format_checks_per_symbol():
    frame = pd.DataFrame({
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-02"], utc=True),
        "symbol": ["A", "A", "B", "B"],
        "close": [1.0, 2.0, 3.0, 4.0],
    })
    report = validate_frame(frame, file="long.csv")
    assert report.ok and report.frequency == pd.Timedelta("1D")
    frame.loc[3, "timestamp"] = pd.Timestamp("2024-01-01", tz="UTC")
    with pytest.raises(DataError, match="duplicated timestamp 2024-01-01T00:00:00Z for B") as info:
        validate_frame(frame, file="long.csv")
    assert info.value.row == 5


def test_funding_may_be_negative_but_not_nan():
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=3, freq="8h", tz="UTC"),
                          "funding_rate": [1e-4, -2e-4, np.nan]})
    with pytest.raises(DataError, match="funding_rate is not a finite number"):
        validate_frame(frame, price_columns=[], value_columns=["funding_rate"])
    frame.loc[2, "funding_rate"] = 0.0
    assert validate_frame(frame, price_columns=[], value_columns=["funding_rate"], frequency="8h").ok


def test_infer_frequency_and_fill_policy():
    stamps = pd.date_range("2024-01-01", periods=5, freq="1h", tz="UTC").delete(2)
    assert infer_frequency(stamps) == pd.Timedelta("1h")
    with pytest.raises(InputError, match="policy"):
        fill_gaps(pd.DataFrame({"close": [1.0]}, index=stamps[:1]), "1h", policy="linear")


def test_snapshot_hourly_gap_is_the_documented_hour():
    # marginlab/datasets/README.md section 6: "One hour is missing: 2025-01-02T14:00Z."
    from marginlab.data import load_hourly

    with pytest.warns(DataWarning, match="between 2025-01-02T13:00:00Z and 2025-01-02T15:00:00Z"):
        load_hourly("BTC")
    filled = load_hourly("BTC", gaps="ffill")
    assert filled["filled"].sum() == 1
    assert bool(filled.loc[pd.Timestamp("2025-01-02T14:00:00Z"), "filled"])


@st.composite
def _ohlc_frames(draw):
    """Valid daily OHLC frames: low <= open, close <= high, positive, consecutive days."""
    n = draw(st.integers(min_value=2, max_value=30))
    low = np.array(draw(st.lists(st.floats(min_value=0.01, max_value=1e5), min_size=n, max_size=n)))
    spread = np.array(draw(st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=n, max_size=n)))
    where_open = np.array(draw(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=n, max_size=n)))
    where_close = np.array(draw(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=n, max_size=n)))
    high = low * (1 + spread)
    return pd.DataFrame({
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="1D", tz="UTC"),
        "open": low + where_open * (high - low),
        "high": high,
        "low": low,
        "close": low + where_close * (high - low),
    })


@settings(max_examples=60, deadline=None)
@given(_ohlc_frames(), st.data())
def test_valid_frames_pass_and_any_swap_is_caught(frame, data):
    report = validate_frame(frame, file="p.csv", gaps="raise")
    assert report.ok and report.frequency == pd.Timedelta("1D")
    i = data.draw(st.integers(min_value=0, max_value=len(frame) - 2))
    j = data.draw(st.integers(min_value=i + 1, max_value=len(frame) - 1))
    swapped = frame.copy()
    swapped.loc[[i, j], "timestamp"] = swapped.loc[[j, i], "timestamp"].to_numpy()
    with pytest.raises(DataError, match="not sorted") as info:
        validate_frame(swapped, file="p.csv")
    assert info.value.row in range(i + 2, j + 3)  # file line of a row between the swapped ones


@settings(max_examples=40, deadline=None)
@given(_ohlc_frames(), st.data())
def test_any_inverted_row_is_named(frame, data):
    k = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
    broken = frame.copy()
    broken.loc[k, "high"] = broken.loc[k, "low"] * 0.5
    with pytest.raises(DataError) as info:
        validate_frame(broken, file="p.csv")
    assert info.value.row == k + 2 and info.value.file == "p.csv"
