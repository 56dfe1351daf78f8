"""Fuzz test of every input file marginlab reads (issue 23): no internal error, no hang, no output file on bad input.

Mutation fuzzing of real files -- the examples, a venue file, the default methodology, the example parameter file,
a stress-test book and a positions CSV -- with a fixed seed per case (so a failure names the case that reproduces
it). Each mutation is one of what a user's editor or a broken pipe produces: a value replaced by a hostile token
(``.nan``, ``!!float abc``, ``2025-02-30``, ``1e400``, ``[[[[...``), a key misspelt, a line deleted, repeated,
swapped or re-indented, the text truncated, bytes that are not UTF-8.

* Loaders (in process): the loader returns, or raises a :class:`~marginlab.exceptions.MarginLabError`; anything
  else (``ValueError``, ``KeyError``, ``RecursionError``...) fails, as does a case running longer than
  ``DEADLINE_SECONDS``.
* Command line (in process, :func:`marginlab.cli.main`): ``margin`` on mutated accounts, markets and venue files
  (``$MARGINLAB_VENUES``) and ``stress-test --book ... --out ... --json ...`` on mutated books: the exit code is 0 or
  2, never 1 (internal error), an error is one line, and after exit 2 no output or temporary file exists.

About 420 cases (``LOADER_CASES`` per loader, ``CLI_CASES`` per command); measured at about 25 s on one core
(``pytest --durations``).
"""

from __future__ import annotations

import contextlib
import io
import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from marginlab.account import Account
from marginlab.calibration.methodology import Methodology
from marginlab.cli import main
from marginlab.cli.stress_commands import load_book
from marginlab.exceptions import MarginLabError
from marginlab.margin.venues import PACKAGE_DIR, build_model, read_venue_file
from marginlab.market import MarketSnapshot
from marginlab.parameters import example_parameters
from marginlab.parameters import load as load_parameters

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MARKET = EXAMPLES / "market_2025-01-15.yaml"
PERPS = EXAMPLES / "account_perps.yaml"
LOADER_CASES = 45
CLI_CASES = 25
DEADLINE_SECONDS = 20.0

#: Hostile replacements for a value.
TOKENS = (
    ".nan", ".NaN", ".inf", "-.inf", "1e400", "-1e400", "-1", "0", "-0.0", "1e18", "1e306", "3.5", "''", "' '", "null", "~",
    "[]", "{}", "[1, 2]", "{a: 1}", "yes", "no", "true", "!!float abc", "!!bool maybe", "!!int 1.5", "!!str", "!!binary AAAA",
    "!!set {a, b}", "!!timestamp 2025-13-01", "!foo bar", "*undefined", "&a 1", "2025-02-30", "2025-02-30T08:00:00Z",
    "1736982000", "20250230", "BTC", "FOO", "btc", "nan", "inf", "abc", "'1'", "\"\\x00\"", "\"\\ud800\"", "@", "`x`",
    "[" * 300 + "]" * 300, "{a: " * 200 + "1" + "}" * 200, "x" * 5000, "- - - -", "? a", "| \n  x", "%TAG ! tag:x,2000:",
)
CSV_TOKENS = ("nan", "NaN", "inf", "-inf", "", " ", "1e400", "-1", "0", "abc", "BTC-20250230-1-C", "BTC-PERP:ETH", '"',
              "1,2", "2.5.1", "True", "\x00", "FOO-PERPETUAL", "BTC-20200101-10000-C", "1e306")


