"""Smoke test of ``benchmarks/calibrated_book.py`` on a small book (no timing asserts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "calibrated_book.py"


def test_benchmark_runs_and_prints_its_summary_line(capsys) -> None:  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("calibrated_book_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--accounts", "30", "--sample", "5"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("accounts=30 ")
    for name in ("deribit-pm", "calibrated-portfolio", "calibrated-cross"):
        assert f"{name}_replay_s=" in lines[-1] and f"{name}_margin_ratio=" in lines[-1]
        assert any(line.startswith(f"{name}: vectorised=True ") for line in lines)
    assert all(np.isfinite(value) and value > 0 for value in figures.values())
