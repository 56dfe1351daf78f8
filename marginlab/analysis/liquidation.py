"""Liquidation of margin accounts: the action ladder, partial and full liquidation, fees,
the insurance fund and auto-deleveraging (ADL).

The engine works with any :class:`~marginlab.margin.base.MarginModel`: it only reads the
model's ``margin_ratio = equity / maintenance margin`` (worked example F, Binance portfolio
margin) and re-margins the account after every step.

The ladder (:class:`LiquidationPolicy`, defaults from worked examples F and E1)
-------------------------------------------------------------------------------
=================================  =====================================================
margin ratio ``r``                 action
=================================  =====================================================
``r >= warning_ratio`` (1.5)       none
``[reduce_only_ratio, warning)``   ``warning`` (margin call, 1.2-1.5)
``[liquidation_ratio, reduce)``    ``reduce_only`` (1.05-1.2)
``(full_ratio, liquidation)``      ``partial_liquidation`` (below 1.05)
``r <= full_liquidation_ratio``    ``full_liquidation`` (at or below 2/3: E1 backstop)
=================================  =====================================================

Partial liquidation closes ``partial_fraction`` of one position per step (E1: 20% at a
time), choosing the **most risk-intensive** position: the one whose partial close releases
the most maintenance margin per USD of notional closed (equivalently per USD of liquidation
fee, since the fee is ``fee_rate x notional``). It repeats, re-margining after every step,
until the ratio is back at ``target_ratio`` or above. When the ratio falls to
``full_liquidation_ratio``, when ``max_steps`` steps did not restore it, or when no close
lowers the requirement, every remaining position is closed.

Money flows (nothing is created or lost)
----------------------------------------
Positions are closed at the snapshot's mark: the closed part's mark-to-market value moves into
cash, so a close at the mark leaves equity unchanged. Then

* the **liquidation fee** ``fee_rate x closed notional`` (capped at the equity still
  positive) moves from the trader to the insurance fund;
* ``slippage_rate x closed notional`` (optional) is lost to the market (the liquidity taker's
  cost);
* if equity is negative once every position is closed, the **insurance fund** pays the
  deficit into the account, as far as its balance goes (it never goes negative);
* what the fund cannot pay is recovered by **auto-deleveraging** (:func:`auto_deleverage`, book
  level): profitable positions on the other side of the bankrupt's closed positions, ranked by
  ``pnl_pct x effective leverage`` (Binance/BitMEX ranking), are closed at the **bankruptcy
  price** (the price at which the bankrupt's equity is exactly zero), which transfers the
  deficit from them to the bankrupt account;
* what ADL cannot recover stays as negative equity of the bankrupt account and is reported
  as ``bad_debt`` (unrecovered loss): it is never hidden.

Hence, for every step: change in traders' equity + fees into the fund + change in the fund
balance from deficits + ADL transfers + slippage = 0 (:func:`conservation_residual_usd`).

Examples
--------
>>> from marginlab.analysis.liquidation import LiquidationPolicy
>>> policy = LiquidationPolicy()
>>> [policy.classify(r) for r in (2.0, 1.3, 1.1, 1.0, 0.5)]
['none', 'warning', 'reduce_only', 'partial_liquidation', 'full_liquidation']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from marginlab.account import Account
from marginlab.exceptions import EmptyPortfolioError, ParameterError
from marginlab.instruments import Position
from marginlab.margin.base import BookMarginResult, MarginModel
from marginlab.market import MarketSnapshot
from marginlab.valuation import PositionValuation, collateral_value_usd, value_positions

#: Actions of the ladder, from the mildest to the most severe.
LADDER_ACTIONS = ("none", "warning", "reduce_only", "partial_liquidation", "full_liquidation")

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


@dataclass(frozen=True)
class LiquidationPolicy:
    """Thresholds and costs of the liquidation ladder.

    Parameters
    ----------
    warning_ratio : float
        Below this margin ratio the account gets a margin call (F: 150%).
    reduce_only_ratio : float
        Below this it may only reduce risk (F: 120%).
    liquidation_ratio : float
        Below this it is partially liquidated (F: 105%).
    full_liquidation_ratio : float
        At or below this every position is closed at once (E1: 2/3 of maintenance).
    target_ratio : float
        Partial liquidation stops once the ratio is back at or above this.
    fee_rate : float
        Liquidation fee, a fraction of the closed notional, paid to the insurance fund.
    partial_fraction : float
        Fraction of one position closed per partial step (E1: 20%).
    max_steps : int
        Partial steps before the remainder is closed in full.
    slippage_rate : float
        Execution cost, a fraction of the closed notional, lost to the market.
    min_close_notional_usd : float
        A partial close that would leave less than this notional closes the whole position.
    liquidator_share : float
        Fraction of each liquidation fee paid to the liquidator (keeper bonus); the rest goes to
        the insurance fund. The trader pays the whole fee either way.
    use_insurance_fund : bool
        Whether the insurance fund pays deficits (``False``: deficits go straight to ADL).
    auto_deleverage : bool
        Whether what the fund cannot pay is recovered by ADL.
    socialised_loss : bool
        Whether what ADL cannot recover is charged to every account with positive market equity,
        pro rata to that equity and at most all of it (a socialised-loss haircut), before
        anything is left as bad debt.
    """

    warning_ratio: float = 1.5
    reduce_only_ratio: float = 1.2
    liquidation_ratio: float = 1.05
    full_liquidation_ratio: float = 2.0 / 3.0
    target_ratio: float = 1.25
    fee_rate: float = 0.005
    partial_fraction: float = 0.2
    max_steps: int = 20
    slippage_rate: float = 0.0
    min_close_notional_usd: float = 100.0
    liquidator_share: float = 0.0
    use_insurance_fund: bool = True
    auto_deleverage: bool = True
    socialised_loss: bool = False

    def __post_init__(self) -> None:
        for name in ("warning_ratio", "reduce_only_ratio", "liquidation_ratio", "full_liquidation_ratio", "target_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ParameterError(name, value, "must be a non-negative finite margin ratio")
        if not self.full_liquidation_ratio < self.liquidation_ratio <= self.reduce_only_ratio <= self.warning_ratio:
            raise ParameterError(
                "ladder",
                (self.full_liquidation_ratio, self.liquidation_ratio, self.reduce_only_ratio, self.warning_ratio),
                "needs full_liquidation_ratio < liquidation_ratio <= reduce_only_ratio <= warning_ratio",
            )
        if self.target_ratio < self.liquidation_ratio:
            raise ParameterError("target_ratio", self.target_ratio, f"must be at least liquidation_ratio={self.liquidation_ratio}")
        for name in ("fee_rate", "slippage_rate"):
            value = getattr(self, name)
            if not math.isfinite(value) or not 0 <= value < 1:
                raise ParameterError(name, value, "must be a fraction in [0, 1)")
        if not 0 < self.partial_fraction <= 1:
            raise ParameterError("partial_fraction", self.partial_fraction, "must be in (0, 1]")
        if not isinstance(self.max_steps, int) or self.max_steps < 0:
            raise ParameterError("max_steps", self.max_steps, "must be a non-negative integer")
        if not math.isfinite(self.min_close_notional_usd) or self.min_close_notional_usd < 0:
            raise ParameterError("min_close_notional_usd", self.min_close_notional_usd, "must be a non-negative amount")
        if not isinstance(self.liquidator_share, int | float) or not 0 <= self.liquidator_share <= 1:
            raise ParameterError("liquidator_share", self.liquidator_share, "must be a fraction in [0, 1]")
        for name in ("use_insurance_fund", "auto_deleverage", "socialised_loss"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(name, getattr(self, name), "must be true or false")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "liquidation") -> "LiquidationPolicy":
        """A policy from data (a YAML/JSON mapping of field -> value); unknown keys are an error.

        >>> LiquidationPolicy.from_mapping({"fee_rate": 0.01, "liquidator_share": 0.5}).liquidator_share
        0.5
        """
        if not isinstance(data, Mapping):
            raise ParameterError(source, data, "must be a mapping of liquidation-policy fields")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParameterError(f"{source}.{unknown[0]}", data[unknown[0]], f"is not a liquidation-policy field (known: {sorted(known)})")
        return cls(**dict(data))

    def to_mapping(self) -> dict[str, Any]:
        """The policy as plain data (the inverse of :meth:`from_mapping`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def fund_share(self, fee_usd: float) -> float:
        """Part of a fee that goes to the insurance fund."""
        return fee_usd * (1.0 - self.liquidator_share)

    def classify(self, margin_ratio: float) -> str:
        """The ladder action for ``margin_ratio`` (one of :data:`LADDER_ACTIONS`)."""
        if math.isnan(margin_ratio):
            raise ParameterError("margin_ratio", margin_ratio, "is NaN")
        if margin_ratio >= self.warning_ratio:
            return "none"
        if margin_ratio >= self.reduce_only_ratio:
            return "warning"
        if margin_ratio >= self.liquidation_ratio:
            return "reduce_only"
        if margin_ratio > self.full_liquidation_ratio:
            return "partial_liquidation"
        return "full_liquidation"


#: Liquidation mechanics per preset, as plain data (the fields of :class:`LiquidationPolicy`,
#: read with :meth:`LiquidationPolicy.from_mapping`; a preset's YAML file can carry the same
#: mapping under ``liquidation:``). ``source`` says where a value comes from; every value not
#: from a worked example is an assumption and says so.
PRESET_LIQUIDATION: dict[str, dict[str, Any]] = {
    "hyperliquid": {
        "partial_fraction": 0.2, "full_liquidation_ratio": 2.0 / 3.0, "liquidator_share": 0.0, "socialised_loss": False,
        "source": "worked example E1 (20% partial steps, backstop at 2/3 of maintenance); fee split and no socialised loss assumed",
    },
    "binance-unified": {
        "warning_ratio": 1.5, "reduce_only_ratio": 1.2, "liquidation_ratio": 1.05, "liquidator_share": 0.0, "auto_deleverage": True,
        "source": "worked example F (uniMMR ladder 150/120/105%); fees to the insurance fund then ADL assumed",
    },
    "dydx": {
        "liquidator_share": 0.0, "auto_deleverage": True, "socialised_loss": False,
        "source": "assumed: fees to the insurance fund, then deleveraging (dYdX v4 design); no socialised loss",
    },
    "derive-pmrm-v2": {
        "liquidator_share": 1.0, "use_insurance_fund": True, "socialised_loss": True,
        "source": "assumed: auction liquidations paid to the liquidator, security module, then socialised losses",
    },
}


def liquidation_policy_for(preset: str, **overrides: Any) -> LiquidationPolicy:
    """The :class:`LiquidationPolicy` of ``preset`` from :data:`PRESET_LIQUIDATION` (defaults for the others).

    >>> liquidation_policy_for("hyperliquid").partial_fraction
    0.2
    >>> liquidation_policy_for("deribit-pm") == LiquidationPolicy()
    True
    """
    data = {k: v for k, v in PRESET_LIQUIDATION.get(preset, {}).items() if k != "source"}
    data.update(overrides)
    return LiquidationPolicy.from_mapping(data, f"liquidation[{preset}]")


# --------------------------------------------------------------------------- helpers
def market_equity_usd(account: Account, market: MarketSnapshot, valuation: PositionValuation | None = None) -> float:
    """Equity at market without haircuts: cash + collateral + positions' mark-to-market.

    This is the quantity the conservation identity is written in (a model's own equity may
    apply haircuts; money does not).
    """
    total = account.cash_usd + sum(collateral_value_usd(account.collateral, market).values())
    if account.positions:
        if valuation is None:
            valuation = value_positions(account.positions, market)
        total += float(np.sum(valuation.value_usd))
    return float(total)


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


def _reduce(position: Position, keep_fraction: float) -> Position | None:
    if keep_fraction <= 0:
        return None
    return replace(position, quantity=position.quantity * keep_fraction)


def _event(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS, 0.0)
    row.update(symbol="", action="", account_id="", step=0, time=None)
    row.update(values)
    return row


def events_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """An event log (list of row dicts) as a DataFrame with :data:`EVENT_COLUMNS`."""
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "step" else "object" if c in _TEXT else "float64") for c in EVENT_COLUMNS})
    return pd.DataFrame(list(rows), columns=list(EVENT_COLUMNS))


