"""The per-account mirror of the liquidation engine: the test oracle.

The same rules as :mod:`marginlab.liquidation.driver`, written on :class:`~marginlab.account.Account` objects one
account at a time -- one ``model.margin`` call per account and per trial close, the ADL queue ranked from the
objects -- the way ``arch`` keeps pure-Python recursions next to its compiled ones. It has the driver's API
(:func:`replay_model` is :func:`~marginlab.liquidation.driver.replay_model_on_book`, :func:`liquidate_book` is
:func:`~marginlab.liquidation.driver.liquidate_book`) and the tests check that both give the same events, balances,
fund path and bad debt for every preset (``tests/liquidation``). It is slow; use it to check the engine, not to run
stress tests.

>>> from marginlab.instruments import Perpetual, Position
>>> from marginlab.margin.flat import FlatRateModel
>>> account = Account((Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000),), cash_usd=10_000)
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 94_000}}})
>>> outcome = liquidate_account(account, FlatRateModel(0.10, 0.05), market)
>>> outcome.action, outcome.steps, round(outcome.margin_ratio_after, 4)     # two 20% closes: ratio 0.851 -> 3,830.8 / 3,008 = 1.2735 (fees 94 + 75.2)
('partial_liquidation', 2, 1.2735)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from marginlab.account import Account
from marginlab.exceptions import EmptyPortfolioError, ParameterError
from marginlab.instruments import Future, Option, Position
from marginlab.liquidation.driver import Executor, ModelSpec, model_at, splits_isolated
from marginlab.liquidation.events import event_row, events_frame, ordering_key
from marginlab.liquidation.isolated import IsolatedSplit, isolated_bad_debt_usd, merge_isolated, split_isolated
from marginlab.liquidation.policy import LADDER_ACTIONS, LiquidationPolicy
from marginlab.liquidation.results import BookLiquidation, ReplayRun, market_equity_usd
from marginlab.liquidation.writeoff import ADL_MIN_UNITS, DEFICIT_MIN_USD, socialised_charges
from marginlab.margin.base import MarginModel
from marginlab.market import MarketSnapshot
from marginlab.progress import tqdm
from marginlab.valuation import inverse_pnl_usd, value_positions


@dataclass(frozen=True)
class _Margin:
    equity_usd: float
    maintenance_margin_usd: float
    initial_margin_usd: float

    @property
    def ratio(self) -> float:
        if self.maintenance_margin_usd <= 0:
            return math.inf
        return self.equity_usd / self.maintenance_margin_usd


def _margin(model: MarginModel, account: Account, market: MarketSnapshot) -> _Margin:
    if not account.positions:
        return _Margin(market_equity_usd(account, market), 0.0, 0.0)
    try:
        result = model.margin(account, market)
    except EmptyPortfolioError:
        return _Margin(market_equity_usd(account, market), 0.0, 0.0)
    return _Margin(float(result.equity_usd), float(result.maintenance_margin_usd), float(result.initial_margin_usd))


def _replace_position(account: Account, index: int, position: Position | None, cash_change_usd: float) -> Account:
    positions = list(account.positions)
    if position is None:
        del positions[index]
    else:
        positions[index] = position
    return dataclasses.replace(account, positions=tuple(positions), cash_usd=account.cash_usd + cash_change_usd)


@dataclass(frozen=True)
class AccountLiquidation:
    """What the ladder did to one account at one snapshot (no fund: deficits are settled for the book).

    Attributes
    ----------
    account_before, account_after : Account
    action : str
        The ladder action at the start (one of :data:`~marginlab.liquidation.policy.LADDER_ACTIONS`).
    margin_ratio_before, margin_ratio_after : float
    fees_usd, slippage_usd : float
    closed : tuple of (Position, float)
        Each closed piece: the position as it was and the signed quantity change.
    event_records : tuple of dict
    steps : int
        Closes made.
    """

    account_before: Account
    account_after: Account
    action: str
    margin_ratio_before: float
    margin_ratio_after: float
    fees_usd: float
    slippage_usd: float
    closed: tuple[tuple[Position, float], ...]
    event_records: tuple[dict[str, Any], ...]
    steps: int = 0

    @property
    def events(self) -> pd.DataFrame:
        """The event rows as a DataFrame."""
        return events_frame(self.event_records)


def _most_risk_intensive(account: Account, model: MarginModel, market: MarketSnapshot, policy: LiquidationPolicy,
                         maintenance_usd: float) -> tuple[int, float] | None:
    """Index and kept fraction of the partial close releasing most maintenance per USD notional closed."""
    valuation = value_positions(account.positions, market)
    best: tuple[float, int, float] | None = None
    for index in range(len(account.positions)):
        notional = float(valuation.notional_usd[index])
        keep = 1.0 - policy.partial_fraction
        if keep * notional < policy.min_close_notional_usd:
            keep = 0.0
        closed_notional = (1.0 - keep) * notional
        if closed_notional <= 0:
            continue
        position = account.positions[index]
        trial = _replace_position(account, index, replace(position, quantity=position.quantity * keep) if keep > 0 else None, 0.0)
        released = maintenance_usd - _margin(model, trial, market).maintenance_margin_usd
        if released <= 1e-12 * max(maintenance_usd, 1.0):
            continue
        score = released / closed_notional
        if best is None or score > best[0] * (1 + 1e-12):
            best = (score, index, keep)
    return None if best is None else (best[1], best[2])


def liquidate_account(account: Account, model: MarginModel, market: MarketSnapshot, policy: LiquidationPolicy | None = None, *,
                      time: datetime | None = None) -> AccountLiquidation:
    """The ladder of ``policy`` on one account at ``market`` (:mod:`marginlab.liquidation.ladder`, one account at a time).

    Parameters
    ----------
    account : Account
    model : MarginModel
    market : MarketSnapshot
    policy : LiquidationPolicy, optional
    time : datetime, optional
        Time stamped on the events (default ``market.as_of``).

    Returns
    -------
    AccountLiquidation
    """
    policy = policy or LiquidationPolicy()
    when = time if time is not None else market.as_of
    state = _margin(model, account, market)
    ratio_before = state.ratio
    action = policy.classify(ratio_before)
    rows: list[dict[str, Any]] = []
    closed: list[tuple[Position, float]] = []
    totals = {"fees": 0.0, "slippage": 0.0, "step": 0}
    last = [state]

    def close(current: Account, index: int, keep_fraction: float, label: str) -> Account:
        valuation = value_positions(current.positions, market)
        position = current.positions[index]
        fraction = 1.0 - keep_fraction
        notional = fraction * float(valuation.notional_usd[index])
        value_moved = fraction * float(valuation.value_usd[index])
        equity_now = market_equity_usd(current, market, valuation)
        slip = policy.slippage_rate * notional
        fee = min(policy.fee_rate * notional, max(equity_now - slip, 0.0))
        totals["fees"] += fee
        totals["slippage"] += slip
        totals["step"] += 1
        change = -position.quantity * fraction
        closed.append((position, change))
        kept = replace(position, quantity=position.quantity * keep_fraction) if keep_fraction > 0 else None
        after = _replace_position(current, index, kept, value_moved - fee - slip)
        last[0] = _margin(model, after, market)
        rows.append(event_row(time=when, account_id=account.account_id, step=totals["step"], action=label, symbol=position.symbol, quantity=change,
                              price_usd=float(valuation.mark_usd[index]), notional_usd=notional, delta_quantity=change * float(valuation.delta[index]),
                              fee_usd=fee, slippage_usd=slip, fund_balance_usd=np.nan, margin_ratio=last[0].ratio,
                              equity_usd=market_equity_usd(after, market)))
        return after

    current = account
    if action in ("warning", "reduce_only"):
        rows.append(event_row(time=when, account_id=account.account_id, action=action, fund_balance_usd=np.nan, margin_ratio=ratio_before,
                              equity_usd=market_equity_usd(account, market)))
    full = action == "full_liquidation"
    if action == "partial_liquidation":
        ratio = ratio_before
        partial_steps = 0
        while ratio < policy.target_ratio and current.positions:
            if ratio <= policy.full_liquidation_ratio or partial_steps >= policy.max_steps:
                full = True
                break
            choice = _most_risk_intensive(current, model, market, policy, state.maintenance_margin_usd)
            if choice is None:
                full = True
                break
            current = close(current, choice[0], choice[1], "partial_liquidation")
            partial_steps += 1
            state = last[0]
            ratio = state.ratio
    if full:
        while current.positions:
            current = close(current, 0, 0.0, "full_liquidation")
    return AccountLiquidation(account, current, action, ratio_before, last[0].ratio, float(totals["fees"]), float(totals["slippage"]),
                              tuple(closed), tuple(rows), int(totals["step"]))


def settle_expired(account: Account, market: MarketSnapshot) -> tuple[Account, list[dict[str, Any]]]:
    """Cash-settle options and futures expired at ``market.as_of`` at the index (:mod:`marginlab.liquidation.settlement`)."""
    keep, rows = [], []
    cash = account.cash_usd
    for position in account.positions:
        instrument = position.instrument
        if isinstance(instrument, Option | Future) and instrument.expiry <= market.as_of:
            price = market.index_usd(position.underlying)
            entry = position.entry_price_usd if position.entry_price_usd is not None else price
            if isinstance(instrument, Option):
                payoff = max(price - instrument.strike_usd, 0.0) if instrument.is_call else max(instrument.strike_usd - price, 0.0)
                value = position.quantity * payoff
            elif instrument.is_inverse:
                value = float(inverse_pnl_usd(position.quantity, entry, price))
            else:
                value = position.quantity * (price - entry)
            cash += value
            rows.append(event_row(time=market.as_of, account_id=account.account_id, action="settlement", symbol=position.symbol,
                                  quantity=-position.quantity, price_usd=price,
                                  notional_usd=abs(position.quantity) * (1.0 if isinstance(instrument, Future) and instrument.is_inverse else price),
                                  transfer_usd=value))
        else:
            keep.append(position)
    if not rows:
        return account, []
    return dataclasses.replace(account, positions=tuple(keep), cash_usd=cash), rows


def adl_ranking(accounts: Sequence[Account], market: MarketSnapshot, symbol: str, side: float) -> pd.DataFrame:
    """ADL queue for ``symbol``: profitable positions of sign ``side`` with an entry price, ranked by
    ``pnl% x effective leverage`` at 40 significant bits, ties in book order (``pnl-x-leverage``)."""
    rows = []
    for a, account in enumerate(accounts):
        if not account.positions:
            continue
        valuation = value_positions(account.positions, market)
        equity = market_equity_usd(account, market, valuation)
        gross = float(np.sum(valuation.notional_usd))
        leverage = gross / equity if equity > 0 else math.inf
        for p, position in enumerate(account.positions):
            if position.symbol != symbol or np.sign(position.quantity) != side or position.entry_price_usd is None:
                continue
            if valuation.kinds[p] not in ("perpetual", "future"):
                continue
            pnl = float(valuation.value_usd[p])
            if pnl <= 0:
                continue
            pnl_pct = pnl / (abs(position.quantity) * position.entry_price_usd)
            rows.append((a, p, account.account_id, position.quantity, pnl, pnl_pct, leverage, float(ordering_key(pnl_pct * leverage)),
                         float(valuation.mark_usd[p])))
    frame = pd.DataFrame(rows, columns=["account_index", "position_index", "account_id", "quantity", "pnl_usd", "pnl_pct", "leverage", "score",
                                        "mark_usd"])
    return frame.sort_values(["score", "account_index"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


@dataclass(frozen=True)
class AdlClaim:
    """A deficit to write off: the bankrupt account (index into the book), its closes ``(position, signed change)``,
    the amount and the fund balance recorded on its rows."""

    bankrupt_index: int
    closed: Sequence[tuple[Position, float]]
    deficit_usd: float
    fund_balance_usd: float = 0.0


def adl_pieces(closed: Sequence[tuple[Position, float]], market: MarketSnapshot) -> list[tuple[str, float, float]]:
    """``(symbol, held quantity, weight)`` of the bankrupt's closed linear positions, in order of first close."""
    held: dict[str, float] = {}
    underlying: dict[str, str] = {}
    for position, change in closed:
        if position.instrument.kind not in ("perpetual", "future"):
            continue
        held[position.symbol] = held.get(position.symbol, 0.0) - change
        underlying.setdefault(position.symbol, position.underlying)
    return [(symbol, q, abs(q) * market.index_usd(underlying[symbol])) for symbol, q in held.items()]