# ----------------------------------------------------------------------------------------------- mutations
def mutate_text(text: str, rng: random.Random) -> str:
    """One random edit of YAML/JSON text (sometimes two)."""
    lines = text.splitlines()
    for _ in range(rng.choice((1, 1, 2))):
        if not lines:
            lines = [rng.choice(TOKENS)]
        i = rng.randrange(len(lines))
        line = lines[i]
        kind = rng.randrange(9)
        if kind <= 2 and ":" in line:  # replace the value of a key
            head = line.split(":", 1)[0] if not line.lstrip().startswith("-") or rng.random() < 0.5 else line.rsplit(":", 1)[0]
            lines[i] = f"{head}: {rng.choice(TOKENS)}"
        elif kind == 3:  # replace a number anywhere on the line
            import re

            numbers = list(re.finditer(r"-?\d+(\.\d+)?(e-?\d+)?", line))
            if numbers:
                match = rng.choice(numbers)
                lines[i] = line[: match.start()] + rng.choice(TOKENS) + line[match.end():]
        elif kind == 4 and line.strip():  # misspell a key or value: insert, drop or swap a character
            j = rng.randrange(len(line))
            lines[i] = rng.choice((line[:j] + line[j + 1:], line[:j] + rng.choice("x_ :-[{#&*!") + line[j:],
                                   line[:j] + line[j:][::-1][:1] + line[j + 1:]))
        elif kind == 5:
            del lines[i]
        elif kind == 6:
            lines.insert(i, line)  # duplicate (a duplicate key, a repeated position)
        elif kind == 7:
            lines[i] = rng.choice(("  ", "    ", "\t", "")) + line.lstrip()
        else:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
    result = "\n".join(lines) + "\n"
    if rng.random() < 0.05:
        result = result[: rng.randrange(len(result) + 1)]  # truncated
    return result


def mutate_csv(text: str, rng: random.Random) -> str:
    """One random edit of a positions CSV: a cell, a header name, a column added or dropped, a ragged row."""
    rows = [line.split(",") for line in text.splitlines()]
    kind = rng.randrange(6)
    r = rng.randrange(len(rows))
    c = rng.randrange(len(rows[r]))
    if kind <= 1 and len(rows) > 1:
        r = rng.randrange(1, len(rows))
        rows[r][c] = rng.choice(CSV_TOKENS)
    elif kind == 2:  # misspell or duplicate a header
        rows[0][c] = rng.choice((rows[0][c][:-1], rows[0][c] + "s", rows[0][rng.randrange(len(rows[0]))], rows[0][c].upper()))
    elif kind == 3:
        for row in rows:
            if c < len(row):
                del row[c]
    elif kind == 4:
        rows[r].append(rng.choice(CSV_TOKENS))
    else:
        rows.insert(rng.randrange(1, len(rows) + 1), list(rows[r]))
    return "\n".join(",".join(row) for row in rows) + "\n"


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """Bytes that are not UTF-8, or a NUL, somewhere in the file."""
    j = rng.randrange(len(data) + 1)
    return data[:j] + rng.choice((b"\xff", b"\xe9", b"\x00", b"\xc3\x28", b"\xed\xa0\x80")) + data[j:]


def mutated(source: str, case: int, *, csv: bool = False) -> bytes:
    rng = random.Random(f"{case}")
    if rng.random() < 0.06:
        return mutate_bytes(source.encode(), rng)
    return (mutate_csv(source, rng) if csv else mutate_text(source, rng)).encode()


# ----------------------------------------------------------------------------------------------- harness
@contextlib.contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Fail a case that runs longer than ``seconds`` (a hang), via SIGALRM where the platform has it."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"{what}: no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _book_text() -> str:
    perps = yaml.safe_load(PERPS.read_text())
    options = {"account_id": "opt", "cash_usd": 50_000, "collateral": {"USDC": 10_000},
               "positions": [{"symbol": "BTC-20991231-100000-C", "quantity": -1}, {"symbol": "BTC-PERPETUAL", "quantity": 0.5,
                                                                                    "entry_price_usd": 95_000, "leverage": 5}]}
    return yaml.safe_dump({"accounts": [perps, options]}, sort_keys=False)


def _venue_text() -> str:
    return (PACKAGE_DIR / "hyperliquid.yaml").read_text().replace("name: hyperliquid", "name: fuzz-venue", 1)