_TEXT = ("time", "account_id", "action", "symbol")


# --------------------------------------------------------------------------- one account
@dataclass(frozen=True)
class AccountLiquidation:
    """What the ladder did to one account.

    Attributes
    ----------
    account_before, account_after : Account
    action : str
        The ladder action at the start (one of :data:`LADDER_ACTIONS`).
    margin_ratio_before, margin_ratio_after : float
    equity_before_usd, equity_after_usd : float
        Market equity (no haircuts) before and after.
    fees_usd, slippage_usd : float
        Paid to the insurance fund / lost to the market.
    deficit_usd : float
        Negative equity left once every position was closed (before the fund paid).
    fund_paid_usd : float
        Part of the deficit the insurance fund paid.
    uncovered_deficit_usd : float
        Part of the deficit the fund could not pay (for ADL, else bad debt).
    fund_balance_usd : float
        Insurance-fund balance after this account.
    closed : tuple of (Position, float)
        Each closed piece: the position as it was and the quantity closed (signed change).
    event_records : tuple of dict
        The event log rows; :attr:`events` is the DataFrame.
    """

    account_before: Account
    account_after: Account
    action: str
    margin_ratio_before: float
    margin_ratio_after: float
    equity_before_usd: float
    equity_after_usd: float
    fees_usd: float
    slippage_usd: float
    deficit_usd: float
    fund_paid_usd: float
    uncovered_deficit_usd: float
    fund_balance_usd: float
    closed: tuple[tuple[Position, float], ...]
    event_records: tuple[dict[str, Any], ...]
    steps: int = 0

    @property
    def events(self) -> pd.DataFrame:
        """The event log as a DataFrame (:data:`EVENT_COLUMNS`)."""
        return events_frame(self.event_records)

    @property
    def liquidated(self) -> bool:
        """True when at least one position was closed."""
        return bool(self.closed)

    @property
    def closed_notional_usd(self) -> float:
        return float(sum(r["notional_usd"] for r in self.event_records if r["action"] in ("partial_liquidation", "full_liquidation")))


