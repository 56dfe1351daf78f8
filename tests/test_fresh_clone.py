"""Fresh-machine check: a clone of the committed HEAD, with nothing beside it, lists its data and runs the main job.

CI (``.ci/run`` -> ``make test``) runs on a checkout that has ``../shared`` beside it; this test
proves nothing needs it. The clone lives alone in a temporary folder, runs with the current
interpreter (``PYTHONPATH`` = the clone, ``MARGINLAB_DATA_DIR`` and ``MARGINLAB_CACHE_DIR`` unset)
and must produce the reports, the index and the parameter file without any path from outside
the clone in them. The main job runs with ``--fast`` on notebooks 01 (data) and 04 (the
parameter file): the whole fast series takes about 8 minutes on 2 busy cores and every notebook
already runs in ``tests/test_notebooks.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GIT = shutil.which("git")
NOTEBOOKS = ["01", "04"]

pytestmark = [pytest.mark.skipif(GIT is None, reason="git is not installed: cannot clone the repository"),
              pytest.mark.fresh_clone]


def _git(*args: str, cwd: Path) -> str:
    assert GIT is not None
    return subprocess.run([GIT, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=300).stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    try:
        head = _git("rev-parse", "HEAD", cwd=ROOT)
    except subprocess.CalledProcessError as error:
        pytest.skip(f"{ROOT.name} is not a git checkout: {error.stderr.strip()}")
    box = tmp_path_factory.mktemp("fresh")
    target = box / "marginlab"
    _git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(target), cwd=box)
    _git("-c", "advice.detachedHead=false", "checkout", "--quiet", head, cwd=target)
    assert [path.name for path in box.iterdir()] == ["marginlab"]  # nothing beside the clone
    return target


def _run(clone: Path, *args: str, timeout: int) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("MARGINLAB_DATA_DIR", "MARGINLAB_CACHE_DIR", "MARGINLAB_OUTPUT_DIR", "MARGINLAB_FAST")}
    env["PYTHONPATH"] = str(clone)
    return subprocess.run([sys.executable, *args], cwd=clone, env=env, capture_output=True, text=True, timeout=timeout)


def test_clone_imports_itself_and_lists_its_data(clone):
    where = _run(clone, "-c", "import marginlab, marginlab.datasets as d; print(marginlab.__file__); print(d.verify())",
                 timeout=120)
    assert where.returncode == 0, where.stderr
    assert where.stdout.splitlines()[0].startswith(str(clone)), where.stdout
    assert "sha256" not in where.stdout and "missing" not in where.stdout  # every embedded file matches its manifest
    listing = _run(clone, "-m", "marginlab.cli", "data", "list", timeout=300)
    assert listing.returncode == 0, listing.stderr
    assert "marginlab-snapshot-2026.03" in listing.stdout and "embedded" in listing.stdout
    for name in ("BTC", "ETH", "SOL", "USTC", "BTCUSDT"):
        assert re.search(rf"^\s*{name}\s", listing.stdout, re.MULTILINE), name
    assert str(ROOT) not in listing.stdout + listing.stderr


def test_clone_runs_the_main_job(clone):
    from marginlab.reports import audit_html

    result = _run(clone, "-m", "marginlab.reports", "--fast", "--only", *NOTEBOOKS, timeout=1800)
    console = result.stdout + result.stderr
    assert result.returncode == 0, console[-3000:]
    reports = clone / "reports" / "partial"  # a --fast --only run never writes the main job's reports/
    produced = sorted(path.name for path in reports.iterdir())
    assert "index.html" in produced and "calibrated_parameters.yaml" in produced, produced
    assert len([name for name in produced if name.endswith(".html")]) == len(NOTEBOOKS) + 1
    assert "IPKernelApp" not in console and "Traceback" not in console and "Warning" not in console
    assert str(clone.parent) not in console and str(ROOT) not in console
    parameters = (reports / "calibrated_parameters.yaml").read_text()
    assert "marginlab-snapshot-2026.03" in parameters
    assert "marginlab-snapshot-2026.03" in (reports / "index.html").read_text()
    assert not (clone / "reports" / "index.html").exists()
    for path in reports.iterdir():
        if path.suffix in (".html", ".yaml", ".csv"):
            text = path.read_text(encoding="utf-8")
            assert not audit_html(text), (path.name, audit_html(text)[:3])
            assert str(ROOT) not in text and "shared/" not in text, path.name
