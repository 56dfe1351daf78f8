"""The main-job runner on throwaway notebooks: HTML, index, fast flag, failure naming the cell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from marginlab.exceptions import InputError
from marginlab.reports import NotebookExecutionError, discover_notebooks, execute_notebook, main, run_reports

GOOD = '''# %% [markdown]
# # A tiny report

# %%
import os
from pathlib import Path

FAST = os.environ.get("MARGINLAB_FAST", "0") == "1"
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports"))

# %%
import sys

print("fast" if FAST else "full", Path.cwd().name)
print("kernel python:", sys.executable)
(OUTPUT_DIR / "calibrated_parameters.yaml").write_text("fast: %s\\n" % FAST)
'''

SECOND = '''# %%
value = 6 * 7
assert value == 42
'''

FAILING = '''# %%
x = 1

# %%
# compute the impossible
y = x / 0
'''


@pytest.fixture
def notebooks(tmp_path):
    directory = tmp_path / "nbs"
    directory.mkdir()
    (directory / "01_tiny.py").write_text(GOOD)
    (directory / "02_second.py").write_text(SECOND)
    (directory / "helper.py").write_text("raise SystemExit('not a notebook')\n")
    return directory


def test_discover_and_only(notebooks):
    assert [p.name for p in discover_notebooks(notebooks)] == ["01_tiny.py", "02_second.py"]
    assert [p.name for p in discover_notebooks(notebooks, ["2"])] == ["02_second.py"]
    with pytest.raises(InputError, match="07"):
        discover_notebooks(notebooks, ["07"])


def test_run_writes_html_and_index(notebooks, tmp_path):
    output = tmp_path / "out"
    lines: list[str] = []
    entries = run_reports(notebooks, output, fast=True, timeout=120, log=lines.append)
    assert [e.html.name for e in entries] == ["01_tiny.html", "02_second.html"]
    first = (output / "01_tiny.html").read_text()
    assert "fast nbs" in first  # MARGINLAB_FAST=1 reached the kernel, cwd = notebooks dir
    assert f"kernel python: {sys.executable}" in first  # the kernel runs the same (venv) interpreter
    index = (output / "index.html").read_text()
    assert 'href="01_tiny.html"' in index and 'href="02_second.html"' in index
    assert 'href="calibrated_parameters.yaml"' in index
    assert (output / "calibrated_parameters.yaml").read_text() == "fast: True\n"
    assert any("done in" in line for line in lines)


def test_failure_names_notebook_and_cell(tmp_path):
    directory = tmp_path / "nbs"
    directory.mkdir()
    (directory / "01_broken.py").write_text(FAILING)
    with pytest.raises(NotebookExecutionError) as info:
        run_reports(directory, tmp_path / "out", fast=True, timeout=120, log=lambda _: None)
    error = info.value
    assert error.notebook == "01_broken.py"
    assert error.cell_index == 1
    assert error.first_line == "# compute the impossible"
    assert "ZeroDivisionError" in str(error)


def test_command_line_exit_codes(tmp_path, notebooks, capsys):
    assert main(["--notebooks", str(notebooks), "--output", str(tmp_path / "o1"), "--fast", "--only", "02"]) == 0
    assert (tmp_path / "o1" / "02_second.html").exists() and not (tmp_path / "o1" / "01_tiny.html").exists()
    (notebooks / "03_broken.py").write_text(FAILING)
    assert main(["--notebooks", str(notebooks), "--output", str(tmp_path / "o2"), "--only", "03"]) == 1
    assert "03_broken.py failed at cell 1" in capsys.readouterr().err


def test_module_entry_point(tmp_path, notebooks):
    # `python -m marginlab.reports` (what `make report` runs); an unknown --only number fails fast with exit 1
    result = subprocess.run([sys.executable, "-m", "marginlab.reports", "--notebooks", str(notebooks), "--only", "99",
                             "--output", str(tmp_path / "o")], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).parent)
    assert result.returncode == 1
    assert "only=['99']" in result.stderr


def test_notebook_time_limit(tmp_path):
    path = tmp_path / "01_slow.py"
    path.write_text("# %%\nimport time\n\n# %%\ntime.sleep(30)\n")
    with pytest.raises(NotebookExecutionError, match="cell 1 .*timed out after [1-3] s"):
        execute_notebook(path, fast=True, output_dir=tmp_path, timeout=60, notebook_timeout=3)
