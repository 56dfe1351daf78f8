"""``marginlab data``: list the available series, fetch downloads into the cache.

Examples
--------
``marginlab data list`` prints every series of the data files (BTC, ETH, the universe assets,
stablecoins, DVOL, funding, hourly, the 2026 extension's intraday, staking-token, liquidation and
option-chain files) with its date range, row count and origin (embedded, ``MARGINLAB_DATA_DIR`` or
``cache``).
``marginlab data fetch BTC SOL --start 2025-11-01`` downloads Binance daily klines (``BTCUSDT``,
``SOLUSDT``) into the cache and appends the days after the series' end to the daily series ``BTC`` and
``SOL`` once their overlap is checked (:mod:`marginlab.data.extend`); calibrations, backtests and
replays then read the extended series (``--source`` / ``$MARGINLAB_DATA_SOURCE`` choose).
``--source deribit-dvol`` (BTC, ETH) and ``--source binance-funding`` (BTCUSDT...) fetch DVOL and
funding history. Without a network, ``data fetch`` fails in one line with exit code 3. ``marginlab data validate FILE...`` checks your own
normalised CSV files and names the file, line, column and value of the first defect.
"""

from __future__ import annotations

import argparse

import pandas as pd

from marginlab.cli._common import add_command, add_quiet_flag, add_table_flags, emit_table, parse_asof
from marginlab.data import catalogue, dataset_info, extend_series, preferred_source, resolve_dataset, validate_file
from marginlab.data.download import FETCHERS, Cache, default_cache_dir
from marginlab.data.sources import overlaid_datasets
from marginlab.exceptions import UnknownAssetError


def register(subparsers) -> None:
    """Add the ``data`` command group."""
    parser = add_command(subparsers, "data", help="market data: list the snapshot, fetch downloads into the cache",
                         description="List the market-data series marginlab can read, download more into the cache, "
                         "or check your own files.",
                         examples=["marginlab data list", "marginlab data list --kind vol_index --csv",
                                   "marginlab data fetch BTCUSDT --start 2024-01-01 --end 2024-01-31",
                                   "marginlab data validate my_btc_daily.csv"])
    commands = parser.add_subparsers(dest="data_command", required=True)

    listing = add_command(commands, "list", help="every available series with date range and row count",
                          description="Every series of the snapshot (and of the download cache) with its date range and row count.",
                          examples=["marginlab data list", "marginlab data list --kind funding --json"])
    add_table_flags(listing)
    listing.add_argument("--kind", choices=["ohlcv", "vol_index", "funding"], help="only series of this kind")
    listing.add_argument("--cache-dir", default=None, help="also list downloads cached here (default: $MARGINLAB_CACHE_DIR or data/cache)")
    listing.set_defaults(handler=_list)

    fetch = add_command(commands, "fetch", help="download series into the cache (data/cache or $MARGINLAB_CACHE_DIR)",
                        description="Download daily klines (Binance), DVOL (Deribit) or funding (Binance) into the cache; "
                        "each archive is verified against its published checksum. Needs the network.",
                        examples=["marginlab data fetch BTCUSDT ETHUSDT --start 2024-01-01 --end 2024-06-30",
                                  "marginlab data fetch BTC ETH --source deribit-dvol --start 2024-01-01"])
    fetch.add_argument("symbols", nargs="+", metavar="SYMBOL", help="BTCUSDT ... (binance), BTC ETH (deribit-dvol)")
    fetch.add_argument("--start", required=True, help="first day, UTC (YYYY-MM-DD)")
    fetch.add_argument("--end", default=None, help="last day, UTC (default: today)")
    fetch.add_argument("--source", choices=sorted(FETCHERS), default="binance", help="where to download from")
    fetch.add_argument("--base-url", default=None, help="override the source's base URL (mirrors, tests)")
    fetch.add_argument("--cache-dir", default=None, help="cache directory (default: $MARGINLAB_CACHE_DIR or data/cache)")
    fetch.add_argument("--refresh", action="store_true", help="download again even when cached")
    fetch.add_argument("--no-extend", action="store_true",
                       help="only cache the download; do not append it to the daily series (binance source)")
    add_quiet_flag(fetch, help="hide progress bars")
    fetch.set_defaults(handler=_fetch)

    check = add_command(commands, "validate", help="check your own normalised CSV files (sorted, unique, positive, OHLC)",
                        description="Check normalised CSV files; the first defect is named by file, line, column and value.",
                        examples=["marginlab data validate btc_usd_daily.csv --frequency 1D"])
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--frequency", default=None, help="expected bar frequency, e.g. 1D, 1h, 8h (default: inferred)")
    check.set_defaults(handler=_validate)


def _list(args: argparse.Namespace) -> int:
    table = catalogue()
    if args.kind:
        table = table[table["kind"] == args.kind]
    columns = ["name", "dataset", "kind", "frequency", "start", "end", "rows", "origin", "file"]
    if args.json or args.csv:
        emit_table(table[columns], args)
        return 0
    info = dataset_info()
    overlaid = overlaid_datasets()
    where = "embedded in marginlab; sources and terms: marginlab/datasets/NOTICE.md"
    if overlaid:
        where += f"; from $MARGINLAB_DATA_DIR: {', '.join(overlaid)}"
    print(f"dataset: {info['name']} version {info['version']} ({where}; source preference {preferred_source()})")
    emit_table(table[columns], args)
    manifest = Cache(args.cache_dir).manifest()
    if manifest:
        cached = pd.DataFrame([{"key": key, **entry} for key, entry in sorted(manifest.items())])
        print(f"\ncached downloads: {Cache(args.cache_dir).directory}")
        print(cached[["key", "start", "end", "rows", "retrieved_at", "source_url"]].to_string(index=False))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    parse_asof(args.start, "--start")
    if args.end:
        parse_asof(args.end, "--end")
    end = args.end or pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d")
    end_bound = pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(1, unit="ms") if len(end) <= 10 else end
    fetcher = FETCHERS[args.source]
    for symbol in args.symbols:
        pair = f"{symbol}USDT" if args.source == "binance" and not symbol.endswith("USDT") else symbol
        frame = fetcher(pair, args.start, end_bound, base_url=args.base_url, cache_dir=args.cache_dir,
                        progress=not args.quiet, refresh=args.refresh)
        first, last = frame["timestamp"].iloc[0], frame["timestamp"].iloc[-1]
        print(f"{args.source} {pair}: {len(frame)} rows {first:%Y-%m-%d %H:%M} -> {last:%Y-%m-%d %H:%M}")
        if args.source != "binance" or args.no_extend:
            continue
        try:
            dataset = resolve_dataset(symbol)
        except UnknownAssetError:
            print(f"  {symbol} is not a daily series of the data files: cached only")
            continue
        entry = extend_series(dataset, symbol, frame, source_url=f"binance archive {pair} 1d", cache_dir=args.cache_dir)
        overlap = entry["overlap"]
        print(f"  appended {entry['rows']} rows to {symbol} ({dataset}) after {entry['base_end']}; overlap "
              f"{overlap['days']} days, median |diff| {overlap['median_abs_rel_close_diff']:.2g}, "
              f"worst {overlap['worst_abs_rel_close_diff']:.2g} ({overlap['worst_day']})")
    print(f"cache: {args.cache_dir or default_cache_dir()}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    for name in args.files:
        report = validate_file(name, frequency=args.frequency, gaps="ignore")
        print(report.summary())
    return 0