def auto_deleverage(accounts: Sequence[Account], claims: Sequence[AdlClaim], market: MarketSnapshot, *, time: datetime | None = None
                    ) -> tuple[list[Account], list[list[dict[str, Any]]], np.ndarray]:
    """ADL of ``claims`` (in order) on one queue snapshot (:func:`marginlab.liquidation.writeoff.adl_stage`).

    Returns the book after, the ``adl`` rows per claim and the amount recovered per claim.

    >>> from marginlab.instruments import Perpetual
    >>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 90000}}})
    >>> long = Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000)
    >>> bankrupt = [Account((), -300.0, account_id="a"), Account((), -100.0, account_id="b")]
    >>> short = Account((Position(Perpetual("BTC"), -1.5, entry_price_usd=100_000),), 10_000, account_id="c")
    >>> claims = [AdlClaim(0, [(long, -1.0)], 300.0), AdlClaim(1, [(long, -1.0)], 100.0)]
    >>> book, rows, recovered = auto_deleverage([*bankrupt, short], claims, market)
    >>> recovered.tolist(), [round(r["quantity"], 6) for rows_ in rows for r in rows_], book[2].positions
    ([300.0, 50.0], [1.0, 0.5], ())
    """
    snapshot = tuple(accounts)
    book = list(accounts)
    when = time if time is not None else market.as_of
    present = [list(range(len(a.positions))) for a in snapshot]
    taken: dict[tuple[int, int], float] = {}
    queues: dict[tuple[str, float], tuple[pd.DataFrame, np.ndarray, list[float]]] = {}
    rows: list[list[dict[str, Any]]] = []
    recovered = np.zeros(len(claims))
    for c, claim in enumerate(claims):
        mine: list[dict[str, Any]] = []
        rows.append(mine)
        pieces = adl_pieces(claim.closed, market)
        total_weight = 0.0
        for _, _, w in pieces:
            total_weight += w
        for symbol, held, weight in pieces:
            if held == 0 or total_weight <= 0:
                continue
            share = claim.deficit_usd * weight / total_weight
            per_unit = share / abs(held)
            side = -float(np.sign(held))
            if (symbol, side) not in queues:
                ranking = adl_ranking(snapshot, market, symbol, side)
                supply = np.concatenate([[0.0], np.cumsum(np.abs(ranking["quantity"].to_numpy(dtype=np.float64)))])
                queues[(symbol, side)] = (ranking, supply, [0.0])
            ranking, supply, used = queues[(symbol, side)]
            low, high = used[0], used[0] + abs(held)
            used[0] = high
            for k, row in enumerate(ranking.to_dict("records")):
                take = min(float(supply[k + 1]), high) - max(float(supply[k]), low)
                if take <= ADL_MIN_UNITS:
                    if supply[k] >= high:
                        break
                    continue
                a, p = int(row["account_index"]), int(row["position_index"])
                quantity_start = float(row["quantity"])
                taken[(a, p)] = taken.get((a, p), 0.0) + take
                keep = 1.0 - taken[(a, p)] / abs(quantity_start)
                moved = take * float(row["pnl_usd"]) / abs(quantity_start)
                transfer = take * per_unit
                index = present[a].index(p)
                position = snapshot[a].positions[p]
                if keep > ADL_MIN_UNITS:
                    book[a] = _replace_position(book[a], index, replace(position, quantity=quantity_start * keep), moved - transfer)
                else:
                    book[a] = _replace_position(book[a], index, None, moved - transfer)
                    del present[a][index]
                bankrupt = book[claim.bankrupt_index]
                book[claim.bankrupt_index] = dataclasses.replace(bankrupt, cash_usd=bankrupt.cash_usd + transfer)
                recovered[c] += transfer
                change = -np.sign(quantity_start) * take
                mark = float(row["mark_usd"])
                mine.append(event_row(time=when, account_id=snapshot[a].account_id, action="adl", symbol=symbol, quantity=float(change),
                                      price_usd=mark + share / held, notional_usd=take * mark, delta_quantity=float(change), transfer_usd=-transfer,
                                      deficit_usd=0.0, fund_balance_usd=claim.fund_balance_usd, equity_usd=market_equity_usd(book[a], market)))
    return book, rows, recovered


