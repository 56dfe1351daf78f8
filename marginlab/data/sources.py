"""The snapshot source: where the normalised data files live, what they hold, cached reading.

The snapshot directory is ``$MARGINLAB_DATA_DIR`` when set, else ``data/snapshot/`` in the
repository, else ``../shared/data`` beside the checkout. Each file follows the normalised schema
(``timestamp`` = UTC ISO time of the bar open, lower-case columns, sorted, no duplicates);
:data:`FILES` describes them and :func:`catalogue` lists every series with its date range.

Parsed files are cached in memory keyed on path, modification time and size, so repeated loads
(notebooks and calibrations call them a lot) cost a copy, not a parse; every reader returns a copy.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from marginlab.data.validate import validate_frame
from marginlab.exceptions import DataError, DataWarning, InputError

__all__ = ["FileSpec", "FILES", "snapshot_dir", "snapshot_candidates", "read_snapshot", "catalogue", "clear_cache"]

_REPO = Path(__file__).resolve().parents[2]

#: Command that explains how to get data when no snapshot exists.
DOWNLOAD_HINT = (
    "set MARGINLAB_DATA_DIR to a directory holding the normalised files (see ../shared/data/README.md), "
    "or download into the cache with `marginlab data fetch BTCUSDT --start 2020-01-01` "
    "(--source binance | deribit-dvol | binance-funding)"
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


def snapshot_candidates() -> list[Path]:
    """The directories searched for the snapshot, in order."""
    candidates = []
    if os.environ.get("MARGINLAB_DATA_DIR"):
        candidates.append(Path(os.environ["MARGINLAB_DATA_DIR"]))
    candidates += [_REPO / "data" / "snapshot", _REPO.parent / "shared" / "data"]
    return candidates


def snapshot_dir() -> Path:
    """The snapshot directory: ``$MARGINLAB_DATA_DIR``, else ``data/snapshot``, else ``../shared/data``.

    A ``MARGINLAB_DATA_DIR`` that is set but is not a directory is reported with a
    :class:`DataWarning` before the search falls back to the other two places.

    Raises
    ------
    DataError
        When none of the three exists; the message names all three and how to download.
    """
    candidates = snapshot_candidates()
    explicit = os.environ.get("MARGINLAB_DATA_DIR")
    if explicit and not Path(explicit).is_dir():
        warnings.warn(f"MARGINLAB_DATA_DIR={explicit!r} is not a directory; looking in data/snapshot and ../shared/data instead",
                      DataWarning, stacklevel=2)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    names = ["$MARGINLAB_DATA_DIR" + (f" ({candidates[0]})" if os.environ.get("MARGINLAB_DATA_DIR") else " (unset)"),
             str(_REPO / "data" / "snapshot"), str(_REPO.parent / "shared" / "data")]
    raise DataError(f"no market-data snapshot found; looked in {', '.join(names)}. To fix: {DOWNLOAD_HINT}")


def snapshot_available() -> bool:
    """True when a snapshot directory exists (without warning about an unusable ``MARGINLAB_DATA_DIR``)."""
    return any(candidate.is_dir() for candidate in snapshot_candidates())


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
    except (OSError, ValueError, pd.errors.ParserError) as error:
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
    spec = _spec(dataset)
    path = (directory or snapshot_dir()) / spec.file
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DataError(f"snapshot file missing. To fix: {DOWNLOAD_HINT}", file=str(path)) from None
    return _parse(str(path), stat.st_mtime_ns, stat.st_size, dataset).copy()


def clear_cache() -> None:
    """Forget every cached parse."""
    _parse.cache_clear()


def catalogue(directory: Path | None = None) -> pd.DataFrame:
    """Every series in the snapshot with its file, kind, frequency, date range and row count.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, dataset, file, symbol, kind, frequency, start, end, rows, description``;
        ``name`` is what to pass to the loaders (``load_daily(name, dataset=dataset)``,
        ``load_dvol``, ``load_funding``, ``load_hourly``).

    Examples
    --------
    >>> table = catalogue()
    >>> table.loc[table["dataset"] == "btc_usd", ["name", "start", "rows"]].to_string(index=False)
    'name      start  rows\\n BTC 2011-08-18  5152'
    """
    directory = directory or snapshot_dir()
    rows = []
    for spec in FILES.values():
        if not (directory / spec.file).exists():
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
            rows.append({"name": name, "dataset": spec.dataset, "file": spec.file, "symbol": name, "kind": spec.kind,
                         "frequency": spec.frequency, "start": row["min"].strftime(fmt), "end": row["max"].strftime(fmt),
                         "rows": int(row["size"]), "description": spec.description})
    return pd.DataFrame(rows)
