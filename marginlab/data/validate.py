"""Validation of market-data frames: one :class:`~marginlab.exceptions.DataError` per defect.

Every loader of :mod:`marginlab.data` runs :func:`validate_frame` on what it reads, so a bad
file never turns into a silently wrong margin. Hard defects raise
:class:`~marginlab.exceptions.DataError` whose message names the file, the row (the 1-based
line number in the file, header = line 1, when the frame was read from a file), the column and
the value:

* timestamps that cannot be parsed, are out of order or are duplicated (per symbol in long files);
* NaN prices, prices that are zero or negative;
* ``high < low``, or ``open``/``close`` outside ``[low, high]``;
* mixed frequencies (a step between bars that is not a whole multiple of the series' frequency).

Gaps (missing bars on an otherwise regular grid) are *reported*, not fixed: they are listed in
the :class:`ValidationReport` and announced with a :class:`~marginlab.exceptions.DataWarning`.
They are filled only when the caller asks for it with an explicit policy
(:func:`fill_gaps`, or ``gaps="ffill"`` in the loaders).

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({
...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02"], utc=True),
...     "open": [1.0, 1.0, 1.0], "high": [1.0, 1.0, 1.0], "low": [1.0, 1.0, 1.0], "close": [1.0, 1.0, 1.0]})
>>> validate_frame(frame, file="demo.csv")
Traceback (most recent call last):
...
marginlab.exceptions.DataError: duplicated timestamp 2024-01-02T00:00:00Z (file=demo.csv, row=4, column=timestamp, value='2024-01-02T00:00:00Z')
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd

from marginlab.exceptions import DataError, DataWarning, InputError

__all__ = ["Gap", "ValidationReport", "validate_frame", "validate_file", "fill_gaps", "infer_frequency", "GAP_POLICIES", "GapPolicy",
           "FillPolicy"]

#: Accepted values of the ``gaps`` argument of the loaders.
#: What a loader or validator does with a gap in a series (one name per choice).
GapPolicy = Literal["warn", "raise", "ignore", "ffill"]
GAP_POLICIES: tuple[str, ...] = get_args(GapPolicy)
#: How :func:`fill_gaps` fills a gap.
FillPolicy = Literal["ffill"]

_OHLC = ("open", "high", "low", "close")


@dataclass(frozen=True)
class Gap:
    """A run of missing bars: ``missing`` bars between ``after`` and ``before``."""

    symbol: str | None
    after: pd.Timestamp
    before: pd.Timestamp
    missing: int

    def __str__(self) -> str:
        who = f"{self.symbol}: " if self.symbol else ""
        return f"{who}{self.missing} missing bar(s) between {_iso(self.after)} and {_iso(self.before)}"


@dataclass
class ValidationReport:
    """What :func:`validate_frame` found that is not an outright error.

    Attributes
    ----------
    file : str or None
        The file (or description) the frame came from.
    rows : int
        Number of rows checked.
    frequency : pandas.Timedelta or None
        The bar frequency (inferred or given).
    gaps : list of Gap
        Missing bars on the regular grid.
    """

    file: str | None
    rows: int
    frequency: pd.Timedelta | None
    gaps: list[Gap] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no gap was found."""
        return not self.gaps

    def summary(self) -> str:
        """One line per finding."""
        head = f"{self.file or '<frame>'}: {self.rows} rows, frequency {self.frequency}"
        if self.ok:
            return head + ", no gaps"
        return "\n".join([head + f", {len(self.gaps)} gap(s):"] + [f"  {gap}" for gap in self.gaps])


def _iso(stamp: pd.Timestamp) -> str:
    return pd.Timestamp(stamp).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line(frame: pd.DataFrame, position: int, line_offset: int | None) -> int:
    """Row number reported to the user: file line when known, else 0-based position."""
    if line_offset is None:
        return int(position)
    return int(frame.index[position]) + line_offset


def infer_frequency(timestamps: pd.Series | pd.DatetimeIndex) -> pd.Timedelta | None:
    """The most common step between consecutive timestamps (None for fewer than two)."""
    values = pd.DatetimeIndex(timestamps).as_unit("ns")
    if len(values) < 2:
        return None
    steps = np.diff(values.asi8)
    positive = steps[steps > 0]
    if positive.size == 0:
        return None
    uniques, counts = np.unique(positive, return_counts=True)
    return pd.Timedelta(int(uniques[np.argmax(counts)]), unit="ns")