def liquidate_account(
    account: Account,
    model: MarginModel,
    market: MarketSnapshot,
    policy: LiquidationPolicy | None = None,
    *,
    insurance_fund_usd: float = 0.0,
    time: datetime | None = None,
) -> AccountLiquidation:
    """Apply the liquidation ladder of ``policy`` to one account at ``market``.

    Parameters
    ----------
    account : Account
    model : MarginModel
        Gives the margin ratio; re-margined after every step.
    market : MarketSnapshot
        Positions close at its marks.
    policy : LiquidationPolicy, optional
    insurance_fund_usd : float
        Balance of the insurance fund available to cover this account's deficit.
    time : datetime, optional
        Time stamped on the events (default ``market.as_of``).

    Returns
    -------
    AccountLiquidation

    Examples
    --------
    A 10x long of 1 BTC entered at 100,000 with 10,000 USD cash under a flat 5% maintenance
    model: at 94,000 equity is 10,000 - 6,000 = 4,000 and MM 4,700, ratio 0.85 -> partial
    liquidation, two 20% steps bring the ratio back to 1.27 (see the tests for the arithmetic).

    >>> from marginlab.analysis.liquidation import liquidate_account, FlatRateModel
    >>> from marginlab.account import Account
    >>> from marginlab.instruments import Perpetual, Position
    >>> from marginlab.market import MarketSnapshot
    >>> account = Account((Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000),), cash_usd=10_000)
    >>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 94_000}}})
    >>> outcome = liquidate_account(account, FlatRateModel(0.10, 0.05), market)
    >>> outcome.action, round(outcome.margin_ratio_after, 3) >= 1.25
    ('partial_liquidation', True)
    """
    policy = policy or LiquidationPolicy()
    if not math.isfinite(insurance_fund_usd) or insurance_fund_usd < 0:
        raise ParameterError("insurance_fund_usd", insurance_fund_usd, "must be a non-negative finite balance")
    if model.family == "isolated" and any(p.isolated_collateral_usd is not None for p in account.positions):
        return liquidate_isolated_account(account, model, market, policy, insurance_fund_usd=insurance_fund_usd, time=time)
    when = time if time is not None else market.as_of
    fund = float(insurance_fund_usd)
    state = _margin(model, account, market)
    ratio_before = state.ratio
    equity_before = market_equity_usd(account, market)
    action = policy.classify(ratio_before)
    rows: list[dict[str, Any]] = []
    closed: list[tuple[Position, float]] = []
    fees = slippage = 0.0
    step = 0
    last_state = state  # margin after the latest close

    def close(current: Account, index: int, keep_fraction: float, label: str) -> Account:
        nonlocal fees, slippage, step
        valuation = value_positions(current.positions, market)
        position = current.positions[index]
        close_fraction = 1.0 - keep_fraction
        notional = close_fraction * float(valuation.notional_usd[index])
        value_moved = close_fraction * float(valuation.value_usd[index])
        equity_now = market_equity_usd(current, market, valuation)
        slip = policy.slippage_rate * notional
        fee = min(policy.fee_rate * notional, max(equity_now - slip, 0.0))
        fees += fee
        slippage += slip
        step += 1
        change = -position.quantity * close_fraction
        closed.append((position, change))
        after = _replace_position(current, index, _reduce(position, keep_fraction), value_moved - fee - slip)
        nonlocal fund
        fund += policy.fund_share(fee)
        after_state = _margin(model, after, market)
        nonlocal last_state
        last_state = after_state
        rows.append(
            _event(
                time=when,
                account_id=account.account_id,
                step=step,
                action=label,
                symbol=position.symbol,
                quantity=change,
                price_usd=float(valuation.mark_usd[index]),
                notional_usd=notional,
                delta_quantity=change * float(valuation.delta[index]),
                fee_usd=fee,
                slippage_usd=slip,
                fund_balance_usd=fund,
                margin_ratio=after_state.ratio,
                equity_usd=market_equity_usd(after, market),
            )
        )
        return after

    current = account
    if action == "none":  # nothing to do: no further margin call
        return AccountLiquidation(
            account, account, action, ratio_before, ratio_before, equity_before, equity_before, 0.0, 0.0, 0.0, 0.0, 0.0, fund, (), (), 0
        )
    if action in ("warning", "reduce_only"):
        rows.append(
            _event(time=when, account_id=account.account_id, action=action, fund_balance_usd=fund, margin_ratio=state.ratio, equity_usd=equity_before)
        )
    full = action == "full_liquidation"
    if action == "partial_liquidation":
        ratio = state.ratio
        partial_steps = 0
        while ratio < policy.target_ratio and current.positions:
            if ratio <= policy.full_liquidation_ratio or partial_steps >= policy.max_steps:
                full = True
                break
            choice = _most_risk_intensive(current, model, market, policy, state.maintenance_margin_usd)
            if choice is None:
                full = True
                break
            index, keep = choice
            current = close(current, index, keep, "partial_liquidation")
            partial_steps += 1
            state = last_state  # the margin of the account after the close
            ratio = state.ratio
    if full:
        while current.positions:
            current = close(current, 0, 0.0, "full_liquidation")

    equity_after = market_equity_usd(current, market)
    deficit = fund_paid = uncovered = 0.0
    if equity_after < 0:
        deficit = -equity_after
        fund_paid = min(fund, deficit) if policy.use_insurance_fund else 0.0
        uncovered = deficit - fund_paid
        fund -= fund_paid
        current = dataclasses.replace(current, cash_usd=current.cash_usd + fund_paid)
        rows.append(
            _event(
                time=when,
                account_id=account.account_id,
                step=step,
                action="insurance_fund",
                deficit_usd=deficit,
                transfer_usd=fund_paid,
                fund_balance_usd=fund,
                equity_usd=market_equity_usd(current, market),
            )
        )
        equity_after = market_equity_usd(current, market)
    final = state if not closed and not deficit else _margin(model, current, market)
    return AccountLiquidation(
        account,
        current,
        action,
        ratio_before,
        final.ratio,
        equity_before,
        equity_after,
        fees,
        slippage,
        deficit,
        fund_paid,
        uncovered,
        fund,
        tuple(closed),
        tuple(rows),
        step,
    )


