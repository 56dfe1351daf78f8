"""Every command of the README (and examples/README.md) is executed.

Each ```console line and each ```python block becomes one test, run in a scratch folder that
holds a copy of the repository's ``examples/`` (and links to ``benchmarks/`` and ``tests/data``),
the way a user runs them from a clone:

* console lines: ``marginlab ...`` runs the package's CLI (``python -m marginlab.cli``),
  ``python ...`` the current interpreter; ``VAR=value`` prefixes set the environment, ``*``
  globs are expanded, ``# comments`` dropped, ``$ `` prompts honoured (lines without one are output);
* python blocks run in a subprocess;
* ```yaml blocks that hold an account (``positions``) or a market (``as_of``) are parsed by the
  package's loaders.

A block is skipped only when the line before it is a marker ``<!-- readme-test: skip REASON -->``
with REASON one of :data:`SKIP_REASONS` (``network``, ``cluster``, ``whole-job``: the two
top-level commands, which the fresh-clone CI check runs). A command that writes ``--out FILE`` is
re-run first when a later command reads FILE and it is missing (tests may run apart under xdist).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "examples/README.md")

#: The only reasons a README block may be skipped.
SKIP_REASONS = ("network", "cluster", "whole-job")

#: Known failures (strict=False); empty: every README block runs.
XFAIL: dict[str, str] = {}

MARKER = re.compile(r"^<!--\s*readme-test:\s*skip\s+([\w-]+)\b.*-->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Snippet:
    document: str
    line: int
    kind: str  # "console" | "python" | "yaml"
    text: str
    skip: str | None

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}:{self.kind}"


def _blocks(document: str) -> list[tuple[int, str, str, str | None]]:
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(previous.strip())
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        blocks.append((start, match.group(1), "\n".join(body), marker.group(1) if marker else None))
        i += 1
    return blocks


def _console_commands(body: str) -> list[tuple[int, str]]:
    raw = body.splitlines()
    prompted = any(line.startswith("$ ") for line in raw)
    commands: list[tuple[int, str]] = []
    pending = ""
    for offset, line in enumerate(raw):
        if prompted:
            if not line.startswith("$ ") and not pending:
                continue
            line = line[2:] if line.startswith("$ ") else line
        line = pending + line
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        command = line.split(" #")[0].strip() if not line.lstrip().startswith("#") else ""
        if command:
            commands.append((offset, command))
    return commands


def snippets() -> list[Snippet]:
    found = []
    for document in DOCUMENTS:
        for start, language, body, skip in _blocks(document):
            if language == "console":
                for offset, command in _console_commands(body):
                    found.append(Snippet(document, start + offset + 1, "console", command, skip))
            elif language == "python":
                found.append(Snippet(document, start, "python", body, skip))
            elif language == "yaml":
                found.append(Snippet(document, start, "yaml", body, skip))
    return found


SNIPPETS = snippets()


def _params() -> list[object]:
    params = []
    for snippet in SNIPPETS:
        marks = []
        reason = next((why for key, why in XFAIL.items() if key in snippet.text), None)
        if reason:
            marks.append(pytest.mark.xfail(reason=reason, strict=False))
        params.append(pytest.param(snippet, id=snippet.id, marks=marks))
    return params


# ----------------------------------------------------------------------------- workspace
@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", folder / "examples")
    for name in ("benchmarks", "tests/data"):
        if (ROOT / name).exists():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).symlink_to(ROOT / name)
    return folder


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _argv(command: str, cwd: Path) -> tuple[list[str], dict[str, str]]:
    words = shlex.split(command)
    env = _environment()
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words, f"empty command: {command!r}"
    expanded: list[str] = []
    for word in words[1:]:
        matches = sorted(glob.glob(word, root_dir=cwd)) if any(c in word for c in "*?[") else []
        if any(c in word for c in "*?[") and not matches:
            pytest.skip(f"{word} matches no file here (it arrives with another branch)")
        expanded.extend(matches or [word])
    program = words[0]
    if program == "marginlab":
        return [sys.executable, "-m", "marginlab.cli", *expanded], env
    if program in ("python", "python3") or program.endswith("/python"):
        return [sys.executable, *expanded], env
    pytest.fail(f"README command {command!r} uses {program!r}: only 'marginlab' and 'python' commands can be run; "
                f"mark the block with <!-- readme-test: skip REASON --> (REASON in {SKIP_REASONS}) if it must not run")


def _outputs(command: str) -> list[str]:
    words = command.split()
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("--out", "--events", "--output")]


def _producers() -> dict[str, Snippet]:
    producers: dict[str, Snippet] = {}
    for snippet in SNIPPETS:
        if snippet.kind == "console" and snippet.skip is None:
            for name in _outputs(snippet.text):
                producers.setdefault(name, snippet)
    return producers


PRODUCERS = _producers()


def _ensure_inputs(snippet: Snippet, cwd: Path) -> None:
    for name, producer in PRODUCERS.items():
        if producer is snippet or name not in snippet.text or (cwd / name).exists():
            continue
        if snippet.kind == "console" and name in _outputs(snippet.text):
            continue
        _run(producer, cwd)


def _run(snippet: Snippet, cwd: Path) -> subprocess.CompletedProcess[str]:
    if snippet.kind == "console":
        argv, env = _argv(snippet.text, cwd)
    else:
        argv, env = [sys.executable, "-c", snippet.text], _environment()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, (
        f"{snippet.id}: {snippet.text!r} exited {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


# ----------------------------------------------------------------------------- tests
def test_snippets_were_found() -> None:
    kinds = {s.kind for s in SNIPPETS if s.document == "README.md"}
    assert kinds == {"console", "python", "yaml"}
    assert sum(s.kind == "console" and s.skip is None for s in SNIPPETS) >= 15
    for snippet in SNIPPETS:
        assert snippet.skip in (None, *SKIP_REASONS), f"{snippet.id}: unknown skip reason {snippet.skip!r}"


@pytest.mark.parametrize("snippet", _params())
def test_readme_snippet(snippet: Snippet, workspace: Path) -> None:
    if snippet.skip is not None:
        pytest.skip(f"marked readme-test: skip {snippet.skip}")
    if snippet.kind == "yaml":
        from marginlab.account import Account
        from marginlab.fileio import load_yaml
        from marginlab.market import MarketSnapshot

        data = load_yaml(snippet.text, snippet.id)
        if isinstance(data, dict) and "positions" in data:
            assert Account.from_dict(data, snippet.id).positions
        elif isinstance(data, dict) and "as_of" in data:
            assert MarketSnapshot.from_dict(data, snippet.id).assets
        return
    _ensure_inputs(snippet, workspace)
    result = _run(snippet, workspace)
    if snippet.kind == "console" and "marginlab" in snippet.text:
        assert result.stdout.strip(), f"{snippet.text!r} printed nothing"
        assert not re.search(r"\b(nan|inf|NaN|Infinity)\b", result.stdout), result.stdout[-2000:]
    for name in _outputs(snippet.text) if snippet.kind == "console" else []:
        assert (workspace / name).is_file(), f"{snippet.text!r} did not write {name}"


def test_readme_yaml_examples_agree() -> None:
    """The account in the README margins at the README's market (the two formats fit together)."""
    from marginlab.account import Account
    from marginlab.fileio import load_yaml
    from marginlab.margin.presets import get_model
    from marginlab.market import MarketSnapshot

    blocks = [load_yaml(s.text) for s in SNIPPETS if s.kind == "yaml" and s.document == "README.md"]
    account = Account.from_dict(next(b for b in blocks if "positions" in b))
    market = MarketSnapshot.from_dict(next(b for b in blocks if "as_of" in b))
    result = get_model("derive-pmrm-v2").margin(account, market)
    assert result.initial_margin_usd > 0
