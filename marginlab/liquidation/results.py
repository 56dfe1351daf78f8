"""Results of the liquidation engine: one snapshot over a book (:class:`BookLiquidation`), one replay of one model
(:class:`ReplayRun`), and the money-conservation residual.

Money is neither created nor lost: over a liquidation or a replay,

``change in traders' market equity + change in the insurance fund + slippage + liquidators' bonus
- isolated bad debt = 0``

(ADL transfers, socialised charges and fees move money between traders, the fund and the liquidators; a deficit
left as bad debt stays as the bankrupt account's negative equity, except an isolated position's, which the venue
bears and :func:`~marginlab.liquidation.isolated.merge_isolated` leaves out of the account).
:func:`conservation_residual_usd` computes the left-hand side; it is zero up to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from marginlab.account import Account
from marginlab.liquidation.events import CLOSE_ACTIONS
from marginlab.market import MarketSnapshot
from marginlab.valuation import PositionValuation, collateral_value_usd, value_positions


def market_equity_usd(account: Account, market: MarketSnapshot, valuation: PositionValuation | None = None) -> float:
    """Equity at market without haircuts: cash + collateral + positions' mark-to-market.

    The quantity the conservation identity is written in (a model's own equity may apply haircuts; money does not).

    Parameters
    ----------
    account : Account
    market : MarketSnapshot
    valuation : PositionValuation, optional
        The account's positions valued at ``market`` (computed when not given).

    Returns
    -------
    float

    Examples
    --------
    >>> from marginlab.instruments import Perpetual, Position
    >>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 95_000}}})
    >>> market_equity_usd(Account((Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000),), 10_000, {"BTC": 0.1}), market)
    14500.0
    """
    total = account.cash_usd + sum(collateral_value_usd(account.collateral, market).values())
    if account.positions:
        if valuation is None:
            valuation = value_positions(account.positions, market)
        total += float(np.sum(valuation.value_usd))
    return float(total)


def _liquidated(events: pd.DataFrame) -> tuple[str, ...]:
    closes = events[events["action"].isin(CLOSE_ACTIONS)]
    return tuple(dict.fromkeys(closes["account_id"]))


@dataclass(frozen=True)
class BookLiquidation:
    """Liquidations over a book of accounts at one market snapshot (one step of the engine).

    Attributes
    ----------
    accounts_before, accounts_after : tuple of Account
        In the order given.
    events : DataFrame
        Every event (:data:`~marginlab.liquidation.events.EVENT_COLUMNS`): settlements, warnings and closes in account
        order, then the settlement of deficits (``insurance_fund``, ``adl``, ``socialised_loss``, ``bad_debt``) in
        claim order.
    fund_before_usd, fund_after_usd : float
        Insurance-fund balance.
    adl_recovered_usd : float
        Deficit recovered from ADL counterparties.
    bad_debt_usd : float
        Deficit neither the fund, ADL nor socialised loss covered.
    socialised_usd : float
        Deficit charged to the accounts with positive equity.
    liquidator_usd : float
        The liquidators' share of the fees.
    fund_paid_usd : float
        Deficit the fund paid.
    isolated_bad_debt_usd : float
        Part of ``bad_debt_usd`` that isolated positions left (borne by the venue, not the accounts).
    """

    accounts_before: tuple[Account, ...]
    accounts_after: tuple[Account, ...]
    events: pd.DataFrame
    fund_before_usd: float
    fund_after_usd: float
    adl_recovered_usd: float
    bad_debt_usd: float
    socialised_usd: float = 0.0
    liquidator_usd: float = 0.0
    fund_paid_usd: float = 0.0
    isolated_bad_debt_usd: float = 0.0

    @property
    def liquidated_accounts(self) -> tuple[str, ...]:
        """Ids of the accounts with at least one close, in event order."""
        return _liquidated(self.events)

    @property
    def fees_usd(self) -> float:
        """Liquidation fees paid by the traders."""
        return float(self.events["fee_usd"].sum())

    @property
    def slippage_usd(self) -> float:
        """Execution cost lost to the market."""
        return float(self.events["slippage_usd"].sum())

    @property
    def deficit_usd(self) -> float:
        """Negative equity of bankrupt accounts before the fund paid (the shortfall beyond margin)."""
        return float(self.events.loc[self.events["action"] == "insurance_fund", "deficit_usd"].sum())

    def summary(self) -> pd.Series:
        """Counts and amounts of the liquidation.

        Returns
        -------
        Series
        """
        return pd.Series(
            {
                "accounts": len(self.accounts_before),
                "accounts_liquidated": len(self.liquidated_accounts),
                "fees_usd": self.fees_usd,
                "deficit_usd": self.deficit_usd,
                "fund_used_usd": self.fund_paid_usd,
                "adl_recovered_usd": self.adl_recovered_usd,
                "socialised_usd": self.socialised_usd,
                "liquidator_usd": self.liquidator_usd,
                "bad_debt_usd": self.bad_debt_usd,
                "fund_after_usd": self.fund_after_usd,
            }
        )


@dataclass(frozen=True)
class ReplayRun:
    """What the engine did to one book under one model along a path (:func:`marginlab.liquidation.driver.replay_model_on_book`).

    ``accounts_before`` are the accounts at the first step after funding; ``steps`` has one row per step (prices,
    equity, accounts below maintenance, fees, fund, cumulative bad debt). ``equity_start_usd`` and
    ``maintenance_start_usd`` are per account at the first step (after funding, before anything happened).
    """

    model: str
    accounts_before: Sequence[Account]
    accounts_after: Sequence[Account]
    events: pd.DataFrame
    steps: pd.DataFrame
    initial_margin_usd: float
    maintenance_margin_usd: float
    equity_before_usd: float
    fund_before_usd: float
    fund_after_usd: float
    fund_paid_usd: float
    adl_recovered_usd: float
    bad_debt_usd: float
    socialised_usd: float = 0.0
    liquidator_usd: float = 0.0
    slippage_usd: float = 0.0
    isolated_bad_debt_usd: float = 0.0
    equity_start_usd: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0), compare=False)
    maintenance_start_usd: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0), compare=False)


def conservation_residual_usd(result: BookLiquidation, market: MarketSnapshot) -> float:
    """``traders' equity change + fund change + slippage + liquidators' bonus - isolated bad debt``; zero up to rounding.

    Parameters
    ----------
    result : BookLiquidation
    market : MarketSnapshot
        The market of the liquidation (equities at market).

    Returns
    -------
    float
        USD created (+) or destroyed (-) by the engine.
    """
    before = sum(market_equity_usd(a, market) for a in result.accounts_before)
    after = sum(market_equity_usd(a, market) for a in result.accounts_after)
    return float(after - before + (result.fund_after_usd - result.fund_before_usd) + result.slippage_usd + result.liquidator_usd
                 - result.isolated_bad_debt_usd)
