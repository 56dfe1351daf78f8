"""The main-job runner on throwaway notebooks: HTML, index, fast flag, failure naming the cell, the audit of what a
reader sees, and the table formatter / figure helper the notebooks share."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from marginlab.exceptions import InputError
from marginlab.report_html import install_mathjax, network_resources, notebook_html
from marginlab.reports import (
    GALLERY,
    NOTEBOOK_DEPENDENCIES,
    REPO_ROOT,
    NotebookExecutionError,
    audit_html,
    audit_notebook,
    default_jobs,
    discover_notebooks,
    execute_notebook,
    format_number,
    format_table,
    main,
    notebook_summary,
    run_reports,
    write_gallery,
)

GOOD = '''# %% [markdown]
# # 01 — A tiny report
#
# Shows that the runner passes its settings to the kernel. Second sentence.

# %%
import os
from pathlib import Path

FAST = os.environ.get("MARGINLAB_FAST", "0") == "1"
OUTPUT_DIR = Path(os.environ.get("MARGINLAB_OUTPUT_DIR", "../reports"))

# %%
import sys
import time

print("fast" if FAST else "full", Path.cwd().name)
print("same python as the runner:", sys.executable == os.environ["RUNNER_PYTHON"])
(OUTPUT_DIR / "calibrated_parameters.yaml").write_text("fast: %s\\n" % FAST)
(OUTPUT_DIR / "01_table.csv").write_text("a\\n1\\n")

# %%
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from marginlab.reports import save_figure

fig, ax = plt.subplots()
ax.plot([1, 2], [3, 4])
save_figure(fig, "01_line")

# %%
from marginlab.progress import tqdm
total = sum(tqdm(range(1000), desc="work"))  # no "IProgress not found" warning, no bar in the report
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


@pytest.fixture(autouse=True)
def _runner_python(monkeypatch):
    monkeypatch.setenv("RUNNER_PYTHON", sys.executable)


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


def test_run_writes_html_and_index(notebooks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "out"
    lines: list[str] = []
    entries = run_reports(notebooks, output, fast=True, timeout=120, log=lines.append)
    assert [e.html.name for e in entries] == ["01_tiny.html", "02_second.html"]
    first = (output / "01_tiny.html").read_text()
    assert "fast nbs" in first  # MARGINLAB_FAST=1 reached the kernel, cwd = notebooks dir
    assert "same python as the runner: True" in first  # the kernel runs the same (venv) interpreter
    assert [entry.problems for entry in entries] == [(), ()]  # no warning, no bar, no path
    assert "Warning" not in first and "it/s]" not in first and str(tmp_path) not in first
    index = (output / "index.html").read_text()
    assert 'href="01_tiny.html"' in index and 'href="02_second.html"' in index
    assert 'href="calibrated_parameters.yaml"' in index
    assert "A tiny report</b></a> &mdash; Shows that the runner passes its settings to the kernel." in index
    assert 'href="01_line.png"' in index and 'href="01_table.csv"' in index
    assert "marginlab-snapshot-2026.03" in index
    assert (output / "01_line.png").read_bytes()[:4] == b"\x89PNG"
    assert (output / "calibrated_parameters.yaml").read_text() == "fast: True\n"
    assert network_resources(first) == [] and network_resources(index) == []  # nothing loaded from the network
    assert 'src="mathjax/MathJax.js' in first and (output / "mathjax" / "MathJax.js").is_file()
    assert "Partial run" in index and "marginlab-run" not in index  # a --fast run is not the main job
    assert any("done in" in line for line in lines)
    done = [line for line in lines if line.startswith("[1/2] 01_tiny.py done in")]
    assert len(done) == 1 and done[0].endswith("s -> out/01_tiny.html")  # relative paths
    assert not any(str(tmp_path) in line for line in lines)


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


NOISY = '''# %%
import warnings, sys, os
warnings.warn("careful")

# %%
print(os.getcwd())

# %%
sys.stderr.write(" 45%|####5     | 45/100 [00:01<00:02, 30.1it/s]")

# %%
import pandas as pd
pd.DataFrame({"error": []})
'''


def test_audit_names_every_problem_and_main_fails(tmp_path, capsys):
    directory = tmp_path / "nbs"
    directory.mkdir()
    (directory / "01_noisy.py").write_text(NOISY)
    entries = run_reports(directory, tmp_path / "out", fast=True, timeout=120, log=lambda _: None)
    problems = entries[0].problems
    assert "cell 0: a warning" in problems and "cell 2: a progress-bar fragment" in problems
    assert "cell 3: an empty table" in problems
    assert any(problem.startswith("cell 1: an absolute path") for problem in problems)
    assert main(["--notebooks", str(directory), "--output", str(tmp_path / "o")]) == 1
    captured = capsys.readouterr()
    assert "01_noisy.html: cell 0: a warning" in captured.err
    assert "IPKernelApp" not in captured.err + captured.out


def test_audit_lists_logged_errors():
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="ERROR:root:fit failed\nCRITICAL:x:stop\n")]
    assert audit_notebook(nbformat.v4.new_notebook(cells=[cell])) == ["cell 0: an error message"]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="no ERRORS here: the error of the fit is 1%\n")]
    assert audit_notebook(nbformat.v4.new_notebook(cells=[cell])) == []


def test_audit_html_paths():
    assert audit_html("see /home/alice/x.yaml and /work/main/reports") == [
        "an absolute path: '/home/alice/x.yaml'", "an absolute path: '/work/main/reports'"]
    assert audit_html("relative reports/01.html, a ratio 3/4, a url https://example.org/tmp/x") == []


def test_format_table_for_readers():
    table = pd.DataFrame({
        "symbol": ["BTC", "ETH"],
        "days": [9090, 50],                         # integer dtype: a count
        "breaches": [3.0, 50.0],                    # float dtype, named as a count
        "breach_rate": [0.0123, 0.5],               # a rate
        "margin_usd": [100_500.254, 1.005e5],       # never 1.005e+05
        "funding": [7.4e-05, np.nan],               # small: significant digits, NaN as a dash
        "first_day": pd.to_datetime(["2020-03-12", "2021-01-01"]),
    })
    html = format_table(table, percent=["breach_rate"], counts=["breaches"]).to_html()
    for text in ("9,090", ">50<", ">3<", "1.23%", "50.00%", "100,500.25", "100,500.00", "0.0000740", "–", "2020-03-12"):
        assert text in html, text
    assert "e+0" not in html and "e-0" not in html and "50.00<" not in html.replace("50.00%", "")
    with pytest.raises(InputError, match="percent"):
        format_table(table, percent=["missing"])
    assert format_number(-1234567.891, decimals=0) == "-1,234,568"
    assert format_number(0.0) == "0.00" and format_number(1e-12) == "0.0000000000"


def test_notebook_summary_of_the_shipped_notebooks():
    for path in discover_notebooks():
        title, description = notebook_summary(path)
        assert title and description and len(description) <= 202 and description[-1] in ".!?…", path.name
        assert not title[:2].isdigit(), title


def test_kernel_is_shut_down_after_the_notebook(tmp_path):
    path = tmp_path / "01_pid.py"
    path.write_text("# %%\nimport os\nprint(os.getpid())\n")
    executed = execute_notebook(path, fast=True, output_dir=tmp_path, timeout=60)
    pid = int(executed.cells[0].outputs[0]["text"])
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), "the kernel outlived its notebook"


def test_progress_helper_switch(monkeypatch, capsys):
    from marginlab.progress import progress_enabled, tqdm

    monkeypatch.setenv("MARGINLAB_PROGRESS", "0")
    assert not progress_enabled()
    assert sum(tqdm(range(5), desc="quiet")) == 10
    monkeypatch.setenv("MARGINLAB_PROGRESS", "1")
    assert progress_enabled()
    bar = tqdm(range(3), desc="shown", file=sys.stderr)
    assert type(bar).__module__ == "tqdm.std"  # no kernel here: the text bar, never the widget
    list(bar)
    assert "shown" in capsys.readouterr().err


# ------------------------------------------------------------------ the parallel runner (--jobs)
def _notebook(directory: Path, name: str, *cells: str) -> None:
    (directory / name).write_text("".join(f"# %%\n{cell}\n\n" for cell in cells))


WRITER = ("import os, time\nfrom pathlib import Path\nOUT = Path(os.environ['MARGINLAB_OUTPUT_DIR'])",
          "time.sleep(2)", "(OUT / '01_data.csv').write_text('x\\n1\\n2\\n')\nprint('wrote')")
READER = ("import os\nfrom pathlib import Path\nOUT = Path(os.environ['MARGINLAB_OUTPUT_DIR'])",
          "data = (OUT / '01_data.csv').read_text()  # written by notebook 01\nprint(data.split())")
BESIDE = ("import os\nprint('independent', 6 * 7)",)


@pytest.fixture
def chain(tmp_path):
    """01 writes a file after a pause, 02 is independent, 03 reads 01's file."""
    directory = tmp_path / "chain"
    directory.mkdir()
    _notebook(directory, "01_writer.py", *WRITER)
    _notebook(directory, "02_beside.py", *BESIDE)
    _notebook(directory, "03_reader.py", *READER)
    return directory


