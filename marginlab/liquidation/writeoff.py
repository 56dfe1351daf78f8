"""Deficits of a step, written off in one path for every account (cross accounts and isolated positions alike).

An account (or an isolated position's own margin account, :mod:`marginlab.liquidation.isolated`) left without
positions and with negative market equity is **bankrupt**; its deficit goes through the stages below in order,
each a function over arrays taking the policy:

1. :func:`pay_from_fund` -- the **insurance fund** pays deficits, largest first (ties in book order), as far as its
   balance goes (``use_insurance_fund``);
2. :func:`adl_stage` -- **auto-deleveraging** (``auto_deleverage`` and the replay's ``adl``) on one queue snapshot:
   the bankrupt's closed linear positions are split pro rata to closed notional, each (symbol, side) queue is ranked
   once (``policy.adl_ranking``, :data:`ADL_RANKINGS`: profit % x effective leverage), and the claims consume it end
   to end; a counterparty is closed at the **bankruptcy price** ``mark + D / Q``, which moves ``D`` per ``Q`` units
   to the bankrupt account;
3. :func:`socialise_stage` -- **socialised loss** (``socialised_loss``): what is left is charged to every other
   account with positive equity, pro rata, at most all of it (:func:`socialised_charges`);
4. what is still left is **bad debt**: it stays as the account's negative equity and is reported.

:func:`write_off` runs stages 2-4 and returns the amounts per claim and the event columns.

>>> socialised_charges(np.array([300.0, -50.0, 100.0]), 1, 40.0).tolist()
[30.0, 0.0, 10.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from marginlab.book.kinds import FUTURE, PERPETUAL
from marginlab.book.state import BookState, StepMarket
from marginlab.liquidation.events import EventLog, ordering_key
from marginlab.liquidation.policy import LiquidationPolicy

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: A counterparty take smaller than this (units) is not made: float noise of the cumulative sums.
ADL_MIN_UNITS = 1e-12
#: Deficits at or below this (USD) are not claims: float noise of the closes.
DEFICIT_MIN_USD = 1e-6


def settlement_order(deficit_usd: FloatArray, accounts: IntArray) -> IntArray:
    """Order of the claims: largest deficit first (at :func:`~marginlab.liquidation.events.ordering_key` precision), ties in book order.

    Parameters
    ----------
    deficit_usd : array of float
    accounts : array of int
        The book index of each deficit.

    Returns
    -------
    array of int
        Positions into ``deficit_usd``.
    """
    return np.asarray(np.lexsort((accounts, -ordering_key(deficit_usd))), dtype=np.int64)


def pay_from_fund(owed_usd: FloatArray, fund_usd: float, policy: LiquidationPolicy) -> tuple[FloatArray, FloatArray]:
    """The insurance fund pays ``owed_usd`` in order, each as far as the balance goes (never below zero).

    Parameters
    ----------
    owed_usd : array of float
        Deficits in settlement order.
    fund_usd : float
        Balance before.
    policy : LiquidationPolicy
        ``use_insurance_fund``: False pays nothing.

    Returns
    -------
    paid_usd, fund_after_usd : arrays of float
        Per claim: the payment and the balance after it.

    Examples
    --------
    >>> paid, after = pay_from_fund(np.array([300.0, 500.0, 100.0]), 600.0, LiquidationPolicy())
    >>> paid.tolist(), after.tolist()
    ([300.0, 300.0, 0.0], [300.0, 0.0, 0.0])
    """
    paid = np.zeros(len(owed_usd))
    after = np.zeros(len(owed_usd))
    fund = float(fund_usd)
    for k, owed in enumerate(np.asarray(owed_usd, dtype=np.float64).tolist()):
        paid[k] = min(fund, owed) if policy.use_insurance_fund else 0.0
        fund -= paid[k]
        after[k] = fund
    return paid, after


def socialised_charges(equity_usd: FloatArray, bankrupt: int, amount_usd: float) -> FloatArray:
    """Socialised loss: ``amount_usd`` charged to every other account with positive equity, pro rata to it.

    ``charge_i = min(amount, sum E+) x E_i / sum E+`` over ``E_i > 0``, ``i != bankrupt``; never more than an
    account's equity.

    Parameters
    ----------
    equity_usd : array of float
        Market equity of every account.
    bankrupt : int
        The account charged for (not charged itself).
    amount_usd : float

    Returns
    -------
    array of float
        The charge of each account.
    """
    positive = np.where(equity_usd > 0, equity_usd, 0.0)
    positive[bankrupt] = 0.0
    total = float(positive.sum())
    if total <= 0 or amount_usd <= 0:
        return np.zeros(len(equity_usd))
    return np.asarray(min(amount_usd, total) * positive / total, dtype=np.float64)


def adl_pieces(state: BookState, step: StepMarket, bankrupt: IntArray, closed: tuple[IntArray, FloatArray, IntArray]
               ) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """``(claim, instrument, held quantity, weight)`` of every claim's closed linear positions, in claim order then
    order of first close; ``held`` is minus the sum of the closes' changes, the weight ``|held| x index``."""
    closed_rows, closed_change, closed_account = closed
    claim_of = np.full(state.n_accounts, -1, dtype=np.int64)
    claim_of[bankrupt] = np.arange(len(bankrupt))
    claim = claim_of[closed_account] if len(closed_account) else np.zeros(0, dtype=np.int64)
    inst = state.instrument[closed_rows] if len(closed_rows) else np.zeros(0, dtype=np.int64)
    keep = (claim >= 0) & ((state.kind[inst] == PERPETUAL) | (state.kind[inst] == FUTURE))
    close_order = np.flatnonzero(keep)
    claim, inst, change = claim[keep], inst[keep], closed_change[keep]
    width = np.int64(max(len(state.instruments), 1))
    keys, first, group = np.unique(claim * width + inst, return_index=True, return_inverse=True)
    held = np.zeros(len(keys))
    for g, c in zip(group.tolist(), change.tolist()):  # sequential sums, as the per-account reference
        held[g] -= c
    order = np.lexsort((close_order[first], keys // width))
    keys, held = keys[order], held[order]
    p_inst = keys % width
    return keys // width, p_inst, held, np.abs(held) * step.index[p_inst]


def rank_pnl_x_leverage(state: BookState, step: StepMarket, instrument: int, side: float, gross_usd: FloatArray,
                        equity_usd: FloatArray) -> tuple[IntArray, FloatArray]:
    """ADL queue ``pnl-x-leverage`` of ``instrument``: profitable rows of sign ``side`` with an entry price, ranked by
    ``pnl% x effective leverage`` (``pnl / (|q| x entry)`` times the account's gross notional / market equity;
    Binance "PnL% x effective leverage", BitMEX profit % x leverage), at 40 significant bits, ties in book order.

    Returns the rows in queue order and their unrealised P&L."""
    rows = np.flatnonzero(state.alive & (state.instrument == instrument) & (np.sign(state.quantity) == side) & ~np.isnan(state.entry))
    value = step.row_value(state, rows)
    rows, value = rows[value > 0], value[value > 0]
    accounts = state.account[rows]
    equity = equity_usd[accounts]
    with np.errstate(divide="ignore"):
        leverage = np.where(equity > 0, gross_usd[accounts] / np.where(equity > 0, equity, 1.0), math.inf)
    score = ordering_key(value / (np.abs(state.quantity[rows]) * state.entry[rows]) * leverage)
    order = np.lexsort((rows, accounts, -score))
    return rows[order], value[order]


#: ADL queue rankings by ``LiquidationPolicy.adl_ranking``:
#: ``(state, step, instrument, side, gross_usd, equity_usd) -> (rows in queue order, their P&L)``.
ADL_RANKINGS: dict[str, Callable[[BookState, StepMarket, int, float, FloatArray, FloatArray], tuple[IntArray, FloatArray]]] = {
    "pnl-x-leverage": rank_pnl_x_leverage,
}


@dataclass
class WriteOff:
    """What :func:`write_off` did, per claim (in claim order), and the event columns of its rows."""

    recovered_usd: FloatArray
    socialised_usd: FloatArray
    bad_debt_usd: FloatArray
    columns: dict[str, Any]


_RECORD = ("claim", "account", "action", "inst", "quantity", "price_usd", "notional_usd", "transfer_usd", "deficit_usd", "equity_usd")


def adl_stage(state: BookState, step: StepMarket, bankrupt: IntArray, deficit_usd: FloatArray, closed: tuple[IntArray, FloatArray, IntArray],
              policy: LiquidationPolicy, records: list[tuple[Any, ...]]) -> FloatArray:
    """ADL of every claim on one queue snapshot (module docstring); appends ``adl`` rows to ``records``.

    Parameters
    ----------
    state : BookState
        Updated in place (counterparties reduced, transfers in cash).
    step : StepMarket
    bankrupt : array of int
        The claims' accounts, in claim order.
    deficit_usd : array of float
        What each claim asks of ADL.
    closed : tuple of arrays
        The step's closed pieces ``(rows, signed changes, accounts)`` in close order.
    policy : LiquidationPolicy
    records : list
        Event records (:data:`_RECORD` order).

    Returns
    -------
    array of float
        Recovered per claim.
    """
    n = len(bankrupt)
    recovered = np.zeros(n)
    wanted = deficit_usd > 1e-9
    if not wanted.any():
        return recovered
    rank = ADL_RANKINGS[policy.adl_ranking]
    p_claim, p_inst, held, weight = adl_pieces(state, step, bankrupt, closed)
    sel = wanted[p_claim]
    p_claim, p_inst, held, weight = p_claim[sel], p_inst[sel], held[sel], weight[sel]
    total = np.zeros(n)
    for c, w in zip(p_claim.tolist(), weight.tolist()):  # sequential sums, as the reference
        total[c] += w
    alive = np.flatnonzero(state.alive)
    gross_all = np.bincount(state.account[alive], weights=step.notional(state, alive), minlength=state.n_accounts)
    equity_all = step.market_equity(state)
    equity_now = equity_all.copy()
    queues: dict[tuple[int, float], tuple[IntArray, FloatArray, FloatArray, list[float]]] = {}
    taken: dict[int, float] = {}
    q_start: dict[int, float] = {}
    cash_change: dict[int, float] = {}
    for c, i, q_held, w in zip(p_claim.tolist(), p_inst.tolist(), held.tolist(), weight.tolist()):
        if q_held == 0 or total[c] <= 0:
            continue
        share = float(deficit_usd[c]) * w / total[c]
        per_unit = share / abs(q_held)
        side = -float(np.sign(q_held))
        if (i, side) not in queues:
            rows_q, value_q = rank(state, step, i, side, gross_all.astype(np.float64), equity_all)
            queues[(i, side)] = (rows_q, value_q, np.concatenate([[0.0], np.cumsum(np.abs(state.quantity[rows_q]))]), [0.0])
        rows_q, value_q, supply, used = queues[(i, side)]
        low, high = used[0], used[0] + abs(q_held)
        used[0] = high
        mark = float(step.mark[i])
        for k in range(max(int(np.searchsorted(supply, low, side="right")) - 1, 0), len(rows_q)):
            take = min(float(supply[k + 1]), high) - max(float(supply[k]), low)
            if take <= ADL_MIN_UNITS:
                if supply[k] >= high:
                    break
                continue
            row = int(rows_q[k])
            a = int(state.account[row])
            quantity = q_start.setdefault(row, float(state.quantity[row]))
            taken[row] = taken.get(row, 0.0) + take
            transfer = take * per_unit
            cash_change[a] = cash_change.get(a, 0.0) + (take * float(value_q[k]) / abs(quantity) - transfer)
            b = int(bankrupt[c])
            cash_change[b] = cash_change.get(b, 0.0) + transfer
            recovered[c] += transfer
            equity_now[a] -= transfer
            records.append((c, a, "adl", i, -float(np.sign(quantity)) * take, mark + share / q_held, take * mark, -transfer, 0.0, float(equity_now[a])))
    if taken:
        touched = np.fromiter(taken, dtype=np.int64, count=len(taken))
        keep = np.array([1.0 - taken[r] / abs(q_start[r]) for r in touched.tolist()])
        start_q = np.array([q_start[r] for r in touched.tolist()])
        state.set_quantity(touched, np.where(keep > ADL_MIN_UNITS, start_q * keep, 0.0))
        for a, amount in cash_change.items():
            state.cash[a] += amount
    return recovered


def socialise_stage(state: BookState, step: StepMarket, bankrupt: IntArray, remaining_usd: FloatArray, policy: LiquidationPolicy,
                    records: list[tuple[Any, ...]]) -> FloatArray:
    """Socialised loss of what is left of each claim, claim by claim (:func:`socialised_charges`); appends
    ``socialised_loss`` rows. Returns the amount charged per claim (zeros unless ``policy.socialised_loss``)."""
    socialised = np.zeros(len(bankrupt))
    if not policy.socialised_loss:
        return socialised
    for c in np.flatnonzero(remaining_usd > 1e-9).tolist():
        i = int(bankrupt[c])
        charges = socialised_charges(step.market_equity(state), i, float(remaining_usd[c]))
        got = float(charges.sum())
        if got <= 0:
            continue
        state.cash -= charges
        state.cash[i] += got
        records.append((c, i, "socialised_loss", -1, 0.0, 0.0, 0.0, got, float(remaining_usd[c]), state.equity_without_positions(step, i)))
        socialised[c] = got
    return socialised


def write_off(state: BookState, step: StepMarket, bankrupt: IntArray, deficit_usd: FloatArray, fund_balance_usd: FloatArray,
              closed: tuple[IntArray, FloatArray, IntArray], policy: LiquidationPolicy, adl: bool) -> WriteOff:
    """What the fund could not pay: ADL (when ``adl`` and ``policy.auto_deleverage``), socialised loss, bad debt.

    Parameters
    ----------
    state : BookState
        Updated in place.
    step : StepMarket
    bankrupt : array of int
        Claims' accounts in settlement order.
    deficit_usd : array of float
        Per claim, what the fund did not pay.
    fund_balance_usd : array of float
        Per claim, the fund balance recorded on its rows.
    closed : tuple of arrays
        The step's closed pieces (for ADL).
    policy : LiquidationPolicy
    adl : bool

    Returns
    -------
    WriteOff
    """
    remaining = np.asarray(deficit_usd, dtype=np.float64).copy()
    records: list[tuple[Any, ...]] = []
    recovered = np.zeros(len(bankrupt))
    if adl and policy.auto_deleverage:
        recovered = adl_stage(state, step, bankrupt, remaining, closed, policy, records)
        remaining -= recovered
    socialised = socialise_stage(state, step, bankrupt, remaining, policy, records)
    remaining -= socialised
    bad_debt = np.where(remaining > 1e-9, remaining, 0.0)
    for c in np.flatnonzero(bad_debt > 0).tolist():
        i = int(bankrupt[c])
        records.append((c, i, "bad_debt", -1, 0.0, 0.0, 0.0, 0.0, float(bad_debt[c]), state.equity_without_positions(step, i)))
    columns: dict[str, Any] = ({name: np.asarray(values, dtype=object if name == "action" else None) for name, values in zip(_RECORD, zip(*records))}
                               if records else {name: np.zeros(0) for name in _RECORD})
    columns["seq"] = np.arange(1, len(records) + 1)  # increasing in log order: sorts the rows of each claim
    columns["fund_balance_usd"] = np.asarray(fund_balance_usd, dtype=np.float64)[columns["claim"].astype(np.int64)] if records else np.zeros(0)
    return WriteOff(recovered, socialised, bad_debt, columns)


def write_off_events(events: EventLog, state: BookState, done: WriteOff, step_number: int, when: Any, order: IntArray) -> None:
    """Add the rows of ``done`` to ``events`` after each claim's own rows (phase 1, claim ``order``)."""
    cols = done.columns
    n = len(cols["claim"])
    if not n:
        return
    inst = cols["inst"].astype(np.int64)
    symbols = np.where(inst >= 0, np.asarray(state.symbols + ("",), dtype=object)[np.where(inst >= 0, inst, len(state.symbols))], "")
    quantity = cols["quantity"].astype(float)
    events.add(key_step=step_number, phase=1, order=order[cols["claim"].astype(np.int64)], seq=cols["seq"], n=n,
               time=np.full(n, when, dtype=object), account_id=np.asarray(state.ids, dtype=object)[cols["account"].astype(np.int64)],
               action=cols["action"], symbol=symbols.astype(object), quantity=quantity, price_usd=cols["price_usd"].astype(float),
               notional_usd=cols["notional_usd"].astype(float), delta_quantity=quantity, transfer_usd=cols["transfer_usd"].astype(float),
               deficit_usd=cols["deficit_usd"].astype(float), fund_balance_usd=cols["fund_balance_usd"].astype(float),
               equity_usd=cols["equity_usd"].astype(float))


def settle_deficits(state: BookState, step: StepMarket, candidates: IntArray, written_off_usd: FloatArray, fund_usd: float,
                    closed: tuple[IntArray, FloatArray, IntArray], policy: LiquidationPolicy, adl: bool, events: EventLog,
                    step_number: int) -> tuple[float, dict[str, float], IntArray, FloatArray]:
    """The book-level settlement of a step: every bankrupt account among ``candidates`` (accounts without positions)
    is a claim, ordered by :func:`settlement_order`; the fund pays (:func:`pay_from_fund`), then :func:`write_off`.

    Parameters
    ----------
    state : BookState
        Updated in place.
    step : StepMarket
    candidates : array of int
        Accounts without positions.
    written_off_usd : array of float
        Bad debt already recorded per account (left as its negative equity: not claimed again).
    fund_usd : float
        Fund balance before (the step's fees already in).
    closed : tuple of arrays
        The step's closed pieces.
    policy : LiquidationPolicy
    adl : bool
    events : EventLog
    step_number : int

    Returns
    -------
    fund_after_usd : float
    totals : dict
        ``deficit_usd``, ``fund_paid_usd``, ``recovered_usd``, ``socialised_usd``, ``bad_debt_usd``.
    bankrupt : array of int
        The claims' accounts.
    bad_debt_usd : array of float
        Per claim.
    """
    totals = dict.fromkeys(("deficit_usd", "fund_paid_usd", "recovered_usd", "socialised_usd", "bad_debt_usd"), 0.0)
    deficit = -step.market_equity(state, candidates) - written_off_usd[candidates]
    mask = deficit > DEFICIT_MIN_USD
    order = settlement_order(deficit[mask], candidates[mask])
    bankrupt, owed = candidates[mask][order], deficit[mask][order]
    if not len(bankrupt):
        return float(fund_usd), totals, bankrupt, np.zeros(0)
    paid, fund_after = pay_from_fund(owed, fund_usd, policy)
    state.cash[bankrupt] += paid
    claims = np.arange(len(bankrupt))
    when = step.market.as_of
    events.add(key_step=step_number, phase=1, order=claims, seq=0, n=len(bankrupt), time=np.full(len(bankrupt), when, dtype=object),
               account_id=np.asarray(state.ids, dtype=object)[bankrupt], action="insurance_fund", deficit_usd=owed, transfer_usd=paid,
               fund_balance_usd=fund_after, equity_usd=step.market_equity(state, bankrupt))
    done = write_off(state, step, bankrupt, owed - paid, fund_after, closed, policy, adl)
    write_off_events(events, state, done, step_number, when, claims)
    totals.update(deficit_usd=float(owed.sum()), fund_paid_usd=float(paid.sum()), recovered_usd=float(done.recovered_usd.sum()),
                  socialised_usd=float(done.socialised_usd.sum()), bad_debt_usd=float(done.bad_debt_usd.sum()))
    return float(fund_after[-1]), totals, bankrupt, done.bad_debt_usd
