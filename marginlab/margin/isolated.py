"""Isolated (standard) margin: one general engine, venue rules as data.

Each position is margined on its own. The requirement of a *linear* position (perpetual,
future, short spot) is a function of its size, given by the asset's :class:`LinearRule`:

* :class:`SizeLinearRate` -- Deribit standard margin (worked example C1): rate =
  ``base + |quantity| * per_unit`` applied to the notional ``|quantity| * index``;
* :class:`RiskBrackets` -- Binance-style risk-limit brackets (E2): ``MM = notional * MMR_tier - cum``
  with ``cum_i = cum_{i-1} + floor_i * (MMR_i - MMR_{i-1})``; ``IM = notional / leverage``;
* :class:`MaxLeverage` -- Hyperliquid (E1): ``IM = notional / leverage chosen``, ``MM`` = half of
  the IM at the asset's maximum leverage;
* :class:`LiquidityTier` -- dYdX v4 (E3): ``MMF = IMF * maintenance_fraction`` and an
  open-interest scaled IMF ``min(IMF + max(s (1 - IMF), 0), 1)``,
  ``s = (OI - lower_cap) / (upper_cap - lower_cap)``.

Rows of the same instrument are one venue position: the size-dependent rate (or bracket) is
that of their net quantity and the requirement is shared by the rows in proportion to
``|quantity|`` (ten lines of +2.5 BTC-PERPETUAL are margined as one 25 BTC position). The
liquidation price of a row treats the row's own collateral and quantity at that shared rate.
Netting stops where the venue's would: a row with its **own** ``isolated_collateral_usd`` is a
distinct isolated position (its own margin balance, as a separate isolated sub-position on the
venue) and is margined on its own size; only rows without their own collateral are merged.
The grouping is done on arrays once per account, so 200,000 fills of a few instruments cost
about as much as a few positions.

Options follow :class:`CoinOptionRule` (Deribit, C2), stated in coin units and converted to USD
at the index. Long spot is fully paid (no requirement); short spot is margined like a
perpetual of the same size.

Every position has its own collateral, ``Position.isolated_collateral_usd`` (when absent we
assume the trader posted exactly the initial margin, and say so), its isolated equity
(collateral + unrealised P&L; for options collateral + mark value) and, for linear positions,
its **liquidation price**: the price at which isolated equity equals maintenance margin. With a
rate that does not depend on price it has the closed form ``(q E - C) / (q - |q| m)``; with
brackets (the rate depends on the notional, hence on price) the equation is solved: piecewise
in closed form, bracket by bracket (:meth:`RiskBrackets.liquidation_prices`), and with Brent's
method for any other notional-dependent rule (:func:`liquidation_price_solved`). Equity minus
maintenance is strictly monotone in price, so the root is unique.

>>> from marginlab.margin.presets import deribit_standard
>>> from marginlab.account import Account
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
>>> account = Account.from_dict({"positions": [{"symbol": "BTC-PERPETUAL", "quantity": 25}]})
>>> result = deribit_standard().margin(account, market)
>>> result.initial_margin_usd, result.maintenance_margin_usd
(53125.0, 28125.0)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import brentq

from marginlab._validation import as_float, positive_float
from marginlab.account import Account
from marginlab.exceptions import InputError, ParameterError, UnknownAssetError
from marginlab.margin.base import MarginModel, MarginResult
from marginlab.market import MarketSnapshot
from marginlab.valuation import PositionValuation, equity_usd, text_column, value_positions

FloatArray = NDArray[np.float64]

#: Key of the rule applied to assets without their own rule.
DEFAULT_ASSET = "*"


def _nonnegative(name: str, value: float) -> float:
    number = as_float(name, value)
    if not math.isfinite(number) or number < 0:
        raise ParameterError(name, value, "must be a non-negative finite number")
    return number


class LinearRule(Protocol):
    """Requirement of linear positions of one asset (vectorised over positions)."""

    @property
    def notional_dependent(self) -> bool:
        """True when the rate depends on the notional (hence on price): the liquidation price is solved."""
        ...

    def requirements(
        self, quantity_abs: FloatArray, notional_usd: FloatArray, leverage: FloatArray, open_interest_usd: float | None
    ) -> tuple[FloatArray, FloatArray]:
        """Initial and maintenance margin in USD; ``leverage`` is NaN where the trader chose none."""
        ...

    def describe(self) -> str:
        """One sentence stating the rule."""
        ...


@dataclass(frozen=True)
class SizeLinearRate:
    """Rate growing linearly with size (Deribit, worked example C1).

    ``IM rate = initial_base + |quantity| * initial_per_unit`` (capped at ``max_rate``), likewise
    for maintenance; requirement = rate * notional. Rates are fractions: Deribit's "2% + size x
    0.005%" for BTC is ``SizeLinearRate(0.02, 0.01, 0.00005, 0.00005)``.
    """

    initial_base: float
    maintenance_base: float
    initial_per_unit: float = 0.0
    maintenance_per_unit: float = 0.0
    max_rate: float = 1.0
    notional_dependent: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for name in ("initial_base", "maintenance_base", "initial_per_unit", "maintenance_per_unit", "max_rate"):
            object.__setattr__(self, name, _nonnegative(name, getattr(self, name)))
        if self.maintenance_base > self.initial_base:
            raise ParameterError("maintenance_base", self.maintenance_base, f"must not exceed initial_base={self.initial_base}")

    def rates(self, quantity_abs: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Initial and maintenance rates (fractions of notional) for sizes ``quantity_abs``."""
        size = np.asarray(quantity_abs, dtype=float)
        initial = np.minimum(self.initial_base + size * self.initial_per_unit, self.max_rate)
        maintenance = np.minimum(self.maintenance_base + size * self.maintenance_per_unit, self.max_rate)
        return initial, maintenance

    def requirements(self, quantity_abs, notional_usd, leverage, open_interest_usd):  # type: ignore[no-untyped-def]
        initial, maintenance = self.rates(quantity_abs)
        return initial * notional_usd, maintenance * notional_usd

    def describe(self) -> str:
        return (
            f"IM rate {self.initial_base:.4%} + size x {self.initial_per_unit:.6%}, MM rate {self.maintenance_base:.4%} + "
            f"size x {self.maintenance_per_unit:.6%} (cap {self.max_rate:.0%}) of notional"
        )


