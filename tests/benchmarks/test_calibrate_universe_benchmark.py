"""Smoke test of ``benchmarks/calibrate_universe.py`` on two assets (no timing asserts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "calibrate_universe.py"


def test_benchmark_runs_and_prints_its_summary_line(capsys) -> None:  # type: ignore[no-untyped-def]
    from marginlab.data import snapshot_available

    if not snapshot_available():  # pragma: no cover
        pytest.skip("no data snapshot")
    spec = importlib.util.spec_from_file_location("calibrate_universe_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--assets", "BTC", "SOL", "--jobs", "1"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("seconds=")
    for key in ("cpu_seconds", "idle_estimate_s", "reference_seconds", "ratio_to_reference"):
        assert f"{key}=" in last and np.isfinite(figures[key]) and figures[key] > 0
    assert figures["assets"] == 2
