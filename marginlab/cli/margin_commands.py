"""``marginlab margin``, ``marginlab models`` and ``marginlab greeks``.

::

    marginlab margin examples/account_btc_options.yaml --market examples/market_2025-01-15.yaml --model deribit-standard
    marginlab margin ACCOUNT --market MARKET --model deribit-pm --model derive-pmrm-v2 --model fhs-var
    marginlab margin ACCOUNT --market MARKET --model binance-unified --json
    marginlab models [--json | --csv]
    marginlab greeks ACCOUNT --market MARKET [--json | --csv]

``margin`` with one model prints the result's
:meth:`~marginlab.margin.base.MarginResult.summary` (totals, components, positions, notes), or
with ``--json`` one JSON object with the totals and the component and position tables. With
several models (``--model A --model B`` or ``--model A B``) it prints one comparison table
(:func:`marginlab.analysis.efficiency.margin_table`): one row per model with initial and
maintenance margin, notional, IM as % of notional, and why a model rejected the account.
``--csv`` prints that table (one row with one model). A total that is NaN or infinite is an
error (exit 2), never printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

import pandas as pd

from marginlab.account import Account
from marginlab.cli._common import add_command, add_table_flags, emit_json, emit_table, json_safe
from marginlab.exceptions import InputError, NumericalError
from marginlab.greeks import greeks_report
from marginlab.margin.presets import available_models, get_model
from marginlab.market import MarketSnapshot
from marginlab.text_table import text_table

_EXAMPLE_ACCOUNT = "examples/account_btc_options.yaml"
_EXAMPLE_MARKET = "examples/market_2025-01-15.yaml"
_TOTALS = ("initial_margin_usd", "maintenance_margin_usd", "equity_usd", "free_margin_usd")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [json_safe(row) for row in frame.to_dict("records")]


def check_totals(result: Any) -> None:
    """Raise :class:`NumericalError` when a total of ``result`` is NaN or infinite."""
    for name in _TOTALS:
        value = float(getattr(result, name))
        if not math.isfinite(value):
            raise NumericalError(
                name, value, f"{result.model} produced a non-finite total (overflow at this size?); check the quantities"
            )


def result_to_json(result: Any) -> dict[str, Any]:
    """The JSON document ``marginlab margin --json`` prints (totals checked finite)."""
    check_totals(result)
    document: dict[str, Any] = {
        "model": result.model,
        "initial_margin_usd": result.initial_margin_usd,
        "maintenance_margin_usd": result.maintenance_margin_usd,
        "equity_usd": result.equity_usd,
        "free_margin_usd": result.free_margin_usd,
        "margin_ratio": json_safe(result.margin_ratio),  # inf (no maintenance) -> null
        "components": _records(result.components),
        "positions": _records(result.positions),
        "notes": list(result.notes),
    }
    for key, value in result.details.items():
        if isinstance(value, pd.DataFrame):
            document[key] = _records(value)
        elif isinstance(value, str | int | float | bool) or value is None:
            document[key] = json_safe(value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            document[key] = json_safe(dataclasses.asdict(value))
    return document


def _model_names(raw: list[list[str]]) -> list[str]:
    names = list(dict.fromkeys(name for group in raw for name in group))
    if not names:
        raise InputError("--model", None, "give at least one model (see 'marginlab models')")
    return names


def comparison_table(account: Account, market: MarketSnapshot, names: list[str],
                     runtime: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per model: ``model, initial_margin_usd, maintenance_margin_usd, notional_usd,
    im_pct_of_notional, error`` (see :func:`~marginlab.analysis.efficiency.margin_table`)."""
    from marginlab.analysis.efficiency import margin_table

    models = {name: get_model(name, **(runtime or {})) for name in names}  # an unknown name is an error, not a row
    table = margin_table({account.account_id: account}, models, market).drop(columns="strategy")
    table["error"] = table["error"].fillna("")
    overflow = table["error"].str.startswith("NumericalError")
    if overflow.any():
        raise NumericalError("model", table.loc[overflow, "model"].iloc[0], table.loc[overflow, "error"].iloc[0])
    if (table["error"] != "").all():
        reasons = "; ".join(f"{m}: {e}" for m, e in zip(table["model"], table["error"]))
        raise InputError("--model", names, f"no model could margin the account ({reasons})")
    return table