def write_off_deficits(accounts: Sequence[Account], claims: Sequence[AdlClaim], market: MarketSnapshot, policy: LiquidationPolicy, *,
                       adl: bool = True, time: datetime | None = None) -> tuple[list[Account], list[list[dict[str, Any]]], dict[str, np.ndarray]]:
    """What the fund could not pay (:func:`marginlab.liquidation.writeoff.write_off`): ADL, socialised loss, bad debt.

    Returns the book after, the rows per claim and the per-claim arrays ``recovered_usd``, ``socialised_usd``,
    ``bad_debt_usd``.
    """
    when = time if time is not None else market.as_of
    book = list(accounts)
    n = len(claims)
    remaining = np.array([c.deficit_usd for c in claims], dtype=np.float64)
    recovered = np.zeros(n)
    socialised = np.zeros(n)
    rows: list[list[dict[str, Any]]] = [[] for _ in claims]
    if adl and policy.auto_deleverage:
        wanted = [k for k, c in enumerate(claims) if c.deficit_usd > 1e-9]
        book, adl_rows, adl_recovered = auto_deleverage(book, [claims[k] for k in wanted], market, time=when)
        for k, claim_rows, amount in zip(wanted, adl_rows, adl_recovered):
            rows[k] = list(claim_rows)
            recovered[k] = amount
        remaining -= recovered
    if policy.socialised_loss:
        for k, claim in enumerate(claims):
            if remaining[k] <= 1e-9:
                continue
            i = claim.bankrupt_index
            charges = socialised_charges(np.array([market_equity_usd(a, market) for a in book]), i, float(remaining[k]))
            got = float(charges.sum())
            if got <= 0:
                continue
            book = [a if charge == 0 else dataclasses.replace(a, cash_usd=a.cash_usd - charge) for a, charge in zip(book, charges)]
            book[i] = dataclasses.replace(book[i], cash_usd=book[i].cash_usd + got)
            rows[k].append(event_row(time=when, account_id=book[i].account_id, action="socialised_loss", deficit_usd=float(remaining[k]),
                                     transfer_usd=got, fund_balance_usd=claim.fund_balance_usd, equity_usd=market_equity_usd(book[i], market)))
            socialised[k] = got
            remaining[k] -= got
    bad_debt = np.where(remaining > 1e-9, remaining, 0.0)
    for k, claim in enumerate(claims):
        if bad_debt[k] > 0:
            rows[k].append(event_row(time=when, account_id=book[claim.bankrupt_index].account_id, action="bad_debt", deficit_usd=float(bad_debt[k]),
                                     fund_balance_usd=claim.fund_balance_usd, equity_usd=market_equity_usd(book[claim.bankrupt_index], market)))
    return book, rows, {"recovered_usd": recovered, "socialised_usd": socialised, "bad_debt_usd": bad_debt}


