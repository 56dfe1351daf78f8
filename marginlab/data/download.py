"""Download sources, normalised to the snapshot schema and cached as parquet with a manifest.

Three public sources:

* :func:`fetch_binance_klines` - the Binance public data archive, monthly spot kline zips
  ``/data/spot/monthly/klines/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<YYYY>-<MM>.zip``; each
  zip is verified against its ``.CHECKSUM`` sibling (sha256); the headerless 12-column CSV has
  open times in milliseconds until 2024-12-31 and in **microseconds from 2025-01-01**, detected
  per file by magnitude. Months that answer 404 are reported (:class:`DataWarning`, or an error
  with ``missing="raise"``), never skipped silently.
* :func:`fetch_dvol` - Deribit ``public/get_volatility_index_data`` (JSON-RPC, paged backwards
  with ``continuation``), DVOL in volatility points.
* :func:`fetch_funding` - Binance USD-M ``/fapi/v1/fundingRate``, paged forward by ``startTime``;
  funding times are snapped to the hour (Binance adds a few ms of jitter).

Base URLs default to the public hosts and can be changed with the ``base_url`` argument or the
environment variables ``MARGINLAB_BINANCE_ARCHIVE_URL``, ``MARGINLAB_DERIBIT_URL`` and
``MARGINLAB_BINANCE_FUTURES_URL`` (the tests point them at a local server).

The cache lives in ``$MARGINLAB_CACHE_DIR`` (default ``data/cache/`` in a source checkout,
git-ignored, else ``$XDG_CACHE_HOME/marginlab`` or ``~/.cache/marginlab``). Each entry is a
parquet file written atomically (:func:`marginlab.io.atomic_write_bytes`) and listed in
``manifest.json`` with its source URL, retrieval time, sha256, row count and date range; an entry
whose file is missing, whose sha256 does not match (a truncated or corrupt file) or that does not
parse as parquet is reported with a :class:`DataWarning` and fetched again, never used. A
manifest that is not valid JSON or not a JSON object is reported the same way and rebuilt.

Every path component is validated before use: symbols are upper-case letters and digits,
``interval`` is one of :data:`BINANCE_INTERVALS`, ``resolution`` one of
:data:`DVOL_RESOLUTIONS`, and a cache key is a ``/``-separated sequence of names made of
letters, digits, ``.``, ``_`` and ``-`` (no ``..``) whose resolved path stays inside the cache
folder; anything else is an :class:`~marginlab.exceptions.InputError` naming the field and value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import requests

from marginlab.data.validate import validate_frame
from marginlab.exceptions import DataWarning, DownloadError, InputError, NetworkError
from marginlab.io import atomic_write_bytes
from marginlab.progress import tqdm

__all__ = [
    "Cache",
    "default_cache_dir",
    "fetch_binance_klines",
    "fetch_dvol",
    "fetch_funding",
    "parse_kline_csv",
    "BINANCE_ARCHIVE_URL",
    "DERIBIT_URL",
    "BINANCE_FUTURES_URL",
    "BINANCE_INTERVALS",
    "DVOL_RESOLUTIONS",
    "check_symbol",
    "check_cache_key",
]

BINANCE_ARCHIVE_URL = "https://data.binance.vision"
DERIBIT_URL = "https://www.deribit.com"
BINANCE_FUTURES_URL = "https://fapi.binance.com"
_TIMEOUT_SECONDS = 30
KLINE_COLUMNS = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "num_trades",
                 "taker_buy_base_volume", "taker_buy_quote_volume", "ignore"]
#: Columns of a normalised kline frame (as in ``btc_usdt_daily_binance.csv``).
NORMALISED_KLINE_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume", "quote_volume", "num_trades",
                            "taker_buy_base_volume", "taker_buy_quote_volume"]
_MICROSECOND_THRESHOLD = 10**14  # ms timestamps are ~1.7e12 today; µs ~1.7e15
#: Kline intervals of the Binance spot archive.
BINANCE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1mo")
#: Resolutions accepted by Deribit ``get_volatility_index_data`` (seconds, or ``1D``).
DVOL_RESOLUTIONS = ("1", "60", "3600", "43200", "1D")
_SYMBOL = re.compile(r"[A-Z0-9]{2,30}")
_KEY_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def check_symbol(symbol, field: str = "symbol") -> str:
    """``symbol`` when it is 2-30 upper-case letters or digits (a Binance pair, a currency).

    Examples
    --------
    >>> check_symbol("BTCUSDT")
    'BTCUSDT'
    >>> check_symbol("../x")
    Traceback (most recent call last):
    marginlab.exceptions.InputError: symbol='../x': must be 2-30 upper-case letters or digits, such as 'BTCUSDT'
    """
    if not isinstance(symbol, str) or not _SYMBOL.fullmatch(symbol):
        raise InputError(field, symbol, "must be 2-30 upper-case letters or digits, such as 'BTCUSDT'")
    return symbol


def check_cache_key(key) -> str:
    """``key`` when it is ``/``-separated names of letters, digits, ``.``, ``_``, ``-`` (not ``.``/``..``).

    Examples
    --------
    >>> check_cache_key("binance/spot/BTCUSDT/1d/BTCUSDT-1d-2024-01")
    'binance/spot/BTCUSDT/1d/BTCUSDT-1d-2024-01'
    >>> check_cache_key("../../etc/x")
    Traceback (most recent call last):
    marginlab.exceptions.InputError: key='../../etc/x': must be '/'-separated names of letters, digits, '.', '_' and '-' (no empty, '.' or '..' part)
    """
    parts = key.split("/") if isinstance(key, str) else [""]
    if not all(_KEY_PART.fullmatch(part) and part.strip(".") for part in parts):
        raise InputError("key", key, "must be '/'-separated names of letters, digits, '.', '_' and '-' "
                                     "(no empty, '.' or '..' part)")
    return key


def _base(explicit: str | None, variable: str, default: str) -> str:
    return (explicit or os.environ.get(variable) or default).rstrip("/")


def default_cache_dir() -> Path:
    """``$MARGINLAB_CACHE_DIR``, else ``data/cache`` in a source checkout, else the user cache folder."""
    if os.environ.get("MARGINLAB_CACHE_DIR"):
        return Path(os.environ["MARGINLAB_CACHE_DIR"]).expanduser()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
        return checkout / "data" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marginlab"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Cache:
    """Parquet cache with a sha256 manifest.

    Parameters
    ----------
    directory : Path, optional
        Cache root; default :func:`default_cache_dir`.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> cache = Cache(tempfile.mkdtemp())
    >>> frame = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01"], utc=True), "close": [1.0]})
    >>> cache.put("demo/one", frame, "https://example.invalid/one")["rows"]
    1
    >>> cache.get("demo/one")["close"].tolist()
    [1.0]
    """

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    @property
    def manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    def manifest(self) -> dict[str, dict[str, Any]]:
        """The manifest: cache key -> {file, source_url, retrieved_at, sha256, rows, start, end}."""
        if not self.manifest_path.exists():
            return {}
        try:
            value = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            value = None
        if not isinstance(value, dict):
            warnings.warn(f"cache manifest {self.manifest_path} is not a JSON object; the cache is rebuilt",
                          DataWarning, stacklevel=2)
            return {}
        return {key: entry for key, entry in value.items() if isinstance(entry, dict)}

    def path(self, key: str) -> Path:
        """The parquet file of ``key``: validated (:func:`check_cache_key`) and inside the cache folder."""
        check_cache_key(key)
        root = self.directory.resolve()
        path = (root / f"{key}.parquet").resolve()
        if not path.is_relative_to(root):
            raise InputError("key", key, f"resolves outside the cache folder {root}")
        return path

    def get(self, key: str) -> pd.DataFrame | None:
        """The cached frame of ``key``, or None when absent or corrupt (corrupt: warned, must be refetched)."""
        path = self.path(key)
        entry = self.manifest().get(key)
        if entry is None or not path.is_file():
            return None
        data = path.read_bytes()
        if _sha256(data) != entry.get("sha256"):
            warnings.warn(f"cache file {path} does not match its manifest sha256 (truncated or corrupt); fetching it again",
                          DataWarning, stacklevel=2)
            return None
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as error:  # pyarrow raises ArrowInvalid, OSError or ValueError on a damaged file
            warnings.warn(f"cache file {path} does not parse as parquet ({type(error).__name__}); fetching it again",
                          DataWarning, stacklevel=2)
            return None

    def put(self, key: str, frame: pd.DataFrame, source_url: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store ``frame`` under ``key`` (atomic write) and record it in the manifest (with ``extra`` fields)."""
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        data = buffer.getvalue()
        path = self.path(key)
        atomic_write_bytes(path, data, field="cache_dir")
        stamps = frame["timestamp"] if "timestamp" in frame.columns and len(frame) else None
        entry = {
            "file": path.relative_to(self.directory.resolve()).as_posix(),
            "source_url": source_url,
            "retrieved_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sha256": _sha256(data),
            "rows": len(frame),
            "start": stamps.min().strftime("%Y-%m-%dT%H:%M:%SZ") if stamps is not None else None,
            "end": stamps.max().strftime("%Y-%m-%dT%H:%M:%SZ") if stamps is not None else None,
            **(extra or {}),
        }
        manifest = self.manifest()
        manifest[key] = entry
        atomic_write_bytes(self.manifest_path, json.dumps(manifest, indent=1, sort_keys=True).encode(), field="cache_dir")
        return entry


