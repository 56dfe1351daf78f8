"""``marginlab lending recommend``: risk parameters of a lending market from its market file.

Examples
--------
``marginlab lending recommend --market examples/lending_market.yaml`` reads and checks the market file (reserves,
liquidity, borrower populations, targets), simulates its 24-hour price paths (joint FHS with depeg jumps), searches
each pair's liquidation threshold, LTV and bonus within one governance step for the least capital cost that keeps
VaR95 and EVaR99 of bad debt under the targets, sets supply and borrow caps from liquidity, screens with Risk DAO's
closed-form LTV, tests eMode pairs and replays June 2022 (stETH), March 2023 (USDC) and 2025-10-10 with the current
and the recommended parameters. ``--out FILE`` writes the lending parameter file (YAML or JSON by suffix, with
provenance), checked writable before any work; ``--json`` prints the document on stdout.
"""

from __future__ import annotations

import argparse

from marginlab.cli._common import add_command, emit_json, json_safe, prepare_out, progress, summary_line


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    """Add the ``lending`` command group."""
    parser = add_command(subparsers, "lending", help="DeFi lending-market risk: parameter recommendations",
                         description=__doc__.split("Examples")[0].strip(),
                         examples=["marginlab lending recommend --market examples/lending_market.yaml",
                                   "marginlab lending recommend --market examples/lending_market.yaml --target-var 1000000 --out lending.yaml"])
    commands = parser.add_subparsers(dest="lending_command", required=True, metavar="COMMAND")
    recommend = add_command(commands, "recommend", help="recommend LTV, liquidation threshold and bonus, caps and eMode",
                            description=__doc__.split("Examples")[0].strip(),
                            examples=["marginlab lending recommend --market examples/lending_market.yaml --json"])
    recommend.add_argument("--market", required=True, metavar="FILE", help="lending-market file (YAML/JSON)")
    recommend.add_argument("--target-var", type=float, default=None, metavar="USD", help="VaR95 target of 24-hour bad debt (default: the file's)")
    recommend.add_argument("--target-evar", type=float, default=None, metavar="USD", help="EVaR99 target (default: the file's)")
    recommend.add_argument("--out", default=None, metavar="FILE", help="write the lending parameter file (.yaml/.yml/.json)")
    recommend.add_argument("--json", action="store_true", help="print the parameter document as JSON")
    recommend.add_argument("--no-backtest", action="store_true", help="skip the historical backtests")
    recommend.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    recommend.set_defaults(handler=_recommend)


def _recommend(args: argparse.Namespace) -> int:
    from marginlab.defi.market_file import load_market_file
    from marginlab.defi.recommend import LendingRecommender
    from marginlab.fileio import write_mapping

    target = prepare_out(args.out, suffixes=(".yaml", ".yml", ".json"))
    spec = load_market_file(args.market)
    if args.target_var is not None or args.target_evar is not None:
        spec = spec.with_targets(args.target_var, args.target_evar)
    progress(args, f"simulating {spec.n_paths} paths x {spec.horizon_days * spec.steps_per_day} steps for {len(spec.pairs)} pairs")
    recommendation = LendingRecommender().recommend(spec)
    document = recommendation.to_document()
    backtest = None
    if not args.no_backtest:
        progress(args, "replaying 2022-06 (stETH), 2023-03 (USDC), 2025-10-10")
        backtest = recommendation.backtest()
        document["lending"]["backtest"] = json_safe(backtest.to_dict("records"))
    document = json_safe(document, "lending", strict=True)
    if target is not None:
        write_mapping(target, document, field="--out")
    if args.json:
        emit_json(document)
    else:
        reserves = recommendation.reserve_table().reset_index()
        print("Reserves (current -> recommended)")
        print(reserves.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
        print("\nPairs (24-hour bad debt, USD)")
        print(recommendation.pair_table().reset_index().to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
        if backtest is not None:
            print("\nHistorical backtests (bad debt vs the VaR95 target, USD)")
            print(backtest.to_string(index=False, float_format=lambda v: f"{v:,.0f}"))
    market = recommendation.market
    summary_line(args, f"market VaR95 {market.var95_usd:,.0f} (target {spec.targets.var95_usd:,.0f}), EVaR99 {market.evar99_usd:,.0f} "
                       f"(target {spec.targets.evar99_usd:,.0f}), LaR95 {market.lar95_usd:,.0f} USD"
                       + (f"; written {target}" if target is not None else ""))
    return 0
