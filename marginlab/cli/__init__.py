"""The ``marginlab`` command.

Each command group lives in its own module under :mod:`marginlab.cli` and exposes
``register(subparsers)``; :data:`COMMAND_MODULES` lists them. The shared flags, output writer
(table / ``--json`` / ``--csv``), error policy (exit 2 with one line for a
:class:`~marginlab.exceptions.MarginLabError`, 1 for anything else, ``--debug`` for the
traceback) and broken-pipe handling live in :mod:`marginlab.cli._common`.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from collections.abc import Sequence

from marginlab.cli._common import CommandParser, _silence_stdout, run
from marginlab.exceptions import InputError

#: Modules that add sub-commands (each defines ``register(subparsers)``).
COMMAND_MODULES: tuple[str, ...] = ()
COMMAND_MODULES += ("marginlab.cli.portfolio_commands",)  # derive-case
COMMAND_MODULES += ("marginlab.cli.data_commands",)  # data list / fetch
COMMAND_MODULES += ("marginlab.cli.margin_commands",)  # margin / models / greeks
COMMAND_MODULES += ("marginlab.cli.calibrate_commands",)  # calibrate (parameter file)
COMMAND_MODULES += ("marginlab.cli.stress_commands",)  # stress-test (replay, liquidations)
COMMAND_MODULES += ("marginlab.cli.backtest_commands",)  # backtest (methodology)
COMMAND_MODULES += ("marginlab.cli.lending_commands",)  # lending recommend (DeFi)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="marginlab",
        description="Crypto-derivatives margin: data, models, calibration, stress tests.",
        epilog="examples:\n  marginlab models\n  marginlab margin examples/account_perps.yaml --market examples/market_2025-01-15.yaml "
        "--model binance-brackets --model hyperliquid\n  marginlab COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (also MARGINLAB_DEBUG=1)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def check_environment() -> None:
    """Check the environment variables marginlab reads before any command runs.

    ``MARGINLAB_VENUES`` must name existing folders (``os.pathsep``-separated); a wrong one is an
    :class:`~marginlab.exceptions.InputError` naming the variable and the folder.
    """
    venues = os.environ.get("MARGINLAB_VENUES", "")
    for folder in (part for part in venues.split(os.pathsep) if part.strip()):
        if not os.path.isdir(folder):
            raise InputError("MARGINLAB_VENUES", folder, "is not an existing folder of venue files")


def check_numeric_options(args: argparse.Namespace) -> None:
    """Reject a NaN or infinite number given to any option (argparse's ``type=float`` accepts ``nan`` and ``inf``).

    The error names the option as typed (``--insurance-fund``) and the value.
    """
    for name, value in vars(args).items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, float) and not math.isfinite(item):
                raise InputError(f"--{name.replace('_', '-')}", item, "must be a finite number")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (0 ok, 2 bad input, 1 internal error)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments or os.environ.get("MARGINLAB_DEBUG", "") not in ("", "0")
    arguments = [a for a in arguments if a != "--debug"]  # accepted anywhere on the line
    holder: list[argparse.ArgumentParser] = []

    def setup(_: object) -> None:  # the environment and the command modules' imports get the error policy too
        check_environment()
        holder.append(build_parser())

    code = run(setup, argparse.Namespace(), debug=debug)
    if code != 0:
        return code
    parser = holder[0]
    try:
        args = parser.parse_args(arguments)
    except SystemExit as stop:  # usage error (2) or --help (0)
        return stop.code if isinstance(stop.code, int) else 2
    except BrokenPipeError:  # `marginlab margin --help | head -1`
        _silence_stdout()
        return 0
    def checked(parsed: argparse.Namespace) -> int | None:
        check_numeric_options(parsed)
        return parsed.handler(parsed)  # type: ignore[no-any-return]

    return run(checked, args, debug=debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
