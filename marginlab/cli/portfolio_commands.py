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

from marginlab.margin.derive import load_case


def _derive_case(args: argparse.Namespace) -> int:
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
        print(json.dumps(record), file=sys.stdout)
    return 0


def register(subparsers: Any) -> None:
    """Add ``derive-case`` to the ``marginlab`` command."""
    parser = subparsers.add_parser(
        "derive-case",
        help="margin Derive PMRM v2 JSON test vectors (one JSON line per file)",
        description="Compute MM and IM of Derive PMRM v2 test vectors with the derive-pmrm-v2 preset of the risk-matrix engine.",
    )
    parser.add_argument("files", nargs="+", help="Derive PMRM v2 vector files (JSON)")
    parser.set_defaults(handler=_derive_case)
