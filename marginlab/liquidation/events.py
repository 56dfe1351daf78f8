"""The event log of the liquidation engine: one row per action (close, warning, settlement, fund, ADL, write-off).

Every engine path writes the same columns (:data:`EVENT_COLUMNS`). The book engine accumulates rows as column
arrays (:class:`EventLog`) with a sort key ``(step, phase, order, seq)`` -- phase 0 is the per-account part of a
step (settlements, warnings, closes, in account order), phase 1 the book-level settlement (fund, ADL, socialised
loss, bad debt, in claim order) -- and turns them into one DataFrame at the end.

>>> frame = events_frame([event_row(action="warning", account_id="a", margin_ratio=1.3)])
>>> frame.loc[0, "action"], frame.loc[0, "account_id"], float(frame.loc[0, "margin_ratio"]), float(frame.loc[0, "fee_usd"])
('warning', 'a', 1.3, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

#: Columns of every liquidation event log.
EVENT_COLUMNS = (
    "time",
    "account_id",
    "step",
    "action",
    "symbol",
    "quantity",
    "price_usd",
    "notional_usd",
    "delta_quantity",
    "fee_usd",
    "slippage_usd",
    "deficit_usd",
    "transfer_usd",
    "fund_balance_usd",
    "margin_ratio",
    "equity_usd",
)
TEXT_COLUMNS = ("time", "account_id", "action", "symbol")
#: The actions of closes made by the ladder.
CLOSE_ACTIONS = ("partial_liquidation", "full_liquidation")


def event_row(**values: Any) -> dict[str, Any]:
    """One event row: every column of :data:`EVENT_COLUMNS`, numbers 0 and text empty unless given.

    Parameters
    ----------
    **values
        Column -> value.

    Returns
    -------
    dict
    """
    row: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS, 0.0)
    row.update(symbol="", action="", account_id="", step=0, time=None)
    row.update(values)
    return row


def events_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """An event log (list of row dicts) as a DataFrame with :data:`EVENT_COLUMNS`.

    Parameters
    ----------
    rows : sequence of dict

    Returns
    -------
    DataFrame
    """
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "step" else "object" if c in TEXT_COLUMNS else "float64") for c in EVENT_COLUMNS})
    return pd.DataFrame(list(rows), columns=list(EVENT_COLUMNS))


class EventLog:
    """Event rows as column arrays, with the sort key that gives the log its order (module docstring).

    Parameters
    ----------
    offset : int
        Global index of the first account (a part of a book run on its own).
    """

    def __init__(self, offset: int = 0) -> None:
        self.parts: list[dict[str, Any]] = []
        self.offset = offset

    def add(self, *, key_step: int, phase: int, order: Any, seq: Any, n: int, **columns: Any) -> None:
        """Add ``n`` rows: columns broadcast to ``n``, sorted by ``(key_step, phase, order + offset, seq)``."""
        if n == 0:
            return
        part = {k: np.broadcast_to(np.asarray(v), (n,)).copy() if not isinstance(v, list) else np.asarray(v, dtype=object) for k, v in columns.items()}
        part["_key"] = np.stack([np.full(n, key_step), np.full(n, phase), np.broadcast_to(np.asarray(order) + self.offset, (n,)),
                                 np.broadcast_to(np.asarray(seq), (n,))], axis=1)
        self.parts.append(part)

    def frame(self) -> pd.DataFrame:
        """The rows as one DataFrame in key order.

        Returns
        -------
        DataFrame
        """
        if not self.parts:
            return events_frame([])
        keys = np.concatenate([p["_key"] for p in self.parts])
        order = np.lexsort(keys.T[::-1])
        columns: dict[str, Any] = {}
        defaults: dict[str, Any] = {"symbol": "", "action": "", "account_id": "", "step": 0, "time": None}
        for name in EVENT_COLUMNS:
            chunks = []
            for p in self.parts:
                n = len(p["_key"])
                if name in p:
                    chunks.append(np.asarray(p[name], dtype=object if name in TEXT_COLUMNS else None))
                else:
                    default = defaults.get(name, 0.0)
                    chunks.append(np.full(n, default, dtype=object if isinstance(default, str) or default is None else None))
            columns[name] = np.concatenate(chunks)[order]
        frame = pd.DataFrame(columns, columns=list(EVENT_COLUMNS))
        frame["step"] = frame["step"].astype("int64")
        for name in EVENT_COLUMNS:
            if name not in (*TEXT_COLUMNS, "step"):
                frame[name] = frame[name].astype("float64")
        return frame


#: Significant bits kept by :func:`ordering_key` (about 12 decimal digits).
ORDERING_BITS = 40


def ordering_key(values: ArrayLike) -> NDArray[np.float64]:
    """``values`` rounded to :data:`ORDERING_BITS` significant bits: the key amounts are ordered by
    (ADL scores, the deficits a settlement pays largest first), so that amounts equal but for the last
    bits of a sum taken in another order tie exactly and fall back to book order. Exact binary rounding
    (``frexp``/``ldexp``): a value rounds the same alone or in an array; infinities stay infinite.

    Parameters
    ----------
    values : array-like of float

    Returns
    -------
    array of float

    Examples
    --------
    >>> bool(ordering_key(0.1 + 0.2) == ordering_key(0.3)), ordering_key([2.0, float("inf")]).tolist()
    (True, [2.0, inf])
    """
    values = np.asarray(values, dtype=np.float64)
    mantissa, exponent = np.frexp(values)
    finite = np.isfinite(values)
    rounded = np.ldexp(np.round(np.where(finite, mantissa, 0.0) * 2.0**ORDERING_BITS) / 2.0**ORDERING_BITS, exponent)
    return np.asarray(np.where(finite, rounded, values), dtype=np.float64)
