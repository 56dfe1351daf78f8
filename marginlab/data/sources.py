"""The snapshot source: where the normalised data files live, what they hold, cached reading.

Lookup order of the snapshot:

1. ``$MARGINLAB_DATA_DIR`` when set: a folder of normalised files (plain or gzip CSV, the file
   names of :data:`FILES`). A value that is not an existing folder is a :class:`DataError`
   naming the variable and the value (never a silent fallback).
2. Else the dataset embedded in the package (:mod:`marginlab.datasets`, gzip CSV, checked
   against its manifest by the tests).
3. Series that neither holds (other Binance pairs, later dates) come from the download cache
   (``marginlab data fetch``, :mod:`marginlab.data.download`) via ``source="download"`` or
   ``"auto"`` of the loaders.

Each file follows the normalised schema (``timestamp`` = UTC ISO time of the bar open,
lower-case columns, sorted, no duplicates); :data:`FILES` describes them and :func:`catalogue`
lists every series with its date range and origin; :func:`dataset_info` names the dataset and
its version for provenance.

Parsed files are cached in memory keyed on path, modification time and size, so repeated loads
(notebooks and calibrations call them a lot) cost a copy, not a parse; every reader returns a copy.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from marginlab import datasets
from marginlab.data.validate import validate_frame
from marginlab.exceptions import DataError, InputError

__all__ = ["FileSpec", "FILES", "snapshot_dir", "snapshot_path", "snapshot_origin", "read_snapshot", "catalogue",
           "clear_cache", "dataset_info", "dataset_label", "snapshot_available", "DATA_DIR_VARIABLE"]

#: Environment variable naming a folder of normalised files used instead of the embedded dataset.
DATA_DIR_VARIABLE = "MARGINLAB_DATA_DIR"

#: Command that explains how to get data when a file is missing.
DOWNLOAD_HINT = (
    "unset MARGINLAB_DATA_DIR to use the dataset embedded in marginlab, point it at a folder holding the "
    "normalised files (names in marginlab.data.FILES), or download into the cache with "
    "`marginlab data fetch BTCUSDT --start 2020-01-01` (--source binance | deribit-dvol | binance-funding)"
)


@dataclass(frozen=True)
class FileSpec:
    """One normalised snapshot file.

    Attributes
    ----------
    dataset : str
        Short name used by ``load_daily(..., dataset=...)``.
    file : str
        File name in the snapshot directory.
    kind : str
        ``"ohlcv"``, ``"vol_index"`` (DVOL, percent points) or ``"funding"`` (decimal per period).
    frequency : str
        Bar frequency (``"1D"``, ``"1h"``, ``"8h"``).
    symbol : str or None
        The one symbol of a single-series file; None for long-format files (``symbol`` column).
    description : str
        Provenance and units in one line.
    """

    dataset: str
    file: str
    kind: str
    frequency: str
    symbol: str | None
    description: str

    @property
    def price_columns(self) -> tuple[str, ...]:
        return () if self.kind == "funding" else ("open", "high", "low", "close")

    @property
    def value_columns(self) -> tuple[str, ...]:
        return ("funding_rate",) if self.kind == "funding" else ()


#: The snapshot files, by dataset name.
FILES: dict[str, FileSpec] = {
    spec.dataset: spec
    for spec in (
        FileSpec("btc_usd", "btc_usd_daily.csv", "ohlcv", "1D", "BTC", "BTC/USD daily, Bitstamp then Coinbase, from 2011 (volume BTC)"),
        FileSpec("eth_usd", "eth_usd_daily.csv", "ohlcv", "1D", "ETH", "ETH/USD daily, CoinMarketCap then Yahoo, from 2015 (volume USD)"),
        FileSpec("binance", "btc_usdt_daily_binance.csv", "ohlcv", "1D", "BTCUSDT", "Binance spot BTCUSDT daily klines (USDT, volume BTC)"),
        FileSpec("universe", "crypto_universe_daily.csv.gz", "ohlcv", "1D", None, "22-asset daily universe, Yahoo Finance (USD, volume USD)"),
        FileSpec("stablecoins", "stablecoins_daily.csv", "ohlcv", "1D", None, "15 stablecoins daily to 2022-11, Yahoo Finance (USD)"),
        FileSpec("hourly", "btc_eth_usd_hourly.csv", "ohlcv", "1h", None, "BTC and ETH hourly, ~3 months, Yahoo (volume unusable)"),
        FileSpec("dvol", "dvol_daily.csv", "vol_index", "1D", None, "Deribit DVOL 30-day implied vol index, percent points"),
        FileSpec("funding", "btc_funding_rate_binance_8h.csv", "funding", "8h", None, "Binance USD-M BTCUSDT funding, decimal per 8 h"),
    )
}


def _explicit_dir() -> Path | None:
    """``$MARGINLAB_DATA_DIR`` as a folder, None when unset; a DataError when it is not a folder."""
    value = os.environ.get(DATA_DIR_VARIABLE)
    if value is None or value == "":
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        reason = "does not exist" if not folder.exists() else "is not a directory"
        raise DataError(f"{DATA_DIR_VARIABLE}={value!r} {reason}; set it to a folder of normalised data files "
                        f"or unset it to use the dataset embedded in marginlab")
    return folder


def snapshot_dir() -> Path:
    """The snapshot folder: ``$MARGINLAB_DATA_DIR`` when set, else the embedded dataset's folder.

    Raises
    ------
    DataError
        When ``MARGINLAB_DATA_DIR`` is set but is not an existing folder (the message names the
        variable and its value).

    Examples
    --------
    >>> from marginlab import datasets
    >>> snapshot_dir() == datasets.DATASET_DIR  # MARGINLAB_DATA_DIR unset: the embedded dataset
    True
    """
    explicit = _explicit_dir()
    return explicit if explicit is not None else datasets.DATASET_DIR


def snapshot_origin() -> str:
    """``"MARGINLAB_DATA_DIR"`` or ``"embedded"``: where :func:`snapshot_dir` points."""
    return DATA_DIR_VARIABLE if _explicit_dir() is not None else "embedded"


def snapshot_available() -> bool:
    """True when the snapshot can be read (False only when ``MARGINLAB_DATA_DIR`` is unusable)."""
    try:
        snapshot_dir()
    except DataError:
        return False
    return True


def snapshot_path(dataset: str, directory: Path | None = None) -> Path:
    """The file holding ``dataset`` (a key of :data:`FILES`): plain or gzip CSV.

    In the embedded dataset the files are ``<file>.gz``; a folder of your own may hold either the
    plain name of :data:`FILES` or the same name with ``.gz``.

    Examples
    --------
    >>> snapshot_path("btc_usd").name in ("btc_usd_daily.csv.gz", "btc_usd_daily.csv")
    True
    """
    spec = _spec(dataset)
    folder = directory if directory is not None else snapshot_dir()
    stem = spec.file.removesuffix(".gz")
    candidates = [folder / spec.file, folder / stem, folder / f"{stem}.gz"]
    for candidate in dict.fromkeys(candidates):
        if candidate.is_file():
            return candidate
    raise DataError(f"snapshot file missing. To fix: {DOWNLOAD_HINT}", file=str(folder / spec.file))


def dataset_info() -> dict[str, str]:
    """Name, version and origin of the market data in use, for provenance (reports, parameter files).

    The embedded dataset gives its manifest's name and version (``marginlab-snapshot-2025.09``).
    A ``$MARGINLAB_DATA_DIR`` folder may hold a ``manifest.json`` with ``name`` and ``version``;
    without one it is named ``user-data``, version ``unversioned``. No path is included, so the
    result can be written into files that are shared.

    Returns
    -------
    dict
        ``{"name": ..., "version": ..., "origin": "embedded" | "MARGINLAB_DATA_DIR"}``.

    Examples
    --------
    >>> info = dataset_info()
    >>> sorted(info)
    ['name', 'origin', 'version']
    """
    explicit = _explicit_dir()
    if explicit is None:
        return {**datasets.dataset_info(), "origin": "embedded"}
    info = {"name": "user-data", "version": "unversioned", "origin": DATA_DIR_VARIABLE}
    manifest = explicit / "manifest.json"
    if manifest.is_file():
        try:
            value = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DataError(f"manifest unreadable: {error}", file=str(manifest)) from None
        if isinstance(value, dict):
            info.update({key: str(value[key]) for key in ("name", "version") if key in value})
    return info


def _spec(dataset: str) -> FileSpec:
    try:
        return FILES[dataset]
    except KeyError:
        raise InputError("dataset", dataset, f"unknown; choose one of {sorted(FILES)}") from None


@functools.lru_cache(maxsize=32)
def _parse(path: str, mtime_ns: int, size: int, dataset: str) -> pd.DataFrame:
    spec = FILES[dataset]
    try:
        frame = pd.read_csv(path)
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as error:
        raise DataError(f"cannot read: {error}", file=path) from error
    if "timestamp" not in frame.columns:
        raise DataError("missing column", file=path, column="timestamp")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="ISO8601")
    validate_frame(frame, file=Path(path).name, price_columns=spec.price_columns, value_columns=spec.value_columns,
                   frequency=spec.frequency, gaps="ignore")
    return frame


def read_snapshot(dataset: str, directory: Path | None = None) -> pd.DataFrame:
    """The validated rows of a snapshot file, in file order (a copy of the cached parse).

    Parameters
    ----------
    dataset : str
        A key of :data:`FILES` (``"btc_usd"``, ``"universe"``, ``"dvol"``...).
    directory : Path, optional
        Snapshot directory; default :func:`snapshot_dir`.

    Raises
    ------
    DataError
        When the file is absent or fails validation (file, row, column and value named).
    """
    path = snapshot_path(dataset, directory)
    stat = path.stat()
    return _parse(str(path), stat.st_mtime_ns, stat.st_size, dataset).copy()


def clear_cache() -> None:
    """Forget every cached parse."""
    _parse.cache_clear()


def dataset_label() -> str:
    """One line naming the market data in use, e.g. ``"marginlab-snapshot-2025.09 (embedded)"``.

    Examples
    --------
    >>> dataset_label().endswith(("(embedded)", "(MARGINLAB_DATA_DIR)"))
    True
    """
    info = dataset_info()
    return f"{info['version']} ({info['origin']})"


def catalogue(directory: Path | None = None) -> pd.DataFrame:
    """Every series in the snapshot with its file, kind, frequency, date range and row count.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, dataset, file, symbol, kind, frequency, start, end, rows, origin,
        description``; ``origin`` is ``"embedded <version>"`` or ``"MARGINLAB_DATA_DIR"``;
        ``name`` is what to pass to the loaders (``load_daily(name, dataset=dataset)``,
        ``load_dvol``, ``load_funding``, ``load_hourly``).

    Examples
    --------
    >>> table = catalogue()
    >>> table.loc[table["dataset"] == "btc_usd", ["name", "start", "rows"]].to_string(index=False)
    'name      start  rows\\n BTC 2011-08-18  5152'
    """
    if directory is None:
        directory = snapshot_dir()
        info = dataset_info()
        origin = f"embedded {info['version']}" if info["origin"] == "embedded" else info["origin"]
    else:
        origin = "directory"
    rows = []
    for spec in FILES.values():
        try:
            path = snapshot_path(spec.dataset, directory)
        except DataError:
            continue
        frame = read_snapshot(spec.dataset, directory)
        if "symbol" in frame.columns:
            groups = frame.groupby("symbol", sort=True)["timestamp"]
            stats = groups.agg(["min", "max", "size"])
        else:
            stats = pd.DataFrame({"min": [frame["timestamp"].min()], "max": [frame["timestamp"].max()],
                                  "size": [len(frame)]}, index=[spec.symbol])
        for name, row in stats.iterrows():
            fmt = "%Y-%m-%d" if spec.frequency == "1D" else "%Y-%m-%dT%H:%M"
            rows.append({"name": name, "dataset": spec.dataset, "file": path.name, "symbol": name, "kind": spec.kind,
                         "frequency": spec.frequency, "start": row["min"].strftime(fmt), "end": row["max"].strftime(fmt),
                         "rows": int(row["size"]), "origin": origin, "description": spec.description})
    return pd.DataFrame(rows)
