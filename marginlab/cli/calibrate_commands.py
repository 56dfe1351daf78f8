"""``marginlab calibrate``: write the calibrated parameter file for a set of assets.

Examples
--------
``marginlab calibrate --assets BTC ETH USDC --asof 2025-01-31 --out params.yaml`` fits the
volatility models on the snapshot history up to 2025-01-31 (inclusive), calibrates haircuts,
scan ranges, vol shocks, extreme moves and maintenance/initial rates, validates the result
against the parameter-file schema and writes it (YAML or JSON by suffix). ``--fast`` uses coarse
settings (5,000 paths, 750-day window, GJR/t only, no diagnostics).
"""

from __future__ import annotations

import argparse
import warnings

from marginlab.cli._common import add_command, add_out_flag, parse_asof, prepare_out
from marginlab.exceptions import MarginLabWarning


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    """Add the ``calibrate`` command."""
    parser = add_command(subparsers, "calibrate", help="calibrate margin parameters (haircuts, ranges, rates) and write the parameter file",
                         description=__doc__.split("Examples")[0].strip(),
                         examples=["marginlab calibrate --assets BTC ETH USDC --asof 2025-01-31 --out params.yaml",
                                   "marginlab calibrate --assets BTC --asof 2024-06-30 --out params.json --fast --quiet"])
    parser.add_argument("--assets", nargs="+", required=True, metavar="ASSET", help="assets to calibrate, e.g. BTC ETH USDC")
    parser.add_argument("--asof", required=True, help="last day of data used, UTC (YYYY-MM-DD)")
    add_out_flag(parser, required=True, help="output file, .yaml/.yml or .json")
    parser.add_argument("--fast", action="store_true", help="coarse settings (tests, quick looks)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulations (default 0)")
    parser.add_argument("--window-days", type=int, default=None, help="days of returns per fit (default 1500, fast 750)")
    parser.add_argument("--haircut-horizon-days", type=int, default=None, help="liquidation horizon of the haircuts (default 3)")
    parser.add_argument("--quiet", action="store_true", help="print only the output path")
    parser.set_defaults(handler=_calibrate)


def _calibrate(args: argparse.Namespace) -> int:
    from marginlab.calibration.params import CalibrationSettings, calibrate

    parse_asof(args.asof)  # a bad date or output path fails in one line before any work
    prepare_out(args.out, suffixes=(".yaml", ".yml", ".json"))
    overrides = {}
    if args.window_days is not None:
        overrides["window_days"] = args.window_days
    if args.haircut_horizon_days is not None:
        overrides["haircut_horizon_days"] = args.haircut_horizon_days
    settings = CalibrationSettings.fast(**overrides) if args.fast else CalibrationSettings(**overrides)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MarginLabWarning)
        parameters = calibrate(args.assets, args.asof, settings=settings, rng=args.seed, progress=not args.quiet)
    path = parameters.save(args.out)
    if not args.quiet:
        print(parameters.summary())
        messages = sorted({str(w.message) for w in caught if issubclass(w.category, MarginLabWarning)})
        if messages:
            print("\nWarnings (also recorded per asset under provenance.warnings):")
            for message in messages:
                print(f"  - {message}")
    print(f"wrote {path}")
    return 0
