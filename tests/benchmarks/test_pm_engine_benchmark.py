"""Smoke test of ``benchmarks/pm_engine.py`` with a small book (no timing asserts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "pm_engine.py"


def _load():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("pm_engine_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_and_prints_its_summary_line(capsys) -> None:  # type: ignore[no-untyped-def]
    module = _load()
    figures = module.main(["--accounts", "300", "--loop-sample", "5", "--chunk", "64"])
    lines = capsys.readouterr().out.strip().splitlines()
    summary, last = lines[-3], lines[-1]
    assert summary.startswith("valuations_per_s=")
    for key in ("ratio_to_kernel", "ratio_to_loop", "accounts_per_s", "seconds_100k"):
        assert f"{key}=" in summary
        assert np.isfinite(figures[key]) and figures[key] > 0
    assert last.startswith("engine_seconds=") and "engine_over_bound=" in last  # printed last: engine over the bare aggregation
    assert np.isfinite(figures["engine_over_bound"]) and figures["engine_over_bound"] > 0


def test_synthetic_book_is_seeded() -> None:
    module = _load()
    a, b = module.synthetic_book(50, 7), module.synthetic_book(50, 7)
    assert np.array_equal(a.quantity, b.quantity) and np.array_equal(a.instrument, b.instrument)
