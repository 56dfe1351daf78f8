"""Notebook harness: every notebooks/NN_*.py is paired with an output-free .ipynb and runs with FAST parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from marginlab.reports import NOTEBOOK_GLOB, NOTEBOOKS_DIR, execute_notebook

NOTEBOOKS = sorted(Path(NOTEBOOKS_DIR).glob(NOTEBOOK_GLOB))
IDS = [path.stem for path in NOTEBOOKS]


def _sources(notebook) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_paired_ipynb_is_clean_and_in_sync(path):
    import jupytext
    import nbformat

    paired = path.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} missing: run jupytext --set-formats ipynb,py:percent {path.name}"
    stored = nbformat.read(paired, as_version=4)
    for index, cell in enumerate(stored.cells):
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{paired.name} cell {index} has outputs: strip them before committing"
            assert cell.get("execution_count") is None, f"{paired.name} cell {index} has an execution count"
    assert _sources(jupytext.read(paired)) == _sources(jupytext.read(path)), (
        f"{paired.name} and {path.name} differ: run jupytext --sync {path.name}")


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_fast(path, tmp_path):
    execute_notebook(path, fast=True, output_dir=tmp_path, timeout=300, notebook_timeout=300)
