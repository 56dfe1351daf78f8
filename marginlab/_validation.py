"""Shared validators for constructor arguments (``__post_init__``) and file fields.

Every validator takes the *field name* first and the value second, returns the cleaned value
and raises an error of :mod:`marginlab.exceptions` naming both -- never a bare ``ValueError``
or ``TypeError`` from ``float("abc")``. Model and schedule constructors use
:class:`~marginlab.exceptions.ParameterError` (the default ``error``); account and market
loaders pass :class:`~marginlab.exceptions.InputError`.

>>> from marginlab._validation import positive_float, fraction
>>> positive_float("spot_range", "0.15")
0.15
>>> fraction("haircut", "abc")
Traceback (most recent call last):
...
marginlab.exceptions.ParameterError: haircut='abc': must be a number
>>> positive_float("max_leverage", 0)
Traceback (most recent call last):
...
marginlab.exceptions.ParameterError: max_leverage=0: must be a positive finite number
"""

from __future__ import annotations

import math
import numbers
from typing import Any, get_args

import pandas as pd

from marginlab.exceptions import InputError, ParameterError

__all__ = ["as_float", "as_int", "check_choice", "choices", "finite_float", "fraction", "non_negative_float", "positive_float"]


def choices(option: Any) -> tuple[str, ...]:
    """The names of an option type (a ``Literal`` of strings), in their order.

    >>> from typing import Literal
    >>> choices(Literal["fhs", "evt"])
    ('fhs', 'evt')
    """
    names = get_args(option)
    if not names or not all(isinstance(name, str) for name in names):
        raise TypeError(f"{option!r} is not a Literal of strings")
    return names


def check_choice(field: str, value: Any, option: Any, *, error: type[InputError] = ParameterError) -> Any:
    """``value`` when it is one of the names of ``option`` (a ``Literal``), else a one-line error naming both.

    The check an option gets at the boundary (a constructor, a file field, a CLI flag): one name per choice, no
    aliases, no case folding.

    >>> from typing import Literal
    >>> check_choice("method", "evt", Literal["fhs", "evt"])
    'evt'
    >>> check_choice("method", "EVT", Literal["fhs", "evt"])
    Traceback (most recent call last):
    ...
    marginlab.exceptions.ParameterError: method='EVT': must be one of ['fhs', 'evt']
    """
    allowed = choices(option)
    if not isinstance(value, str) or value not in allowed:
        raise error(field, value, f"must be one of {list(allowed)}")
    return value


def as_float(field: str, value: Any, *, error: type[InputError] = ParameterError) -> float:
    """``float(value)`` for real numbers and numeric strings; ``error(field, value, ...)`` otherwise.

    Booleans, ``None``, containers and non-numeric strings are rejected (``float(True)`` would
    silently be 1.0). NaN and infinities pass: use :func:`finite_float` to exclude them.
    """
    if isinstance(value, bool) or value is None:
        raise error(field, value, "must be a number")
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise error(field, value, "must be a number") from None
    try:  # numpy 0-d arrays, Decimal, Fraction
        return float(value)
    except (TypeError, ValueError):
        raise error(field, value, "must be a number") from None


def finite_float(field: str, value: Any, *, low: float = -math.inf, high: float = math.inf,
                 error: type[InputError] = ParameterError) -> float:
    """A finite number in ``[low, high]``."""
    number = as_float(field, value, error=error)
    if not math.isfinite(number) or number < low or number > high:
        bounds = "" if (low, high) == (-math.inf, math.inf) else f" in [{low:g}, {high:g}]"
        raise error(field, value, f"must be a finite number{bounds}")
    return number


def positive_float(field: str, value: Any, *, allow_inf: bool = False, error: type[InputError] = ParameterError) -> float:
    """A number > 0, finite unless ``allow_inf`` (e.g. the cap of a last tier)."""
    number = as_float(field, value, error=error)
    if math.isnan(number) or number <= 0 or (number == math.inf and not allow_inf):
        raise error(field, value, "must be a positive number" if allow_inf else "must be a positive finite number")
    return number


def non_negative_float(field: str, value: Any, *, error: type[InputError] = ParameterError) -> float:
    """A finite number >= 0."""
    number = as_float(field, value, error=error)
    if not math.isfinite(number) or number < 0:
        raise error(field, value, "must be a non-negative finite number")
    return number


def fraction(field: str, value: Any, *, error: type[InputError] = ParameterError) -> float:
    """A number in ``[0, 1]`` (haircuts, rates, ratios)."""
    number = as_float(field, value, error=error)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise error(field, value, "must be a fraction in [0, 1]")
    return number


def as_int(field: str, value: Any, *, minimum: int | None = None, error: type[InputError] = ParameterError) -> int:
    """An integer (``3`` or ``3.0``, not ``3.5``, ``"3"`` or ``True``), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(field, value, "must be an integer")
    number_f = float(value)
    if not math.isfinite(number_f) or number_f != round(number_f):
        raise error(field, value, "must be an integer")
    number = round(number_f)
    if minimum is not None and number < minimum:
        raise error(field, value, f"must be at least {minimum}")
    return number


def parse_date(value: Any, field: str = "asof") -> pd.Timestamp:
    """A calendar day (UTC, midnight) from a date-like value; a one-line :class:`InputError` otherwise.

    >>> from marginlab._validation import parse_date
    >>> parse_date("2022-12-31")
    Timestamp('2022-12-31 00:00:00')
    >>> parse_date("31/12/2022x")
    Traceback (most recent call last):
    ...
    marginlab.exceptions.InputError: asof='31/12/2022x': is not a date; use YYYY-MM-DD
    """
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise InputError(field, value, "is not a date; use YYYY-MM-DD") from None
    if stamp is pd.NaT or pd.isna(stamp):
        raise InputError(field, value, "is not a date; use YYYY-MM-DD")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.normalize()
