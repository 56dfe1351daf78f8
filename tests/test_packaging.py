"""Packaging consistency: environment.yml vs pyproject, CI and README test command, the embedded dataset."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "marginlab" / "datasets"


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


def test_embedded_dataset_matches_its_manifest():
    manifest = json.loads((DATASETS / "manifest.json").read_text())
    assert manifest["name"] == "marginlab-snapshot" and manifest["version"].startswith("marginlab-snapshot-")
    stored = sorted(path.name for path in DATASETS.glob("*.csv.gz"))
    assert stored == sorted(entry["file"] for entry in manifest["files"].values())
    total = 0
    for dataset, entry in manifest["files"].items():
        data = (DATASETS / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{entry['file']} does not match manifest.json"
        assert len(data) == entry["bytes"] and len(data) < 5_000_000
        text = gzip.decompress(data)
        assert hashlib.sha256(text).hexdigest() == entry["csv_sha256"]
        assert text.count(b"\n") == entry["rows"] + 1, dataset  # header + one line per row
        total += len(data)
    assert total < 12_000_000  # issue 18: the package data under 12 MB
    notice = (DATASETS / "NOTICE.md").read_text()
    assert "MIT" in notice and "research" in notice
    for entry in manifest["files"].values():
        assert entry["file"] in notice


def test_embedded_dataset_is_package_data_and_tracked():
    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["marginlab"]
    assert "datasets/*.csv.gz" in patterns and "datasets/NOTICE.md" in patterns and "**/*.json" in patterns
    files = subprocess.run(["git", "ls-files", "marginlab/datasets"], cwd=ROOT, capture_output=True, check=True).stdout.decode()
    if not files:
        pytest.skip("not a git checkout")
    for name in ("manifest.json", "NOTICE.md", "build.py", "btc_usd_daily.csv.gz"):
        assert f"marginlab/datasets/{name}" in files.split()


def _code_strings(path: Path) -> list[str]:
    """String literals of a Python file that are not docstrings (comments and docstrings may cite sources)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_code_path_refers_outside_the_repository():
    # the data and the reference files live inside the repository: no code builds a path to ../shared
    offenders = []
    for folder in ("marginlab", "tests", "benchmarks", "notebooks"):
        # tests may hold absolute paths as data (the report audit's fixtures), never a path to ../shared
        needles = ("../shared", "data/snapshot") if folder == "tests" else ("../shared", "data/snapshot", "/work/")
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "test_packaging.py":
                continue
            for value in _code_strings(path):
                if value == "shared" or any(needle in value for needle in needles):
                    offenders.append(f"{path.relative_to(ROOT)}: {value[:60]!r}")
    for name in ("Makefile", ".ci/run"):
        assert "shared" not in (ROOT / name).read_text(), name
    assert not offenders, offenders


def test_one_progress_bar_choice():
    # only marginlab.progress chooses a tqdm (tqdm.auto in a kernel without ipywidgets warns into every report)
    offenders = [str(path.relative_to(ROOT)) for path in sorted((ROOT / "marginlab").rglob("*.py"))
                 if path.name != "progress.py" and re.search(r"^\s*(from tqdm|import tqdm)", path.read_text(), re.MULTILINE)]
    assert not offenders, offenders
