"""Margin models configured by a calibrated parameter file (parameter sets of the existing engines).

A parameter file (:class:`marginlab.parameters.ParameterSet`, written by ``marginlab calibrate``) configures three
models, none of them a new engine. This module reads the typed contract of :mod:`marginlab.parameters` and never
imports :mod:`marginlab.calibration`:

``calibrated-isolated``
    :class:`~marginlab.margin.isolated.IsolatedMargin` with a flat
    :class:`~marginlab.margin.isolated.SizeLinearRate` per asset: IM rate = ``initial_rate``,
    MM rate = ``maintenance_rate`` of notional (no size slope; options are not covered).
``calibrated-cross``
    :class:`~marginlab.margin.cross.CrossMargin` over those rules, with the calibrated
    **dynamic** haircuts (:class:`~marginlab.collateral.DynamicHaircut`: base = calibrated haircut,
    reference vol = the vol forecast it was calibrated at; feed new forecasts with
    ``model.haircuts.with_current_vol`` through :func:`with_current_vol`).
``calibrated-portfolio``
    one :class:`~marginlab.margin.risk_matrix.RiskMatrixModel` per underlying whose grid is
    the calibrated scan range (9 spot points x vol up/none/down) plus the extreme moves
    ``1 - down`` and ``1 + up`` (vol up) at ``cover``, with the calibrated 30-day vol shocks and tenor powers
    (:class:`~marginlab.margin.scenarios.VolShock`). Loss factors map the grid to the rates:
    ``mm_loss_factor = maintenance_rate / price_scan_range`` and
    ``im_loss_factor = initial_rate / price_scan_range``, so a lone perpetual is charged exactly
    its isolated rates (unless the covered extreme move, ``cover x down``, exceeds the scan range), while
    options get their convexity and vega risk. The account
    requirement is the sum over underlyings (the risk-matrix engine's own risk units) minus the
    **inter-underlying credits** of the file's ``offsets`` table (:mod:`marginlab.calibration.offsets`): an
    underlying whose worst scenario is a fall is a long leg, a rise a short leg; pairs of opposite legs form
    SPAN inter-commodity spreads in units of scan risk (ratio 1:1, highest rate first,
    :func:`marginlab.margin.correlation.inter_commodity_credit`), each leg credited ``credit_rate`` x the scan
    risk it puts in spreads, shown as a negative row ``inter-underlying credit A/B``; equity pools cash,
    collateral after the dynamic haircuts and positions' mark-to-market.

>>> from marginlab.parameters import example_parameters
>>> from marginlab.account import Account
>>> from marginlab.instruments import Perpetual, Position
>>> from marginlab.market import MarketSnapshot
>>> models = models_from_parameters(example_parameters())
>>> sorted(models)
['calibrated-cross', 'calibrated-isolated', 'calibrated-portfolio']
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
>>> account = Account([Position(Perpetual("BTC"), 1.0)], cash_usd=20000)
>>> [round(models[name].margin(account, market).maintenance_margin_usd, 2) for name in ("calibrated-isolated", "calibrated-portfolio")]
[6000.0, 6000.0]

The three models are also registered as presets (``get_model("calibrated-cross")``...) that read the
file named by the environment variable ``MARGINLAB_PARAMETER_FILE``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from marginlab.account import Account
from marginlab.book import STATIC, Book, InstrumentTable
from marginlab.collateral import DynamicHaircut, FlatHaircut, HaircutSchedule, collateral_table
from marginlab.exceptions import InputError, MarginLabError, ParameterError, UnknownAssetError
from marginlab.instruments import Option
from marginlab.margin.base import BookMarginTotals, MarginModel, MarginResult
from marginlab.margin.correlation import inter_commodity_credit, inter_commodity_credits
from marginlab.margin.cross import CrossMargin
from marginlab.margin.isolated import IsolatedMargin, SizeLinearRate
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.margin.scenarios import ScenarioGrid, VolShock
from marginlab.margin.span import InterCommoditySpread
from marginlab.market import MarketSnapshot
from marginlab.parameters import OffsetParameters, ParameterSet
from marginlab.valuation import USD_CODES, value_positions

#: Spot points of the calibrated scan grid (odd, so that 0 is a scenario).
GRID_POINTS = 9


def _parameters(parameters: ParameterSet | str | Path) -> ParameterSet:
    return parameters if isinstance(parameters, ParameterSet) else ParameterSet.load(parameters)


def calibrated_isolated(parameters: ParameterSet | str | Path) -> IsolatedMargin:
    """Isolated margin with the calibrated IM/MM rates of every asset."""
    params = _parameters(parameters)
    rules = {}
    for asset, entry in params.assets.items():
        rules[asset] = SizeLinearRate(initial_base=entry.initial_rate, maintenance_base=entry.maintenance_rate)
    return IsolatedMargin(rules, preset_name="calibrated-isolated")


@dataclass(frozen=True)
class CalibratedHaircuts(DynamicHaircut):
    """:class:`~marginlab.collateral.DynamicHaircut` of a parameter file; an asset that is not in the file is an error
    that names the calibrated assets and how to add it."""

    def haircut(self, asset: str, amount: float, market: MarketSnapshot | None) -> float:
        if asset not in self.base and asset not in USD_CODES:
            raise UnknownAssetError(
                "collateral", asset,
                f"has no calibrated haircut (calibrated: {', '.join(sorted(self.base))}); add it to "
                "`marginlab calibrate --assets ...` (USDT and USDC are calibrated by default) and recalibrate",
            )
        return super().haircut(asset, amount, market)

    def with_current_vol(self, current_vol: Mapping[str, float]) -> CalibratedHaircuts:
        """A copy fed with new volatility forecasts (merged over the old ones)."""
        return CalibratedHaircuts(self.base, self.reference_vol, {**self.current_vol, **current_vol}, self.floor, self.cap)


def dynamic_haircuts(parameters: ParameterSet | str | Path, floor: float = 0.0, cap: float = 1.0) -> DynamicHaircut:
    """The calibrated haircuts as a volatility-scaled schedule (reference vol floored at 1%)."""
    params = _parameters(parameters)
    assets = {}
    for asset, entry in params.assets.items():
        vol = max(float(entry.haircut_details.vol_forecast or 0.0), 0.01)
        assets[asset] = {"base": entry.haircut, "reference_vol": vol, "current_vol": vol}
    schedule = DynamicHaircut.from_parameters({"floor": floor, "cap": cap, "assets": assets})
    return CalibratedHaircuts(**{f.name: getattr(schedule, f.name) for f in fields(schedule)})


@dataclass(frozen=True)
class CalibratedCrossMargin(CrossMargin):
    """:class:`~marginlab.margin.cross.CrossMargin` over the calibrated rates; options are refused with an error that
    names the model that margins them (``calibrated-portfolio``).

    The book engine (:mod:`marginlab.analysis.book`) margins it on the vectorised rules path of
    :class:`~marginlab.margin.cross.CrossMargin` (:attr:`book_rules_path`): this class only adds the option check,
    and the rules path sends a book holding options (the rules have no option rule) to :meth:`margin`, which raises it.
    """

    #: Margined by the book engine's rules path (read on this class only, not inherited by subclasses).
    book_rules_path: ClassVar[bool] = True

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        for i, position in enumerate(account.positions):
            if isinstance(position.instrument, Option):
                raise InputError(
                    f"positions[{i}]", position.instrument.symbol,
                    f"{self.name} margins linear positions only (perpetuals, futures, spot); use calibrated-portfolio for options",
                )
        return super().margin(account, market)


def calibrated_cross(parameters: ParameterSet | str | Path) -> CrossMargin:
    """Cross margin: calibrated rates per position, one pool with the dynamic haircuts."""
    params = _parameters(parameters)
    return CalibratedCrossMargin(calibrated_isolated(params), dynamic_haircuts(params), preset_name="calibrated-cross")


def calibrated_risk_matrix(parameters: ParameterSet | str | Path, asset: str, points: int = GRID_POINTS) -> RiskMatrixModel:
    """The risk-matrix model of one underlying (grid, vol shocks and loss factors from the file)."""
    params = _parameters(parameters)
    entry = params.asset(asset)
    scan = float(entry.price_scan_range)
    down, up, cover = float(entry.extreme_move.down), float(entry.extreme_move.up), float(entry.extreme_move.cover)
    grid = ScenarioGrid.regular(
        spot_range=min(scan, 0.99),
        points=points,
        vol_shocks=("up", "none", "down"),
        extra=[(max(1.0 - down, 0.0), "up", cover), (1.0 + up, "up", cover)],
    )
    shock = entry.vol_shock
    vol_shock = VolShock(
        up_range=float(shock.up_30d),
        down_range=float(shock.down_30d),
        short_term_power=float(shock.short_tenor_power),
        long_term_power=float(shock.long_tenor_power),
    )
    return RiskMatrixModel(
        grid,
        vol_shock,
        mm_loss_factor=float(entry.maintenance_rate) / scan,
        im_loss_factor=float(entry.initial_rate) / scan,
        preset_name=f"calibrated-portfolio[{asset}]",
    )


def _take(table: InstrumentTable, rows: NDArray[np.int64]) -> InstrumentTable:
    """Rows of an instrument table as their own table (USD numeraire)."""
    used, local = np.unique(table.asset[rows], return_inverse=True)
    return InstrumentTable(tuple(table.symbol[i] for i in rows.tolist()), table.kind[rows], local.reshape(-1).astype(np.int64),
                           tuple(table.assets[a] for a in used.tolist()), table.price_usd[rows], table.index_usd[rows], table.forward_usd[rows],
                           table.strike_usd[rows], table.seconds[rows], table.vol[rows], table.rate[rows], table.is_call[rows], table.confidence[rows])


@dataclass(frozen=True, eq=False)
class _PreparedPortfolio:
    """:meth:`PerUnderlyingPortfolioMargin.prepare_book` of one instrument table."""

    underlyings: tuple[str, ...]  # calibrated underlyings with instruments in the table (sorted)
    tables: dict[str, InstrumentTable]  # their instruments (collateral excluded)
    prepared: dict[str, Any]  # the underlying's RiskMatrixModel.prepare_book of its table
    local_row: NDArray[np.int64]  # table row -> row of its underlying's table (-1: collateral or uncalibrated)
    collateral_factor: NDArray[np.float64]  # 1 - haircut per collateral row (NaN elsewhere)
    collateral_error: dict[int, MarginLabError]  # collateral row -> the error its haircut raised


@dataclass(frozen=True)
class PerUnderlyingPortfolioMargin(MarginModel):
    """Sum of per-underlying risk-matrix requirements minus inter-underlying credits, with pooled equity after haircuts.

    Parameters
    ----------
    models : mapping underlying -> RiskMatrixModel
    haircuts : HaircutSchedule, optional
        Collateral haircuts of the pooled equity.
    preset_name : str
    offsets : mapping (underlying, underlying) -> float
        Spread credit rate per pair (either order; default none). Legs are the underlyings' scan risks, signed
        by the direction of their worst scenario (a fall: long, a rise: short, no price move: no leg); opposite
        legs form spreads 1:1 in scan-risk units, pairs taken by decreasing rate, each leg of a spread credited
        ``rate`` x its scan risk in the spread (SPAN inter-commodity rule,
        :func:`marginlab.margin.correlation.inter_commodity_credit`). An underlying's credit never exceeds
        ``max rate`` x its scan risk, so the requirement stays >= ``(1 - max rate)`` x the sum of scan risks.
    explanations : mapping underlying -> str
        A sentence per underlying added to the result's notes (the "Why" of ``summary()``): what its loss factors are.

    Examples
    --------
    Hand-worked: BTC scan risk 6,000 (long 1 BTC at 100,000, MM rate 6%), ETH scan risk 8,000 (short 20 ETH at
    4,000 at MM rate 10%), credit rate 0.40: spreads = min(6,000, 8,000) = 6,000 scan-risk units, credit =
    0.40 x 6,000 + 0.40 x 6,000 = 4,800, requirement 6,000 + 8,000 - 4,800 = 9,200.

    >>> from marginlab.account import Account
    >>> from marginlab.instruments import Perpetual, Position
    >>> from marginlab.market import MarketSnapshot
    >>> from marginlab.parameters import example_parameters
    >>> from dataclasses import replace
    >>> params = example_parameters()
    >>> eth = replace(params.asset("BTC"), asset="ETH", maintenance_rate=0.10, initial_rate=0.12)
    >>> params = replace(params, assets={"BTC": params.asset("BTC"), "ETH": eth})
    >>> model = replace(calibrated_portfolio(params), offsets={("BTC", "ETH"): 0.40})
    >>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}, "ETH": {"index_usd": 4000}}})
    >>> result = model.margin(Account([Position(Perpetual("BTC"), 1.0), Position(Perpetual("ETH"), -20.0)], cash_usd=20000), market)
    >>> round(result.maintenance_margin_usd, 2), round(float(result.components["maintenance_margin_usd"].sum()), 2)
    (9200.0, 9200.0)
    >>> result.components["component"].iloc[-1]
    'inter-underlying credit BTC/ETH'
    """

    models: Mapping[str, RiskMatrixModel]
    haircuts: HaircutSchedule | None = None
    preset_name: str = ""
    offsets: Mapping[tuple[str, str], float] = field(default_factory=dict)
    explanations: Mapping[str, str] = field(default_factory=dict)
    family: ClassVar[str] = "portfolio"

    def __post_init__(self) -> None:
        for pair, rate in self.offsets.items():
            if len(pair) != 2 or pair[0] == pair[1]:
                raise InputError("offsets", pair, "keys must be pairs of two different underlyings")
            if not (isinstance(rate, int | float | np.floating) and 0.0 <= float(rate) <= 1.0):
                raise InputError(f"offsets[{pair[0]}/{pair[1]}]", rate, "a credit rate must be in [0, 1]")

    def _leg_sign(self, underlying: str, result: MarginResult) -> float:
        """+1 if the worst scenario is a price fall (long leg), -1 a rise (short leg), 0 otherwise."""
        index = result.details.get("worst_scenario_index", -1)
        grid = self.models[underlying].scenarios
        if index is None or not 0 <= int(index) < len(grid):
            return 0.0
        shock = float(grid.spot_shock[int(index)])
        return 1.0 if shock < 1.0 else (-1.0 if shock > 1.0 else 0.0)

    def _credits(self, leg_risk: Mapping[str, tuple[float, float, float]]) -> list[tuple[str, float, float, str]]:
        """Credit rows ``(component, -IM credit, -MM credit, explanation)`` of the offsets table."""
        spreads = self._spreads(leg_risk)
        if not spreads:
            return []
        mm = inter_commodity_credit({u: (m, s * m) for u, (_, m, s) in leg_risk.items()}, spreads)
        im = inter_commodity_credit({u: (i, s * i) for u, (i, _, s) in leg_risk.items()}, spreads)
        rows = []
        for (_, mm_row), (_, im_row) in zip(mm.spreads.iterrows(), im.spreads.iterrows()):
            if mm_row["credit_usd"] > 0 or im_row["credit_usd"] > 0:
                rows.append((
                    f"inter-underlying credit {mm_row['first']}/{mm_row['second']}",
                    -float(im_row["credit_usd"]),
                    -float(mm_row["credit_usd"]),
                    f"{mm_row['credit_rate']:.1%} x scan risk of both legs in the spread "
                    f"({mm_row['spreads_formed']:,.2f} USD of MM scan risk each side; opposite worst-scenario directions)",
                ))
        return rows

    # -- the book protocol (marginlab.margin.base.BookMarginModel) ----------------------------
    @property
    def book_vectorised(self) -> bool:
        """True when every underlying's model is a risk-matrix model and the haircuts depend on the asset only
        (none, :class:`~marginlab.collateral.DynamicHaircut` -- the calibrated ones -- or
        :class:`~marginlab.collateral.FlatHaircut`); other configurations are margined account by account by the
        book engine."""
        return all(isinstance(model, RiskMatrixModel) for model in self.models.values()) and (
            self.haircuts is None or isinstance(self.haircuts, DynamicHaircut | FlatHaircut))

    def _unknown_underlying(self, underlying: str) -> UnknownAssetError:
        return UnknownAssetError(
            "underlying", underlying,
            f"has no calibrated parameters (calibrated: {', '.join(sorted(self.models))}); add it to "
            "`marginlab calibrate --assets ...` and recalibrate",
        )

    def prepare_book(self, instruments: InstrumentTable, *, as_of: Any = None) -> _PreparedPortfolio:
        """Per-valuation-time work for :meth:`margin_book`: the instruments of each calibrated underlying as their
        own table, prepared by that underlying's risk-matrix model (each instrument revalued once, by its own
        grid), and ``1 - haircut`` of every collateral row (:data:`~marginlab.margin.risk_matrix.STATIC`).
        A haircut the schedule refuses (an asset without a calibrated haircut) is kept as the error it raised, for
        :meth:`margin_book` to raise if an account holds that collateral. ``as_of`` goes to the models."""
        kind = instruments.kind
        static = kind == STATIC
        local = np.full(len(instruments), -1, dtype=np.int64)
        tables: dict[str, InstrumentTable] = {}
        prepared: dict[str, Any] = {}
        for a, name in enumerate(instruments.assets):
            rows = np.flatnonzero(~static & (instruments.asset == a))
            if len(rows) and name in self.models:
                local[rows] = np.arange(len(rows))
                tables[name] = _take(instruments, rows)
                prepared[name] = self.models[name].prepare_book(tables[name], as_of=as_of)
        factor = np.full(len(instruments), np.nan)
        errors: dict[int, MarginLabError] = {}
        for i in np.flatnonzero(static).tolist():
            asset = instruments.assets[int(instruments.asset[i])]
            try:
                haircut = 0.0 if self.haircuts is None else float(self.haircuts.haircut(asset, 1.0, None))  # type: ignore[arg-type]
            except MarginLabError as error:
                errors[i] = error
                continue
            if not 0.0 <= haircut <= 1.0:
                errors[i] = ParameterError(f"haircut[{asset}]", haircut, "the schedule returned a haircut outside [0, 1]")
                continue
            factor[i] = 1.0 - haircut
        return _PreparedPortfolio(tuple(sorted(tables)), tables, prepared, local, factor, errors)

    def margin_book(self, book: Book, *, prepared: Any = None) -> BookMarginTotals:
        """Requirement of every account of ``book``, vectorised over accounts (the totals of :meth:`margin`).

        Per calibrated underlying, one :meth:`RiskMatrixModel.margin_book <marginlab.margin.risk_matrix.RiskMatrixModel.margin_book>`
        call on the book's positions on that underlying (no cash, no collateral: :meth:`margin`'s sub-accounts);
        its scan risk (loss factor x worst loss) is a leg signed by the direction of its worst scenario
        (``worst_scenario``: a fall long, a rise short); the inter-underlying credits of :attr:`offsets` are
        :func:`~marginlab.margin.correlation.inter_commodity_credits` over accounts (same pairs, order and rule as
        :meth:`margin`). Equity = cash + collateral after the haircuts + the positions' mark-to-market.
        An account without positions gets zero requirements. Components per account: ``"<U> initial_margin_usd"``,
        ``"<U> maintenance_margin_usd"``, ``"<U> leg"`` (+1 long, -1 short, 0 none),
        ``"inter-underlying credit A/B initial_margin_usd"`` / ``"... maintenance_margin_usd"`` (negative),
        ``"collateral_usd"`` (after haircuts) and ``"mtm_usd"``.

        Examples
        --------
        The hand-worked case of the class docstring (long 1 BTC, short 20 ETH, credit rate 0.40: MM 9,200) next to
        a lone long BTC perpetual (6% of 100,000):

        >>> from dataclasses import replace
        >>> from marginlab.account import Account
        >>> from marginlab.instruments import Perpetual, Position
        >>> from marginlab.market import MarketSnapshot
        >>> from marginlab.parameters import example_parameters
        >>> params = example_parameters()
        >>> eth = replace(params.asset("BTC"), asset="ETH", maintenance_rate=0.10, initial_rate=0.12)
        >>> model = replace(calibrated_portfolio(replace(params, assets={"BTC": params.asset("BTC"), "ETH": eth})), offsets={("BTC", "ETH"): 0.40})
        >>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}, "ETH": {"index_usd": 4000}}})
        >>> accounts = [Account([Position(Perpetual("BTC"), 1.0), Position(Perpetual("ETH"), -20.0)], cash_usd=20000),
        ...             Account([Position(Perpetual("BTC"), 1.0)], cash_usd=5000)]
        >>> model.margin_book(Book.from_accounts(accounts, market)).maintenance_margin_usd.round(2).tolist()
        [9200.0, 6000.0]
        """
        if not self.book_vectorised:
            raise InputError("haircuts", type(self.haircuts).__name__,
                             "haircuts that depend on the amount (or non-risk-matrix underlying models) are margined account by account (margin)")
        instruments = book.instruments
        prep: _PreparedPortfolio = self.prepare_book(instruments) if prepared is None else prepared
        n = book.n_accounts
        acc, inst = book.account, book.instrument
        static = instruments.kind[inst] == STATIC
        if instruments.numeraire is not None and np.any(instruments.numeraire[inst] >= 0):
            i = int(inst[np.argmax(instruments.numeraire[inst] >= 0)])
            raise InputError("numeraire", instruments.symbol[i], "coin-margined accounts are margined account by account (margin: USD sub-accounts)")
        # errors of margin(), for the first account that has one: an uncalibrated underlying, then its collateral
        row_asset = instruments.asset[inst]
        known = np.array([name in self.models for name in instruments.assets], dtype=bool)
        unknown = ~static & ~known[row_asset] if len(inst) else np.zeros(0, dtype=bool)
        refused = static & np.isin(inst, list(prep.collateral_error)) if prep.collateral_error else np.zeros(len(inst), dtype=bool)
        if np.any(unknown) or np.any(refused):
            first_unknown = int(acc[unknown].min()) if np.any(unknown) else n
            first_refused = int(acc[refused].min()) if np.any(refused) else n
            if first_unknown <= first_refused:
                raise self._unknown_underlying(instruments.assets[int(row_asset[np.argmax(unknown & (acc == first_unknown))])])
            raise prep.collateral_error[int(inst[np.argmax(refused & (acc == first_refused))])]
        initial, maintenance = np.zeros(n), np.zeros(n)
        scan_mm = {name: np.zeros(n) for name in self.models}
        scan_im = {name: np.zeros(n) for name in self.models}
        leg = {name: np.zeros(n) for name in self.models}
        components: dict[str, NDArray[np.float64]] = {}
        for name in prep.underlyings:
            rows = ~static & (row_asset == instruments.assets.index(name))
            if not np.any(rows):
                continue
            model = self.models[name]
            sub = Book(prep.tables[name], acc[rows], prep.local_row[inst[rows]], book.quantity[rows], book.mtm_usd[rows], np.zeros(n), np.ones(n),
                       book.account_ids)
            result = model.margin_book(sub, prepared=prep.prepared[name])
            im_factor = np.full(n, model.im_loss_factor)
            if model.depeg is not None:  # margin()'s sub-accounts have no stable coin: price 1
                im_factor = im_factor + np.where(sub.stable_price < model.depeg.threshold, (model.depeg.threshold - sub.stable_price) * model.depeg.factor, 0.0)
            scan_mm[name] = model.mm_loss_factor * result.scan_loss_usd
            scan_im[name] = im_factor * result.scan_loss_usd
            spot = np.asarray(model.scenarios.spot_shock, dtype=np.float64)
            worst = result.worst_scenario
            valid = (worst >= 0) & (worst < len(spot))
            shock = spot[np.where(valid, worst, 0)]
            leg[name] = np.where(valid, np.where(shock < 1.0, 1.0, np.where(shock > 1.0, -1.0, 0.0)), 0.0)
            initial += result.initial_margin_usd
            maintenance += result.maintenance_margin_usd
            components[f"{name} initial_margin_usd"] = result.initial_margin_usd
            components[f"{name} maintenance_margin_usd"] = result.maintenance_margin_usd
            components[f"{name} leg"] = leg[name]
        spreads = self._spreads(set(self.models))
        if spreads:
            mm = inter_commodity_credits(scan_mm, {u: leg[u] * scan_mm[u] for u in scan_mm}, spreads)
            im = inter_commodity_credits(scan_im, {u: leg[u] * scan_im[u] for u in scan_im}, spreads)
            for k, spread in enumerate(spreads):
                im_credit = im.first_credit_usd[k] + im.second_credit_usd[k]
                mm_credit = mm.first_credit_usd[k] + mm.second_credit_usd[k]
                initial -= im_credit
                maintenance -= mm_credit
                components[f"inter-underlying credit {spread.product_a}/{spread.product_b} initial_margin_usd"] = -im_credit
                components[f"inter-underlying credit {spread.product_a}/{spread.product_b} maintenance_margin_usd"] = -mm_credit
        moving = ~static
        mtm = np.bincount(acc[moving], weights=book.mtm_usd[moving], minlength=n).astype(np.float64)
        collateral = np.bincount(acc[static], weights=book.mtm_usd[static] * prep.collateral_factor[inst[static]], minlength=n).astype(np.float64)
        components["collateral_usd"] = collateral
        components["mtm_usd"] = mtm
        return BookMarginTotals(self.name, book.account_ids, initial, maintenance, book.cash_usd + collateral + mtm, components).check_finite()

    def _spreads(self, legs: set[str] | Mapping[str, Any]) -> list[InterCommoditySpread]:
        """The offsets as 1:1 spreads in scan-risk units, highest rate first, between underlyings of ``legs``."""
        spreads = []
        for (a, b), rate in sorted(self.offsets.items(), key=lambda item: (-float(item[1]), item[0])):
            if a in legs and b in legs and float(rate) > 0:
                spreads.append(InterCommoditySpread(a, b, 1.0, 1.0, float(rate)))
        return spreads

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        account.require_positions()
        initial = maintenance = 0.0
        components, positions, notes = [], [], []
        worst = {}
        scan_tables = []
        leg_risk: dict[str, tuple[float, float, float]] = {}
        for underlying in account.underlyings:
            if underlying not in self.models:
                raise self._unknown_underlying(underlying)
            sub = Account(tuple(p for p in account.positions if p.underlying == underlying), account_id=account.account_id)
            result = self.models[underlying].margin(sub, market)
            initial += result.initial_margin_usd
            maintenance += result.maintenance_margin_usd
            worst[underlying] = result.details.get("worst_scenario")
            scan_rows = result.components[result.components["component"].str.startswith("scan risk")]  # "scan risk [<underlying>]"
            if len(scan_rows):
                leg_risk[underlying] = (float(scan_rows["initial_margin_usd"].sum()), float(scan_rows["maintenance_margin_usd"].sum()),
                                    self._leg_sign(underlying, result))
            part = result.components.copy()
            scan = part["component"].str.startswith("scan risk")
            part["component"] = part["component"].where(scan, underlying + " " + part["component"])
            table = result.details.get("scan_risk_by_underlying")
            if isinstance(table, pd.DataFrame):
                scan_tables.append(table)
            components.append(part[part[["initial_margin_usd", "maintenance_margin_usd"]].abs().sum(axis=1) > 0])
            positions.append(result.positions)
            notes.append(f"{underlying}: worst scenario {worst[underlying]} -> MM {result.maintenance_margin_usd:,.2f} USD")
            if underlying in self.explanations:
                notes.append(self.explanations[underlying])
        credit_rows = self._credits(leg_risk)
        if credit_rows:
            credits = pd.DataFrame(credit_rows, columns=["component", "initial_margin_usd", "maintenance_margin_usd", "explanation"])
            components.append(credits)
            initial += float(credits["initial_margin_usd"].sum())
            maintenance += float(credits["maintenance_margin_usd"].sum())
            notes.append(f"Inter-underlying credits: IM {-credits['initial_margin_usd'].sum():,.2f}, MM "
                         f"{-credits['maintenance_margin_usd'].sum():,.2f} USD.")
        valuation = value_positions(account.positions, market)
        collateral = collateral_table(account.collateral, market, self.haircuts)
        collateral_usd = float(collateral["adjusted_value_usd"].sum()) if len(collateral) else 0.0
        mtm = float(np.sum(valuation.value_usd))
        equity = account.cash_usd + collateral_usd + mtm
        notes.append(
            f"Requirements summed over underlyings, less inter-underlying credits; equity = cash {account.cash_usd:,.2f} + collateral after haircuts "
            f"{collateral_usd:,.2f} + mark-to-market {mtm:,.2f} USD."
        )
        table = pd.concat(components, ignore_index=True) if components else pd.DataFrame(
            columns=["component", "initial_margin_usd", "maintenance_margin_usd", "explanation"])
        return MarginResult(
            self.name,
            initial,
            maintenance,
            equity,
            pd.concat(positions, ignore_index=True),
            table,
            details={"family": self.family, "worst_scenario_by_underlying": worst, "collateral": collateral,
                     "scan_risk_by_underlying": pd.concat(scan_tables, ignore_index=True) if scan_tables else None},
            notes=tuple(notes),
        )


def calibrated_portfolio(parameters: ParameterSet | str | Path) -> PerUnderlyingPortfolioMargin:
    """Portfolio margin: calibrated risk-matrix grid per underlying, dynamic collateral haircuts, the file's offsets."""
    params = _parameters(parameters)
    models = {asset: calibrated_risk_matrix(params, asset) for asset in params.assets}
    offsets = params.offsets.rates() if params.offsets is not None else {}
    explanations = {asset: loss_factor_explanation(params, asset) for asset in params.assets}
    return PerUnderlyingPortfolioMargin(models, dynamic_haircuts(params), preset_name="calibrated-portfolio", offsets=offsets,
                                        explanations=explanations)


