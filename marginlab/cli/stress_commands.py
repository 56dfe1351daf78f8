"""``marginlab stress-test``: replay a book through a stress scenario under one or more models.

Examples
--------
``marginlab stress-test --list`` lists the scenario library.

``marginlab stress-test --scenario covid-2020-03-12 --model hyperliquid --model fhs-var
--synthetic 50 --seed 1 --funding 1.0 --events events.csv`` builds a seeded synthetic book of 50
accounts at the start of the window, replays it under both models (traders funded at their
model's initial margin), prints the summary table (capital demanded, accounts liquidated,
shortfall, insurance-fund drawdown, ADL, bad debt) and writes the event log.

``--book FILE`` reads the accounts from a YAML/JSON file holding a list of accounts (or
``{accounts: [...]}``, or one account). ``--model flat:0.10:0.05`` is the reference flat-rate
model (IM and MM rates of gross notional); any other name is a preset (``marginlab models``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from marginlab.exceptions import FileFormatError, InputError


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    """Add the ``stress-test`` command."""
    parser = subparsers.add_parser("stress-test", help="replay a book through a stress scenario (liquidations, fund, ADL, bad debt)")
    parser.add_argument("--list", action="store_true", help="list the scenario library and exit")
    parser.add_argument("--scenario", help="scenario name (see --list)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME", help="preset name or flat:IM:MM; repeat for several")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--book", help="accounts file (YAML/JSON: a list of accounts, {accounts: [...]} or one account)")
    source.add_argument("--synthetic", type=int, metavar="N", help="seeded synthetic book of N accounts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic book (default 0)")
    parser.add_argument("--assets", nargs="+", default=None, metavar="ASSET", help="assets of the synthetic book (default BTC ETH)")
    parser.add_argument("--strategies", nargs="+", default=None, metavar="NAME",
                        help="strategies of the synthetic book, equal weights (default: the full mix, including options)")
    parser.add_argument("--leverage", nargs="+", type=float, default=None, help="leverage choices of the synthetic book (default 2 3 5 10 20)")
    parser.add_argument("--funding", default="given", help="'given' (accounts' own cash) or a multiple of each model's initial margin")
    parser.add_argument("--insurance-fund", type=float, default=0.0, help="insurance fund at the start, USD (default 0)")
    parser.add_argument("--substeps", type=int, default=2, help="sub-steps per intraday leg of daily paths (default 2)")
    parser.add_argument("--events", help="write the event log to this CSV file")
    parser.set_defaults(handler=_stress_test)


def parse_model(name: str):  # type: ignore[no-untyped-def]
    """A preset by name, or ``flat:IM:MM`` for the reference flat-rate model."""
    if name.startswith("flat:"):
        from marginlab.analysis.liquidation import FlatRateModel

        try:
            _, im, mm = name.split(":")
            return FlatRateModel(float(im), float(mm), preset_name=name)
        except ValueError as error:
            raise InputError("model", name, "flat model must read flat:IM_RATE:MM_RATE, e.g. flat:0.1:0.05") from error
    from marginlab.margin.presets import get_model

    return get_model(name)


def load_book(path: str | Path):  # type: ignore[no-untyped-def]
    """Accounts from a YAML/JSON file: a list of accounts, ``{accounts: [...]}`` or one account."""
    from marginlab.account import Account, read_mapping

    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"{path}: no such book file")
    if path.suffix.lower() == ".csv":
        return (Account.load(path),)
    data = read_mapping(path)
    if isinstance(data, dict) and "accounts" in data:
        data = data["accounts"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise FileFormatError(f"{path}: a book file holds a non-empty list of accounts")
    accounts = []
    for i, record in enumerate(data):
        account = Account.from_dict(record, f"{path}: accounts[{i}]")
        if "account_id" not in record:
            account = Account(account.positions, account.cash_usd, dict(account.collateral), f"account-{i}")
        accounts.append(account)
    return tuple(accounts)


def _stress_test(args: argparse.Namespace) -> int:
    from marginlab.analysis.replay import book_assets, replay
    from marginlab.analysis.stress_scenarios import list_scenarios, scenario_path
    from marginlab.analysis.synthetic import synthetic_book

    if args.list:
        print(list_scenarios().to_string(index=False))
        return 0
    if not args.scenario:
        raise InputError("--scenario", None, "is required (or use --list)")
    if not args.model:
        raise InputError("--model", None, "give at least one model (preset name or flat:IM:MM)")
    if args.book is None and args.synthetic is None:
        raise InputError("--book", None, "give --book FILE or --synthetic N")
    funding: str | float = args.funding
    if funding != "given":
        try:
            funding = float(funding)
        except ValueError as error:
            raise InputError("--funding", args.funding, "must be 'given' or a number") from error
    models = {name: parse_model(name) for name in args.model}
    if args.book is not None:
        book = load_book(args.book)
        assets = book_assets(book)
    else:
        assets = args.assets or ["BTC", "ETH"]
    path = scenario_path(args.scenario, assets, substeps=args.substeps)
    if args.synthetic is not None:
        options: dict[str, Any] = {}
        if args.strategies:
            options["strategies"] = dict.fromkeys(args.strategies, 1.0)
        if args.leverage:
            options["leverage_choices"] = tuple(args.leverage)
        book = synthetic_book(args.synthetic, path.snapshot(0), rng=args.seed, assets=assets, **options)
    result = replay(book, models, path, funding=funding, insurance_fund_usd=args.insurance_fund)
    table = result.summary()
    print(f"Stress test {path.name}: {len(book)} accounts, {len(path)} steps from {path.times[0]:%Y-%m-%d %H:%M} to {path.times[-1]:%Y-%m-%d %H:%M} UTC")
    print(f"vols: {dict(path.vol_source)}; funding: {funding}")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.T.to_string(float_format=lambda v: f"{v:,.2f}"))
    if args.events:
        result.events.to_csv(args.events, index=False)
        print(f"wrote {len(result.events)} events to {args.events}")
    return 0
