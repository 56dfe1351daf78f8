"""Market impact of liquidation orders and liquidation cascades over a book.

Square-root impact
------------------
A liquidation that sells (or buys back) ``Q`` units of an asset moves its price by

    ΔP / P = sign(Q) · k · sigma_daily · sqrt(|Q| / ADV)

(the square-root law of market impact: Almgren et al. 2005, Tóth et al. 2011; ``k`` is of
order 1), where ``sigma_daily`` is the daily volatility of log returns and ``ADV`` the average
daily volume in units of the asset. :meth:`SquareRootImpact.from_data` calibrates both from
the daily history before a date: ``sigma_daily`` is the standard deviation of the last
``window_days`` daily log returns and ``ADV`` the mean USD volume over the same days divided
by the mean close (aggregated Yahoo volume of the 22-asset universe, see
``../shared/data/README.md``). ``adv_share`` scales the aggregate volume down to the part a
venue's liquidation engine can actually reach (1.0 = all of it).

Cascade
-------
:func:`simulate_cascade` applies an initial shock, then repeats in rounds: liquidate the book at
the current prices (:func:`~marginlab.liquidation.driver.liquidate_book`, orders filled at
the round's marks), sum the net underlying flow of the closes per asset (options through their
delta), move each price by the impact of that flow, and start the next round at the new
prices. It stops when a round liquidates nothing (or after ``max_rounds``). It reports the
depth (rounds that liquidated something), the price path, the accounts liquidated, bad debt and
the insurance fund's use.

>>> impact = SquareRootImpact({"BTC": 0.04}, {"BTC": 10_000.0}, k=1.0)
>>> round(impact.price_factors({"BTC": -100.0})["BTC"], 4)  # selling 1% of ADV: -1 x 0.04 x 0.1
0.996
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from marginlab.account import Account
from marginlab.book.state import BookState
from marginlab.data import load_daily
from marginlab.exceptions import InputError, MissingMarketDataError, ParameterError
from marginlab.liquidation import reference
from marginlab.liquidation.driver import liquidate_state, splits_isolated
from marginlab.liquidation.events import events_frame
from marginlab.liquidation.isolated import merge_isolated, split_isolated
from marginlab.liquidation.policy import LiquidationPolicy
from marginlab.liquidation.results import BookLiquidation
from marginlab.margin.base import MarginModel
from marginlab.market import MarketSnapshot
from marginlab.stats.impact import square_root_impact

#: Lowest price factor one round of impact may apply (a 99% fall): keeps prices positive.
MIN_PRICE_FACTOR = 0.01


@dataclass(frozen=True)
class SquareRootImpact:
    """Square-root price impact per asset, signed by the flow (formula: :func:`marginlab.calibration.haircuts.square_root_impact`).

    Parameters
    ----------
    sigma_daily : mapping asset -> float
        Daily volatility of log returns (fraction).
    adv_units : mapping asset -> float
        Average daily volume in units of the asset (> 0).
    k : float
        Impact coefficient (order 1).
    """

    sigma_daily: Mapping[str, float]
    adv_units: Mapping[str, float]
    k: float = 1.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.k) or self.k < 0:
            raise ParameterError("k", self.k, "must be a non-negative finite coefficient")
        for asset, sigma in self.sigma_daily.items():
            if not math.isfinite(sigma) or sigma < 0:
                raise ParameterError(f"sigma_daily[{asset}]", sigma, "must be a non-negative daily volatility")
        for asset, adv in self.adv_units.items():
            if not math.isfinite(adv) or adv <= 0:
                raise ParameterError(f"adv_units[{asset}]", adv, "must be a positive volume")
        object.__setattr__(self, "sigma_daily", dict(self.sigma_daily))
        object.__setattr__(self, "adv_units", dict(self.adv_units))

    def impact_fraction(self, asset: str, net_quantity: float) -> float:
        """``ΔP/P`` caused by a net flow of ``net_quantity`` units (positive = buying)."""
        if net_quantity == 0:
            return 0.0
        if asset not in self.sigma_daily or asset not in self.adv_units:
            raise MissingMarketDataError("impact", asset, "no sigma_daily / adv_units for this asset")
        magnitude = square_root_impact(abs(net_quantity), self.adv_units[asset], self.sigma_daily[asset], self.k)
        return float(np.sign(net_quantity) * magnitude)

    def price_factors(self, net_quantity: Mapping[str, float]) -> dict[str, float]:
        """Multiplicative price change per asset, ``1 + ΔP/P`` floored at :data:`MIN_PRICE_FACTOR`."""
        return {asset: max(1.0 + self.impact_fraction(asset, q), MIN_PRICE_FACTOR) for asset, q in net_quantity.items()}

    @classmethod
    def from_data(
        cls, assets: Sequence[str], as_of: str | pd.Timestamp, *, window_days: int = 30, k: float = 1.0, adv_share: float = 1.0
    ) -> "SquareRootImpact":
        """Calibrate ``sigma_daily`` and ``ADV`` on the ``window_days`` days before ``as_of``.

        Uses the universe file (USD volume aggregated across venues) so that the volume unit is
        the same for every asset; ``ADV`` (units) = mean USD volume / mean close x ``adv_share``.

        >>> impact = SquareRootImpact.from_data(["BTC"], "2020-03-12")
        >>> 0.02 < impact.sigma_daily["BTC"] < 0.06 and impact.adv_units["BTC"] > 1e5
        True
        """
        if window_days < 5:
            raise ParameterError("window_days", window_days, "needs at least 5 days")
        if not 0 < adv_share <= 1:
            raise ParameterError("adv_share", adv_share, "must be in (0, 1]")
        end = pd.Timestamp(as_of, tz="UTC") if pd.Timestamp(as_of).tzinfo is None else pd.Timestamp(as_of)
        start = end - pd.Timedelta(days=window_days + 1)
        sigma, adv = {}, {}
        for asset in assets:
            bars = load_daily(asset, start, end - pd.Timedelta(days=1), dataset="universe", gaps="ignore")
            if len(bars) < 5:
                raise InputError("as_of", str(as_of), f"not enough {asset} history before this date to calibrate impact")
            returns = np.log(bars["close"]).diff().dropna()
            sigma[asset] = float(returns.std(ddof=1))
            adv[asset] = float(bars["volume"].mean() / bars["close"].mean()) * adv_share
        return cls(sigma, adv, k)


@dataclass(frozen=True)
class CascadeResult:
    """Outcome of a liquidation cascade.

    Attributes
    ----------
    rounds : DataFrame
        One row per round and asset: ``round, asset, price_usd`` (at which the round's orders
        filled), ``net_flow_units``, ``impact_fraction`` (applied after the round),
        ``accounts_liquidated``, ``fees_usd``, ``deficit_usd``, ``bad_debt_usd``,
        ``fund_balance_usd``.
    events : DataFrame
        Every event with its ``round``.
    accounts_after : tuple of Account
    depth : int
        Number of rounds in which something was liquidated.
    """

    rounds: pd.DataFrame
    events: pd.DataFrame
    accounts_before: Sequence[Account]
    accounts_after: Sequence[Account]
    depth: int
    fund_before_usd: float
    fund_after_usd: float
    bad_debt_usd: float
    adl_recovered_usd: float
    books: tuple[BookLiquidation, ...] = field(repr=False, default=())

    @property
    def accounts_liquidated(self) -> tuple[str, ...]:
        """Accounts with at least one liquidation (any round), in order of first liquidation."""
        closes = self.events[self.events["action"].isin(["partial_liquidation", "full_liquidation"])]
        return tuple(dict.fromkeys(closes["account_id"]))

    @property
    def price_path(self) -> pd.DataFrame:
        """Prices by round (rows) and asset (columns)."""
        return self.rounds.pivot(index="round", columns="asset", values="price_usd")

    def summary(self) -> pd.Series:
        return pd.Series(
            {
                "depth_rounds": self.depth,
                "accounts": len(self.accounts_before),
                "accounts_liquidated": len(self.accounts_liquidated),
                "bad_debt_usd": self.bad_debt_usd,
                "adl_recovered_usd": self.adl_recovered_usd,
                "fund_used_usd": max(self.fund_before_usd - self.fund_after_usd, 0.0),
                "fund_after_usd": self.fund_after_usd,
                "fees_usd": float(self.events["fee_usd"].sum()),
            }
        )


def net_flow_units(events: pd.DataFrame) -> dict[str, float]:
    """Net underlying quantity traded in the market by liquidation closes, per asset.

    Closing a long sells (negative flow); options count through their delta. ADL transfers
    are between traders and do not reach the market.
    """
    closes = events[events["action"].isin(["partial_liquidation", "full_liquidation"])]
    if closes.empty:
        return {}
    assets = closes["symbol"].str.split("-").str[0]
    return {str(a): float(v) for a, v in closes.groupby(assets)["delta_quantity"].sum().items()}


def simulate_cascade(
    accounts: Sequence[Account],
    model: MarginModel,
    market: MarketSnapshot,
    impact: SquareRootImpact,
    policy: LiquidationPolicy | None = None,
    *,
    shock: Mapping[str, float] | None = None,
    insurance_fund_usd: float = 0.0,
    max_rounds: int = 50,
    adl: bool = True,
    engine: Literal["book", "per-account"] = "book",
) -> CascadeResult:
    """Liquidation cascade over a book after an initial price ``shock``.

    Parameters
    ----------
    accounts : sequence of Account
    model : MarginModel
    market : MarketSnapshot
        Prices before the shock.
    impact : SquareRootImpact
    policy : LiquidationPolicy, optional
    shock : mapping asset -> price factor, optional
        Initial move, e.g. ``{"BTC": 0.85}`` for -15%.
    insurance_fund_usd : float
    max_rounds : int
        Safety stop; reached only by a cascade that never settles.
    adl : bool
        Auto-deleverage the counterparties of a deficit the insurance fund cannot pay (default); ``False`` books
        it as bad debt (or socialised loss, by the policy).
    engine : {"book", "per-account"}
        ``"book"`` (default): every round runs on the book's arrays
        (:func:`~marginlab.analysis.book_replay.liquidate_book_arrays`: every account margined in
        one vectorised call, liquidations in place); ``"per-account"``: the reference,
        :func:`~marginlab.liquidation.driver.liquidate_book` account by account. Both give the
        same rounds and events (``books`` is filled by the reference only).

    Returns
    -------
    CascadeResult
    """
    if max_rounds < 1:
        raise ParameterError("max_rounds", max_rounds, "must be at least 1")
    if engine not in ("book", "per-account"):
        raise ParameterError("engine", engine, "must be 'book' or 'per-account'")
    policy = policy or LiquidationPolicy()
    accounts = tuple(accounts)
    books: list[BookLiquidation] = []
    if engine == "book":
        split = split_isolated(accounts, splits_isolated(model))
        state = BookState(split.accounts)

        def liquidate_round(current: MarketSnapshot, fund: float) -> _Round:
            outcome, events = liquidate_state(state, split, current, model, policy, fund, adl=adl)
            return _Round(events, len(np.unique(split.parent[outcome.liquidated])), outcome.fees_usd, outcome.totals["deficit_usd"],
                          outcome.totals["bad_debt_usd"], outcome.totals["recovered_usd"], outcome.fund_after_usd)

        def accounts_after() -> Sequence[Account]:
            frozen = state.frozen_accounts()
            return frozen if split.trivial else merge_isolated(split, frozen)
    else:
        book = [accounts]

        def liquidate_round(current: MarketSnapshot, fund: float) -> _Round:
            result = reference.liquidate_book(book[0], model, current, policy, insurance_fund_usd=fund, time=current.as_of, adl=adl)
            books.append(result)
            book[0] = result.accounts_after
            return _Round(result.events, len(result.liquidated_accounts), result.fees_usd, result.deficit_usd, result.bad_debt_usd,
                          result.adl_recovered_usd, result.fund_after_usd)

        def accounts_after() -> Sequence[Account]:
            return book[0]
    return _run_rounds(liquidate_round, accounts_after, accounts, market, impact, shock, insurance_fund_usd, max_rounds, books)


@dataclass(frozen=True)
class _Round:
    """What one cascade round's liquidation did (either engine)."""

    events: pd.DataFrame
    liquidated: int
    fees_usd: float
    deficit_usd: float
    bad_debt_usd: float
    adl_recovered_usd: float
    fund_after_usd: float