def validate_frame(
    frame: pd.DataFrame,
    *,
    file: str | None = None,
    price_columns: Sequence[str] | None = None,
    value_columns: Sequence[str] = (),
    frequency: str | pd.Timedelta | None = None,
    symbol_column: str | None = "symbol",
    line_offset: int | None = 2,
    gaps: GapPolicy = "warn",
) -> ValidationReport:
    """Check a market-data frame; raise :class:`DataError` on the first hard defect.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows in file order with a tz-aware ``timestamp`` column (UTC) and price columns.
        Its index must be the 0-based row position in the file (as ``read_csv`` gives).
    file : str, optional
        File name shown in messages.
    price_columns : sequence of str, optional
        Columns that must be finite and strictly positive. Default: the OHLC columns present.
    value_columns : sequence of str
        Columns that must be finite but may be of any sign (e.g. ``funding_rate``).
    frequency : str or Timedelta, optional
        Expected bar frequency (``"1D"``, ``"1h"``, ``"8h"``); inferred per series when omitted.
    symbol_column : str or None
        Column that splits a long-format file into series (ignored when absent).
    line_offset : int or None
        Added to the index to give the row number in messages (2: header on line 1).
        None reports 0-based positions instead.
    gaps : {"warn", "raise", "ignore", "ffill"}
        What to do with gaps: warn with :class:`DataWarning` (default), raise, or say nothing.
        ``"ffill"`` validates like ``"ignore"``; the loaders then call :func:`fill_gaps`.

    Returns
    -------
    ValidationReport
        Frequency and gaps found.
    """
    if gaps not in GAP_POLICIES:
        raise InputError("gaps", gaps, f"must be one of {GAP_POLICIES}")
    if "timestamp" not in frame.columns:
        raise DataError("missing column", file=file, column="timestamp")
    if price_columns is None:
        price_columns = [c for c in _OHLC if c in frame.columns]
    for column in [*price_columns, *value_columns]:
        if column not in frame.columns:
            raise DataError("missing column", file=file, column=column)
    stamps = frame["timestamp"]
    bad = stamps.isna().to_numpy()
    if bad.any():
        pos = int(np.argmax(bad))
        raise DataError("missing or unparsable timestamp", file=file, row=_line(frame, pos, line_offset), column="timestamp")

    for column in [*price_columns, *value_columns]:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        nonfinite = ~np.isfinite(values)
        if nonfinite.any():
            pos = int(np.argmax(nonfinite))
            raise DataError(f"{column} is not a finite number", file=file, row=_line(frame, pos, line_offset),
                            column=column, value=frame[column].iloc[pos])
        if column in price_columns:
            nonpositive = values <= 0
            if nonpositive.any():
                pos = int(np.argmax(nonpositive))
                raise DataError(f"{column} price must be positive", file=file, row=_line(frame, pos, line_offset),
                                column=column, value=float(values[pos]))

    if {"high", "low"} <= set(frame.columns):
        high = frame["high"].to_numpy(dtype=float)
        low = frame["low"].to_numpy(dtype=float)
        inverted = high < low
        if inverted.any():
            pos = int(np.argmax(inverted))
            raise DataError(f"high < low ({high[pos]!r} < {low[pos]!r})", file=file,
                            row=_line(frame, pos, line_offset), column="high", value=float(high[pos]))
        tolerance = 1e-9 * np.maximum(np.abs(high), 1.0)
        for column in ("open", "close"):
            if column not in frame.columns:
                continue
            values = frame[column].to_numpy(dtype=float)
            outside = (values > high + tolerance) | (values < low - tolerance)
            if outside.any():
                pos = int(np.argmax(outside))
                raise DataError(f"{column} outside [low, high] = [{low[pos]!r}, {high[pos]!r}]", file=file,
                                row=_line(frame, pos, line_offset), column=column, value=float(values[pos]))

    expected = pd.Timedelta(frequency) if frequency is not None else None
    report = ValidationReport(file=file, rows=len(frame), frequency=expected)
    groups: list[tuple[str | None, np.ndarray]]
    if symbol_column is not None and symbol_column in frame.columns:
        groups = [(str(sym), np.flatnonzero((frame[symbol_column] == sym).to_numpy())) for sym in pd.unique(frame[symbol_column])]
    else:
        groups = [(None, np.arange(len(frame)))]
    for symbol, positions in groups:
        series_stamps = pd.DatetimeIndex(stamps.iloc[positions]).as_unit("ns")
        ns = series_stamps.asi8
        steps = np.diff(ns)
        if (steps == 0).any():
            k = int(np.argmax(steps == 0)) + 1
            pos = int(positions[k])
            text = _iso(series_stamps[k])
            raise DataError(f"duplicated timestamp {text}" + (f" for {symbol}" if symbol else ""), file=file,
                            row=_line(frame, pos, line_offset), column="timestamp", value=text)
        if (steps < 0).any():
            k = int(np.argmax(steps < 0)) + 1
            pos = int(positions[k])
            text = _iso(series_stamps[k])
            raise DataError(f"timestamps not sorted: {text} comes after {_iso(series_stamps[k - 1])}"
                            + (f" for {symbol}" if symbol else ""), file=file,
                            row=_line(frame, pos, line_offset), column="timestamp", value=text)
        step = expected if expected is not None else infer_frequency(series_stamps)
        if report.frequency is None:
            report.frequency = step
        if step is None or len(steps) == 0:
            continue
        step_ns = step.value
        irregular = steps % step_ns != 0
        if irregular.any():
            k = int(np.argmax(irregular)) + 1
            pos = int(positions[k])
            text = _iso(series_stamps[k])
            raise DataError(f"mixed frequencies: step {pd.Timedelta(int(steps[k - 1]), unit='ns')} from "
                            f"{_iso(series_stamps[k - 1])} is not a multiple of {step}", file=file,
                            row=_line(frame, pos, line_offset), column="timestamp", value=text)
        for k in np.flatnonzero(steps > step_ns).tolist():
            report.gaps.append(Gap(symbol, series_stamps[k], series_stamps[k + 1], int(steps[k] // step_ns) - 1))

    if report.gaps:
        if gaps == "raise":
            first = report.gaps[0]
            raise DataError(f"gap: {first}", file=file, column="timestamp", value=_iso(first.after))
        if gaps == "warn":
            listed = "; ".join(str(g) for g in report.gaps[:5]) + (" ..." if len(report.gaps) > 5 else "")
            warnings.warn(f"{file or 'data'}: {len(report.gaps)} gap(s) left unfilled ({listed}); "
                          "pass gaps='ffill' to fill them explicitly", DataWarning, stacklevel=3)
    return report


def fill_gaps(frame: pd.DataFrame, frequency: str | pd.Timedelta, policy: FillPolicy = "ffill") -> pd.DataFrame:
    """Reindex a timestamp-indexed frame of one series on its full grid and fill the holes.

    Parameters
    ----------
    frame : pandas.DataFrame
        One series, indexed by a sorted UTC ``DatetimeIndex``.
    frequency : str or Timedelta
        Grid step (``"1D"``, ``"1h"``...).
    policy : {"ffill"}
        ``"ffill"``: a missing bar repeats the previous close as open, high, low and close, with
        zero volume; other columns are carried forward. A column ``filled`` marks the new rows.

    Examples
    --------
    >>> import pandas as pd
    >>> index = pd.to_datetime(["2024-01-01", "2024-01-03"], utc=True)
    >>> frame = pd.DataFrame({"open": [1.0, 3.0], "high": [2.0, 3.0], "low": [1.0, 3.0], "close": [2.0, 3.0],
    ...                       "volume": [5.0, 6.0]}, index=index)
    >>> fill_gaps(frame, "1D")[["close", "volume", "filled"]]
                               close  volume  filled
    2024-01-01 00:00:00+00:00    2.0     5.0   False
    2024-01-02 00:00:00+00:00    2.0     0.0    True
    2024-01-03 00:00:00+00:00    3.0     6.0   False
    """
    if policy != "ffill":
        raise InputError("policy", policy, "the only gap-filling policy is 'ffill'")
    if frame.empty:
        return frame.assign(filled=pd.Series(dtype=bool))
    grid = pd.date_range(frame.index[0], frame.index[-1], freq=pd.Timedelta(frequency), name=frame.index.name)
    out = frame.reindex(grid)
    filled = out.isna().all(axis=1).to_numpy()
    if "close" in out.columns:
        close = out["close"].ffill()
        for column in _OHLC:
            if column in out.columns:
                out[column] = out[column].where(~filled, close)
    if "volume" in out.columns:
        out.loc[filled, "volume"] = 0.0
    out = out.ffill()
    out["filled"] = filled
    return out


def validate_file(path, *, frequency: str | pd.Timedelta | None = None, gaps: GapPolicy = "warn") -> ValidationReport:
    """Validate a normalised CSV file (your own data before dropping it in the snapshot directory).

    The file needs a ``timestamp`` column (ISO-8601 UTC) and either OHLC price columns or a
    ``funding_rate`` column; a ``symbol`` column makes it a long file checked per symbol.

    Raises
    ------
    DataError
        On the first defect, naming the file, line, column and value.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = path.write_text("timestamp,open,high,low,close\\n2024-01-01T00:00:00Z,1,2,1,0\\n")
    >>> validate_file(path)
    Traceback (most recent call last):
    ...
    marginlab.exceptions.DataError: close price must be positive (file=mine.csv, row=2, column=close, value=0.0)
    """
    from pathlib import Path

    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read: {error}", file=str(path)) from error
    if "timestamp" not in frame.columns:
        raise DataError("missing column", file=path.name, column="timestamp")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="ISO8601")
    prices = [column for column in _OHLC if column in frame.columns]
    values = ["funding_rate"] if "funding_rate" in frame.columns else []
    if not prices and not values:
        raise DataError("no price column (open/high/low/close) and no funding_rate column", file=path.name)
    return validate_frame(frame, file=path.name, price_columns=prices, value_columns=values, frequency=frequency, gaps=gaps)
