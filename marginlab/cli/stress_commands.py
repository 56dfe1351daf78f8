"""``marginlab stress-test``: replay a book through a stress scenario under one or more models.

Examples
--------
``marginlab stress-test --list`` lists the scenario library.

``marginlab stress-test --scenario covid-2020-03-12 --model hyperliquid --model fhs-var
--synthetic 50 --seed 1 --funding 1.0 --events events.csv`` builds a seeded synthetic book of 50
accounts at the start of the window, replays it under both models (traders funded at their
model's initial margin), prints the summary table (capital demanded, accounts liquidated,
shortfall, insurance-fund drawdown, ADL, bad debt) and writes the event log.

``marginlab stress-test --scenario covid-2020-03-12 --model deribit-pm --synthetic 100000 --out events.parquet
--json summary.json`` replays an exchange-sized book on the book-level engine (every account margined in
one vectorised call per step; progress bar per step on stderr) and writes the event log as Parquet.
``--scheduler local`` (a dask ``LocalCluster`` of ``--workers`` workers) or ``--scheduler tcp://HOST:8786``
splits the book by account over a cluster; results are identical to the in-process run.

``--book FILE`` reads the accounts from a YAML/JSON file holding a list of accounts (or
``{accounts: [...]}``, or one account). ``--model flat:0.10:0.05`` is the reference flat-rate
model (IM and MM rates of gross notional); any other name is a preset (``marginlab models``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from marginlab.cli._common import (
    add_command,
    emit_table,
)
from marginlab.exceptions import FileFormatError, InputError
from marginlab.text_table import text_table


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    """Add the ``stress-test`` command."""
    parser = add_command(subparsers, "stress-test", help="replay a book through a stress scenario (liquidations, fund, ADL, bad debt)",
                         description="Replay a book of accounts through a stress scenario under one or more margin models and "
                         "print, per model, capital demanded, accounts liquidated, shortfall, insurance-fund drawdown, ADL and bad debt.",
                         examples=["marginlab stress-test --list",
                                   "marginlab stress-test --scenario covid-2020-03-12 --model hyperliquid --model fhs-var --synthetic 50 --out events.csv"])
    parser.add_argument("--list", action="store_true", help="list the scenario library and exit")
    parser.add_argument("--scenario", help="scenario name (see --list)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME", help="preset name or flat:IM:MM; repeat for several")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--book", help="accounts file (YAML/JSON: a list of accounts, {accounts: [...]} or one account)")
    source.add_argument("--synthetic", type=int, metavar="N", help="seeded synthetic book of N accounts (any size)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic book (default 0)")
    parser.add_argument("--assets", nargs="+", default=None, metavar="ASSET", help="assets of the synthetic book (default BTC ETH)")
    parser.add_argument("--strategies", nargs="+", default=None, metavar="NAME",
                        help="strategies of the synthetic book, equal weights (default: the full mix the chosen models can margin)")
    parser.add_argument("--leverage", nargs="+", type=float, default=None, help="leverage choices of the synthetic book (default 2 3 5 10 20)")
    parser.add_argument("--funding", default="given", help="'given' (accounts' own cash) or a multiple of each model's initial margin")
    parser.add_argument("--insurance-fund", type=float, default=0.0, help="insurance fund at the start, USD (default 0)")
    parser.add_argument("--substeps", type=int, default=2, help="sub-steps per intraday leg of daily paths (default 2)")
    parser.add_argument("--asof", default=None, metavar="DATE", help="base date of a hypothetical scenario (default 2025-02-19)")
    parser.add_argument("--engine", choices=("book", "per-account"), default="book",
                        help="book: every account margined in one vectorised call per step (default); per-account: the reference loop")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run on a dask cluster: 'local' for a LocalCluster on this machine or a scheduler address tcp://HOST:PORT")
    parser.add_argument("--workers", type=int, default=2, help="workers of the local dask cluster (default 2)")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the event log: .parquet (large books) or .csv")
    parser.add_argument("--events", default=None, metavar="FILE", help=argparse.SUPPRESS)  # old spelling of --out FILE.csv
    parser.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE", help="summary as JSON (to FILE, or stdout)")
    parser.add_argument("--csv", nargs="?", const="-", default=None, metavar="FILE", help="summary as CSV (to FILE, or stdout)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no table; only the final summary line")
    parser.set_defaults(handler=_stress_test)


def parse_model(name: str):  # type: ignore[no-untyped-def]
    """A preset by name, or ``flat:IM:MM`` for the reference flat-rate model."""
    if name.startswith("flat:"):
        from marginlab.margin.flat import FlatRateModel

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
    import sys
    import time

    from marginlab.analysis.replay import book_assets, replay
    from marginlab.analysis.stress_scenarios import get_scenario, list_scenarios, scenario_path
    from marginlab.analysis.synthetic import strategies_for_models, synthetic_book
    from marginlab.io import check_writable

    if args.list:
        emit_table(list_scenarios(), args)
        return 0
    if not args.scenario:
        raise InputError("--scenario", None, "is required (or use --list)")
    if not args.model:
        raise InputError("--model", None, "give at least one model (preset name or flat:IM:MM)")
    if args.book is None and args.synthetic is None:
        raise InputError("--book", None, "give --book FILE or --synthetic N")
    if args.synthetic is not None and args.synthetic < 1:
        raise InputError("--synthetic", args.synthetic, "must be a positive number of accounts")
    funding: str | float = args.funding
    if funding != "given":
        try:
            funding = float(funding)
        except ValueError as error:
            raise InputError("--funding", args.funding, "must be 'given' or a number") from error
    outputs = {}
    for flag, value, suffixes in (("--out", args.out, (".parquet", ".csv")), ("--events", args.events, ()),
                                  ("--json", args.json, ()), ("--csv", args.csv, ())):
        if value is not None and value != "-":
            outputs[flag] = check_writable(value, field=flag, suffixes=suffixes)
    scenario = get_scenario(args.scenario)
    path_options: dict[str, Any] = {"substeps": args.substeps}
    if args.asof is not None:
        if scenario.kind != "hypothetical":
            raise InputError("--asof", args.asof, f"only applies to hypothetical scenarios; {scenario.name} is a historical window")
        path_options["base_date"] = args.asof
    plain = {name: parse_model(name) for name in args.model}
    models: dict[str, Any] = dict(plain)
    if scenario.kind == "historical":  # no look-ahead: a model with a point-in-time constructor is rebuilt at each step
        models = {name: (model.as_of if callable(getattr(model, "as_of", None)) else model) for name, model in plain.items()}
    if args.book is not None:
        book = load_book(args.book)
        assets = book_assets(book)
    else:
        assets = args.assets or ["BTC", "ETH"]
    path = scenario_path(scenario, assets, **path_options)
    if args.book is not None:  # the whole book against the first step's market, before any work or write
        from marginlab.analysis.replay import book_expiries
        from marginlab.inputs import validate_book

        validate_book(book, path.snapshot(0, book_expiries(book)))
    if args.synthetic is not None:
        options: dict[str, Any] = {}
        market = path.snapshot(0)
        strategies = dict.fromkeys(args.strategies, 1.0) if args.strategies else None
        # the default mix keeps only what every chosen model can margin (no options for perpetual-only venues)
        options["strategies"] = strategies if strategies is not None else strategies_for_models(list(models.values()), path, assets=assets)
        if args.leverage:
            options["leverage_choices"] = tuple(args.leverage)
        book = synthetic_book(args.synthetic, market, rng=args.seed, assets=assets, **options)
    progress = not args.quiet
    start = time.perf_counter()
    kwargs: dict[str, Any] = {"funding": funding, "insurance_fund_usd": args.insurance_fund, "progress": progress}
    if args.scheduler is not None:
        from marginlab.scale import replay_on_cluster

        result = replay_on_cluster(book, models, path, args.scheduler, workers=args.workers, **kwargs)
    else:
        result = replay(book, models, path, engine=args.engine, **kwargs)
    seconds = time.perf_counter() - start
    table = result.summary()
    if not args.quiet and args.json != "-" and args.csv != "-":
        print(f"Stress test {path.name}: {len(book)} accounts, {len(path)} steps from {path.times[0]:%Y-%m-%d %H:%M} "
              f"to {path.times[-1]:%Y-%m-%d %H:%M} UTC")
        print(f"vols: {dict(path.vol_source)}; funding: {funding}")
        print(text_table(table.T, float_format=lambda v: f"{v:,.2f}", index=True))
    _write_summary(table, args.json, "json", outputs.get("--json"))
    _write_summary(table, args.csv, "csv", outputs.get("--csv"))
    for flag in ("--out", "--events"):
        if flag in outputs:
            count = write_events(result.events, outputs[flag])
            print(f"wrote {count} events to {outputs[flag]}", file=sys.stderr if args.quiet or args.json == "-" or args.csv == "-" else sys.stdout)
    parts = [f"{name}: liquidated={int(row.accounts_liquidated)} shortfall_usd={row.shortfall_usd:,.0f} bad_debt_usd={row.bad_debt_usd:,.0f}"
             for name, row in table.iterrows()]
    line = f"stress-test {path.name}: accounts={len(book)} steps={len(path)} seconds={seconds:.1f}; " + "; ".join(parts)
    print(line, file=sys.stderr if args.json == "-" or args.csv == "-" else sys.stdout)
    return 0


def _write_summary(table: pd.DataFrame, target: str | None, kind: str, path: Path | None) -> None:
    from marginlab.io import atomic_write_text

    if target is None:
        return
    frame = table.reset_index()
    text = frame.to_json(orient="records", indent=2) + "\n" if kind == "json" else frame.to_csv(index=False)
    if target == "-":
        print(text, end="")
    else:
        assert path is not None
        atomic_write_text(path, text, field=f"--{kind}")


def write_events(events: pd.DataFrame, path: str | Path) -> int:
    """Write an event log atomically: Parquet for ``.parquet`` (large books), CSV otherwise; returns the row count."""
    import io

    from marginlab.io import atomic_write_bytes, atomic_write_text

    path = Path(path)
    if path.suffix.lower() == ".parquet":
        frame = events.copy()
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        for column in ("account_id", "action", "symbol"):
            frame[column] = frame[column].astype(str)
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(path, buffer.getvalue(), field="--out")
    else:
        atomic_write_text(path, events.to_csv(index=False), field="--out")
    return len(events)
