"""``marginlab derive-case``: one JSON line per vector, numbers equal to the vector's expected MM/IM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from marginlab.cli import main

CASES_DIR = Path(__file__).resolve().parents[1] / "data" / "derive_pmrm_v2" / "cases"
CASE_FILES = sorted(CASES_DIR.glob("*.json"))[:3] if CASES_DIR.is_dir() else []


@pytest.mark.skipif(not CASE_FILES, reason="Derive vectors not available")
def test_derive_case_prints_one_json_line_per_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive-case", *map(str, CASE_FILES)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(CASE_FILES)
    for line, path in zip(lines, CASE_FILES):
        record = json.loads(line)
        assert record["file"] == str(path)
        expected = json.loads(path.read_text())["Result"]
        # expectations are the vector's own Result fields (Derive v2-core test data)
        assert record["mm"] == pytest.approx(float(expected["MM"]), rel=1e-9, abs=1e-6)
        assert record["im"] == pytest.approx(float(expected["IM"]), rel=1e-9, abs=1e-6)
        assert isinstance(record["worst_scenario"], int)
        assert record["worst_family"] in {"regular", "tail", "skew", "fwd_contingency"}


def test_derive_case_bad_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("[1, 2")
    assert main(["derive-case", str(bad)]) == 2
    assert "broken.json" in capsys.readouterr().err