@dataclass
class _Step:
    accounts: tuple[Account, ...]
    rows: list[dict[str, Any]]
    fund_usd: float
    totals: dict[str, float]
    fees_usd: float
    slippage_usd: float
    ratios: np.ndarray
    tiers: list[str]


def _step(accounts: tuple[Account, ...], split: IsolatedSplit, model: MarginModel, market: MarketSnapshot, policy: LiquidationPolicy,
          fund: float, adl: bool, last_tier: list[str], written_off: np.ndarray, step_number: int) -> _Step:
    """One step of :func:`marginlab.liquidation.driver.run_step`, account by account."""
    rows: list[dict[str, Any]] = []
    after: list[Account] = []
    outcomes: list[AccountLiquidation | None] = []
    ratios, tiers = np.full(len(accounts), math.inf), []
    fees = slippage = 0.0
    for k, account in enumerate(accounts):
        account, settlement_rows = settle_expired(account, market)
        rows += settlement_rows
        if not account.positions:
            after.append(account)
            outcomes.append(None)
            tiers.append("none")
            continue
        outcome = liquidate_account(account, model, market, policy)
        ratios[k] = outcome.margin_ratio_before
        tiers.append(outcome.action)
        fees += outcome.fees_usd
        slippage += outcome.slippage_usd
        repeated = last_tier[k] == outcome.action
        rows += [dict(r) for r in outcome.event_records if not (r["action"] in ("warning", "reduce_only") and repeated)]
        after.append(outcome.account_after)
        outcomes.append(outcome)
    if not split.trivial:  # freed isolated collateral back to the cross part
        for k, account in enumerate(after):
            if split.isolated[k] and not account.positions and account.cash_usd > 0:
                home = int(split.cross[k])
                after[home] = dataclasses.replace(after[home], cash_usd=after[home].cash_usd + account.cash_usd)
                after[k] = dataclasses.replace(account, cash_usd=0.0)
    fund += policy.fund_share(fees)
    deficits = [(-market_equity_usd(a, market) - float(written_off[i]), i) for i, a in enumerate(after) if not a.positions]
    deficits = sorted([d for d in deficits if d[0] > DEFICIT_MIN_USD], key=lambda d: (-float(ordering_key(d[0])), d[1]))
    claims, fund_rows = [], []
    totals = dict.fromkeys(("deficit_usd", "fund_paid_usd", "recovered_usd", "socialised_usd", "bad_debt_usd"), 0.0)
    for deficit, i in deficits:
        paid = min(fund, deficit) if policy.use_insurance_fund else 0.0
        fund -= paid
        totals["fund_paid_usd"] += paid
        totals["deficit_usd"] += deficit
        after[i] = dataclasses.replace(after[i], cash_usd=after[i].cash_usd + paid)
        fund_rows.append(event_row(time=market.as_of, account_id=after[i].account_id, action="insurance_fund", deficit_usd=deficit, transfer_usd=paid,
                                   fund_balance_usd=fund, equity_usd=market_equity_usd(after[i], market)))
        done_i = outcomes[i]
        claims.append(AdlClaim(i, done_i.closed if done_i is not None else (), deficit - paid, fund))
    book, claim_rows, done = write_off_deficits(after, claims, market, policy, adl=adl)
    for fund_row, claim_rows_, claim, lost in zip(fund_rows, claim_rows, claims, done["bad_debt_usd"]):
        rows += [fund_row, *claim_rows_]
        written_off[claim.bankrupt_index] += float(lost)
    for key in ("recovered_usd", "socialised_usd", "bad_debt_usd"):
        totals[key] += float(done[key].sum())
    return _Step(tuple(book), rows, fund, totals, fees, slippage, ratios, tiers)


