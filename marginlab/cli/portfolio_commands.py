"""Portfolio-margin commands: ``marginlab derive-case`` (Derive PMRM v2 test vectors).

``marginlab derive-case FILE.json [FILE.json ...]`` margins each Derive PMRM v2 JSON vector
through the ``derive-pmrm-v2`` configuration of the risk-matrix engine and prints one JSON
object per line::

    {"file": "test_16_....json", "mm": -398180.9..., "im": -470835.9..., "maintenance_margin_usd": ...,
     "initial_margin_usd": ..., "equity_usd": ..., "worst_scenario": 4, "worst_scenario_label": "spot -18.0%, vol up",
     "worst_family": "regular", "expected_mm": ..., "expected_im": ...}

``mm``/``im`` are Derive's free margins (equity minus requirement; negative = below margin).
``worst_scenario`` is the scenario index (``n_scenarios`` means the basis contingency). The
vector's own expected values are echoed when present. Exit code 2 on a malformed file.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import pandas as pd

from marginlab.cli._common import add_command, emit_json, emit_table, json_safe
from marginlab.margin.derive import load_case


def _derive_case(args: argparse.Namespace) -> int:
    records = []
    for path in args.files:
        case = load_case(path)
        result = case.evaluate()
        grid = case.model.scenarios
        worst = result["worst_scenario"]
        record: dict[str, Any] = {
            "file": str(path),
            "mm": result["mm"],
            "im": result["im"],
            "maintenance_margin_usd": result["maintenance_margin_usd"],
            "initial_margin_usd": result["initial_margin_usd"],
            "equity_usd": result["equity_usd"],
            "worst_scenario": worst,
            "worst_scenario_label": "basis (forward) contingency" if worst == len(grid) else grid.label(worst),
            "worst_family": result["worst_family"],
            "forward_contingency": result["forward_contingency"],
        }
        if "MM" in case.expected and "IM" in case.expected:
            record["expected_mm"] = float(case.expected["MM"])
            record["expected_im"] = float(case.expected["IM"])
        if args.csv or args.json:
            records.append(record)
        else:
            print(json.dumps(json_safe(record, str(path), strict=True)), file=sys.stdout, flush=True)
    if args.json:
        emit_json(records)
    elif args.csv:
        emit_table(pd.DataFrame(records), args, finite=("mm", "im"))
    return 0


def register(subparsers: Any) -> None:
    """Add ``derive-case`` to the ``marginlab`` command."""
    parser = add_command(
        subparsers,
        "derive-case",
        help="margin Derive PMRM v2 JSON test vectors (one JSON line per file)",
        description="Compute MM and IM of Derive PMRM v2 test vectors with the derive-pmrm-v2 preset of the risk-matrix "
        "engine; prints one JSON object per line (--json: one JSON array, --csv: a table).",
        examples=["marginlab derive-case tests/data/derive_pmrm_v2/cases/*.json",
                  "marginlab derive-case tests/data/derive_pmrm_v2/cases/*.json --csv > derive.csv"],
    )
    parser.add_argument("files", nargs="+", help="Derive PMRM v2 vector files (JSON)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="one JSON array instead of JSON lines")
    group.add_argument("--csv", action="store_true", help="a CSV table instead of JSON lines")
    parser.set_defaults(handler=_derive_case)
