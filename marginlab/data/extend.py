"""Daily series extended by downloads, and the source preference of the loaders.

``marginlab data fetch BTC --start 2025-11-01`` downloads Binance ``BTCUSDT`` daily klines and, when
``BTC`` is a daily series of the data files (:func:`marginlab.data.resolve_dataset`), **appends the rows
after that series' last day** to it, once the overlap is checked: on the days both have, the median
``|close_download / close - 1|`` must not exceed :data:`MAX_MEDIAN_DIFF` (0.5%) and the worst
:data:`MAX_WORST_DIFF` (10%), otherwise :class:`~marginlab.exceptions.DataError` names the statistics.
(Binance BTCUSDT against the Coinbase BTC file differs by a median 0.05%; a wrong pair differs by far
more.) The appended rows are stored in the download cache under ``extended/<dataset>/<symbol>-1d``
with the overlap statistics in the cache manifest; the series itself is not rewritten.

Which data the loaders read is the **source preference** (:func:`preferred_source`):

* ``"auto"`` (default): each file from ``$MARGINLAB_DATA_DIR`` when it holds it, else embedded, and the
  cached extension appended when there is one;
* ``"snapshot"``: the same without the cached extension; ``"embedded"``: the embedded files only;
  ``"overlay"``: the ``$MARGINLAB_DATA_DIR`` file, an error when it lacks one; ``"cache"``: like
  ``"auto"`` but the extension must exist; ``"download"``: download (Binance pairs, DVOL, funding).

It is set by ``$MARGINLAB_DATA_SOURCE``, by ``with use_source("embedded"):`` or per call (``source=``);
``marginlab calibrate --source`` and the other commands read the variable. :func:`dataset_info` names a
used extension in the dataset version (``+cache[BTC]``), so parameter files and reports record it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

import pandas as pd

from marginlab.data import sources
from marginlab.data.download import Cache
from marginlab.datasets.build import overlap_statistics
from marginlab.exceptions import DataError, InputError

__all__ = ["SOURCES", "SOURCE_VARIABLE", "MAX_MEDIAN_DIFF", "MAX_WORST_DIFF", "SourceName", "preferred_source",
           "use_source", "extend_series", "load_extension", "extended_symbols", "extension_end", "dataset_info",
           "catalogue"]

SourceName = Literal["auto", "snapshot", "embedded", "overlay", "cache", "download"]
#: Every source name the loaders accept.
SOURCES: tuple[str, ...] = ("auto", "snapshot", "embedded", "overlay", "cache", "download")
#: Environment variable holding the default source preference.
SOURCE_VARIABLE = "MARGINLAB_DATA_SOURCE"
#: Largest median |close_download / close - 1| on the overlap accepted by :func:`extend_series`.
MAX_MEDIAN_DIFF = 0.005
#: Largest single-day |close_download / close - 1| on the overlap accepted by :func:`extend_series`.
MAX_WORST_DIFF = 0.10
_PREFIX = "extended"
_preference: contextvars.ContextVar[str | None] = contextvars.ContextVar("marginlab_data_source", default=None)


def check_source(source: Any, field: str = "source") -> str:
    """``source`` when it is one of :data:`SOURCES`; a one-line :class:`InputError` otherwise."""
    if source not in SOURCES:
        raise InputError(field, source, f"must be one of {', '.join(SOURCES)}")
    return str(source)


def preferred_source() -> str:
    """The source preference: :func:`use_source`, else ``$MARGINLAB_DATA_SOURCE``, else ``"auto"``.

    Examples
    --------
    >>> with use_source("embedded"):
    ...     preferred_source()
    'embedded'
    """
    value = _preference.get()
    if value is not None:
        return value
    env = os.environ.get(SOURCE_VARIABLE, "")
    return check_source(env, SOURCE_VARIABLE) if env else "auto"


@contextlib.contextmanager
def use_source(source: SourceName | None) -> Iterator[None]:
    """Set the source preference inside a ``with`` block (``None`` leaves it unchanged)."""
    if source is None:
        yield
        return
    token = _preference.set(check_source(source))
    try:
        yield
    finally:
        _preference.reset(token)


def _key(dataset: str, symbol: str) -> str:
    return f"{_PREFIX}/{dataset}/{symbol}-1d"


def _entries(cache_dir: Path | str | None = None) -> dict[str, dict[str, Any]]:
    try:
        manifest = Cache(cache_dir).manifest()
    except (OSError, DataError):
        return {}
    return {key: entry for key, entry in manifest.items() if key.startswith(f"{_PREFIX}/")}


def extended_symbols(cache_dir: Path | str | None = None) -> list[str]:
    """Symbols with a cached extension (``BTC``, ``SOL``...), sorted."""
    return sorted({key.rsplit("/", 1)[-1].removesuffix("-1d") for key in _entries(cache_dir)})


def extension_end(dataset: str, symbol: str, cache_dir: Path | str | None = None) -> tuple[pd.Timestamp, int] | None:
    """(last day, rows) of the cached extension of ``symbol`` in ``dataset``, None when there is none."""
    entry = _entries(cache_dir).get(_key(dataset, symbol))
    if entry is None or not entry.get("end"):
        return None
    return pd.Timestamp(entry["end"]), int(entry.get("rows", 0))


def load_extension(dataset: str, symbol: str, cache_dir: Path | str | None = None) -> pd.DataFrame | None:
    """The cached rows appended to ``symbol`` (``timestamp`` index, OHLCV), None when there are none."""
    if _key(dataset, symbol) not in _entries(cache_dir):
        return None
    frame = Cache(cache_dir).get(_key(dataset, symbol))
    if frame is None:
        return None
    return frame.set_index("timestamp").sort_index()


def _base_series(dataset: str, symbol: str) -> pd.DataFrame:
    frame = sources.read_snapshot(dataset)
    if "symbol" in frame.columns:
        frame = frame[frame["symbol"] == symbol]
    if frame.empty:
        raise DataError(f"{symbol} is not a series of {sources.FILES[dataset].file}")
    return frame.set_index("timestamp").sort_index()


def extend_series(dataset: str, symbol: str, downloaded: pd.DataFrame, *, source_url: str,
                  cache_dir: Path | str | None = None) -> dict[str, Any]:
    """Check ``downloaded`` daily bars against ``symbol`` of ``dataset`` on their overlap and cache the rows after it.

    Parameters
    ----------
    dataset, symbol : str
        The series to extend (``"btc_usd"``, ``"BTC"``; ``"universe"``, ``"SOL"``...).
    downloaded : DataFrame
        Normalised daily klines (``timestamp, open, high, low, close, volume[, quote_volume]``).
    source_url : str
        Where they came from (recorded).
    cache_dir : path, optional
        Download cache (default :func:`marginlab.data.download.default_cache_dir`).

    Returns
    -------
    dict
        The cache manifest entry: ``rows`` appended, ``start``/``end``, ``overlap`` statistics, ``base_end``.

    Raises
    ------
    DataError
        When the download does not overlap the series, or differs from it beyond :data:`MAX_MEDIAN_DIFF` /
        :data:`MAX_WORST_DIFF` on the overlap (the message gives the statistics).
    """
    base = _base_series(dataset, symbol)
    bars = downloaded.set_index("timestamp").sort_index() if "timestamp" in downloaded.columns else downloaded.sort_index()
    stats = overlap_statistics(base["close"], bars["close"])
    last = base.index.max()
    if stats["days"] == 0:
        raise DataError(f"the download of {symbol} ({bars.index.min():%Y-%m-%d} .. {bars.index.max():%Y-%m-%d}) does not "
                        f"overlap the series (to {last:%Y-%m-%d}); fetch from an earlier --start to check the seam")
    if stats["median_abs_rel_close_diff"] > MAX_MEDIAN_DIFF or stats["worst_abs_rel_close_diff"] > MAX_WORST_DIFF:
        raise DataError(f"the download of {symbol} differs from the series on {stats['days']} overlapping days: median "
                        f"|diff| {stats['median_abs_rel_close_diff']:.3g}, worst {stats['worst_abs_rel_close_diff']:.3g} on "
                        f"{stats['worst_day']} (limits {MAX_MEDIAN_DIFF}, {MAX_WORST_DIFF}); not appended")
    usd_volume = dataset in ("universe", "eth_usd", "stablecoins") and "quote_volume" in bars.columns
    new = bars.loc[bars.index > last]
    frame = pd.DataFrame({"timestamp": new.index, **{c: new[c].to_numpy() for c in ("open", "high", "low", "close")},
                          "volume": (new["quote_volume"] if usd_volume else new["volume"]).to_numpy()})
    return Cache(cache_dir).put(_key(dataset, symbol), frame, source_url,
                                extra={"base_end": f"{last:%Y-%m-%d}", "overlap": stats})


def dataset_info() -> dict[str, str]:
    """:func:`marginlab.data.sources.dataset_info`, with ``+cache[...]`` when extended series are in use.

    Examples
    --------
    >>> dataset_info()["name"]
    'marginlab-snapshot'
    """
    info = sources.dataset_info()
    if preferred_source() in ("auto", "cache"):
        symbols = extended_symbols()
        if symbols:
            info["version"] += f"+cache[{','.join(symbols)}]"
    return info


def catalogue() -> pd.DataFrame:
    """:func:`marginlab.data.sources.catalogue`; a daily series extended in the cache shows its new end, origin ``cache``.

    Examples
    --------
    >>> table = catalogue()
    >>> table.loc[table["dataset"] == "eth_usd", "end"].item()
    '2025-11-19'
    """
    table = sources.catalogue()
    if preferred_source() not in ("auto", "cache") or table.empty:
        return table
    for position, row in table.iterrows():
        if row["frequency"] != "1D":
            continue
        extended = extension_end(str(row["dataset"]), str(row["name"]))
        if extended is not None and extended[0].strftime("%Y-%m-%d") > str(row["end"]):
            table.loc[position, ["end", "rows", "origin"]] = [extended[0].strftime("%Y-%m-%d"), int(row["rows"]) + extended[1], "cache"]
    return table


def source_label(source: str | None = None) -> str:
    """``"auto"`` etc. made concrete for a message: what ``source`` reads."""
    name = cast(str, source or preferred_source())
    return {"auto": "overlay, else embedded, plus cached extensions", "snapshot": "overlay, else embedded",
            "embedded": "embedded only", "overlay": "MARGINLAB_DATA_DIR files", "cache": "snapshot plus cached extensions",
            "download": "downloads"}[name]
