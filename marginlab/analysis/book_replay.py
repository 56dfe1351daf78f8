"""Stress replay on the book-level engine: every account margined in one call per step.

This is the array implementation of :func:`marginlab.analysis.replay.replay` (``engine="book"``,
the default). It follows the per-account reference (``engine="per-account"``) step for step
-- the same ladder, the same choice of the most risk-intensive position, the same fees,
insurance fund, ADL and bad debt, hence the same events -- but works on a
:class:`~marginlab.analysis.book.BookState`:

1. expired options and futures are cash-settled (array operation);
2. every account with positions is margined in one call (:class:`~marginlab.analysis.book.BookMargin`);
   its ladder action follows from its margin ratio;
3. accounts in partial liquidation advance together: at each round, every open position of
   every such account is tried as a partial close (one margin call over *pseudo-accounts*,
   an account with that one position reduced), each account closes its most risk-intensive
   position, and the accounts are re-margined in one call; accounts that reach the target
   ratio drop out, those that hit the backstop or ``max_steps`` go to full liquidation;
4. full liquidation closes the remaining positions in order, one position per account per
   round (one margin call per round for the ratio after the close);
5. the step is settled for the book (fund, ADL, bad debt) exactly as the reference does.

Events are accumulated as arrays and turned into the event log once, at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from marginlab.account import Account
from marginlab.analysis.book import FUTURE, OPTION, PERPETUAL, BookMargin, BookState, PseudoAccounts, StepMarket
from marginlab.analysis.liquidation import (
    ADL_MIN_UNITS,
    EVENT_COLUMNS,
    LiquidationPolicy,
    events_frame,
    ordering_key,
    socialised_charges,
)
from marginlab.valuation import inverse_pnl_usd

_ACTIONS = np.array(["none", "warning", "reduce_only", "partial_liquidation", "full_liquidation"], dtype=object)


class _Events:
    """Event rows as column arrays, with a sort key reproducing the reference order."""

    def __init__(self, offset: int = 0) -> None:
        self.parts: list[dict[str, Any]] = []
        self.offset = offset  # global index of the first account (partitions of a book)

    def add(self, *, key_step: int, phase: int, order: Any, seq: Any, n: int, **columns: Any) -> None:
        if n == 0:
            return
        part = {k: np.broadcast_to(np.asarray(v), (n,)).copy() if not isinstance(v, list) else np.asarray(v, dtype=object) for k, v in columns.items()}
        part["_key"] = np.stack([np.full(n, key_step), np.full(n, phase), np.broadcast_to(np.asarray(order) + self.offset, (n,)),
                                 np.broadcast_to(np.asarray(seq), (n,))], axis=1)
        self.parts.append(part)

    def frame(self) -> pd.DataFrame:
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
                    chunks.append(np.asarray(p[name], dtype=object if name in ("time", "account_id", "action", "symbol") else None))
                else:
                    default = defaults.get(name, 0.0)
                    chunks.append(np.full(n, default, dtype=object if isinstance(default, str) or default is None else None))
            columns[name] = np.concatenate(chunks)[order]
        frame = pd.DataFrame(columns, columns=list(EVENT_COLUMNS))
        frame["step"] = frame["step"].astype("int64")
        for name in EVENT_COLUMNS:
            if name not in ("time", "account_id", "action", "symbol", "step"):
                frame[name] = frame[name].astype("float64")
        return frame


def classify(ratio: np.ndarray, policy: LiquidationPolicy) -> np.ndarray:
    """:meth:`LiquidationPolicy.classify` over an array: codes 0..4 into ``LADDER_ACTIONS``."""
    return np.select(
        [ratio >= policy.warning_ratio, ratio >= policy.reduce_only_ratio, ratio >= policy.liquidation_ratio, ratio > policy.full_liquidation_ratio],
        [0, 1, 2, 3],
        4,
    ).astype(np.int64)


def _ratio(equity: np.ndarray, maintenance: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(maintenance > 0, equity / np.where(maintenance > 0, maintenance, 1.0), np.inf)


class BookLadder:
    """The liquidation ladder of one step over the whole book (see the module docstring)."""

    def __init__(self, state: BookState, step: StepMarket, margin: BookMargin, policy: LiquidationPolicy, events: _Events, step_number: int) -> None:
        self.state, self.step, self.margin, self.policy, self.events = state, step, margin, policy, events
        self.step_number = step_number
        self.when = step.market.as_of
        n = state.n_accounts
        self.fees = np.zeros(n)
        self.close_count = np.zeros(n, dtype=np.int64)
        # closed pieces of this step (for ADL): row, instrument, change
        self.closed_rows: list[np.ndarray] = []
        self.closed_change: list[np.ndarray] = []
        self.closed_account: list[np.ndarray] = []

    # -- one close per account in ``accounts`` ---------------------------------------------------
    def close(self, accounts: np.ndarray, rows: np.ndarray, keep: np.ndarray, label: str) -> tuple[np.ndarray, np.ndarray]:
        """Close ``1 - keep`` of ``rows`` (one per account); returns the (maintenance, ratio) after."""
        state, step, policy = self.state, self.step, self.policy
        inst = state.instrument[rows]
        quantity = state.quantity[rows]
        fraction = 1.0 - keep
        notional = fraction * step.notional(state, rows)
        value_moved = fraction * step.row_value(state, rows)
        equity_now = step.market_equity(state, accounts)
        slip = policy.slippage_rate * notional
        fee = np.minimum(policy.fee_rate * notional, np.maximum(equity_now - slip, 0.0))
        self.fees[accounts] += fee
        self.close_count[accounts] += 1
        change = -quantity * fraction
        self.closed_rows.append(rows)
        self.closed_change.append(change)
        self.closed_account.append(accounts)
        state.set_quantity(rows, np.where(keep > 0, quantity * keep, 0.0))
        state.cash[accounts] += value_moved - fee - slip
        _, mm, equity = self.margin(PseudoAccounts.of(state, accounts))
        ratio = _ratio(equity, mm)
        ids = np.asarray(state.ids, dtype=object)[accounts]
        symbols = np.asarray(state.symbols, dtype=object)[inst]
        self._add_close(accounts, ids, label, symbols, change, inst, notional, fee, slip, ratio)
        return mm, ratio

    def _add_close(self, accounts, ids, label, symbols, change, inst, notional, fee, slip, ratio):  # type: ignore[no-untyped-def]
        step = self.step
        self.events.add(
            key_step=self.step_number, phase=0, order=accounts, seq=self.close_count[accounts], n=len(accounts),
            time=np.full(len(accounts), self.when, dtype=object), account_id=ids, action=label, symbol=symbols,
            step=self.close_count[accounts].copy(),
            quantity=change, price_usd=step.mark[inst], notional_usd=notional, delta_quantity=change * step.delta[inst], fee_usd=fee,
            slippage_usd=slip, fund_balance_usd=np.nan, margin_ratio=ratio, equity_usd=step.market_equity(self.state, accounts),
        )

    # -- choice of the most risk-intensive position ---------------------------------------------
    def choose(self, accounts: np.ndarray, maintenance: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per account: found flag, row and kept fraction of the partial close releasing most MM per USD closed."""
        state, step, policy = self.state, self.step, self.policy
        rows, owner = state.rows_of(accounts)
        notional = step.notional(state, rows)
        keep = np.full(len(rows), 1.0 - policy.partial_fraction)
        keep = np.where(keep * notional < policy.min_close_notional_usd, 0.0, keep)
        closed_notional = (1.0 - keep) * notional
        candidate = closed_notional > 0
        cand = np.flatnonzero(candidate)
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
        _, trial_mm, _ = self.margin(pseudo) if len(cand) else (None, np.zeros(0), None)
        base = maintenance[cand_owner]
        released = base - trial_mm
        valid = released > 1e-12 * np.maximum(base, 1.0)
        score = np.where(valid, released / closed_notional[cand], -np.inf)
        # sequential scan in position order (ties and near-ties: the first position wins, as the reference)
        best_score = np.full(len(accounts), np.nan)
        best_index = np.full(len(accounts), -1, dtype=np.int64)
        rank = np.arange(len(rows)) - starts[owner]
        cand_rank = rank[cand]
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
        return found, rows[chosen] if len(rows) else np.zeros(len(accounts), dtype=np.int64), keep[chosen] if len(rows) else np.zeros(len(accounts))

    # -- the ladder -------------------------------------------------------------------------------
    def run(self, accounts: np.ndarray, maintenance: np.ndarray, ratio: np.ndarray, action: np.ndarray) -> None:
        """Liquidate ``accounts`` whose ladder actions are ``action`` (codes) at ``ratio``."""
        policy = self.policy
        full = action == 4
        partial = np.flatnonzero(action == 3)
        cur_ratio = ratio[partial].copy()
        cur_mm = maintenance[partial].copy()
        steps = np.zeros(len(partial), dtype=np.int64)
        active = np.arange(len(partial))
        counts = self.state.alive_counts()
        while len(active):
            acc = accounts[partial[active]]
            has_positions = counts[acc] > 0
            going = (cur_ratio[active] < policy.target_ratio) & has_positions
            active = active[going]
            if not len(active):
                break
            to_full = (cur_ratio[active] <= policy.full_liquidation_ratio) | (steps[active] >= policy.max_steps)
            full[partial[active[to_full]]] = True
            active = active[~to_full]
            if not len(active):
                break
            acc = accounts[partial[active]]
            found, rows, keep = self.choose(acc, cur_mm[active])
            full[partial[active[~found]]] = True
            active = active[found]
            if not len(active):
                break
            acc = accounts[partial[active]]
            mm, r = self.close(acc, rows[found], keep[found], "partial_liquidation")
            counts[acc] -= (keep[found] == 0).astype(np.int64)
            steps[active] += 1
            cur_mm[active] = mm
            cur_ratio[active] = r
        targets = accounts[full]
        while len(targets):
            targets = targets[counts[targets] > 0]
            if not len(targets):
                break
            rows, owner = self.state.rows_of(targets)
            first = np.ones(len(rows), dtype=bool)
            first[1:] = owner[1:] != owner[:-1]
            self.close(targets, rows[first], np.zeros(len(targets)), "full_liquidation")
            counts[targets] -= 1


