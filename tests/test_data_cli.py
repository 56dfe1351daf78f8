"""``marginlab data list``: every series with its date range and row count."""

from __future__ import annotations

import subprocess
import sys

from marginlab.cli import main


def test_data_list_prints_every_series(capsys, tmp_path):
    assert main(["data", "list", "--cache-dir", str(tmp_path)]) == 0  # empty cache: snapshot series only
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[2:]]
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
