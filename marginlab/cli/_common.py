"""Shared machinery of the ``marginlab`` command: one place for flags, output, errors and pipes.

Every sub-command module uses these helpers, so that flags mean the same thing everywhere and
every failure ends the same way.

Conventions (the API below implements them)
-------------------------------------------
* Flags: ``--out FILE`` (anything written), ``--asof YYYY-MM-DD`` (last day of data),
  ``--quiet`` (no progress on stderr), ``--json`` / ``--csv`` (machine-readable stdout instead of
  the readable table). Old spellings survive as hidden aliases (``--events``, ``--output``,
  ``--no-progress``, ``--as-of``).
* Output: stdout carries the result only (table, JSON or CSV); progress and the final summary
  line go to stderr. JSON never holds ``NaN``/``Infinity``: a non-finite total is a
  :class:`~marginlab.exceptions.NumericalError` (exit 2), a not-applicable cell is ``null``.
* Exit codes: 0 success; 2 for any :class:`~marginlab.exceptions.MarginLabError` and for bad
  command-line usage, reported on one line ``marginlab: error: ...``; 3 when the network cannot be
  reached (:class:`~marginlab.exceptions.NetworkError`, ``marginlab: network error: ...``); 1 for anything else,
  reported as ``marginlab: internal error: ...`` (``--debug`` or ``MARGINLAB_DEBUG=1`` shows the
  traceback); 130 on Ctrl-C. A closed pipe (``marginlab models | head -1``) ends quietly.
* Help: every sub-command has a description and an ``examples:`` epilog.

API
---
``add_command(subparsers, name, help=..., description=..., examples=[...])``
    Create a sub-command parser (one-line usage errors, examples epilog).
``add_table_flags(parser)`` / ``add_out_flag(parser, ...)`` / ``add_quiet_flag(parser)`` / ``add_asof_flag(parser, ...)``
    The standard flags, with their hidden old spellings.
``emit_table(frame, args, text=None, finite=(...))``
    Print a DataFrame as readable text (or ``text`` if given), ``--json`` records or ``--csv``;
    ``finite`` columns must hold finite numbers.
``emit_json(document)``
    Print a JSON document (strict: no NaN/inf).
``parse_asof(value)``
    Validate a date argument (``InputError`` naming ``--asof`` and the value).
``prepare_out(path, suffixes=...)``
    Check an output path before any work (:func:`marginlab.io.check_writable`).
``progress(args, message)`` / ``summary_line(args, message)``
    Progress and the final summary line on stderr (silenced by ``--quiet``).
``run(handler, args)``
    Call a handler with the error policy above; ``marginlab.cli.main`` uses it.

A command owned by another module adopts this with one line per flag, e.g. replace
``parser.add_argument("--events", ...)`` by ``add_out_flag(parser, aliases=("--events",))`` and
``print(table.to_string())`` by ``emit_table(table, args)``.

>>> import argparse, pandas as pd
>>> from marginlab.cli._common import emit_table
>>> emit_table(pd.DataFrame({"model": ["a"], "initial_margin_usd": [1234.5]}), argparse.Namespace(json=True, csv=False))
[
  {
    "model": "a",
    "initial_margin_usd": 1234.5
  }
]
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from marginlab.exceptions import InputError, MarginLabError, NetworkError, NumericalError

__all__ = [
    "CommandParser",
    "add_asof_flag",
    "add_command",
    "add_out_flag",
    "add_quiet_flag",
    "add_table_flags",
    "emit_json",
    "emit_table",
    "json_safe",
    "parse_asof",
    "prepare_out",
    "progress",
    "run",
    "summary_line",
]

PROG = "marginlab"


# ----------------------------------------------------------------------------- parsers
class CommandParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose usage errors are one line (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def add_command(
    subparsers: Any,
    name: str,
    *,
    help: str,  # noqa: A002 - argparse's own name
    description: str,
    examples: Sequence[str],
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """A sub-command parser with a description and an ``examples:`` epilog (one command per line)."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    return subparsers.add_parser(  # type: ignore[no-any-return]
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kwargs,
    )


