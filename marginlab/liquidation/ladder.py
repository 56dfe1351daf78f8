"""The liquidation ladder of one step over the whole book, on arrays.

Stages, each a function over arrays that takes the policy (a new mechanism is a new function selected by a
policy field):

1. :func:`classify` -- the one classification (:func:`marginlab.collateral.ladder_band`, shared with the margin
   result's :class:`~marginlab.collateral.ActionLadder`): codes into :data:`~marginlab.liquidation.policy.LADDER_ACTIONS`;
2. the **close amount** (:data:`CLOSE_RULES`, chosen by ``policy.close_rule``): per account in partial liquidation,
   the row to close and the fraction kept -- ``riskiest-partial`` (:func:`choose_riskiest_partial`) tries every open
   position as a partial close (one margin call over *pseudo-accounts*, an account with that one position reduced)
   and takes the one releasing most maintenance margin per USD of notional closed;
3. :func:`execute_closes` -- closes at the mark with the costs of :func:`close_costs` (fee to the fund and the
   liquidator, slippage lost to the market), re-margins the accounts in one call and logs the rows;
4. :func:`run_ladder` -- the loop: accounts in partial liquidation advance together, round by round, until above
   ``target_ratio``; those at the backstop (``full_liquidation_ratio``), out of ``max_steps`` or with no close that
   lowers the requirement go to full liquidation, which closes the remaining positions in order, one per account
   per round.

:class:`LadderStep` holds the step's arrays and what the stages accumulate (fees, the closed pieces for ADL).

>>> import numpy as np
>>> from marginlab.liquidation.policy import LiquidationPolicy
>>> classify(np.array([2.0, 1.5, 1.2, 1.05, 0.6]), LiquidationPolicy()).tolist()
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from marginlab.analysis.book import BookMargin
from marginlab.book.state import BookState, PseudoAccounts, StepMarket
from marginlab.collateral import ladder_band
from marginlab.exceptions import ParameterError
from marginlab.liquidation.events import EventLog
from marginlab.liquidation.policy import LADDER_ACTIONS, LiquidationPolicy

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

ACTION_NAMES = np.array(LADDER_ACTIONS, dtype=object)
NONE, WARNING, REDUCE_ONLY, PARTIAL, FULL = range(5)


def classify(ratio: FloatArray, policy: LiquidationPolicy) -> IntArray:
    """:meth:`LiquidationPolicy.classify` over an array: codes 0..4 into ``LADDER_ACTIONS`` (boundaries in the riskier band).

    Parameters
    ----------
    ratio : array of float
        Margin ratios (``inf``: nothing required).
    policy : LiquidationPolicy

    Returns
    -------
    array of int64
    """
    ratio = np.asarray(ratio, dtype=np.float64)
    if np.isnan(ratio).any():
        raise ParameterError("margin_ratio", float("nan"), "is NaN")
    return np.asarray(ladder_band(ratio, policy.thresholds), dtype=np.int64).reshape(ratio.shape)


def margin_ratio(equity: FloatArray, maintenance: FloatArray) -> FloatArray:
    """``equity / maintenance``, ``inf`` where nothing is required.

    Parameters
    ----------
    equity, maintenance : array of float

    Returns
    -------
    array of float
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(maintenance > 0, equity / np.where(maintenance > 0, maintenance, 1.0), np.inf), dtype=np.float64)


def close_costs(notional_usd: FloatArray, equity_usd: FloatArray, policy: LiquidationPolicy) -> tuple[FloatArray, FloatArray]:
    """Fee and slippage of closes of ``notional_usd``: slippage ``slippage_rate x notional`` is lost to the market;
    the fee ``fee_rate x notional`` is capped at the equity left after slippage (a bankrupt account pays no fee).

    Parameters
    ----------
    notional_usd : array of float
        Notional closed.
    equity_usd : array of float
        Market equity of each closing account before the close.
    policy : LiquidationPolicy

    Returns
    -------
    fee_usd, slippage_usd : arrays of float

    Examples
    --------
    >>> from marginlab.liquidation.policy import LiquidationPolicy
    >>> fee, slip = close_costs(np.array([10_000.0, 10_000.0]), np.array([1_000.0, 20.0]), LiquidationPolicy(slippage_rate=0.001))
    >>> fee.tolist(), slip.tolist()      # 0.5% of 10,000 = 50, capped at 20 - 10 = 10 for the second
    ([50.0, 10.0], [10.0, 10.0])
    """
    slippage = policy.slippage_rate * notional_usd
    fee = np.minimum(policy.fee_rate * notional_usd, np.maximum(equity_usd - slippage, 0.0))
    return np.asarray(fee, dtype=np.float64), np.asarray(slippage, dtype=np.float64)


