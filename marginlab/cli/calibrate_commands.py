"""``marginlab calibrate``: write the parameter file of a set of assets with the (default or given) methodology.

Examples
--------
``marginlab calibrate --assets BTC ETH SOL USDC --asof 2022-12-31 --out params.yaml`` checks that ``params.yaml``
can be written, then computes every number of the file with the objects of the recommended
:class:`~marginlab.calibration.methodology.Methodology` on the snapshot history up to 2022-12-31 (inclusive),
validates the result against the schema and writes it atomically (YAML or JSON by suffix). Without ``--asof`` the
last day all requested assets have is used. USDT and USDC are calibrated too, as collateral, unless
``--no-stablecoin-collateral``; their data must reach ``--asof`` (else a one-line error names that option). A
source that ends before ``--asof`` (Deribit DVOL) or is missing is a warning and a fallback written into the file's
provenance. ``--source`` picks the market data (``$MARGINLAB_DATA_DIR`` files, embedded, rows ``data fetch``
appended). ``--methodology FILE`` reads another
methodology (a standalone YAML/JSON, or the ``methodology`` entry of a parameter file). Volatility fits on a
boundary, fallbacks and short histories are printed as warnings (and recorded in the file). ``--json`` prints the
file's document on stdout instead of the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from marginlab.cli._common import add_command, parse_asof
from marginlab.data.extend import SOURCES, use_source
from marginlab.exceptions import MarginLabWarning


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    """Add the ``calibrate`` command."""
    parser = add_command(subparsers, "calibrate", help="calibrate margin parameters (haircuts, ranges, rates) and write the parameter file",
                         description=__doc__.split("Examples")[0].strip(),
                         examples=["marginlab calibrate --assets BTC ETH SOL USDC --asof 2022-12-31 --out params.yaml",
                                   "marginlab calibrate --assets BTC --asof 2024-06-30 --out params.json --methodology my_methodology.yaml --quiet"])
    parser.add_argument("--assets", nargs="+", required=True, metavar="ASSET", help="assets to calibrate, e.g. BTC ETH SOL USDC")
    parser.add_argument("--asof", default=None,
                        help="last day of data used, UTC (YYYY-MM-DD; default: the last day all requested assets have)")
    parser.add_argument("--out", required=True, help="output file, .yaml/.yml or .json (checked before any computation)")
    parser.add_argument("--methodology", metavar="FILE", default=None,
                        help="methodology YAML/JSON (or a parameter file: its methodology); default: the recommended one")
    parser.add_argument("--allow-short-history", action="store_true",
                        help="accept assets with fewer returns than the methodology requires (recorded in the file)")
    parser.add_argument("--no-stablecoin-collateral", action="store_true",
                        help="do not add USDT and USDC (collateral of cross accounts) to the assets")
    parser.add_argument("--source", choices=[s for s in SOURCES if s != "download"], default=None,
                        help="market data: auto (default: $MARGINLAB_DATA_DIR files, else embedded, plus rows "
                        "`data fetch` appended), snapshot, embedded, overlay, cache")
    parser.add_argument("--seed", type=int, default=0, help="seed of the haircut simulations (default 0)")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the per-asset fits (default 1; the file does not depend on it)")
    parser.add_argument("--quiet", action="store_true", help="print only the output path (and warnings on stderr)")
    parser.add_argument("--json", action="store_true", help="print the written document as JSON on stdout")
    parser.set_defaults(handler=_calibrate)


def _calibrate(args: argparse.Namespace) -> int:
    from marginlab.calibration.calibrate import DEFAULT_STABLECOIN_COLLATERAL, calibrate
    from marginlab.calibration.methodology import Methodology
    from marginlab.io import check_writable
    from marginlab.parameters import PARAMETER_FILE_SUFFIXES

    if args.asof is not None:
        parse_asof(args.asof)  # a bad date or output path fails in one line before any work
    target = check_writable(args.out, field="--out", suffixes=PARAMETER_FILE_SUFFIXES)
    methodology = Methodology.load(args.methodology) if args.methodology else Methodology()
    with warnings.catch_warnings(record=True) as caught, use_source(args.source):
        warnings.simplefilter("always", MarginLabWarning)
        parameters = calibrate(
            args.assets, args.asof, methodology,
            stablecoin_collateral=() if args.no_stablecoin_collateral else DEFAULT_STABLECOIN_COLLATERAL,
            allow_short_history=args.allow_short_history, rng=args.seed, n_jobs=args.jobs,
            progress=not (args.quiet or args.json),
        )
    path = parameters.save(target)
    messages = sorted({str(w.message) for w in caught if issubclass(w.category, MarginLabWarning)})
    for message in messages:
        print(f"warning: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps(parameters.to_dict(), indent=2))
    elif not args.quiet:
        print(parameters.summary())
    if not args.json:
        print(f"wrote {path}")
    return 0
