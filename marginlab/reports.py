"""The main job: execute the notebook series into HTML reports a reader can trust.

Run as ``python -m marginlab.reports`` (``make report`` does). Every ``notebooks/NN_*.py``
(jupytext percent format) is executed in order with nbclient (kernel ``python3`` of the running
interpreter over IPC sockets, working directory = the notebooks directory, environment
``MARGINLAB_OUTPUT_DIR=<output>``, ``MARGINLAB_FAST=1`` with ``--fast``, and progress bars off),
and written to ``<output>/NN_name.html``. ``<output>/index.html`` lists each notebook with its
one-line description, the dataset name and version, and links the parameter file
``calibrated_parameters.yaml``, the figures (``NN_*.png``) and the CSV outputs (``NN_*.csv``).

Every executed notebook is audited (:func:`audit_notebook`): a warning, a traceback, a
progress-bar fragment, an empty table or an absolute path in an output is listed, and the job
ends with exit code 1 naming them. A failing cell stops the run with a message naming the
notebook, the cell index, the cell's first source line and the error, and exit code 1.

Helpers for the notebooks: :func:`format_table` (tables formatted for readers: thousands
separators, % for rates, integers for counts, no scientific notation) and :func:`save_figure`
(a PNG next to the reports, linked from the index).

Independent notebooks run concurrently (``--jobs N``, default ``min(2, os.cpu_count())``), each in its own
kernel: a notebook that reads a file another writes waits for it (:data:`NOTEBOOK_DEPENDENCIES`, the
dependencies declared as data), the index keeps the notebook order, and the reports and the audit are those
of ``--jobs 1`` (one after the other). One line on the terminal when a notebook starts and one when it ends,
with its seconds.

Offline: the pages load nothing from the network; their maths is typeset by the MathJax copy the job puts next
to them (``<output>/mathjax/``, from the ``jupyter-server-mathjax`` package; :mod:`marginlab.report_html`), and
the audit lists any network load left in a page.

Main job and partial runs: the main job (every notebook, full parameters) writes ``reports/`` and copies the
README gallery (:data:`GALLERY`) from its figures to ``docs/gallery/``. A run with ``--only`` or ``--fast`` is
partial: it writes ``reports/partial/`` by default, its index says it is partial, and it refuses a folder that
holds the main job's index, so it never overwrites the main job's ``index.html`` or parameter file. A notebook
run by hand (no ``MARGINLAB_OUTPUT_DIR``) writes ``reports/interactive/`` (:data:`INTERACTIVE_DIR`).

Options: ``--fast``, ``--only 01 03``, ``--output DIR``, ``--notebooks DIR``, ``--timeout SECONDS``,
``--jobs N``.
"""

from __future__ import annotations

import argparse
import functools
import html
import io
import math
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marginlab.data import dataset_info
from marginlab.exceptions import InputError, MarginLabError
from marginlab.io import atomic_write_bytes, atomic_write_text
from marginlab.report_html import install_mathjax, network_resources, notebook_html

__all__ = ["NotebookExecutionError", "ReportEntry", "discover_notebooks", "execute_notebook", "run_reports", "main",
           "NOTEBOOK_DEPENDENCIES", "default_jobs",
           "audit_notebook", "audit_html", "notebook_summary", "format_table", "format_number", "save_figure",
           "write_index", "GALLERY", "PARTIAL_DIR", "INTERACTIVE_DIR", "write_gallery", "default_output_dir"]

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
REPORTS_DIR = REPO_ROOT / "reports"
PARAMETER_FILE = "calibrated_parameters.yaml"
#: Where a run that is not the main job writes (``--only`` or ``--fast``): ``reports/partial/``, never the main
#: job's ``index.html`` or parameter file.
PARTIAL_DIR = REPORTS_DIR / "partial"
#: Where a notebook run by hand (outside the main job: no ``MARGINLAB_OUTPUT_DIR``) writes its files; every
#: notebook's parameters cell defaults to it, so running notebook 04 by hand leaves the main job's parameter file.
INTERACTIVE_DIR = REPORTS_DIR / "interactive"
#: The README gallery (``docs/gallery/<name>.png``): figures the main job copies there from its reports after a
#: full run; each is written by a notebook's :func:`save_figure` (``tests/test_reports.py`` checks both ways).
GALLERY: tuple[str, ...] = ("03_margin_heatmap", "02_volatility_forecast", "04_scan_ranges", "05_efficiency_vs_safety",
                            "07_parameter_change", "07_margin_spike")
GALLERY_DIR = REPO_ROOT / "docs" / "gallery"
#: The marker of the main job's index page (a partial run refuses to write into a folder holding one).
_MAIN_MARKER = '<meta name="marginlab-run" content="main">'
NOTEBOOK_GLOB = "[0-9][0-9]_*.py"


class ReportQualityError(MarginLabError):
    """A report holds a warning, traceback, progress fragment, empty table or absolute path."""