def _isolated_state(model: MarginModel, position: Position, collateral_usd: float, market: MarketSnapshot) -> tuple[float, float, float]:
    """(isolated equity, maintenance margin, ratio) of one isolated position margined on its own."""
    valuation = value_positions([position], market)
    maintenance = _margin(model, Account((position,), 0.0), market).maintenance_margin_usd
    equity = collateral_usd + float(valuation.value_usd[0])
    return equity, maintenance, (equity / maintenance if maintenance > 0 else math.inf)


def liquidate_isolated_account(
    account: Account,
    model: MarginModel,
    market: MarketSnapshot,
    policy: LiquidationPolicy | None = None,
    *,
    insurance_fund_usd: float = 0.0,
    time: datetime | None = None,
) -> AccountLiquidation:
    """Isolated margin: each position with ``isolated_collateral_usd`` is liquidated on its own.

    Every isolated position ``i`` has its allocated collateral ``C_i`` (part of the account's
    cash), its isolated equity ``E_i = C_i + mark-to-market_i``, its maintenance margin ``MM_i``
    (the model applied to that position alone) and its own ratio ``E_i / MM_i``, classified by
    the ladder of ``policy`` (warning, reduce-only, partial, full). A partial close of a fraction
    ``f`` at the mark keeps the realised part in the position's collateral,
    ``C_i <- C_i + f x mtm_i - fee - slippage`` (``E_i`` falls by the costs only); the fee is capped
    at the position's own equity. When the position is fully closed, what is left of ``E_i`` goes
    back to the account; a negative ``E_i`` (loss beyond the collateral) is **not** taken from the
    account: the insurance fund pays it as far as it can and the rest is the venue's bad debt
    (``bad_debt`` row, credited to the account so that its other funds are untouched; no ADL for
    isolated deficits). The loss of the account is therefore capped at ``C_i``.

    Positions without ``isolated_collateral_usd`` form the **cross part** of the account: they go
    through :func:`liquidate_account` on the account's remaining equity (cash minus the isolated
    allocations, plus collateral and their own mark-to-market), separately.

    Money: traders' equity change + fund change + slippage = bad debt (the venue's loss).

    Examples
    --------
    Cash 20,000 holds two isolated longs: 1 BTC entered at 100,000 with 5,000 collateral and
    10 ETH entered at 3,000 with 3,000 collateral (Hyperliquid: MM = 1.25% BTC, 2% ETH). At BTC
    95,500 the BTC position's equity is 5,000 - 4,500 = 500 against MM 1,193.75 (ratio 0.42): it
    is closed in full (fee 0.5% x 95,500 = 477.50, within its 500 of equity); the ETH position
    (ratio 5) and the 12,000 of free cash are untouched, though the account-level ratio is 8.6.

    >>> from marginlab.margin.presets import get_model
    >>> from marginlab.instruments import Perpetual, Position
    >>> from marginlab.market import MarketSnapshot
    >>> btc = Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000, isolated_collateral_usd=5_000)
    >>> eth = Position(Perpetual("ETH"), 10.0, entry_price_usd=3_000, isolated_collateral_usd=3_000)
    >>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 95_500}, "ETH": {"index_usd": 3_000}}})
    >>> out = liquidate_isolated_account(Account((btc, eth), 20_000), get_model("hyperliquid"), market)
    >>> out.account_after.cash_usd, [p.symbol for p in out.account_after.positions], out.fees_usd
    (15022.5, ['ETH-PERPETUAL'], 477.5)
    """
    policy = policy or LiquidationPolicy()
    when = time if time is not None else market.as_of
    fund = float(insurance_fund_usd)
    equity_before = market_equity_usd(account, market)
    account_state = _margin(model, account, market)
    rows: list[dict[str, Any]] = []
    closed: list[tuple[Position, float]] = []
    fees = slippage = deficit_total = fund_paid_total = bad_debt_total = 0.0
    cash = account.cash_usd
    kept: list[Position] = []
    worst = "none"
    step = 0
    isolated = [p for p in account.positions if p.isolated_collateral_usd is not None]
    for position in isolated:
        collateral = float(position.isolated_collateral_usd or 0.0)
        equity, maintenance, ratio = _isolated_state(model, position, collateral, market)
        action = policy.classify(ratio)
        if LADDER_ACTIONS.index(action) > LADDER_ACTIONS.index(worst):
            worst = action
        if action in ("warning", "reduce_only"):
            rows.append(_event(time=when, account_id=account.account_id, action=action, symbol=position.symbol, fund_balance_usd=fund,
                               margin_ratio=ratio, equity_usd=equity))
        current: Position | None = position
        full = action == "full_liquidation"
        partial_steps = 0
        while current is not None and (full or (action == "partial_liquidation" and ratio < policy.target_ratio)):
            if not full and (ratio <= policy.full_liquidation_ratio or partial_steps >= policy.max_steps):
                full = True
            valuation = value_positions([current], market)
            notional_all = float(valuation.notional_usd[0])
            keep = 0.0 if full else 1.0 - policy.partial_fraction
            if keep * notional_all < policy.min_close_notional_usd:
                keep = 0.0
            fraction = 1.0 - keep
            notional = fraction * notional_all
            moved = fraction * float(valuation.value_usd[0])
            slip = policy.slippage_rate * notional
            fee = min(policy.fee_rate * notional, max(equity - slip, 0.0))
            fees += fee
            slippage += slip
            fund += policy.fund_share(fee)
            cash += moved - fee - slip
            collateral += moved - fee - slip
            change = -current.quantity * fraction
            closed.append((current, change))
            step += 1
            partial_steps += 1
            label = "full_liquidation" if keep == 0.0 else "partial_liquidation"
            current = None if keep == 0.0 else replace(current, quantity=current.quantity * keep, isolated_collateral_usd=collateral)
            if current is not None:
                equity, maintenance, ratio = _isolated_state(model, current, collateral, market)
            else:
                equity, ratio = collateral, math.inf
            rows.append(_event(time=when, account_id=account.account_id, step=step, action=label, symbol=position.symbol, quantity=change,
                               price_usd=float(valuation.mark_usd[0]), notional_usd=notional, delta_quantity=change * float(valuation.delta[0]),
                               fee_usd=fee, slippage_usd=slip, fund_balance_usd=fund, margin_ratio=ratio, equity_usd=equity))
        if current is None:
            if collateral < 0:  # loss beyond the position's collateral: not taken from the account
                deficit = -collateral
                paid = min(fund, deficit) if policy.use_insurance_fund else 0.0
                fund -= paid
                deficit_total += deficit
                fund_paid_total += paid
                cash += deficit
                rows.append(_event(time=when, account_id=account.account_id, step=step, action="insurance_fund", symbol=position.symbol,
                                   deficit_usd=deficit, transfer_usd=paid, fund_balance_usd=fund, equity_usd=0.0))
                if deficit - paid > 1e-9:
                    bad_debt_total += deficit - paid
                    rows.append(_event(time=when, account_id=account.account_id, step=step, action="bad_debt", symbol=position.symbol,
                                       deficit_usd=deficit - paid, fund_balance_usd=fund, equity_usd=0.0))
        else:
            kept.append(current)
    # the cross part: the other positions on the account's remaining equity
    cross_positions = tuple(p for p in account.positions if p.isolated_collateral_usd is None)
    allocated = sum(float(p.isolated_collateral_usd or 0.0) for p in kept)
    cross_after: Account | None = None
    if cross_positions:
        cross = dataclasses.replace(account, positions=cross_positions, cash_usd=cash - allocated)
        outcome = liquidate_account(cross, model, market, policy, insurance_fund_usd=fund, time=time)
        cross_after = outcome.account_after
        fund = outcome.fund_balance_usd
        fees += outcome.fees_usd
        slippage += outcome.slippage_usd
        closed += list(outcome.closed)
        deficit_total += outcome.deficit_usd
        fund_paid_total += outcome.fund_paid_usd
        rows += [{**r, "step": r["step"] + step if r["step"] else 0} for r in outcome.event_records]
        if LADDER_ACTIONS.index(outcome.action) > LADDER_ACTIONS.index(worst):
            worst = outcome.action
        cash = cross_after.cash_usd + allocated
        uncovered = outcome.uncovered_deficit_usd
    else:
        uncovered = 0.0
    remaining = list(cross_after.positions if cross_after is not None else ()) + kept
    after = dataclasses.replace(account, positions=tuple(remaining), cash_usd=cash)
    final = _margin(model, after, market)
    return AccountLiquidation(
        account, after, worst, account_state.ratio, final.ratio, equity_before, market_equity_usd(after, market), fees, slippage, deficit_total,
        fund_paid_total, uncovered, fund, tuple(closed), tuple(rows), step,
    )