def settle_expired_arrays(state: BookState, step: StepMarket, events: _Events, step_number: int) -> None:
    """Cash-settle expired options and futures at the index (as :func:`marginlab.analysis.replay.settle_expired`, inverse futures in coin)."""
    expired = state.alive & ~step.live[state.instrument]
    rows = np.flatnonzero(expired)
    if not len(rows):
        return
    inst = state.instrument[rows]
    price = step.index[inst]
    quantity = state.quantity[rows]
    values = np.empty(len(rows))
    for k, row in enumerate(rows.tolist()):
        instrument: Any = state.instruments[int(inst[k])]
        if state.kind[inst[k]] == OPTION:
            strike = instrument.strike_usd
            payoff = max(price[k] - strike, 0.0) if instrument.is_call else max(strike - price[k], 0.0)
            values[k] = quantity[k] * payoff
        else:
            entry = state.entry[row] if not np.isnan(state.entry[row]) else price[k]
            values[k] = float(inverse_pnl_usd(quantity[k], entry, price[k])) if state.inverse[inst[k]] else quantity[k] * (price[k] - entry)
    accounts = state.account[rows]
    np.add.at(state.cash, accounts, values)
    state.alive[rows] = False
    rank = np.arange(len(rows)) - np.searchsorted(accounts, accounts)
    events.add(
        key_step=step_number, phase=0, order=accounts, seq=rank - 1_000_000, n=len(rows),
        time=np.full(len(rows), step.market.as_of, dtype=object), account_id=np.asarray(state.ids, dtype=object)[accounts],
        action="settlement", symbol=np.asarray(state.symbols, dtype=object)[inst], quantity=-quantity,
        price_usd=price, notional_usd=np.abs(quantity) * np.where(state.inverse[inst], 1.0, price), transfer_usd=values,
    )