def test_parallel_run_waits_for_the_declared_dependency(chain, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines: list[str] = []
    entries = run_reports(chain, tmp_path / "out", fast=True, timeout=120, log=lines.append, jobs=2,
                          dependencies={"03": ("01",)})
    assert [entry.notebook.name for entry in entries] == ["01_writer.py", "02_beside.py", "03_reader.py"]  # index order
    assert "['x', '1', '2']" in (tmp_path / "out" / "03_reader.html").read_text()
    position = {line: number for number, line in enumerate(lines)}
    start = {name: position[f"{label} {name} ..."] for label, name in (("[1/3]", "01_writer.py"), ("[2/3]", "02_beside.py"),
                                                                       ("[3/3]", "03_reader.py"))}
    done = {line.split()[1]: number for line, number in position.items() if " done in " in line}
    assert start["02_beside.py"] < done["01_writer.py"]  # two at once: 02 did not wait for 01
    assert start["03_reader.py"] > done["01_writer.py"]  # 03 waited for the file of 01
    assert all(re.search(r"done in \d+\.\d s -> out/0\d_\w+\.html$", line) for line in lines if " done in " in line)
    assert lines[-1] == "index: out/index.html"


def test_parallel_results_identical_to_one_job(notebooks, chain, tmp_path):
    for directory, dependencies in ((notebooks, None), (chain, {"03": ("01",)})):
        outputs = {}
        for jobs in (1, 2):
            output = tmp_path / f"{directory.name}-{jobs}"
            run_reports(directory, output, fast=True, timeout=120, log=lambda _: None, jobs=jobs, dependencies=dependencies)
            outputs[jobs] = {path.name: path.read_bytes() for path in sorted(output.iterdir()) if path.is_file()}
        assert outputs[1].keys() == outputs[2].keys()
        for name in outputs[1]:
            one, two = outputs[1][name], outputs[2][name]
            if name == "index.html":  # the time stamp and the seconds differ, nothing else
                one, two = (re.sub(rb"Generated [^<]* UTC|\(\d[\d,]* s\)", b"", text) for text in (one, two))
            if name.endswith(".html"):  # jupytext gives the cells random ids at every read, whatever the jobs
                one, two = (re.sub(rb'id="cell-id=[0-9a-f-]+"', b"", text) for text in (one, two))
            assert one == two, name


def test_parallel_failure_stops_the_job(tmp_path, capsys):
    directory = tmp_path / "nbs"
    directory.mkdir()
    _notebook(directory, "01_slow.py", *(["import time"] + ["time.sleep(0.5)"] * 120))  # a minute unless stopped
    _notebook(directory, "02_broken.py", "x = 1", "# compute the impossible\ny = x / 0")
    _notebook(directory, "03_never.py", "print('not started')")
    lines: list[str] = []
    with pytest.raises(NotebookExecutionError) as info:
        run_reports(directory, tmp_path / "out", fast=True, timeout=120, log=lines.append, jobs=2)
    assert (info.value.notebook, info.value.cell_index, info.value.first_line) == ("02_broken.py", 1, "# compute the impossible")
    assert any(line.startswith("[2/3] 02_broken.py failed after") for line in lines)
    assert any(line.startswith("[1/3] 01_slow.py stopped after") for line in lines)  # stopped between two cells
    assert not any("03_never" in line for line in lines) and not (tmp_path / "out" / "index.html").exists()
    assert not (tmp_path / "out" / "01_slow.html").exists()  # a stopped notebook writes no report
    # the command line: the same one-line message and exit code 1 as one job at a time
    for jobs in ("1", "2"):
        argv = ["--notebooks", str(directory), "--output", str(tmp_path / f"o{jobs}"), "--jobs", jobs, "--only", "02", "03"]
        assert main(argv) == 1
        error = capsys.readouterr().err
        assert error.strip().splitlines() == [
            "marginlab.reports: error: notebook 02_broken.py failed at cell 1 ('# compute the impossible'): "
            "ZeroDivisionError: division by zero"]


def test_dependencies_are_checked(chain, tmp_path):
    with pytest.raises(InputError, match="cycle"):
        run_reports(chain, tmp_path / "o", fast=True, dependencies={"01": ("03",), "03": ("01",)}, log=lambda _: None)
    with pytest.raises(InputError, match="itself"):
        run_reports(chain, tmp_path / "o", fast=True, dependencies={"01": ("01",)}, log=lambda _: None)
    with pytest.raises(InputError, match="jobs"):
        run_reports(chain, tmp_path / "o", fast=True, jobs=0, log=lambda _: None)
    # a dependency outside --only is taken as satisfied (its file stays from an earlier run)
    run_reports(chain, tmp_path / "o", fast=True, only=["01"], log=lambda _: None, jobs=2)
    entries = run_reports(chain, tmp_path / "o", fast=True, only=["03"], dependencies={"03": ("01",)}, log=lambda _: None, jobs=2)
    assert [entry.notebook.name for entry in entries] == ["03_reader.py"]
    assert default_jobs() == min(2, os.cpu_count() or 1)


def test_declared_dependencies_cover_the_shipped_notebooks():
    """A shipped notebook that names a file another notebook writes must wait for it (NOTEBOOK_DEPENDENCIES)."""
    import jupytext

    notebooks = discover_notebooks()
    numbers = {path.name[:2] for path in notebooks}
    writers = {"calibrated_parameters.yaml": "04"}  # the one output not named after its notebook
    assert all(number in numbers for number in writers.values())
    for path in notebooks:
        code = "\n".join(cell.source for cell in jupytext.read(path).cells if cell.cell_type == "code")
        code = re.sub(r"#.*", "", code)  # comments may mention anything
        named = {match[:2] for match in re.findall(r"[\"'/](\d\d_[\w{}.-]*\.(?:csv|yaml|yml|png|parquet|json))", code)}
        named |= {writer for name, writer in writers.items() if name in code}
        others = named - {path.name[:2]}
        assert others <= set(NOTEBOOK_DEPENDENCIES.get(path.name[:2], ())), (path.name, sorted(others))
    for number, needed in NOTEBOOK_DEPENDENCIES.items():
        assert number in numbers and set(needed) <= numbers and number not in needed


# ------------------------------------------------------------------ partial runs, the gallery, offline pages
def test_partial_runs_never_touch_the_main_jobs_folder(notebooks, tmp_path, monkeypatch, capsys):
    import marginlab.reports as reports

    main_dir, partial_dir = tmp_path / "reports", tmp_path / "reports" / "partial"
    monkeypatch.setattr(reports, "REPORTS_DIR", main_dir)
    monkeypatch.setattr(reports, "PARTIAL_DIR", partial_dir)
    gallery = tmp_path / "gallery"
    entries = run_reports(notebooks, main_dir, timeout=120, log=lambda _: None, gallery_dir=gallery, gallery=("01_line",))
    assert len(entries) == 2
    index = (main_dir / "index.html").read_text()
    parameters = (main_dir / "calibrated_parameters.yaml").read_text()
    assert "marginlab-run" in index and "Partial run" not in index and parameters == "fast: False\n"
    assert (gallery / "01_line.png").read_bytes() == (main_dir / "01_line.png").read_bytes()  # the main job's figure
    # `--fast --only 01` with no --output: reports/partial/, with its own index; the main folder is left alone
    assert main(["--notebooks", str(notebooks), "--fast", "--only", "01"]) == 0
    assert (main_dir / "index.html").read_text() == index
    assert (main_dir / "calibrated_parameters.yaml").read_text() == parameters
    partial_index = (partial_dir / "index.html").read_text()
    assert "Partial run</b> (notebooks 01)" in partial_index and (partial_dir / "calibrated_parameters.yaml").exists()
    assert "reports/partial/index.html" in capsys.readouterr().out.replace(str(tmp_path) + "/", "")
    # pointed at the main job's folder, a partial run refuses before running anything
    with pytest.raises(InputError, match="main job's reports"):
        run_reports(notebooks, main_dir, fast=True, only=["02"], log=lambda _: None)
    assert main(["--notebooks", str(notebooks), "--output", str(main_dir), "--only", "02"]) == 1
    assert "a partial run (--only or --fast) writes elsewhere" in capsys.readouterr().err
    assert (main_dir / "index.html").read_text() == index


def test_gallery_copy_refuses_a_missing_figure(tmp_path):
    from marginlab.reports import ReportQualityError

    (tmp_path / "01_a.png").write_bytes(b"\x89PNG a")
    with pytest.raises(ReportQualityError, match="01_b"):
        write_gallery(tmp_path, tmp_path / "gallery", ["01_a", "01_b"])
    assert not (tmp_path / "gallery").exists()  # nothing copied
    assert [path.name for path in write_gallery(tmp_path, tmp_path / "gallery", ["01_a"])] == ["01_a.png"]


def test_readme_gallery_is_what_the_notebooks_save():
    """Every image of the README gallery is in GALLERY (what the main job copies), and written by its notebook's save_figure."""
    import jupytext

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"docs/gallery/([\w-]+)\.png", readme)
    assert shown and sorted(shown) == sorted(GALLERY)
    assert sorted(path.stem for path in (REPO_ROOT / "docs" / "gallery").glob("*.png")) == sorted(GALLERY)
    sources = {path.name[:2]: "\n".join(cell.source for cell in jupytext.read(path).cells if cell.cell_type == "code")
               for path in discover_notebooks()}
    for name in GALLERY:
        code = re.sub(r"#.*", "", sources[name[:2]])
        assert re.search(rf"save_figure\([^)]*[\"']{name}[\"']", code), f"notebook {name[:2]} does not save_figure {name!r}"


