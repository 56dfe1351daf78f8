"""Issue 23: every bad-input class ends in one line naming the field and the value, exit code 2, and no file.

One parametrised case per class of the issue (and its siblings): NaN/inf in every numeric field, positions CSV
headers, dates, YAML tags and nesting, ``MARGINLAB_VENUES``; commands that write (``stress-test --out``,
``backtest --rates-out``, ``calibrate --out``) check the whole input before any work; an interrupted write leaves
the previous file or none, and the next write removes the temporary file a killed run left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import marginlab.io
from marginlab.account import Account
from marginlab.cli import main
from marginlab.exceptions import ExpiredInstrumentError, MissingMarketDataError, UnknownAssetError
from marginlab.inputs import validate_book
from marginlab.market import MarketSnapshot

ROOT = Path(__file__).resolve().parents[2]
MARKET = ROOT / "examples" / "market_2025-01-15.yaml"
PERPS = ROOT / "examples" / "account_perps.yaml"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single ``marginlab: error: ...`` line on stderr (warnings aside), no traceback, no internal error."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("marginlab: warning:") and not line.startswith("warning:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("marginlab: error: "), err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------------------ account fields
POSITION = "{symbol: BTC-PERPETUAL, quantity: 1, entry_price_usd: 96000, leverage: 10, isolated_collateral_usd: 5000}"


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (("entry_price_usd: 96000", "entry_price_usd: .nan"), "entry_price_usd=nan"),
        (("leverage: 10", "leverage: .nan"), "leverage=nan"),
        (("isolated_collateral_usd: 5000", "isolated_collateral_usd: .nan"), "isolated_collateral_usd=nan"),
        (("entry_price_usd: 96000", "entry_price_usd: .inf"), "entry_price_usd=inf"),
        (("quantity: 1", "quantity: -.inf"), "quantity=-inf"),
        (("leverage: 10", "leverage: 1000"), "leverage=1000"),
        (("leverage: 10", "leverage: 0.5"), "leverage=0.5"),
        (("cash_usd: 0", "cash_usd: .nan"), "cash_usd"),
        (("BTC: 1.0", "BTC: .inf"), "collateral[BTC]=inf"),
        (("entry_price_usd: 96000", "entry_price_usd: !!float abc"), "entry_price_usd='abc'"),
        (("leverage: 10", "leverage: !!bool maybe"), "leverage='maybe'"),
    ],
)
def test_account_numeric_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str], replace: tuple[str, str], expected: str) -> None:
    text = f"cash_usd: 0\ncollateral: {{BTC: 1.0}}\npositions:\n  - {POSITION}\n"
    assert replace[0] in text
    path = tmp_path / "account.yaml"
    path.write_text(text.replace(*replace))
    assert main(["margin", str(path), "--market", str(MARKET), "--model", "hyperliquid", "--json"]) == 2
    line = one_error_line(capsys)
    assert expected in line and "account.yaml" in line
    assert files(tmp_path) == ["account.yaml"]


# ------------------------------------------------------------------------------------------ positions CSV
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("symbol,quantty\nBTC-PERPETUAL,1\n", "columns[1]='quantty': not a positions column"),
        ("symbol,quantity,levrage\nBTC-PERPETUAL,1,5\n", "did you mean 'leverage'?"),
        ("symbol,quantity,leverage,leverage\nBTC-PERPETUAL,1,5,10\n", "columns[3]='leverage': column given twice"),
        ("symbol,quantity,quantity\nBTC-PERPETUAL,1,100\n", "columns[2]='quantity': column given twice"),
        ("symbol,quantity,leverage\nBTC-PERPETUAL,1,nan\n", "row 1: leverage='nan'"),
        ("symbol,quantity,entry_price_usd\nBTC-PERPETUAL,1,inf\n", "row 1: entry_price_usd='inf'"),
        ("symbol,quantity\nBTC-PERPETUAL,\n", "row 1: quantity=None: must be a number"),
        ("symbol,entry_price_usd\nBTC-PERPETUAL,1\n", "lacks column(s) ['quantity']"),
    ],
)
def test_positions_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str) -> None:
    path = tmp_path / "book.csv"
    path.write_text(text)
    assert main(["margin", str(path), "--market", str(MARKET), "--model", "hyperliquid"]) == 2
    assert expected in one_error_line(capsys)
    assert files(tmp_path) == ["book.csv"]


def test_positions_csv_empty_cells_mean_not_given(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("\ufeffsymbol, quantity,leverage,label\nBTC-PERPETUAL,1,,\nETH-PERPETUAL,-2,5,hedge\n")
    positions = Account.load(path).positions
    assert [p.leverage for p in positions] == [None, 5.0] and positions[1].label == "hedge"


# ------------------------------------------------------------------------------------------ market fields, dates, tags
@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (("as_of: 2025-01-15T23:00:00Z", "as_of: 1736982000"), "as_of=1736982000: must be an ISO-8601 time"),
        (("as_of: 2025-01-15T23:00:00Z", "as_of: 2025-02-30"), "as_of='2025-02-30' at line 5, column 8: not a valid !!timestamp"),
        (("as_of: 2025-01-15T23:00:00Z", "as_of: '20250230'"), "as_of='20250230': is not a calendar date"),
        (("rate: 0.0", "rate: !!float abc"), "rate='abc' at line 6, column 7: not a valid !!float"),
        (("rate: 0.0", "rate: !!bool maybe"), "rate='maybe'"),
        (("rate: 0.0", "rate: .nan"), "rate=nan"),
        (("index_usd: 100510.23", "index_usd: .inf"), "index_usd=inf"),
        (("forward_usd: 100950.0", "forward_usd: .nan"), "forward_usd=nan"),
        (("vols: [0.63, 0.58, 0.60]", "vols: [0.63, .nan, 0.60]"), "smile.vols=nan"),
        (("perpetual_usd: 100545.0", "perp_usd: 100545.0"), "assets.BTC.perp_usd: unknown field"),
        (("2025-01-31T08:00:00Z:", "2025-01-32T08:00:00Z:"), "'2025-01-32T08:00:00Z' at line 12, column 7: not a valid !!timestamp"),
        (("rate: 0.0", "rate: !!binary AAAA"), "could not determine a constructor"),
    ],
)
def test_market_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str], replace: tuple[str, str], expected: str) -> None:
    text = MARKET.read_text()
    assert replace[0] in text
    path = tmp_path / "market.yaml"
    path.write_text(text.replace(*replace, 1))
    assert main(["margin", str(PERPS), "--market", str(path), "--model", "hyperliquid"]) == 2
    line = one_error_line(capsys)
    assert expected in line and "market.yaml" in line
    assert files(tmp_path) == ["market.yaml"]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_nesting_is_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    path = tmp_path / f"deep{suffix}"
    path.write_text('{"positions": ' + "[" * 1000 + "]" * 1000 + "}")
    assert main(["margin", str(path), "--market", str(MARKET), "--model", "hyperliquid"]) == 2
    assert "nested more than 100 levels deep" in one_error_line(capsys)


def test_yaml_aliases_are_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["a0: &a0 [1, 2]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 60)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert main(["margin", str(path), "--market", str(MARKET), "--model", "hyperliquid"]) == 2
    assert "more than 100 aliases" in one_error_line(capsys)


def test_missing_venues_folder(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("MARGINLAB_VENUES", str(missing))
    assert main(["models"]) == 2
    assert one_error_line(capsys) == f"marginlab: error: MARGINLAB_VENUES={str(missing)!r}: is not an existing folder of venue files"


# ------------------------------------------------------------------------------------------ commands that write
def _book(tmp_path: Path, position: str, collateral: str = "{}") -> Path:
    path = tmp_path / "book.yaml"
    path.write_text(f"accounts:\n  - account_id: a\n    cash_usd: 20000\n    collateral: {collateral}\n    positions:\n      - {position}\n")
    return path


@pytest.mark.parametrize(
    ("position", "collateral", "expected"),
    [
        ("{symbol: BTC-20200101-10000-C, quantity: 1}", "{}", "accounts[0].positions[0].symbol='BTC-20200101-10000-C': expired"),
        ("{symbol: BTC-PERPETUAL, quantity: 1}", "{XYZ: 5}", "XYZ"),
        ("{symbol: BTC-PERPETUAL, quantity: 1, leverage: 1000}", "{}", "leverage=1000: must lie in [1, 200]"),
        ("{symbol: BTC-PERPETUAL, quantity: 1, leverage: .nan}", "{}", "leverage=nan"),
    ],
)
def test_stress_test_checks_the_book_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str], position: str,
                                                    collateral: str, expected: str) -> None:
    book = _book(tmp_path, position, collateral)
    out = tmp_path / "ev.csv"
    code = main(["stress-test", "--scenario", "covid-2020-03-12", "--model", "deribit-standard", "--book", str(book),
                 "--out", str(out), "--json", str(tmp_path / "s.json"), "--quiet"])
    assert code == 2
    assert expected in one_error_line(capsys)
    assert files(tmp_path) == ["book.yaml"]


def test_validate_book_names_account_position_and_value() -> None:
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000.0,
                                       "expiries": {"2025-03-28": {"forward_usd": 101_000.0}}}}})
    def account(symbol: str, **extra: object) -> Account:
        return Account.from_dict({"account_id": "desk", "positions": [{"symbol": symbol, "quantity": 1}], **extra})

    with pytest.raises(MissingMarketDataError, match=r"accounts\[0\]\.positions\[0\]\.symbol='BTC-20250328-100000-C'.*BTC 2025-03-28"):
        validate_book([account("BTC-20250328-100000-C")], market)
    with pytest.raises(ExpiredInstrumentError, match="BTC-20250110"):
        validate_book([account("BTC-20250110")], market)
    with pytest.raises(UnknownAssetError, match="underlying ETH not priced"):
        validate_book([account("ETH-PERPETUAL")], market)
    with pytest.raises(UnknownAssetError, match=r"accounts\[1\]\.collateral='USDC'"):
        validate_book([account("BTC-20250328"), Account.from_dict({"account_id": "b", "collateral": {"USDC": 1}})], market)
    with pytest.raises(ValueError, match=r"accounts\[1\]\.account_id='desk': already used by accounts\[0\]"):
        validate_book([account("BTC-PERPETUAL"), account("BTC-PERPETUAL")], market)
    validate_book([account("BTC-20250328"), account("BTC-PERPETUAL", account_id="b")], market)  # a future needs no vol


def test_backtest_end_after_the_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.csv"
    assert main(["backtest", "--assets", "BTC", "--end", "2030-01-01", "--rates-out", str(out), "--quiet"]) == 2
    assert "--end='2030-01-01': is after the last day of data of BTC" in one_error_line(capsys)
    assert main(["backtest", "--assets", "BTC", "--end", "2024-02-30", "--rates-out", str(out), "--quiet"]) == 2
    assert "--end='2024-02-30': not a valid date" in one_error_line(capsys)
    assert files(tmp_path) == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"volatility": {"candidates": [["garch"]]}}, "volatility.candidates"),
        ({"vol_shock": {"dvol_reference": 5}}, "vol_shock.dvol_reference=5"),
        ({"pool": {"pooled_with": ["XYZ"]}}, "pool.pooled_with='XYZ'"),
        ({"rates": {"scan_confidence": 1.5}}, "rates.scan_confidence=1.5"),
        ({"volatility": {"modle": "ewma"}}, "volatility.modle: unknown"),
    ],
)
@pytest.mark.parametrize("command", ["calibrate", "backtest"])
def test_methodology_violating_its_schema_leaves_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], document: dict,
                                                         expected: str, command: str) -> None:
    methodology = tmp_path / "m.yaml"
    methodology.write_text(yaml.safe_dump(document))
    if command == "calibrate":
        argv = ["calibrate", "--assets", "BTC", "--asof", "2022-12-31", "--out", str(tmp_path / "p.yaml"), "--quiet"]
    else:
        argv = ["backtest", "--assets", "BTC", "--rates-out", str(tmp_path / "r.csv"), "--quiet"]
    assert main([*argv, "--methodology", str(methodology)]) == 2
    assert expected in one_error_line(capsys)
    assert files(tmp_path) == ["m.yaml"]


# ------------------------------------------------------------------------------------------ interrupted writes
def test_next_write_removes_the_temporary_files_of_a_killed_run_only(tmp_path: Path) -> None:
    target = tmp_path / "p.yaml"
    target.write_text("old\n")
    dead = tmp_path / ".p.yaml.999999999.k2j4h5g6.tmp"  # no such process
    legacy = tmp_path / ".p.yaml.abcd_123.tmp"  # the pid-less name of earlier versions
    alive = tmp_path / f".p.yaml.{os.getppid()}.zzzz9999.tmp"  # a running process's write in progress
    fresh = tmp_path / ".p.yaml.999999998.aaaa0000.tmp"  # written after this process started
    others = [tmp_path / ".q.yaml.999999999.k2j4h5g6.tmp", tmp_path / "p.yaml.999999999.k2j4h5g6.tmp",
              tmp_path / ".p.yaml.999999999.k2j4h5g6.tmp.bak"]
    old = time.time() - 3600
    for path in [dead, legacy, alive, *others]:
        path.write_text("partial")
        os.utime(path, (old, old))
    fresh.write_text("partial")
    marginlab.io.atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert not dead.exists() and not legacy.exists()
    assert alive.exists() and fresh.exists() and all(path.exists() for path in others)


def test_calibrate_killed_during_the_write_then_a_successful_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SIGKILL at the worst moment -- the temporary file written, not yet renamed -- leaves the previous file; the
    next run replaces it and removes the debris."""
    out = tmp_path / "p.yaml"
    out.write_text("previous\n")
    argv = ["calibrate", "--assets", "BTC", "--asof", "2022-12-31", "--out", str(out), "--quiet", "--no-stablecoin-collateral"]
    killer = ("import os, signal, sys\nimport marginlab.io\n"
              "marginlab.io.os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"
              "from marginlab.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", killer, *argv], env=env, cwd=tmp_path, capture_output=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    debris = [name for name in files(tmp_path) if name.endswith(".tmp")]
    assert len(debris) == 1 and debris[0].startswith(".p.yaml.") and out.read_text() == "previous\n"
    # in real use the next run is a new process, started after the killed one wrote its file: date the file so
    past = marginlab.io._STARTED - 1.0
    os.utime(tmp_path / debris[0], (past, past))
    assert main(argv) == 0
    capsys.readouterr()
    assert files(tmp_path) == ["p.yaml"]
    assert "BTC" in yaml.safe_load(out.read_text())["assets"]