def _comparison_text(table: pd.DataFrame) -> str:
    rows = []
    for row in table.to_dict("records"):
        rejected = bool(row["error"])
        pct = float(row["im_pct_of_notional"])
        rows.append(
            {
                "model": row["model"],
                "initial margin USD": "-" if rejected else f"{row['initial_margin_usd']:,.2f}",
                "maintenance margin USD": "-" if rejected else f"{row['maintenance_margin_usd']:,.2f}",
                "IM % of notional": "-" if rejected or not math.isfinite(pct) else f"{pct:.2f}%",
                "note": f"rejected: {row['error']}" if rejected else "",
            }
        )
    frame = pd.DataFrame(rows)
    if not frame["note"].astype(bool).any():
        frame = frame.drop(columns="note")
    notional = float(table["notional_usd"].iloc[0]) if len(table) else 0.0
    return f"Gross notional {notional:,.2f} USD\n" + text_table(frame)


def _margin(args: argparse.Namespace) -> int:
    names = _model_names(args.model)
    account = Account.load(args.account)
    market = MarketSnapshot.load(args.market)
    from marginlab.margin.venues import read_runtime_inputs

    runtime = read_runtime_inputs(open_interest=getattr(args, "open_interest", None))  # run-time venue inputs (dYdX open interest)
    if len(names) == 1 and not args.csv:
        result = get_model(names[0], **runtime).margin(account, market)
        check_totals(result)
        if args.json:
            emit_json(result_to_json(result))
        else:
            print(result.summary())
        return 0
    table = comparison_table(account, market, names, runtime)
    rejected = table["error"] != ""
    emit_table(table, args, text=lambda: _comparison_text(table),
               finite=("initial_margin_usd", "maintenance_margin_usd", "notional_usd"), skip_rows=rejected)
    return 0


def _models(args: argparse.Namespace) -> int:
    emit_table(available_models(), args)
    return 0


def _greeks(args: argparse.Namespace) -> int:
    report = greeks_report(Account.load(args.account), MarketSnapshot.load(args.market))
    table = report.reset_index()
    emit_table(table, args, text=lambda: text_table(report, float_format=lambda v: f"{v:,.4f}", na_rep="-", index=True))
    return 0


def register(subparsers: Any) -> None:
    """Add the ``margin``, ``models`` and ``greeks`` sub-commands."""
    margin = add_command(
        subparsers, "margin",
        help="margin an account under one or several models (one comparison table)",
        description="Margin an account file at a market file. One model: the full explanation (totals, "
        "components, positions, why). Several models (--model A --model B, or --model A B): one comparison "
        "table, with the reason when a model rejects the account. A non-finite total is an error (exit 2).",
        examples=[
            f"marginlab margin {_EXAMPLE_ACCOUNT} --market {_EXAMPLE_MARKET} --model deribit-pm",
            f"marginlab margin {_EXAMPLE_ACCOUNT} --market {_EXAMPLE_MARKET} --model deribit-standard deribit-pm derive-pmrm-v2",
            f"marginlab margin examples/account_perps.yaml --market {_EXAMPLE_MARKET} --model hyperliquid --json",
        ],
    )
    margin.add_argument("account", help="account file (.yaml/.yml/.json, or a positions .csv)")
    margin.add_argument("--market", required=True, help="market snapshot file (.yaml/.json)")
    margin.add_argument("--model", required=True, action="append", nargs="+", metavar="NAME",
                        help="preset name (see 'marginlab models'); repeat or list several to compare")
    margin.add_argument("--open-interest", action="append", metavar="ASSET=USD|FILE",
                        help="market open interest in USD for presets that scale with it (dydx): BTC=3e7, repeatable, or a YAML/JSON file")
    add_table_flags(margin)
    margin.set_defaults(handler=_margin)

    models = add_command(
        subparsers, "models",
        help="list the margin methods and venue presets",
        description="Every registered margin model: name, family (isolated, cross, portfolio...) and description.",
        examples=["marginlab models", "marginlab models --csv > models.csv"],
    )
    add_table_flags(models)
    models.set_defaults(handler=_models)

    greeks = add_command(
        subparsers, "greeks",
        help="net greeks of an account per underlying",
        description="Delta, gamma, vega and theta of an account per underlying (coin and USD) and in total.",
        examples=[f"marginlab greeks {_EXAMPLE_ACCOUNT} --market {_EXAMPLE_MARKET}"],
    )
    greeks.add_argument("account", help="account file")
    greeks.add_argument("--market", required=True, help="market snapshot file")
    add_table_flags(greeks)
    greeks.set_defaults(handler=_greeks)