def replay_model(name: str, book: tuple[Account, ...], spec: ModelSpec, markets: Sequence[MarketSnapshot], policy: LiquidationPolicy,
                 funding: str | float, fund_start: float, adl: bool, progress: bool, path_assets: Sequence[str],
                 executor: Executor | None = None, partitions: int = 1, template: Any = None) -> ReplayRun:
    """:func:`marginlab.liquidation.driver.replay_model_on_book`, account by account (``executor``, ``partitions`` and
    ``template`` are accepted for the same signature and ignored)."""
    first = markets[0]
    model0 = model_at(spec, first.as_of)
    split = split_isolated(book, splits_isolated(model0))
    accounts = split.accounts
    start = [_margin(model0, a, first) for a in accounts]
    if funding != "given":
        accounts = tuple(dataclasses.replace(a, cash_usd=a.cash_usd + (float(funding) * s.initial_margin_usd - market_equity_usd(a, first)))
                         for a, s in zip(accounts, start))
    accounts_start = merge_isolated(split, accounts) if funding != "given" else book
    equity_start = np.array([market_equity_usd(a, first) for a in accounts])
    fund = float(fund_start)
    totals = dict.fromkeys(("fund_paid_usd", "recovered_usd", "socialised_usd", "bad_debt_usd"), 0.0)
    liquidator = slippage = 0.0
    rows: list[dict[str, Any]] = []
    step_rows = []
    last_tier = ["none"] * len(accounts)
    written_off = np.zeros(len(accounts))
    for step_number, market in enumerate(tqdm(markets, desc=f"replay {name}", disable=not progress, leave=False)):
        done = _step(accounts, split, model_at(spec, market.as_of), market, policy, fund, adl, last_tier, written_off, step_number)
        accounts, fund, last_tier = done.accounts, done.fund_usd, done.tiers
        rows += done.rows
        liquidator += done.fees_usd - policy.fund_share(done.fees_usd)
        slippage += done.slippage_usd
        for key in totals:
            totals[key] += done.totals[key]
        record: dict[str, Any] = {"step": step_number, "time": market.as_of}
        for asset in path_assets:
            record[f"{asset}_usd"] = market.index_usd(asset)
        record.update(
            equity_usd=float(sum(market_equity_usd(a, market) for a in accounts)),
            accounts_below_maintenance=int(len(np.unique(split.parent[done.ratios < 1.0]))),
            accounts_with_positions=int(len({int(split.parent[k]) for k, a in enumerate(accounts) if a.positions})),
            fees_usd=done.fees_usd,
            fund_balance_usd=fund,
            bad_debt_usd=totals["bad_debt_usd"],
        )
        step_rows.append(record)
    n_users = len(book)
    return ReplayRun(
        name, accounts_start, merge_isolated(split, accounts), events_frame(rows), pd.DataFrame(step_rows),
        float(sum(s.initial_margin_usd for s in start)), float(sum(s.maintenance_margin_usd for s in start)), float(equity_start.sum()),
        float(fund_start), fund, totals["fund_paid_usd"], totals["recovered_usd"], totals["bad_debt_usd"], totals["socialised_usd"], liquidator,
        slippage, isolated_bad_debt_usd(split, accounts), np.bincount(split.parent, weights=equity_start, minlength=n_users).astype(np.float64),
        np.bincount(split.parent, weights=[s.maintenance_margin_usd for s in start], minlength=n_users).astype(np.float64),
    )