class NotebookExecutionError(MarginLabError):
    """A notebook cell failed; names the notebook, cell index, first source line and error."""

    def __init__(self, notebook: str, cell_index: int | None, first_line: str, error: str) -> None:
        self.notebook = notebook
        self.cell_index = cell_index
        self.first_line = first_line
        self.error = error
        where = f"cell {cell_index} ({first_line!r})" if cell_index is not None else "kernel"
        super().__init__(f"notebook {notebook} failed at {where}: {error}")


@dataclass(frozen=True)
class ReportEntry:
    """One executed notebook: source, HTML written, seconds taken, problems found by the audit."""

    notebook: Path
    html: Path
    seconds: float
    problems: tuple[str, ...] = field(default=())


#: What a reader must never see in a report: (pattern, what it is).
_OUTPUT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b\w*Warning\b[:(]|\bwarnings\.warn\b|^WARNING\b", re.MULTILINE), "a warning"),
    (re.compile(r"Traceback \(most recent call last\)"), "a traceback"),
    (re.compile(r"\d+%\|[^|\n]*\|"), "a progress-bar fragment"),
    (re.compile(r"\[\d+:\d\d<|\d+(?:\.\d+)?(?:it|s)/(?:s|it)\]"), "a progress-bar fragment"),
    (re.compile(r"Empty DataFrame"), "an empty table"),
    (re.compile(r"^(?:ERROR|CRITICAL)\b", re.MULTILINE), "an error message"),  # logging's ERROR:root:... lines
)
_PATH_PATTERN = re.compile(r"(?<![\w.])/(?:work|home|tmp|root|Users|var/folders|private)/[^\s\"'<>]*")


def audit_html(text: str) -> list[str]:
    """Absolute paths (``/work/``, ``/home/``, ``/tmp/``...) found anywhere in a rendered report.

    Examples
    --------
    >>> audit_html("<p>wrote /tmp/x/params.yaml</p>")
    ["an absolute path: '/tmp/x/params.yaml'"]
    >>> audit_html("<p>all fine: reports/01.html</p>")
    []
    """
    return [f"an absolute path: {match!r}" for match in dict.fromkeys(_PATH_PATTERN.findall(text))]


def _output_texts(output: Any) -> Iterator[str]:
    if output.get("output_type") == "error":
        yield "Traceback (most recent call last)"
        yield f"{output.get('ename')}: {output.get('evalue')}"
        return
    if output.get("output_type") == "stream":
        yield output.get("text", "")
        return
    for mime, value in (output.get("data") or {}).items():
        if mime.startswith("text/") or mime == "application/json":
            yield value if isinstance(value, str) else "".join(value) if isinstance(value, list) else str(value)


def audit_notebook(notebook: Any) -> list[str]:
    """Problems a reader would see in the outputs of an executed notebook.

    Each item names the cell and the problem: a warning (``...Warning:``, a ``WARNING`` line),
    an error message (an ``ERROR`` or ``CRITICAL`` line, as :mod:`logging` prints them), a traceback, a progress-bar fragment (``45%|####``, ``[00:01<00:02``, ``3.2it/s]``), an
    empty table (``Empty DataFrame``) or an absolute path (``/work/``, ``/home/``, ``/tmp/``...).
    Source code and markdown are not audited (they may quote such words on purpose).

    Examples
    --------
    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell("x")
    >>> cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="/tmp/a.py:3: UserWarning: careful")]
    >>> audit_notebook(nbformat.v4.new_notebook(cells=[cell]))
    ['cell 0: a warning', "cell 0: an absolute path: '/tmp/a.py:3:'"]
    """
    problems: list[str] = []
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            for text in _output_texts(output):
                for pattern, what in _OUTPUT_PATTERNS:
                    if pattern.search(text):
                        problems.append(f"cell {index}: {what}")
                problems += [f"cell {index}: {problem}" for problem in audit_html(text)]
    return list(dict.fromkeys(problems))


_DESCRIPTION_CHARS = 200


def notebook_summary(path: Path | str) -> tuple[str, str]:
    """Title and one-line description of a notebook, from its first markdown cell.

    The title is the cell's first heading (without ``NN —``); the description is the first
    sentence (or clause ending in a colon) of the paragraph that follows, without markdown
    emphasis, cut at a word after 200 characters.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "09_demo.py"
    >>> _ = path.write_text("# %% [markdown]\\n# # 09 — A demo\\n#\\n# This shows **one** thing. And more.\\n")
    >>> notebook_summary(path)
    ('A demo', 'This shows one thing.')
    """
    path = Path(path)
    title, description = path.stem[3:].replace("_", " ").capitalize(), ""
    try:
        import jupytext

        cells = jupytext.read(path).cells
    except Exception:  # an unreadable notebook still gets its file-name title
        return title, description
    for cell in cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        heading = next((line for line in lines if line.startswith("#")), None)
        if heading:
            title = re.sub(r"^#+\s*(\d+\s*[—–-]\s*)?", "", heading).strip()
        paragraph: list[str] = []
        for line in lines:
            if line.startswith("#") or (not line.strip() and not paragraph):
                continue
            if not line.strip():
                break
            paragraph.append(line.strip())
        text = re.sub(r"[*_`]", "", " ".join(paragraph))
        match = re.match(r"(.+?[.!?:])(\s|$)", text)
        description = re.sub(r":$", ".", match.group(1) if match else text)
        if len(description) > _DESCRIPTION_CHARS:  # cut at a word, never mid-word
            description = description[:_DESCRIPTION_CHARS].rsplit(" ", 1)[0].rstrip(",;:(") + " …"
        break
    return title, description