def loss_factor_explanation(parameters: ParameterSet | str | Path, asset: str) -> str:
    """One sentence: what the loss factors of ``asset``'s risk matrix are and why.

    >>> from marginlab.parameters import example_parameters
    >>> print(loss_factor_explanation(example_parameters(), "BTC"))  # doctest: +ELLIPSIS
    BTC loss factors: MM 0.5 = maintenance rate 6.00% / price scan range 12.00%, IM 0.7083 = initial rate 8.50% / ...
    """
    entry = _parameters(parameters).asset(asset)
    scan = float(entry.price_scan_range)
    mm, im = float(entry.maintenance_rate), float(entry.initial_rate)
    return (f"{asset} loss factors: MM {mm / scan:.4g} = maintenance rate {mm:.2%} / price scan range {scan:.2%}, IM "
            f"{im / scan:.4g} = initial rate {im:.2%} / price scan range: the grid's worst loss (a {scan:.2%} move for a "
            "linear position) is scaled to the level of the maintenance and initial rates, so a lone perpetual is charged "
            "exactly its rates (unless the covered extreme move is worse); the scan range sets the grid's shape (options' "
            "convexity and vega), the rates -- each with the methodology's anti-procyclicality tool -- its level")


def span_spreads(offsets: OffsetParameters, ratios: Mapping[str, float] | None = None) -> tuple[InterCommoditySpread, ...]:
    """The offsets table as SPAN inter-commodity spread definitions (``SpanModel(inter_spreads=...)``), highest rate first.

    Parameters
    ----------
    offsets : OffsetParameters
    ratios : mapping asset -> float, optional
        Contracts of each asset per spread (SPAN's delta ratio, e.g. ``{"BTC": 1, "ETH": 25}`` for roughly equal risk
        with 1-coin contracts); default 1 each. Pairs with a zero rate are left out.

    >>> from marginlab.parameters import OffsetParameters, PairOffset
    >>> table = OffsetParameters("hand", {}, (PairOffset("BTC", "ETH", 0.3), PairOffset("BTC", "SOL", 0.0), PairOffset("ETH", "SOL", 0.4)))
    >>> [(s.product_a, s.product_b, s.ratio_a, s.ratio_b, s.credit_rate) for s in span_spreads(table, {"ETH": 25})]
    [('ETH', 'SOL', 25.0, 1.0, 0.4), ('BTC', 'ETH', 1.0, 25.0, 0.3)]
    """
    ratios = dict(ratios or {})
    for asset, ratio in ratios.items():
        if not (isinstance(ratio, int | float) and math.isfinite(ratio) and ratio > 0):
            raise InputError(f"ratios[{asset}]", ratio, "must be a positive number of contracts")
    pairs = sorted((p for p in offsets.pairs if p.credit_rate > 0), key=lambda p: (-p.credit_rate, p.asset_a, p.asset_b))
    return tuple(InterCommoditySpread(p.asset_a, p.asset_b, float(ratios.get(p.asset_a, 1.0)), float(ratios.get(p.asset_b, 1.0)),
                                      float(p.credit_rate)) for p in pairs)


