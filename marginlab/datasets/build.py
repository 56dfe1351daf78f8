"""Rebuild the embedded dataset from the snapshot folder and its 2026 extension.

Usage::

    python -m marginlab.datasets.build SRC EXT [--out DIR] [--version marginlab-snapshot-2026.03]

``SRC`` holds the eight normalised snapshot files (``btc_usd_daily.csv``,
``crypto_universe_daily.csv.gz``, ...; ``shared/data``), ``EXT`` the files of its extension
(``yahoo_daily_2020_2025.csv.gz``, ``bybit_perp_15m_2025-10.csv.gz``, ...; ``shared/data/2026-extension``),
plain or gzip CSV. ``EXT`` may be omitted to rebuild the eight snapshot files alone (the 2025.09 layout).

What the build does, in order (every step is recorded in ``manifest.json`` under ``joins``):

1. **Partial last rows are dropped** (the extension's README names them: they were pulled while the day
   was trading): the 2025-02-20 rows of the universe, ETH and Binance BTCUSDT files, and the 2025-02-11
   rows of USDT, USDC and MATIC in the universe file (:data:`PARTIAL_ROWS`).
2. **Series are joined** with their continuation in the extension (:data:`JOINS`): the twelve Yahoo
   universe coins (BTC ... USDC) and ETH with the same Yahoo series to 2025-11-19; the Coinbase BTC file
   with Yahoo BTC after 2025-09-24; Binance BTCUSDT with the same klines to 2026-03; AAVE, AVAX, LTC and
   NEAR with Binance spot (USDT) and DOT, ETC and HBAR with Bybit perpetuals (USDT); USDT and USDC in the
   stablecoin file with Yahoo to 2025-11-19 and FDUSD and USD1 added (Binance, USDT). Only rows after a
   series' last kept row are appended. For each join the **seam** is measured on the days both sources
   have: median and worst ``|close_ext / close - 1|`` and the worst day (:func:`overlap_statistics`).
   Long files gain a ``source`` column naming the source of each row.
3. Every other extension file is embedded as it is (:data:`marginlab.data.FILES`).

Each file is validated (:func:`marginlab.data.validate.validate_frame`) and written to ``DIR`` (default:
this package folder) as ``<name>.gz``, compressed with gzip level 9 with a zero timestamp and no file name
in the header; joined files are written from the source text (values are copied as text, never re-printed
as floats), so the same input gives the same bytes. ``manifest.json`` records, per file, the sha256 of the
stored file and of the CSV inside it, its sources and their sha256, the row count, symbols and range.
All files go through :func:`marginlab.io.atomic_write_bytes`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marginlab.exceptions import DataError, MarginLabError
from marginlab.io import atomic_write_bytes, atomic_write_text

__all__ = ["DEFAULT_VERSION", "DATASET_NAME", "JOINS", "PARTIAL_ROWS", "build", "compress", "main", "overlap_statistics"]

#: Name and version of the snapshot shipped with this release.
DATASET_NAME = "marginlab-snapshot"
DEFAULT_VERSION = "marginlab-snapshot-2026.03"
MANIFEST_FILE = "manifest.json"
HERE = Path(__file__).resolve().parent

#: Partial rows dropped before joining: dataset -> [(symbol or None for every symbol, timestamp)]
#: (shared/data/2026-extension/README.md, "Partial last rows in the older snapshot").
PARTIAL_ROWS: dict[str, tuple[tuple[str | None, str], ...]] = {
    "universe": ((None, "2025-02-20T00:00:00Z"), ("USDT", "2025-02-11T00:00:00Z"), ("USDC", "2025-02-11T00:00:00Z"),
                 ("MATIC", "2025-02-11T00:00:00Z")),
    "eth_usd": ((None, "2025-02-20T00:00:00Z"),),
    "binance": ((None, "2025-02-20T00:00:00Z"),),
}


@dataclass(frozen=True)
class Join:
    """One series continued from an extension file.

    ``dataset``/``symbol``: the embedded series (``symbol`` None for a one-series file); ``ext_file`` and
    ``ext_symbol``: the continuation; ``source``: the label written in the ``source``/``venue`` column;
    ``volume``: how the continuation's volume is converted to the file's unit (``"same"``, ``"quote"``
    = quote volume in USDT taken as USD, else base volume x close; ``"turnover"`` = Bybit USDT turnover;
    ``"usd_to_base"`` = USD volume / close).
    """

    dataset: str
    symbol: str | None
    ext_file: str
    ext_symbol: str
    source: str
    volume: str = "same"


_YAHOO = "yahoo_daily_2020_2025.csv.gz"
_BINANCE = "binance_spot_daily.csv.gz"
_BYBIT = "bybit_perp_daily_2023_2025.csv.gz"
_STABLE = "stablecoins_daily_2022_2026.csv"

#: Every join of the build (see the module docstring).
JOINS: tuple[Join, ...] = (
    *(Join("universe", s, _YAHOO, s, "yahoo") for s in
      ("ADA", "BCH", "BNB", "BTC", "DOGE", "ETH", "LINK", "SOL", "TRX", "USDC", "USDT", "XRP")),
    *(Join("universe", s, _BINANCE, f"{s}USDT", "binance_spot", "quote") for s in ("AAVE", "AVAX", "LTC", "NEAR")),
    *(Join("universe", s, _BYBIT, f"{s}USDT", "bybit_perp", "turnover") for s in ("DOT", "ETC", "HBAR")),
    Join("eth_usd", None, _YAHOO, "ETH", "yahoo"),
    Join("btc_usd", None, _YAHOO, "BTC", "yahoo", "usd_to_base"),
    Join("binance", None, _BINANCE, "BTCUSDT", "binance_spot"),
    Join("stablecoins", "USDT", _STABLE, "USDT-USD", "yahoo"),
    Join("stablecoins", "USDC", _STABLE, "USDC-USD", "yahoo"),
    Join("stablecoins", "FDUSD", _STABLE, "FDUSDUSDT", "binance"),
    Join("stablecoins", "USD1", _STABLE, "USD1USDT", "binance"),
)

#: The label of the rows already in a snapshot file, for its new ``source`` column.
_BASE_SOURCE = {"universe": "yahoo", "stablecoins": "yahoo"}
#: The column that names a row's source in one-series files that already have one.
_SOURCE_COLUMN = {"btc_usd": "venue", "eth_usd": "source"}


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


def _source_file(folder: Path, name: str) -> Path:
    """``name`` in ``folder``, plain or with ``.gz`` (or without it when ``name`` ends in ``.gz``)."""
    stem = name[:-3] if name.endswith(".gz") else name
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError("source file missing", file=str(folder / stem))


def _read(folder: Path, name: str) -> tuple[Path, bytes, bytes]:
    path = _source_file(folder, name)
    raw = path.read_bytes()
    return path, raw, gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _text_frame(text: bytes) -> pd.DataFrame:
    """Every cell as the source's text (no float is ever re-printed)."""
    return pd.read_csv(io.BytesIO(text), dtype=str, keep_default_na=False)