def _most_risk_intensive(
    account: Account, model: MarginModel, market: MarketSnapshot, policy: LiquidationPolicy, maintenance_usd: float
) -> tuple[int, float] | None:
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
        trial = _replace_position(account, index, _reduce(account.positions[index], keep), 0.0)
        released = maintenance_usd - _margin(model, trial, market).maintenance_margin_usd
        if released <= 1e-12 * max(maintenance_usd, 1.0):
            continue
        score = released / closed_notional
        if best is None or score > best[0] * (1 + 1e-12):
            best = (score, index, keep)
    return None if best is None else (best[1], best[2])


# --------------------------------------------------------------------------- book level
@dataclass(frozen=True)
class BookLiquidation:
    """Liquidations over a book of accounts at one market snapshot.

    Attributes
    ----------
    accounts_before, accounts_after : tuple of Account
        In the order given.
    outcomes : tuple of AccountLiquidation
        In the order given.
    events : DataFrame
        All events in processing order (worst margin ratio first), including ``adl`` and
        ``bad_debt`` rows.
    fund_before_usd, fund_after_usd : float
    adl_recovered_usd : float
        Deficit recovered from ADL counterparties.
    bad_debt_usd : float
        Deficit neither the fund nor ADL could cover (left as negative equity).
    """

    accounts_before: tuple[Account, ...]
    accounts_after: tuple[Account, ...]
    outcomes: tuple[AccountLiquidation, ...]
    events: pd.DataFrame
    fund_before_usd: float
    fund_after_usd: float
    adl_recovered_usd: float
    bad_debt_usd: float
    socialised_usd: float = 0.0
    liquidator_usd: float = 0.0

    @property
    def liquidated_accounts(self) -> tuple[str, ...]:
        return tuple(o.account_before.account_id for o in self.outcomes if o.liquidated)

    @property
    def fees_usd(self) -> float:
        return float(sum(o.fees_usd for o in self.outcomes))

    @property
    def slippage_usd(self) -> float:
        return float(sum(o.slippage_usd for o in self.outcomes))

    @property
    def deficit_usd(self) -> float:
        return float(sum(o.deficit_usd for o in self.outcomes))

    def summary(self) -> pd.Series:
        return pd.Series(
            {
                "accounts": len(self.outcomes),
                "accounts_liquidated": len(self.liquidated_accounts),
                "fees_usd": self.fees_usd,
                "deficit_usd": self.deficit_usd,
                "fund_used_usd": float(sum(o.fund_paid_usd for o in self.outcomes)),
                "adl_recovered_usd": self.adl_recovered_usd,
                "socialised_usd": self.socialised_usd,
                "liquidator_usd": self.liquidator_usd,
                "bad_debt_usd": self.bad_debt_usd,
                "fund_after_usd": self.fund_after_usd,
            }
        )


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
    """Run the ladder over every account, then the insurance fund and ADL.

    Accounts are processed in ascending order of margin ratio (ties: the order given), each
    drawing on the fund left by the previous ones; uncovered deficits then go, in the same
    order, to :func:`write_off_deficits`: ADL on one queue snapshot (when ``adl``), socialised
    loss when the policy says so, and what remains is recorded as ``bad_debt``.
    The procedure is deterministic.
    """
    policy = policy or LiquidationPolicy()
    accounts = tuple(accounts)
    ratios = [_margin(model, a, market).ratio for a in accounts]
    order = sorted(range(len(accounts)), key=lambda i: (float(ordering_key(ratios[i])), i))
    fund = float(insurance_fund_usd)
    outcomes: list[AccountLiquidation | None] = [None] * len(accounts)
    after = list(accounts)
    frames = []
    for i in order:
        outcome = liquidate_account(accounts[i], model, market, policy, insurance_fund_usd=fund, time=time)
        fund = outcome.fund_balance_usd
        outcomes[i] = outcome
        after[i] = outcome.account_after
        if outcome.event_records:
            frames.append(outcome.events)
    when = time if time is not None else market.as_of
    claims = []
    for i in order:
        done = outcomes[i]
        assert done is not None
        if done.uncovered_deficit_usd > 0:
            claims.append(AdlClaim(i, done.closed, done.uncovered_deficit_usd, fund))
    after, claim_rows, totals = write_off_deficits(after, claims, market, policy, adl=adl, time=when)
    extra = [row for rows_ in claim_rows for row in rows_]
    recovered, socialised, bad_debt = (float(totals[k].sum()) for k in ("recovered_usd", "socialised_usd", "bad_debt_usd"))
    if extra:
        frames.append(events_frame(extra))
    events = pd.concat(frames, ignore_index=True) if frames else events_frame([])
    return BookLiquidation(accounts, tuple(after), tuple(o for o in outcomes if o is not None), events, float(insurance_fund_usd), fund, recovered,
                           bad_debt, socialised, policy.liquidator_share * sum(o.fees_usd for o in outcomes if o is not None))


