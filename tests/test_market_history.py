"""Tests of market snapshots for real days (marginlab.market_history).

Expected numbers are read by hand from the data files in ../shared/data (cited per test).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from marginlab.exceptions import DataWarning, InputError, MissingMarketDataError, ParameterError, UnknownAssetError
from marginlab.market_history import default_expiries, ewma_annualised_vol, history_inputs, market_from_history, smile_from_atm


def test_btc_on_ftx_day_uses_close_and_dvol():
    # btc_usd_daily.csv 2022-11-09: close 15891.96; dvol_daily.csv BTC 2022-11-09 close 114.72,
    # ETH 153.93; eth_usd_daily.csv 2022-11-09 close 1100.17 (checked in the file)
    market = market_from_history("2022-11-09", ["BTC", "ETH"], rate=0.02, expiries=[30, 60])
    assert market.as_of == pd.Timestamp("2022-11-10T00:00:00Z").to_pydatetime()
    assert market.index_usd("BTC") == pytest.approx(15_891.96)
    expiry = market.expiries("BTC")[0]
    assert expiry == pd.Timestamp("2022-12-10T08:00:00Z").to_pydatetime()
    assert market.vol("BTC", expiry, 10_000.0) == pytest.approx(1.1472)
    assert market.vol("ETH", expiry, 1_000.0) == pytest.approx(1.5393)
    years = (30 * 86_400 + 8 * 3_600) / (365 * 86_400)
    assert market.forward_usd("BTC", expiry) == pytest.approx(15_891.96 * math.exp(0.02 * years))


def test_eth_close_matches_file():
    eth = pd.read_csv(pytest.importorskip("marginlab.data").snapshot_path("eth_usd"))
    expected = float(eth.loc[eth["timestamp"] == "2022-11-09T00:00:00Z", "close"].iloc[0])
    assert market_from_history("2022-11-09", ["ETH"], expiries=[30]).index_usd("ETH") == pytest.approx(expected)


def test_realised_vol_fallback_without_dvol():
    # SOL has no DVOL: the ATM vol is the annualised EWMA(0.94) volatility of its daily log returns,
    # recomputed here by hand from the universe file.
    inputs = history_inputs("2022-11-09", ["SOL", "BTC"])
    assert inputs.loc["SOL", "vol_source"] == "ewma realised" and inputs.loc["BTC", "vol_source"] == "dvol"
    universe = pd.read_csv(pytest.importorskip("marginlab.data").snapshot_dir() / "crypto_universe_daily.csv.gz")
    sol = universe[(universe["symbol"] == "SOL") & (universe["timestamp"] <= "2022-11-09T00:00:00Z")
                   & (universe["timestamp"] >= "2021-11-09T00:00:00Z")]["close"].to_numpy()
    returns = np.diff(np.log(sol))
    variance = np.mean(returns[:30] ** 2)
    for r in returns:
        variance = 0.94 * variance + 0.06 * r * r
    assert inputs.loc["SOL", "atm_vol"] == pytest.approx(math.sqrt(variance * 365), rel=1e-10)
    assert inputs.loc["SOL", "index_usd"] == pytest.approx(sol[-1])
    realised = history_inputs("2022-11-09", ["BTC"], vol_source="realised")
    assert realised.loc["BTC", "vol_source"] == "ewma realised"


def test_ewma_vol_of_constant_moves():
    closes = pd.Series(100 * np.exp(0.01 * np.cumsum(np.where(np.arange(50) % 2 == 0, 1.0, -1.0))))
    assert ewma_annualised_vol(closes) == pytest.approx(0.01 * math.sqrt(365), rel=1e-12)


def test_default_expiries_are_fridays_at_8():
    expiries = default_expiries("2024-06-10")
    dates = [e.strftime("%Y-%m-%d") for e in expiries]
    # next two Fridays, last Fridays of June/July/August, quarterlies June and September
    assert dates == ["2024-06-14", "2024-06-21", "2024-06-28", "2024-07-26", "2024-08-30", "2024-09-27"]
    assert all(e.weekday() == 4 and e.hour == 8 for e in expiries)


def test_skewed_smile():
    smile = smile_from_atm(0.5, 100.0, skew=-0.2, curvature=0.1)
    m = math.log(80 / 100)
    assert float(smile.vol_at(80.0)) == pytest.approx(0.5 - 0.2 * m + 0.1 * m * m, abs=2e-3)  # piecewise-linear grid
    assert float(smile.vol_at(100.0)) == pytest.approx(0.5)


def test_funding_forward_and_fallback_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        market = market_from_history("2024-03-01", ["BTC", "ETH"], expiries=[30], forward_method="funding")
    assert any(issubclass(w.category, DataWarning) and "ETH" in str(w.message) for w in caught)
    expiry = market.expiries("BTC")[0]
    # March 2024 funding was strongly positive: forward above spot
    assert market.forward_usd("BTC", expiry) > market.index_usd("BTC")


def test_bad_input():
    with pytest.raises(MissingMarketDataError):
        market_from_history("2030-01-01", ["BTC"])
    with pytest.raises(UnknownAssetError):
        market_from_history("2022-11-09", ["NOPE"])
    with pytest.raises(ParameterError):
        market_from_history("2022-11-09", ["BTC"], vol_source="implied")
    with pytest.raises(InputError):
        market_from_history("not a date", ["BTC"])
    with pytest.raises(InputError):
        market_from_history("2022-11-09", ["BTC"], expiries=[0])
