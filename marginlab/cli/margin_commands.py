"""``marginlab margin``, ``marginlab models`` and ``marginlab greeks``.

::

    marginlab margin examples/account_btc_options.yaml --market examples/market_2025-01-15.yaml --model deribit-standard
    marginlab margin ACCOUNT --market MARKET --model binance-unified --json
    marginlab models [--json]
    marginlab greeks ACCOUNT --market MARKET [--json]

``margin`` prints the result's :meth:`~marginlab.margin.base.MarginResult.summary` (totals,
components, positions, notes), or with ``--json`` one JSON object with the totals and the
component and position tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from typing import Any

import pandas as pd

from marginlab.account import Account
from marginlab.greeks import greeks_report
from marginlab.margin.presets import available_models, get_model
from marginlab.market import MarketSnapshot


def _clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf become null, numpy scalars become Python numbers."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def result_to_json(result: Any) -> dict[str, Any]:
    """The JSON document ``marginlab margin --json`` prints."""
    document: dict[str, Any] = {
        "model": result.model,
        "initial_margin_usd": result.initial_margin_usd,
        "maintenance_margin_usd": result.maintenance_margin_usd,
        "equity_usd": result.equity_usd,
        "free_margin_usd": result.free_margin_usd,
        "margin_ratio": _clean(result.margin_ratio),
        "components": _records(result.components),
        "positions": _records(result.positions),
        "notes": list(result.notes),
    }
    for key, value in result.details.items():
        if isinstance(value, pd.DataFrame):
            document[key] = _records(value)
        elif isinstance(value, str | int | float | bool) or value is None:
            document[key] = _clean(value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            document[key] = {k: _clean(v) for k, v in dataclasses.asdict(value).items()}
    return document


def _margin(args: argparse.Namespace) -> int:
    account = Account.load(args.account)
    market = MarketSnapshot.load(args.market)
    from marginlab.margin.venues import read_runtime_inputs

    runtime = read_runtime_inputs(open_interest=getattr(args, "open_interest", None))  # venues helper: run-time inputs
    result = get_model(args.model, **runtime).margin(account, market)
    if args.json:
        print(json.dumps(result_to_json(result), indent=2))
    else:
        print(result.summary())
    return 0


def _models(args: argparse.Namespace) -> int:
    table = available_models()
    if args.json:
        print(json.dumps(_records(table), indent=2))
    else:
        print(table.to_string(index=False))
    return 0


def _greeks(args: argparse.Namespace) -> int:
    report = greeks_report(Account.load(args.account), MarketSnapshot.load(args.market))
    if args.json:
        print(json.dumps(_records(report.reset_index()), indent=2))
    else:
        print(report.to_string(float_format=lambda v: f"{v:,.4f}"))
    return 0


def register(subparsers: Any) -> None:
    """Add the ``margin``, ``models`` and ``greeks`` sub-commands."""
    margin = subparsers.add_parser("margin", help="margin an account file at a market file with a preset model")
    margin.add_argument("account", help="account file (.yaml/.yml/.json, or a positions .csv)")
    margin.add_argument("--market", required=True, help="market snapshot file (.yaml/.json)")
    margin.add_argument("--model", required=True, help="preset name (see 'marginlab models')")
    margin.add_argument("--json", action="store_true", help="print JSON instead of the readable summary")
    margin.add_argument("--open-interest", action="append", metavar="ASSET=USD|FILE",
                        help="market open interest in USD for presets that scale with it (dydx): BTC=3e7, repeatable, or a YAML/JSON file")
    margin.set_defaults(handler=_margin)

    models = subparsers.add_parser("models", help="list the margin methods and venue presets")
    models.add_argument("--json", action="store_true", help="print JSON")
    models.set_defaults(handler=_models)

    greeks = subparsers.add_parser("greeks", help="net greeks of an account per underlying")
    greeks.add_argument("account", help="account file")
    greeks.add_argument("--market", required=True, help="market snapshot file")
    greeks.add_argument("--json", action="store_true", help="print JSON")
    greeks.set_defaults(handler=_greeks)
