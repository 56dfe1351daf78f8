"""The crash library's intraday windows (issue 18): 2024-08-05 on Binance 4-hour bars, 2025-10-10/11 on Bybit
15-minute bars with the collateral depegs of that evening carried as index prices, and USDC in March 2023.

Reference values are the 2026 extension's README (shared/data/2026-extension/README.md): Bybit perpetual lows on
2025-10-10 BTC 101 045.9 and ETH 3311.76 (file 5); USDe/USDT 0.65 at 21:54 UTC (file 6); Binance spot day lows
WBETH_ETH 0.2012 and BNSOL_SOL 0.1286 (file 11); and, for 2024-08-05, Binance BTCUSDT's widely reported low of
49 000 (file 4 holds the bar). USDC's 2023-03-11 low 0.8774: the snapshot README, file 4.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marginlab.analysis.stress_scenarios import SCENARIOS, Scenario, list_scenarios, scenario_path
from marginlab.cli import main
from marginlab.collateral import FlatHaircut, adjusted_collateral_usd
from marginlab.exceptions import InputError


@pytest.fixture(scope="module")
def october():
    return scenario_path("oct-2025-10-10", ["BTC", "ETH", "DOT"])


def test_october_path_uses_15_minute_bars_and_reaches_the_perpetual_lows(october):
    prices = october.prices_usd
    assert list(prices.columns) == ["BTC", "ETH", "DOT", "USDE", "WBETH", "BNSOL"]  # collateral always carried
    steps = pd.Series(october.times).diff().dropna()
    assert steps.min() == pd.Timedelta(minutes=5)  # three points per 15-minute bar
    assert october.times[0] == pd.Timestamp("2025-10-10T16:00", tz="UTC")
    assert october.times[-1] == pd.Timestamp("2025-10-11T08:00", tz="UTC")
    assert prices["BTC"].min() == pytest.approx(101_045.9) and prices["ETH"].min() == pytest.approx(3311.76)
    assert "bybit_perp_15m" in october.vol_source["BTC"]
    assert "bybit_perp_1h" in october.vol_source["DOT"]  # DOT has no 15-minute file: the hourly one
    assert np.all(np.isfinite(october.vols.to_numpy())) and (october.vols.to_numpy() > 0).all()


def test_october_collateral_depegs_are_index_prices_in_the_path(october):
    prices = october.prices_usd
    trough = int(np.argmin(prices["USDE"].to_numpy()))
    assert prices["USDE"].iloc[trough] == 0.65
    assert pd.Timestamp("2025-10-10T21:50", tz="UTC") < october.times[trough] <= pd.Timestamp("2025-10-10T21:55", tz="UTC")
    assert prices["WBETH"].iloc[trough] / prices["ETH"].iloc[trough] == pytest.approx(0.2012)
    # the BNSOL reference SOL is loaded for the ratio even when the book does not hold SOL
    ratio_after = prices["WBETH"].iloc[trough + 1] / prices["ETH"].iloc[trough + 1]
    assert ratio_after == pytest.approx(prices["WBETH"].iloc[0] / prices["ETH"].iloc[0])
    assert 1.07 < ratio_after < 1.09  # the CoinGecko ratio of the morning (README file 12: 1.067-1.091)
    # the engine values collateral at the snapshot's index price: 1000 USDe and 1 wBETH at the trough, no haircut
    market = october.snapshot(trough)
    value = adjusted_collateral_usd({"USDE": 1000.0, "WBETH": 1.0}, market, FlatHaircut({"USDE": 0.0, "WBETH": 0.0}))
    assert value == pytest.approx(650.0 + 0.2012 * prices["ETH"].iloc[trough])


def test_yen_carry_on_binance_4h_bars():
    path = scenario_path("yen-carry-2024-08-05", ["BTC", "ETH", "ADA"])
    assert path.prices_usd["BTC"].min() == 49_000.0
    low_time = path.prices_usd["BTC"].idxmin()
    assert pd.Timestamp("2024-08-05", tz="UTC") <= low_time < pd.Timestamp("2024-08-06", tz="UTC")
    assert "binance_spot_4h" in path.vol_source["BTC"] and "daily" in path.vol_source["ADA"]  # no 4h ADA: daily path


def test_usdc_depeg_carries_usdc_for_any_book():
    path = scenario_path("usdc-depeg-2023-03", ["BTC"], substeps=1)
    assert "USDC" in path.assets and path.prices_usd["USDC"].min() == pytest.approx(0.8774, abs=1e-4)


def test_library_lists_the_new_crashes(capsys):
    names = list_scenarios()["name"].tolist()
    assert {"oct-2025-10-10", "yen-carry-2024-08-05", "usdc-depeg-2023-03"} <= set(names)
    assert main(["stress-test", "--list"]) == 0
    assert "oct-2025-10-10" in capsys.readouterr().out
    assert SCENARIOS["oct-2025-10-10"].collateral == ("USDE", "WBETH", "BNSOL")
    with pytest.raises(InputError, match="bars"):
        Scenario("x", "x", "historical", "2025-01-01", "2025-01-02", "intraday")
    with pytest.raises(InputError, match="collateral"):
        Scenario("x", "x", "historical", "2025-01-01", "2025-01-02", collateral=("XYZ",))
