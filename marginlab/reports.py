"""The main job: execute the notebook series into HTML reports.

Run as ``python -m marginlab.reports`` (``make report`` does). Every ``notebooks/NN_*.py``
(jupytext percent format) is executed in order with nbclient (kernel ``python3`` of the running
interpreter, working directory = the notebooks directory, environment
``MARGINLAB_OUTPUT_DIR=<output>`` and, with ``--fast``, ``MARGINLAB_FAST=1``), and written to
``<output>/NN_name.html``; ``<output>/index.html`` links every report and the parameter file
``calibrated_parameters.yaml`` when a notebook wrote it. A failing cell stops the run with a
message naming the notebook, the cell index, the cell's first source line and the error, and
exit code 1.

Options: ``--fast``, ``--only 01 03``, ``--output DIR``, ``--notebooks DIR``, ``--timeout SECONDS``.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from marginlab.exceptions import InputError, MarginLabError

__all__ = ["NotebookExecutionError", "ReportEntry", "discover_notebooks", "execute_notebook", "run_reports", "main"]

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
REPORTS_DIR = REPO_ROOT / "reports"
PARAMETER_FILE = "calibrated_parameters.yaml"
NOTEBOOK_GLOB = "[0-9][0-9]_*.py"


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
    """One executed notebook: source, HTML written, seconds taken."""

    notebook: Path
    html: Path
    seconds: float


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


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Temporarily set environment variables (the kernel inherits them)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


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

    Raises
    ------
    NotebookExecutionError
        Naming the notebook, cell index, first source line and the error of the failing cell.
    """
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    output_dir = Path(output_dir) if output_dir is not None else REPORTS_DIR
    output_dir.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(path)
    notebook.metadata["kernelspec"] = {"name": kernel_name, "display_name": "Python 3", "language": "python"}
    env = {"MARGINLAB_OUTPUT_DIR": str(output_dir.resolve()), "MARGINLAB_FAST": "1" if fast else "0"}
    client = NotebookClient(notebook, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    deadline = time.monotonic() + notebook_timeout if notebook_timeout is not None else None
    with _environment(env):
        try:
            with client.setup_kernel():
                for index, cell in enumerate(notebook.cells):
                    if cell.cell_type != "code":
                        continue
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


def _write_html(notebook, target: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, target)


def _title(notebook_path: Path) -> str:
    return notebook_path.stem[3:].replace("_", " ").capitalize()


def write_index(entries: Sequence[ReportEntry], output_dir: Path, *, fast: bool) -> Path:
    """Write ``index.html`` linking every report (and the parameter file when present)."""
    items = "\n".join(
        f'<li><a href="{html.escape(entry.html.name)}">{html.escape(entry.notebook.stem)}</a> '
        f"&mdash; {html.escape(_title(entry.notebook))} ({entry.seconds:.1f} s)</li>"
        for entry in entries
    )
    parameters = output_dir / PARAMETER_FILE
    extra = (f'<p>Calibrated parameter file: <a href="{PARAMETER_FILE}">{PARAMETER_FILE}</a></p>'
             if parameters.exists() else "<p>No calibrated parameter file was written.</p>")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    mode = "FAST parameters" if fast else "full parameters"
    page = (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>marginlab reports</title></head><body>\n"
            f"<h1>marginlab reports</h1>\n<p>Generated {stamp} with {mode}.</p>\n<ol>\n{items}\n</ol>\n{extra}\n</body></html>\n")
    target = output_dir / "index.html"
    target.write_text(page, encoding="utf-8")
    return target


def run_reports(
    notebooks_dir: Path | str = NOTEBOOKS_DIR,
    output_dir: Path | str = REPORTS_DIR,
    *,
    fast: bool = False,
    only: Sequence[str] | None = None,
    timeout: int = 600,
    log=print,
) -> list[ReportEntry]:
    """Execute the notebooks in order, write their HTML and the index; return what was written.

    Stops at the first failing notebook (raising :class:`NotebookExecutionError`); the reports
    written before it stay in place.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    notebooks = discover_notebooks(notebooks_dir, only)
    if not notebooks:
        raise InputError("notebooks_dir", str(notebooks_dir), f"holds no {NOTEBOOK_GLOB} notebook")
    entries = []
    for number, path in enumerate(notebooks, start=1):
        log(f"[{number}/{len(notebooks)}] {path.name} ...")
        started = time.perf_counter()
        executed = execute_notebook(path, fast=fast, output_dir=output_dir, timeout=timeout)
        target = output_dir / f"{path.stem}.html"
        _write_html(executed, target)
        seconds = time.perf_counter() - started
        entries.append(ReportEntry(path, target, seconds))
        log(f"[{number}/{len(notebooks)}] {path.name} done in {seconds:.1f} s -> {target}")
    index = write_index(entries, output_dir, fast=fast)
    log(f"index: {index}")
    return entries


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the main job; returns the exit code (1 when a notebook fails)."""
    parser = argparse.ArgumentParser(prog="python -m marginlab.reports", description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="short-run parameters (MARGINLAB_FAST=1)")
    parser.add_argument("--only", nargs="+", metavar="NN", help="run only these notebook numbers, e.g. --only 01 03")
    parser.add_argument("--output", type=Path, default=REPORTS_DIR, help="report directory (default: reports/)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS_DIR, help="notebook directory (default: notebooks/)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        entries = run_reports(args.notebooks, args.output, fast=args.fast, only=args.only, timeout=args.timeout)
    except MarginLabError as error:
        print(f"marginlab.reports: error: {error}", file=sys.stderr)
        return 1
    print(f"{len(entries)} report(s) in {time.perf_counter() - started:.1f} s: {Path(args.output) / 'index.html'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
