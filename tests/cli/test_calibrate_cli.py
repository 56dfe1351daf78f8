"""Tests of ``marginlab calibrate`` (2 assets, short history, fast settings)."""

from __future__ import annotations

import json

import pytest

from marginlab.calibration.params import load
from marginlab.cli import build_parser, main


def _snapshot_or_skip():
    from marginlab.data import snapshot_dir

    try:
        snapshot_dir()
    except Exception as error:  # pragma: no cover
        pytest.skip(f"no data snapshot: {error}")


def test_calibrate_writes_a_valid_yaml_file(tmp_path, capsys):
    _snapshot_or_skip()
    out = tmp_path / "params.yaml"
    code = main(["calibrate", "--assets", "BTC", "ETH", "--asof", "2022-06-30", "--out", str(out), "--fast", "--window-days", "300"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Calibrated parameters as of 2022-06-30" in printed and f"wrote {out}" in printed
    params = load(out)
    assert params.assets == ["BTC", "ETH"]
    assert params.asof == "2022-06-30"
    for asset in ("BTC", "ETH"):
        entry = params.asset(asset)
        assert entry["provenance"]["data_end"] == "2022-06-30"
        assert entry["provenance"]["n_returns"] == 300
        assert 0 < entry["maintenance_rate"] <= entry["initial_rate"] < 1
        assert 0 < entry["haircut"] < 1


def test_calibrate_json_and_seed_reproducible(tmp_path):
    _snapshot_or_skip()
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in paths:
        assert main(["calibrate", "--assets", "BTC", "--asof", "2021-12-31", "--out", str(path), "--fast", "--window-days", "200",
                     "--seed", "3", "--quiet"]) == 0
    first, second = (json.loads(p.read_text()) for p in paths)
    first.pop("created_at"), second.pop("created_at")
    assert first == second


def test_calibrate_reports_bad_input(tmp_path, capsys):
    _snapshot_or_skip()
    code = main(["calibrate", "--assets", "BTC", "--asof", "2011-09-01", "--out", str(tmp_path / "x.yaml"), "--fast", "--quiet"])
    assert code == 2
    assert "at least 100" in capsys.readouterr().err
    code = main(["calibrate", "--assets", "BTC", "--asof", "2022-01-01", "--out", str(tmp_path / "x.txt"), "--fast", "--quiet",
                 "--window-days", "200"])
    assert code == 2
    assert "suffix" in capsys.readouterr().err


def test_parser_requires_assets():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["calibrate", "--asof", "2022-01-01", "--out", "x.yaml"])