def _to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode()


def _number(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _format(values: np.ndarray) -> list[str]:
    """Derived numbers (converted volumes) as the shortest text that round-trips, rounded to 10 digits."""
    return [repr(float(f"{v:.10g}")) if np.isfinite(v) else "" for v in values]


def _sig(value: float) -> float:
    return float(f"{value:.3g}")


def overlap_statistics(base: pd.Series, ext: pd.Series) -> dict[str, Any]:
    """Seam check of two close series on their common days: ``|ext / base - 1|`` median and worst.

    Examples
    --------
    >>> days = pd.date_range("2025-01-01", periods=4, tz="UTC")
    >>> stats = overlap_statistics(pd.Series([100.0, 100, 100, 100], days), pd.Series([100.0, 101, 100, 98], days))
    >>> stats["days"], stats["median_abs_rel_close_diff"], stats["worst_abs_rel_close_diff"], stats["worst_day"]
    (4, 0.005, 0.02, '2025-01-04')
    """
    common = base.index.intersection(ext.index)
    if len(common) == 0:
        return {"days": 0}
    diff = (ext.loc[common] / base.loc[common] - 1.0).abs()
    worst = diff.idxmax()
    return {"days": int(len(common)), "first": f"{common.min():%Y-%m-%d}", "last": f"{common.max():%Y-%m-%d}",
            "median_abs_rel_close_diff": _sig(float(diff.median())), "worst_abs_rel_close_diff": _sig(float(diff.max())),
            "worst_day": f"{worst:%Y-%m-%d}"}


def _closes(frame: pd.DataFrame, symbol_column: str | None, symbol: str | None) -> pd.Series:
    rows = frame if symbol is None or symbol_column is None else frame[frame[symbol_column] == symbol]
    return pd.Series(_number(rows["close"]), index=pd.DatetimeIndex(pd.to_datetime(rows["timestamp"], utc=True)))


def _drop_partial(dataset: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    dropped, keep = [], np.ones(len(frame), dtype=bool)
    for symbol, stamp in PARTIAL_ROWS.get(dataset, ()):
        mask = (frame["timestamp"] == stamp).to_numpy().copy()
        if symbol is not None:
            mask &= (frame["symbol"] == symbol).to_numpy()
        if mask.any():
            symbols = sorted(frame.loc[mask, "symbol"]) if "symbol" in frame.columns else [None]
            dropped.append({"timestamp": stamp, "symbols": symbols, "rows": int(mask.sum()),
                            "reason": "partial day (pulled while the day was trading)"})
        keep &= ~mask
    return frame[keep].reset_index(drop=True), dropped


def _continuation(join: Join, base: pd.DataFrame, ext: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The rows of ``join.ext_symbol`` after the base series' last row, in the base file's columns."""
    long = "symbol" in base.columns
    series = base[base["symbol"] == join.symbol] if long else base
    if series.empty:
        raise DataError(f"no {join.symbol} rows to continue", file=join.dataset)
    last = series["timestamp"].max()
    rows = ext[ext["symbol"] == join.ext_symbol]
    if rows.empty:
        raise DataError(f"no {join.ext_symbol} rows", file=join.ext_file)
    seam = overlap_statistics(_closes(series, None, None), _closes(rows, None, None))
    new = rows[rows["timestamp"] > last].reset_index(drop=True)
    out = pd.DataFrame({"timestamp": new["timestamp"]})
    for column in columns[1:]:
        if column == "symbol":
            out[column] = join.symbol
        elif column in ("source", "venue"):
            out[column] = join.source
        elif column == "asset_class":
            out[column] = series["asset_class"].iloc[-1]
        elif column == "volume" and join.volume != "same":
            close = _number(new["close"])
            if join.volume == "turnover":
                out[column] = new["turnover"].to_numpy()
            elif join.volume == "usd_to_base":
                out[column] = _format(_number(new["volume"]) / close)
            else:  # quote volume in USDT, else base volume x close
                quote = _number(new["quote_volume"])
                out[column] = np.where(np.isfinite(quote), new["quote_volume"].to_numpy(),
                                       _format(_number(new["volume"]) * close))
        else:
            out[column] = new[column].to_numpy() if column in new.columns else ""
    info = {"symbol": join.symbol or join.ext_symbol, "from_file": join.ext_file,
            "from_symbol": join.ext_symbol, "source": join.source, "base_end": last[:10],
            "appended_rows": int(len(out)), "appended_start": new["timestamp"].min()[:10] if len(new) else None,
            "appended_end": new["timestamp"].max()[:10] if len(new) else None, "overlap": seam}
    if join.volume != "same":
        info["volume"] = {"quote": "quote volume (USDT) as USD, else base volume x close", "turnover": "Bybit turnover (USDT) as USD",
                          "usd_to_base": "Yahoo USD volume / close (all venues, in BTC)"}[join.volume]
    return out, info


def _join(dataset: str, text: bytes, ext_texts: dict[str, bytes]) -> tuple[bytes, dict[str, Any]]:
    frame, dropped = _drop_partial(dataset, _text_frame(text))
    joins = [j for j in JOINS if j.dataset == dataset]
    if dataset in _BASE_SOURCE and "source" not in frame.columns:
        frame["source"] = _BASE_SOURCE[dataset]
    columns = list(frame.columns)
    parts, records = [frame], []
    cached: dict[str, pd.DataFrame] = {}
    for join in joins:
        if join.ext_file not in cached:
            cached[join.ext_file] = _text_frame(ext_texts[join.ext_file])
        base = frame
        if join.symbol is not None and "symbol" in frame.columns and not (frame["symbol"] == join.symbol).any():
            # a new series (FDUSD, USD1): every row is appended; there is no seam
            rows = cached[join.ext_file]
            rows = rows[rows["symbol"] == join.ext_symbol].reset_index(drop=True)
            new = pd.DataFrame({c: (join.symbol if c == "symbol" else join.source if c == "source" else rows[c].to_numpy())
                                for c in columns})
            parts.append(new)
            records.append({"symbol": join.symbol, "from_file": join.ext_file, "from_symbol": join.ext_symbol,
                            "source": join.source, "base_end": None, "appended_rows": int(len(new)),
                            "appended_start": rows["timestamp"].min()[:10], "appended_end": rows["timestamp"].max()[:10],
                            "overlap": {"days": 0}, "note": "new series (quoted in USDT)"})
            continue
        new, info = _continuation(join, base, cached[join.ext_file], columns)
        parts.append(new)
        records.append(info)
    out = pd.concat(parts, ignore_index=True)
    if "symbol" in out.columns:
        out = out.sort_values(["symbol", "timestamp"], kind="stable").reset_index(drop=True)
    return _to_csv(out), {"dropped": dropped, "appended": records}


def _validate(text: bytes, spec: Any, name: str) -> pd.DataFrame:
    from marginlab.data.sources import validate_spec_frame

    frame = pd.read_csv(io.BytesIO(text))
    return validate_spec_frame(frame, spec, name)


def build(src: Path | str, ext: Path | str | None = None, out: Path | str = HERE, *,
          version: str = DEFAULT_VERSION) -> dict[str, Any]:
    """Drop partial rows, join, validate and compress the files of ``src`` and ``ext`` into ``out``.

    Parameters
    ----------
    src : path
        Folder of the eight snapshot files.
    ext : path, optional
        Folder of the extension files; None builds the snapshot files alone (no join, no extension file).
    out : path
        Output folder (default: this package).
    version : str
        Dataset version recorded in the manifest.

    Returns
    -------
    dict
        The manifest written to ``out/manifest.json``.

    Raises
    ------
    DataError
        When a source file is missing or fails validation.
    """
    from marginlab.data.sources import FILES, SNAPSHOT_DATASETS

    src, out = Path(src), Path(out)
    for folder in (src, ext):
        if folder is not None and not Path(folder).is_dir():
            raise DataError("source folder does not exist", file=str(folder))
    ext_dir = Path(ext) if ext is not None else None
    ext_texts: dict[str, bytes] = {}
    ext_sources: dict[str, dict[str, str]] = {}
    if ext_dir is not None:
        for name in sorted({j.ext_file for j in JOINS}):
            path, raw, text = _read(ext_dir, name)
            ext_texts[name] = text
            ext_sources[name] = {"file": path.name, "sha256": _sha256(raw)}
    entries, joins = {}, {}
    for spec in FILES.values():
        in_snapshot = spec.dataset in SNAPSHOT_DATASETS
        if not in_snapshot and ext_dir is None:
            continue
        path, raw, text = _read(src if in_snapshot else ext_dir, spec.file)  # type: ignore[arg-type]
        sources = [{"file": path.name, "sha256": _sha256(raw)}]
        if ext_dir is not None and (spec.dataset in PARTIAL_ROWS or any(j.dataset == spec.dataset for j in JOINS)):
            text, record = _join(spec.dataset, text, ext_texts)
            joins[spec.dataset] = record
            sources += [ext_sources[f] for f in sorted({j.ext_file for j in JOINS if j.dataset == spec.dataset})]
        frame = _validate(text, spec, path.name)
        stored = compress(text)
        target = f"{spec.file.removesuffix('.gz')}.gz"
        atomic_write_bytes(out / target, stored, field="out")
        symbols = sorted(map(str, frame[spec.symbol_column].unique())) if spec.symbol_column in frame.columns else (
            [spec.symbol] if spec.symbol else [])
        entries[spec.dataset] = {
            "file": target, "sha256": _sha256(stored), "csv_sha256": _sha256(text),
            "source_file": path.name, "source_sha256": sources[0]["sha256"], "sources": sources,
            "rows": len(frame), "symbols": symbols if len(symbols) <= 40 else [f"{len(symbols)} markets"],
            "start": frame["timestamp"].min().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": frame["timestamp"].max().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "bytes": len(stored),
        }
    manifest: dict[str, Any] = {"name": DATASET_NAME, "version": version, "format": "gzip CSV (normalised schema)",
                                "files": entries}
    if joins:
        manifest["joins"] = joins
    atomic_write_text(out / MANIFEST_FILE, json.dumps(manifest, indent=1, sort_keys=True) + "\n", field="out")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m marginlab.datasets.build SRC [EXT] [--out DIR] [--version V]``."""
    parser = argparse.ArgumentParser(prog="python -m marginlab.datasets.build", description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="folder holding the eight snapshot files (shared/data)")
    parser.add_argument("ext", type=Path, nargs="?", default=None,
                        help="folder holding the extension files (shared/data/2026-extension)")
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: the marginlab/datasets package)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help=f"dataset version (default {DEFAULT_VERSION})")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.src, args.ext, args.out, version=args.version)
    except MarginLabError as error:
        print(f"marginlab.datasets.build: error: {error}", file=sys.stderr)
        return 2
    total = sum(entry["bytes"] for entry in manifest["files"].values())
    print(f"{manifest['version']}: {len(manifest['files'])} files, {total:,} bytes -> {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
