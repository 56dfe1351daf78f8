"""Unit tests of the shared CLI machinery (marginlab.cli._common)."""

from __future__ import annotations

import argparse
import io
import json
import math

import pandas as pd
import pytest

from marginlab.cli._common import (
    CommandParser,
    add_asof_flag,
    add_out_flag,
    add_quiet_flag,
    emit_json,
    emit_table,
    json_safe,
    parse_asof,
)
from marginlab.exceptions import InputError, NumericalError


@pytest.mark.parametrize("text", ["2024-13-45", "2024-02-30", "31/12/2024x", "", "nope"])
def test_parse_asof_rejects_bad_dates(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_asof(text)
    assert info.value.field == "--asof" and info.value.value == text


def test_parse_asof_accepts_dates_and_timestamps() -> None:
    assert parse_asof("2024-02-29") == pd.Timestamp("2024-02-29", tz="UTC")  # leap day
    assert parse_asof("2024-02-29T12:00:00+02:00") == pd.Timestamp("2024-02-29 10:00", tz="UTC")


def test_json_safe() -> None:
    assert json_safe({"a": float("nan"), "b": [1, math.inf], "c": pd.Timestamp("2025-01-01", tz="UTC")}) == {
        "a": None, "b": [1, None], "c": "2025-01-01T00:00:00+00:00"}
    with pytest.raises(NumericalError, match=r"doc.b\[1\]=inf"):
        json_safe({"b": [1, math.inf]}, "doc", strict=True)


def test_emit_json_refuses_nan() -> None:
    with pytest.raises(NumericalError):
        emit_json({"x": float("nan")}, io.StringIO())


def test_emit_table_formats_and_finite_columns() -> None:
    frame = pd.DataFrame({"model": ["a", "b"], "margin_usd": [1234.5, float("nan")], "error": ["", "rejected"]})
    for flags, check in (({"json": True}, lambda s: json.loads(s)[1]["margin_usd"] is None),
                         ({"csv": True}, lambda s: s.splitlines()[0] == "model,margin_usd,error"),
                         ({}, lambda s: "1,234.50" in s)):
        stream = io.StringIO()
        emit_table(frame, argparse.Namespace(**flags), finite=("margin_usd",), skip_rows=frame["error"] != "", stream=stream)
        assert check(stream.getvalue())
    with pytest.raises(NumericalError, match=r"margin_usd\[b\]"):
        emit_table(frame, argparse.Namespace(json=True), finite=("margin_usd",), stream=io.StringIO())


def test_standard_flags_and_hidden_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    parser = CommandParser(prog="marginlab demo")
    add_out_flag(parser, aliases=("--events", "--output"))
    add_quiet_flag(parser)
    add_asof_flag(parser)
    assert parser.parse_args(["--events", "e.csv", "--no-progress", "--as-of", "2024-01-01"]) == argparse.Namespace(
        out="e.csv", quiet=True, asof="2024-01-01")
    help_text = parser.format_help()
    assert "--out" in help_text and "--quiet" in help_text and "--asof" in help_text
    assert "--events" not in help_text and "--no-progress" not in help_text and "--as-of" not in help_text
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--bogus"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == "marginlab demo: error: unrecognized arguments: --bogus (see 'marginlab demo --help')\n"


# ------------------------------------------------------------------ tables fit 120 columns
README_TABLES = [
    ["models"],
    ["margin", "examples/account_btc_options.yaml", "--market", "examples/market_2025-01-15.yaml", "--model", "deribit-pm"],
    ["margin", "examples/account_btc_options.yaml", "--market", "examples/market_2025-01-15.yaml", "--model", "derive-pmrm-v2"],
    ["margin", "examples/account_perps.yaml", "--market", "examples/market_2025-01-15.yaml", "--model", "binance-unified"],
    ["margin", "examples/account_btc_options.yaml", "--market", "examples/market_2025-01-15.yaml", "--model",
     "deribit-standard", "deribit-pm", "derive-pmrm-v2"],
    ["greeks", "examples/account_btc_options.yaml", "--market", "examples/market_2025-01-15.yaml"],
    ["stress-test", "--list"],
    ["data", "list"],
]


@pytest.mark.parametrize("argv", README_TABLES, ids=lambda argv: "-".join(argv[:1] + argv[-1:]))
def test_readme_commands_print_tables_within_120_columns(argv, capsys, monkeypatch) -> None:
    """Every table line of the README's commands fits 120 columns (they were 250-520 wide); prose lines aside."""
    from pathlib import Path

    from marginlab.cli import main
    from marginlab.text_table import TABLE_WIDTH

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert main(argv) == 0
    out = capsys.readouterr().out
    wide = [line for line in out.splitlines() if len(line) > TABLE_WIDTH and not line.lstrip().startswith(("-", "dataset:"))]
    assert not wide, wide[:2]
