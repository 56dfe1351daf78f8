"""Smoke test of ``benchmarks/book_presets.py`` on a small book (no timing asserts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "book_presets.py"


def test_benchmark_runs_and_prints_its_summary_line(capsys) -> None:  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("book_presets_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--accounts", "30", "--presets", "span-example", "fhs-var@as_of"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("accounts=30 ")
    for key in ("deribit_pm_s", "span_example_s", "fhs_var_as_of_s", "worst_ratio_to_deribit_pm"):
        assert f"{key}=" in last
    assert all(np.isfinite(value) and value > 0 for value in figures.values())