class LadderStep:
    """One step's ladder over (a part of) the book: the state, the step's market, the margin call and what the
    stages accumulate (fees per account, the closed pieces ``(row, signed change, account)`` in close order).

    Parameters
    ----------
    state : BookState
        Updated in place.
    step : StepMarket
    margin : BookMargin
        The step's margin call over pseudo-accounts.
    policy : LiquidationPolicy
    events : EventLog
    step_number : int
    """

    def __init__(self, state: BookState, step: StepMarket, margin: BookMargin, policy: LiquidationPolicy, events: EventLog,
                 step_number: int) -> None:
        self.state, self.step, self.margin, self.policy, self.events = state, step, margin, policy, events
        self.step_number = step_number
        self.when = step.market.as_of
        n = state.n_accounts
        self.fees = np.zeros(n)
        self.slippage = np.zeros(n)
        self.close_count = np.zeros(n, dtype=np.int64)
        self.closed_rows: list[IntArray] = []
        self.closed_change: list[FloatArray] = []
        self.closed_account: list[IntArray] = []

    def closed(self) -> tuple[IntArray, FloatArray, IntArray]:
        """The step's closed pieces: rows, signed quantity changes, accounts (close order)."""
        if not self.closed_rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64)
        return np.concatenate(self.closed_rows), np.concatenate(self.closed_change), np.concatenate(self.closed_account)


def execute_closes(ladder: LadderStep, accounts: IntArray, rows: IntArray, keep: FloatArray, label: str) -> tuple[FloatArray, FloatArray]:
    """Close ``1 - keep`` of ``rows`` (one row per account of ``accounts``) at the mark, with :func:`close_costs`.

    The closed part's mark-to-market moves into cash (equity unchanged), the fee and slippage leave it; the accounts
    are re-margined in one call and one row per close is logged.

    Parameters
    ----------
    ladder : LadderStep
    accounts, rows : arrays of int
    keep : array of float
        Fraction of each row kept (0: closed in full).
    label : str
        ``partial_liquidation`` or ``full_liquidation``.

    Returns
    -------
    maintenance_usd, ratio : arrays of float
        Per account, after the close.
    """
    state, step, policy = ladder.state, ladder.step, ladder.policy
    inst = state.instrument[rows]
    quantity = state.quantity[rows]
    fraction = 1.0 - keep
    notional = fraction * step.notional(state, rows)
    value_moved = fraction * step.row_value(state, rows)
    fee, slip = close_costs(notional, step.market_equity(state, accounts), policy)
    ladder.fees[accounts] += fee
    ladder.slippage[accounts] += slip
    ladder.close_count[accounts] += 1
    change = -quantity * fraction
    ladder.closed_rows.append(rows)
    ladder.closed_change.append(change)
    ladder.closed_account.append(accounts)
    state.set_quantity(rows, np.where(keep > 0, quantity * keep, 0.0))
    state.cash[accounts] += value_moved - fee - slip
    _, mm, equity = ladder.margin(PseudoAccounts.of(state, accounts))
    ratio = margin_ratio(equity, mm)
    n = len(accounts)
    ladder.events.add(
        key_step=ladder.step_number, phase=0, order=accounts, seq=ladder.close_count[accounts], n=n,
        time=np.full(n, ladder.when, dtype=object), account_id=np.asarray(state.ids, dtype=object)[accounts], action=label,
        symbol=np.asarray(state.symbols, dtype=object)[inst], step=ladder.close_count[accounts].copy(),
        quantity=change, price_usd=step.mark[inst], notional_usd=notional, delta_quantity=change * step.delta[inst], fee_usd=fee,
        slippage_usd=slip, fund_balance_usd=np.nan, margin_ratio=ratio, equity_usd=step.market_equity(state, accounts),
    )
    return mm, ratio