@dataclass(frozen=True)
class RiskBrackets:
    """Risk-limit brackets by notional (Binance style, worked example E2).

    Parameters
    ----------
    floors_usd : sequence of float
        Lower notional bound of each bracket, starting at 0, increasing.
    maintenance_rates : sequence of float
        Maintenance margin rate of each bracket (fractions, non-decreasing).
    max_leverages : sequence of float
        Largest leverage allowed in each bracket (non-increasing). The initial margin is
        ``notional / leverage`` with the position's chosen leverage, or the bracket's maximum
        when none is chosen; a chosen leverage above the bracket's maximum is an error.
    cap_usd : float
        Largest notional allowed (the upper bound of the last bracket).

    ``MM = notional * MMR_i - cum_i`` with the cumulative amount
    ``cum_i = cum_{i-1} + floor_i * (MMR_i - MMR_{i-1})`` that keeps MM continuous.
    """

    floors_usd: Sequence[float]
    maintenance_rates: Sequence[float]
    max_leverages: Sequence[float]
    cap_usd: float = math.inf
    notional_dependent: ClassVar[bool] = True

    def __post_init__(self) -> None:
        floors = tuple(_nonnegative("floors_usd", f) for f in self.floors_usd)
        rates = tuple(_nonnegative("maintenance_rates", r) for r in self.maintenance_rates)
        leverages = tuple(as_float("max_leverages", x) for x in self.max_leverages)
        if not floors or floors[0] != 0 or len(floors) != len(rates) or len(floors) != len(leverages):
            raise ParameterError("floors_usd", floors, "needs one rate and one max leverage per bracket, first floor 0")
        if any(b <= a for a, b in zip(floors, floors[1:])):
            raise ParameterError("floors_usd", floors, "must be strictly increasing")
        if any(b < a for a, b in zip(rates, rates[1:])) or any(r >= 1 for r in rates):
            raise ParameterError("maintenance_rates", rates, "must be non-decreasing and below 1")
        if any(not (x >= 1 and math.isfinite(x)) for x in leverages) or any(b > a for a, b in zip(leverages, leverages[1:])):
            raise ParameterError("max_leverages", leverages, "must be finite, >= 1 and non-increasing")
        object.__setattr__(self, "floors_usd", floors)
        object.__setattr__(self, "maintenance_rates", rates)
        object.__setattr__(self, "max_leverages", leverages)
        object.__setattr__(self, "cap_usd", positive_float("cap_usd", self.cap_usd, allow_inf=True))

    @property
    def cumulative_usd(self) -> FloatArray:
        """The maintenance amount ``cum_i`` of every bracket."""
        floors = np.asarray(self.floors_usd)
        rates = np.asarray(self.maintenance_rates)
        steps = floors[1:] * np.diff(rates)
        return np.concatenate([[0.0], np.cumsum(steps)])

    def table(self) -> pd.DataFrame:
        """The brackets with their cumulative amounts."""
        return pd.DataFrame(
            {
                "floor_usd": self.floors_usd,
                "maintenance_rate": self.maintenance_rates,
                "max_leverage": self.max_leverages,
                "cumulative_usd": self.cumulative_usd,
            }
        )

    def bracket(self, notional_usd: FloatArray) -> NDArray[np.intp]:
        """Index of the bracket of each notional."""
        notional = np.asarray(notional_usd, dtype=float)
        if np.any(notional > self.cap_usd):
            bad = float(notional[notional > self.cap_usd].flat[0])
            raise InputError("notional_usd", bad, f"exceeds the largest bracket's cap {self.cap_usd:,.0f} USD")
        return np.searchsorted(np.asarray(self.floors_usd), notional, side="right") - 1

    def maintenance_usd(self, notional_usd: FloatArray) -> FloatArray:
        index = self.bracket(notional_usd)
        return np.asarray(notional_usd * np.asarray(self.maintenance_rates)[index] - self.cumulative_usd[index])

    def requirements(self, quantity_abs, notional_usd, leverage, open_interest_usd):  # type: ignore[no-untyped-def]
        index = self.bracket(notional_usd)
        maximum = np.asarray(self.max_leverages)[index]
        chosen = np.where(np.isnan(leverage), maximum, leverage)
        if np.any(chosen > maximum + 1e-12):
            i = int(np.argmax(chosen > maximum + 1e-12))
            raise ParameterError("leverage", float(chosen[i]), f"exceeds the bracket's maximum leverage {maximum[i]:g}")
        return notional_usd / chosen, self.maintenance_usd(notional_usd)

    def liquidation_prices(self, quantity: FloatArray, entry_usd: FloatArray, collateral_usd: FloatArray) -> FloatArray:
        """Liquidation prices in closed form, bracket by bracket (vectorised over positions).

        In bracket ``i`` the condition ``C + q (P - E) = |q| P MMR_i - cum_i`` gives
        ``P_i = (q E - C - cum_i) / (q - |q| MMR_i)``; the answer is the ``P_i`` whose notional
        ``|q| P_i`` lies in bracket ``i`` (unique, as equity minus maintenance is strictly monotone
        in ``P``). NaN where no bracket is consistent (no liquidation below the cap).
        """
        q = np.asarray(quantity, dtype=float)[:, None]
        entry = np.asarray(entry_usd, dtype=float)[:, None]
        collateral = np.asarray(collateral_usd, dtype=float)[:, None]
        rates = np.asarray(self.maintenance_rates)[None, :]
        floors = np.asarray(self.floors_usd)[None, :]
        uppers = np.append(np.asarray(self.floors_usd)[1:], self.cap_usd)[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            candidate = (q * entry - collateral - self.cumulative_usd[None, :]) / (q - np.abs(q) * rates)
        notional = np.abs(q) * candidate
        tolerance = 1e-12 * np.maximum(uppers, 1.0)
        valid = (candidate > 0) & (notional >= floors - tolerance) & (notional <= uppers + tolerance)
        first = np.argmax(valid, axis=1)
        found = valid.any(axis=1)
        return np.where(found, candidate[np.arange(len(q)), first], np.nan)

    def describe(self) -> str:
        rows = ", ".join(f">= {f:,.0f}: {r:.2%} / {lev:g}x" for f, r, lev in zip(self.floors_usd, self.maintenance_rates, self.max_leverages))
        return f"risk-limit brackets, MM = notional x MMR - cum, IM = notional / leverage (floor USD: MMR / max leverage: {rows}; cap {self.cap_usd:,.0f})"


@dataclass(frozen=True)
class MaxLeverage:
    """Hyperliquid (worked example E1): ``IM = notional / leverage``, ``MM = notional / (2 max_leverage)``."""

    max_leverage: float
    notional_dependent: ClassVar[bool] = False

    def __post_init__(self) -> None:
        value = as_float("max_leverage", self.max_leverage)
        if not (math.isfinite(value) and value >= 1):
            raise ParameterError("max_leverage", self.max_leverage, "must be a finite number >= 1")
        object.__setattr__(self, "max_leverage", value)

    @property
    def maintenance_rate(self) -> float:
        return 0.5 / self.max_leverage

    def requirements(self, quantity_abs, notional_usd, leverage, open_interest_usd):  # type: ignore[no-untyped-def]
        chosen = np.where(np.isnan(leverage), self.max_leverage, leverage)
        if np.any(chosen > self.max_leverage):
            raise ParameterError("leverage", float(np.max(chosen)), f"exceeds the asset's maximum leverage {self.max_leverage:g}")
        return notional_usd / chosen, notional_usd * self.maintenance_rate

    def describe(self) -> str:
        return f"IM = notional / leverage (max {self.max_leverage:g}x), MM = {self.maintenance_rate:.4%} of notional"


@dataclass(frozen=True)
class LiquidityTier:
    """dYdX v4 liquidity tier (worked example E3).

    ``initial_fraction`` (IMF) is scaled up with the market's open interest:
    ``s = (OI - lower) / (upper - lower)``, ``IMF_eff = min(IMF + max(s (1 - IMF), 0), 1)``.
    ``MMF = IMF * maintenance_fraction``; following the dYdX v4 implementation we apply the
    maintenance fraction to the *base* IMF (open-interest scaling raises only the initial
    margin) -- the worked example does not say, this is an assumption stated here. Without
    open interest, or with ``upper <= lower``, no scaling applies.
    """

    initial_fraction: float
    maintenance_fraction: float
    open_interest_lower_usd: float = 0.0
    open_interest_upper_usd: float = 0.0
    notional_dependent: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for name in ("initial_fraction", "maintenance_fraction"):
            value = _nonnegative(name, getattr(self, name))
            if value > 1:
                raise ParameterError(name, value, "must be a fraction in [0, 1]")
            object.__setattr__(self, name, value)
        for name in ("open_interest_lower_usd", "open_interest_upper_usd"):
            object.__setattr__(self, name, _nonnegative(name, getattr(self, name)))

    def effective_initial_fraction(self, open_interest_usd: float | None) -> float:
        """The open-interest scaled IMF."""
        span = self.open_interest_upper_usd - self.open_interest_lower_usd
        if open_interest_usd is None or span <= 0:
            return self.initial_fraction
        scale = (float(open_interest_usd) - self.open_interest_lower_usd) / span
        return min(self.initial_fraction + max(scale * (1.0 - self.initial_fraction), 0.0), 1.0)

    @property
    def maintenance_rate(self) -> float:
        return self.initial_fraction * self.maintenance_fraction

    def requirements(self, quantity_abs, notional_usd, leverage, open_interest_usd):  # type: ignore[no-untyped-def]
        return notional_usd * self.effective_initial_fraction(open_interest_usd), notional_usd * self.maintenance_rate

    def describe(self) -> str:
        scaling = (f"scaled up with open interest from {self.open_interest_lower_usd:,.0f} to {self.open_interest_upper_usd:,.0f} USD"
                   if self.open_interest_upper_usd > self.open_interest_lower_usd else "no open-interest scaling")
        return f"IMF {self.initial_fraction:.2%} ({scaling}), MMF = base IMF x {self.maintenance_fraction:.0%} = {self.maintenance_rate:.2%}"


@dataclass(frozen=True)
class CoinOptionRule:
    """Deribit standard option margin (worked example C2), per option of one coin, in coin units.

    With ``m`` the option mark and ``OTM`` the out-of-the-money amount (0 in the money), both
    divided by the index to be in coin:

    * long: IM = MM = the mark (the premium);
    * short call: ``IM = max(initial_base - OTM/S, initial_floor) + m``, ``MM = maintenance + m``;
    * short put: ``MM = max(maintenance, maintenance * m) + m``,
      ``IM = max(max(initial_base - OTM/S, initial_floor) + m, MM)``.

    Coin amounts are converted to USD at the index ``S``. Coin-settled options (Deribit's
    ``BTC-28MAR25-100000-C``) are quoted in coin, so ``m`` is their own price; a USD-settled
    option is margined by the same formula on its USD mark divided by ``S``.

    Source: Deribit's published standard-margin formulas for options, as reproduced in
    "Deribit Margin Requirements Calculation", TSLab documentation,
    https://doc.tslab.pro/tslab/eng/data-providers/connection-to-broker/deribit-cryptocurrency-exchange/deribit-margin-requirements-calculation
    (read 2026-12-01), and in worked example C2 (Deribit support pages, rules since 11 Jan 2022):
    short call IM (BTC) = Maximum(0.15 - OTM Amount/Underlying MarkPrice, 0.1) + mark, MM = 0.075 + mark;
    short put IM = Maximum(Maximum(0.15 - OTM/Underlying, 0.1) + mark, MM),
    MM = Maximum(0.075, 0.075 * mark) + mark. We measure OTM against the index (the
    "underlying" price), an assumption where the underlying of an expiry is its future.
    """

    initial_base: float = 0.15
    initial_floor: float = 0.10
    maintenance: float = 0.075

    def __post_init__(self) -> None:
        for name in ("initial_base", "initial_floor", "maintenance"):
            object.__setattr__(self, name, _nonnegative(name, getattr(self, name)))

    def requirements(
        self, quantity: FloatArray, index_usd: FloatArray, forward_usd: FloatArray, strike_usd: FloatArray, mark_usd: FloatArray, is_call: NDArray[np.bool_]
    ) -> tuple[FloatArray, FloatArray]:
        """USD initial and maintenance margin of option positions (vectorised).

        The out-of-the-money amount is measured against the index (Deribit's "underlying").
        """
        mark_coin = mark_usd / index_usd
        otm = np.where(is_call, np.maximum(strike_usd - index_usd, 0.0), np.maximum(index_usd - strike_usd, 0.0))
        initial_short = np.maximum(self.initial_base - otm / index_usd, self.initial_floor) + mark_coin
        maintenance_call = self.maintenance + mark_coin
        maintenance_put = np.maximum(self.maintenance, self.maintenance * mark_coin) + mark_coin
        maintenance_short = np.where(is_call, maintenance_call, maintenance_put)
        initial_short = np.where(is_call, initial_short, np.maximum(initial_short, maintenance_put))
        short = quantity < 0
        initial_coin = np.where(short, initial_short, mark_coin)
        maintenance_coin = np.where(short, maintenance_short, mark_coin)
        size = np.abs(quantity)
        return initial_coin * index_usd * size, maintenance_coin * index_usd * size

    def describe(self) -> str:
        """The formulas applied, calls and puts (in coin per option; converted at the index S)."""
        otm = f"max({self.initial_base:g} - OTM/S, {self.initial_floor:g}) + mark"
        return (
            f"options in coin: long = mark; short call IM = {otm}, MM = {self.maintenance:g} + mark; "
            f"short put MM = max({self.maintenance:g}, {self.maintenance:g} x mark) + mark, IM = max({otm}, MM)"
        )


@dataclass(frozen=True)
class VenueLiquidationRule:
    """How a venue liquidates, as data for the liquidation analysis (worked example E1, Hyperliquid).

    Positions with a notional above ``partial_above_usd`` are liquidated ``partial_fraction`` at a
    time, ``partial_interval_seconds`` apart; below ``backstop_below_mm_fraction`` of the
    maintenance margin a backstop (vault) takes the whole position.
    """

    partial_above_usd: float = math.inf
    partial_fraction: float = 1.0
    partial_interval_seconds: float = 0.0
    backstop_below_mm_fraction: float = 0.0

    def __post_init__(self) -> None:
        for name in ("partial_above_usd", "partial_interval_seconds", "backstop_below_mm_fraction"):
            value = as_float(name, getattr(self, name))
            if math.isnan(value) or value < 0:
                raise ParameterError(name, getattr(self, name), "must be non-negative")
        if not 0 < as_float("partial_fraction", self.partial_fraction) <= 1:
            raise ParameterError("partial_fraction", self.partial_fraction, "must be in (0, 1]")


def liquidation_price_closed_form(quantity: float, entry_usd: float, collateral_usd: float, maintenance_rate: float) -> float:
    """Price at which ``collateral + q (P - E) = |q| P m`` for a constant rate ``m``.

    ``P = (q E - C) / (q - |q| m)``. Returns NaN when no positive price liquidates a long
    (collateral covers a fall to zero).

    >>> liquidation_price_closed_form(1.0, 100.0, 10.0, 0.05)  # long 1 at 100, 10 collateral, 5% MM
    94.73684210526316
    """
    q = float(quantity)
    price = (q * entry_usd - collateral_usd) / (q - abs(q) * maintenance_rate)
    return price if price > 0 else math.nan


def liquidation_price_solved(quantity: float, entry_usd: float, collateral_usd: float, maintenance_usd, cap_price_usd: float = math.inf) -> float:  # type: ignore[no-untyped-def]
    """Solve ``collateral + q (P - E) = MM(|q| P)`` for ``P`` (Brent), ``maintenance_usd`` a function of notional.

    The left minus right side is strictly monotone in ``P`` when the marginal maintenance rate
    is below 1, so the root is unique; NaN when a long survives a fall to zero.
    """
    q = float(quantity)

    def gap(price: float) -> float:
        return collateral_usd + q * (price - entry_usd) - float(maintenance_usd(np.asarray(abs(q) * price)))

    low = 1e-12
    if q > 0 and gap(low) >= 0:
        return math.nan
    high = min(max(entry_usd, 1.0), cap_price_usd)
    while np.sign(gap(high)) == np.sign(gap(low)):
        if high >= cap_price_usd or high > 1e15:
            return math.nan  # no liquidation below the largest notional the rule allows
        high = min(high * 2.0, cap_price_usd)
    return float(brentq(gap, low, high, xtol=1e-12, rtol=1e-14, maxiter=500))


def inverse_liquidation_prices(face_usd: FloatArray, entry_usd: FloatArray, collateral_coin: FloatArray, maintenance_rate: FloatArray) -> FloatArray:
    """Liquidation price of inverse contracts with coin collateral and a constant maintenance rate.

    In coin: equity ``C + f (1/E - 1/P)`` equals maintenance ``m |f| / P`` at
    ``P = (f + m |f|) / (C + f / E)`` (``f`` the signed USD face value). NaN when no positive
    price liquidates: a short whose collateral covers ``|f| / E`` coins (a 1x short, the
    classic USD hedge) is never liquidated. A 1x long (``C = f/E``) is liquidated at
    ``E (1 + m) / 2``, about half the entry price.

    >>> inverse_liquidation_prices(np.array([100_000.0]), np.array([50_000.0]), np.array([2.0]), np.array([0.0])).tolist()
    [25000.0]
    """
    face, entry, collateral, rate = (np.asarray(a, dtype=np.float64) for a in (face_usd, entry_usd, collateral_coin, maintenance_rate))
    with np.errstate(divide="ignore", invalid="ignore"):
        price = (face + rate * np.abs(face)) / (collateral + face / entry)
    return np.asarray(np.where(np.isfinite(price) & (price > 0), price, np.nan), dtype=np.float64)


def _maintenance_at(rule: LinearRule, quantity_abs: float, open_interest_usd: float | None, notional_usd: FloatArray) -> float:
    """Maintenance margin of one position of ``quantity_abs`` at ``notional_usd`` (for the solver)."""
    _, maintenance = rule.requirements(np.atleast_1d(quantity_abs), np.atleast_1d(notional_usd), np.array([np.nan]), open_interest_usd)
    return float(maintenance[0])


@dataclass(frozen=True)
class IsolatedMargin(MarginModel):
    """Isolated margin with per-asset rules (a venue preset is an instance of this class).

    Parameters
    ----------
    rules : mapping asset -> LinearRule
        Rule of each asset's linear positions; key ``"*"`` is the default for other assets.
        An asset without a rule and no default raises :class:`UnknownAssetError`.
    option_rule : CoinOptionRule, optional
        Rule for options; ``None`` means the venue lists no options (an option raises).
    open_interest_usd : mapping asset -> float
        Market-wide open interest for rules scaled by it (dYdX).
    preset_name : str
    liquidation_policy : VenueLiquidationRule, optional
        How the venue liquidates (partial steps, backstop), reported in ``details`` for the
        liquidation analysis; it does not change the requirements.
    """

    rules: Mapping[str, LinearRule]
    option_rule: CoinOptionRule | None = None
    open_interest_usd: Mapping[str, float] = field(default_factory=dict)
    preset_name: str = ""
    liquidation_policy: VenueLiquidationRule | None = None
    family: ClassVar[str] = "isolated"

    def __post_init__(self) -> None:
        if not isinstance(self.rules, Mapping) or not self.rules:
            raise ParameterError("rules", self.rules, "needs a non-empty mapping of asset -> rule")
        for asset, rule in self.rules.items():
            if not (hasattr(rule, "requirements") and hasattr(rule, "describe") and hasattr(rule, "notional_dependent")):
                raise ParameterError(f"rules[{asset}]", rule, "is not a linear margin rule (SizeLinearRate, RiskBrackets, ...)")
        if self.option_rule is not None and not isinstance(self.option_rule, CoinOptionRule):
            raise ParameterError("option_rule", self.option_rule, "must be a CoinOptionRule or None")
        for asset, value in dict(self.open_interest_usd).items():
            _nonnegative(f"open_interest_usd[{asset}]", value)

    def rule(self, asset: str) -> LinearRule:
        """The linear rule of ``asset`` (or the default)."""
        if asset in self.rules:
            return self.rules[asset]
        if DEFAULT_ASSET in self.rules:
            return self.rules[DEFAULT_ASSET]
        raise UnknownAssetError("asset", asset, f"has no margin rule in {self.name} (known: {sorted(self.rules)}) and no default '*'")

    def position_requirements(self, account: Account, market: MarketSnapshot) -> tuple[PositionValuation, pd.DataFrame]:
        """Valuation and per-position requirement table (without liquidation prices)."""
        account.require_positions()
        valuation = value_positions(account.positions, market)
        count = len(valuation)
        initial = np.zeros(count)
        maintenance = np.zeros(count)
        positions = account.positions
        leverage = np.array([p.leverage for p in positions], dtype=np.float64)
        rule_text = np.empty(count, dtype=object)
        kinds = valuation.kinds
        options = kinds == "option"
        long_spot = (kinds == "spot") & (valuation.quantity > 0)
        linear = ~options & ~long_spot
        rule_text[long_spot] = "long spot is fully paid: no requirement"
        # venue positions: rows of one instrument net, except rows with their own isolated collateral
        own = np.array([p.isolated_collateral_usd is not None for p in positions], dtype=bool)
        instrument_row = valuation.instrument_index
        key = np.where(own, len(valuation.netted or ()) + np.arange(count), instrument_row) if count else instrument_row
        if options.any():
            if self.option_rule is None:
                i = int(np.argmax(options))
                raise InputError(f"positions[{i}]", valuation.symbols[i], f"{self.name} does not margin options")
            # rows of the same option net into one position (a long and a short row cancel)
            _, first, group = np.unique(key[options], return_index=True, return_inverse=True)
            quantity = valuation.quantity[options]
            net = np.asarray(np.bincount(group, weights=quantity), dtype=float)
            gross = np.bincount(group, weights=np.abs(quantity))
            rows = np.flatnonzero(options)[first]
            im, mm = self.option_rule.requirements(
                net, valuation.index_usd[rows], valuation.forward_usd[rows],
                valuation.strike_usd[rows], valuation.mark_usd[rows], valuation.is_call[rows],
            )
            share = np.abs(quantity) / gross[group]
            initial[options], maintenance[options] = im[group] * share, mm[group] * share
            rule_text[options] = self.option_rule.describe()
        for asset in np.unique(valuation.underlyings[linear]) if linear.any() else ():
            selected = linear & (valuation.underlyings == asset)
            rule = self.rule(str(asset))
            # Rows in the same instrument form one venue position: the size-dependent rate (or the
            # bracket) is that of the net quantity, and the requirement is shared by the rows in
            # proportion to |quantity|. Notional at the contract's mark (perpetual mark / forward).
            _, first, group = np.unique(key[selected], return_index=True, return_inverse=True)
            quantity = valuation.quantity[selected]
            net_abs = np.abs(np.bincount(group, weights=quantity))
            gross = np.bincount(group, weights=np.abs(quantity))
            # inverse contracts: the rate applies to the coin size face/mark valued at the index
            # (requirement in coin = rate x face / mark, converted to USD at the index)
            mark = np.where(valuation.is_inverse[selected], valuation.index_usd[selected], valuation.mark_usd[selected])[first]
            chosen = leverage[selected]
            group_leverage = np.full(len(gross), np.inf)
            np.minimum.at(group_leverage, group, np.where(np.isnan(chosen), np.inf, chosen))  # most conservative choice
            group_leverage[np.isinf(group_leverage)] = np.nan
            im, mm = rule.requirements(net_abs, net_abs * mark, group_leverage, self.open_interest_usd.get(str(asset)))
            share = np.abs(quantity) / gross[group]
            initial[selected], maintenance[selected] = im[group] * share, mm[group] * share
            rule_text[selected] = rule.describe()
        rate_price = np.where(valuation.is_inverse, valuation.index_usd, valuation.mark_usd)  # the price rates apply to
        frame = pd.DataFrame(
            {
                "symbol": valuation.text("symbol"),
                "kind": valuation.text("kind"),
                "underlying": valuation.text("underlying"),
                "quantity": valuation.quantity,
                "mark_usd": valuation.mark_usd,
                "notional_usd": np.abs(valuation.quantity) * np.where(options, valuation.index_usd, valuation.mark_usd),
                "value_usd": valuation.value_usd,
                "initial_margin_usd": initial,
                "maintenance_margin_usd": maintenance,
                "initial_rate": np.divide(initial, np.abs(valuation.quantity) * rate_price, out=np.full(count, np.nan), where=~options),
                "maintenance_rate": np.divide(
                    maintenance, np.abs(valuation.quantity) * rate_price, out=np.full(count, np.nan), where=~options
                ),
                "rule": text_column(rule_text),
            }
        )
        return valuation, frame

    def liquidation_prices(self, account: Account, valuation: PositionValuation, frame: pd.DataFrame, collateral: np.ndarray) -> FloatArray:
        """Liquidation price of every linear position given its isolated collateral (NaN for others).

        Constant-rate rules use the closed form, vectorised over positions; notional-dependent
        rules (brackets) are solved position by position.
        """
        quantity = valuation.quantity
        linear = (valuation.kinds == "perpetual") | (valuation.kinds == "future")
        entry = np.where(np.isnan(valuation.entry_usd), valuation.mark_usd, valuation.entry_usd)
        solved = np.zeros(len(quantity), dtype=bool)
        for asset in np.unique(valuation.underlyings[linear]) if linear.any() else ():
            if self.rule(str(asset)).notional_dependent:
                solved |= linear & (valuation.underlyings == asset)
        rate = frame["maintenance_rate"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            closed = (quantity * entry - collateral) / (quantity - np.abs(quantity) * rate)
        prices = np.where(linear & ~solved & (closed > 0), closed, np.nan)
        inverse = linear & valuation.is_inverse
        if inverse.any():
            face = valuation.face_usd if valuation.face_usd is not None else np.full(len(quantity), np.nan)
            prices[inverse] = inverse_liquidation_prices(
                face[inverse], entry[inverse], collateral[inverse] / valuation.index_usd[inverse], rate[inverse]
            )
            solved = solved & ~inverse
        for asset in np.unique(valuation.underlyings[solved]).tolist():
            rule = self.rule(asset)
            if isinstance(rule, RiskBrackets):  # piecewise closed form, vectorised
                chosen = solved & (valuation.underlyings == asset)
                prices[chosen] = rule.liquidation_prices(quantity[chosen], entry[chosen], collateral[chosen])
                solved = solved & ~chosen
        for i in np.flatnonzero(solved):  # any other notional-dependent rule: Brent's method
            position = account.positions[i]
            rule = self.rule(position.underlying)
            size = abs(float(quantity[i]))
            maintenance = functools.partial(_maintenance_at, rule, size, self.open_interest_usd.get(position.underlying))
            cap = getattr(rule, "cap_usd", math.inf) / size
            prices[i] = liquidation_price_solved(float(quantity[i]), float(entry[i]), float(collateral[i]), maintenance, cap)
        return np.asarray(prices, dtype=float)

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        valuation, frame = self.position_requirements(account, market)
        given = np.array([p.isolated_collateral_usd is not None for p in account.positions])
        # Without a stated collateral, the position is assumed opened with equity equal to its initial
        # margin: collateral = IM for linear positions (P&L from the entry is added on top), and
        # IM - mark value for options (a short's premium received is part of its collateral).
        assumed = frame["initial_margin_usd"].to_numpy() - np.where(valuation.is_option, valuation.value_usd, 0.0)
        collateral = np.where(given, [p.isolated_collateral_usd or 0.0 for p in account.positions], assumed)
        frame["isolated_collateral_usd"] = collateral
        frame["collateral_source"] = text_column(np.where(given, "given", "assumed: equity = initial margin"))
        # Isolated equity: collateral + unrealised P&L (linear) or + mark value (options, spot).
        frame["isolated_equity_usd"] = collateral + valuation.value_usd
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["isolated_margin_ratio"] = np.where(
                frame["maintenance_margin_usd"] > 0, frame["isolated_equity_usd"] / frame["maintenance_margin_usd"], np.inf
            )
        frame["liquidation_price_usd"] = self.liquidation_prices(account, valuation, frame, collateral)
        # requirements in each position's settlement currency (coin for inverse / coin-settled, at the index)
        settlement_price = np.where(valuation.is_inverse, valuation.index_usd, 1.0)
        frame["settlement"] = valuation.settlement if valuation.settlement is not None else "USD"
        frame["initial_margin_settlement"] = frame["initial_margin_usd"].to_numpy() / settlement_price
        frame["maintenance_margin_settlement"] = frame["maintenance_margin_usd"].to_numpy() / settlement_price
        components = (
            frame.groupby(["underlying", "kind"], sort=True)[["initial_margin_usd", "maintenance_margin_usd"]].sum().reset_index()
        )
        components.insert(0, "component", components["underlying"] + " " + components["kind"])
        rule_rows = pd.DataFrame({"underlying": valuation.underlyings, "kind": valuation.kinds, "rule": frame["rule"].to_numpy(dtype=object)})
        rule_text = rule_rows.drop_duplicates().groupby(["underlying", "kind"], sort=True)["rule"].agg(lambda r: "; ".join(sorted(set(r))))
        components["explanation"] = [rule_text[(u, k)] for u, k in zip(components["underlying"], components["kind"])]
        components = components.drop(columns=["underlying", "kind"])
        equity = equity_usd(account.cash_usd, account.collateral, valuation, market)
        notes = [
            f"Each position is margined on its own under {self.name}; the account requirement is the sum of positions'.",
            "Equity is cash + collateral at market + positions' mark-to-market (no haircut).",
        ]
        if not given.all():
            notes.append("Positions without isolated_collateral_usd are assumed opened with equity equal to their initial margin.")
        if valuation.is_inverse.any():
            notes.append("Inverse contracts and coin-settled options are margined in coin (Deribit's rates on the coin size face/mark) "
                         "and converted to USD at the index; see the *_settlement columns.")
        return MarginResult(
            self.name,
            float(frame["initial_margin_usd"].sum()),
            float(frame["maintenance_margin_usd"].sum()),
            equity,
            frame,
            components,
            details={"family": self.family, "liquidation_policy": self.liquidation_policy},
            notes=tuple(notes),
        )


# ------------------------------------------------------------------------ presets
# Venue rules live in data files (marginlab/margin/venues/<preset>.yaml), built by marginlab.margin.presets.

#: Worked example E2's bracket table (the default bracket of ``binance-brackets``; max leverages assumed).
EXAMPLE_BRACKETS = RiskBrackets(
    floors_usd=(0, 5_000, 25_000, 100_000, 250_000, 1_000_000),
    maintenance_rates=(0.01, 0.025, 0.05, 0.10, 0.125, 0.50),
    max_leverages=(50, 20, 10, 5, 4, 1),
    cap_usd=2_000_000,
)
