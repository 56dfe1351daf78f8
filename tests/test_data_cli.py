"""``marginlab data list``: every series with its date range and row count."""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd

from marginlab.cli import main


def test_data_list_prints_every_series(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MARGINLAB_CACHE_DIR", str(tmp_path))  # empty cache: embedded series only
    assert main(["data", "list", "--cache-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("dataset: marginlab-snapshot version marginlab-snapshot-2026.03 (embedded in marginlab")
    assert main(["data", "list", "--csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str)
    assert set(table["origin"]) == {"embedded marginlab-snapshot-2026.03"}
    by_key = table.set_index(["name", "dataset"])
    # ranges and counts: marginlab/datasets/README.md and the 2026 extension's README (SOL: 1778 Yahoo days to
    # 2025-02-20, the partial one dropped, + 273 days to 2025-11-19)
    assert list(by_key.loc[("BTC", "btc_usd"), ["start", "end"]]) == ["2011-08-18", "2025-11-19"]
    assert list(by_key.loc[("SOL", "universe"), ["start", "end", "rows"]]) == ["2020-04-10", "2025-11-19", str(1778 - 1 + 273)]
    assert by_key.loc[("USTC", "stablecoins"), "end"] == "2022-10-09"
    assert by_key.loc[("BTC", "dvol"), "rows"] == "1840"
    assert by_key.loc[("LINKUSDT", "bybit_perp_15m"), "rows"] == "999"
    assert by_key.loc[("option_chains", "option_chains"), "rows"] == "636"


def test_console_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "marginlab.cli", "data", "fetch", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    assert "--source" in result.stdout and "binance-funding" in result.stdout


def test_data_validate_command(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text("timestamp,open,high,low,close\n2024-01-01T00:00:00Z,1,2,1,2\n2024-01-03T00:00:00Z,2,3,2,3\n")
    assert main(["data", "validate", str(good), "--frequency", "1D"]) == 0
    assert "1 missing bar(s) between 2024-01-01T00:00:00Z and 2024-01-03T00:00:00Z" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close\n2024-01-01T00:00:00Z,1,2,1,2\n2024-01-02T00:00:00Z,2,1,3,2\n")
    assert main(["data", "validate", str(bad)]) == 2
    assert "high < low" in capsys.readouterr().err


def test_data_list_names_a_data_dir_and_a_missing_one(capsys, tmp_path, monkeypatch):
    (tmp_path / "btc_usd_daily.csv").write_text("timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,1,2,0\n")
    monkeypatch.setenv("MARGINLAB_DATA_DIR", str(tmp_path))
    assert main(["data", "list", "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    # the folder replaces that one series; every other series stays embedded
    assert "marginlab-snapshot-2026.03+user-unversioned[btc_usd]" in out and "from $MARGINLAB_DATA_DIR: btc_usd" in out
    assert main(["data", "list", "--csv", "--cache-dir", str(tmp_path / "cache")]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str).set_index(["name", "dataset"])
    assert table.loc[("BTC", "btc_usd"), "origin"] == "MARGINLAB_DATA_DIR"
    assert table.loc[("BTC", "btc_usd"), "end"] == "2024-01-01" and table.loc[("ETH", "eth_usd"), "end"] == "2025-11-19"
    assert (table.drop(("BTC", "btc_usd"))["origin"] == "embedded marginlab-snapshot-2026.03").all()
    monkeypatch.setenv("MARGINLAB_DATA_DIR", str(tmp_path / "typo"))
    assert main(["data", "list"]) == 2
    err = capsys.readouterr().err
    assert "MARGINLAB_DATA_DIR=" in err and "typo" in err and "does not exist" in err and len(err.strip().splitlines()) == 1
