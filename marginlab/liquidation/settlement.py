"""Cash settlement of expired options and futures, on the book's arrays.

At a step's time, every open option or future whose expiry has passed is settled at the index ``S``: an option
pays ``q x max(S - K, 0)`` (call) or ``q x max(K - S, 0)`` (put); a linear future ``q x (S - entry)``; an inverse
future ``face x (1/entry - 1/S)`` coins valued at ``S`` (:func:`~marginlab.valuation.inverse_pnl_usd`). A position
without an entry price settles as entered at ``S``. The amount moves into cash and the row is closed; one
``settlement`` row per position is logged, before the account's ladder rows.

>>> from marginlab.account import Account
>>> from marginlab.book.state import BookState, StepMarket
>>> from marginlab.instruments import Future, Position
>>> from marginlab.liquidation.events import EventLog
>>> from marginlab.market import MarketSnapshot
>>> state = BookState([Account((Position(Future("BTC", "2025-01-10"), 2.0, entry_price_usd=90_000),), 0.0)])
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000}}})
>>> settle_expiries(state, StepMarket.build(state, market), EventLog(), 0).tolist(), state.cash.tolist()
([0], [20000.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from marginlab.book.kinds import OPTION
from marginlab.book.state import BookState, StepMarket
from marginlab.liquidation.events import EventLog
from marginlab.valuation import inverse_pnl_usd


def settlement_values_usd(state: BookState, step: StepMarket, rows: NDArray[np.int64]) -> NDArray[np.float64]:
    """Settlement amount of each of ``rows`` at the step's index (module docstring).

    Parameters
    ----------
    state : BookState
    step : StepMarket
    rows : array of int

    Returns
    -------
    array of float
    """
    inst = state.instrument[rows]
    price = step.index[inst]
    quantity = state.quantity[rows]
    option = state.kind[inst] == OPTION
    strike = np.array([float(getattr(state.instruments[int(i)], "strike_usd", np.nan) or np.nan) for i in inst.tolist()])
    is_call = np.array([bool(getattr(state.instruments[int(i)], "is_call", False)) for i in inst.tolist()], dtype=bool)
    payoff = np.where(is_call, np.maximum(price - np.nan_to_num(strike), 0.0), np.maximum(np.nan_to_num(strike) - price, 0.0))
    entry = np.where(np.isnan(state.entry[rows]), price, state.entry[rows])
    inverse = state.inverse[inst]
    linear = quantity * (price - entry)
    if inverse.any():
        linear = np.where(inverse, inverse_pnl_usd(quantity, entry, price), linear)
    return np.asarray(np.where(option, quantity * payoff, linear), dtype=np.float64)


def settle_expiries(state: BookState, step: StepMarket, events: EventLog, step_number: int) -> NDArray[np.int64]:
    """Cash-settle every open position expired at the step (module docstring); returns the accounts settled (one per row).

    Parameters
    ----------
    state : BookState
        Updated in place.
    step : StepMarket
    events : EventLog
    step_number : int

    Returns
    -------
    array of int
    """
    rows = np.flatnonzero(state.alive & ~step.live[state.instrument])
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    inst = state.instrument[rows]
    price = step.index[inst]
    quantity = state.quantity[rows]
    values = settlement_values_usd(state, step, rows)
    accounts = state.account[rows]
    np.add.at(state.cash, accounts, values)
    state.alive[rows] = False
    rank = np.arange(len(rows)) - np.searchsorted(accounts, accounts)
    when: Any = step.market.as_of
    events.add(
        key_step=step_number, phase=0, order=accounts, seq=rank - 1_000_000, n=len(rows),
        time=np.full(len(rows), when, dtype=object), account_id=np.asarray(state.ids, dtype=object)[accounts],
        action="settlement", symbol=np.asarray(state.symbols, dtype=object)[inst], quantity=-quantity,
        price_usd=price, notional_usd=np.abs(quantity) * np.where(state.inverse[inst], 1.0, price), transfer_usd=values,
    )
    return np.asarray(accounts, dtype=np.int64)
