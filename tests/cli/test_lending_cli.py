"""``marginlab lending recommend``: runs on the example, writes the parameter file, bad input exits 2 in one line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from marginlab.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lending_market.yaml"


def test_recommend_writes_the_parameter_file(tmp_path, capsys) -> None:
    market = yaml.safe_load(EXAMPLE.read_text())
    market["n_paths"] = 200
    market["pairs"] = market["pairs"][:2]
    path = tmp_path / "market.yaml"
    path.write_text(yaml.safe_dump(market))
    out = tmp_path / "lending.yaml"
    assert main(["lending", "recommend", "--market", str(path), "--target-var", "1000000", "--out", str(out), "--json", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = yaml.safe_load(out.read_text())
    assert printed == written
    assert written["lending"]["targets"]["var95_usd"] == 1_000_000
    assert {row["event"] for row in written["lending"]["backtest"]} == {"steth-2022-06", "usdc-2023-03", "crash-2025-10-10"}


def test_bad_market_is_one_line_exit_2(tmp_path, capsys) -> None:
    market = yaml.safe_load(EXAMPLE.read_text())
    market["reserves"]["ETH"]["ltv"] = 0.95
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(market))
    assert main(["lending", "recommend", "--market", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "reserves[ETH].ltv" in err