def test_notebooks_run_by_hand_write_outside_the_main_jobs_folder():
    """Without MARGINLAB_OUTPUT_DIR (a notebook opened by hand) every notebook writes reports/interactive/."""
    for path in discover_notebooks():
        defaults = re.findall(r"MARGINLAB_OUTPUT_DIR[\"'],\s*[\"']([^\"']+)[\"']", path.read_text(encoding="utf-8"))
        assert defaults == ["../reports/interactive"], (path.name, defaults)


def test_network_resources_finds_every_kind_of_load():
    page = """<script src="https://cdn.example/a.js"></script><script src='//cdn.example/b.js'></script>
    <link rel="stylesheet" href="https://fonts.example/css"><style>@import url("https://x.example/y.css");
    @font-face {src: url(https://x.example/f.woff)}</style><script type="module">await import("https://e.example/m.mjs")</script>
    <img src="http://example.org/i.png"><a href="https://example.org/page">a link is not a load</a>
    <script src="mathjax/MathJax.js"></script><img src="01_line.png">"""
    assert len(network_resources(page)) == 7


def _browser() -> str | None:
    import shutil

    return next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)


MATHS = """# A report with maths

Inline $\\sigma_t^2 = \\omega + \\alpha\\,\\varepsilon_{t-1}^2$ and a display:

$$IM = (1-w)\\,ES_{99\\%}^{2d} + w \\cdot \\text{stress}$$

| model | requirement |
|---|---|
| isolated | $IM = (2\\% + q \\cdot 0.005\\%)\\,\\lvert q\\rvert\\, S$ |
| portfolio | $MMR = \\max(MR1, MR2) + MR3$ |
"""