LOADERS: dict[str, tuple[Callable[[], str], str, Callable[[Path], Any], bool]] = {
    "account": (lambda: (EXAMPLES / "account_btc_options.yaml").read_text(), ".yaml", Account.load, False),
    "coin-account": (lambda: (EXAMPLES / "account_btc_coin_margined.yaml").read_text(), ".yaml", Account.load, False),
    "market": (MARKET.read_text, ".yaml", MarketSnapshot.load, False),
    "positions-csv": ((EXAMPLES / "positions_btc.csv").read_text, ".csv", Account.load, True),
    "book": (_book_text, ".yaml", load_book, False),
    "venue": (_venue_text, ".yaml", lambda path: build_model(read_venue_file(path)), False),
    "methodology": (lambda: yaml.safe_dump(Methodology().to_dict(), sort_keys=False), ".yaml", Methodology.load, False),
    "parameters": (lambda: yaml.safe_dump(example_parameters().to_dict(), sort_keys=False), ".yaml", load_parameters, False),
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_loaders_raise_only_marginlab_errors(kind: str, tmp_path: Path) -> None:
    source_of, suffix, loader, csv = LOADERS[kind]
    source = source_of()
    loader(_write(tmp_path / f"original{suffix}", source.encode()))  # the unmutated file loads
    outcomes = {"loaded": 0, "rejected": 0}
    for case in range(LOADER_CASES):
        data = mutated(source, case, csv=csv)
        path = _write(tmp_path / f"case{case}{suffix}", data)
        with deadline(DEADLINE_SECONDS, f"{kind} case {case}"):
            try:
                loader(path)
                outcomes["loaded"] += 1
            except MarginLabError as error:
                assert "\n" not in str(error).strip(), f"{kind} case {case}: multi-line error {error!r}"
                outcomes["rejected"] += 1
            except Exception as error:  # noqa: BLE001 - the point of the test
                pytest.fail(f"{kind} case {case}: {type(error).__name__}: {error}\n--- input ---\n{data[:2000]!r}")
    assert outcomes["rejected"] > LOADER_CASES // 4, outcomes  # the mutations do hit the checks


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def _check_outcome(what: str, code: int, err: str, data: bytes) -> None:
    assert code in (0, 2), f"{what}: exit {code}\n{err}\n--- input ---\n{data[:2000]!r}"
    if code == 2:
        lines = [line for line in err.splitlines() if "warning" not in line]
        assert len(lines) == 1 and lines[0].startswith("marginlab: error: "), f"{what}: {err}"


COMMANDS: dict[str, tuple[Callable[[], str], bool]] = {
    "margin-account": (lambda: (EXAMPLES / "account_btc_options.yaml").read_text(), False),
    "margin-market": (MARKET.read_text, False),
    "margin-csv": ((EXAMPLES / "positions_btc.csv").read_text, True),
    "margin-venue": (_venue_text, False),
    "stress-test-book": (_book_text, False),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_on_mutated_inputs(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source_of, csv = COMMANDS[command]
    source = source_of()
    for case in range(CLI_CASES):
        data = mutated(source, 1000 + case, csv=csv)
        folder = tmp_path / f"case{case}"
        folder.mkdir()
        out, summary = folder / "ev.csv", folder / "summary.json"
        if command == "margin-account":
            argv = ["margin", str(_write(folder / "a.yaml", data)), "--market", str(MARKET), "--model", "deribit-standard", "--json"]
        elif command == "margin-csv":
            argv = ["margin", str(_write(folder / "a.csv", data)), "--market", str(MARKET), "--model", "deribit-standard"]
        elif command == "margin-market":
            argv = ["margin", str(EXAMPLES / "account_btc_options.yaml"), "--market", str(_write(folder / "m.yaml", data)),
                    "--model", "deribit-standard", "--model", "deribit-pm", "--csv"]
        elif command == "margin-venue":
            venues = folder / "venues"
            venues.mkdir()
            _write(venues / "fuzz-venue.yaml", data)
            monkeypatch.setenv("MARGINLAB_VENUES", str(venues))
            argv = ["margin", str(PERPS), "--market", str(MARKET), "--model", "fuzz-venue", "--json"]
        else:
            argv = ["stress-test", "--scenario", "btc-minus-40pct-instant", "--model", "flat:0.1:0.05", "--book",
                    str(_write(folder / "book.yaml", data)), "--out", str(out), "--json", str(summary), "--quiet"]
        before = sorted(p.name for p in folder.iterdir())
        with deadline(DEADLINE_SECONDS, f"{command} case {case}"):
            code, err = _run(argv)
        _check_outcome(f"{command} case {case}", code, err, data)
        if code == 2:  # bad input: nothing written, not even a temporary file
            assert sorted(p.name for p in folder.iterdir()) == before, f"{command} case {case}: {err}"
        monkeypatch.delenv("MARGINLAB_VENUES", raising=False)
