"""CME SPAN (classic) on the risk-matrix engine: 16 scenarios, spread charges and credits.

Scanning risk uses the 16-scenario risk array of worked example B (price move as a fraction of
the price scan range PSR, volatility move in units of the volatility scan range VSR, share of
the loss counted)::

    #1-2   price 0       vol +1 / -1          #9-10   price -2/3  vol +1 / -1
    #3-4   price +1/3    vol +1 / -1          #11-12  price +1    vol +1 / -1
    #5-6   price -1/3    vol +1 / -1          #13-14  price -1    vol +1 / -1
    #7-8   price +2/3    vol +1 / -1          #15-16  price +-X   vol 0, 35% cover

The thirds are the rounded 0.333 / 0.667 of published risk arrays (B1 prints 3,330 and 6,670
for a PSR of 10,000); the extreme multiple ``X`` is a parameter (2 in the sources found, 3 is
often cited for CME). It is one :class:`~marginlab.margin.risk_matrix.RiskMatrixModel` whose
grid expresses moves as fractions of PSR, scaled per product by ``asset_spot_scale`` (PSR as a
fraction of the price), with additive vol shocks of ``vol_scan_range``.

Per combined commodity (= underlying)::

    total = scan risk + intra-commodity (calendar) spread charge - inter-commodity credit
    requirement = max(total, short option minimum * number of short options)

* Intra-commodity spreads (example A1): :class:`CalendarSpreadTable` holds outright rates per
  contract month and a charge per month pair; a +1/-1 calendar spread costs
  ``|outright_1 - outright_2| + charge`` (:meth:`CalendarSpreadTable.spread_margin`). Inside
  :class:`SpanModel` the pair charges of the calendar spreads formed are added to the scan
  risk (the scan itself treats all months as perfectly correlated).
* Inter-commodity credits (example A2): :class:`InterCommoditySpread` credits ``credit_rate``
  times the requirement of the legs that form spreads at the given ratio (legs of opposite
  sign). Inside :class:`SpanModel` a leg's requirement is its commodity's scan risk per
  contract (a simplification of SPAN's weighted futures price risk).

>>> from marginlab.margin.span import span_grid
>>> grid = span_grid()
>>> len(grid), grid.spot_shock[2], grid.dampening[-1]
(16, 1.333, 0.35)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd

from marginlab.account import Account
from marginlab.exceptions import InputError, ParameterError
from marginlab.instruments import Future, Option
from marginlab.margin.base import MarginModel, MarginResult
from marginlab.margin.presets import register
from marginlab.margin.risk_matrix import Book, RiskMatrixModel
from marginlab.margin.scenarios import ScenarioGrid, VolShock
from marginlab.market import MarketSnapshot
from marginlab.parameters import SPAN_EXTREME_COVER


def span_grid(extreme_multiple: float = 2.0, extreme_cover: float = SPAN_EXTREME_COVER, third: float = 0.333, two_thirds: float = 0.667) -> ScenarioGrid:
    """The 16 SPAN scenarios (B) as moves in units of the price scan range."""
    if not (math.isfinite(extreme_multiple) and extreme_multiple > 0):
        raise ParameterError("extreme_multiple", extreme_multiple, "must be positive")
    if not 0 <= extreme_cover <= 1:
        raise ParameterError("extreme_cover", extreme_cover, "must be in [0, 1]")
    moves = [0.0, 0.0, third, third, -third, -third, two_thirds, two_thirds, -two_thirds, -two_thirds, 1.0, 1.0, -1.0, -1.0]
    vols = ["up", "down"] * 7
    spot = [1.0 + m for m in moves] + [1.0 + extreme_multiple, 1.0 - extreme_multiple]
    return ScenarioGrid(tuple(spot), (*vols, "none", "none"), (1.0,) * 14 + (extreme_cover, extreme_cover), ("regular",) * 14 + ("extreme",) * 2)


@dataclass(frozen=True)
class CalendarSpreadTable:
    """Outright rate per contract month and intra-commodity charge per month pair (A1).

    >>> table = CalendarSpreadTable({"M2": 500, "M3": 500, "M4": 750}, {("M2", "M3"): 200, ("M2", "M4"): 50, ("M3", "M4"): 0})
    >>> table.spread_margin("M2", "M4")
    300.0
    """

    outright_usd: Mapping[str, float]
    charge_usd: Mapping[tuple[str, str], float]

    def charge(self, month_a: str, month_b: str) -> float:
        """Intra-commodity charge of the pair (order irrelevant)."""
        for key in ((month_a, month_b), (month_b, month_a)):
            if key in self.charge_usd:
                return float(self.charge_usd[key])
        raise InputError("month pair", (month_a, month_b), f"has no intra-commodity spread charge (known: {sorted(self.charge_usd)})")

    def spread_margin(self, long_month: str, short_month: str) -> float:
        """Margin of +1 ``long_month`` / -1 ``short_month``: ``|outright_1 - outright_2| + charge``."""
        for month in (long_month, short_month):
            if month not in self.outright_usd:
                raise InputError("month", month, f"has no outright rate (known: {sorted(self.outright_usd)})")
        return abs(float(self.outright_usd[long_month]) - float(self.outright_usd[short_month])) + self.charge(long_month, short_month)

    def pair_spreads(self, quantity_by_month: Mapping[str, float]) -> list[tuple[str, str, float]]:
        """Form calendar spreads greedily, cheapest charge first: ``[(long_month, short_month, contracts)]``."""
        longs = {m: q for m, q in quantity_by_month.items() if q > 0}
        shorts = {m: -q for m, q in quantity_by_month.items() if q < 0}
        pairs = sorted(((self.charge(a, b), a, b) for a in longs for b in shorts), key=lambda t: t[0])
        out = []
        for _, a, b in pairs:
            n = min(longs[a], shorts[b])
            if n > 0:
                out.append((a, b, n))
                longs[a] -= n
                shorts[b] -= n
        return out


@dataclass(frozen=True)
class InterCommoditySpread:
    """Inter-commodity credit between two products (A2): ``ratio_a`` contracts of ``product_a``
    against ``ratio_b`` of ``product_b`` (opposite signs) earn ``credit_rate`` of their requirement.

    >>> spread = InterCommoditySpread("corn", "soybeans", 2, 1, 0.55)
    >>> spread.credit_usd({"corn": 1750.0, "soybeans": 2500.0}, {"corn": 2, "soybeans": -1})
    3300.0
    """

    product_a: str
    product_b: str
    ratio_a: float
    ratio_b: float
    credit_rate: float

    def __post_init__(self) -> None:
        if not (self.ratio_a > 0 and self.ratio_b > 0):
            raise ParameterError("ratio", (self.ratio_a, self.ratio_b), "spread ratios must be positive")
        if not 0 <= self.credit_rate <= 1:
            raise ParameterError("credit_rate", self.credit_rate, "must be in [0, 1]")

    def spreads(self, quantity: Mapping[str, float]) -> float:
        """Number of spreads formed (0 unless the legs have opposite signs)."""
        qa, qb = float(quantity.get(self.product_a, 0.0)), float(quantity.get(self.product_b, 0.0))
        if qa * qb >= 0:
            return 0.0
        return min(abs(qa) / self.ratio_a, abs(qb) / self.ratio_b)

    def credit_usd(self, requirement_per_contract_usd: Mapping[str, float], quantity: Mapping[str, float]) -> float:
        """``credit_rate * sum over legs of (contracts in spreads * requirement per contract)``."""
        n = self.spreads(quantity)
        return self.credit_rate * n * (self.ratio_a * float(requirement_per_contract_usd[self.product_a])
                                       + self.ratio_b * float(requirement_per_contract_usd[self.product_b]))


@dataclass(frozen=True)
class SpanModel(MarginModel):
    """SPAN-style margin on the risk-matrix engine (see the module docstring).

    Parameters
    ----------
    price_scan_range : mapping of str to float
        Price scan range per underlying as a fraction of the price (0.1 = 10%).
    vol_scan_range : float
        Absolute volatility scan range (0.05 = 5 vol points).
    extreme_multiple, extreme_cover : float
        ``X`` and the share counted of the two extreme scenarios.
    calendar_spreads : mapping of str to CalendarSpreadTable
        Per underlying; futures months are their expiry dates ``YYYY-MM-DD``.
    inter_spreads : tuple of InterCommoditySpread
    short_option_minimum_usd : mapping of str to float
        Minimum per short option contract, per underlying.
    """

    family: ClassVar[str] = "portfolio"

    price_scan_range: Mapping[str, float]
    vol_scan_range: float = 0.0
    extreme_multiple: float = 2.0
    extreme_cover: float = SPAN_EXTREME_COVER
    calendar_spreads: Mapping[str, CalendarSpreadTable] = field(default_factory=dict)
    inter_spreads: tuple[InterCommoditySpread, ...] = ()
    short_option_minimum_usd: Mapping[str, float] = field(default_factory=dict)
    preset_name: str = ""

    def __post_init__(self) -> None:
        for asset, value in self.price_scan_range.items():
            if not (math.isfinite(value) and value > 0):
                raise ParameterError(f"price_scan_range[{asset}]", value, "must be a positive fraction of the price")
        if not (math.isfinite(self.vol_scan_range) and self.vol_scan_range >= 0):
            raise ParameterError("vol_scan_range", self.vol_scan_range, "must be non-negative")

    @property
    def engine(self) -> RiskMatrixModel:
        """The configured risk-matrix engine that computes the scan risk."""
        return RiskMatrixModel(
            span_grid(self.extreme_multiple, self.extreme_cover),
            VolShock(up_range=self.vol_scan_range, down_range=self.vol_scan_range, absolute=True),
            asset_spot_scale=dict(self.price_scan_range),
            preset_name=self.name,
        )

    def risk_array(self, account: Account, market: MarketSnapshot) -> pd.DataFrame:
        """P&L (+ = gain) of the account under each of the 16 scenarios, per underlying."""
        scenarios = self.engine.margin(account, market).scenarios
        assert scenarios is not None  # the engine always returns its scenario table
        return scenarios

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        account.require_positions()
        for asset in account.underlyings:
            if asset not in self.price_scan_range:
                raise InputError("price_scan_range", asset, f"no price scan range for underlying {asset!r} (known: {sorted(self.price_scan_range)})")
        engine = self.engine
        book = Book.from_accounts([account], market)
        base = engine.result_from_book(book, 0)
        units = base.details["risk_units"]
        scan = dict(zip(units["underlying"], units["loss_usd"]))
        rows = []
        intra_total = 0.0
        for asset, table in self.calendar_spreads.items():
            by_month: dict[str, float] = {}
            for p in account.positions:
                if isinstance(p.instrument, Future) and p.underlying == asset:
                    month = p.instrument.expiry.strftime("%Y-%m-%d")
                    by_month[month] = by_month.get(month, 0.0) + p.quantity
            charge = sum(table.charge(a, b) * n for a, b, n in table.pair_spreads(by_month))
            intra_total += charge
            rows.append((f"intra-commodity spread {asset}", charge, f"calendar spread charges {charge:,.2f} USD"))
        net = {asset: sum(abs(p.quantity) for p in account.positions if p.underlying == asset) for asset in scan}
        signed = {asset: sum(p.quantity for p in account.positions if p.underlying == asset) for asset in scan}
        per_contract = {a: (scan[a] / net[a] if net.get(a) else 0.0) for a in scan}
        credit_total = 0.0
        for spread in self.inter_spreads:
            if spread.product_a in scan and spread.product_b in scan:
                credit = spread.credit_usd(per_contract, signed)
                credit_total += credit
                rows.append((f"inter-commodity credit {spread.product_a}/{spread.product_b}", -credit, f"{spread.credit_rate:.0%} of the spread legs"))
        scan_total = float(sum(scan.values()))
        total = scan_total + intra_total - credit_total
        shorts = sum(-p.quantity for p in account.positions if isinstance(p.instrument, Option) and p.quantity < 0)
        som = sum(-p.quantity * float(self.short_option_minimum_usd.get(p.underlying, 0.0))
                  for p in account.positions if isinstance(p.instrument, Option) and p.quantity < 0)
        requirement = max(total, som, 0.0)
        components = pd.DataFrame(
            [("scan risk", scan_total, f"worst of 16 scenarios per underlying: {', '.join(f'{a} {v:,.2f}' for a, v in scan.items())}")]
            + rows
            + [("short option minimum uplift", requirement - max(total, 0.0), f"{shorts:g} short options x minimum = {som:,.2f} USD")],
            columns=["component", "maintenance_margin_usd", "explanation"],
        )
        components.insert(1, "initial_margin_usd", components["maintenance_margin_usd"])
        return MarginResult(self.name, requirement, requirement, base.equity_usd, base.positions, components, base.scenarios,
                            {"worst_scenario": base.details["worst_scenario"], "scan_risk_usd": scan, "risk_array": base.scenarios},
                            (f"Requirement = max(scan {scan_total:,.2f} + intra {intra_total:,.2f} - credit {credit_total:,.2f}, "
                             f"short option minimum {som:,.2f}).",))


def cme_span_example() -> SpanModel:
    """An illustrative SPAN configuration: BTC and ETH futures/options, PSR 20% / 25%, VSR 10 vol points, X = 2."""
    return SpanModel({"BTC": 0.20, "ETH": 0.25}, vol_scan_range=0.10, extreme_multiple=2.0, short_option_minimum_usd={"BTC": 500.0, "ETH": 25.0},
                     preset_name="span-example")


register("span-example", "portfolio", "SPAN-style 16-scenario scan (B) with illustrative crypto scan ranges, X = 2, 35% cover", cme_span_example)