def _dom_offline(browser: str, page: Path) -> str:
    """The DOM of ``page`` after its scripts ran, in headless Chromium with the network off (no name resolves)."""
    result = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
                             "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.DOTALL | re.IGNORECASE)
    return html_module.unescape(re.sub(r"<[^>]+>", " ", dom))


html_module = __import__("html")


@pytest.mark.skipif(_browser() is None and os.environ.get("MARGINLAB_REQUIRE_BROWSER") != "1",
                    reason="no chromium on this machine (apt-get install chromium; .ci/run installs it in CI)")
def test_formulas_render_offline_in_chromium(tmp_path):
    """The pages typeset their maths with the local MathJax, the network off: every formula rendered, no raw $...$."""
    import jupytext
    import nbformat

    browser = _browser()
    assert browser, "MARGINLAB_REQUIRE_BROWSER=1 but no chromium found"
    install_mathjax(tmp_path)
    tiny = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(MATHS)])
    (tmp_path / "maths.html").write_text(notebook_html(tiny), encoding="utf-8")
    dom = _dom_offline(browser, tmp_path / "maths.html")
    rendered = re.findall(r'<span class="MathJax[^"]*" id="MathJax-Element-\d+-Frame"', dom)
    assert len(rendered) == 4  # 1 inline, 1 display, 2 in the table: each typeset by MathJax
    assert 'class="MathJax_Error"' not in dom and "Math Processing Error" not in dom
    assert "$" not in _visible_text(dom)
    assert re.search(r"<table.*class=\"MathJax.*</table>", dom, flags=re.DOTALL), "the formula table is not a table"
    # notebook 03's text (formula table included), as the main job renders it
    (tmp_path / "03.html").write_text(notebook_html(jupytext.read(REPO_ROOT / "notebooks" / "03_margin_models_compared.py")),
                                      encoding="utf-8")
    dom = _dom_offline(browser, tmp_path / "03.html")
    table = re.search(r"<table.*?</table>", dom, flags=re.DOTALL)
    assert table and "deribit-standard" in table.group(0) and 'class="MathJax' in table.group(0)
    assert 'class="MathJax_Error"' not in dom and "Math Processing Error" not in dom
    markdown = re.findall(r'<div class="[^"]*jp-MarkdownOutput[^"]*"[^>]*>(.*?)</div>', dom, flags=re.DOTALL)
    assert markdown and not any("$" in _visible_text(block) for block in markdown)