def format_number(value: Any, decimals: int = 2) -> str:
    """A number for a reader: thousands separators, never scientific notation.

    Numbers of magnitude 1 or more get ``decimals`` places; smaller ones get enough places to
    show three significant digits (at most 10). NaN and None give an en dash.

    Examples
    --------
    >>> format_number(100500.254), format_number(9090), format_number(7.4e-05), format_number(float("nan"))
    ('100,500.25', '9,090.00', '0.0000740', '–')
    """
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "–"
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    places = decimals
    if 0 < abs(number) < 1:
        places = max(decimals, min(10, 2 - math.floor(math.log10(abs(number)))))
    return f"{number:,.{places}f}"


def format_table(
    frame: Any,
    *,
    percent: Iterable[str] = (),
    counts: Iterable[str] = (),
    decimals: int = 2,
    percent_decimals: int = 2,
    dates: Iterable[str] = (),
    hide_index: bool = False,
) -> Any:
    """A pandas Styler that shows ``frame`` for readers (the one table formatter of the notebooks).

    Parameters
    ----------
    frame : pandas.DataFrame or Series
        The table (a Series becomes a one-column frame).
    percent : iterable of str
        Columns holding rates as fractions (0.0123), shown as ``1.23%``.
    counts : iterable of str
        Columns holding counts, shown as integers with thousands separators (``9,090``).
        Integer columns are shown this way without being listed.
    decimals : int
        Places of the other numeric columns (thousands separators, no scientific notation). A
        column whose values are all below 1 in magnitude gets enough places to show its largest
        value with three significant digits, the same places for every row.
    percent_decimals : int
        Places of the percent columns.
    dates : iterable of str
        Datetime columns shown as ``YYYY-MM-DD`` (datetime columns are shown this way when they
        hold only midnight times).
    hide_index : bool
        Hide the index (for tables whose index is a plain row number).

    Returns
    -------
    pandas.io.formats.style.Styler
        Renders as HTML in a notebook and in the reports; ``.data`` is the unchanged frame.

    Raises
    ------
    InputError
        When a column named in ``percent``, ``counts`` or ``dates`` is not in the table.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"rate": [0.0123, 0.5], "days": [9090, 50], "margin_usd": [100500.25, 3.0],
    ...                       "funding": [7.4e-05, 1.2e-04]})
    >>> styled = format_table(table, percent=["rate"], counts=["days"])
    >>> [styled.format_func(column)(value) for column, value in [("rate", 0.0123), ("days", 50.0), ("margin_usd", 1.005e5),
    ...                                                          ("funding", 7.4e-05)]]
    ['1.23%', '50', '100,500.00', '0.000074']
    """
    table = frame.to_frame() if isinstance(frame, pd.Series) else frame
    if not isinstance(table, pd.DataFrame):
        raise InputError("frame", type(frame).__name__, "must be a pandas DataFrame or Series")
    percent, counts, dates = list(percent), list(counts), list(dates)
    for name, columns in (("percent", percent), ("counts", counts), ("dates", dates)):
        missing = [column for column in columns if column not in table.columns]
        if missing:
            raise InputError(name, missing, f"not a column of the table; columns are {list(table.columns)}")
    formatters: dict[Any, Any] = {}
    for column in table.columns:
        series = table[column]
        if column in percent:
            formatters[column] = functools.partial(_percent, percent_decimals)
        elif column in counts or pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series):
            formatters[column] = _count
        elif column in dates or (pd.api.types.is_datetime64_any_dtype(series) and _midnight_only(series)):
            formatters[column] = _date
        elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            formatters[column] = functools.partial(_fixed, _column_places(series, decimals))
    text_columns: list[Any] = [column for column in table.columns if column not in formatters]
    styler = table.style.format(formatters, na_rep="–")
    styler = styler.set_table_styles([{"selector": "td, th", "props": "white-space: nowrap;"}], overwrite=False)
    if text_columns:
        styler = styler.set_properties(subset=text_columns, **{"text-align": "left"})
    styler.format_func = lambda column: formatters[column]  # type: ignore[attr-defined]
    if hide_index:
        styler = styler.hide(axis="index")
    return styler