#: Significant bits kept by :func:`ordering_key` (about 12 decimal digits).
ORDERING_BITS = 40


def ordering_key(values: ArrayLike) -> NDArray[np.float64]:
    """``values`` rounded to :data:`ORDERING_BITS` significant bits: the key amounts are ordered by
    (ADL scores, the deficits a settlement pays largest first, margin ratios), so that amounts
    equal but for the last bits of a sum taken in another order tie exactly and fall back to
    book order. Exact binary rounding (``frexp``/``ldexp``): a value rounds the same alone or in
    an array; infinities (an account with no positive equity) stay infinite.

    >>> bool(ordering_key(0.1 + 0.2) == ordering_key(0.3)), ordering_key([2.0, float("inf")]).tolist()
    (True, [2.0, inf])
    """
    values = np.asarray(values, dtype=np.float64)
    mantissa, exponent = np.frexp(values)
    finite = np.isfinite(values)
    rounded = np.ldexp(np.round(np.where(finite, mantissa, 0.0) * 2.0**ORDERING_BITS) / 2.0**ORDERING_BITS, exponent)
    return np.asarray(np.where(finite, rounded, values), dtype=np.float64)


def adl_ranking(accounts: Sequence[Account], market: MarketSnapshot, symbol: str, side: float) -> pd.DataFrame:
    """ADL queue for ``symbol``: profitable positions of sign ``side``, most exposed first.

    ``pnl_pct = unrealised P&L / (|quantity| x entry price)`` and the effective leverage is the
    account's gross notional / its market equity (Binance: "PnL% x effective leverage";
    BitMEX: profit % x leverage); scores are compared at 40 significant bits (:func:`ordering_key`),
    ties in book order. Only perpetuals and futures with an entry price and a
    positive P&L qualify.
    """
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
            rows.append((a, p, account.account_id, position.quantity, pnl, pnl_pct, leverage, float(ordering_key(pnl_pct * leverage)), float(valuation.mark_usd[p])))
    frame = pd.DataFrame(
        rows, columns=["account_index", "position_index", "account_id", "quantity", "pnl_usd", "pnl_pct", "leverage", "score", "mark_usd"]
    )
    return frame.sort_values(["score", "account_index"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


@dataclass(frozen=True)
class AdlClaim:
    """A deficit to recover by ADL: the bankrupt account (index into the book), the closes
    that made it bankrupt (``(position, signed change)``), the amount and the fund balance to
    record on its rows."""

    bankrupt_index: int
    closed: Sequence[tuple[Position, float]]
    deficit_usd: float
    fund_balance_usd: float = 0.0


#: A counterparty take smaller than this (units) is not made: float noise of the cumulative sums.
ADL_MIN_UNITS = 1e-12


def adl_pieces(closed: Sequence[tuple[Position, float]], market: MarketSnapshot) -> list[tuple[str, float, float]]:
    """``(symbol, held quantity, weight)`` of the bankrupt's closed linear positions, in order of first close.

    ``held`` is the signed quantity the bankrupt held and closed (``-`` the sum of the changes);
    the weight is ``|held| x index``: a claim is split over its pieces pro rata to it.
    """
    held: dict[str, float] = {}
    underlying: dict[str, str] = {}
    for position, change in closed:
        if position.instrument.kind not in ("perpetual", "future"):
            continue
        held[position.symbol] = held.get(position.symbol, 0.0) - change
        underlying.setdefault(position.symbol, position.underlying)
    return [(symbol, q, abs(q) * market.index_usd(underlying[symbol])) for symbol, q in held.items()]


def auto_deleverage(
    accounts: Sequence[Account],
    claims: Sequence[AdlClaim],
    market: MarketSnapshot,
    *,
    time: datetime | None = None,
) -> tuple[list[Account], list[list[dict[str, Any]]], NDArray[np.float64]]:
    """Recover the deficits of ``claims`` (in the order given) from one ADL queue snapshot.

    Each claim's deficit is split over the bankrupt's closed linear positions in proportion to
    their closed notional (:func:`adl_pieces`). For a piece of deficit ``D`` on a closed
    quantity ``Q`` the bankruptcy price is ``mark + D / Q`` (``Q`` signed: a long is sold above
    the mark, a short bought back below it), so closing ``q`` units of the opposite side at
    that price costs the counterparty ``|q| x D / |Q|`` against the mark and pays it to the
    bankrupt account.

    **One queue per settlement.** The queue of each (symbol, side) is ranked once, on the book
    as it stands when the settlement starts (:func:`adl_ranking`), as a venue's ADL indicator is
    a ranking published at an instant; the claims then consume it in order: the pieces of all
    claims on that queue are laid end to end (cumulative demand) against the queue's positions
    (cumulative supply) and each overlap is one take. A counterparty partly taken by one claim
    keeps its place for the next.

    Returns
    -------
    accounts : list of Account
        The book after ADL.
    rows : list of list of dict
        Per claim, its ``adl`` rows (one per counterparty take).
    recovered_usd : array
        Per claim, the amount transferred to the bankrupt account (<= its deficit).

    Examples
    --------
    Two bankrupt longs of 1 BTC each (deficits 300 and 100 USD) and one profitable short of
    1.5 BTC: the first claim takes 1 BTC of the short at ``mark + 300``, the second the
    remaining 0.5 BTC at ``mark + 100``, so 300 + 0.5 x 100 = 350 USD is recovered.

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
    present = [list(range(len(a.positions))) for a in snapshot]  # snapshot position indices still held, per account
    taken: dict[tuple[int, int], float] = {}
    queues: dict[tuple[str, float], tuple[pd.DataFrame, NDArray[np.float64], list[float]]] = {}
    rows: list[list[dict[str, Any]]] = []
    recovered = np.zeros(len(claims))
    for c, claim in enumerate(claims):
        mine: list[dict[str, Any]] = []
        rows.append(mine)
        pieces = adl_pieces(claim.closed, market)
        total_weight = sum(w for _, _, w in pieces)
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
                mine.append(_event(time=when, account_id=snapshot[a].account_id, action="adl", symbol=symbol, quantity=float(change),
                                   price_usd=mark + share / held, notional_usd=take * mark, delta_quantity=float(change), transfer_usd=-transfer,
                                   deficit_usd=0.0, fund_balance_usd=claim.fund_balance_usd, equity_usd=market_equity_usd(book[a], market)))
    return book, rows, recovered


def write_off_deficits(
    accounts: Sequence[Account],
    claims: Sequence[AdlClaim],
    market: MarketSnapshot,
    policy: LiquidationPolicy,
    *,
    adl: bool = True,
    time: datetime | None = None,
) -> tuple[list[Account], list[list[dict[str, Any]]], dict[str, NDArray[np.float64]]]:
    """What the insurance fund could not pay, in three passes over ``claims`` (in order).

    1. **ADL** of every claim on one queue snapshot (:func:`auto_deleverage`; when ``adl`` and
       ``policy.auto_deleverage``);
    2. **socialised loss** (``policy.socialised_loss``): each claim in turn charges what is left
       to every other account with positive equity, pro rata (:func:`socialised_charges`);
    3. what is still left is **bad debt**: it stays as the account's negative equity.

    Returns the book after, the event rows per claim (``adl`` rows, then ``socialised_loss``,
    then ``bad_debt``) and the per-claim arrays ``recovered_usd``, ``socialised_usd``,
    ``bad_debt_usd``.
    """
    when = time if time is not None else market.as_of
    book = list(accounts)
    n = len(claims)
    remaining = np.array([c.deficit_usd for c in claims], dtype=np.float64)
    recovered = np.zeros(n)
    socialised = np.zeros(n)
    if adl and policy.auto_deleverage:
        wanted = [c for c in claims if c.deficit_usd > 1e-9]
        book, adl_rows, adl_recovered = auto_deleverage(book, wanted, market, time=when)
        by_claim = iter(zip(adl_rows, adl_recovered))
        rows: list[list[dict[str, Any]]] = []
        for k, claim in enumerate(claims):
            if claim.deficit_usd > 1e-9:
                claim_rows, amount = next(by_claim)
                rows.append(list(claim_rows))
                recovered[k] = amount
            else:
                rows.append([])
        remaining -= recovered
    else:
        rows = [[] for _ in claims]
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
            rows[k].append(socialised_event(when, book[i].account_id, float(remaining[k]), got, int(np.sum(charges > 0)), claim.fund_balance_usd,
                                            market_equity_usd(book[i], market)))
            socialised[k] = got
            remaining[k] -= got
    bad_debt = np.where(remaining > 1e-9, remaining, 0.0)
    for k, claim in enumerate(claims):
        if bad_debt[k] > 0:
            rows[k].append(_event(time=when, account_id=book[claim.bankrupt_index].account_id, action="bad_debt", deficit_usd=float(bad_debt[k]),
                                  fund_balance_usd=claim.fund_balance_usd, equity_usd=market_equity_usd(book[claim.bankrupt_index], market)))
    return book, rows, {"recovered_usd": recovered, "socialised_usd": socialised, "bad_debt_usd": bad_debt}


def socialised_charges(equity_usd: np.ndarray, bankrupt: int, amount_usd: float) -> np.ndarray:
    """Socialised loss: ``amount_usd`` charged to every other account with positive equity, pro rata to it.

    ``charge_i = min(amount, sum E+) x E_i / sum E+`` over ``E_i > 0``, ``i != bankrupt``; never more
    than an account's equity.

    >>> socialised_charges(np.array([300.0, -50.0, 100.0]), 1, 40.0).tolist()
    [30.0, 0.0, 10.0]
    """
    positive = np.where(equity_usd > 0, equity_usd, 0.0)
    positive[bankrupt] = 0.0
    total = float(positive.sum())
    if total <= 0 or amount_usd <= 0:
        return np.zeros(len(equity_usd))
    return np.asarray(min(amount_usd, total) * positive / total, dtype=np.float64)


def socialised_event(when: Any, account_id: str, deficit_usd: float, charged_usd: float, accounts: int, fund_usd: float,
                     equity_usd: float) -> dict[str, Any]:
    """The ``socialised_loss`` event row: ``transfer_usd`` charged to ``accounts`` accounts and paid to the bankrupt one."""
    return _event(time=when, account_id=account_id, action="socialised_loss", deficit_usd=deficit_usd, transfer_usd=charged_usd,
                  fund_balance_usd=fund_usd, equity_usd=equity_usd)


def conservation_residual_usd(result: BookLiquidation, market: MarketSnapshot) -> float:
    """``traders' equity change + fund change + slippage + liquidators' bonus``; zero up to rounding.

    The ADL and socialised-loss transfers and the fees are internal to the sum (they move money
    between traders, the fund and the liquidators), so the residual measures money created or
    destroyed by the engine.
    """
    before = sum(market_equity_usd(a, market) for a in result.accounts_before)
    after = sum(market_equity_usd(a, market) for a in result.accounts_after)
    return float(after - before + (result.fund_after_usd - result.fund_before_usd) + result.slippage_usd + result.liquidator_usd)


@dataclass(frozen=True)
class FlatRateModel(MarginModel):
    """The simplest margin model: fixed rates of gross notional, equity at market.

    ``IM = im_rate x sum |notional|``, ``MM = mm_rate x sum |notional|`` (options: the
    underlying notional), equity = cash + collateral + mark-to-market. It is a reference for
    examples and tests of the liquidation machinery, not a venue model.

    >>> FlatRateModel(0.1, 0.05).family
    'isolated'
    """

    im_rate: float = 0.10
    mm_rate: float = 0.05
    preset_name: str = field(default="flat-rate", compare=False)

    family = "isolated"

    def __post_init__(self) -> None:
        if not 0 <= self.mm_rate <= self.im_rate:
            raise ParameterError("mm_rate", self.mm_rate, f"must be in [0, im_rate={self.im_rate}]")

    def margin(self, account: Account, market: MarketSnapshot):  # type: ignore[no-untyped-def]
        from marginlab.margin.base import MarginResult

        account.require_positions()
        valuation = value_positions(account.positions, market)
        notional = valuation.notional_usd
        # numeric columns only (cheap to build: the model is called at every step of a replay)
        positions = pd.DataFrame(
            {
                "quantity": valuation.quantity,
                "notional_usd": notional,
                "initial_margin_usd": self.im_rate * notional,
                "maintenance_margin_usd": self.mm_rate * notional,
            }
        )
        im, mm = float(self.im_rate * notional.sum()), float(self.mm_rate * notional.sum())
        components = pd.DataFrame(
            [{"component": "notional rate", "initial_margin_usd": im, "maintenance_margin_usd": mm, "explanation": "rate x gross notional"}]
        )
        return MarginResult(self.name, im, mm, market_equity_usd(account, market, valuation), positions, components)

    @property
    def book_vectorised(self) -> bool:
        """True: a book is margined in one vectorised pass (:class:`~marginlab.margin.base.BookMarginModel`)."""
        return True

    def prepare_book(self, instruments: Any, *, as_of: Any = None) -> None:
        """Nothing to prepare (the rates apply to notionals)."""
        return None

    def margin_book(self, book: Any, *, prepared: Any = None) -> Any:
        """Margin of every account of a :class:`~marginlab.book.Book` (:meth:`margin` is its one-account case):
        the rates of ``sum |size| x index`` over the positions (an inverse contract at its coin size), equity at market."""
        table = book.instruments
        positions = (table.collateral_asset == "")[book.instrument]
        notional = np.where(positions, np.abs(book.rule_size) * table.index_usd[book.instrument], 0.0)
        gross = np.bincount(book.account, weights=notional, minlength=book.n_accounts).astype(np.float64)
        equity = np.asarray(np.bincount(book.account, weights=book.mtm_usd, minlength=book.n_accounts) + book.cash_usd, dtype=np.float64)
        return BookMarginResult(self.name, book.account_ids, self.im_rate * gross, self.mm_rate * gross, equity,
                                {"gross_notional_usd": gross}).check_finite()
