"""The ``marginlab stress-test`` command."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from marginlab.cli import main
from marginlab.cli.stress_commands import load_book, parse_model
from marginlab.data import snapshot_available, snapshot_path
from marginlab.exceptions import FileFormatError, InputError

needs_data = pytest.mark.skipif(not snapshot_available(), reason="needs the market-data snapshot")


def test_list(capsys):
    assert main(["stress-test", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("covid-2020-03-12", "ftx-2022-11", "usdc-depeg-2023-03", "btc-minus-40pct-instant", "vol-doubling"):
        assert name in out


def test_missing_arguments_are_clear_errors(capsys):
    assert main(["stress-test", "--scenario", "covid-2020-03-12", "--model", "flat:0.1:0.05"]) == 2
    assert "--book" in capsys.readouterr().err
    assert main(["stress-test", "--scenario", "nope", "--model", "flat:0.1:0.05", "--synthetic", "2"]) == 2
    assert "scenario" in capsys.readouterr().err


def test_parse_model_and_load_book(tmp_path):
    model = parse_model("flat:0.2:0.1")
    assert (model.im_rate, model.mm_rate) == (0.2, 0.1)
    with pytest.raises(InputError, match="flat"):
        parse_model("flat:0.2")
    path = tmp_path / "book.yaml"
    path.write_text(yaml.safe_dump({"accounts": [{"positions": [{"symbol": "BTC-PERPETUAL", "quantity": 1}]}, {"account_id": "b", "cash_usd": 5}]}))
    book = load_book(path)
    assert [a.account_id for a in book] == ["account-0", "b"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("[]")
    with pytest.raises(FileFormatError):
        load_book(bad)


@needs_data
def test_book_through_instant_crash_writes_events(tmp_path, capsys):
    # base price: BTC close on 2025-02-19 (btc_usd_daily.csv); 1 BTC long entered there with 10% cash.
    raw = pd.read_csv(snapshot_path("btc_usd"))
    base = float(raw.loc[raw["timestamp"] == "2025-02-19T00:00:00Z", "close"].iloc[0])
    book = tmp_path / "book.yaml"
    book.write_text(yaml.safe_dump([{"account_id": "ten-x", "cash_usd": 0.1 * base,
                                     "positions": [{"symbol": "BTC-PERPETUAL", "quantity": 1.0, "entry_price_usd": base}]}]))
    events = tmp_path / "events.csv"
    code = main(["stress-test", "--scenario", "btc-minus-40pct-instant", "--model", "flat:0.1:0.05", "--book", str(book),
                 "--events", str(events)])
    assert code == 0
    out = capsys.readouterr().out
    assert "shortfall_usd" in out
    log = pd.read_csv(events)
    assert list(log["action"]) == ["full_liquidation", "insurance_fund", "bad_debt"]
    # -40% on a 10% equity: deficit = -(0.1 base - 0.4 base) = 0.3 base; no fund, no ADL -> all bad debt
    assert log["deficit_usd"].iloc[1] == pytest.approx(0.3 * base)  # insurance_fund row: fund 0 pays nothing
    assert log["transfer_usd"].iloc[1] == 0
    assert log["deficit_usd"].iloc[2] == pytest.approx(0.3 * base)  # bad_debt row


@needs_data
def test_readme_example_runs_with_a_book_that_suits_the_model(tmp_path, capsys):
    """README: `--model hyperliquid --synthetic 50` (Hyperliquid lists no options: the default book has none)."""
    out = tmp_path / "events.parquet"
    summary = tmp_path / "summary.json"
    code = main(["stress-test", "--scenario", "covid-2020-03-12", "--model", "hyperliquid", "--synthetic", "50", "--quiet",
                 "--out", str(out), "--json", str(summary), "--substeps", "1"])
    assert code == 0
    captured = capsys.readouterr()
    last = captured.out.strip().splitlines()[-1]
    assert last.startswith("stress-test covid-2020-03-12: accounts=50") and "hyperliquid: liquidated=" in last
    assert "replay" not in captured.err  # --quiet: no progress bar
    events = pd.read_parquet(out)
    assert set(events["action"]) <= {"warning", "reduce_only", "partial_liquidation", "full_liquidation", "insurance_fund", "adl", "bad_debt",
                                     "settlement", "socialised_loss"}
    assert not events["symbol"].str.contains("-C$|-P$", regex=True).any()  # no options in the book
    import json

    table = json.loads(summary.read_text())
    assert table[0]["model"] == "hyperliquid" and table[0]["accounts"] == 50


@needs_data
def test_json_and_csv_to_stdout_and_progress_on_stderr(capsys):
    code = main(["stress-test", "--scenario", "btc-minus-40pct-instant", "--model", "flat:0.1:0.05", "--synthetic", "5", "--assets", "BTC",
                 "--strategies", "long_perp", "--csv"])
    assert code == 0
    captured = capsys.readouterr()
    frame = pd.read_csv(__import__("io").StringIO(captured.out))
    assert list(frame["model"]) == ["flat:0.1:0.05"] and int(frame["accounts"].iloc[0]) == 5
    assert "stress-test btc-minus-40pct-instant" in captured.err  # the summary line moves to stderr when stdout carries CSV


def test_bad_outputs_and_options_exit_2(tmp_path, capsys):
    assert main(["stress-test", "--scenario", "covid-2020-03-12", "--model", "flat:0.1:0.05", "--synthetic", "2",
                 "--out", str(tmp_path / "missing" / "e.parquet")]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["stress-test", "--scenario", "covid-2020-03-12", "--model", "flat:0.1:0.05", "--synthetic", "2", "--out", str(tmp_path / "e.txt")]) == 2
    assert "suffix" in capsys.readouterr().err
    assert main(["stress-test", "--scenario", "covid-2020-03-12", "--model", "flat:0.1:0.05", "--synthetic", "0"]) == 2
    assert "--synthetic" in capsys.readouterr().err
    assert main(["stress-test", "--scenario", "covid-2020-03-12", "--model", "flat:0.1:0.05", "--synthetic", "2", "--asof", "2024-01-01"]) == 2
    assert "--asof" in capsys.readouterr().err
    assert main(["stress-test", "--scenario", "covid-2020-03-12", "--model", "flat:0.1:0.05", "--synthetic", "2", "--scheduler", "nowhere"]) == 2
    assert "scheduler" in capsys.readouterr().err


def test_historical_window_uses_fhs_point_in_time_without_look_ahead(capsys):
    """``fhs-var``'s preset history runs to 2025; on a 2020 window the CLI rebuilds it at every step from the history before
    the step (``model.as_of``), so no look-ahead warning is printed, and the book is built for the same model."""
    code = main(["stress-test", "--scenario", "covid-2020-03-12", "--model", "fhs-var", "--synthetic", "12", "--quiet", "--substeps", "1"])
    assert code == 0
    captured = capsys.readouterr()
    assert "look ahead" not in captured.err
    assert "fhs-var: liquidated=" in captured.out.strip().splitlines()[-1]