def add_table_flags(parser: argparse.ArgumentParser) -> None:
    """``--json`` and ``--csv`` (mutually exclusive) for a command that prints a table."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="print JSON (records) instead of the readable table")
    group.add_argument("--csv", action="store_true", help="print CSV instead of the readable table")


def add_out_flag(
    parser: argparse.ArgumentParser,
    *,
    required: bool = False,
    help: str = "output file",  # noqa: A002
    aliases: Sequence[str] = ("--output",),
    metavar: str = "FILE",
) -> None:
    """``--out FILE``; ``aliases`` (old spellings) are accepted but hidden from the help."""
    parser.add_argument("--out", dest="out", required=required, metavar=metavar, help=help)
    for alias in aliases:
        parser.add_argument(alias, dest="out", help=argparse.SUPPRESS)


def add_quiet_flag(parser: argparse.ArgumentParser, help: str = "no progress on stderr") -> None:  # noqa: A002
    """``--quiet`` (hidden alias ``--no-progress``)."""
    parser.add_argument("--quiet", "-q", dest="quiet", action="store_true", help=help)
    parser.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)


def add_asof_flag(parser: argparse.ArgumentParser, *, required: bool = False,
                  help: str = "last day of data used, UTC (YYYY-MM-DD)") -> None:  # noqa: A002
    """``--asof YYYY-MM-DD`` validated by :func:`parse_asof` (hidden aliases ``--as-of``, ``--as_of``)."""
    parser.add_argument("--asof", dest="asof", required=required, metavar="YYYY-MM-DD", help=help)
    parser.add_argument("--as-of", "--as_of", dest="asof", help=argparse.SUPPRESS)


def parse_asof(value: str, field: str = "--asof") -> pd.Timestamp:
    """A date ``YYYY-MM-DD`` (or ISO timestamp) as a UTC :class:`pandas.Timestamp`.

    >>> parse_asof("2025-02-10")
    Timestamp('2025-02-10 00:00:00+0000', tz='UTC')
    >>> parse_asof("2024-13-45")
    Traceback (most recent call last):
    ...
    marginlab.exceptions.InputError: --asof='2024-13-45': not a valid date; expected YYYY-MM-DD
    """
    text = str(value).strip()
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        raise InputError(field, value, "not a valid date; expected YYYY-MM-DD") from None
    if stamp is pd.NaT or pd.isna(stamp):
        raise InputError(field, value, "not a valid date; expected YYYY-MM-DD")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def prepare_out(path: str | os.PathLike[str] | None, *, field: str = "--out", suffixes: tuple[str, ...] = ()) -> Path | None:
    """Check ``path`` is writable before any work (``None`` passes through)."""
    if path is None:
        return None
    from marginlab.io import check_writable

    return check_writable(path, field=field, suffixes=suffixes)


# ----------------------------------------------------------------------------- output
def json_safe(value: Any, where: str = "value", *, strict: bool = False) -> Any:
    """A JSON-ready copy: numpy scalars become Python numbers, timestamps ISO strings.

    Non-finite floats become ``None`` (a not-applicable cell), or raise
    :class:`NumericalError` naming ``where`` when ``strict``.
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, f"{where}.{k}", strict=strict) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, f"{where}[{i}]", strict=strict) for i, v in enumerate(value)]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        if strict:
            raise NumericalError(where, value, "is not finite (overflow or an invalid input); refusing to print it")
        return None
    if value is pd.NaT:
        return None
    return value


def emit_json(document: Any, stream: Any = None) -> None:
    """Print ``document`` as indented JSON; ``NaN``/``Infinity`` are refused (NumericalError)."""
    try:
        text = json.dumps(document, indent=2, allow_nan=False, default=str)
    except ValueError as error:
        raise NumericalError("json", None, f"output holds a non-finite number ({error})") from None
    print(text, file=stream or sys.stdout)


def _check_finite_columns(frame: pd.DataFrame, finite: Iterable[str], skip: pd.Series | None) -> None:
    for column in finite:
        if column not in frame:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = ~pd.Series(values).apply(lambda v: isinstance(v, int | float) and math.isfinite(v))
        if skip is not None:
            bad &= ~skip
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            label = str(frame.iloc[row, 0])
            raise NumericalError(f"{column}[{label}]", frame[column].iloc[row], "is not finite (overflow?); refusing to print it")


def emit_table(
    frame: pd.DataFrame,
    args: argparse.Namespace,
    *,
    text: str | Callable[[], str] | None = None,
    finite: Iterable[str] = (),
    skip_rows: pd.Series | None = None,
    float_format: Callable[[float], str] | None = None,
    stream: Any = None,
) -> None:
    """Print ``frame`` per ``args.json`` / ``args.csv``, else readable (``text`` or ``frame.to_string``).

    ``finite`` names columns that must hold finite numbers (totals); a NaN or inf there raises
    :class:`NumericalError` in every format, except on the rows flagged by ``skip_rows`` (e.g.
    models that rejected the account, whose reason is in another column).
    """
    out = stream or sys.stdout
    _check_finite_columns(frame, finite, skip_rows)
    if getattr(args, "json", False):
        records = [json_safe(row) for row in frame.to_dict("records")]
        emit_json(records, out)
    elif getattr(args, "csv", False):
        out.write(frame.to_csv(index=False))
    else:
        if callable(text):
            text = text()
        if text is None:
            text = frame.to_string(index=False, float_format=float_format or _readable_float)
        print(text, file=out)


def _readable_float(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"


# ----------------------------------------------------------------------------- progress
def progress(args: argparse.Namespace, message: str) -> None:
    """A progress line on stderr unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def summary_line(args: argparse.Namespace, message: str) -> None:
    """The final summary line on stderr (also shown with ``--quiet``: it is the result's headline)."""
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- errors
def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _warning_line(message: Any, category: type[Warning], filename: str, lineno: int, line: str | None = None) -> str:
    return f"{PROG}: warning: {' '.join(str(message).split())}\n"


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def run(handler: Callable[[argparse.Namespace], int | None], args: argparse.Namespace, *, debug: bool = False) -> int:
    """Call ``handler(args)`` with the package's error policy; returns the exit code.

    ``MarginLabError`` -> one line on stderr, 2; a closed pipe -> quiet, 0; Ctrl-C -> 130; any
    other exception -> ``marginlab: internal error: ...`` on one line, 1 (traceback with ``debug``).
    Warnings are shown as one line each, without file paths.
    """
    previous = warnings.formatwarning
    warnings.formatwarning = _warning_line  # type: ignore[assignment]
    try:
        code = handler(args)
        sys.stdout.flush()
        return int(code or 0)
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except OSError as error:
        if error.errno == errno.EPIPE:
            _silence_stdout()
            return 0
        return _internal(error, debug)
    except NetworkError as error:  # not bad input: the network is down (exit 3)
        if debug:
            traceback.print_exc()
        print(f"{PROG}: network error: {_one_line(error)}", file=sys.stderr)
        return 3
    except MarginLabError as error:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the last resort: never a bare traceback
        return _internal(error, debug)
    finally:
        warnings.formatwarning = previous


def _internal(error: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    hint = "" if debug else " (rerun with --debug for the traceback)"
    print(f"{PROG}: internal error: {type(error).__name__}: {_one_line(error)}{hint}", file=sys.stderr)
    return 1
