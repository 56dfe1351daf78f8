"""The one step loop of the liquidation engine over a :class:`~marginlab.book.state.BookState`.

A step (:func:`run_step`), for one model at one market:

1. **per account** (:func:`ladder_phase`; independent across accounts, what :mod:`marginlab.scale` distributes):
   expired options and futures are cash-settled (:func:`~marginlab.liquidation.settlement.settle_expiries`);
   every account with positions is margined in one call (:class:`~marginlab.analysis.book.BookMargin`) and
   classified (:func:`~marginlab.liquidation.ladder.classify`; a ``warning`` / ``reduce_only`` row is logged when an
   account enters that tier); accounts at or below ``liquidation_ratio`` go through the ladder
   (:func:`~marginlab.liquidation.ladder.run_ladder`: close-amount stage, closes with fee and slippage);
2. isolated positions' freed collateral returns to their accounts
   (:func:`~marginlab.liquidation.isolated.release_isolated_collateral`);
3. **for the book**: the step's fees go to the insurance fund (the liquidator's share aside), then every bankrupt
   account -- cross account or isolated position -- is settled largest deficit first: fund, ADL, socialised loss,
   bad debt (:func:`~marginlab.liquidation.writeoff.settle_deficits`).

:func:`replay_model_on_book` runs the step along a path; :func:`liquidate_book` is one step at one snapshot (the
cascades' round). Under an isolated model, positions with their own collateral are accounts of their own
(:func:`~marginlab.liquidation.isolated.split_isolated`). The per-account mirror of all this, the test oracle, is
:mod:`marginlab.liquidation.reference`.

>>> from marginlab.account import Account
>>> from marginlab.instruments import Perpetual, Position
>>> from marginlab.margin.flat import FlatRateModel
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 85_000}}})
>>> result = liquidate_book([Account((Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000),), 10_000)], FlatRateModel(),
...                         market, insurance_fund_usd=1_000)
>>> result.deficit_usd, result.fund_after_usd, result.bad_debt_usd   # equity -5,000: the fund pays 1,000
(5000.0, 0.0, 4000.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from marginlab.account import Account
from marginlab.analysis.book import BookMargin
from marginlab.book.state import BookState, PseudoAccounts, StepMarket
from marginlab.exceptions import ParameterError
from marginlab.liquidation.events import EventLog
from marginlab.liquidation.isolated import (
    IsolatedSplit,
    isolated_bad_debt_usd,
    merge_isolated,
    release_isolated_collateral,
    split_isolated,
)
from marginlab.liquidation.ladder import (
    ACTION_NAMES,
    PARTIAL,
    REDUCE_ONLY,
    WARNING,
    LadderStep,
    classify,
    margin_ratio,
    run_ladder,
)
from marginlab.liquidation.policy import LiquidationPolicy
from marginlab.liquidation.results import BookLiquidation, ReplayRun
from marginlab.liquidation.settlement import settle_expiries
from marginlab.liquidation.writeoff import settle_deficits
from marginlab.margin.base import MarginModel
from marginlab.market import MarketSnapshot
from marginlab.progress import tqdm

ModelSpec = MarginModel | Callable[[datetime], MarginModel]
#: ``executor(function, chunks) -> list of results``: how per-account work is run.
Executor = Callable[[Callable[[Any], Any], list[Any]], list[Any]]


def model_at(spec: ModelSpec, time: datetime) -> MarginModel:
    """The model of ``spec`` at ``time`` (a model, or a callable ``time -> model`` rebuilt at each step)."""
    return spec if isinstance(spec, MarginModel) else spec(time)


def splits_isolated(model: MarginModel) -> bool:
    """Whether ``model`` margins a position with its own collateral on its own (``family == "isolated"``)."""
    return getattr(model, "family", "") == "isolated"


@dataclass
class PhaseInput:
    """The per-account part of one step on (a part of) the book."""

    state: BookState
    step: StepMarket
    model: Any
    policy: LiquidationPolicy
    step_number: int
    last_tier: np.ndarray
    account_offset: int = 0
    row_offset: int = 0


@dataclass
class PhaseOutput:
    """What :func:`ladder_phase` did: the updated state part, its event rows, tiers and ratios, fees, closed pieces."""

    state: BookState
    events: list[dict[str, Any]]
    tier: np.ndarray
    ratio: np.ndarray
    fees: float
    slippage: float
    closed_rows: np.ndarray
    closed_change: np.ndarray
    closed_account: np.ndarray
    account_offset: int
    row_offset: int


def ladder_phase(task: PhaseInput) -> PhaseOutput:
    """Settle expiries, margin every account in one call, log tier changes, run the ladder (module docstring, step 1).

    Parameters
    ----------
    task : PhaseInput

    Returns
    -------
    PhaseOutput
    """
    state, step, policy, step_number = task.state, task.step, task.policy, task.step_number
    events = EventLog(task.account_offset)
    settle_expiries(state, step, events, step_number)
    margin = BookMargin(task.model, state, step)
    with_positions = np.flatnonzero(state.alive_counts() > 0)
    _, mm, equity = margin(PseudoAccounts.of(state, with_positions))
    ratio = margin_ratio(equity, mm)
    if np.any(np.isnan(ratio)):
        raise ParameterError("margin_ratio", float("nan"), f"is NaN for account {state.ids[int(with_positions[np.argmax(np.isnan(ratio))])]}")
    action = classify(ratio, policy)
    ratio_all = np.full(state.n_accounts, np.inf)
    ratio_all[with_positions] = ratio
    tier = np.zeros(state.n_accounts, dtype=np.int64)
    tier[with_positions] = action
    warn = with_positions[((action == WARNING) | (action == REDUCE_ONLY)) & (task.last_tier[with_positions] != action)]
    if len(warn):
        events.add(
            key_step=step_number, phase=0, order=warn, seq=0, n=len(warn), time=np.full(len(warn), step.market.as_of, dtype=object),
            account_id=np.asarray(state.ids, dtype=object)[warn], action=ACTION_NAMES[tier[warn]], margin_ratio=ratio_all[warn],
            fund_balance_usd=np.nan, equity_usd=step.market_equity(state, warn),
        )
    ladder = LadderStep(state, step, margin, policy, events, step_number)
    liquidate = action >= PARTIAL
    if np.any(liquidate):
        run_ladder(ladder, with_positions[liquidate], mm[liquidate], ratio[liquidate], action[liquidate])
    rows, change, accounts = ladder.closed()
    return PhaseOutput(state, events.parts, tier, ratio_all, float(np.sum(ladder.fees)), float(np.sum(ladder.slippage)), rows, change, accounts,
                       task.account_offset, task.row_offset)


@dataclass
class StepOutcome:
    """What :func:`run_step` did for the book at one step."""

    tier: np.ndarray
    ratio: np.ndarray
    fees_usd: float
    slippage_usd: float
    liquidator_usd: float
    fund_after_usd: float
    totals: dict[str, float]
    liquidated: np.ndarray  # accounts with a close this step
    step: StepMarket  # the step's market arrays


def run_step(state: BookState, split: IsolatedSplit, market: MarketSnapshot, model: MarginModel, policy: LiquidationPolicy, fund_usd: float,
             step_number: int, last_tier: np.ndarray, written_off_usd: np.ndarray, adl: bool, events: EventLog, *,
             executor: Executor | None = None, partitions: int = 1) -> StepOutcome:
    """One step for the book (module docstring): the per-account phase, isolated collateral released, the settlement.

    Parameters
    ----------
    state : BookState
        Updated in place.
    split : IsolatedSplit
        How ``state``'s accounts map to the user's accounts.
    market : MarketSnapshot
    model : MarginModel
    policy : LiquidationPolicy
    fund_usd : float
        Insurance-fund balance before the step.
    step_number : int
    last_tier : array of int
        Each account's ladder tier at the previous step (a warning is logged on entering a tier).
    written_off_usd : array of float
        Bad debt already recorded per account (updated in place).
    adl : bool
    events : EventLog
        Receives the step's rows.
    executor : callable, optional
        Runs :func:`ladder_phase` over ``partitions`` parts of the book (e.g. on a dask cluster).
    partitions : int

    Returns
    -------
    StepOutcome
    """
    step = StepMarket.build(state, market)
    if executor is None or partitions <= 1:
        parts = [ladder_phase(PhaseInput(state, step, model, policy, step_number, last_tier))]
    else:
        bounds = np.linspace(0, state.n_accounts, partitions + 1).round().astype(int)
        inputs = [PhaseInput(state.slice(a0, a1), step, model, policy, step_number, last_tier[a0:a1], a0, int(state.starts[a0]))
                  for a0, a1 in zip(bounds[:-1], bounds[1:]) if a1 > a0]
        parts = executor(ladder_phase, inputs)
        for piece in parts:
            state.merge(piece.state, piece.account_offset)
    for piece in parts:
        events.parts += piece.events
    closed = (np.concatenate([p.closed_rows + p.row_offset for p in parts]), np.concatenate([p.closed_change for p in parts]),
              np.concatenate([p.closed_account + p.account_offset for p in parts]))
    fees = float(sum(p.fees for p in parts))
    release_isolated_collateral(state, split)
    fund = float(fund_usd) + policy.fund_share(fees)
    no_positions = np.flatnonzero(state.alive_counts() == 0)
    fund, totals, bankrupt, bad_debt = settle_deficits(state, step, no_positions, written_off_usd, fund, closed, policy, adl, events, step_number)
    written_off_usd[bankrupt] += bad_debt
    return StepOutcome(np.concatenate([p.tier for p in parts]), np.concatenate([p.ratio for p in parts]), fees, float(sum(p.slippage for p in parts)),
                       fees - policy.fund_share(fees), fund, totals, np.unique(closed[2]), step)


def _accounts(split: IsolatedSplit, state: BookState) -> Sequence[Account]:
    frozen = state.frozen_accounts()
    return frozen if split.trivial else merge_isolated(split, frozen)


def _isolated_bad_debt(split: IsolatedSplit, state: BookState) -> float:
    return 0.0 if split.trivial else isolated_bad_debt_usd(split, state.to_accounts())


def replay_model_on_book(
    name: str,
    book: tuple[Account, ...],
    spec: ModelSpec,
    markets: Sequence[MarketSnapshot],
    policy: LiquidationPolicy,
    funding: str | float,
    fund_start: float,
    adl: bool,
    progress: bool,
    path_assets: Sequence[str],
    executor: Executor | None = None,
    partitions: int = 1,
    template: BookState | None = None,
) -> ReplayRun:
    """Replay of one model along ``markets`` (:func:`run_step` at every step).

    Parameters
    ----------
    name : str
        The run's name.
    book : tuple of Account
    spec : MarginModel or callable(time) -> MarginModel
    markets : sequence of MarketSnapshot
        One per step.
    policy : LiquidationPolicy
    funding : "given" or float
        ``"given"``: the accounts' cash; ``m``: each account (each isolated position) re-funded to ``m x`` its
        initial margin at the first step.
    fund_start : float
        Insurance fund at the start.
    adl : bool
    progress : bool
        A progress bar over steps.
    path_assets : sequence of str
        Assets whose prices the step table records.
    executor : callable, optional
    partitions : int
    template : BookState, optional
        ``book`` already as arrays (built once for several models; the replay works on a copy). Ignored when the
        model splits isolated positions.

    Returns
    -------
    ReplayRun
    """
    first = markets[0]
    model0 = model_at(spec, first.as_of)
    split = split_isolated(book, splits_isolated(model0))
    if template is not None and split.trivial:
        state = template.slice(0, template.n_accounts)
    else:
        state = BookState(split.accounts)
    everyone = np.arange(state.n_accounts)
    step0 = StepMarket.build(state, first)
    im_start, mm_start, _ = BookMargin(model0, state, step0)(PseudoAccounts.of(state, everyone))
    if funding != "given":
        state.cash += float(funding) * im_start - step0.market_equity(state)
    accounts_start = _accounts(split, state) if funding != "given" else book
    equity_start = step0.market_equity(state)
    n_users = len(book)
    fund = float(fund_start)
    totals = dict.fromkeys(("fund_paid_usd", "recovered_usd", "socialised_usd", "bad_debt_usd"), 0.0)
    liquidator = slippage = 0.0
    events = EventLog()
    step_rows = []
    last_tier = np.zeros(state.n_accounts, dtype=np.int64)
    written_off = np.zeros(state.n_accounts)
    for step_number, market in enumerate(tqdm(markets, desc=f"replay {name}", disable=not progress, leave=False, unit="step")):
        outcome = run_step(state, split, market, model_at(spec, market.as_of), policy, fund, step_number, last_tier, written_off, adl, events,
                           executor=executor, partitions=partitions)
        fund = outcome.fund_after_usd
        last_tier = outcome.tier
        liquidator += outcome.liquidator_usd
        slippage += outcome.slippage_usd
        for key in totals:
            totals[key] += outcome.totals[key]
        record: dict[str, Any] = {"step": step_number, "time": market.as_of}
        for asset in path_assets:
            record[f"{asset}_usd"] = market.index_usd(asset)
        with_positions = state.alive_counts() > 0
        record.update(
            equity_usd=float(np.sum(outcome.step.market_equity(state))),
            accounts_below_maintenance=int(len(np.unique(split.parent[outcome.ratio < 1.0]))),
            accounts_with_positions=int(len(np.unique(split.parent[with_positions]))),
            fees_usd=outcome.fees_usd,
            fund_balance_usd=fund,
            bad_debt_usd=totals["bad_debt_usd"],
        )
        step_rows.append(record)
    return ReplayRun(
        name, accounts_start, _accounts(split, state), events.frame(), pd.DataFrame(step_rows), float(np.sum(im_start)), float(np.sum(mm_start)),
        float(np.sum(equity_start)), float(fund_start), fund, totals["fund_paid_usd"], totals["recovered_usd"], totals["bad_debt_usd"],
        totals["socialised_usd"], liquidator, slippage, _isolated_bad_debt(split, state),
        np.bincount(split.parent, weights=equity_start, minlength=n_users).astype(np.float64),
        np.bincount(split.parent, weights=mm_start, minlength=n_users).astype(np.float64),
    )


def liquidate_state(state: BookState, split: IsolatedSplit, market: MarketSnapshot, model: MarginModel, policy: LiquidationPolicy,
                    fund_usd: float, *, adl: bool = True) -> tuple[StepOutcome, pd.DataFrame]:
    """One step (:func:`run_step`) at ``market`` on ``state`` in place, every warning logged; returns the outcome and its events.

    Parameters
    ----------
    state : BookState
    split : IsolatedSplit
    market : MarketSnapshot
    model : MarginModel
    policy : LiquidationPolicy
    fund_usd : float
    adl : bool

    Returns
    -------
    StepOutcome, DataFrame
    """
    events = EventLog()
    outcome = run_step(state, split, market, model, policy, fund_usd, 0, np.zeros(state.n_accounts, dtype=np.int64),
                       np.zeros(state.n_accounts), adl, events)
    return outcome, events.frame()


def liquidate_book(
    accounts: Sequence[Account],
    model: MarginModel,
    market: MarketSnapshot,
    policy: LiquidationPolicy | None = None,
    *,
    insurance_fund_usd: float = 0.0,
    time: datetime | None = None,
    adl: bool = True,
) -> BookLiquidation:
    """Liquidate a book at one snapshot: one step of the engine (module docstring).

    Parameters
    ----------
    accounts : sequence of Account
    model : MarginModel
        Gives the margin ratios; re-margined after every close.
    market : MarketSnapshot
        Positions close at its marks.
    policy : LiquidationPolicy, optional
    insurance_fund_usd : float
        Fund balance before (the step's fees are added to it first).
    time : datetime, optional
        Time stamped on the events (default ``market.as_of``).
    adl : bool
        Auto-deleverage what the fund cannot pay (with ``policy.auto_deleverage``).

    Returns
    -------
    BookLiquidation
    """
    policy = policy or LiquidationPolicy()
    if not isinstance(insurance_fund_usd, int | float) or not math.isfinite(insurance_fund_usd) or insurance_fund_usd < 0:
        raise ParameterError("insurance_fund_usd", insurance_fund_usd, "must be a non-negative finite balance")
    accounts = tuple(accounts)
    split = split_isolated(accounts, splits_isolated(model))
    state = BookState(split.accounts)
    outcome, events = liquidate_state(state, split, market, model, policy, float(insurance_fund_usd), adl=adl)
    if time is not None and len(events):
        events["time"] = [time] * len(events)
    return BookLiquidation(accounts, tuple(_accounts(split, state)), events, float(insurance_fund_usd), outcome.fund_after_usd,
                           outcome.totals["recovered_usd"], outcome.totals["bad_debt_usd"], outcome.totals["socialised_usd"],
                           outcome.liquidator_usd, outcome.totals["fund_paid_usd"], _isolated_bad_debt(split, state))