def _utc(value, field: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise InputError(field, value, "not a date") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _range(start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    lo, hi = _utc(start, "start"), _utc(end, "end")
    if lo > hi:
        raise InputError("start", str(start), f"is after end={end!s}")
    return lo, hi


def _ms(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1_000_000)


def _get(session: requests.Session, url: str, params: dict | None = None) -> requests.Response:
    try:
        return session.get(url, params=params, timeout=_TIMEOUT_SECONDS)
    except (requests.ConnectionError, requests.Timeout) as error:
        host = requests.utils.urlparse(url).netloc or url
        kind = "timed out" if isinstance(error, requests.Timeout) else "connection failed"
        raise NetworkError(f"cannot reach {host} ({kind}); check the network or pass --base-url to a mirror",
                           file=url) from None
    except requests.RequestException as error:
        raise DownloadError(f"request failed: {type(error).__name__}", file=url) from error


def parse_kline_csv(text: str, *, file: str = "<klines>") -> pd.DataFrame:
    """Normalise one Binance kline CSV (12 columns, no header) to the snapshot schema.

    The open-time unit is detected per file by magnitude: values above 1e14 are microseconds
    (Binance spot files from 2025-01-01), below are milliseconds.

    Examples
    --------
    >>> row = "1735689600000000,93576.0,95151.15,92888.0,94591.79,10373.3,1735775999999999,9.7e8,1.3e6,5099.6,4.8e8,0"
    >>> parse_kline_csv(row)[["timestamp", "close"]].to_string(index=False)
    '                timestamp    close\\n2025-01-01 00:00:00+00:00 94591.79'
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and not lines[0].split(",")[0].strip().isdigit():
        lines = lines[1:]  # a header row, as some archive files carry
    if not lines:
        raise DownloadError("kline file holds no rows", file=file)
    raw = pd.read_csv(io.StringIO("\n".join(lines)), header=None)
    if raw.shape[1] != 12:
        raise DownloadError(f"expected 12 kline columns, found {raw.shape[1]}", file=file)
    raw.columns = KLINE_COLUMNS
    open_time = raw["open_time"].to_numpy(dtype=np.int64)
    micro = open_time >= _MICROSECOND_THRESHOLD
    if micro.any() and not micro.all():
        row = int(np.argmax(micro != micro[0]))
        raise DownloadError("mixed millisecond and microsecond timestamps in one file", file=file, row=row + 1,
                            column="open_time", value=int(open_time[row]))
    unit: Literal["us", "ms"] = "us" if micro.all() else "ms"
    frame = raw.drop(columns=["open_time", "close_time", "ignore"])
    frame.insert(0, "timestamp", pd.to_datetime(raw["open_time"].astype(np.int64), unit=unit, utc=True))
    frame["num_trades"] = frame["num_trades"].astype(np.int64)
    return frame[NORMALISED_KLINE_COLUMNS]


def _archive_file(session: requests.Session, url: str, cache: Cache, key: str, refresh: bool) -> pd.DataFrame | None:
    """One archive zip, CHECKSUM-verified, parsed, validated and cached; None when it answers 404."""
    frame = None if refresh else cache.get(key)
    if frame is not None:
        return frame
    response = _get(session, url)
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise DownloadError(f"HTTP {response.status_code}", file=url)
    checksum = _get(session, url + ".CHECKSUM")
    if checksum.status_code != 200:
        raise DownloadError(f"no checksum file (HTTP {checksum.status_code}); refusing an unverified download",
                            file=url + ".CHECKSUM")
    expected = checksum.text.split()[0].lower() if checksum.text.split() else ""
    actual = _sha256(response.content)
    if actual != expected:
        raise DownloadError(f"sha256 mismatch: got {actual}, CHECKSUM says {expected}", file=url)
    try:
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            members = [m for m in archive.namelist() if m.endswith(".csv")]
            if len(members) != 1:
                raise DownloadError(f"expected one CSV in the zip, found {members}", file=url)
            text = archive.read(members[0]).decode()
    except zipfile.BadZipFile as error:
        raise DownloadError(f"not a zip file: {error}", file=url) from error
    frame = parse_kline_csv(text, file=url)
    validate_frame(frame, file=url, line_offset=1, gaps="ignore")
    cache.put(key, frame, url)
    return frame


def _months(lo: pd.Timestamp, hi: pd.Timestamp) -> list[tuple[int, int]]:
    months = pd.period_range(lo.tz_localize(None).to_period("M"), hi.tz_localize(None).to_period("M"), freq="M")
    return [(p.year, p.month) for p in months]


def fetch_binance_klines(
    symbol: str,
    start,
    end,
    *,
    interval: str = "1d",
    base_url: str | None = None,
    cache_dir: Path | str | None = None,
    session: requests.Session | None = None,
    progress: bool = True,
    refresh: bool = False,
    missing: str = "warn",
    today=None,
) -> pd.DataFrame:
    """Spot klines of a Binance pair from the public archive, normalised and cached per month.

    Parameters
    ----------
    symbol : str
        Binance pair, e.g. ``"BTCUSDT"``.
    start, end : date-like
        Inclusive UTC range.
    interval : str
        Kline interval of the archive (``"1d"``, ``"1h"``...).
    base_url : str, optional
        Archive root (default ``$MARGINLAB_BINANCE_ARCHIVE_URL`` or https://data.binance.vision).
    cache_dir : Path, optional
        Cache root (default :func:`default_cache_dir`).
    progress : bool
        Show a tqdm bar over the months.
    refresh : bool
        Ignore cached months and download again.
    missing : {"warn", "raise"}
        Months answering 404 (before listing, the current month, delisted pairs) are listed in
        a :class:`DataWarning`, or raise :class:`DownloadError` with ``"raise"``. When every month
        is missing, :class:`DownloadError` is raised either way.
    today : date-like, optional
        The current UTC day (default: now). The current month, and the previous month when its
        monthly file is not published yet, are read from the archive's daily files
        ``/data/spot/daily/klines/...-<YYYY>-<MM>-<DD>.zip`` up to yesterday.

    Returns
    -------
    pandas.DataFrame
        Columns ``timestamp`` (UTC bar open), ``open, high, low, close, volume, quote_volume,
        num_trades, taker_buy_base_volume, taker_buy_quote_volume``, sorted, validated.

    Raises
    ------
    DownloadError
        HTTP errors other than 404, a missing ``.CHECKSUM``, a sha256 mismatch, malformed files.
    """
    if missing not in ("warn", "raise"):
        raise InputError("missing", missing, "must be 'warn' or 'raise'")
    check_symbol(symbol)
    if interval not in BINANCE_INTERVALS:
        raise InputError("interval", interval, f"must be one of {', '.join(BINANCE_INTERVALS)}")
    lo, hi = _range(start, end)
    base = _base(base_url, "MARGINLAB_BINANCE_ARCHIVE_URL", BINANCE_ARCHIVE_URL)
    cache = Cache(cache_dir)
    session = session or requests.Session()
    frames, absent = [], []
    today = _utc(today, "today").normalize() if today is not None else pd.Timestamp.now(tz="UTC").normalize()
    current_month = (today.year, today.month)
    previous_month = ((today - pd.offsets.MonthBegin(1)).year, (today - pd.offsets.MonthBegin(1)).month)
    for year, month in tqdm(_months(lo, hi), desc=f"binance {symbol} {interval}", unit="month", disable=not progress):
        name = f"{symbol}-{interval}-{year:04d}-{month:02d}"
        frame = None
        if (year, month) != current_month:
            frame = _archive_file(session, f"{base}/data/spot/monthly/klines/{symbol}/{interval}/{name}.zip",
                                  cache, f"binance/spot/{symbol}/{interval}/{name}", refresh)
        if frame is None and (year, month) in (current_month, previous_month):
            # the monthly file of the current month (and of the last one, early in a month) is not out
            # yet: the archive's daily files cover those days
            first = max(lo.normalize(), pd.Timestamp(year=year, month=month, day=1, tz="UTC"))
            last = min(hi.normalize(), pd.Timestamp(year=year, month=month, day=1, tz="UTC") + pd.offsets.MonthEnd(0),
                       today - pd.Timedelta(days=1))
            days = []
            day_range = pd.date_range(first, last, freq="1D") if first <= last else pd.DatetimeIndex([], tz="UTC")
            for day in day_range:
                day_name = f"{name}-{day.day:02d}"
                got = _archive_file(session, f"{base}/data/spot/daily/klines/{symbol}/{interval}/{day_name}.zip",
                                    cache, f"binance/spot/{symbol}/{interval}/daily/{day_name}", refresh)
                if got is None:
                    absent.append(f"{day:%Y-%m-%d}")
                else:
                    days.append(got)
            if days:
                frames.append(pd.concat(days, ignore_index=True))
            continue
        if frame is None:
            absent.append(f"{year:04d}-{month:02d}")
            continue
        frames.append(frame)
    if absent:
        message = f"Binance archive has no {symbol} {interval} file for month(s)/day(s) {', '.join(absent)} (HTTP 404)"
        if missing == "raise" or not frames:
            raise DownloadError(message, file=f"{base}/data/spot/monthly/klines/{symbol}/{interval}/")
        warnings.warn(message + "; those months are absent from the result", DataWarning, stacklevel=2)
    result = pd.concat(frames, ignore_index=True).sort_values("timestamp", kind="stable")
    result = result[(result["timestamp"] >= lo) & (result["timestamp"] <= hi)].reset_index(drop=True)
    validate_frame(result, file=f"binance:{symbol}", line_offset=None, gaps="warn")
    return result


def _paged_cache_key(prefix: str, lo: pd.Timestamp, hi: pd.Timestamp) -> str:
    return f"{prefix}-{lo:%Y%m%dT%H%M}-{hi:%Y%m%dT%H%M}"


def fetch_dvol(
    currency: str,
    start,
    end,
    *,
    resolution: str = "1D",
    base_url: str | None = None,
    cache_dir: Path | str | None = None,
    session: requests.Session | None = None,
    progress: bool = True,
    refresh: bool = False,
    max_pages: int = 10_000,
) -> pd.DataFrame:
    """Deribit DVOL bars of ``currency`` (BTC, ETH) in volatility points, following ``continuation``.

    Returns a frame ``timestamp, symbol, open, high, low, close`` (UTC), sorted and validated,
    cached under ``deribit/dvol/``.
    """
    if currency not in ("BTC", "ETH"):
        raise InputError("currency", currency, "DVOL exists for BTC and ETH")
    if resolution not in DVOL_RESOLUTIONS:
        raise InputError("resolution", resolution, f"must be one of {', '.join(DVOL_RESOLUTIONS)}")
    lo, hi = _range(start, end)
    base = _base(base_url, "MARGINLAB_DERIBIT_URL", DERIBIT_URL)
    cache = Cache(cache_dir)
    key = _paged_cache_key(f"deribit/dvol/{currency}-{resolution}", lo, hi)
    cached = None if refresh else cache.get(key)
    if cached is not None:
        return cached
    session = session or requests.Session()
    url = f"{base}/api/v2/public/get_volatility_index_data"
    rows: list[list[float]] = []
    end_ms = _ms(hi)
    with tqdm(desc=f"deribit DVOL {currency}", unit="page", disable=not progress) as bar:
        for _ in range(max_pages):
            params = {"currency": currency, "start_timestamp": _ms(lo), "end_timestamp": end_ms, "resolution": resolution}
            response = _get(session, url, params)
            try:
                payload = response.json()
            except ValueError as error:
                raise DownloadError(f"HTTP {response.status_code}: answer is not JSON", file=url) from error
            if response.status_code != 200 or "error" in payload or "result" not in payload:
                raise DownloadError(f"HTTP {response.status_code}: {payload.get('error', payload)}", file=url)
            result = payload["result"]
            rows.extend(result.get("data") or [])
            bar.update(1)
            continuation = result.get("continuation")
            if continuation is None:
                break
            if int(continuation) >= end_ms:
                raise DownloadError("continuation does not move backwards", file=url, value=continuation)
            end_ms = int(continuation)
        else:
            raise DownloadError(f"more than {max_pages} pages", file=url)
    if not rows:
        raise DownloadError(f"no DVOL data for {currency} between {lo} and {hi}", file=url)
    frame = pd.DataFrame(rows, columns=["timestamp_ms", "open", "high", "low", "close"])
    frame = frame.drop_duplicates("timestamp_ms", keep="last").sort_values("timestamp_ms")
    frame.insert(0, "timestamp", pd.to_datetime(frame.pop("timestamp_ms").astype(np.int64), unit="ms", utc=True))
    frame.insert(1, "symbol", currency)
    frame = frame[(frame["timestamp"] >= lo) & (frame["timestamp"] <= hi)].reset_index(drop=True)
    validate_frame(frame, file=url, line_offset=None, gaps="warn")
    cache.put(key, frame, url)
    return frame


def fetch_funding(
    symbol: str,
    start,
    end,
    *,
    base_url: str | None = None,
    cache_dir: Path | str | None = None,
    session: requests.Session | None = None,
    progress: bool = True,
    refresh: bool = False,
    limit: int = 1000,
    max_pages: int = 10_000,
) -> pd.DataFrame:
    """Binance USD-M funding history of ``symbol`` (e.g. ``"BTCUSDT"``), paging forward by ``startTime``.

    Returns a frame ``timestamp, symbol, funding_rate`` (decimal per funding period, timestamps
    snapped to the hour), sorted and validated, cached under ``binance/funding/``.
    """
    check_symbol(symbol)
    if not 1 <= limit <= 1000:
        raise InputError("limit", limit, "Binance accepts 1..1000")
    lo, hi = _range(start, end)
    base = _base(base_url, "MARGINLAB_BINANCE_FUTURES_URL", BINANCE_FUTURES_URL)
    cache = Cache(cache_dir)
    key = _paged_cache_key(f"binance/funding/{symbol}", lo, hi)
    cached = None if refresh else cache.get(key)
    if cached is not None:
        return cached
    session = session or requests.Session()
    url = f"{base}/fapi/v1/fundingRate"
    records: list[dict[str, Any]] = []
    start_ms, end_ms = _ms(lo), _ms(hi)
    with tqdm(desc=f"binance funding {symbol}", unit="page", disable=not progress) as bar:
        for _ in range(max_pages):
            params = {"symbol": symbol, "startTime": start_ms, "endTime": end_ms, "limit": limit}
            response = _get(session, url, params)
            try:
                page = response.json()
            except ValueError as error:
                raise DownloadError(f"HTTP {response.status_code}: answer is not JSON", file=url) from error
            if response.status_code != 200 or not isinstance(page, list):
                raise DownloadError(f"HTTP {response.status_code}: {page}", file=url)
            records.extend(page)
            bar.update(1)
            if len(page) < limit:
                break
            start_ms = int(page[-1]["fundingTime"]) + 1
            if start_ms > end_ms:
                break
        else:
            raise DownloadError(f"more than {max_pages} pages", file=url)
    if not records:
        raise DownloadError(f"no funding data for {symbol} between {lo} and {hi}", file=url)
    raw = pd.DataFrame.from_records(records)
    for column in ("fundingTime", "fundingRate"):
        if column not in raw.columns:
            raise DownloadError("missing field in the answer", file=url, column=column)
    frame = pd.DataFrame({
        "timestamp": pd.to_datetime(raw["fundingTime"].astype(np.int64), unit="ms", utc=True).dt.round("1h"),
        "symbol": symbol,
        "funding_rate": pd.to_numeric(raw["fundingRate"], errors="coerce"),
    }).drop_duplicates("timestamp", keep="last").sort_values("timestamp").reset_index(drop=True)
    validate_frame(frame, file=url, price_columns=[], value_columns=["funding_rate"], line_offset=None, gaps="warn")
    cache.put(key, frame, url)
    return frame


#: ``--source`` names of ``marginlab data fetch`` and their fetch functions.
FETCHERS: dict[str, Callable[..., pd.DataFrame]] = {"binance": fetch_binance_klines, "deribit-dvol": fetch_dvol, "binance-funding": fetch_funding}


def fetch(source: str, symbols: Iterable[str], start, end, **options) -> dict[str, pd.DataFrame]:
    """Fetch several symbols from one source (``"binance"``, ``"deribit-dvol"``, ``"binance-funding"``)."""
    if source not in FETCHERS:
        raise InputError("source", source, f"must be one of {sorted(FETCHERS)}")
    return {symbol: FETCHERS[source](symbol, start, end, **options) for symbol in symbols}
