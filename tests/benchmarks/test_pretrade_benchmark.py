"""Smoke test of ``benchmarks/pretrade.py`` on small sizes (no timing asserts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "pretrade.py"


def test_benchmark_prints_its_figures_last(capsys) -> None:  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("pretrade_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--checks", "200", "--full", "5", "--positions", "30"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("checks=200 positions=30 ") and "speedup=" in last and "worst_abs_error_pct=" in last
    assert figures["worst_abs_error_pct"] < 1.0 and figures["speedup"] > 0
