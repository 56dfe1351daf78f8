"""The ``marginlab`` command.

Each command group lives in its own module under :mod:`marginlab.cli` and exposes
``register(subparsers)``; :data:`COMMAND_MODULES` lists them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from marginlab.exceptions import MarginLabError

#: Modules that add sub-commands (each defines ``register(subparsers)``).
COMMAND_MODULES: tuple[str, ...] = ()
COMMAND_MODULES += ("marginlab.cli.portfolio_commands",)  # derive-case
COMMAND_MODULES += ("marginlab.cli.data_commands",)  # data list / fetch
COMMAND_MODULES += ("marginlab.cli.margin_commands",)  # margin / models / greeks
COMMAND_MODULES += ("marginlab.cli.calibrate_commands",)  # calibrate (parameter file)
COMMAND_MODULES += ("marginlab.cli.stress_commands",)  # stress-test (replay, liquidations)
COMMAND_MODULES += ("marginlab.cli.backtest_commands",)  # backtest (methodology)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marginlab", description="Crypto-derivatives margin: data, models, calibration, stress tests.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except MarginLabError as error:
        print(f"marginlab: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
