"""Smoke test of ``benchmarks/backtest_methodology.py`` on one asset (no timing asserts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "backtest_methodology.py"


def test_benchmark_runs_and_prints_its_summary_line(capsys) -> None:  # type: ignore[no-untyped-def]
    from marginlab.data import snapshot_dir

    try:
        snapshot_dir()
    except Exception as error:  # pragma: no cover
        pytest.skip(f"no data snapshot: {error}")
    spec = importlib.util.spec_from_file_location("backtest_methodology_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--assets", "SOL", "--horizons", "1"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("seconds=")
    for key in ("reference_seconds", "ratio_to_reference", "assets", "rates", "meets_target"):
        assert f"{key}=" in last
    assert all(np.isfinite(value) and value > 0 for value in figures.values())