def models_from_parameters(parameters: ParameterSet | str | Path) -> dict[str, MarginModel]:
    """``{"calibrated-isolated", "calibrated-cross", "calibrated-portfolio"}`` models of a parameter file."""
    params = _parameters(parameters)
    return {
        "calibrated-isolated": calibrated_isolated(params),
        "calibrated-cross": calibrated_cross(params),
        "calibrated-portfolio": calibrated_portfolio(params),
    }


def models_from_parameter_file(path: str | Path) -> dict[str, MarginModel]:
    """Load a parameter file (validated) and build its margin models."""
    return models_from_parameters(path)


def with_current_vol(model: Any, current_vol: Mapping[str, float]) -> Any:
    """A copy of a calibrated cross/portfolio model whose dynamic haircuts use new vol forecasts (annualised)."""
    from dataclasses import replace

    schedule = getattr(model, "haircuts", None)
    if not isinstance(schedule, DynamicHaircut):
        raise UnknownAssetError("model", getattr(model, "name", model), "has no dynamic haircut schedule")
    return replace(model, haircuts=schedule.with_current_vol(current_vol))


#: Environment variable naming the parameter file of the ``calibrated-*`` presets.
PARAMETER_FILE_ENV = "MARGINLAB_PARAMETER_FILE"


def _from_environment(name: str) -> MarginModel:
    import os

    from marginlab.exceptions import InputError

    path = os.environ.get(PARAMETER_FILE_ENV)
    if not path:
        raise InputError(PARAMETER_FILE_ENV, None, f"set it to a parameter file written by `marginlab calibrate` to use the {name!r} preset")
    return models_from_parameter_file(path)[name]


def _register() -> None:
    from marginlab.margin.presets import register

    descriptions = {
        "calibrated-isolated": ("isolated", "Calibrated IM/MM rates per asset from $MARGINLAB_PARAMETER_FILE (99% 2-day / 1-day moves)"),
        "calibrated-cross": ("cross", "Calibrated rates, one pool with dynamic volatility-scaled haircuts from $MARGINLAB_PARAMETER_FILE"),
        "calibrated-portfolio": ("portfolio", "Risk matrix with the calibrated scan range, vol shocks and extreme moves from $MARGINLAB_PARAMETER_FILE"),
    }
    from functools import partial

    for name, (family, description) in descriptions.items():
        register(name, family, description, partial(_from_environment, name))


_register()