def choose_riskiest_partial(ladder: LadderStep, accounts: IntArray, maintenance: FloatArray) -> tuple[NDArray[np.bool_], IntArray, FloatArray]:
    """Close-amount stage ``riskiest-partial``: per account, the partial close (``partial_fraction`` of one position;
    the whole position when less than ``min_close_notional_usd`` would remain) releasing most maintenance margin per
    USD of notional closed. Ties and near-ties (12 digits): the first position wins.

    Parameters
    ----------
    ladder : LadderStep
    accounts : array of int
    maintenance : array of float
        Each account's maintenance margin now.

    Returns
    -------
    found : array of bool
        False where no close lowers the requirement (the account goes to full liquidation).
    rows : array of int
        The row to close.
    keep : array of float
        The fraction of it kept.
    """
    state, step, policy = ladder.state, ladder.step, ladder.policy
    rows, owner = state.rows_of(accounts)
    notional = step.notional(state, rows)
    keep = np.full(len(rows), 1.0 - policy.partial_fraction)
    keep = np.where(keep * notional < policy.min_close_notional_usd, 0.0, keep)
    closed_notional = (1.0 - keep) * notional
    cand = np.flatnonzero(closed_notional > 0)
    # pseudo-account per candidate: all rows of its account, the candidate row reduced
    cand_owner = owner[cand]
    counts = np.bincount(owner, minlength=len(accounts))
    starts = np.concatenate([[0], np.cumsum(counts)])
    lengths = counts[cand_owner]
    p_owner = np.repeat(np.arange(len(cand)), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    member = np.repeat(starts[cand_owner], lengths) + offsets  # index into rows
    p_rows = rows[member]
    p_qty = state.quantity[p_rows].copy()
    is_candidate = member == np.repeat(cand, lengths)
    p_qty[is_candidate] = p_qty[is_candidate] * np.repeat(keep[cand], lengths)[is_candidate]
    dropped = is_candidate & (p_qty == 0.0)
    pseudo = PseudoAccounts(accounts[cand_owner], p_rows[~dropped], p_owner[~dropped], p_qty[~dropped])
    trial_mm = ladder.margin(pseudo)[1] if len(cand) else np.zeros(0)
    base = maintenance[cand_owner]
    released = base - trial_mm
    valid = released > 1e-12 * np.maximum(base, 1.0)
    score = np.where(valid, released / closed_notional[cand], -np.inf)
    # sequential scan in position order (the first position wins a tie)
    best_score = np.full(len(accounts), np.nan)
    best_index = np.full(len(accounts), -1, dtype=np.int64)
    cand_rank = (np.arange(len(rows)) - starts[owner])[cand]
    for r in range(int(cand_rank.max()) + 1 if len(cand) else 0):
        at = np.flatnonzero((cand_rank == r) & valid)
        if not len(at):
            continue
        a = cand_owner[at]
        better = np.isnan(best_score[a]) | (score[at] > best_score[a] * (1 + 1e-12))
        best_score[a[better]] = score[at[better]]
        best_index[a[better]] = cand[at[better]]
    found = best_index >= 0
    chosen = np.where(found, best_index, 0)
    if not len(rows):
        return found, np.zeros(len(accounts), dtype=np.int64), np.zeros(len(accounts))
    return found, rows[chosen], keep[chosen]


#: Close-amount stages by ``LiquidationPolicy.close_rule``: ``(ladder, accounts, maintenance) -> (found, rows, keep)``.
CLOSE_RULES: dict[str, Callable[[LadderStep, IntArray, FloatArray], tuple[NDArray[np.bool_], IntArray, FloatArray]]] = {
    "riskiest-partial": choose_riskiest_partial,
}


def run_ladder(ladder: LadderStep, accounts: IntArray, maintenance: FloatArray, ratio: FloatArray, action: IntArray) -> None:
    """Liquidate ``accounts`` whose ladder actions are ``action`` (codes, partial or full) at ``ratio``.

    Parameters
    ----------
    ladder : LadderStep
    accounts : array of int
    maintenance, ratio : arrays of float
        Per account, now.
    action : array of int
        Per account: :data:`PARTIAL` or :data:`FULL`.

    Returns
    -------
    None
        The state, the events and the ladder's accumulators are updated.
    """
    policy = ladder.policy
    choose: Any = CLOSE_RULES[policy.close_rule]
    full = action == FULL
    partial = np.flatnonzero(action == PARTIAL)
    cur_ratio = ratio[partial].copy()
    cur_mm = maintenance[partial].copy()
    steps = np.zeros(len(partial), dtype=np.int64)
    active = np.arange(len(partial))
    counts = ladder.state.alive_counts()
    while len(active):
        acc = accounts[partial[active]]
        active = active[(cur_ratio[active] < policy.target_ratio) & (counts[acc] > 0)]
        if not len(active):
            break
        to_full = (cur_ratio[active] <= policy.full_liquidation_ratio) | (steps[active] >= policy.max_steps)
        full[partial[active[to_full]]] = True
        active = active[~to_full]
        if not len(active):
            break
        acc = accounts[partial[active]]
        found, rows, keep = choose(ladder, acc, cur_mm[active])
        full[partial[active[~found]]] = True
        active = active[found]
        if not len(active):
            break
        acc = accounts[partial[active]]
        mm, r = execute_closes(ladder, acc, rows[found], keep[found], "partial_liquidation")
        counts[acc] -= (keep[found] == 0).astype(np.int64)
        steps[active] += 1
        cur_mm[active] = mm
        cur_ratio[active] = r
    targets = accounts[full]
    while len(targets):
        targets = targets[counts[targets] > 0]
        if not len(targets):
            break
        rows, owner = ladder.state.rows_of(targets)
        first = np.ones(len(rows), dtype=bool)
        first[1:] = owner[1:] != owner[:-1]
        execute_closes(ladder, targets, rows[first], np.zeros(len(targets)), "full_liquidation")
        counts[targets] -= 1