@dataclass
class WriteOff:
    """What :func:`write_off_arrays` did, per claim (in claim order)."""

    recovered_usd: np.ndarray
    socialised_usd: np.ndarray
    bad_debt_usd: np.ndarray
    columns: dict[str, Any]  # event columns of the write-off rows (adl, socialised_loss, bad_debt), with ``claim`` and ``seq``


def _adl_pieces(state: BookState, step: StepMarket, bankrupt: np.ndarray, closed_rows: np.ndarray, closed_change: np.ndarray,
                closed_account: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~marginlab.analysis.liquidation.adl_pieces` of every claim: (claim, instrument, held, weight), claim order then first close."""
    claim_of = np.full(state.n_accounts, -1, dtype=np.int64)
    claim_of[bankrupt] = np.arange(len(bankrupt))
    claim = claim_of[closed_account] if len(closed_account) else np.zeros(0, dtype=np.int64)
    inst = state.instrument[closed_rows] if len(closed_rows) else np.zeros(0, dtype=np.int64)
    keep = (claim >= 0) & ((state.kind[inst] == PERPETUAL) | (state.kind[inst] == FUTURE))
    close_order = np.flatnonzero(keep)
    claim, inst, change = claim[keep], inst[keep], closed_change[keep]
    key = claim * np.int64(len(state.instruments)) + inst
    keys, first, group = np.unique(key, return_index=True, return_inverse=True)
    held = np.zeros(len(keys))
    for g, c in zip(group.tolist(), change.tolist()):  # sequential sums, as the reference
        held[g] -= c
    order = np.lexsort((close_order[first], keys // max(len(state.instruments), 1)))
    keys, held = keys[order], held[order]
    p_claim, p_inst = keys // max(len(state.instruments), 1), keys % max(len(state.instruments), 1)
    return p_claim, p_inst, held, np.abs(held) * step.index[p_inst]


def write_off_arrays(
    state: BookState,
    step: StepMarket,
    bankrupt: np.ndarray,
    deficit_usd: np.ndarray,
    fund_balance_usd: np.ndarray,
    closed: tuple[np.ndarray, np.ndarray, np.ndarray],
    policy: LiquidationPolicy,
    adl: bool,
) -> WriteOff:
    """:func:`marginlab.analysis.liquidation.write_off_deficits` on the arrays: ADL of every claim on one
    queue snapshot, socialised loss, bad debt (same takes, transfers and rows). ``closed`` is the
    step's (rows, signed changes, accounts) of the ladder's closes, in close order."""
    n = len(bankrupt)
    remaining = np.asarray(deficit_usd, dtype=np.float64).copy()
    recovered = np.zeros(n)
    socialised = np.zeros(n)
    records: list[tuple[int, int, str, int, float, float, float, float, float, float]] = []
    names = ("claim", "account", "action", "inst", "quantity", "price_usd", "notional_usd", "transfer_usd", "deficit_usd", "equity_usd")
    add = records.append  # one row per tuple, in the order of ``names``; rows of a claim are appended in their log order

    wanted = remaining > 1e-9
    if adl and policy.auto_deleverage and wanted.any():
        p_claim, p_inst, held, weight = _adl_pieces(state, step, bankrupt, *closed)
        sel = wanted[p_claim]
        p_claim, p_inst, held, weight = p_claim[sel], p_inst[sel], held[sel], weight[sel]
        total = np.zeros(n)
        for c, w in zip(p_claim.tolist(), weight.tolist()):  # sequential sums, as the reference
            total[c] += w
        # the queue snapshot: every account's gross notional and market equity once
        alive = np.flatnonzero(state.alive)
        gross_all = np.bincount(state.account[alive], weights=step.notional(state, alive), minlength=state.n_accounts)
        equity_all = step.market_equity(state)
        equity_now = equity_all.copy()
        queues: dict[tuple[int, float], tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]] = {}
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
                rows = np.flatnonzero(state.alive & (state.instrument == i) & (np.sign(state.quantity) == side) & ~np.isnan(state.entry))
                value = step.row_value(state, rows)
                rows, value = rows[value > 0], value[value > 0]
                accounts = state.account[rows]
                equity = equity_all[accounts]
                with np.errstate(divide="ignore"):
                    leverage = np.where(equity > 0, gross_all[accounts] / np.where(equity > 0, equity, 1.0), math.inf)
                pnl_pct = value / (np.abs(state.quantity[rows]) * state.entry[rows])
                score = ordering_key(pnl_pct * leverage)
                order = np.lexsort((rows, accounts, -score))
                rows, value = rows[order], value[order]
                supply = np.concatenate([[0.0], np.cumsum(np.abs(state.quantity[rows]))])
                queues[(i, side)] = (rows, value, supply, [0.0])
            rows, value, supply, used = queues[(i, side)]
            low, high = used[0], used[0] + abs(q_held)
            used[0] = high
            start = max(int(np.searchsorted(supply, low, side="right")) - 1, 0)
            mark = float(step.mark[i])
            for k in range(start, len(rows)):
                take = min(float(supply[k + 1]), high) - max(float(supply[k]), low)
                if take <= ADL_MIN_UNITS:
                    if supply[k] >= high:
                        break
                    continue
                row = int(rows[k])
                a = int(state.account[row])
                if row not in q_start:
                    q_start[row] = float(state.quantity[row])
                quantity = q_start[row]
                taken[row] = taken.get(row, 0.0) + take
                moved = take * float(value[k]) / abs(quantity)
                transfer = take * per_unit
                cash_change[a] = cash_change.get(a, 0.0) + moved - transfer
                b = int(bankrupt[c])
                cash_change[b] = cash_change.get(b, 0.0) + transfer
                recovered[c] += transfer
                equity_now[a] -= transfer
                change = -float(np.sign(quantity)) * take
                add((c, a, "adl", i, change, mark + share / q_held, take * mark, -transfer, 0.0, float(equity_now[a])))
        if taken:
            touched = np.fromiter(taken, dtype=np.int64, count=len(taken))
            keep = np.array([1.0 - taken[r] / abs(q_start[r]) for r in touched.tolist()])
            start_q = np.array([q_start[r] for r in touched.tolist()])
            state.set_quantity(touched, np.where(keep > ADL_MIN_UNITS, start_q * keep, 0.0))
            for a, amount in cash_change.items():
                state.cash[a] += amount
        remaining -= recovered
    if policy.socialised_loss and np.any(remaining > 1e-9):
        for c in np.flatnonzero(remaining > 1e-9).tolist():
            i = int(bankrupt[c])
            charges = socialised_charges(step.market_equity(state), i, float(remaining[c]))
            got = float(charges.sum())
            if got <= 0:
                continue
            state.cash -= charges
            state.cash[i] += got
            add((c, i, "socialised_loss", -1, 0.0, 0.0, 0.0, got, float(remaining[c]), state.equity_without_positions(step, i)))
            socialised[c] = got
            remaining[c] -= got
    bad_debt = np.where(remaining > 1e-9, remaining, 0.0)
    for c in np.flatnonzero(bad_debt > 0).tolist():
        i = int(bankrupt[c])
        add((c, i, "bad_debt", -1, 0.0, 0.0, 0.0, 0.0, float(bad_debt[c]), state.equity_without_positions(step, i)))
    columns: dict[str, Any] = {name: np.asarray(values, dtype=object if name == "action" else None)
                               for name, values in zip(names, zip(*records))} if records else {name: np.zeros(0) for name in names}
    columns["seq"] = np.arange(1, len(records) + 1)  # increasing in log order: sorts the rows of each claim
    columns["fund_balance_usd"] = np.asarray(fund_balance_usd, dtype=np.float64)[columns["claim"].astype(np.int64)] if records else np.zeros(0)
    return WriteOff(recovered, socialised, bad_debt, columns)


def write_off_events(events: _Events, state: BookState, write_off: WriteOff, step_number: int, when: Any, order: np.ndarray) -> None:
    """Add the rows of ``write_off`` to ``events`` after each claim's own rows (phase 1, claim ``order``)."""
    cols = write_off.columns
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


@dataclass
class _PhaseInput:
    state: BookState
    step: StepMarket
    model: Any
    policy: LiquidationPolicy
    step_number: int
    last_tier: np.ndarray
    account_offset: int
    row_offset: int


@dataclass
class _PhaseOutput:
    state: BookState
    events: list[dict[str, Any]]
    tier: np.ndarray
    ratio: np.ndarray
    fees: float
    closed_rows: np.ndarray
    closed_change: np.ndarray
    closed_account: np.ndarray
    account_offset: int
    row_offset: int


def _ladder_phase(task: _PhaseInput) -> _PhaseOutput:
    """The per-account part of one step on a (part of the) book: settle expiries, margin every account in
    one call, log tier changes, run the ladder. Independent across accounts: what a cluster distributes."""
    state, step, policy, step_number = task.state, task.step, task.policy, task.step_number
    events = _Events(task.account_offset)
    settle_expired_arrays(state, step, events, step_number)
    margin = BookMargin(task.model, state, step)
    counts = state.alive_counts()
    with_positions = np.flatnonzero(counts > 0)
    _, mm, equity = margin(PseudoAccounts.of(state, with_positions))
    ratio = _ratio(equity, mm)
    if np.any(np.isnan(ratio)):
        from marginlab.exceptions import ParameterError

        raise ParameterError("margin_ratio", float("nan"), f"is NaN for account {state.ids[int(with_positions[np.argmax(np.isnan(ratio))])]}")
    action = classify(ratio, policy)
    ratio_all = np.full(state.n_accounts, np.inf)
    ratio_all[with_positions] = ratio
    tier = np.zeros(state.n_accounts, dtype=np.int64)
    tier[with_positions] = action
    warn = with_positions[((action == 1) | (action == 2)) & (task.last_tier[with_positions] != action)]
    if len(warn):
        events.add(
            key_step=step_number, phase=0, order=warn, seq=0, n=len(warn), time=np.full(len(warn), step.market.as_of, dtype=object),
            account_id=np.asarray(state.ids, dtype=object)[warn], action=_ACTIONS[tier[warn]], margin_ratio=ratio_all[warn],
            fund_balance_usd=np.nan, equity_usd=step.market_equity(state, warn),
        )
    ladder = BookLadder(state, step, margin, policy, events, step_number)
    liquidate = action >= 3
    if np.any(liquidate):
        ladder.run(with_positions[liquidate], mm[liquidate], ratio[liquidate], action[liquidate])
    return _PhaseOutput(
        state, events.parts, tier, ratio_all, float(np.sum(ladder.fees)),
        np.concatenate(ladder.closed_rows) if ladder.closed_rows else np.zeros(0, dtype=np.int64),
        np.concatenate(ladder.closed_change) if ladder.closed_change else np.zeros(0),
        np.concatenate(ladder.closed_account) if ladder.closed_account else np.zeros(0, dtype=np.int64),
        task.account_offset, task.row_offset,
    )


def replay_model_on_book(
    name: str,
    book: tuple[Account, ...],
    spec: Any,
    markets: Sequence[Any],
    policy: LiquidationPolicy,
    funding: str | float,
    fund_start: float,
    adl: bool,
    progress: bool,
    path_assets: Sequence[str],
    executor: Any = None,
    partitions: int = 1,
    template: BookState | None = None,
) -> Any:
    """Replay of one model on the arrays; returns a :class:`~marginlab.analysis.replay.ModelReplay`.

    ``template`` is the book already as arrays (:class:`BookState` of ``book``, built once for several
    models; the replay works on a copy)."""
    from marginlab.analysis.replay import ModelReplay, _model_at
    from marginlab.progress import tqdm

    state = BookState(book) if template is None else template.slice(0, template.n_accounts)
    everyone = np.arange(state.n_accounts)
    first = markets[0]
    model0 = _model_at(spec, first.as_of)
    step0 = StepMarket.build(state, first)
    im_start, mm_start, _ = BookMargin(model0, state, step0)(PseudoAccounts.of(state, everyone))
    if funding != "given":
        state.cash += float(funding) * im_start - step0.market_equity(state)
    accounts_start = state.frozen_accounts() if funding != "given" else book
    im0, mm0 = float(np.sum(im_start)), float(np.sum(mm_start))
    equity0 = float(np.sum(step0.market_equity(state)))
    fund = float(fund_start)
    fund_paid = recovered = bad_debt = socialised = liquidator = 0.0
    events = _Events()
    step_rows = []
    last_tier = np.zeros(state.n_accounts, dtype=np.int64)  # 0 = none
    written_off = np.zeros(state.n_accounts)
    iterator = tqdm(list(enumerate(markets)), desc=f"replay {name}", disable=not progress, leave=False, unit="step")
    for step_number, market in iterator:
        model = _model_at(spec, market.as_of)
        step = StepMarket.build(state, market)
        if executor is None or partitions <= 1:
            phase = _ladder_phase(_PhaseInput(state, step, model, policy, step_number, last_tier, 0, 0))
            parts = [phase]
        else:
            bounds = np.linspace(0, state.n_accounts, partitions + 1).round().astype(int)
            inputs = [_PhaseInput(state.slice(a0, a1), step, model, policy, step_number, last_tier[a0:a1], a0, int(state.starts[a0]))
                      for a0, a1 in zip(bounds[:-1], bounds[1:]) if a1 > a0]
            parts = executor(_ladder_phase, inputs)
            for piece in parts:
                state.merge(piece.state, piece.account_offset)
        for piece in parts:
            events.parts += piece.events
        last_tier = np.concatenate([piece.tier for piece in parts])
        ratio_all = np.concatenate([piece.ratio for piece in parts])
        closed_rows = np.concatenate([piece.closed_rows + piece.row_offset for piece in parts])
        closed_change = np.concatenate([piece.closed_change for piece in parts])
        closed_account = np.concatenate([piece.closed_account + piece.account_offset for piece in parts])
        fees = float(sum(piece.fees for piece in parts))
        fund += policy.fund_share(fees)
        liquidator += fees - policy.fund_share(fees)
        # book-level settlement: largest deficit first (ties: book order); the fund pays in that order,
        # then what it could not pay is written off (ADL on one queue snapshot, socialised loss, bad debt)
        no_positions = np.flatnonzero(state.alive_counts() == 0)
        deficit = -step.market_equity(state, no_positions) - written_off[no_positions]
        mask = deficit > 1e-6
        order = np.lexsort((no_positions[mask], -ordering_key(deficit[mask])))
        bankrupt, owed = no_positions[mask][order], deficit[mask][order]
        if len(bankrupt):
            paid = np.zeros(len(bankrupt))
            fund_after = np.zeros(len(bankrupt))
            for k, d in enumerate(owed.tolist()):
                paid[k] = min(fund, d) if policy.use_insurance_fund else 0.0
                fund -= paid[k]
                fund_paid += paid[k]
                fund_after[k] = fund
            state.cash[bankrupt] += paid
            claims = np.arange(len(bankrupt))
            events.add(key_step=step_number, phase=1, order=claims, seq=0, n=len(bankrupt), time=np.full(len(bankrupt), market.as_of, dtype=object),
                       account_id=np.asarray(state.ids, dtype=object)[bankrupt], action="insurance_fund", deficit_usd=owed, transfer_usd=paid,
                       fund_balance_usd=fund_after, equity_usd=step.market_equity(state, bankrupt))
            done = write_off_arrays(state, step, bankrupt, owed - paid, fund_after, (closed_rows, closed_change, closed_account), policy, adl)
            write_off_events(events, state, done, step_number, market.as_of, claims)
            recovered += float(done.recovered_usd.sum())
            socialised += float(done.socialised_usd.sum())
            bad_debt += float(done.bad_debt_usd.sum())
            written_off[bankrupt] += done.bad_debt_usd
        equity_total = float(np.sum(step.market_equity(state)))
        record: dict[str, Any] = {"step": step_number, "time": market.as_of}
        for asset in path_assets:
            record[f"{asset}_usd"] = market.index_usd(asset)
        record.update(
            equity_usd=equity_total,
            accounts_below_maintenance=int(np.sum(ratio_all < 1.0)),
            accounts_with_positions=int(np.sum(state.alive_counts() > 0)),
            fees_usd=fees,
            fund_balance_usd=fund,
            bad_debt_usd=bad_debt,
        )
        step_rows.append(record)
    return ModelReplay(
        name, accounts_start, state.frozen_accounts(), events.frame(), pd.DataFrame(step_rows), im0, mm0, equity0, float(fund_start), fund, fund_paid,
        recovered, bad_debt, socialised, liquidator,
    )






def liquidate_book_arrays(
    state: BookState, step: StepMarket, model: Any, policy: LiquidationPolicy, fund_usd: float, *, adl: bool = True, when: Any = None
) -> dict[str, Any]:
    """:func:`marginlab.analysis.liquidation.liquidate_book` on the arrays (same order, fund path, ADL and events).

    Accounts are processed in ascending margin ratio (ties: book order); each account's closes feed
    the fund as they happen and its deficit draws on the fund left by the previous accounts; what the
    fund cannot pay goes to ADL, then bad debt. ``state`` is updated in place.

    Returns a dict with ``events`` (DataFrame), ``fund_after_usd``, ``fees_usd``, ``deficit_usd``,
    ``adl_recovered_usd``, ``bad_debt_usd``, ``liquidated`` (account indices).
    """
    when = when if when is not None else step.market.as_of
    margin = BookMargin(model, state, step)
    counts = state.alive_counts()
    with_positions = np.flatnonzero(counts > 0)
    _, mm, equity = margin(PseudoAccounts.of(state, with_positions))
    ratio = _ratio(equity, mm)
    action = classify(ratio, policy)
    buffer = _Events()
    ladder = BookLadder(state, step, margin, policy, buffer, 0)
    liquidate = action >= 3
    if np.any(liquidate):
        ladder.run(with_positions[liquidate], mm[liquidate], ratio[liquidate], action[liquidate])
    ratio_all = np.full(state.n_accounts, np.inf)
    ratio_all[with_positions] = ratio
    action_all = np.zeros(state.n_accounts, dtype=np.int64)
    action_all[with_positions] = action
    touched = np.flatnonzero(action_all > 0)
    order = np.lexsort((np.arange(state.n_accounts), ordering_key(ratio_all)))
    rank = np.empty(state.n_accounts, dtype=np.int64)
    rank[order] = np.arange(state.n_accounts)
    # the ladder's close rows: contiguous per account (the buffer sorts by account, then close order)
    closes = buffer.frame()
    index_of = {account_id: i for i, account_id in enumerate(state.ids)}
    close_account = np.asarray([index_of[x] for x in closes["account_id"]], dtype=np.int64) if len(closes) else np.zeros(0, dtype=np.int64)
    bounds = np.searchsorted(close_account, np.arange(state.n_accounts + 1))
    fee_all = closes["fee_usd"].to_numpy(dtype=np.float64)
    close_steps = closes["step"].to_numpy()
    close_fund = np.zeros(len(closes))
    close_key = np.zeros(len(closes), dtype=np.int64)
    counts_after = state.alive_counts()
    fund = float(fund_usd)
    fees_total = deficit_total = 0.0
    uncovered: dict[int, float] = {}
    notes: dict[str, list[Any]] = {k: [] for k in ("_key", "account", "action", "step", "fund", "ratio", "equity", "deficit", "transfer")}

    def note(key: int, a: int, action: str, step_number: int, ratio_value: float, equity_value: float, deficit: float, paid: float) -> None:
        for name, value in zip(notes, (key, a, action, step_number, fund, ratio_value, equity_value, deficit, paid)):
            notes[name].append(value)

    warned = touched[(action_all[touched] == 1) | (action_all[touched] == 2)]
    equity_before = np.zeros(state.n_accounts)
    equity_before[warned] = step.market_equity(state, warned)
    # in ascending margin ratio: warnings, each account's closes feeding the fund, then its deficit drawing on it
    for position, a in enumerate(touched[np.argsort(rank[touched], kind="stable")].tolist()):
        key = position * (len(closes) + 2)
        if action_all[a] in (1, 2):
            note(key, a, str(_ACTIONS[action_all[a]]), 0, float(ratio_all[a]), float(equity_before[a]), 0.0, 0.0)
            continue
        lo, hi = int(bounds[a]), int(bounds[a + 1])
        if lo == hi:
            continue
        fees = fee_all[lo:hi]
        fund_path = fund + np.cumsum(fees * (1.0 - policy.liquidator_share))
        close_fund[lo:hi] = fund_path
        close_key[lo:hi] = key + 1 + np.arange(hi - lo)
        fund = float(fund_path[-1])
        fees_total += float(fees.sum())
        if counts_after[a] == 0:
            equity_after = state.equity_without_positions(step, a)
            if equity_after < 0:
                deficit = -equity_after
                paid = min(fund, deficit) if policy.use_insurance_fund else 0.0
                fund -= paid
                deficit_total += deficit
                state.cash[a] += paid
                if deficit - paid > 0:
                    uncovered[a] = deficit - paid
                note(key + 1 + hi - lo, a, "insurance_fund", int(close_steps[hi - 1]), 0.0, state.equity_without_positions(step, a), deficit, paid)
    rows: list[pd.DataFrame] = []
    frames = [closes.assign(fund_balance_usd=close_fund, time=[when] * len(closes), _key=close_key)]
    if notes["_key"]:
        n = len(notes["_key"])
        frames.append(events_frame([]).reindex(range(n)).assign(
            time=[when] * n, account_id=np.asarray(state.ids, dtype=object)[np.asarray(notes["account"], dtype=np.int64)],
            step=np.asarray(notes["step"], dtype=np.int64), action=notes["action"], symbol="", fund_balance_usd=notes["fund"],
            margin_ratio=notes["ratio"], equity_usd=notes["equity"], deficit_usd=notes["deficit"], transfer_usd=notes["transfer"],
            _key=notes["_key"]).fillna({c: 0.0 for c in EVENT_COLUMNS if c not in ("time", "account_id", "action", "symbol")}))
    ordered = pd.concat(frames, ignore_index=True).sort_values("_key", kind="stable").drop(columns="_key").reset_index(drop=True)
    if len(ordered):
        rows.append(ordered)
    closed_rows = np.concatenate(ladder.closed_rows) if ladder.closed_rows else np.zeros(0, dtype=np.int64)
    closed_change = np.concatenate(ladder.closed_change) if ladder.closed_change else np.zeros(0)
    closed_account = np.concatenate(ladder.closed_account) if ladder.closed_account else np.zeros(0, dtype=np.int64)
    bankrupt = np.array(sorted(uncovered, key=lambda i: rank[i]), dtype=np.int64)
    done = write_off_arrays(state, step, bankrupt, np.array([uncovered[int(a)] for a in bankrupt]), np.full(len(bankrupt), fund),
                            (closed_rows, closed_change, closed_account), policy, adl)
    tail = _Events()
    write_off_events(tail, state, done, 0, when, np.arange(len(bankrupt)))
    if tail.parts:
        frame = tail.frame()
        frame["step"] = 0
        rows.append(frame)
    recovered, bad_debt, socialised = float(done.recovered_usd.sum()), float(done.bad_debt_usd.sum()), float(done.socialised_usd.sum())
    events = pd.concat(rows, ignore_index=True) if rows else events_frame([])
    return {"events": events, "fund_after_usd": fund, "fees_usd": fees_total, "deficit_usd": deficit_total, "adl_recovered_usd": recovered,
            "bad_debt_usd": bad_debt, "socialised_usd": socialised, "liquidated": np.unique(closed_account)}
