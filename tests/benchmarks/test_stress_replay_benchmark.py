"""Smoke test of ``benchmarks/stress_replay.py`` on a small book (no timing asserts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from marginlab.data import snapshot_available

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "stress_replay.py"


@pytest.mark.skipif(not snapshot_available(), reason="needs the market-data snapshot")
def test_benchmark_prints_its_summary_line_and_engines_agree(capsys) -> None:  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("stress_replay_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--accounts", "60", "--sample", "3", "--substeps", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("accounts=60 seconds=")
    for key in ("accounts_per_s", "ratio_to_per_account", "peak_rss_mb"):
        assert f" {key}=" in lines[-1]
        assert np.isfinite(figures[key]) and figures[key] > 0
    assert "sample_events_identical=True" in "\n".join(lines)