def _run_rounds(
    liquidate_round: Callable[[MarketSnapshot, float], _Round], accounts_after: Callable[[], Sequence[Account]], accounts: tuple[Account, ...],
    market: MarketSnapshot, impact: SquareRootImpact, shock: Mapping[str, float] | None, insurance_fund_usd: float, max_rounds: int,
    books: list[BookLiquidation],
) -> CascadeResult:
    """The rounds of :func:`simulate_cascade`: liquidate at the current prices, move them by the impact of the round's
    net flow, until a round liquidates nobody or moves no price."""
    current = market.shifted(spot_factor=dict(shock or {}))
    fund = float(insurance_fund_usd)
    assets = sorted(current.assets)
    rows, frames = [], []
    depth = 0
    bad_debt = recovered = 0.0
    for round_number in range(1, max_rounds + 1):
        result = liquidate_round(current, fund)
        flows = net_flow_units(result.events)
        factors = impact.price_factors(flows)
        for asset in assets:
            rows.append({"round": round_number, "asset": asset, "price_usd": current.index_usd(asset), "net_flow_units": flows.get(asset, 0.0),
                         "impact_fraction": factors.get(asset, 1.0) - 1.0, "accounts_liquidated": result.liquidated, "fees_usd": result.fees_usd,
                         "deficit_usd": result.deficit_usd, "bad_debt_usd": result.bad_debt_usd, "fund_balance_usd": result.fund_after_usd})
        if len(result.events):
            frames.append(result.events.assign(round=round_number))
        fund = result.fund_after_usd
        bad_debt += result.bad_debt_usd
        recovered += result.adl_recovered_usd
        if result.liquidated == 0:
            break
        depth += 1
        if not any(f != 1.0 for f in factors.values()):
            break
        current = current.shifted(spot_factor=factors)
    events_all = pd.concat(frames, ignore_index=True) if frames else events_frame([]).assign(round=pd.Series(dtype="int64"))
    return CascadeResult(pd.DataFrame(rows), events_all, accounts, accounts_after(), depth, float(insurance_fund_usd), fund, bad_debt,
                         recovered, tuple(books))
