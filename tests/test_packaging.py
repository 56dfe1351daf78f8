"""Packaging consistency: environment.yml vs pyproject, CI and README test command, no data files in git."""

from __future__ import annotations

import csv
import hashlib
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_MANIFEST = ROOT.parent / "shared" / "data" / "MANIFEST.csv"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*", requirement)
        assert match, f"pyproject dependency {requirement!r} is not pinned with =="
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _pip_section(environment: dict) -> list[str]:
    sections = [item["pip"] for item in environment["dependencies"] if isinstance(item, dict) and "pip" in item]
    assert len(sections) == 1, "environment.yml needs exactly one pip: section"
    return sections[0]


def test_python_version_agrees():
    project = _pyproject()["project"]
    minimum = re.fullmatch(r">=\s*(\d+\.\d+)", project["requires-python"]).group(1)
    conda = [d for d in _environment()["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert conda == [f"python={minimum}"], conda
    assert _pyproject()["tool"]["mypy"]["python_version"] == minimum
    assert "pip" in _environment()["dependencies"]


def test_environment_installs_every_pinned_dependency():
    project = _pyproject()["project"]
    required = _pins(project["dependencies"]) | _pins(project["optional-dependencies"]["notebooks"])
    pip = _pip_section(_environment())
    explicit = _pins([line for line in pip if not line.startswith("-")])
    editable = [line for line in pip if line.startswith("-e")]
    assert len(editable) == 1, "environment.yml must install the package itself with `-e .[...]`"
    extras = set(re.search(r"\[([^\]]*)\]", editable[0]).group(1).split(","))
    assert {"notebooks", "scale", "dev"} <= extras
    # every explicit pin repeats pyproject exactly, and every core/notebook pin is listed
    for name, version in explicit.items():
        assert required.get(name) == version, f"environment.yml pins {name}=={version}, pyproject says {required.get(name)}"
    assert set(required) <= set(explicit), f"missing from environment.yml: {sorted(set(required) - set(explicit))}"


def test_ci_and_readme_run_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\s*$", ci, re.MULTILINE), ".ci/run must call `make test`"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:", makefile, re.MULTILINE) and re.search(r"^report:", makefile, re.MULTILINE)
    assert "-m marginlab.reports" in makefile
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md not written yet")
    text = readme.read_text()
    commands = re.findall(r"```(?:\w+)?\n(.*?)```", text, re.DOTALL)
    lines = [line.split("#")[0].strip().lstrip("$ ").strip() for block in commands for line in block.splitlines()]
    assert "make test" in lines, "README.md must give `make test` as the test command (in a code block)"


def test_no_shared_data_file_is_tracked():
    if not SHARED_MANIFEST.exists():
        pytest.skip("../shared/data/MANIFEST.csv absent")
    with SHARED_MANIFEST.open() as stream:
        forbidden = {row["sha256"]: row["file"] for row in csv.DictReader(stream)}
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    offenders = []
    for name in filter(None, files):
        path = ROOT / name
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() in forbidden:
            offenders.append(f"{name} (= {forbidden[hashlib.sha256(path.read_bytes()).hexdigest()]})")
    assert not offenders, f"files from ../shared/data are tracked by git: {offenders}"
