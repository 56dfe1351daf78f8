"""Loaders: one function per kind of series, each validating what it returns.

Symbol resolution of :func:`load_daily` (``dataset=None``):

* ``BTC`` -> ``btc_usd_daily.csv`` (Bitstamp/Coinbase, from 2011);
* ``ETH`` -> ``eth_usd_daily.csv`` (from 2015);
* ``BTCUSDT`` (and, with ``source="download"``, any Binance ``XXXUSDT`` pair) -> Binance;
* the other universe symbols (SOL, ADA, ...) and the stablecoins USDT and USDC -> the
  22-asset universe file (it reaches the 2023-03 USDC depeg);
* the other stablecoins (DAI, USTC, BUSD, ...) -> ``stablecoins_daily.csv`` (to 2022-11).

``dataset=`` forces a file: ``load_daily("USDC", dataset="stablecoins")``,
``load_daily("BTC", dataset="universe")`` (Yahoo BTC).

``source`` (default: the preference of :func:`marginlab.data.extend.preferred_source`, ``"auto"`` unless
``$MARGINLAB_DATA_SOURCE`` or :func:`~marginlab.data.extend.use_source` says otherwise) picks the file:
``"auto"`` = the ``$MARGINLAB_DATA_DIR`` file when there is one, else the embedded file, plus the rows a
``marginlab data fetch`` appended (:mod:`marginlab.data.extend`); ``"snapshot"`` the same without them;
``"embedded"``, ``"overlay"``, ``"cache"`` (the appended rows must exist) and ``"download"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from marginlab.data.download import fetch_binance_klines, fetch_dvol, fetch_funding
from marginlab.data.extend import SOURCES, check_source, load_extension, preferred_source
from marginlab.data.sources import FILES, Origin, read_snapshot, snapshot_available
from marginlab.data.validate import GAP_POLICIES, GapPolicy, fill_gaps, validate_frame
from marginlab.exceptions import DataError, InputError, UnknownAssetError

__all__ = ["load_daily", "close_panel", "load_series", "load_universe", "load_stablecoins", "load_hourly", "load_funding", "load_dvol",
           "resolve_dataset", "Source"]

Source = Literal["auto", "snapshot", "embedded", "overlay", "cache", "download"]
#: How :func:`close_panel` aligns the symbols' dates.
PanelJoin = Literal["inner", "outer"]
_SOURCES = SOURCES
OHLCV = ["open", "high", "low", "close", "volume"]

_UNIVERSE_SYMBOLS = ("AAVE", "ADA", "AVAX", "BCH", "BNB", "BTC", "DOGE", "DOT", "ETC", "ETH", "HBAR", "LINK", "LTC",
                     "MATIC", "NEAR", "SOL", "TRX", "USDC", "USDT", "XLM", "XMR", "XRP")
_STABLECOIN_SYMBOLS = ("BUSD", "DAI", "FDUSD", "FEI", "FRAX", "GUSD", "HUSD", "LUSD", "MIM", "SUSD", "TUSD", "USD1", "USDC",
                       "USDN", "USDP", "USDT", "USTC")


def _timestamp(value, field: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as error:
        raise InputError(field, value, f"not a date: {error}") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _end_bound(end) -> pd.Timestamp | None:
    """Inclusive upper bound: a date-only ``end`` ("2024-01-31") covers its whole day."""
    hi = _timestamp(end, "end")
    if hi is not None and isinstance(end, str) and len(end) <= 10:
        hi = hi + pd.Timedelta(days=1) - pd.Timedelta(1, unit="ms")
    return hi


def _window(frame: pd.DataFrame, start, end, what: str) -> pd.DataFrame:
    """Rows of a timestamp-indexed frame in [start, end] (end inclusive: a date means its whole day)."""
    lo, hi = _timestamp(start, "start"), _end_bound(end)
    if lo is not None and hi is not None and lo > hi:
        raise InputError("start", str(start), f"is after end={end!s}")
    out = frame.loc[lo:hi]
    if out.empty:
        span = f"{frame.index.min():%Y-%m-%d} to {frame.index.max():%Y-%m-%d}" if len(frame) else "no rows"
        raise DataError(f"{what} has no rows between start={start} and end={end} (available: {span})")
    return out


def _check_source(source: str | None) -> str:
    return preferred_source() if source is None else check_source(source)


def _origin(source: str) -> Origin:
    """The file lookup of a source: ``"embedded"``, ``"overlay"`` or ``"snapshot"`` (overlay, else embedded)."""
    return "embedded" if source == "embedded" else "overlay" if source == "overlay" else "snapshot"


def _check_gaps(gaps: str) -> None:
    if gaps not in GAP_POLICIES:
        raise InputError("gaps", gaps, f"must be one of {GAP_POLICIES}")


def _use_snapshot(source: str, symbol: str | None = None, dataset: str | None = None) -> bool:
    """Lookup order of ``source="auto"``: the snapshot when it holds ``symbol``, else the download cache."""
    if source != "auto":
        return source != "download"
    if not snapshot_available():
        return False
    if symbol is None:
        return True
    try:
        name = resolve_dataset(symbol, dataset)
    except UnknownAssetError:
        return False
    spec = FILES[name]
    return spec.symbol == symbol or spec.symbol is None and symbol in _symbols(name)


def _symbols(dataset: str) -> frozenset[str]:
    return frozenset(read_snapshot(dataset)["symbol"].unique())


def _apply_gaps(frame: pd.DataFrame, frequency: str, gaps: GapPolicy, file: str) -> pd.DataFrame:
    """Report gaps of a timestamp-indexed single series and fill them when asked."""
    flat = frame.reset_index()
    validate_frame(flat, file=file, price_columns=[], frequency=frequency, symbol_column=None, line_offset=None,
                   gaps="ignore" if gaps == "ffill" else gaps)
    if gaps == "ffill":
        return fill_gaps(frame, frequency)
    return frame


def resolve_dataset(symbol: str, dataset: str | None = None) -> str:
    """The snapshot dataset that :func:`load_daily` reads for ``symbol`` (see the module docstring).

    Examples
    --------
    >>> resolve_dataset("BTC"), resolve_dataset("SOL"), resolve_dataset("USDC"), resolve_dataset("DAI")
    ('btc_usd', 'universe', 'universe', 'stablecoins')
    """
    if not isinstance(symbol, str) or not symbol:
        raise InputError("symbol", symbol, "must be a non-empty string such as 'BTC'")
    if dataset is not None:
        if dataset not in ("btc_usd", "eth_usd", "binance", "universe", "stablecoins"):
            raise InputError("dataset", dataset, "must be one of 'btc_usd', 'eth_usd', 'binance', 'universe', 'stablecoins'")
        return dataset
    if symbol == "BTC":
        return "btc_usd"
    if symbol == "ETH":
        return "eth_usd"
    if symbol == "BTCUSDT":
        return "binance"
    if symbol in _UNIVERSE_SYMBOLS:
        return "universe"
    if symbol in _STABLECOIN_SYMBOLS:
        return "stablecoins"
    raise UnknownAssetError("symbol", symbol, "has no daily series in the snapshot; known: "
                            f"{', '.join(sorted(set(_UNIVERSE_SYMBOLS) | set(_STABLECOIN_SYMBOLS) | {'BTCUSDT'}))}")


def load_daily(
    symbol: str,
    start=None,
    end=None,
    *,
    dataset: str | None = None,
    source: Source | None = None,
    gaps: GapPolicy = "warn",
    cache_dir: Path | None = None,
) -> pd.DataFrame:
    """Daily OHLCV bars of ``symbol`` indexed by UTC bar-open time.

    Parameters
    ----------
    symbol : str
        ``"BTC"``, ``"ETH"``, ``"SOL"``, ``"USDC"``, ``"BTCUSDT"``... (resolution in the module docstring).
    start, end : str or Timestamp, optional
        Inclusive window (UTC); a date-only ``end`` includes that day.
    dataset : str, optional
        Force a snapshot file: ``"btc_usd"``, ``"eth_usd"``, ``"binance"``, ``"universe"``, ``"stablecoins"``.
    source : {"auto", "snapshot", "embedded", "overlay", "cache", "download"}, optional
        Default: :func:`~marginlab.data.extend.preferred_source`. ``"auto"``: the snapshot file (the
        ``$MARGINLAB_DATA_DIR`` one when present, else embedded) plus the rows ``marginlab data fetch``
        appended; for a symbol no file holds, an explicit ``"auto"`` reads the download cache (fetching what
        is missing). ``"snapshot"``: the file alone; ``"embedded"`` / ``"overlay"``: that file only;
        ``"cache"``: the file plus its appended rows, which must exist. ``"download"`` fetches the Binance
        archive into the cache (:mod:`marginlab.data.download`); a plain asset ``X`` becomes the pair
        ``XUSDT``, so prices are in USDT, not USD.
    gaps : {"warn", "raise", "ignore", "ffill"}
        Missing days are reported with a :class:`DataWarning` by default; ``"ffill"`` fills them
        (previous close, zero volume, column ``filled``).
    cache_dir : Path, optional
        Download cache directory (default ``$MARGINLAB_CACHE_DIR`` or ``data/cache``).

    Returns
    -------
    pandas.DataFrame
        Columns ``open, high, low, close, volume``, index ``timestamp`` (UTC).

    Examples
    --------
    >>> bars = load_daily("BTC", "2020-03-11", "2020-03-12")
    >>> round(float(bars["close"].iloc[1] / bars["close"].iloc[0] - 1), 3)
    -0.388
    """
    _check_gaps(gaps)
    explicit = source is not None
    chosen = _check_source(source)
    if (not explicit and chosen != "download") or _use_snapshot(chosen, symbol, dataset):
        name = resolve_dataset(symbol, dataset)
        spec = FILES[name]
        frame = read_snapshot(name, origin=_origin(chosen))
        if spec.symbol is None:
            frame = frame[frame["symbol"] == symbol]
            if frame.empty:
                raise UnknownAssetError("symbol", symbol, f"not in {spec.file}")
        elif spec.symbol != symbol:
            raise UnknownAssetError("symbol", symbol, f"{spec.file} holds only {spec.symbol}")
        frame = frame.set_index("timestamp")[OHLCV].sort_index()
        file = spec.file
        if chosen in ("auto", "cache"):
            extension = load_extension(name, symbol, cache_dir)
            if extension is None and chosen == "cache":
                raise DataError(f"source 'cache' asked but no extension of {symbol} ({name}) is cached; run "
                                f"`marginlab data fetch {symbol} --start <a day before {frame.index.max():%Y-%m-%d}>`")
            if extension is not None:
                extension = extension.loc[extension.index > frame.index.max(), OHLCV]
                frame = pd.concat([frame, extension])
                file = f"{spec.file}+cache"
    else:
        pair = symbol if symbol.endswith("USDT") and len(symbol) > 4 else f"{symbol}USDT"
        lo = _timestamp(start, "start") or pd.Timestamp("2017-08-01", tz="UTC")
        hi = _end_bound(end) or pd.Timestamp.now(tz="UTC").normalize()
        frame = fetch_binance_klines(pair, lo, hi, cache_dir=cache_dir).set_index("timestamp")[OHLCV]
        file = f"binance:{pair}"
    frame = _window(frame, start, end, f"{symbol} daily ({file})")
    return _apply_gaps(frame, "1D", gaps, file)


def close_panel(
    symbols: Sequence[str],
    start=None,
    end=None,
    how: PanelJoin = "inner",
    *,
    source: Source | None = None,
) -> pd.DataFrame:
    """Close prices of ``symbols`` aligned on dates, one column per symbol.

    Parameters
    ----------
    symbols : sequence of str
        Symbols as accepted by :func:`load_daily` (no duplicates).
    start, end : optional
        Inclusive window.
    how : {"inner", "outer"}
        ``"inner"`` keeps dates where every symbol has a close (no NaN); ``"outer"`` keeps every
        date and leaves NaN where a symbol has no bar (e.g. before its listing).
    source : {"auto", "snapshot", "embedded", "overlay", "cache", "download"}, optional
        Where the series come from (default the preferred source).

    Returns
    -------
    pandas.DataFrame
        Dates x symbols.

    Examples
    --------
    >>> panel = close_panel(["BTC", "ETH", "SOL"], "2022-11-01", "2022-11-10")
    >>> panel.shape, list(panel.columns)
    ((10, 3), ['BTC', 'ETH', 'SOL'])
    """
    if isinstance(symbols, str):
        symbols = [symbols]
    symbols = list(symbols)
    if not symbols:
        raise InputError("symbols", symbols, "must name at least one symbol")
    if len(set(symbols)) != len(symbols):
        raise InputError("symbols", symbols, "contains duplicates")
    if how not in ("inner", "outer"):
        raise InputError("how", how, "must be 'inner' or 'outer'")
    columns = {s: load_daily(s, start, end, source=source)["close"] for s in symbols}
    panel = pd.concat(columns, axis=1, join="inner" if how == "inner" else "outer")
    if panel.empty:
        raise DataError(f"no common dates for {symbols} between start={start} and end={end}")
    panel.columns.name = None
    return panel


def _long(dataset: str, start, end, symbols: Sequence[str] | None, field: str | None) -> pd.DataFrame:
    frame = read_snapshot(dataset)
    if symbols is not None:
        unknown = sorted(set(symbols) - set(frame["symbol"]))
        if unknown:
            raise UnknownAssetError("symbols", unknown, f"not in {FILES[dataset].file}")
        frame = frame[frame["symbol"].isin(list(symbols))]
    frame = frame.set_index("timestamp").sort_index(kind="stable")
    frame = _window(frame, start, end, FILES[dataset].file)
    if field is None:
        return frame.reset_index()[["timestamp", "symbol", *[c for c in frame.columns if c != "symbol"]]]
    if field not in frame.columns:
        raise InputError("field", field, f"not a column of {FILES[dataset].file}")
    wide = frame.pivot_table(index="timestamp", columns="symbol", values=field, aggfunc="first")
    wide.columns.name = None
    return wide


def load_series(dataset: str, start=None, end=None, *, symbols: Sequence[str] | None = None,
                field: str | None = None) -> pd.DataFrame:
    """Any data file of :data:`~marginlab.data.FILES` by dataset name: long (or wide with ``field``), windowed.

    The files of the 2026 extension are read this way (``"bybit_perp_15m"``, ``"binance_spot_4h"``,
    ``"lst"``, ``"usde_1m"``, ``"liquidations"``, ``"open_interest"``, ``"funding_oi"``...); a table
    (``"day_range_2025_10_10"``, ``"option_chains"``, ``"coingecko"``) is returned whole, windowed on
    ``timestamp`` (``symbols`` and ``field`` do not apply).

    Examples
    --------
    >>> bars = load_series("bybit_perp_15m", "2025-10-10T21:15", "2025-10-10T21:15", symbols=["LINKUSDT"])
    >>> round(float(bars["close"].iloc[0] / bars["open"].iloc[0] - 1), 3)
    -0.288
    >>> usde = load_series("usde_1m", "2025-10-10", "2025-10-10", field="low")
    >>> float(usde["USDEUSDT"].min())
    0.65
    """
    if dataset not in FILES:
        raise InputError("dataset", dataset, f"unknown; choose one of {sorted(FILES)}")
    spec = FILES[dataset]
    if spec.is_table:
        if symbols is not None or field is not None:
            raise InputError("symbols" if symbols is not None else "field", symbols if symbols is not None else field,
                             f"{dataset} is a table; symbols and field do not apply")
        frame = read_snapshot(dataset).set_index("timestamp", drop=False).sort_index(kind="stable")
        return _window(frame, start, end, spec.file).reset_index(drop=True)
    return _long(dataset, start, end, symbols, field)


def load_universe(start=None, end=None, *, symbols: Sequence[str] | None = None, field: str | None = None) -> pd.DataFrame:
    """The 22-asset daily universe (Yahoo Finance, USD).

    Returns the long frame (``timestamp, symbol, open, high, low, close, volume, asset_class``)
    or, with ``field="close"`` (any column), a wide frame dates x symbols (NaN before a listing).

    Parameters
    ----------
    start, end : optional
        Inclusive window (UTC).
    symbols : sequence of str, optional
        Only these assets (default all 22).
    field : str, optional
        A column to return wide (dates x symbols), e.g. ``"close"``.

    Returns
    -------
    pandas.DataFrame
        The long frame, or the wide frame of ``field``.

    Examples
    --------
    >>> closes = load_universe("2023-03-10", "2023-03-12", symbols=["USDC"], field="low")
    >>> round(float(closes.loc["2023-03-11", "USDC"]), 4)
    0.8774
    """
    return _long("universe", start, end, symbols, field)


def load_stablecoins(start=None, end=None, *, symbols: Sequence[str] | None = None, field: str | None = None) -> pd.DataFrame:
    """The 15-stablecoin daily file (to 2022-11), long or wide like :func:`load_universe`.

    Examples
    --------
    >>> ust = load_stablecoins("2022-05-13", "2022-05-13", symbols=["USTC"], field="close")
    >>> round(float(ust["USTC"].iloc[0]), 3)
    0.154
    """
    return _long("stablecoins", start, end, symbols, field)


def load_hourly(symbol: str, start=None, end=None, *, gaps: GapPolicy = "warn") -> pd.DataFrame:
    """Hourly OHLCV bars of BTC or ETH (about 3 months; the volume column is unusable).

    One hour (2025-01-02T14:00Z) is missing in the snapshot: it is reported with a
    :class:`DataWarning` unless ``gaps="ignore"``, and filled with ``gaps="ffill"``.

    Parameters
    ----------
    symbol : str
        ``"BTC"`` or ``"ETH"``.
    start, end : optional
        Inclusive window (UTC).
    gaps : {"warn", "raise", "ignore", "ffill"}
        What a missing hour does.

    Returns
    -------
    pandas.DataFrame
        ``open, high, low, close, volume`` indexed by the hour (UTC).
    """
    _check_gaps(gaps)
    frame = read_snapshot("hourly")
    frame = frame[frame["symbol"] == symbol]
    if frame.empty:
        raise UnknownAssetError("symbol", symbol, "has no hourly series (BTC, ETH)")
    frame = _window(frame.set_index("timestamp")[OHLCV], start, end, f"{symbol} hourly")
    return _apply_gaps(frame, "1h", gaps, FILES["hourly"].file)


def _snapshot_or_fetch(kind: str, symbol: str, unknown: tuple[str, str, str], first_day: str,
                       fetch: Callable[..., pd.DataFrame], start: Any, end: Any, chosen: str,
                       cache_dir: Path | None) -> pd.DataFrame:
    """The rows of ``symbol`` in the snapshot file ``kind`` (``unknown`` = the error's field, value and reason when it
    has none), or those downloaded by ``fetch`` from ``start`` (else ``first_day``) to ``end`` (else now)."""
    if _use_snapshot(chosen):
        frame = read_snapshot(kind, origin=_origin(chosen))
        frame = frame[frame["symbol"] == symbol]
        if frame.empty:
            raise UnknownAssetError(*unknown)
        return frame
    lo = _timestamp(start, "start") or pd.Timestamp(first_day, tz="UTC")
    hi = _end_bound(end) or pd.Timestamp.now(tz="UTC")
    return fetch(symbol, lo, hi, cache_dir=cache_dir)


def load_funding(symbol: str = "BTCUSDT", start=None, end=None, *, source: Source | None = None,
                 cache_dir: Path | None = None) -> pd.DataFrame:
    """Perpetual funding rates, decimal per 8-hour period, indexed by funding time (UTC).

    ``symbol`` is the Binance USD-M pair (``"BTC"`` is accepted for ``"BTCUSDT"``). The snapshot
    holds BTCUSDT only; ``source="download"`` fetches other pairs from ``/fapi/v1/fundingRate``.

    Parameters
    ----------
    symbol : str
        A Binance USD-M pair (``"BTC"`` means ``"BTCUSDT"``).
    start, end : optional
        Inclusive window (UTC).
    source : {"auto", "snapshot", "embedded", "overlay", "cache", "download"}, optional
        Where the series comes from (default the preferred source).
    cache_dir : Path, optional
        The download cache.

    Returns
    -------
    pandas.DataFrame
        ``funding_rate`` indexed by funding time.

    Examples
    --------
    >>> funding = load_funding("BTC", "2024-01-01", "2024-01-01")
    >>> list(funding.columns), len(funding)
    (['funding_rate'], 3)
    """
    pair = f"{symbol}USDT" if not symbol.endswith("USDT") else symbol
    frame = _snapshot_or_fetch("funding", pair, ("symbol", symbol, "the snapshot holds BTCUSDT funding only; use source='download'"),
                               "2019-09-01", fetch_funding, start, end, _check_source(source), cache_dir)
    return _window(frame.set_index("timestamp")[["funding_rate"]], start, end, f"{pair} funding")


def load_dvol(currency: str, start=None, end=None, *, source: Source | None = None, cache_dir: Path | None = None) -> pd.DataFrame:
    """Deribit DVOL daily bars of ``currency`` (BTC or ETH), in volatility points (47.5 = 47.5%).

    Parameters
    ----------
    currency : str
        ``"BTC"`` or ``"ETH"``.
    start, end : optional
        Inclusive window (UTC).
    source : {"auto", "snapshot", "embedded", "overlay", "cache", "download"}, optional
        Where the series comes from (default the preferred source).
    cache_dir : Path, optional
        The download cache.

    Returns
    -------
    pandas.DataFrame
        ``open, high, low, close`` in volatility points, indexed by day (UTC).

    Examples
    --------
    >>> dvol = load_dvol("BTC", "2022-11-09", "2022-11-09")
    >>> list(dvol.columns)
    ['open', 'high', 'low', 'close']
    """
    frame = _snapshot_or_fetch("dvol", currency, ("currency", currency, "has no DVOL series (BTC, ETH)"),
                               "2021-03-24", fetch_dvol, start, end, _check_source(source), cache_dir)
    return _window(frame.set_index("timestamp")[["open", "high", "low", "close"]], start, end, f"{currency} DVOL")

