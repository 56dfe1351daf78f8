"""Every failure class of issue 11 ends in one line on stderr, exit code 2, and no file left behind.

Also: the last resort (any other exception -> ``marginlab: internal error: ...``, exit 1, ``--debug``
for the traceback), quiet broken pipes, and totals that are never printed as NaN/inf.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import marginlab.io
from marginlab.cli import main
from marginlab.margin.base import MarginResult

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ACCOUNT = EXAMPLES / "account_btc_options.yaml"
PERPS = EXAMPLES / "account_perps.yaml"
MARKET = EXAMPLES / "market_2025-01-15.yaml"


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if not line.startswith("marginlab: warning:")]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("marginlab: error: ") or lines[0].startswith("marginlab calibrate: error: ")
    assert "Traceback" not in captured.err
    return lines[0]


def _margin(account: Path | str, *extra: str) -> int:
    return main(["margin", str(account), "--market", str(MARKET), "--model", "deribit-standard", *extra])


def test_non_utf8_account_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("account_id: caf\u00e9\npositions: []\n".encode("latin-1"))
    assert _margin(path) == 2
    line = _one_error_line(capsys)
    assert f"{path}: not UTF-8 text (byte 0xe9 at line 1, column 16)" in line
    assert [p.name for p in tmp_path.iterdir()] == ["latin1.yaml"]


def test_directory_given_as_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _margin(tmp_path) == 2
    assert f"{tmp_path}: is a directory, expected a file (account file)" in _one_error_line(capsys)
    assert main(["margin", str(ACCOUNT), "--market", str(tmp_path), "--model", "deribit-pm"]) == 2
    assert "expected a file (market file)" in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_duplicate_yaml_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("positions:\n  - symbol: BTC-PERPETUAL\n    quantity: 1\n    quantity: 100\n")
    assert _margin(path) == 2
    assert "duplicate key 'quantity' at line 4, column 5 (first at line 3, column 5)" in _one_error_line(capsys)


@pytest.mark.parametrize("asof", ["2024-13-45", "2024-02-30", "yesterday", ""])
def test_bad_asof(tmp_path: Path, capsys: pytest.CaptureFixture[str], asof: str) -> None:
    out = tmp_path / "params.yaml"
    assert main(["calibrate", "--assets", "BTC", "--asof", asof, "--out", str(out), "--quiet"]) == 2
    assert f"--asof={asof!r}: not a valid date; expected YYYY-MM-DD" in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []  # checked before any work: no file


def _read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``folder`` read-only for marginlab (chmod, and os.access for root, who ignores modes)."""
    folder.chmod(0o500)
    real_access = os.access

    def access(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        if Path(str(path)).resolve() == folder.resolve() and mode & os.W_OK:
            return False
        return real_access(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(marginlab.io.os, "access", access)


def test_read_only_out(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    _read_only(monkeypatch, folder)
    try:
        out = folder / "params.yaml"
        assert main(["calibrate", "--assets", "BTC", "--asof", "2024-06-30", "--out", str(out), "--quiet"]) == 2
        assert f"--out={str(out)!r}: folder {str(folder)!r} is not writable" in _one_error_line(capsys)
        events = folder / "events.csv"
        assert main(["stress-test", "--scenario", "btc-minus-40pct-instant", "--model", "flat:0.1:0.05", "--synthetic", "2",
                     "--out", str(events)]) == 2
        assert "is not writable" in _one_error_line(capsys)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_out_into_missing_folder_and_old_spelling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "missing" / "events.csv"
    assert main(["stress-test", "--scenario", "btc-minus-40pct-instant", "--model", "flat:0.1:0.05", "--synthetic", "2",
                 "--events", str(events)]) == 2  # --events is the hidden old spelling of --out
    assert "does not exist" in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_string_in_a_numeric_model_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stress-test", "--scenario", "btc-minus-40pct-instant", "--model", "flat:abc:0.05", "--synthetic", "2"]) == 2
    assert "model='flat:abc:0.05'" in _one_error_line(capsys)


def test_overflowing_quantity_is_rejected_by_the_loader(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("positions:\n  - {symbol: BTC-PERPETUAL, quantity: 1e306}\n")
    for model in ("deribit-pm", "derive-pmrm-v2"):
        assert main(["margin", str(path), "--market", str(MARKET), "--model", model, "--json"]) == 2
        line = _one_error_line(capsys)
        assert "positions[0].quantity=1e+306" in line and "exceeds 1e+18 USD" in line


class _NaNModel:
    """A model whose totals overflowed (what the engines produced before they raised NumericalError)."""

    def margin(self, account: object, market: object) -> MarginResult:
        return MarginResult("nan-model", float("nan"), 1.0, float("inf"), pd.DataFrame(), pd.DataFrame())


@pytest.mark.parametrize("flags", [[], ["--json"], ["--csv"]])
def test_non_finite_totals_are_never_printed(flags: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import marginlab.cli.margin_commands as commands

    real = commands.get_model
    monkeypatch.setattr(commands, "get_model", lambda name: _NaNModel() if name == "nan-model" else real(name))
    assert main(["margin", str(PERPS), "--market", str(MARKET), "--model", "nan-model", *flags]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "NaN" not in captured.err and "Infinity" not in captured.err
    assert "initial_margin_usd" in captured.err and "not finite" in captured.err.replace("non-finite", "not finite")
    # in a comparison table too, whatever the format
    assert main(["margin", str(PERPS), "--market", str(MARKET), "--model", "hyperliquid", "nan-model", *flags]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "nan-model" in captured.err


def test_internal_error_is_one_line_exit_1_and_debug_shows_traceback(capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import marginlab.cli.margin_commands as commands

    def boom() -> None:
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(commands, "available_models", boom)
    assert main(["models"]) == 1
    err = capsys.readouterr().err
    assert err == "marginlab: internal error: ZeroDivisionError: division by zero second line (rerun with --debug for the traceback)\n"
    assert main(["models", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.endswith("ZeroDivisionError: division by zero second line\n")


def test_usage_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", str(ACCOUNT), "--model", "deribit-pm"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the following arguments are required: --market" in err
    assert main(["models", "--json", "--csv"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["models"], ["models", "--csv"], ["stress-test", "--list", "--json"], ["margin", "--help"]])
def test_broken_pipe_exits_quietly(command: list[str]) -> None:
    # the reader goes away before the command prints (as `marginlab models | head -1` once head has its line)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "marginlab.cli", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=300) == 0
    assert err == ""


def test_broken_pipe_in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["models"]) == 0
    assert capsys.readouterr().err == ""


def test_json_output_is_strict_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", str(ACCOUNT), "--market", str(MARKET), "--model", "deribit-standard", "--json"]) == 0
    text = capsys.readouterr().out
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON output"))
