"""``marginlab margin``, ``models`` and ``greeks`` on the shipped example files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from marginlab.account import Account
from marginlab.cli import main
from marginlab.margin.presets import get_model
from marginlab.market import MarketSnapshot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ACCOUNT = EXAMPLES / "account_btc_options.yaml"
PERPS = EXAMPLES / "account_perps.yaml"
MARKET = EXAMPLES / "market_2025-01-15.yaml"


def test_margin_prints_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", "deribit-standard"]) == 0
    out = capsys.readouterr().out
    assert "Margin by deribit-standard" in out and "Components:" in out and "BTC option" in out


def test_margin_json_matches_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", "deribit-cross", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    expected = get_model("deribit-cross").margin(Account.load(ACCOUNT), MarketSnapshot.load(MARKET))
    assert document["initial_margin_usd"] == pytest.approx(expected.initial_margin_usd)
    assert document["maintenance_margin_usd"] == pytest.approx(expected.maintenance_margin_usd)
    assert document["action"] == expected.details["action"]
    assert len(document["positions"]) == 6 and len(document["collateral"]) == 2


@pytest.mark.parametrize("model", ["binance-brackets", "hyperliquid", "dydx", "binance-unified", "hyperliquid-cross"])
def test_perpetual_presets_on_the_perps_example(model: str, capsys: pytest.CaptureFixture[str]) -> None:
    # hyperliquid-cross counts only USDC collateral: the example's BTC/USDT collateral is an unknown asset there
    code = main(["margin", str(PERPS), "--market", str(MARKET), "--model", model, "--json"])
    captured = capsys.readouterr()
    if model == "hyperliquid-cross":
        assert code == 2 and "has no haircut" in captured.err
        return
    assert code == 0
    document = json.loads(captured.out)
    assert document["maintenance_margin_usd"] > 0
    if model == "hyperliquid":
        assert document["liquidation_policy"]["partial_fraction"] == 0.2


def test_models_lists_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    names = {row["name"] for row in json.loads(capsys.readouterr().out)}
    assert {"deribit-standard", "binance-brackets", "hyperliquid", "dydx", "deribit-cross", "binance-unified"} <= names


def test_greeks_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["greeks", str(ACCOUNT), "--market", str(MARKET), "--json"]) == 0
    rows = {row["underlying"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"BTC", "ETH", "TOTAL"}
    assert rows["TOTAL"]["delta_coin"] is None


def test_errors_are_reported_with_exit_code_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", "no-such-model"]) == 2
    assert "no-such-model" in capsys.readouterr().err
    # options under a perpetual venue
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", "hyperliquid"]) == 2
    assert "does not margin options" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("positions: [ {symbol: BTC-PERPETUAL, quantity: }\n")
    assert main(["margin", str(broken), "--market", str(MARKET), "--model", "deribit-standard"]) == 2
    assert "broken.yaml" in capsys.readouterr().err


def test_assumed_parameters_are_marked_in_the_table_and_listed_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22: a model whose number depends on an assumed venue value is marked '*' with a footnote naming the values."""
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", "deribit-pm-c3", "deribit-standard"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip().startswith(("deribit-pm-c3", "deribit-standard"))}
    assert "deribit-pm-c3 *" in rows["deribit-pm-c3"] and "*" not in rows["deribit-standard"]
    assert "* depends on assumed venue parameters" in out and "parameters.grid.extra[].dampening" in out.split("* depends on")[1]
    # the README account under the default deribit-pm: its ETH options use the vol shock published for BTC
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", "deribit-pm", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [a["parameter"] for a in document["assumptions"]] == ["parameters.vol_shock"]
    assert "btc_usd" in document["assumptions"][0]["why"]
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", "deribit-pm"]) == 0
    assert "Assumed (not from a source" in capsys.readouterr().out
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", "deribit-pm", "deribit-standard", "--json"]) == 0
    table = {row["model"]: row for row in json.loads(capsys.readouterr().out)}
    assert table["deribit-pm"]["assumed"] == "parameters.vol_shock" and table["deribit-standard"]["assumed"] == ""
