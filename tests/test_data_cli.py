"""``marginlab data list``: every series with its date range and row count."""

from __future__ import annotations

import subprocess
import sys

from marginlab.cli import main


def test_data_list_prints_every_series(capsys, tmp_path):
    assert main(["data", "list", "--cache-dir", str(tmp_path)]) == 0  # empty cache: snapshot series only
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("dataset: marginlab-snapshot version marginlab-snapshot-2025.09 (embedded in marginlab")
    assert lines[1].split()[-2:] == ["origin", "file"]
    rows = [line.split() for line in lines[2:]]
    assert all(row[7:9] == ["embedded", "marginlab-snapshot-2025.09"] for row in rows)
    by_key = {(row[0], row[1]): row for row in rows}
    # ranges and counts from marginlab/datasets/README.md
    assert by_key[("BTC", "btc_usd")][4:7] == ["2011-08-18", "2025-09-24", "5152"]
    assert by_key[("SOL", "universe")][4:7] == ["2020-04-10", "2025-02-20", "1778"]
    assert by_key[("USTC", "stablecoins")][5] == "2022-10-09"
    assert by_key[("BTC", "dvol")][6] == "1840"
    assert by_key[("BTCUSDT", "funding")][6] == "3316"
    assert by_key[("ETH", "hourly")][6] == "2303"
    assert len(rows) == 3 + 22 + 15 + 2 + 2 + 1


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
    assert "version unversioned (from $MARGINLAB_DATA_DIR)" in out and " MARGINLAB_DATA_DIR " in out
    assert len(out.strip().splitlines()) == 3  # header lines + the one series the folder holds
    monkeypatch.setenv("MARGINLAB_DATA_DIR", str(tmp_path / "typo"))
    assert main(["data", "list"]) == 2
    err = capsys.readouterr().err
    assert "MARGINLAB_DATA_DIR=" in err and "typo" in err and "does not exist" in err and len(err.strip().splitlines()) == 1
