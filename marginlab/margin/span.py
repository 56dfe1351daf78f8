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
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from marginlab.account import Account
from marginlab.book import OPTION, STATIC, Book, InstrumentTable
from marginlab.exceptions import InputError, ParameterError
from marginlab.instruments import Future, Option, Position
from marginlab.margin.base import BookMarginTotals, MarginModel, MarginResult
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.margin.scenarios import ScenarioGrid, VolShock
from marginlab.margin.span_xml import SpanRiskParameters
from marginlab.market import MarketSnapshot
from marginlab.parameters import SPAN_EXTREME_COVER

_THIRDS = {0.0: "0", 1 / 3: "+1/3", -1 / 3: "-1/3", 2 / 3: "+2/3", -2 / 3: "-2/3", 1.0: "+1", -1.0: "-1"}


def span_grid(extreme_multiple: float = 2.0, extreme_cover: float = SPAN_EXTREME_COVER, third: float = 0.333, two_thirds: float = 0.667) -> ScenarioGrid:
    """The 16 SPAN scenarios (B) as moves in units of the price scan range, labelled in those units.

    >>> span_grid().label(12), span_grid().label(14)
    ('#13 price -1 x PSR, vol +1 x VSR', '#15 price +2 x PSR, vol 0, 35% cover')
    """
    if not (math.isfinite(extreme_multiple) and extreme_multiple > 0):
        raise ParameterError("extreme_multiple", extreme_multiple, "must be positive")
    if not 0 <= extreme_cover <= 1:
        raise ParameterError("extreme_cover", extreme_cover, "must be in [0, 1]")
    fractions = [0.0, 0.0, 1 / 3, 1 / 3, -1 / 3, -1 / 3, 2 / 3, 2 / 3, -2 / 3, -2 / 3, 1.0, 1.0, -1.0, -1.0]
    rounded = {1 / 3: third, -1 / 3: -third, 2 / 3: two_thirds, -2 / 3: -two_thirds}
    moves = [rounded.get(f, f) for f in fractions]
    vols = ["up", "down"] * 7
    spot = [1.0 + m for m in moves] + [1.0 + extreme_multiple, 1.0 - extreme_multiple]
    labels = [f"#{i + 1} price {_THIRDS[f]} x PSR, vol {'+1' if v == 'up' else '-1'} x VSR" for i, (f, v) in enumerate(zip(fractions, vols))]
    labels += [f"#15 price +{extreme_multiple:g} x PSR, vol 0, {extreme_cover:.0%} cover", f"#16 price -{extreme_multiple:g} x PSR, vol 0, {extreme_cover:.0%} cover"]
    return ScenarioGrid(tuple(spot), (*vols, "none", "none"), (1.0,) * 14 + (extreme_cover, extreme_cover), ("regular",) * 14 + ("extreme",) * 2,
                        labels=tuple(labels))


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
        Minimum per net short option contract, per underlying (combined commodity).
    risk_parameters : SpanRiskParameters, optional
        Published risk arrays (from a ``.spn``, CSV or YAML file, :mod:`marginlab.margin.span_xml`).
        A position whose instrument matches a published contract (combined commodity = underlying,
        period = expiry ``YYYYMMDD`` or ``YYYYMM``, call/put, strike) takes the published array;
        the others are revalued. Both add up per combined commodity and scenario.
    """

    family: ClassVar[str] = "portfolio"

    price_scan_range: Mapping[str, float]
    vol_scan_range: float = 0.0
    extreme_multiple: float = 2.0
    extreme_cover: float = SPAN_EXTREME_COVER
    calendar_spreads: Mapping[str, CalendarSpreadTable] = field(default_factory=dict)
    inter_spreads: tuple[InterCommoditySpread, ...] = ()
    short_option_minimum_usd: Mapping[str, float] = field(default_factory=dict)
    risk_parameters: SpanRiskParameters | None = None
    preset_name: str = ""

    def __post_init__(self) -> None:
        for asset, value in self.price_scan_range.items():
            if not (math.isfinite(value) and value > 0):
                raise ParameterError(f"price_scan_range[{asset}]", value, "must be a positive fraction of the price")
        if not (math.isfinite(self.vol_scan_range) and self.vol_scan_range >= 0):
            raise ParameterError("vol_scan_range", self.vol_scan_range, "must be non-negative")
        for asset, value in self.short_option_minimum_usd.items():
            if not (math.isfinite(value) and value >= 0):
                raise ParameterError(f"short_option_minimum_usd[{asset}]", value, "must be a non-negative amount")

    @property
    def engine(self) -> RiskMatrixModel:
        """The configured risk-matrix engine that computes the scan risk of revalued positions.

        A move of ``X`` price scan ranges that would take the price below zero values the
        underlying at zero (``negative_prices="floor"``), as SPAN does for options (the
        underlying price in a risk-array scenario is floored at zero): a long future loses at
        most its price, a put is worth its discounted strike. Valid accounts never fail.
        """
        return RiskMatrixModel(
            span_grid(self.extreme_multiple, self.extreme_cover),
            VolShock(up_range=self.vol_scan_range, down_range=self.vol_scan_range, absolute=True),
            asset_spot_scale=dict(self.price_scan_range),
            negative_prices="floor",
            preset_name=self.name,
        )

    # -- the book protocol (marginlab.margin.base.BookMarginModel) ----------------------------
    @property
    def book_vectorised(self) -> bool:
        """True without calendar spreads and published risk arrays (those configurations are
        margined account by account by the book engine)."""
        return self.risk_parameters is None and not self.calendar_spreads

    def prepare_book(self, instruments: InstrumentTable, *, as_of: Any = None) -> Any:
        """The engine's revaluation of every instrument under the 16 scenarios (``as_of`` not used)."""
        return self.engine.prepare_book(instruments)

    def margin_book(self, book: Book, *, prepared: Any = None) -> BookMarginTotals:
        """SPAN requirement of every account of ``book``, vectorised over accounts (same totals as :meth:`margin`).

        Per account and underlying: scan risk = worst of the 16 scenario losses of the underlying's
        positions (collateral rows, :data:`~marginlab.margin.risk_matrix.STATIC`, are not scanned:
        SPAN margins positions), minus the inter-commodity credits, floored at the short option
        minimum times the net short options; the requirement is the sum over underlyings (initial =
        maintenance). Equity is cash plus the positions' mark-to-market (collateral is not counted, as in
        :meth:`margin`). Calendar spreads and published risk arrays are not vectorised
        (:attr:`book_vectorised`).

        >>> from marginlab.book import InstrumentTable, PERPETUAL
        >>> table = InstrumentTable.build(["BTC-PERP"], [PERPETUAL], ["BTC"], price_usd=[100_000.0])
        >>> book = Book.build(table, account=[0, 1], instrument=[0, 0], quantity=[1.0, -2.0], n_accounts=3)
        >>> SpanModel({"BTC": 0.1}).margin_book(book).maintenance_margin_usd.tolist()   # 1 PSR = 10,000 per BTC
        [10000.0, 20000.0, 0.0]
        """
        if not self.book_vectorised:
            raise InputError("calendar_spreads" if self.calendar_spreads else "risk_parameters", "set",
                             "SPAN with calendar spreads or published risk arrays is margined account by account (SpanModel.margin)")
        instruments = book.instruments
        n = book.n_accounts
        moving = instruments.kind[book.instrument] != STATIC
        held = np.unique(instruments.asset[book.instrument[moving]])
        for a in held:
            if instruments.assets[a] not in self.price_scan_range:
                asset = instruments.assets[a]
                raise InputError("price_scan_range", asset, f"no price scan range for underlying {asset!r} (known: {sorted(self.price_scan_range)})")
        engine = self.engine
        prep = engine.prepare_book(instruments) if prepared is None else prepared
        row_asset = instruments.asset[book.instrument]
        option = instruments.kind[book.instrument] == OPTION
        equity = np.bincount(book.account[moving], weights=book.mtm_usd[moving], minlength=n) + book.cash_usd
        if book.source_row is not None and book.source_quantity is not None:
            source_moving = moving[book.source_row]
            source_acc, source_asset = book.account[book.source_row][source_moving], row_asset[book.source_row][source_moving]
            source_qty = book.source_quantity[source_moving]
        else:
            source_acc, source_asset, source_qty = book.account[moving], row_asset[moving], book.quantity[moving]
        scan: dict[str, NDArray[np.float64]] = {}
        has: dict[str, NDArray[np.bool_]] = {}
        short: dict[str, NDArray[np.float64]] = {}
        for a in held:
            asset = instruments.assets[a]
            rows = moving & (row_asset == a)
            sub = Book(instruments, book.account[rows], book.instrument[rows], book.quantity[rows], book.mtm_usd[rows], np.zeros(n), book.stable_price,
                       book.account_ids)
            pnl = engine.margin_book(sub, keep_scenarios=True, prepared=prep).scenario_pnl_usd
            assert pnl is not None
            scan[asset] = np.maximum(np.max(-pnl, axis=1), 0.0)
            has[asset] = np.bincount(book.account[rows], minlength=n) > 0
            short[asset] = np.bincount(book.account[rows & option], weights=np.maximum(-book.quantity[rows & option], 0.0), minlength=n).astype(np.float64)
        credit = {asset: np.zeros(n) for asset in scan}
        for spread in self.inter_spreads:
            if spread.product_a in scan and spread.product_b in scan:
                both = has[spread.product_a] & has[spread.product_b]
                legs = {}
                for product, ratio in ((spread.product_a, spread.ratio_a), (spread.product_b, spread.ratio_b)):
                    k = instruments.assets.index(product)
                    gross = np.bincount(source_acc[source_asset == k], weights=np.abs(source_qty[source_asset == k]), minlength=n)
                    signed = np.bincount(source_acc[source_asset == k], weights=source_qty[source_asset == k], minlength=n)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        per_contract = np.where(gross != 0, scan[product] / gross, 0.0)
                    legs[product] = (signed, ratio, per_contract)
                (qa, ra, pa), (qb, rb, pb) = legs[spread.product_a], legs[spread.product_b]
                formed = np.where(both & (qa * qb < 0), np.minimum(np.abs(qa) / ra, np.abs(qb) / rb), 0.0)
                credit[spread.product_a] += spread.credit_rate * formed * ra * pa
                credit[spread.product_b] += spread.credit_rate * formed * rb * pb
        total = np.zeros(n)
        components: dict[str, NDArray[np.float64]] = {}
        for asset in sorted(scan):
            som = float(self.short_option_minimum_usd.get(asset, 0.0)) * short[asset]
            requirement = np.where(has[asset], np.maximum(np.maximum(scan[asset] - credit[asset], som), 0.0), 0.0)
            total += requirement
            components[f"{asset} scan risk"] = scan[asset]
            components[f"{asset} inter-commodity credit"] = -credit[asset]
            components[f"{asset} requirement"] = requirement
        return BookMarginTotals(self.name, book.account_ids, total, total.copy(), equity, components).check_finite()

    def describe(self) -> str:
        """The configuration in one sentence."""
        ranges = ", ".join(f"{a} {v:.0%}" for a, v in self.price_scan_range.items())
        som = ", ".join(f"{a} {v:,.2f} USD" for a, v in self.short_option_minimum_usd.items()) or "none"
        return (f"SPAN 16 scenarios: price scan range {ranges} of the price, vol scan range {self.vol_scan_range:g}, extremes "
                f"+-{self.extreme_multiple:g} x PSR at {self.extreme_cover:.0%} cover; short option minimum per net short option: {som}; "
                f"{len(self.inter_spreads)} inter-commodity spreads")

    def risk_array(self, account: Account, market: MarketSnapshot) -> pd.DataFrame:
        """P&L (+ = gain) of the account under each of the 16 scenarios, per underlying (revalued positions)."""
        scenarios = self.engine.margin(account, market).scenarios
        assert scenarios is not None  # the engine always returns its scenario table
        return scenarios

    # -- published contracts ------------------------------------------------------------------
    def _split(self, account: Account) -> tuple[list[Position], dict[str, float]]:
        """Positions revalued by the engine, and positions taken from published risk arrays (by contract id)."""
        if self.risk_parameters is None:
            return list(account.positions), {}
        table = self.risk_parameters.by_key()
        revalued: list[Position] = []
        published: dict[str, float] = {}
        for p in account.positions:
            inst = p.instrument
            match = None
            if isinstance(inst, Future | Option):
                period = inst.expiry.strftime("%Y%m%d")
                kind = (inst.option_type if isinstance(inst, Option) else None)
                strike = float(inst.strike_usd) if isinstance(inst, Option) else None
                match = table.get((inst.underlying, period, kind, strike)) or table.get((inst.underlying, period[:6], kind, strike))
            if match is None:
                revalued.append(p)
            else:
                published[match.contract_id] = published.get(match.contract_id, 0.0) + p.quantity
        return revalued, published

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        account.require_positions()
        revalued, published = self._split(account)
        return self._margin(revalued, published, market, account.cash_usd, account.account_id)

    def margin_published(self, positions: Mapping[str, float], account: Account | None = None, market: MarketSnapshot | None = None) -> MarginResult:
        """Margin positions given by published contract id (``{"ESH5": -2, ...}``), alone or with an account's positions.

        Parameters
        ----------
        positions : mapping contract id -> signed number of contracts
        account, market : optional
            Further positions, revalued by the engine (``market`` is required with ``account``).
        """
        if self.risk_parameters is None:
            raise InputError("risk_parameters", None, "margin_published needs published risk arrays (SpanModel(risk_parameters=...))")
        merged: dict[str, float] = {}
        for cid, qty in positions.items():
            if cid not in self.risk_parameters.contracts:
                raise InputError("positions", cid, f"is not a contract of the risk-parameter file (e.g. {sorted(self.risk_parameters.contracts)[:5]})")
            if not math.isfinite(float(qty)):
                raise InputError(f"positions[{cid}]", qty, "must be a finite number of contracts")
            merged[cid] = merged.get(cid, 0.0) + float(qty)
        revalued: list[Position] = []
        cash = 0.0
        if account is not None:
            if market is None:
                raise InputError("market", None, "is required to revalue the account's positions")
            revalued, extra = self._split(account)
            for cid, qty in extra.items():
                merged[cid] = merged.get(cid, 0.0) + qty
            cash = account.cash_usd
        if not merged and not revalued:
            raise InputError("positions", positions, "nothing to margin")
        return self._margin(revalued, merged, market, cash, account.account_id if account is not None else "")

    def _margin(self, revalued: list[Position], published: Mapping[str, float], market: MarketSnapshot | None, cash_usd: float,
                account_id: str) -> MarginResult:
        grid = span_grid(self.extreme_multiple, self.extreme_cover)
        loss: dict[str, np.ndarray] = {}
        delta: dict[str, float] = {}
        position_rows: list[pd.DataFrame] = []
        equity = float(cash_usd)
        short_options: dict[str, float] = {}
        if revalued:
            assert market is not None
            sub_all = Account(tuple(revalued), account_id=account_id)
            for asset in sub_all.underlyings:
                if asset not in self.price_scan_range:
                    raise InputError("price_scan_range", asset, f"no price scan range for underlying {asset!r} (known: {sorted(self.price_scan_range)})")
            engine = self.engine
            for asset in sub_all.underlyings:
                sub = Account(tuple(p for p in revalued if p.underlying == asset), account_id=account_id)
                result = engine.result_from_book(Book.from_accounts([sub], market), 0)
                assert result.scenarios is not None
                loss[asset] = loss.get(asset, np.zeros(16)) - result.scenarios["pnl_usd"].to_numpy()
                equity += result.equity_usd
                position_rows.append(result.positions.assign(source="revalued"))
            net_by_symbol: dict[tuple[str, str], float] = {}
            for p in revalued:
                if isinstance(p.instrument, Option):
                    key = (p.underlying, p.instrument.symbol)
                    net_by_symbol[key] = net_by_symbol.get(key, 0.0) + p.quantity
            for (asset, _), q in net_by_symbol.items():
                short_options[asset] = short_options.get(asset, 0.0) + max(-q, 0.0)
        params = self.risk_parameters
        if published:
            assert params is not None
            rows = []
            for cid, qty in published.items():
                c = params.contracts[cid]
                loss[c.combined_commodity] = loss.get(c.combined_commodity, np.zeros(16)) + qty * np.asarray(c.loss)
                delta[c.combined_commodity] = delta.get(c.combined_commodity, 0.0) + qty * c.delta
                if c.kind == "option":
                    short_options[c.combined_commodity] = short_options.get(c.combined_commodity, 0.0) + max(-qty, 0.0)
                rows.append((cid, c.kind, c.combined_commodity, qty, -qty * float(np.max(c.loss)) if qty < 0 else -qty * float(np.max(c.loss)), "published"))
            position_rows.append(pd.DataFrame(rows, columns=["symbol", "kind", "underlying", "quantity", "worst_scenario_pnl_usd", "source"]))
        components: list[tuple[str, float, str]] = []
        scan: dict[str, float] = {}
        worst: dict[str, str] = {}
        for cc, values in loss.items():
            i = int(np.argmax(values))
            scan[cc] = max(float(values[i]), 0.0)
            worst[cc] = grid.label(i) if values[i] > 0 else "no loss"
        intra = self._intra_charges(revalued, published)
        credit = self._inter_credits(revalued, published, scan, delta)
        total = 0.0
        for cc in sorted(loss):
            som_rate = float(self.short_option_minimum_usd.get(cc, params.commodity(cc).short_option_minimum if params is not None else 0.0))
            som = som_rate * short_options.get(cc, 0.0)
            risk = scan[cc] + intra.get(cc, 0.0) - credit.get(cc, 0.0)
            requirement = max(risk, som, 0.0)
            total += requirement
            components.append((f"{cc} scan risk", scan[cc], f"worst of 16 scenarios: {worst[cc]}"))
            if cc in intra:
                components.append((f"{cc} intra-commodity spread charge", intra[cc], "calendar/tier spreads formed x charge per spread"))
            if cc in credit:
                components.append((f"{cc} inter-commodity credit", -credit[cc], "credit rate x spread legs' price risk"))
            components.append((f"{cc} short option minimum uplift", requirement - max(risk, 0.0),
                               f"{short_options.get(cc, 0.0):g} net short options x {som_rate:,.2f} = {som:,.2f} USD"))
        frame = pd.DataFrame(components, columns=["component", "maintenance_margin_usd", "explanation"])
        frame.insert(1, "initial_margin_usd", frame["maintenance_margin_usd"])
        scenarios = grid.frame()
        scenarios["label"] = [grid.label(i) for i in range(len(grid))]
        scenarios["pnl_usd"] = -sum(loss.values()) if loss else 0.0
        for cc, values in loss.items():
            scenarios[f"loss_{cc}"] = values
        positions = pd.concat(position_rows, ignore_index=True) if position_rows else pd.DataFrame()
        notes = [f"Requirement = sum over combined commodities of max(scan + intra - credit, short option minimum) = {total:,.2f} USD."]
        if published:
            notes.append(f"{len(published)} positions from published risk arrays ({params.source if params else ''}, {params.business_date if params else ''}); "
                         "their premiums are not in equity.")
        worst_overall = max(scan, key=lambda k: scan[k]) if scan else None
        return MarginResult(self.name, total, total, equity, positions, frame, scenarios,
                            {"worst_scenario": worst.get(worst_overall) if worst_overall else None, "scan_risk_usd": scan, "risk_array": scenarios},
                            tuple(notes))

    def _intra_charges(self, revalued: list[Position], published: Mapping[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for asset, table in self.calendar_spreads.items():
            by_month: dict[str, float] = {}
            for p in revalued:
                if isinstance(p.instrument, Future) and p.underlying == asset:
                    month = p.instrument.expiry.strftime("%Y-%m-%d")
                    by_month[month] = by_month.get(month, 0.0) + p.quantity
            charge = sum(table.charge(a, b) * n for a, b, n in table.pair_spreads(by_month))
            if charge:
                out[asset] = out.get(asset, 0.0) + charge
        params = self.risk_parameters
        if params is None or not published:
            return out
        tier_delta: dict[tuple[str, int], float] = {}
        for cid, qty in published.items():
            c = params.contracts[cid]
            tier = params.commodity(c.combined_commodity).tier_of(c.period)
            if tier is not None:
                key = (c.combined_commodity, tier)
                tier_delta[key] = tier_delta.get(key, 0.0) + qty * c.delta
        for cc_code, cc in params.combined.items():
            for spread in cc.intra_spreads:
                n = _spreads_formed([(tier_delta.get((cc_code, tn), 0.0), side, ratio) for tn, side, ratio in spread.legs])
                if n > 0:
                    for tn, _side, ratio in spread.legs:
                        d = tier_delta.get((cc_code, tn), 0.0)
                        tier_delta[(cc_code, tn)] = d - math.copysign(n * ratio, d)
                    out[cc_code] = out.get(cc_code, 0.0) + n * spread.charge
        return out

    def _inter_credits(self, revalued: list[Position], published: Mapping[str, float], scan: Mapping[str, float],
                       delta: Mapping[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        gross = {a: sum(abs(p.quantity) for p in revalued if p.underlying == a) for a in scan}
        signed = {a: sum(p.quantity for p in revalued if p.underlying == a) for a in scan}
        per_contract = {a: (scan[a] / gross[a] if gross.get(a) else 0.0) for a in scan}
        for spread in self.inter_spreads:
            if spread.product_a in scan and spread.product_b in scan:
                n = spread.spreads(signed)
                out[spread.product_a] = out.get(spread.product_a, 0.0) + spread.credit_rate * n * spread.ratio_a * per_contract[spread.product_a]
                out[spread.product_b] = out.get(spread.product_b, 0.0) + spread.credit_rate * n * spread.ratio_b * per_contract[spread.product_b]
        params = self.risk_parameters
        if params is None or not published:
            return out
        # price risk per delta of a combined commodity: scan risk / |net delta| (SPAN's weighted futures price risk, simplified)
        remaining = dict(delta)
        per_delta = {cc: (scan.get(cc, 0.0) / abs(d) if d else 0.0) for cc, d in delta.items()}
        for published_spread in params.inter_spreads:
            n = _spreads_formed([(remaining.get(cc, 0.0), side, ratio) for cc, side, ratio in published_spread.legs])
            if n > 0:
                for cc, _side, ratio in published_spread.legs:
                    out[cc] = out.get(cc, 0.0) + published_spread.credit_rate * n * ratio * per_delta.get(cc, 0.0)
                    d = remaining.get(cc, 0.0)
                    remaining[cc] = d - math.copysign(n * ratio, d)
        return out


def _spreads_formed(legs: list[tuple[float, str, float]]) -> float:
    """Spreads formed by legs ``(net delta, side A/B, delta ratio)``: A legs one sign, B legs the other."""
    a_signs = {math.copysign(1.0, d) for d, side, _ in legs if side.upper() == "A" and d != 0}
    b_signs = {math.copysign(1.0, d) for d, side, _ in legs if side.upper() != "A" and d != 0}
    if any(d == 0 for d, _, _ in legs) or len(a_signs) != 1 or len(b_signs) != 1 or a_signs == b_signs:
        return 0.0
    return min(abs(d) / ratio for d, _, ratio in legs)


def span_model_from_data(spec: Any) -> SpanModel:
    """Build a :class:`SpanModel` from a venue file (``engine: span``).

    Parameters (``parameters`` of the file): ``price_scan_range`` (fraction per underlying),
    ``vol_scan_range``, ``extreme_multiple``, ``extreme_cover``, ``short_option_minimum_usd``,
    ``calendar_spreads`` (``{UNDERLYING: {outright_usd: {month: amount}, charge_usd: [[month_a, month_b, charge]]}}``),
    ``inter_spreads`` (rows ``{product_a, product_b, ratio_a, ratio_b, credit_rate}``) and an optional
    ``risk_parameter_file`` (a ``.spn``, CSV or YAML of published risk arrays, relative to the venue file).
    """
    from marginlab.margin.span_xml import read_risk_arrays

    p = spec.parameters
    calendars = {str(a): CalendarSpreadTable({str(m): float(v) for m, v in t.get("outright_usd", {}).items()},
                                             {(str(x), str(y)): float(c) for x, y, c in t.get("charge_usd", ())})
                 for a, t in (p.get("calendar_spreads") or {}).items()}
    inter = tuple(InterCommoditySpread(str(r["product_a"]), str(r["product_b"]), float(r["ratio_a"]), float(r["ratio_b"]), float(r["credit_rate"]))
                  for r in p.get("inter_spreads") or ())
    file = p.get("risk_parameter_file")
    params = None
    if file:
        from pathlib import Path

        path = Path(str(file))
        params = read_risk_arrays(path if path.is_absolute() else spec.folder / path)
    return SpanModel({str(a): float(v) for a, v in (p.get("price_scan_range") or {}).items()}, float(p.get("vol_scan_range", 0.0)),
                     float(p.get("extreme_multiple", 2.0)), float(p.get("extreme_cover", 0.35)), calendars, inter,
                     {str(a): float(v) for a, v in (p.get("short_option_minimum_usd") or {}).items()}, params, spec.name)


def cme_span_example() -> SpanModel:
    """The ``span-example`` preset (``venues/span-example.yaml``): BTC and ETH, PSR 20% / 25%, VSR 10 vol points, X = 2."""
    from marginlab.margin.venues import build_model

    model = build_model("span-example")
    assert isinstance(model, SpanModel)
    return model