def _column_places(series: Any, decimals: int) -> int:
    """Places of a numeric column: ``decimals``, or enough for 3 significant digits when every value is below 1."""
    values = np.abs(np.asarray(series, dtype=float))
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values) or values.max() >= 1:
        return decimals
    return max(decimals, min(10, 2 - math.floor(math.log10(values.max()))))


def _number(value: Any) -> float | str:
    """``value`` as a float, or its text when it is not a number (cells of mixed columns)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _fixed(places: int, value: Any) -> str:
    number = _number(value)
    if isinstance(number, str):
        return number
    if math.isnan(number):
        return "–"
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    return f"{number:,.{places}f}"


def _percent(decimals: int, value: Any) -> str:
    number = _number(value)
    if isinstance(number, str):
        return number
    return "–" if math.isnan(number) else f"{number * 100:,.{decimals}f}%"


def _count(value: Any) -> str:
    number = _number(value)
    if isinstance(number, str):
        return number
    return "–" if math.isnan(number) else f"{round(number):,d}"


def _date(value: Any) -> str:
    return "–" if value is None or value != value else f"{value:%Y-%m-%d}"


def _midnight_only(series: Any) -> bool:
    values = series.dropna()
    return bool(len(values)) and bool((values == values.dt.normalize()).all())


def save_figure(figure: Any, name: str, *, output_dir: Path | str | None = None, dpi: int = 110) -> None:
    """Save a matplotlib figure as ``<output_dir>/<name>.png`` (atomic write) for the report index.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure (``plt.gcf()`` for the current one).
    name : str
        File stem: letters, digits, ``_`` and ``-``, starting with the notebook number
        (``"01_prices"``) so the index lists it under its notebook.
    output_dir : Path, optional
        Default ``$MARGINLAB_OUTPUT_DIR``, else the repository's ``reports/``.
    dpi : int
        Resolution of the PNG.

    Nothing is returned, so a call ending a notebook cell prints no (absolute) path in the report.

    Examples
    --------
    >>> import tempfile, pathlib, matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> save_figure(fig, "01_demo", output_dir=folder)
    >>> [path.name for path in folder.iterdir()]
    ['01_demo.png']
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,100}", name):
        raise InputError("name", name, "must be letters, digits, '_' and '-' such as '01_prices'")
    folder = Path(output_dir) if output_dir is not None else Path(os.environ.get("MARGINLAB_OUTPUT_DIR") or REPORTS_DIR)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    atomic_write_bytes(folder / f"{name}.png", buffer.getvalue(), field="name")


def discover_notebooks(notebooks_dir: Path | str = NOTEBOOKS_DIR, only: Sequence[str] | None = None) -> list[Path]:
    """The ``NN_*.py`` notebooks of ``notebooks_dir`` in order, optionally only the numbers ``only``.

    Raises
    ------
    InputError
        When a number of ``only`` matches no notebook.
    """
    notebooks = sorted(Path(notebooks_dir).glob(NOTEBOOK_GLOB))
    if only:
        wanted = {str(number).zfill(2) for number in only}
        unknown = sorted(wanted - {path.name[:2] for path in notebooks})
        if unknown:
            raise InputError("only", unknown, f"no notebook with that number in {notebooks_dir}")
        notebooks = [path for path in notebooks if path.name[:2] in wanted]
    return notebooks


def _kernel_environment(values: dict[str, str]) -> dict[str, str]:
    """The kernel's environment: this process's, with ``values`` set (``os.environ`` itself is left alone, so
    notebooks run in parallel threads never see each other's settings)."""
    return {**os.environ, **values}


class _Cancelled(Exception):
    """A parallel run stopped this notebook between two cells (another notebook failed)."""


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ""


