"""Correlation credits across underlyings.

Two ways to give a book credit for offsetting exposures on *different* underlyings:

1. **SPAN inter-commodity spread credits** (:func:`inter_commodity_credit`). Each underlying (a
   SPAN "combined commodity") has its scan risk and net delta. A spread definition pairs two
   underlyings with a delta ratio ``a : b`` and a credit rate
   (:class:`marginlab.margin.span.InterCommoditySpread`, shared with the SPAN preset). Spreads are formed, in the order
   the definitions are given (their priority), from the *remaining* deltas of opposite sign::

       spreads = min(|delta_1| / a, |delta_2| / b)
       credit_i = rate * spreads * ratio_i * scan_risk_i / |net_delta_i|     (i = 1, 2)

   ``scan_risk_i / |net_delta_i|`` is SPAN's *weighted price risk* (the scan risk per delta unit).
   The requirement is the sum of scan risks minus the credits. Worked example A2 (CME,
   ``../shared/reference/worked_examples.md``): corn vs soybeans 2:1 at 55%, outright $1,750 and
   $2,500, book 2 corn / 1 soybean: credit 0.55 x 3,500 + 0.55 x 2,500 = $3,300, requirement
   **$2,700**.

2. **Joint-scenario credit** (:func:`correlation_credit`): margin the whole book with any
   scenario-based :class:`~marginlab.margin.base.MarginModel` -- typically the FHS model of
   :mod:`marginlab.margin.fhs`, whose joint scenarios are historical co-movements -- and compare with
   the sum of the margins of each underlying's positions margined alone. The difference is the
   diversification credit the joint model grants::

       credit = sum_u IM(positions on u) - IM(all positions)

   For a sub-additive model (ES, SPAN scan risk with joint scenarios) the credit is >= 0; it is zero
   when the underlyings move in lock-step and the legs point the same way.

>>> result = inter_commodity_credit({"CORN": (3_500.0, 2.0), "SOYBEAN": (2_500.0, -1.0)},
...                                 [InterCommoditySpread("CORN", "SOYBEAN", 2.0, 1.0, 0.55)])
>>> round(result.total_credit_usd, 2), round(result.requirement_usd, 2)
(3300.0, 2700.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from marginlab.account import Account
from marginlab.exceptions import InputError, UnknownAssetError
from marginlab.margin.base import MarginModel, MarginResult
from marginlab.margin.span import InterCommoditySpread
from marginlab.market import MarketSnapshot
from marginlab.valuation import value_positions

__all__ = ["CreditReport", "InterCommodityCredit", "InterCommodityCredits", "InterCommoditySpread", "correlation_credit", "inter_commodity_credit",
           "inter_commodity_credits"]

# --------------------------------------------------------------------------- SPAN inter-commodity
# The spread definition is the one of the SPAN preset (marginlab.margin.span.InterCommoditySpread:
# product_a, product_b, ratio_a, ratio_b, credit_rate); this module adds the generic multi-spread
# credit with SPAN's priority order and remaining deltas.


@dataclass(frozen=True)
class InterCommodityCredit:
    """Result of :func:`inter_commodity_credit`.

    Attributes
    ----------
    scan_risk_usd : float
        Sum of the underlyings' scan risks (no credit).
    total_credit_usd : float
    requirement_usd : float
        ``scan_risk_usd - total_credit_usd``.
    spreads : DataFrame
        One row per spread definition: ``first, second, spreads_formed, first_credit_usd,
        second_credit_usd, credit_usd``.
    by_underlying : DataFrame
        One row per underlying: ``underlying, scan_risk_usd, net_delta, weighted_price_risk_usd,
        remaining_delta, credit_usd, requirement_usd``.
    """

    scan_risk_usd: float
    total_credit_usd: float
    requirement_usd: float
    spreads: pd.DataFrame
    by_underlying: pd.DataFrame


def inter_commodity_credit(
    risks: Mapping[str, tuple[float, float]],
    spreads: Sequence[InterCommoditySpread],
) -> InterCommodityCredit:
    """SPAN inter-commodity spread credits (see the module docstring for the algorithm).

    Parameters
    ----------
    risks : mapping underlying -> (scan_risk_usd, net_delta)
        Scan risk (>= 0, USD) and net delta (signed, in the spread ratio's units, e.g. futures
        equivalents) of each underlying.
    spreads : sequence of :class:`marginlab.margin.span.InterCommoditySpread`
        Spread definitions (``product_a, product_b, ratio_a, ratio_b, credit_rate``) in priority
        order; each may only use the deltas the earlier ones left.

    Returns
    -------
    InterCommodityCredit
    """
    scan: dict[str, float] = {}
    delta: dict[str, float] = {}
    for name, value in risks.items():
        try:
            scan_risk, net_delta = (float(v) for v in value)
        except (TypeError, ValueError) as error:
            raise InputError(f"risks[{name}]", value, "must be a pair (scan_risk_usd, net_delta)") from error
        if not (math.isfinite(scan_risk) and scan_risk >= 0):
            raise InputError(f"risks[{name}].scan_risk_usd", scan_risk, "must be a non-negative finite USD amount")
        if not math.isfinite(net_delta):
            raise InputError(f"risks[{name}].net_delta", net_delta, "must be finite")
        scan[name], delta[name] = scan_risk, net_delta
    arrays = inter_commodity_credits({name: [value] for name, value in scan.items()}, {name: [value] for name, value in delta.items()}, spreads)
    weighted = {name: float(arrays.weighted_price_risk_usd[name][0]) for name in scan}
    remaining = {name: float(arrays.remaining_delta[name][0]) for name in scan}
    credits = {name: float(arrays.credit_usd[name][0]) for name in scan}
    rows = []
    for k, spread in enumerate(spreads):
        credit1, credit2 = float(arrays.first_credit_usd[k][0]), float(arrays.second_credit_usd[k][0])
        rows.append(
            {
                "first": spread.product_a,
                "second": spread.product_b,
                "ratio": f"{spread.ratio_a:g}:{spread.ratio_b:g}",
                "credit_rate": spread.credit_rate,
                "spreads_formed": float(arrays.spreads_formed[k][0]),
                "first_credit_usd": credit1,
                "second_credit_usd": credit2,
                "credit_usd": credit1 + credit2,
            }
        )
    by_underlying = pd.DataFrame(
        [
            {
                "underlying": name,
                "scan_risk_usd": scan[name],
                "net_delta": delta[name],
                "weighted_price_risk_usd": weighted[name],
                "remaining_delta": remaining[name],
                "credit_usd": credits[name],
                "requirement_usd": scan[name] - credits[name],
            }
            for name in scan
        ]
    )
    total_scan = float(sum(scan.values()))
    total_credit = float(sum(credits.values()))
    spread_columns = ["first", "second", "ratio", "credit_rate", "spreads_formed", "first_credit_usd", "second_credit_usd", "credit_usd"]
    return InterCommodityCredit(total_scan, total_credit, total_scan - total_credit, pd.DataFrame(rows, columns=spread_columns), by_underlying)


@dataclass(frozen=True, eq=False)
class InterCommodityCredits:
    """Result of :func:`inter_commodity_credits`: arrays with one entry per book (account).

    Attributes
    ----------
    spreads_formed, first_credit_usd, second_credit_usd : tuple of arrays
        One array per spread definition, in the order given.
    credit_usd, remaining_delta, weighted_price_risk_usd : dict underlying -> array
        Total credit of each underlying, its delta left after the spreads, its scan risk per delta unit.
    """

    spreads_formed: tuple[NDArray[np.float64], ...]
    first_credit_usd: tuple[NDArray[np.float64], ...]
    second_credit_usd: tuple[NDArray[np.float64], ...]
    credit_usd: dict[str, NDArray[np.float64]]
    remaining_delta: dict[str, NDArray[np.float64]]
    weighted_price_risk_usd: dict[str, NDArray[np.float64]]


def inter_commodity_credits(
    scan_risk_usd: Mapping[str, ArrayLike],
    net_delta: Mapping[str, ArrayLike],
    spreads: Sequence[InterCommoditySpread],
) -> InterCommodityCredits:
    """SPAN inter-commodity spread credits of many books at once (the rule of :func:`inter_commodity_credit`).

    Parameters
    ----------
    scan_risk_usd, net_delta : mapping underlying -> array
        Scan risk (USD, >= 0) and signed net delta of each underlying, one entry per book (same length
        everywhere); an underlying a book does not hold has scan risk and delta 0 (it forms no spread).
    spreads : sequence of :class:`marginlab.margin.span.InterCommoditySpread`
        In priority order; each uses the deltas the earlier ones left.

    Examples
    --------
    Worked example A2 (corn/soybean 2:1 at 55%, the module docstring) and a book without the soybean leg:

    >>> out = inter_commodity_credits({"CORN": [3_500.0, 3_500.0], "SOYBEAN": [2_500.0, 0.0]}, {"CORN": [2.0, 2.0], "SOYBEAN": [-1.0, 0.0]},
    ...                               [InterCommoditySpread("CORN", "SOYBEAN", 2.0, 1.0, 0.55)])
    >>> (out.credit_usd["CORN"] + out.credit_usd["SOYBEAN"]).round(2).tolist()
    [3300.0, 0.0]
    """
    scan = {name: np.asarray(value, dtype=np.float64).reshape(-1) for name, value in scan_risk_usd.items()}
    delta = {name: np.asarray(net_delta[name], dtype=np.float64).reshape(-1) if name in net_delta else None for name in scan}
    sizes = {len(v) for v in scan.values()} | {len(v) for v in delta.values() if v is not None}
    missing = [name for name, value in delta.items() if value is None]
    if missing or set(net_delta) - set(scan):
        name = missing[0] if missing else sorted(set(net_delta) - set(scan))[0]
        raise InputError("net_delta", name, "scan_risk_usd and net_delta must name the same underlyings")
    if len(sizes) > 1:
        raise InputError("scan_risk_usd", sorted(sizes), "every underlying needs one scan risk and one net delta per book (same lengths)")
    deltas: dict[str, NDArray[np.float64]] = {name: value for name, value in delta.items() if value is not None}
    weighted = {}
    for name in scan:
        size = np.abs(deltas[name])
        with np.errstate(divide="ignore", invalid="ignore"):
            weighted[name] = np.where(size != 0, scan[name] / np.where(size != 0, size, 1.0), 0.0)
    remaining = dict(deltas)
    credits = {name: np.zeros(len(value)) for name, value in scan.items()}
    formed_all, first_all, second_all = [], [], []
    for spread in spreads:
        first, second = spread.product_a, spread.product_b
        if first == second:
            raise InputError("product_b", second, "an inter-commodity spread needs two different underlyings")
        for name in (first, second):
            if name not in scan:
                raise UnknownAssetError("spread underlying", name, f"has no scan risk (known: {sorted(scan)})")
        d1, d2 = remaining[first], remaining[second]
        formed = np.where(d1 * d2 < 0, np.minimum(np.abs(d1) / spread.ratio_a, np.abs(d2) / spread.ratio_b), 0.0)
        credit1 = spread.credit_rate * formed * spread.ratio_a * weighted[first]
        credit2 = spread.credit_rate * formed * spread.ratio_b * weighted[second]
        remaining[first] = np.where(formed > 0, d1 - np.copysign(formed * spread.ratio_a, d1), d1)
        remaining[second] = np.where(formed > 0, d2 - np.copysign(formed * spread.ratio_b, d2), d2)
        credits[first] = credits[first] + credit1
        credits[second] = credits[second] + credit2
        formed_all.append(formed)
        first_all.append(credit1)
        second_all.append(credit2)
    return InterCommodityCredits(tuple(formed_all), tuple(first_all), tuple(second_all), credits, remaining, weighted)


# --------------------------------------------------------------------------- joint-scenario credit
@dataclass(frozen=True, eq=False)
class CreditReport:
    """Diversification credit of a joint margin model against margining each underlying alone.

    Attributes
    ----------
    model : str
    sum_of_standalone_usd : float
        Sum over underlyings of the initial margin of that underlying's positions alone.
    joint_usd : float
        Initial margin of the whole book.
    credit_usd : float
        ``sum_of_standalone_usd - joint_usd``.
    credit_fraction : float
        ``credit_usd / sum_of_standalone_usd`` (0 when nothing is required).
    standalone : DataFrame
        One row per underlying: ``underlying, positions, notional_usd, initial_margin_usd,
        maintenance_margin_usd``.
    joint_result : MarginResult
        The model's full result for the whole book.
    """

    model: str
    sum_of_standalone_usd: float
    joint_usd: float
    credit_usd: float
    credit_fraction: float
    standalone: pd.DataFrame
    joint_result: MarginResult
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [
            f"Correlation credit under {self.model}",
            f"  sum of standalone IM {self.sum_of_standalone_usd:>16,.2f} USD",
            f"  joint IM             {self.joint_usd:>16,.2f} USD",
            f"  credit               {self.credit_usd:>16,.2f} USD ({self.credit_fraction:.1%} of standalone)",
            "",
            self.standalone.to_string(index=False, float_format=lambda v: f"{v:,.2f}"),
        ]
        return "\n".join(lines)

    def frame(self) -> pd.DataFrame:
        """Standalone rows plus ``sum``, ``joint`` and ``credit`` rows (column ``initial_margin_usd``)."""
        extra = pd.DataFrame(
            {
                "underlying": ["sum of standalone", "joint", "credit"],
                "initial_margin_usd": [self.sum_of_standalone_usd, self.joint_usd, self.credit_usd],
            }
        )
        return pd.concat([self.standalone, extra], ignore_index=True)


def correlation_credit(account: Account, market: MarketSnapshot, model: MarginModel) -> CreditReport:
    """Credit a joint model gives ``account`` for offsets across underlyings.

    Each underlying's positions are margined alone (no cash, no collateral: only the requirement is
    compared), then the whole book; the credit is the difference.

    Parameters
    ----------
    account : Account
        The book (its cash and collateral are ignored).
    market : MarketSnapshot
    model : MarginModel
        Any margin model; for a meaningful correlation credit, one with joint multi-asset scenarios
        such as :class:`~marginlab.margin.fhs.FilteredHistoricalMargin`.

    Returns
    -------
    CreditReport
    """
    account.require_positions()
    valuation = value_positions(account.positions, market)
    rows = []
    for underlying in account.underlyings:
        positions = tuple(p for p in account.positions if p.underlying == underlying)
        result = model.margin(Account(positions, account_id=f"{account.account_id}:{underlying}"), market)
        notional = float(np.sum(valuation.notional_usd[valuation.underlyings == underlying]))
        rows.append(
            {
                "underlying": underlying,
                "positions": len(positions),
                "notional_usd": notional,
                "initial_margin_usd": result.initial_margin_usd,
                "maintenance_margin_usd": result.maintenance_margin_usd,
            }
        )
    standalone = pd.DataFrame(rows)
    joint = model.margin(Account(account.positions, account_id=account.account_id), market)
    total = float(standalone["initial_margin_usd"].sum())
    credit = total - joint.initial_margin_usd
    fraction = credit / total if total > 0 else 0.0
    return CreditReport(model.name, total, joint.initial_margin_usd, credit, fraction, standalone, joint)
