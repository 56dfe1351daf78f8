"""Isolated positions as margin accounts of their own, so that one liquidation path serves cross and isolated margin.

Under an isolated model (``model.family == "isolated"``), a position with ``isolated_collateral_usd = C`` is
margined and liquidated on its own: its equity is ``C`` + its mark-to-market, its ratio its own. :func:`split_isolated`
turns each account into a **cross part** (its other positions, its collateral and its cash minus the isolated
allocations) and one **isolated account** per such position (cash ``C``, that position alone). Every engine path --
the ladder, expiries, the fund, ADL, socialised loss, bad debt (:mod:`marginlab.liquidation.writeoff`) -- then treats
them as accounts, under the parent's id:

* a closed isolated position's collateral left over returns to the cross part (:func:`release_isolated_collateral`,
  after the step's ladder);
* a loss beyond ``C`` is a deficit of the isolated account like any other: fund, then ADL, then socialised loss or
  bad debt. The parent is **not** charged: :func:`merge_isolated` leaves an isolated account's remaining negative
  equity (its bad debt, the venue's loss) out of the account, so the account loses at most ``C``.

>>> from marginlab.account import Account
>>> from marginlab.instruments import Perpetual, Position
>>> btc = Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000, isolated_collateral_usd=5_000)
>>> eth = Position(Perpetual("ETH"), 10.0, entry_price_usd=3_000)
>>> split = split_isolated([Account((btc, eth), 20_000.0, account_id="a")])
>>> [(a.account_id, a.cash_usd, len(a.positions)) for a in split.accounts], split.parent.tolist(), split.isolated.tolist()
([('a', 15000.0, 1), ('a', 5000.0, 1)], [0, 0], [False, True])
>>> merge_isolated(split, split.accounts)[0] == Account((eth, btc), 20_000.0, account_id="a")
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from marginlab.account import Account
from marginlab.book.state import BookState

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class IsolatedSplit:
    """Accounts split into cross parts and isolated accounts.

    Attributes
    ----------
    originals : tuple of Account
        The accounts as given.
    accounts : tuple of Account
        Per parent: its cross part, then one account per isolated position (in position order).
    parent : array of int
        Index into ``originals`` of each of ``accounts``.
    isolated : array of bool
        True for an isolated account.
    cross : array of int
        Index into ``accounts`` of each one's cross part.
    """

    originals: tuple[Account, ...]
    accounts: tuple[Account, ...]
    parent: IntArray
    isolated: NDArray[np.bool_]
    cross: IntArray

    @property
    def trivial(self) -> bool:
        """True when nothing was split (no isolated position): the accounts are the originals."""
        return not bool(self.isolated.any())


def has_isolated_positions(accounts: Sequence[Account]) -> bool:
    """Whether any position of ``accounts`` has its own ``isolated_collateral_usd``."""
    return any(p.isolated_collateral_usd is not None for a in accounts for p in a.positions)


def split_isolated(accounts: Sequence[Account], enabled: bool = True) -> IsolatedSplit:
    """Each account as its cross part and one account per isolated position (module docstring); with ``enabled``
    False (a cross or portfolio model: isolated collateral is part of the account's equity), the identity.

    Parameters
    ----------
    accounts : sequence of Account
    enabled : bool

    Returns
    -------
    IsolatedSplit
    """
    originals = tuple(accounts)
    if not enabled or not has_isolated_positions(originals):
        index = np.arange(len(originals), dtype=np.int64)
        return IsolatedSplit(originals, originals, index, np.zeros(len(originals), dtype=bool), index)
    out: list[Account] = []
    parent: list[int] = []
    isolated: list[bool] = []
    cross: list[int] = []
    for a, account in enumerate(originals):
        own = [p for p in account.positions if p.isolated_collateral_usd is not None]
        allocated = sum(float(p.isolated_collateral_usd or 0.0) for p in own)
        home = len(out)
        out.append(dataclasses.replace(account, positions=tuple(p for p in account.positions if p.isolated_collateral_usd is None),
                                       cash_usd=account.cash_usd - allocated))
        parent.append(a)
        isolated.append(False)
        cross.append(home)
        for position in own:
            out.append(Account((position,), float(position.isolated_collateral_usd or 0.0), account_id=account.account_id))
            parent.append(a)
            isolated.append(True)
            cross.append(home)
    return IsolatedSplit(originals, tuple(out), np.asarray(parent, dtype=np.int64), np.asarray(isolated, dtype=bool),
                         np.asarray(cross, dtype=np.int64))


def release_isolated_collateral(state: BookState, split: IsolatedSplit) -> None:
    """Move the positive cash of every isolated account without a position back to its cross part (in place).

    Parameters
    ----------
    state : BookState
        Of ``split.accounts``.
    split : IsolatedSplit

    Returns
    -------
    None
    """
    if split.trivial:
        return
    done = split.isolated & (state.alive_counts() == 0) & (state.cash > 0)
    if done.any():
        where = np.flatnonzero(done)
        np.add.at(state.cash, split.cross[where], state.cash[where])
        state.cash[where] = 0.0


def merge_isolated(split: IsolatedSplit, accounts: Sequence[Account]) -> tuple[Account, ...]:
    """The parents again from the state of ``split.accounts``: cross positions, then the isolated positions still
    open (their ``isolated_collateral_usd`` the isolated account's cash); cash the sum, except an isolated account's
    negative cash once its position is gone (bad debt the venue bears, not the account).

    Parameters
    ----------
    split : IsolatedSplit
    accounts : sequence of Account
        ``split.accounts`` after a liquidation or replay.

    Returns
    -------
    tuple of Account
    """
    if split.trivial:
        return tuple(accounts)
    positions: list[list] = [[] for _ in split.originals]
    cash = [0.0] * len(split.originals)
    for k, account in enumerate(accounts):
        p = int(split.parent[k])
        if not split.isolated[k]:
            positions[p][:0] = list(account.positions)
            cash[p] += account.cash_usd
            continue
        if account.positions:
            positions[p] += [dataclasses.replace(q, isolated_collateral_usd=max(account.cash_usd, 0.0)) for q in account.positions]
            cash[p] += account.cash_usd
        elif account.cash_usd > 0:
            cash[p] += account.cash_usd
    home_of = np.zeros(len(split.originals), dtype=np.int64)
    home_of[split.parent] = split.cross
    out = []
    for p, original in enumerate(split.originals):
        home = accounts[int(home_of[p])]
        out.append(dataclasses.replace(original, positions=tuple(positions[p]), cash_usd=cash[p], collateral=dict(home.collateral)))
    return tuple(out)


def isolated_bad_debt_usd(split: IsolatedSplit, accounts: Sequence[Account]) -> float:
    """The negative cash of isolated accounts without a position: the bad debt :func:`merge_isolated` leaves out."""
    if split.trivial:
        return 0.0
    return float(sum(-a.cash_usd for k, a in enumerate(accounts) if split.isolated[k] and not a.positions and a.cash_usd < 0))