def execute_notebook(
    path: Path | str,
    *,
    fast: bool = False,
    output_dir: Path | str | None = None,
    timeout: int = 600,
    notebook_timeout: float | None = None,
    kernel_name: str = "python3",
    stop: threading.Event | None = None,
):
    """Execute a jupytext percent notebook cell by cell and return the executed notebook.

    Parameters
    ----------
    path : Path
        ``NN_name.py`` in jupytext percent format; executed with the notebook's directory as cwd.
    fast : bool
        Sets ``MARGINLAB_FAST=1`` (the notebooks' short-run parameters) in the kernel's environment.
    output_dir : Path, optional
        Sets ``MARGINLAB_OUTPUT_DIR``; default the repository's ``reports/``.
    timeout : int
        Seconds allowed per cell.
    notebook_timeout : float, optional
        Seconds allowed for the whole notebook (each cell gets at most what remains).
    stop : threading.Event, optional
        Checked before each cell: once set, the notebook stops there (its kernel is shut down) and
        ``_Cancelled`` is raised (the parallel runner stops the other notebooks when one fails).

    Raises
    ------
    NotebookExecutionError
        Naming the notebook, cell index, first source line and the error of the failing cell.
    """
    import jupytext
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    output_dir = Path(output_dir) if output_dir is not None else REPORTS_DIR
    output_dir.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(path)
    notebook.metadata["kernelspec"] = {"name": kernel_name, "display_name": "Python 3", "language": "python"}
    # progress bars off (their text lands in the report), no pydevd frozen-modules notice
    env = {"MARGINLAB_OUTPUT_DIR": str(output_dir.resolve()), "MARGINLAB_FAST": "1" if fast else "0",
           "MARGINLAB_PROGRESS": "0", "TQDM_DISABLE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    deadline = time.monotonic() + notebook_timeout if notebook_timeout is not None else None
    # the kernel talks over IPC sockets in a private folder: no "running over TCP without
    # encryption" warning from ipykernel on the console, no port clashes between parallel runs
    with tempfile.TemporaryDirectory(prefix="marginlab-kernel-") as sockets:
        manager = (AsyncKernelManager(kernel_name=kernel_name, transport="ipc", ip=str(Path(sockets) / "k"))
                   if os.name == "posix" else AsyncKernelManager(kernel_name=kernel_name))  # no IPC on Windows
        client = NotebookClient(notebook, km=manager, timeout=timeout, kernel_name=kernel_name,
                                resources={"metadata": {"path": str(path.parent.resolve())}})
        try:
            # we made the manager: shut the kernel down
            with client.setup_kernel(cleanup_kc=True, env=_kernel_environment(env)):
                for index, cell in enumerate(notebook.cells):
                    if cell.cell_type != "code":
                        continue
                    if stop is not None and stop.is_set():
                        raise _Cancelled(path.name)
                    if deadline is not None:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise NotebookExecutionError(path.name, index, _first_line(cell.source),
                                                         f"notebook time limit of {notebook_timeout} s reached")
                        client.timeout = int(min(timeout, max(remaining, 1)))
                    try:
                        client.execute_cell(cell, index)
                    except CellExecutionError as error:
                        summary = f"{error.ename}: {error.evalue}" if getattr(error, "ename", None) else str(error).strip()
                        raise NotebookExecutionError(path.name, index, _first_line(cell.source), summary) from None
                    except CellTimeoutError:
                        raise NotebookExecutionError(path.name, index, _first_line(cell.source),
                                                     f"timed out after {client.timeout} s") from None
        except DeadKernelError as error:
            raise NotebookExecutionError(path.name, None, "", f"kernel died: {error}") from None
    return notebook


def _write_html(notebook, target: Path) -> str:
    body = notebook_html(notebook)  # maths by the MathJax copy next to the reports, nothing from the network
    atomic_write_text(target, body, field="output")
    return body


def _display_path(path: Path) -> str:
    """``path`` relative to the working directory when inside it, else as given (for console lines)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _outputs_of(entry: ReportEntry, output_dir: Path, suffix: str) -> list[str]:
    prefix = entry.notebook.name[:3]
    return sorted(path.name for path in output_dir.glob(f"{prefix}*{suffix}") if path.is_file())


def write_index(entries: Sequence[ReportEntry], output_dir: Path, *, fast: bool, partial: bool = False) -> Path:
    """Write ``index.html``: each notebook with its description and outputs, the parameter file, the dataset.

    Parameters
    ----------
    entries : sequence of ReportEntry
        The executed notebooks, in notebook order.
    output_dir : Path
        The reports folder.
    fast : bool
        Whether the notebooks ran with FAST parameters (named on the page).
    partial : bool
        A run that is not the main job (``--only`` or ``--fast``): the page says so and carries no main-job
        marker; only the main job's page has it (a partial run refuses a folder holding such a page).

    Returns
    -------
    Path
        The index page written.
    """
    output_dir = Path(output_dir)
    try:
        info = dataset_info()
        dataset = f"{html.escape(info['name'])}, version <code>{html.escape(info['version'])}</code> ({html.escape(info['origin'])})"
    except MarginLabError as error:
        dataset = html.escape(f"unavailable: {error}")
    rows = []
    for entry in entries:
        title, description = notebook_summary(entry.notebook)
        links = [f'<a href="{html.escape(name)}">{html.escape(name)}</a>'
                 for suffix in (".png", ".csv", ".yaml") for name in _outputs_of(entry, output_dir, suffix)]
        outputs = f"<br><small>outputs: {', '.join(links)}</small>" if links else ""
        rows.append(f'<li><a href="{html.escape(entry.html.name)}"><b>{html.escape(entry.notebook.name[:2])} '
                    f"{html.escape(title)}</b></a> &mdash; {html.escape(description)} "
                    f"<small>({entry.seconds:,.0f} s)</small>{outputs}</li>")
    parameters = output_dir / PARAMETER_FILE
    extra = (f'<p>Calibrated parameter file: <a href="{PARAMETER_FILE}">{PARAMETER_FILE}</a></p>'
             if parameters.exists() else "<p>No calibrated parameter file was written.</p>")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    mode = "FAST parameters (short run)" if fast else "full parameters"
    numbers = ", ".join(entry.notebook.name[:2] for entry in entries)
    heading = (f"<p><b>Partial run</b> (notebooks {numbers}): not the main job's reports, which <code>make report</code> "
               "writes to <code>reports/</code>.</p>\n") if partial else ""
    page = ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'>" + ("" if partial else _MAIN_MARKER)
            + "<title>marginlab reports</title>\n"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}li{margin:.6em 0}</style>"
            "</head><body>\n<h1>marginlab reports</h1>\n" + heading +
            f"<p>Generated {stamp} with {mode}.<br>Market data: {dataset}; sources and terms of use in "
            "<code>marginlab/datasets/NOTICE.md</code>.</p>\n"
            f"{extra}\n<ol>\n" + "\n".join(rows) + "\n</ol>\n</body></html>\n")
    return atomic_write_text(output_dir / "index.html", page, field="output")


#: Which notebooks read a file that another notebook writes, as data: notebook number -> the numbers that must
#: have finished first. The parallel runner (``--jobs``) starts a notebook only after these; with ``--only`` a
#: dependency that is not selected is taken as already satisfied (its file is left from an earlier run).
#: Today every notebook computes what it needs from the package data: 04 writes ``calibrated_parameters.yaml``
#: and 07 writes and re-reads its own ``07_parameters_*.yaml``, but no notebook reads another's output, so the
#: table is empty. ``tests/test_reports.py`` reads the notebooks' sources and fails when a notebook names a
#: file of another notebook without a line here -- add e.g. ``"05": ("04",)`` when notebook 05 loads the
#: parameter file of 04.
NOTEBOOK_DEPENDENCIES: dict[str, tuple[str, ...]] = {}

#: Seconds each shipped notebook took in a full run alone on 2 cores (2026-12), by file stem: only the order in
#: which ready notebooks start with ``jobs > 1`` (longest first, so the short ones run beside the long ones);
#: other notebooks count as 0 and keep their order. A stale figure costs some wall time, never a result.
EXPECTED_SECONDS: dict[str, float] = {
    "01_data_and_stylised_facts": 20, "02_garch_calibration": 65, "03_margin_models_compared": 16,
    "04_stress_ranges_and_haircuts": 20, "05_historical_stress_tests": 125, "06_backtests_and_procyclicality": 35,
    "07_production_handoff": 16, "09_defi_collateral_and_lending": 20,
}


def default_jobs() -> int:
    """Notebooks run at once by default: ``min(2, os.cpu_count())``."""
    return max(1, min(2, os.cpu_count() or 1))


def _dependency_plan(notebooks: Sequence[Path], dependencies: Any) -> dict[Path, tuple[Path, ...]]:
    """Each selected notebook with the selected notebooks it waits for; unknown numbers and cycles are errors."""
    by_number = {path.name[:2]: path for path in notebooks}
    plan: dict[Path, tuple[Path, ...]] = {}
    for path in notebooks:
        needed = []
        for number in dependencies.get(path.name[:2], ()):
            number = str(number).zfill(2)
            if not re.fullmatch(r"\d\d", number):
                raise InputError("dependencies", {path.name[:2]: number}, "must name notebooks by their two-digit number")
            if number == path.name[:2]:
                raise InputError("dependencies", {number: number}, "a notebook cannot wait for itself")
            if number in by_number:
                needed.append(by_number[number])
        plan[path] = tuple(needed)
    done: set[Path] = set()
    remaining = dict(plan)
    while remaining:  # a topological pass: what is left with nothing ready is a cycle
        ready = [path for path, needed in remaining.items() if set(needed) <= done]
        if not ready:
            cycle = sorted(path.name[:2] for path in remaining)
            raise InputError("dependencies", cycle, "form a cycle: these notebooks wait for each other")
        for path in ready:
            done.add(path)
            del remaining[path]
    return plan


def _run_one(path: Path, output_dir: Path, *, fast: bool, timeout: int, stop: threading.Event | None) -> ReportEntry:
    """Execute one notebook, write its HTML and audit it (what one worker does)."""
    started = time.perf_counter()
    executed = execute_notebook(path, fast=fast, output_dir=output_dir, timeout=timeout, stop=stop)
    target = output_dir / f"{path.stem}.html"
    body = _write_html(executed, target)
    in_outputs = audit_notebook(executed)
    problems = tuple(in_outputs) + tuple(f"page: {problem}" for problem in audit_html(body)
                                         if not any(problem in known for known in in_outputs))
    problems += tuple(f"page: loads from the network: {load}" for load in network_resources(body))
    return ReportEntry(path, target, time.perf_counter() - started, problems)


def run_reports(
    notebooks_dir: Path | str = NOTEBOOKS_DIR,
    output_dir: Path | str = REPORTS_DIR,
    *,
    fast: bool = False,
    only: Sequence[str] | None = None,
    timeout: int = 600,
    log=print,
    jobs: int | None = None,
    dependencies: Any = None,
    gallery_dir: Path | str | None = None,
    gallery: Sequence[str] = GALLERY,
) -> list[ReportEntry]:
    """Execute the notebooks, write their HTML and the index; return what was written, in notebook order.

    Up to ``jobs`` notebooks run at once (default :func:`default_jobs`), each in its own kernel; a notebook
    starts once the notebooks it depends on (``dependencies``, default :data:`NOTEBOOK_DEPENDENCIES`) have
    finished, the longest expected first (:data:`EXPECTED_SECONDS`). ``log`` gets one line when a notebook
    starts and one when it ends, with its seconds. The reports, the index and the audit are those of a run
    with ``jobs=1``, which runs the notebooks one after the other in order.

    Stops at the first failing notebook (raising its :class:`NotebookExecutionError`): no other notebook
    starts, those running stop before their next cell, and the reports written before stay in place. Each
    entry lists the problems :func:`audit_notebook` and :func:`audit_html` found in its report (``main``
    turns them into exit code 1).

    A run with ``only`` or ``fast`` is *partial*, not the main job: its index says so, and it refuses an
    ``output_dir`` that holds the main job's index (``python -m marginlab.reports`` sends partial runs to
    :data:`PARTIAL_DIR`). The main job (every notebook, full parameters) copies the figures ``gallery`` from its
    reports to ``gallery_dir`` when one is given (``main`` gives the README's ``docs/gallery``).
    The MathJax copy the pages load goes to ``<output_dir>/mathjax/`` (:func:`~marginlab.report_html.install_mathjax`).

    Parameters
    ----------
    notebooks_dir : Path or str
        The folder of ``NN_*.py`` notebooks.
    output_dir : Path or str
        The reports folder.
    fast : bool
        FAST parameters (``MARGINLAB_FAST=1``).
    only : sequence of str, optional
        Notebook numbers to run (default all).
    timeout : int
        Seconds allowed per cell.
    log : callable
        Gets the console lines.
    jobs : int, optional
        Notebooks run at once.
    dependencies : mapping, optional
        Notebook number -> the numbers it waits for.
    gallery_dir : Path or str, optional
        Where the main job copies the gallery figures.
    gallery : sequence of str
        The gallery's figure names (``NN_name``, without ``.png``).

    Returns
    -------
    list of ReportEntry
        One per notebook, in notebook order.

    Raises
    ------
    InputError
        When ``jobs`` is not a positive integer, the dependencies name a notebook wrongly or form a cycle, or a
        partial run is pointed at the main job's folder.
    NotebookExecutionError
        Of the failing notebook (the first in notebook order when several fail at once).
    ReportQualityError
        When the main job wrote no figure for a gallery name.
    """
    output_dir = Path(output_dir)
    partial = bool(only) or fast
    if partial and _is_main_job_folder(output_dir):
        raise InputError("output", _display_path(output_dir),
                         "holds the main job's reports (index.html, calibrated_parameters.yaml); a partial run "
                         "(--only or --fast) writes elsewhere: the default is reports/partial/")
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError("jobs", jobs, "must be a positive integer")
    notebooks = discover_notebooks(notebooks_dir, only)
    if not notebooks:
        raise InputError("notebooks_dir", str(notebooks_dir), f"holds no {NOTEBOOK_GLOB} notebook")
    plan = _dependency_plan(notebooks, NOTEBOOK_DEPENDENCIES if dependencies is None else dependencies)
    output_dir.mkdir(parents=True, exist_ok=True)
    install_mathjax(output_dir)
    total = len(notebooks)
    label = {path: f"[{number}/{total}] {path.name}" for number, path in enumerate(notebooks, start=1)}
    # longest expected first among the ready ones, then notebook order (jobs=1: plain notebook order)
    rank = {path: (-EXPECTED_SECONDS.get(path.stem, 0.0) if jobs > 1 else 0.0, position)
            for position, path in enumerate(notebooks)}
    stop = threading.Event()
    entries: dict[Path, ReportEntry] = {}
    failures: dict[Path, BaseException] = {}
    waiting = list(notebooks)

    running: dict[Future, Path] = {}
    started: dict[Path, float] = {}
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="notebook") as pool:
        try:
            while waiting or running:
                ready = sorted((path for path in waiting if set(plan[path]) <= set(entries)), key=rank.__getitem__)
                while ready and len(running) < jobs and not failures:
                    path = ready.pop(0)
                    waiting.remove(path)
                    log(f"{label[path]} ...")
                    started[path] = time.perf_counter()
                    running[pool.submit(_run_one, path, output_dir, fast=fast, timeout=timeout, stop=stop)] = path
                if not running:
                    break  # a failure: nothing more starts
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda done: rank[running[done]][1]):
                    path = running.pop(future)
                    error = future.exception()
                    seconds = time.perf_counter() - started[path]
                    if isinstance(error, _Cancelled):
                        log(f"{label[path]} stopped after {seconds:.1f} s: another notebook failed")
                    elif error is not None:
                        failures[path] = error
                        stop.set()
                        log(f"{label[path]} failed after {seconds:.1f} s")
                    else:
                        entry = entries[path] = future.result()
                        problems = f" ({len(entry.problems)} problem(s) for a reader)" if entry.problems else ""
                        log(f"{label[path]} done in {entry.seconds:.1f} s -> {_display_path(entry.html)}{problems}")
        except BaseException:  # Ctrl-C: running notebooks stop before their next cell
            stop.set()
            raise
    if failures:
        raise failures[min(failures, key=notebooks.index)]
    ordered = [entries[path] for path in notebooks]
    index = write_index(ordered, output_dir, fast=fast, partial=partial)
    log(f"index: {_display_path(index)}")
    if gallery_dir is not None and not partial:
        written = write_gallery(output_dir, gallery_dir, gallery)
        log(f"gallery: {len(written)} figure(s) -> {_display_path(Path(gallery_dir))}")
    return ordered


def _is_main_job_folder(output_dir: Path) -> bool:
    index = Path(output_dir) / "index.html"
    try:
        return index.is_file() and _MAIN_MARKER in index.read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return False


def write_gallery(output_dir: Path | str, gallery_dir: Path | str, names: Sequence[str] = GALLERY) -> list[Path]:
    """Copy the gallery figures ``<output_dir>/<name>.png`` to ``<gallery_dir>/<name>.png`` (atomic writes).

    Parameters
    ----------
    output_dir : Path or str
        The main job's reports folder.
    gallery_dir : Path or str
        The gallery folder (the README's ``docs/gallery``).
    names : sequence of str
        Figure names without ``.png`` (default :data:`GALLERY`).

    Returns
    -------
    list of Path
        The files written, in ``names`` order.

    Raises
    ------
    ReportQualityError
        When a figure of ``names`` is not in ``output_dir`` (nothing is copied then).
    """
    output_dir, gallery_dir = Path(output_dir), Path(gallery_dir)
    missing = [name for name in names if not (output_dir / f"{name}.png").is_file()]
    if missing:
        raise ReportQualityError(f"gallery figure(s) {missing} not written by the notebooks (save_figure) into "
                                 f"{_display_path(output_dir)}")
    return [atomic_write_bytes(gallery_dir / f"{name}.png", (output_dir / f"{name}.png").read_bytes(), field="gallery")
            for name in names]


def default_output_dir(*, fast: bool = False, only: Sequence[str] | None = None) -> Path:
    """Where ``python -m marginlab.reports`` writes: ``reports/`` for the main job, ``reports/partial/`` otherwise.

    Parameters
    ----------
    fast : bool
        FAST parameters.
    only : sequence of str, optional
        Notebook numbers.

    Returns
    -------
    Path
        :data:`REPORTS_DIR` when every notebook runs with full parameters, else :data:`PARTIAL_DIR`.
    """
    return PARTIAL_DIR if fast or only else REPORTS_DIR


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the main job; returns the exit code (1 when a notebook fails)."""
    parser = argparse.ArgumentParser(prog="python -m marginlab.reports", description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="short-run parameters (MARGINLAB_FAST=1)")
    parser.add_argument("--only", nargs="+", metavar="NN", help="run only these notebook numbers, e.g. --only 01 03")
    parser.add_argument("--output", type=Path, default=None,
                        help="report directory (default: reports/ for the main job, reports/partial/ with --only or --fast)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS_DIR, help="notebook directory (default: notebooks/)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), metavar="N",
                        help=f"notebooks run at once, dependencies respected (default min(2, cores) = {default_jobs()})")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    output = args.output if args.output is not None else default_output_dir(fast=args.fast, only=args.only)
    args.output = output
    # the main job of this source tree refreshes the README gallery
    is_main = args.output.resolve() == REPORTS_DIR.resolve() and args.notebooks.resolve() == NOTEBOOKS_DIR.resolve()
    gallery_dir = GALLERY_DIR if is_main and GALLERY_DIR.is_dir() else None
    try:
        entries = run_reports(args.notebooks, output, fast=args.fast, only=args.only, timeout=args.timeout,
                              jobs=args.jobs, gallery_dir=gallery_dir)
    except MarginLabError as error:
        print(f"marginlab.reports: error: {error}", file=sys.stderr)
        return 1
    flawed = [entry for entry in entries if entry.problems]
    for entry in flawed:
        print(f"marginlab.reports: {entry.html.name}: {'; '.join(entry.problems)}", file=sys.stderr)
    print(f"{len(entries)} report(s) in {time.perf_counter() - started:.1f} s: {_display_path(Path(args.output) / 'index.html')}"
          + (f"; {len(flawed)} with problems for a reader" if flawed else ""))
    return 1 if flawed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
