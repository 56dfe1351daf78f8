"""The embedded dataset (marginlab.datasets): manifest, sha256 check, reproducible build, provenance."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil

import pandas as pd
import pytest

from marginlab import datasets
from marginlab.data import FILES, dataset_info, dataset_label, load_daily, read_snapshot, snapshot_dir, snapshot_origin
from marginlab.datasets.build import build, compress, main
from marginlab.exceptions import DataError


def test_manifest_lists_every_file_with_rows_and_range():
    manifest = datasets.manifest()
    assert manifest["version"] == "marginlab-snapshot-2025.09"
    assert set(manifest["files"]) == set(FILES)
    # row counts and ranges of the snapshot README's table (marginlab/datasets/README.md)
    assert manifest["files"]["btc_usd"]["rows"] == 5152 and manifest["files"]["btc_usd"]["start"] == "2011-08-18T00:00:00Z"
    assert manifest["files"]["universe"]["rows"] == 54192 and len(manifest["files"]["universe"]["symbols"]) == 22
    assert manifest["files"]["dvol"]["end"] == "2026-04-06T00:00:00Z"
    # the CSV inside each plain-CSV file is byte-identical to the source (its sha256 is the README's)
    assert manifest["files"]["btc_usd"]["csv_sha256"] == "c9be2344974b097d4c2bb6d6497bbcddb9087153a491253e7856e88e176b80bd"
    assert manifest["files"]["funding"]["csv_sha256"] == "cd3869ff34822adabce2f28a0fe52fbb28157048a558affc585a09093cf860c2"
    for dataset, entry in manifest["files"].items():
        assert len(read_snapshot(dataset)) == entry["rows"], dataset


def test_verify_detects_a_changed_file(tmp_path, monkeypatch):
    assert set(datasets.verify().values()) == {"ok"}
    copy = tmp_path / "datasets"
    shutil.copytree(datasets.DATASET_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (copy / "dvol_daily.csv.gz").write_bytes(compress(b"timestamp,symbol,open,high,low,close\n"))
    (copy / "btc_usd_daily.csv.gz").unlink()
    monkeypatch.setattr(datasets, "DATASET_DIR", copy)
    status = datasets.verify()
    assert status["dvol"] == "sha256 mismatch" and status["btc_usd"] == "missing" and status["eth_usd"] == "ok"


def test_default_is_embedded_and_named(monkeypatch):
    monkeypatch.delenv("MARGINLAB_DATA_DIR", raising=False)
    assert snapshot_dir() == datasets.DATASET_DIR and snapshot_origin() == "embedded"
    assert dataset_info() == {"name": "marginlab-snapshot", "version": "marginlab-snapshot-2025.09", "origin": "embedded"}
    assert dataset_label() == "marginlab-snapshot-2025.09 (embedded)"


def test_data_dir_overrides_embedded_plain_or_gzip(tmp_path, monkeypatch):
    # a folder of one's own wins over the embedded data; files may be plain or .gz
    text = gzip.decompress((datasets.DATASET_DIR / "btc_usd_daily.csv.gz").read_bytes()).decode()
    lines = text.splitlines()
    header, rows = lines[0], lines[1:]
    changed = [row for row in rows if row.startswith("2020-03-1")]
    (tmp_path / "btc_usd_daily.csv").write_text("\n".join([header, *changed]) + "\n")
    monkeypatch.setenv("MARGINLAB_DATA_DIR", str(tmp_path))
    assert snapshot_origin() == "MARGINLAB_DATA_DIR"
    assert dataset_info() == {"name": "user-data", "version": "unversioned", "origin": "MARGINLAB_DATA_DIR"}
    bars = load_daily("BTC")
    assert len(bars) == len(changed) == 10
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "desk-data", "version": "2026.11"}))
    assert dataset_info()["version"] == "2026.11"
    (tmp_path / "btc_usd_daily.csv").unlink()
    (tmp_path / "btc_usd_daily.csv.gz").write_bytes(compress(("\n".join([header, *changed[:4]]) + "\n").encode()))
    assert len(load_daily("BTC")) == 4
    # a file the folder lacks is an error naming it, not a silent switch to the embedded data
    with pytest.raises(DataError, match="eth_usd_daily.csv"):
        load_daily("ETH")


def test_build_is_reproducible_and_validates(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for dataset, entry in datasets.manifest()["files"].items():
        raw = gzip.decompress((datasets.DATASET_DIR / entry["file"]).read_bytes())
        name = FILES[dataset].file
        (src / name).write_bytes(compress(raw) if name.endswith(".gz") else raw)
    first = build(src, tmp_path / "a", version="test-1")
    second = build(src, tmp_path / "b", version="test-1")
    assert first == second
    for dataset, entry in first["files"].items():
        shipped = datasets.manifest()["files"][dataset]
        assert entry["csv_sha256"] == shipped["csv_sha256"] and entry["rows"] == shipped["rows"]
        assert (tmp_path / "a" / entry["file"]).read_bytes() == (tmp_path / "b" / entry["file"]).read_bytes()
        assert hashlib.sha256((tmp_path / "a" / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    # a defective source row is refused with file, row, column and value
    text = (src / "btc_usd_daily.csv").read_text().splitlines()
    text[5] = text[5].replace(text[5].split(",")[4], "-1", 1)  # a negative close
    (src / "btc_usd_daily.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match="btc_usd_daily.csv"):
        build(src, tmp_path / "c")
    assert main([str(tmp_path / "absent")]) == 2


def test_embedded_frames_are_cached_and_copied():
    first = read_snapshot("universe")
    first.loc[0, "close"] = -1.0  # a caller's change does not leak into the cache
    again = read_snapshot("universe")
    assert again.loc[0, "close"] > 0
    assert isinstance(again["timestamp"].dtype, pd.DatetimeTZDtype)
