"""``marginlab backtest``: walk-forward backtest of a calibration methodology, the published rates on both sides.

Examples
--------
``marginlab backtest --assets BTC ETH SOL BNB --rates-out r.csv --json`` re-runs the recommended
:class:`~marginlab.calibration.methodology.Methodology` through each asset's history (data up to each close only),
writes one row per date, asset, horizon and side to ``r.csv`` (``date, asset, horizon_days, confidence, requirement,
side, rate``: the row dated D holds the rate the parameter file would publish at the close of D -- 1 day / 99% the
maintenance rate, 2 days / 99% the initial rate, with the anti-procyclicality tool and the caps -- covering the loss of
a long (``side = long``: the price falls) or of a short (``side = short``: it rises) from the close of D to the close of
D + h, as a fraction of the value at D) and prints one JSON object per asset, horizon and side with the keys ``asset,
horizon_days, side, requirement, observations, exceptions, rate, kupiec_p, christoffersen_p, green, yellow, red,
average_rate, peak_to_trough`` (``rate`` = exception rate; ``green/yellow/red`` = shares of the 250-observation
traffic-light windows). ``--rates per-side`` tests each side against the file's own side rate instead
(``side_rates.maintenance_long`` for a long, ``maintenance_short`` for a short...; ``requirement`` names it) -- the
default ``one-rate`` tests the one ``maintenance_rate`` / ``initial_rate`` (the larger side) that the isolated and cross
engines charge both sides. Without ``--json`` a table is printed. ``--rates-out`` is checked before any computation; the
progress bar is on stderr.
"""

from __future__ import annotations

import argparse

from marginlab.analysis.methodology_backtest import backtest_methodology
from marginlab.calibration.methodology import Methodology
from marginlab.cli._common import add_command, add_quiet_flag, summary_line
from marginlab.inputs import check_data_range
from marginlab.io import check_writable


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    """Add the ``backtest`` command."""
    parser = add_command(subparsers, "backtest", help="walk-forward backtest of the calibration methodology (exceptions, Kupiec, "
                         "Christoffersen, traffic light, procyclicality)",
                         description="Re-calibrate the methodology through each asset's history (data up to each close only), record "
                         "the margin rate it would have set at every close and test it against the next h days' moves.",
                         examples=["marginlab backtest --assets BTC ETH SOL BNB --rates-out r.csv --json",
                                   "marginlab backtest --assets BTC --start 2023-01-01 --horizons 1 --methodology params.yaml --csv"])
    parser.add_argument("--assets", nargs="+", required=True, metavar="ASSET", help="assets, e.g. BTC ETH SOL BNB")
    parser.add_argument("--methodology", metavar="FILE", default=None,
                        help="methodology YAML/JSON (or a parameter file: its methodology); default: the recommended one")
    parser.add_argument("--start", default=None, help="first date reported, UTC (YYYY-MM-DD); earlier data still estimate")
    parser.add_argument("--end", default=None, help="last day of data used, UTC (YYYY-MM-DD)")
    parser.add_argument("--horizons", nargs="+", type=int, default=[1, 2], metavar="DAYS", help="horizons in days (default 1 2)")
    parser.add_argument("--confidence", type=float, default=0.99,
                        help="confidence (default 0.99: the maintenance and initial rates; 0.997 with --horizons 2: the scan range)")
    parser.add_argument("--sides", nargs="+", choices=["long", "short"], default=["long", "short"],
                        help="sides tested against the one published rate (default long short)")
    parser.add_argument("--rates", choices=["one-rate", "per-side"], default="one-rate", dest="rate_sides",
                        help="test each side against the file's one rate (default) or its own side rate (side_rates)")
    parser.add_argument("--rates-out", metavar="FILE.csv", default=None, help="write the rate of every date, asset and horizon")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object per asset and horizon")
    output.add_argument("--csv", action="store_true", help="print the per-asset, per-horizon table as CSV")
    add_quiet_flag(parser, help="no progress bar on stderr")
    parser.set_defaults(handler=_backtest)


def _backtest(args: argparse.Namespace) -> int:
    target = check_writable(args.rates_out, field="rates_out", suffixes=(".csv",)) if args.rates_out else None
    check_data_range(args.assets, start=args.start, end=args.end)  # an end after the data is an error, not "all of it"
    methodology = Methodology.load(args.methodology) if args.methodology else Methodology()
    check_data_range(methodology.pool.pooled_with, assets_field="methodology pool.pooled_with")  # before any work
    result = backtest_methodology(
        args.assets, methodology, start=args.start, end=args.end, horizons=args.horizons, confidence=args.confidence,
        sides=args.sides, rate_sides=args.rate_sides, progress=not args.quiet,
    )
    if target is not None:
        result.write_rates(target)
    if args.json:
        print(result.to_json())
    elif args.csv:
        print(result.table.to_csv(index=False), end="")
    else:
        print(result.summary())
        if target is not None:
            print(f"wrote {target}")
    exceptions = int(result.table["exceptions"].sum())
    summary_line(args, f"backtest done: {len(args.assets)} assets x {len(args.horizons)} horizons x {len(args.sides)} sides, "
                 f"{exceptions:,} exceptions"
                 + (f"; rates written to {target}" if target is not None else ""))
    return 0
