"""Rebuild the embedded dataset from a folder of normalised files.

Usage::

    python -m marginlab.datasets.build SRC [--out DIR] [--version marginlab-snapshot-2025.09]

``SRC`` holds the eight normalised files (``btc_usd_daily.csv``, ``crypto_universe_daily.csv.gz``,
...; plain or gzip-compressed CSV, see :data:`marginlab.data.FILES`). Each is decompressed when
needed and written to ``DIR`` (default: this package folder) as ``<name>.csv.gz``, compressed
with gzip level 9 and a zero timestamp and no file name in the header, so the same input gives
the same bytes. ``manifest.json`` records, per file, the sha256 of the stored file, the sha256 of
the CSV text inside it (for the plain-CSV sources this is the sha256 of the source file), the
sha256 of the source file, the row count, the symbols and the first and last timestamp.

Every file is validated (:func:`marginlab.data.validate.validate_frame`) before it is written;
all files go through :func:`marginlab.io.atomic_write_bytes`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from marginlab.data.sources import FILES
from marginlab.data.validate import validate_frame
from marginlab.exceptions import DataError, MarginLabError
from marginlab.io import atomic_write_bytes, atomic_write_text

__all__ = ["DEFAULT_VERSION", "DATASET_NAME", "build", "compress", "main"]

#: Name and version of the snapshot shipped with this release.
DATASET_NAME = "marginlab-snapshot"
DEFAULT_VERSION = "marginlab-snapshot-2025.09"
MANIFEST_FILE = "manifest.json"
HERE = Path(__file__).resolve().parent


def compress(data: bytes) -> bytes:
    """gzip ``data`` reproducibly (level 9, mtime 0, no file name in the header).

    Examples
    --------
    >>> compress(b"a,b\\n1,2\\n") == compress(b"a,b\\n1,2\\n")
    True
    >>> gzip.decompress(compress(b"x")) == b"x"
    True
    """
    return gzip.compress(data, compresslevel=9, mtime=0)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_file(src: Path, name: str) -> Path:
    """``name`` in ``src``, plain or with ``.gz`` (or without it when ``name`` ends in ``.gz``)."""
    stem = name[:-3] if name.endswith(".gz") else name
    for candidate in (src / stem, src / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError("source file missing", file=str(src / stem))


def build(src: Path | str, out: Path | str = HERE, *, version: str = DEFAULT_VERSION) -> dict[str, Any]:
    """Compress and validate the normalised files of ``src`` into ``out`` and write the manifest.

    Returns
    -------
    dict
        The manifest written to ``out/manifest.json``.

    Raises
    ------
    DataError
        When a source file is missing or fails validation.
    """
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DataError("source folder does not exist", file=str(src))
    entries = {}
    for spec in FILES.values():
        source = _source_file(src, spec.file)
        raw = source.read_bytes()
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        frame = pd.read_csv(io.BytesIO(text))
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="ISO8601")
        validate_frame(frame, file=source.name, price_columns=spec.price_columns, value_columns=spec.value_columns,
                       frequency=spec.frequency, gaps="ignore")
        stored = compress(text)
        target = f"{spec.file.removesuffix('.gz')}.gz"
        atomic_write_bytes(out / target, stored, field="out")
        symbols = sorted(frame["symbol"].unique().tolist()) if "symbol" in frame.columns else [spec.symbol]
        entries[spec.dataset] = {
            "file": target,
            "sha256": _sha256(stored),
            "csv_sha256": _sha256(text),
            "source_file": source.name,
            "source_sha256": _sha256(raw),
            "rows": len(frame),
            "symbols": symbols,
            "start": frame["timestamp"].min().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": frame["timestamp"].max().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "bytes": len(stored),
        }
    manifest = {"name": DATASET_NAME, "version": version, "format": "gzip CSV (normalised schema)", "files": entries}
    atomic_write_text(out / MANIFEST_FILE, json.dumps(manifest, indent=1, sort_keys=True) + "\n", field="out")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m marginlab.datasets.build SRC [--out DIR] [--version V]``."""
    parser = argparse.ArgumentParser(prog="python -m marginlab.datasets.build", description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="folder holding the normalised files")
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: the marginlab/datasets package)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help=f"dataset version (default {DEFAULT_VERSION})")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.src, args.out, version=args.version)
    except MarginLabError as error:
        print(f"marginlab.datasets.build: error: {error}", file=sys.stderr)
        return 2
    total = sum(entry["bytes"] for entry in manifest["files"].values())
    print(f"{manifest['version']}: {len(manifest['files'])} files, {total:,} bytes -> {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
