"""Snapshot loaders, symbol resolution, panels and returns (against the facts of the snapshot's README, see
``marginlab/datasets/NOTICE.md`` for the sources)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marginlab import data, datasets
from marginlab.data import (
    DAYS_PER_YEAR,
    annualise_vol,
    catalogue,
    close_panel,
    load_daily,
    load_dvol,
    load_funding,
    load_series,
    load_stablecoins,
    load_universe,
    log_returns,
    percent_returns,
    resolve_dataset,
    simple_returns,
    snapshot_dir,
)
from marginlab.exceptions import DataError, InputError, UnknownAssetError

DAY = pd.Timedelta("1D")


def test_snapshot_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("MARGINLAB_DATA_DIR", str(tmp_path))
    assert snapshot_dir() == tmp_path


def test_missing_data_dir_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("MARGINLAB_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(DataError) as info:
        snapshot_dir()
    message = str(info.value)
    assert "MARGINLAB_DATA_DIR" in message and str(tmp_path / "absent") in message and "does not exist" in message
    assert "\n" not in message
    with pytest.raises(DataError, match="MARGINLAB_DATA_DIR"):
        load_daily("BTC", "2020-01-01", "2020-01-31")
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("MARGINLAB_DATA_DIR", str(tmp_path / "file"))
    with pytest.raises(DataError, match="is not a directory"):
        snapshot_dir()


def test_btc_2020_03_12_crash():
    # marginlab/datasets/README.md section 1: 2020-03-12 is -38.8% close to close (open 7938, low 4644, close 4857)
    bars = load_daily("BTC", "2020-03-11", "2020-03-12")
    day = bars.loc[pd.Timestamp("2020-03-12", tz="UTC")]
    assert day["close"] == pytest.approx(4857, abs=1)
    assert day["low"] == pytest.approx(4644, abs=1)
    move = bars["close"].iloc[1] / bars["close"].iloc[0] - 1
    assert move == pytest.approx(-0.388, abs=0.0015)


def test_eth_and_binance_crash_days():
    # README section 2: ETH 2020-03-12 -42.4%; section 3: Binance BTCUSDT -39.5%
    eth = simple_returns(load_daily("ETH", "2020-03-11", "2020-03-12")["close"])
    assert eth.iloc[0] == pytest.approx(-0.424, abs=0.0015)
    binance = simple_returns(load_daily("BTCUSDT", "2020-03-11", "2020-03-12")["close"])
    assert binance.iloc[0] == pytest.approx(-0.395, abs=0.0015)


def test_symbol_resolution_and_row_counts():
    # row counts and starts from marginlab/datasets/README.md / MANIFEST.csv, extended by the 2026 extension
    # (BTC: Yahoo 2025-09-25 .. 11-19, 56 days; ETH: partial 2025-02-20 replaced, to 2025-11-19, 273 days;
    # BTCUSDT: Binance 2025-02-20 .. 2026-03-15, 389 days)
    btc = load_daily("BTC")
    assert len(btc) == 5152 + 56 and btc.index[0] == pd.Timestamp("2011-08-18", tz="UTC")
    assert len(load_daily("ETH")) == 3485 - 1 + 273
    assert len(load_daily("BTCUSDT")) == 2608 - 1 + 389
    assert load_daily("SOL").index[0] == pd.Timestamp("2020-04-10", tz="UTC")
    assert load_daily("BTC", dataset="universe").index[0] == pd.Timestamp("2014-09-17", tz="UTC")
    # USDC resolves to the universe (Yahoo to 2025-11-19), the stablecoins file has the same Yahoo series
    assert load_daily("USDC").index[-1] == pd.Timestamp("2025-11-19", tz="UTC")
    assert load_daily("USDC", dataset="stablecoins").index[-1] == pd.Timestamp("2025-11-19", tz="UTC")
    assert load_daily("FDUSD").index[0] == pd.Timestamp("2023-07-26", tz="UTC")
    assert resolve_dataset("DAI") == "stablecoins"
    with pytest.raises(UnknownAssetError, match="DOGECOIN"):
        load_daily("DOGECOIN")
    with pytest.raises(InputError, match="dataset"):
        load_daily("BTC", dataset="yahoo")
    with pytest.raises(InputError, match="source"):
        load_daily("BTC", source="ftp")


def test_window_checks():
    bars = load_daily("BTC", "2024-01-01", "2024-01-31")
    assert len(bars) == 31 and bars.index[-1] == pd.Timestamp("2024-01-31", tz="UTC")
    with pytest.raises(InputError, match="after end"):
        load_daily("BTC", "2024-02-01", "2024-01-01")
    with pytest.raises(DataError, match="available: 2020-04-10"):
        load_daily("SOL", "2015-01-01", "2016-01-01")
    with pytest.raises(InputError, match="not a date"):
        load_daily("BTC", "yesterday-ish")


def test_loads_return_copies():
    first = load_daily("BTC", "2024-01-01", "2024-01-05")
    first.loc[:, "close"] = -1.0
    assert (load_daily("BTC", "2024-01-01", "2024-01-05")["close"] > 0).all()


def test_close_panel_inner_and_outer():
    inner = close_panel(["BTC", "SOL"], "2020-04-01", "2020-04-20")
    assert inner.index[0] == pd.Timestamp("2020-04-10", tz="UTC") and not inner.isna().any().any()
    outer = close_panel(["BTC", "SOL"], "2020-04-01", "2020-04-20", how="outer")
    assert len(outer) == 20 and outer["SOL"].isna().sum() == 9
    with pytest.raises(InputError, match="duplicates"):
        close_panel(["BTC", "BTC"])
    with pytest.raises(InputError, match="how"):
        close_panel(["BTC"], how="left")


def test_universe_stablecoins_reference_values():
    # README section 4: USDC 2023-03-11 close 0.9715, low 0.8774; section 5: UST 2022-05-13 close 0.154
    usdc = load_universe("2023-03-11", "2023-03-11", symbols=["USDC"])
    assert usdc["close"].iloc[0] == pytest.approx(0.9715, abs=1e-4)
    assert usdc["low"].iloc[0] == pytest.approx(0.8774, abs=1e-4)
    ust = load_stablecoins("2022-05-09", "2022-05-13", symbols=["USTC"], field="close")["USTC"]
    assert ust.iloc[0] == pytest.approx(0.793, abs=1e-3) and ust.iloc[-1] == pytest.approx(0.154, abs=1e-3)
    wide = load_universe(field="close")
    assert wide.shape[1] == 22
    long = load_universe()
    # 54192 rows - 22 partial rows + the continuations recorded in the manifest
    appended = sum(a["appended_rows"] for a in datasets.manifest()["joins"]["universe"]["appended"])
    assert len(long) == 54192 - 22 + appended and {"asset_class", "symbol", "source"} <= set(long.columns)
    # extension README file 7: USDC SVB depeg 2023-03-11 low 0.8774 (stablecoins file, from 2022-11-13 on)
    low = load_stablecoins("2023-03-11", "2023-03-11", symbols=["USDC"], field="low")["USDC"].iloc[0]
    assert low == pytest.approx(0.8774, abs=1e-4)
    with pytest.raises(UnknownAssetError):
        load_universe(symbols=["SHIB"])


def test_dvol_and_funding():
    # README section 7: BTC DVOL closes span 32.4 .. 156.2; 1840 rows per symbol
    btc = load_dvol("BTC")
    assert len(btc) == 1840
    assert btc["close"].min() == pytest.approx(32.4, abs=0.05) and btc["close"].max() == pytest.approx(156.2, abs=0.05)
    with pytest.raises(UnknownAssetError):
        load_dvol("SOL")
    # README section 8: 3316 periods, rates in [-0.00119, 0.00088], mean 7.4e-5
    funding = load_funding()
    assert len(funding) == 3316
    assert funding["funding_rate"].mean() == pytest.approx(7.4e-5, abs=0.05e-5)
    assert (funding.index.to_series().diff().dropna() == pd.Timedelta("8h")).all()
    with pytest.raises(UnknownAssetError, match="ETHUSDT|ETH"):
        load_funding("ETH")


def test_catalogue_lists_everything():
    table = catalogue()
    assert {"BTC", "ETH", "SOL", "USDC", "USTC", "BTCUSDT", "option_chains", "LINKUSDT", "WBETH"} <= set(table["name"])
    assert set(table["kind"]) == {"ohlcv", "close", "vol_index", "funding", "liquidations", "open_interest", "day_range",
                                  "option_chain", "price_snapshots"}
    assert set(table["frequency"]) == {"1D", "4h", "1h", "15min", "1min", "8h", "table"}
    assert table["rows"].sum() == sum(entry["rows"] for entry in datasets.manifest()["files"].values())
    # acceptance of issue 18: the Yahoo coins reach 2025-11-19
    daily = table[table["dataset"].isin(["btc_usd", "eth_usd", "universe"])].set_index(["dataset", "name"])["end"]
    for coin in ("ADA", "BCH", "BNB", "BTC", "DOGE", "ETH", "LINK", "SOL", "TRX", "USDC", "USDT", "XRP"):
        assert daily[("universe", coin)] == "2025-11-19", coin
    assert daily[("btc_usd", "BTC")] == daily[("eth_usd", "ETH")] == "2025-11-19"


def test_load_series_reads_the_extension_files():
    # extension README file 5: the 2025-10-10T21:15 15-minute bar, LINK -28.8%; file 6: USDe low 0.65 at 21:54
    link = load_series("bybit_perp_15m", "2025-10-10T21:15", "2025-10-10T21:15", symbols=["LINKUSDT"])
    assert link["close"].iloc[0] / link["open"].iloc[0] - 1 == pytest.approx(-0.288, abs=0.001)
    usde = load_series("usde_1m", "2025-10-10", "2025-10-10").set_index("timestamp")["low"]
    assert usde.min() == 0.65 and usde.idxmin() == pd.Timestamp("2025-10-10T21:54", tz="UTC")
    # file 11: WBETH_ETH day low 0.2012, BNSOL_SOL 0.1286
    day = load_series("day_range_2025_10_10").set_index("market")["day_low"]
    assert day["WBETH_ETH"] == pytest.approx(0.2012) and day["BNSOL_SOL"] == pytest.approx(0.1286)
    # file 2: stETH/ETH 0.9367 on 2022-06-15
    steth = load_series("lst", "2022-06-15", "2022-06-15", symbols=["STETH"])
    assert steth["close_in_eth"].iloc[0] == pytest.approx(0.9367, abs=1e-4)
    with pytest.raises(InputError, match="table"):
        load_series("option_chains", symbols=["X"])
    with pytest.raises(InputError, match="dataset"):
        load_series("nope")


def test_returns_closed_forms():
    prices = pd.Series([100.0, 110.0, 99.0], index=pd.date_range("2024-01-01", periods=3, tz="UTC"))
    assert log_returns(prices).tolist() == pytest.approx([math.log(1.1), math.log(0.9)])
    assert simple_returns(prices).tolist() == pytest.approx([0.1, -0.1])
    assert percent_returns(prices).tolist() == pytest.approx([100 * math.log(1.1), 100 * math.log(0.9)])
    with pytest.raises(DataError, match="positive"):
        log_returns(pd.Series([1.0, 0.0]))


def test_annualise_vol():
    assert DAYS_PER_YEAR == data.DAYS_PER_YEAR == 365
    assert annualise_vol(0.02) == pytest.approx(0.02 * 365**0.5)
    assert annualise_vol(np.array([0.01, 0.02])) == pytest.approx([0.01 * 365**0.5, 0.02 * 365**0.5])
    assert annualise_vol(0.02, days_per_year=252) == pytest.approx(0.02 * 252**0.5)
    with pytest.raises(InputError):
        annualise_vol(-0.1)


@given(st.lists(st.floats(min_value=0.01, max_value=1e6), min_size=2, max_size=30))
def test_log_returns_sum_to_total(prices):
    series = pd.Series(prices)
    assert log_returns(series).sum() == pytest.approx(math.log(prices[-1] / prices[0]), abs=1e-9)
    assert np.allclose(np.exp(log_returns(series)) - 1, simple_returns(series))
