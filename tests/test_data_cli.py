"""``marginlab data list``: every series with its date range and row count."""

from __future__ import annotations

import subprocess
import sys

from marginlab.cli import main


def test_data_list_prints_every_series(capsys):
    assert main(["data", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[2:]]
    by_key = {(row[0], row[1]): row for row in rows}
    # ranges and counts from ../shared/data/README.md
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
