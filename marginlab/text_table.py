"""Plain-text tables that fit a terminal: the one table writer of the command line and the ``summary()`` methods.

:func:`text_table` prints a frame as ``DataFrame.to_string`` does when that fits in ``width`` columns (120 by
default, the width the CLI promises). A wider table is laid out to fit: long headers break at ``_`` onto several
lines, long text cells (explanations, descriptions) wrap at words, and when the columns still do not fit side by
side the table is printed in column blocks, each repeating the first (key) column -- nothing is cut off.
Depends on pandas only (a leaf module: every layer may use it).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from typing import Any

__all__ = ["TABLE_WIDTH", "text_table"]

#: The widest line a table of the command line prints.
TABLE_WIDTH = 120
_GAP = 2  # spaces between two columns
_COST_ROWS = 60  # rows looked at when choosing which column to wrap
_MIN_TEXT = 16  # a text column is not wrapped narrower than this (or its header's longest piece)


def _default_float(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"


def _cell(value: Any, float_format: Callable[[float], str], na_rep: str) -> str:
    if value is None:
        return na_rep
    try:
        if value != value:  # NaN, NaT
            return na_rep
    except (TypeError, ValueError):
        pass
    if isinstance(value, float):
        return float_format(value)
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        item = value.item()
        return float_format(item) if isinstance(item, float) else str(item)
    return " ".join(str(value).split())  # one line per cell before wrapping


def _header_pieces(name: str) -> list[str]:
    """``maintenance_margin_usd`` -> ``['maintenance_', 'margin_', 'usd']`` (where a header may break)."""
    pieces, current = [], ""
    for char in name:
        current += char
        if char in "_ ":
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces or [""]


def _wrap_header(name: str, width: int) -> list[str]:
    lines, current = [], ""
    for piece in _header_pieces(name):
        if current and len(current) + len(piece.rstrip()) > width:
            lines.append(current.rstrip())
            current = ""
        current += piece
    lines.append(current.rstrip())
    return lines


def _wrap_cell(text: str, width: int) -> list[str]:
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width=width, break_long_words=True, break_on_hyphens=False) or [""]


def text_table(
    frame: Any,
    *,
    width: int = TABLE_WIDTH,
    float_format: Callable[[float], str] | None = None,
    index: bool = False,
    na_rep: str = "-",
) -> str:
    """``frame`` as plain text no wider than ``width`` columns (wrapped headers and text, then column blocks).

    Parameters
    ----------
    frame : pandas.DataFrame or Series
        The table (a Series becomes a one-column frame).
    width : int
        The widest line allowed (default :data:`TABLE_WIDTH`, 120).
    float_format : callable, optional
        Formats a float cell (default: thousands separators and 2 places, 4 significant digits below 1).
    index : bool
        Print the index as the first (key) column(s).
    na_rep : str
        Shown for missing values.

    Returns
    -------
    str
        The table; exactly ``frame.to_string(index=index, ...)`` when that fits in ``width``.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"model": ["a", "b"], "initial_margin_usd": [1500.0, 20.0],
    ...                       "explanation": ["a long sentence that explains where the number comes from"] * 2})
    >>> print(text_table(table, width=50))
           initial_
            margin_
    model       usd  explanation
    a      1,500.00  a long sentence that explains
                     where the number comes from
    b         20.00  a long sentence that explains
                     where the number comes from
    >>> max(len(line) for line in text_table(table, width=50).splitlines()) <= 50
    True
    """
    import pandas as pd

    table = frame.to_frame() if isinstance(frame, pd.Series) else frame
    formatter = float_format or _default_float
    plain = table.to_string(index=index, float_format=formatter, na_rep=na_rep)
    if max((len(line) for line in plain.splitlines()), default=0) <= width or table.shape[1] == 0:
        return plain
    if index:
        table = table.reset_index()
    headers = [" ".join(str(column).split()) if not isinstance(column, tuple) else " ".join(map(str, column))
               for column in table.columns]
    numeric = [pd.api.types.is_numeric_dtype(table[column]) and not pd.api.types.is_bool_dtype(table[column])
               for column in table.columns]
    cells = [[_cell(value, formatter, na_rep) for value in table.iloc[:, position]] for position in range(table.shape[1])]
    longest = [max((len(text) for text in column), default=0) for column in cells]
    piece = [max(len(part.rstrip()) for part in _header_pieces(header)) for header in headers]
    natural = [max(len(header), length) for header, length in zip(headers, longest)]
    # the narrowest each column may be: numbers never wrap, text wraps down to _MIN_TEXT, headers break at "_"
    narrowest = [max(length, piece[i]) if numeric[i] else min(natural[i], max(piece[i], _MIN_TEXT))
                 for i, length in enumerate(longest)]
    narrowest = [min(value, width) for value in narrowest]

    def total(widths: list[int]) -> int:
        return sum(widths) + _GAP * (len(widths) - 1)

    def fit(columns: list[int]) -> list[int]:
        """Widths of ``columns`` side by side within ``width``: start wide, narrow the widest text first."""
        widths = {i: natural[i] for i in columns}
        for i in columns:  # headers longer than their numbers break first
            if numeric[i] and total(list(widths.values())) > width:
                widths[i] = narrowest[i]
        sample = range(min(table.shape[0], _COST_ROWS))

        def lines(i: int, w: int) -> list[int]:
            return [1 if numeric[i] else len(_wrap_cell(cells[i][row], w)) for row in sample]

        height = {i: lines(i, widths[i]) for i in columns}
        while total(list(widths.values())) > width:
            shrinkable = [i for i in columns if widths[i] > narrowest[i] and i != 0] or (
                [0] if widths[0] > narrowest[0] else [])  # the key column last
            if not shrinkable:
                break
            # narrow the column that adds the fewest printed lines (the widest on a tie)
            trial = {i: lines(i, widths[i] - 1) for i in shrinkable}
            cost = {i: sum(max([trial[i][k]] + [height[j][k] for j in columns if j != i]) for k in sample)
                    for i in shrinkable}
            chosen = min(shrinkable, key=lambda i: (cost[i], -widths[i], i))
            widths[chosen] -= 1
            height[chosen] = trial[chosen]
        return [widths[i] for i in columns]

    blocks: list[list[int]] = []
    rest = list(range(1, table.shape[1]))
    while True:  # column blocks, each led by the key column, filled greedily at the narrowest widths
        block = [0]
        while rest and total([narrowest[i] for i in [*block, rest[0]]]) <= width:
            block.append(rest.pop(0))
        if len(block) == 1 and rest:  # a column too wide even alone beside the key: give it its own block
            block.append(rest.pop(0))
        blocks.append(block)
        if not rest:
            break
    out: list[str] = []
    for block in blocks:
        widths = fit(block)
        head = [_wrap_header(headers[i], w) for i, w in zip(block, widths)]
        height = max(len(lines) for lines in head)
        rendered = []
        head = [[""] * (height - len(lines)) + lines for lines in head]  # headers end on the line above the data
        for line in range(height):
            rendered.append([lines[line] for lines in head])
        for row in range(table.shape[0]):
            wrapped = [[cells[i][row]] if numeric[i] else _wrap_cell(cells[i][row], w) for i, w in zip(block, widths)]
            for line in range(max(len(lines) for lines in wrapped)):
                rendered.append([(lines[line] if line < len(lines) else "") for lines in wrapped])
        for parts in rendered:
            text = (" " * _GAP).join(part.rjust(w) if numeric[i] else part.ljust(w)
                                     for part, i, w in zip(parts, block, widths))
            out.append(text.rstrip())
        out.append("")
    return "\n".join(out[:-1])
