"""The embedded dataset (marginlab.datasets): manifest, sha256 check, reproducible build, joins, provenance.

Numbers asserted here come from the curators' READMEs of the source folders (/work/shared/data/README.md and
/work/shared/data/2026-extension/README.md, copied into marginlab/datasets/README.md): row counts, ranges,
the partial rows they name and the overlap statistics they measured independently of this build.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from marginlab import datasets
from marginlab.data import FILES, dataset_info, dataset_label, load_daily, read_snapshot, snapshot_dir, snapshot_origin
from marginlab.datasets.build import build, compress, main
from marginlab.exceptions import DataError

SHARED = Path("/work/shared/data")
EXTENSION = SHARED / "2026-extension"


def test_manifest_lists_every_file_with_rows_and_range():
    manifest = datasets.manifest()
    assert manifest["version"] == "marginlab-snapshot-2026.03"
    assert set(manifest["files"]) == set(FILES)
    files = manifest["files"]
    # 2025 snapshot README: BTC 5152 rows from 2011-08-18 to 2025-09-24; + 56 Yahoo days 2025-09-25 .. 11-19
    assert files["btc_usd"]["rows"] == 5152 + 56 and files["btc_usd"]["start"] == "2011-08-18T00:00:00Z"
    assert files["btc_usd"]["end"] == "2025-11-19T00:00:00Z"
    # ETH: 3485 rows to 2025-02-20, the partial 2025-02-20 dropped, Yahoo 2025-02-20 .. 2025-11-19 (273 days) added
    assert files["eth_usd"]["rows"] == 3485 - 1 + 273
    assert len(files["universe"]["symbols"]) == 22 and len(files["stablecoins"]["symbols"]) == 17
    assert files["dvol"]["end"] == "2026-04-06T00:00:00Z"
    # the extension's MANIFEST.csv row counts of the files embedded as they are
    for dataset, rows in {"bybit_perp_15m": 10989, "binance_spot_4h": 82050, "lst": 4907, "usde_1m": 7200,
                          "option_chains": 636, "day_range_2025_10_10": 1581, "coingecko": 5461}.items():
        assert files[dataset]["rows"] == rows, dataset
    # files embedded unchanged keep the source's sha256 (the READMEs' hashes)
    assert files["funding"]["csv_sha256"] == "cd3869ff34822adabce2f28a0fe52fbb28157048a558affc585a09093cf860c2"
    assert files["lst"]["csv_sha256"] == "5736bf59e37af07b763ea6dd8b178c7acb143c6666637701a25a1c75d01cbe92"
    for dataset, entry in files.items():
        assert len(read_snapshot(dataset)) == entry["rows"], dataset
    total = sum(path.stat().st_size for path in datasets.DATASET_DIR.iterdir() if path.is_file())
    assert total < 12_000_000


def test_partial_rows_dropped_and_seams_recorded():
    joins = datasets.manifest()["joins"]
    # extension README, "Partial last rows": the 2025-02-20 rows of the universe / ETH / Binance BTCUSDT files and the
    # 2025-02-11 rows of USDT, USDC and MATIC
    dropped = {(d["timestamp"][:10], tuple(d["symbols"])) for d in joins["universe"]["dropped"]}
    assert ("2025-02-11", ("MATIC",)) in dropped and ("2025-02-11", ("USDT",)) in dropped
    assert joins["eth_usd"]["dropped"][0]["timestamp"] == "2025-02-20T00:00:00Z"
    assert joins["binance"]["dropped"][0]["timestamp"] == "2025-02-20T00:00:00Z"
    universe = read_snapshot("universe")
    sol = universe[universe["symbol"] == "SOL"].set_index("timestamp")
    # the complete 2025-02-20 SOL day is the extension's (the partial one was 1.9% lower); no duplicate day
    assert sol.index.is_unique and sol.loc[pd.Timestamp("2025-02-20", tz="UTC"), "source"] == "yahoo"
    seams = {(d, a["symbol"]): a for d, j in joins.items() for a in j["appended"]}
    # extension README file 1: overlap 2020-01-01 .. 2025-02-19, 1877 days; SOL worst 0.9% on 2020-05-11
    sol_seam = seams[("universe", "SOL")]["overlap"]
    assert sol_seam["worst_day"] == "2020-05-11" and sol_seam["worst_abs_rel_close_diff"] == pytest.approx(0.009, abs=0.0005)
    assert seams[("universe", "BTC")]["overlap"]["days"] == 1877
    assert seams[("universe", "USDT")]["overlap"]["days"] == 1868
    # Binance BTCUSDT against the extension: identical on 2532 days (file 3); Coinbase BTC against Yahoo:
    # median 4.8e-4 on 2094 days, worst -3.6% on 2021-12-14 (file 1)
    binance = seams[("binance", "BTCUSDT")]["overlap"]
    assert binance["days"] == 2532 and binance["worst_abs_rel_close_diff"] == 0.0
    btc = seams[("btc_usd", "BTC")]
    assert btc["overlap"]["days"] == 2094 and btc["overlap"]["median_abs_rel_close_diff"] == pytest.approx(4.8e-4, abs=0.1e-4)
    assert btc["overlap"]["worst_day"] == "2021-12-14"
    # DOT continues from Bybit perpetuals (to 2025-10-21); AAVE from Binance spot (to 2026-03-03)
    assert seams[("universe", "DOT")]["source"] == "bybit_perp" and load_daily("DOT").index[-1] == pd.Timestamp("2025-10-21", tz="UTC")
    assert load_daily("AAVE").index[-1] == pd.Timestamp("2026-03-03", tz="UTC")


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
    assert dataset_info() == {"name": "marginlab-snapshot", "version": "marginlab-snapshot-2026.03", "origin": "embedded"}
    assert dataset_label() == "marginlab-snapshot-2026.03 (embedded)"


def test_data_dir_overlays_file_by_file(tmp_path, monkeypatch):
    # a folder holding one file replaces that series only; the others stay embedded
    text = gzip.decompress((datasets.DATASET_DIR / "btc_usd_daily.csv.gz").read_bytes()).decode()
    lines = text.splitlines()
    header, rows = lines[0], lines[1:]
    changed = [row for row in rows if row.startswith("2020-03-1")]
    eth_before = load_daily("ETH")
    (tmp_path / "btc_usd_daily.csv").write_text("\n".join([header, *changed]) + "\n")
    monkeypatch.setenv("MARGINLAB_DATA_DIR", str(tmp_path))
    assert snapshot_origin() == "MARGINLAB_DATA_DIR"
    assert dataset_info() == {"name": "marginlab-snapshot", "origin": "MARGINLAB_DATA_DIR",
                              "version": "marginlab-snapshot-2026.03+user-unversioned[btc_usd]"}
    assert len(load_daily("BTC")) == len(changed) == 10
    pd.testing.assert_frame_equal(load_daily("ETH"), eth_before)  # not in the folder: embedded, unchanged
    assert len(load_daily("BTC", source="embedded")) == 5208
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "desk-data", "version": "2026.11"}))
    assert dataset_info()["version"] == "marginlab-snapshot-2026.03+user-2026.11[btc_usd]"
    (tmp_path / "btc_usd_daily.csv").unlink()
    (tmp_path / "btc_usd_daily.csv.gz").write_bytes(compress(("\n".join([header, *changed[:4]]) + "\n").encode()))
    assert len(load_daily("BTC")) == 4
    with pytest.raises(DataError, match="overlay"):
        load_daily("ETH", source="overlay")  # asking for the user's file of a series it does not hold


@pytest.mark.skipif(not EXTENSION.is_dir(), reason="the source folders are not on this machine")
def test_build_rebuilds_the_embedded_files_byte_for_byte(tmp_path):
    manifest = build(SHARED, EXTENSION, tmp_path / "a")
    shipped = datasets.manifest()
    assert manifest == shipped
    for entry in manifest["files"].values():
        assert (tmp_path / "a" / entry["file"]).read_bytes() == (datasets.DATASET_DIR / entry["file"]).read_bytes()
    assert (tmp_path / "a" / "manifest.json").read_bytes() == datasets.MANIFEST_PATH.read_bytes()


def test_build_validates_and_is_reproducible(tmp_path):
    # the eight snapshot files alone (no extension): the same bytes twice; a defective row is refused
    src = tmp_path / "src"
    src.mkdir()
    for dataset in ("btc_usd", "eth_usd", "binance", "universe", "stablecoins", "hourly", "dvol", "funding"):
        raw = gzip.decompress((datasets.DATASET_DIR / datasets.manifest()["files"][dataset]["file"]).read_bytes())
        name = FILES[dataset].file
        (src / name).write_bytes(compress(raw) if name.endswith(".gz") else raw)
    first = build(src, None, tmp_path / "a", version="test-1")
    second = build(src, None, tmp_path / "b", version="test-1")
    assert first == second and len(first["files"]) == 8 and "joins" not in first
    for entry in first["files"].values():
        assert (tmp_path / "a" / entry["file"]).read_bytes() == (tmp_path / "b" / entry["file"]).read_bytes()
        assert hashlib.sha256((tmp_path / "a" / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    text = (src / "btc_usd_daily.csv").read_text().splitlines()
    text[5] = text[5].replace(text[5].split(",")[4], "-1", 1)  # a negative close
    (src / "btc_usd_daily.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match="btc_usd_daily.csv"):
        build(src, None, tmp_path / "c")
    assert main([str(tmp_path / "absent")]) == 2


def test_embedded_frames_are_cached_and_copied():
    first = read_snapshot("universe")
    first.loc[0, "close"] = -1.0  # a caller's change does not leak into the cache
    again = read_snapshot("universe")
    assert again.loc[0, "close"] > 0
    assert isinstance(again["timestamp"].dtype, pd.DatetimeTZDtype)
