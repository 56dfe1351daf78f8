"""The snapshot source: where the normalised data files live, what they hold, cached reading.

Lookup, file by file:

1. ``$MARGINLAB_DATA_DIR`` when set and holding the file: a folder of normalised files (plain or gzip
   CSV, the file names of :data:`FILES`). **A user's folder overlays the embedded dataset file by
   file**: one ``btc_usd_daily.csv`` there replaces that series only (:func:`series_origin`,
   :func:`overlaid_datasets`). A value that is not an existing folder is a :class:`DataError` naming
   the variable and the value (never a silent fallback).
2. Else the dataset embedded in the package (:mod:`marginlab.datasets`, gzip CSV, checked
   against its manifest by the tests).
3. Daily series extended by ``marginlab data fetch`` (rows after the snapshot's last day, appended
   after an overlap check, :mod:`marginlab.data.extend`) are joined on by the loaders unless the
   source preference says otherwise; series that no file holds (other Binance pairs) come from the
   download cache (:mod:`marginlab.data.download`) via ``source="download"`` or ``"auto"``.

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

import numpy as np
import pandas as pd

from marginlab import datasets
from marginlab.data.validate import validate_frame
from marginlab.exceptions import DataError, InputError

__all__ = ["FileSpec", "FILES", "SNAPSHOT_DATASETS", "snapshot_dir", "snapshot_path", "snapshot_origin", "read_snapshot",
           "catalogue", "clear_cache", "dataset_info", "dataset_label", "snapshot_available", "DATA_DIR_VARIABLE",
           "overlay_path", "overlaid_datasets", "series_origin", "validate_spec_frame"]

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
    """One normalised data file.

    Attributes
    ----------
    dataset : str
        Short name used by ``load_daily(..., dataset=...)`` and :func:`read_snapshot`.
    file : str
        File name (in a ``$MARGINLAB_DATA_DIR`` folder: this name, plain or with ``.gz``).
    kind : str
        ``"ohlcv"``, ``"close"`` (close only), ``"vol_index"`` (DVOL, percent points), ``"funding"``
        (decimal per period), ``"liquidations"`` / ``"open_interest"`` (USD), or a table without a time grid:
        ``"day_range"``, ``"option_chain"``, ``"price_snapshots"``.
    frequency : str or None
        Bar frequency (``"1D"``, ``"4h"``, ``"1h"``, ``"15min"``, ``"1min"``, ``"8h"``); None for tables.
    symbol : str or None
        The one symbol of a single-series file; None for long-format files (``symbol`` column).
    description : str
        Provenance and units in one line.
    values : tuple of str
        Columns that must be finite but may be of any sign (funding, liquidation totals).
    symbol_column : str or None
        The column naming the series of a long file (``"market"``, ``"instrument_name"`` for tables).
    """

    dataset: str
    file: str
    kind: str
    frequency: str | None
    symbol: str | None
    description: str
    values: tuple[str, ...] = ()
    symbol_column: str | None = "symbol"

    @property
    def price_columns(self) -> tuple[str, ...]:
        if self.kind in ("ohlcv", "vol_index"):
            return ("open", "high", "low", "close")
        if self.kind == "close":
            return ("close",)
        if self.kind == "open_interest":
            return ("oi_open_usd", "oi_high_usd", "oi_low_usd", "oi_close_usd")
        return ()

    @property
    def value_columns(self) -> tuple[str, ...]:
        return ("funding_rate",) if self.kind == "funding" and not self.values else self.values

    @property
    def is_table(self) -> bool:
        """True for files without a time grid per series (day range, option chains, price snapshots)."""
        return self.frequency is None


_LIQ = ("long_liquidation_usd", "short_liquidation_usd", "total_liquidation_usd")

#: The data files, by dataset name: the eight of the 2025 snapshot, then the 2026 extension's.
FILES: dict[str, FileSpec] = {
    spec.dataset: spec
    for spec in (
        FileSpec("btc_usd", "btc_usd_daily.csv", "ohlcv", "1D", "BTC", "BTC/USD daily, Bitstamp, Coinbase, then Yahoo from 2025-09-25 (volume BTC)"),
        FileSpec("eth_usd", "eth_usd_daily.csv", "ohlcv", "1D", "ETH", "ETH/USD daily, CoinMarketCap then Yahoo, from 2015 (volume USD)"),
        FileSpec("binance", "btc_usdt_daily_binance.csv", "ohlcv", "1D", "BTCUSDT", "Binance spot BTCUSDT daily klines (USDT, volume BTC)"),
        FileSpec("universe", "crypto_universe_daily.csv.gz", "ohlcv", "1D", None, "22-asset daily universe, Yahoo Finance (USD, volume USD); 7 alts continued from Binance/Bybit (USDT)"),
        FileSpec("stablecoins", "stablecoins_daily.csv", "ohlcv", "1D", None, "17 stablecoins daily, Yahoo Finance (USD); FDUSD, USD1 Binance (USDT)"),
        FileSpec("hourly", "btc_eth_usd_hourly.csv", "ohlcv", "1h", None, "BTC and ETH hourly, ~3 months, Yahoo (volume unusable)"),
        FileSpec("dvol", "dvol_daily.csv", "vol_index", "1D", None, "Deribit DVOL 30-day implied vol index, percent points"),
        FileSpec("funding", "btc_funding_rate_binance_8h.csv", "funding", "8h", None, "Binance USD-M BTCUSDT funding, decimal per 8 h"),
        FileSpec("binance_spot", "binance_spot_daily.csv.gz", "ohlcv", "1D", None, "Binance spot daily klines, 13 USDT pairs to 2026-03 (USDT, volume base)"),
        FileSpec("binance_spot_4h", "binance_spot_4h.csv.gz", "ohlcv", "4h", None, "Binance spot 4-hour klines, BTC ETH BNB XRP SOL (USDT)"),
        FileSpec("bybit_perp", "bybit_perp_daily_2023_2025.csv.gz", "ohlcv", "1D", None, "Bybit USDT perpetuals daily, 15 contracts 2023-01 to 2025-10 (USDT)"),
        FileSpec("bybit_perp_1h", "bybit_perp_1h_2025-09_10.csv.gz", "ohlcv", "1h", None, "Bybit USDT perpetuals hourly, 2025-09-06 to 2025-10-22 (USDT)"),
        FileSpec("bybit_perp_15m", "bybit_perp_15m_2025-10.csv.gz", "ohlcv", "15min", None, "Bybit USDT perpetuals 15-minute, 2025-10-07 to 10-17, the 10-10 crash (USDT)"),
        FileSpec("lst", "lst_daily_yahoo.csv", "ohlcv", "1D", None, "Liquid-staking tokens stETH wstETH wBETH eETH weETH daily, Yahoo (USD; close_in_eth)"),
        FileSpec("usde_1m", "usde_usdt_binance_1m_2025-10-09_13.csv.gz", "ohlcv", "1min", None, "Binance USDEUSDT 1-minute, 2025-10-09 to 10-13, the USDe depeg (USDT)"),
        FileSpec("usde_1h", "usde_usdt_binance_1h.csv.gz", "ohlcv", "1h", None, "Binance USDEUSDT hourly from the 1-minute bars (USDT)"),
        FileSpec("usde_daily", "usde_usdt_binance_daily.csv", "ohlcv", "1D", None, "Binance USDEUSDT daily from the 1-minute bars (USDT)"),
        FileSpec("usdt_coinmetrics", "usdt_usd_coinmetrics_daily.csv", "close", "1D", None, "USDT/USD CoinMetrics reference rate, close only, 20 gaps"),
        FileSpec("liquidations", "liquidations_binance_daily_coinglass.csv", "liquidations", "1D", None, "Binance liquidations (CoinGlass) daily, USD, a lower bound", _LIQ),
        FileSpec("liquidations_4h", "liquidations_binance_4h_coinglass.csv", "liquidations", "4h", None, "Binance liquidations (CoinGlass) 4-hourly, USD, a lower bound", _LIQ),
        FileSpec("open_interest", "open_interest_4h_coinglass.csv", "open_interest", "4h", None, "Open interest across venues (CoinGlass) 4-hourly, USD"),
        FileSpec("funding_oi", "funding_oi_weighted_daily_coinglass.csv", "funding", "1D", None, "OI-weighted funding across venues (CoinGlass) daily, decimal",
                 ("funding_open", "funding_high", "funding_low", "funding_close")),
        FileSpec("day_range_2025_10_10", "binance_spot_2025-10-10_day_range.csv", "day_range", None, None,
                 "Every Binance spot market's high and low on 2025-10-10 (1581 markets)", symbol_column="market"),
        FileSpec("option_chains", "deribit_btc_option_chains_2020-05.csv", "option_chain", None, None,
                 "Two Deribit BTC option chains, 2020-05-14 and 05-21 (mark/bid/ask IV in percent)", symbol_column="instrument_name"),
        FileSpec("coingecko", "coingecko_snapshots_2025_2026.csv", "price_snapshots", None, None,
                 "CoinGecko snapshot prices 2025-08 to 2026-05: majors, LSTs, stablecoins (USD)", symbol_column="name"),
    )
}

#: The datasets of the 2025 snapshot folder (``shared/data``); the others come from its 2026 extension.
SNAPSHOT_DATASETS = ("btc_usd", "eth_usd", "binance", "universe", "stablecoins", "hourly", "dvol", "funding")


def validate_spec_frame(frame: pd.DataFrame, spec: FileSpec, name: str) -> pd.DataFrame:
    """Validate a parsed file of ``spec`` (``timestamp`` parsed in place); tables: unique keys, parsed times.

    Raises
    ------
    DataError
        On the first defect, naming file, row, column and value.
    """
    if "timestamp" not in frame.columns:
        raise DataError("missing column", file=name, column="timestamp")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="ISO8601")
    if spec.is_table:
        if frame["timestamp"].isna().any():
            row = int(np.argmax(frame["timestamp"].isna().to_numpy()))
            raise DataError("missing or unparsable timestamp", file=name, row=row + 2, column="timestamp")
        key = [c for c in (spec.symbol_column, "timestamp") if c is not None]
        duplicated = frame.duplicated(key).to_numpy()
        if duplicated.any():
            row = int(np.argmax(duplicated))
            raise DataError("duplicated key", file=name, row=row + 2, column=key[0], value=frame[key[0]].iloc[row])
        return frame
    validate_frame(frame, file=name, price_columns=spec.price_columns, value_columns=spec.value_columns,
                   frequency=spec.frequency, symbol_column=spec.symbol_column, gaps="ignore")
    return frame


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
    """``"MARGINLAB_DATA_DIR"`` when that folder is set, else ``"embedded"`` (see :func:`series_origin` per file)."""
    return DATA_DIR_VARIABLE if _explicit_dir() is not None else "embedded"


def snapshot_available() -> bool:
    """True when the snapshot can be read (False only when ``MARGINLAB_DATA_DIR`` is unusable)."""
    try:
        snapshot_dir()
    except DataError:
        return False
    return True


def _find(folder: Path, spec: FileSpec) -> Path | None:
    stem = spec.file.removesuffix(".gz")
    for candidate in dict.fromkeys([folder / spec.file, folder / stem, folder / f"{stem}.gz"]):
        if candidate.is_file():
            return candidate
    return None


def overlay_path(dataset: str) -> Path | None:
    """The ``$MARGINLAB_DATA_DIR`` file of ``dataset`` (plain or gzip), None when the folder has none or is unset."""
    explicit = _explicit_dir()
    return _find(explicit, _spec(dataset)) if explicit is not None else None


def overlaid_datasets() -> list[str]:
    """The datasets a ``$MARGINLAB_DATA_DIR`` folder replaces (empty when unset).

    Examples
    --------
    >>> overlaid_datasets()  # MARGINLAB_DATA_DIR unset
    []
    """
    explicit = _explicit_dir()
    return [] if explicit is None else [d for d, spec in FILES.items() if _find(explicit, spec) is not None]


def series_origin(dataset: str) -> str:
    """Where ``dataset`` is read from: ``"MARGINLAB_DATA_DIR"`` (the user's file) or ``"embedded"``.

    Examples
    --------
    >>> series_origin("btc_usd")
    'embedded'
    """
    return DATA_DIR_VARIABLE if overlay_path(dataset) is not None else "embedded"


def snapshot_path(dataset: str, directory: Path | None = None, *, origin: str = "snapshot") -> Path:
    """The file holding ``dataset`` (a key of :data:`FILES`): plain or gzip CSV.

    Lookup, file by file: the ``$MARGINLAB_DATA_DIR`` folder when it holds the file (plain name of
    :data:`FILES` or the same with ``.gz``), else the embedded dataset (``<file>.gz``). A user's folder
    holding one file replaces that series only.

    Parameters
    ----------
    dataset : str
    directory : Path, optional
        Look in this folder only (no fallback).
    origin : {"snapshot", "embedded", "overlay"}
        ``"embedded"`` ignores ``$MARGINLAB_DATA_DIR``; ``"overlay"`` requires the user's file.

    Examples
    --------
    >>> snapshot_path("btc_usd").name
    'btc_usd_daily.csv.gz'
    """
    spec = _spec(dataset)
    if directory is not None:
        found = _find(directory, spec)
        if found is None:
            raise DataError(f"snapshot file missing. To fix: {DOWNLOAD_HINT}", file=str(directory / spec.file))
        return found
    if origin not in ("snapshot", "embedded", "overlay"):
        raise InputError("origin", origin, "must be 'snapshot', 'embedded' or 'overlay'")
    if origin != "embedded":
        explicit = _explicit_dir()
        found = _find(explicit, spec) if explicit is not None else None
        if found is not None:
            return found
        if origin == "overlay":
            where = f"{DATA_DIR_VARIABLE}={explicit}" if explicit is not None else f"{DATA_DIR_VARIABLE} (unset)"
            raise DataError(f"source 'overlay' asked but {where} holds no {spec.file}")
    found = _find(datasets.DATASET_DIR, spec)
    if found is None:
        raise DataError(f"embedded file missing (a damaged installation?). To fix: {DOWNLOAD_HINT}",
                        file=str(datasets.DATASET_DIR / spec.file))
    return found


def dataset_info() -> dict[str, str]:
    """Name, version and origin of the market data in use, for provenance (reports, parameter files).

    The embedded dataset gives its manifest's name and version (``marginlab-snapshot-2026.03``). When a
    ``$MARGINLAB_DATA_DIR`` folder replaces some of its files, the version names them:
    ``marginlab-snapshot-2026.03+user-<version>[btc_usd,...]`` with ``<version>`` from a ``manifest.json``
    in that folder (``name``, ``version``), else ``unversioned``. (:func:`marginlab.data.dataset_info` adds
    ``+cache[BTC,...]`` for series extended by ``marginlab data fetch``.) No path is included, so the result
    can be written into files that are shared.

    Returns
    -------
    dict
        ``{"name": ..., "version": ..., "origin": "embedded" | "MARGINLAB_DATA_DIR"}``.

    Examples
    --------
    >>> info = dataset_info()
    >>> sorted(info), info["version"]
    (['name', 'origin', 'version'], 'marginlab-snapshot-2026.03')
    """
    embedded = datasets.dataset_info()
    info = {**embedded, "origin": "embedded"}
    explicit = _explicit_dir()
    overlaid = overlaid_datasets()
    if explicit is not None and overlaid:
        user = {"name": embedded["name"], "version": "unversioned"}
        manifest = explicit / "manifest.json"
        if manifest.is_file():
            try:
                value = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise DataError(f"manifest unreadable: {error}", file=str(manifest)) from None
            if isinstance(value, dict):
                user.update({key: str(value[key]) for key in ("name", "version") if key in value})
        info = {"name": user["name"], "version": f"{embedded['version']}+user-{user['version']}[{','.join(overlaid)}]",
                "origin": DATA_DIR_VARIABLE}
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
    return validate_spec_frame(frame, spec, Path(path).name)


def read_snapshot(dataset: str, directory: Path | None = None, *, origin: str = "snapshot") -> pd.DataFrame:
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
    path = snapshot_path(dataset, directory, origin=origin)
    stat = path.stat()
    return _parse(str(path), stat.st_mtime_ns, stat.st_size, dataset).copy()


def clear_cache() -> None:
    """Forget every cached parse."""
    _parse.cache_clear()


def dataset_label() -> str:
    """One line naming the market data in use, e.g. ``"marginlab-snapshot-2026.03 (embedded)"``.

    Examples
    --------
    >>> dataset_label().endswith(("(embedded)", "(MARGINLAB_DATA_DIR)"))
    True
    """
    info = dataset_info()
    return f"{info['version']} ({info['origin']})"


def catalogue(directory: Path | None = None) -> pd.DataFrame:
    """Every series of the data files with its file, kind, frequency, date range, row count and origin.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, dataset, file, symbol, kind, frequency, start, end, rows, origin, description``;
        ``origin`` is ``"embedded <version>"`` or ``"MARGINLAB_DATA_DIR"`` (the user's file replaces the
        embedded one; :func:`marginlab.data.catalogue` adds ``"cache"`` for series extended by
        ``marginlab data fetch``); ``name`` is what to pass to the loaders (``load_daily(name, dataset=dataset)``,
        ``load_dvol``, ``load_funding``, ``load_hourly``, :func:`marginlab.data.load_series`). A table
        (option chains, the 2025-10-10 day range, price snapshots) is one row named after its dataset.

    Examples
    --------
    >>> table = catalogue()
    >>> table.loc[table["dataset"] == "btc_usd", ["name", "start", "end"]].to_string(index=False)
    'name      start        end\n BTC 2011-08-18 2025-11-19'
    """
    embedded_label = f"embedded {datasets.dataset_info()['version']}"
    rows = []
    for spec in FILES.values():
        try:
            path = snapshot_path(spec.dataset, directory)
        except DataError:
            continue
        if directory is not None:
            origin = "directory"
        else:
            origin = DATA_DIR_VARIABLE if series_origin(spec.dataset) == DATA_DIR_VARIABLE else embedded_label
        frame = read_snapshot(spec.dataset, directory)
        if spec.is_table:
            stats = pd.DataFrame({"min": [frame["timestamp"].min()], "max": [frame["timestamp"].max()],
                                  "size": [len(frame)]}, index=[spec.dataset])
        elif "symbol" in frame.columns:
            stats = frame.groupby("symbol", sort=True)["timestamp"].agg(["min", "max", "size"])
        else:
            stats = pd.DataFrame({"min": [frame["timestamp"].min()], "max": [frame["timestamp"].max()],
                                  "size": [len(frame)]}, index=[spec.symbol])
        fmt = "%Y-%m-%d" if spec.frequency == "1D" else "%Y-%m-%dT%H:%M"
        for name, row in stats.iterrows():
            rows.append({"name": name, "dataset": spec.dataset, "file": path.name, "symbol": name, "kind": spec.kind,
                         "frequency": spec.frequency or "table", "start": row["min"].strftime(fmt),
                         "end": row["max"].strftime(fmt), "rows": int(row["size"]), "origin": origin,
                         "description": spec.description})
    return pd.DataFrame(rows)