def liquidate_book(accounts: Sequence[Account], model: MarginModel, market: MarketSnapshot, policy: LiquidationPolicy | None = None, *,
                   insurance_fund_usd: float = 0.0, time: datetime | None = None, adl: bool = True) -> BookLiquidation:
    """:func:`marginlab.liquidation.driver.liquidate_book`, account by account."""
    policy = policy or LiquidationPolicy()
    if not isinstance(insurance_fund_usd, int | float) or not math.isfinite(insurance_fund_usd) or insurance_fund_usd < 0:
        raise ParameterError("insurance_fund_usd", insurance_fund_usd, "must be a non-negative finite balance")
    accounts = tuple(accounts)
    split = split_isolated(accounts, splits_isolated(model))
    done = _step(split.accounts, split, model, market, policy, float(insurance_fund_usd), adl, ["none"] * len(split.accounts),
                 np.zeros(len(split.accounts)), 0)
    events = events_frame(done.rows)
    if time is not None and len(events):
        events["time"] = [time] * len(events)
    return BookLiquidation(accounts, merge_isolated(split, done.accounts), events, float(insurance_fund_usd), done.fund_usd,
                           done.totals["recovered_usd"], done.totals["bad_debt_usd"], done.totals["socialised_usd"],
                           done.fees_usd - policy.fund_share(done.fees_usd), done.totals["fund_paid_usd"],
                           isolated_bad_debt_usd(split, done.accounts))


__all__ = ["LADDER_ACTIONS", "AccountLiquidation", "AdlClaim", "adl_pieces", "adl_ranking", "auto_deleverage", "liquidate_account",
           "liquidate_book", "replay_model", "settle_expired", "write_off_deficits"]
