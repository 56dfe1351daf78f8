"""CLI conventions: help with description and examples, one name per flag, tables in three formats."""

from __future__ import annotations

import argparse
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from marginlab.account import Account
from marginlab.analysis.efficiency import margin_table
from marginlab.cli import build_parser, main
from marginlab.market import MarketSnapshot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ACCOUNT = EXAMPLES / "account_btc_options.yaml"
PERPS = EXAMPLES / "account_perps.yaml"
MARKET = EXAMPLES / "market_2025-01-15.yaml"

#: Flag spellings that were replaced by the standard ones (still accepted, hidden from the help).
OLD_SPELLINGS = ("--output", "--events", "--no-progress", "--as-of", "--as_of")


def _subparsers(parser: argparse.ArgumentParser, prefix: str = "marginlab"):  # type: ignore[no-untyped-def]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _subparsers(sub, f"{prefix} {name}")


COMMANDS = dict(_subparsers(build_parser()))


def test_every_command_is_listed() -> None:
    assert {"marginlab margin", "marginlab models", "marginlab greeks", "marginlab derive-case", "marginlab calibrate",
            "marginlab stress-test", "marginlab data", "marginlab data list", "marginlab data fetch"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_has_description_and_example(name: str) -> None:
    parser = COMMANDS[name]
    text = parser.format_help()
    assert parser.description and len(parser.description) > 20
    assert "examples:\n  marginlab " in text
    for line in text.split("examples:\n")[1].splitlines():
        if line.strip():
            assert line.strip().startswith("marginlab ")
    for old in OLD_SPELLINGS:
        assert old not in text


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_one_name_per_flag(name: str) -> None:
    flags = {option for action in COMMANDS[name]._actions for option in action.option_strings}
    if "--events" in flags or "--output" in flags:
        assert "--out" in flags
    if "--no-progress" in flags:
        assert "--quiet" in flags
    for flag in flags:
        assert "_" not in flag or flag == "--as_of", flag  # dashes, not underscores


@pytest.mark.parametrize("command", [["models"], ["greeks", str(ACCOUNT), "--market", str(MARKET)],
                                     ["margin", str(PERPS), "--market", str(MARKET), "--model", "hyperliquid", "dydx"],
                                     ["stress-test", "--list"]])
def test_tables_in_text_json_and_csv_agree(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert main([*command, "--csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(frame) == len(records) > 0
    assert list(frame.columns) == list(records[0])
    assert main(command) == 0
    text = capsys.readouterr().out
    first = str(records[0][list(records[0])[0]])
    assert first in text


def test_margin_compares_several_models_in_one_table(capsys: pytest.CaptureFixture[str]) -> None:
    models = ["deribit-standard", "deribit-pm", "derive-pmrm-v2", "hyperliquid"]
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", *models[:2], "--model", *models[2:], "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = margin_table({"a": Account.load(ACCOUNT)}, models, MarketSnapshot.load(MARKET))
    assert [row["model"] for row in rows] == models
    for row, (_, reference) in zip(rows, expected.iterrows()):
        if reference["error"]:
            assert row["initial_margin_usd"] is None and "does not margin options" in row["error"]
        else:
            assert row["initial_margin_usd"] == pytest.approx(reference["initial_margin_usd"], rel=1e-12)
            assert row["maintenance_margin_usd"] == pytest.approx(reference["maintenance_margin_usd"], rel=1e-12)
            assert row["error"] == ""
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", *models]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Gross notional ") and "rejected: InputError" in text and "%" in text
    assert not re.search(r"\bnan\b|\binf\b", text.lower())


def test_margin_with_one_model_and_csv_gives_one_row(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", str(PERPS), "--market", str(MARKET), "--model", "dydx", "--csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(frame["model"]) == ["dydx"] and frame["initial_margin_usd"].iloc[0] > 0


def test_every_model_rejecting_the_account_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", "hyperliquid", "dydx"]) == 2
    err = capsys.readouterr().err
    assert "no model could margin the account" in err and "hyperliquid" in err and "dydx" in err
