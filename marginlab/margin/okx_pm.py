"""OKX portfolio margin (worked example G, parameters of 2025) on the risk-matrix engine.

Per risk unit (underlying)::

    MMR = max( max(MR1, MR2, MR6) + MR3 + MR4 + MR5 , MR7 )       IMR = im_multiplier * MMR

* **MR1** spot shock: the worst loss over spot moves 0, +-a, +-2a, +-3a by asset (published:
  BTC/ETH +-0/4/8/12%; LTC, BCH, EOS, OKB, DOT, BSV, LINK, FIL, ADA, TRX, UNI, XRP +-0/6/12/18%;
  others +-0/8/16/25%), each with the implied vol up, unchanged and down (``vol_shock``).
* **MR2** time decay: the loss of the risk unit when every option is revalued ``theta_days``
  later at unchanged spot and vol (the grid's time dimension).
* **MR3** vega term structure: with ``v_e`` the net vega of expiry ``e`` and
  ``m_e = (30 / DTE_e)^term_power`` the term factor, ``MR3 = term_vol_move * (sum_e |v_e m_e| - |sum_e v_e m_e|)``:
  zero for one expiry (its vega is in MR1's vol scenarios), positive for calendar vega spreads
  whose legs do not move in parallel.
* **MR4** basis: annualised basis move ``b`` (BTC/ETH 5%, the SOL/DOGE list 15%, others 30%) times
  each expiry's years to expiry times the absolute net forward-delta notional of that expiry.
* **MR5** interest rate: the worst loss when the rate used to price options moves by
  ``+-rate_move`` (the grid's rate dimension) at unchanged spot and vol.
* **MR6** extreme move: BTC/ETH +-24%, SOL, DOGE, PEPE, XRP, BNB, SHIB, LTC, ORDI, WLD, BCH, ADA
  +-36%, others +-50%, counted at ``extreme_weight``.
* **MR7** minimum charge: ``minimum_charge_rate * multiplier(size) * gross notional`` with the
  size-tier multipliers of G (<= 10k x1, <= 70k x2, <= 170k x4, <= 300k x6, <= 470k x8,
  <= 700k x10, above x12).

The tables live in ``venues/okx-pm.yaml`` with their source (OKX, "OKX will further adjust
portfolio margin parameters", January 2025) and the values the sources do not give, marked
``assumed`` there: the MR1 vol shock sizes, the MR2 horizon, the MR3 term move and power, the MR5
rate move, the MR6 weight, the MR7 base rate and size unit, and the IMR multiplier.

>>> from marginlab.margin.presets import okx_pm
>>> model = okx_pm()
>>> model.price_moves_for("BTC"), model.extreme_move_for("SOL"), model.price_moves_for("SOL")
((0.04, 0.08, 0.12), 0.36, (0.08, 0.16, 0.25))
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
from marginlab.book import FUTURE, OPTION, STATIC, Book, InstrumentTable
from marginlab.exceptions import FileFormatError, ParameterError
from marginlab.instruments import Future, Option, Position
from marginlab.margin.base import BookMarginResult, MarginModel, MarginResult
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.margin.scenarios import ScenarioGrid, VolShock, vol_shock_from_data
from marginlab.market import SECONDS_PER_YEAR, MarketSnapshot
from marginlab.pricing import black76_greeks
from marginlab.valuation import net_positions

#: Key of the entry applied to assets without their own.
DEFAULT = "*"
#: A single MR7 tier of multiplier 1 (the neutral default; the venue's tiers are in ``venues/okx-pm.yaml``).
NO_SIZE_TIERS: tuple[tuple[float, float], ...] = ((math.inf, 1.0),)


def size_multiplier(size: float, tiers: tuple[tuple[float, float], ...] = NO_SIZE_TIERS) -> float:
    """MR7 multiplier of a position size (first tier whose upper bound is >= size).

    >>> tiers = ((10_000, 1), (70_000, 2), (float("inf"), 12))
    >>> size_multiplier(10_000, tiers), size_multiplier(10_001, tiers), size_multiplier(1e9, tiers)
    (1.0, 2.0, 12.0)
    """
    for bound, multiplier in tiers:
        if size <= bound:
            return float(multiplier)
    return float(tiers[-1][1])


def _per_asset(table: Mapping[str, Any], asset: str, name: str) -> Any:
    if asset in table:
        return table[asset]
    if DEFAULT in table:
        return table[DEFAULT]
    raise ParameterError(name, asset, f"has no entry and no default '*' (known: {sorted(table)})")


@dataclass(frozen=True)
class OkxPortfolioMarginModel(MarginModel):
    """OKX portfolio margin (see the module docstring for MR1..MR7).

    Parameters
    ----------
    price_moves : mapping asset -> tuple of float
        MR1 positive moves per asset (``"*"`` default), e.g. ``(0.04, 0.08, 0.12)``.
    extreme_moves, basis_moves : mapping asset -> float
        MR6 extreme move and MR4 annual basis move per asset (``"*"`` default).
    extreme_weight : float
        Weight of the MR6 loss.
    vol_shock : VolShock, optional
        MR1 vol up/down scenarios (``None``: vols unchanged).
    theta_days : float
        MR2 horizon in days (0 switches MR2 off).
    term_vol_move, term_power : float
        MR3 absolute vol move at 30 days and the exponent of ``(30 / DTE)``.
    rate_move : float
        MR5 additive rate move (0 switches MR5 off).
    minimum_charge_rate : float
        MR7 base rate of gross notional.
    size_tiers : tuple of (upper size USD, multiplier)
    im_multiplier : float
    """

    family: ClassVar[str] = "portfolio"

    # no venue numbers here: the OKX tables are in venues/okx-pm.yaml (okx_pm() builds from it)
    price_moves: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    extreme_moves: Mapping[str, float] = field(default_factory=dict)
    basis_moves: Mapping[str, float] = field(default_factory=dict)
    extreme_weight: float = 1.0
    vol_shock: VolShock | None = None
    theta_days: float = 0.0
    term_vol_move: float = 0.0
    term_power: float = 0.5
    rate_move: float = 0.0
    minimum_charge_rate: float = 0.0
    size_tiers: tuple[tuple[float, float], ...] = NO_SIZE_TIERS
    im_multiplier: float = 1.0
    preset_name: str = ""

    def __post_init__(self) -> None:
        for name in ("extreme_weight", "minimum_charge_rate", "im_multiplier", "theta_days", "term_vol_move", "term_power", "rate_move"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ParameterError(name, value, "must be a finite non-negative number")
        for name in ("price_moves", "extreme_moves", "basis_moves"):
            table = getattr(self, name)
            for asset, value in table.items():
                values = value if isinstance(value, tuple | list) else (value,)
                if not values or not all(math.isfinite(float(v)) and 0 <= float(v) < 1 for v in values):
                    raise ParameterError(f"{name}[{asset}]", value, "moves must be fractions in [0, 1)")

    def price_moves_for(self, asset: str) -> tuple[float, ...]:
        return tuple(float(v) for v in _per_asset(self.price_moves, asset, "price_moves"))

    def extreme_move_for(self, asset: str) -> float:
        return float(_per_asset(self.extreme_moves, asset, "extreme_moves"))

    def basis_move_for(self, asset: str) -> float:
        return float(_per_asset(self.basis_moves, asset, "basis_moves"))

    def engine_for(self, asset: str) -> RiskMatrixModel:
        """The risk-matrix engine of one underlying: MR1 grid (x vol scenarios), the two MR6 moves,
        the MR2 time-decay scenario and the two MR5 rate scenarios (families MR1, MR6, MR2, MR5)."""
        moves = sorted({0.0, *self.price_moves_for(asset), *(-g for g in self.price_moves_for(asset))})
        vols = ("none",) if self.vol_shock is None else ("up", "none", "down")
        spot: list[float] = []
        vol: list[str] = []
        damp: list[float] = []
        family: list[str] = []
        for move in moves:
            for v in vols:
                spot.append(1.0 + move)
                vol.append(v)
                damp.append(1.0)
                family.append("MR1")
        extreme = self.extreme_move_for(asset)
        for move in (-extreme, extreme):
            spot.append(1.0 + move)
            vol.append("none")
            damp.append(self.extreme_weight)
            family.append("MR6")
        grid = ScenarioGrid(tuple(spot), tuple(vol), tuple(damp), tuple(family))
        return RiskMatrixModel(grid, self.vol_shock or VolShock(), preset_name=self.name)

    def _side_engine(self, horizon_days: float, rate_moves: tuple[float, ...]) -> RiskMatrixModel:
        grid = ScenarioGrid((1.0,), ("none",), (1.0,), ("base",)).with_time_and_rates(horizon_days, rate_moves)
        return RiskMatrixModel(grid, preset_name=self.name)

    # -- the book protocol (marginlab.margin.base.BookMarginModel) ----------------------------
    @property
    def book_vectorised(self) -> bool:
        """Always True: every configuration margins a book in vectorised calls."""
        return True

    def prepare_book(self, instruments: InstrumentTable, *, as_of: Any = None) -> dict[str, Any]:
        """Per underlying with positions in the table: its MR1/MR6 engine and the prepared revaluation of
        every instrument (and the MR2/MR5 side engines); option deltas and vegas for MR3/MR4
        (``as_of`` is not used: the parameters are not dated)."""
        kind = instruments.kind
        years = instruments.seconds / SECONDS_PER_YEAR
        delta = np.where(kind == FUTURE, 1.0, 0.0)
        vega = np.zeros(len(instruments))
        option = kind == OPTION
        if np.any(option):
            greeks = black76_greeks(instruments.forward_usd[option], instruments.strike_usd[option], years[option], instruments.vol[option],
                                    instruments.rate[option], instruments.is_call[option])
            delta[option] = greeks.delta
            vega[option] = greeks.vega
        engines: dict[str, tuple[RiskMatrixModel, Any]] = {}
        sides: dict[str, tuple[RiskMatrixModel, Any]] = {}
        for a in np.unique(instruments.asset[kind != STATIC]):
            asset = instruments.assets[a]
            engine = self.engine_for(asset)
            engines[asset] = (engine, engine.prepare_book(instruments))
        if self.theta_days > 0 and engines:
            side = self._side_engine(self.theta_days, ())
            sides["MR2"] = (side, side.prepare_book(instruments))
        if self.rate_move > 0 and engines:
            side = self._side_engine(0.0, (self.rate_move, -self.rate_move))
            sides["MR5"] = (side, side.prepare_book(instruments))
        return {"instruments": instruments, "engines": engines, "sides": sides, "delta": delta, "vega": vega, "years": years}

    def margin_book(self, book: Book, *, prepared: dict[str, Any] | None = None) -> BookMarginResult:
        """OKX PM requirement of every account of ``book``, vectorised over accounts (same totals as :meth:`margin`).

        Per underlying, the MR1/MR6 (and MR2, MR5) scenario P&L of every account comes from one
        risk-matrix ``margin_book`` call on the underlying's rows; MR3 and MR4 are sums per (account,
        expiry), MR7 the tiered charge of each account's gross notional. Collateral rows
        (:data:`~marginlab.book.STATIC`) are not risk-charged but count in equity.
        Components ``"<asset> MR1"`` ... ``"<asset> MR7"`` and ``"<asset> MMR"`` per account.

        >>> from marginlab.book import InstrumentTable, PERPETUAL
        >>> table = InstrumentTable.build(["BTC-PERP"], [PERPETUAL], ["BTC"], price_usd=[100_000.0])
        >>> book = Book.build(table, account=[0, 1], instrument=[0, 0], quantity=[1.0, -2.0], n_accounts=3)
        >>> from marginlab.margin.presets import okx_pm
        >>> okx_pm().margin_book(book).components["BTC MMR"].tolist()   # MR6: 24% of the notional
        [24000.0, 48000.0, 0.0]
        """
        instruments = book.instruments
        prep = self.prepare_book(instruments) if prepared is None else prepared
        n = book.n_accounts
        inst = book.instrument
        kind = instruments.kind[inst]
        moving = kind != STATIC
        row_asset = instruments.asset[inst]
        equity = np.bincount(book.account, weights=book.mtm_usd, minlength=n) + book.cash_usd
        total = np.zeros(n)
        components: dict[str, NDArray[np.float64]] = {}
        bounds = np.asarray([b for b, _ in self.size_tiers], dtype=np.float64)
        multipliers = np.asarray([m for _, m in self.size_tiers], dtype=np.float64)
        for a in np.unique(row_asset[moving]):
            asset = instruments.assets[a]
            rows = moving & (row_asset == a)
            sub = Book(instruments, book.account[rows], inst[rows], book.quantity[rows], book.mtm_usd[rows], np.zeros(n), book.stable_price, book.account_ids)
            engine, engine_prep = prep["engines"][asset]
            pnl = engine.margin_book(sub, keep_scenarios=True, prepared=engine_prep).scenario_pnl_usd
            assert pnl is not None
            is_mr1 = np.asarray(engine.scenarios.family) == "MR1"
            mr1 = np.maximum(-pnl[:, is_mr1].min(axis=1), 0.0)
            mr6 = np.maximum(-pnl[:, ~is_mr1].min(axis=1), 0.0)
            mr2 = np.zeros(n)
            mr5 = np.zeros(n)
            if "MR2" in prep["sides"]:
                side, side_prep = prep["sides"]["MR2"]
                decay = side.margin_book(sub, keep_scenarios=True, prepared=side_prep).scenario_pnl_usd
                assert decay is not None
                mr2 = np.maximum(-decay[:, 0], 0.0)
            if "MR5" in prep["sides"]:
                side, side_prep = prep["sides"]["MR5"]
                rates = side.margin_book(sub, keep_scenarios=True, prepared=side_prep).scenario_pnl_usd
                assert rates is not None
                mr5 = np.maximum(-rates[:, 1:].min(axis=1), 0.0)
            # MR3 and MR4 per (account, expiry)
            dated = rows & ((kind == FUTURE) | (kind == OPTION))
            mr3: NDArray[np.float64] = np.zeros(n)
            mr4: NDArray[np.float64] = np.zeros(n)
            if np.any(dated):
                d_inst = inst[dated]
                expiries, expiry = np.unique(instruments.seconds[d_inst], return_inverse=True)
                key = book.account[dated] * np.int64(len(expiries)) + expiry.reshape(-1)
                keys, group = np.unique(key, return_inverse=True)
                g_acc = keys // len(expiries)
                g_years = prep["years"][d_inst][np.unique(group, return_index=True)[1]]
                qty = book.rule_size[dated]  # coins (an inverse contract: face / mark)
                basis = np.bincount(group, weights=qty * prep["delta"][d_inst] * instruments.forward_usd[d_inst], minlength=len(keys))
                vega = np.bincount(group, weights=qty * prep["vega"][d_inst], minlength=len(keys))
                mr4 = np.asarray(self.basis_move_for(asset) * np.bincount(g_acc, weights=g_years * np.abs(basis), minlength=n), dtype=np.float64)
                weighted = vega * (30.0 / np.maximum(g_years * 365.0, 1.0)) ** self.term_power
                mr3 = np.asarray(self.term_vol_move * (np.bincount(g_acc, weights=np.abs(weighted), minlength=n)
                                                       - np.abs(np.bincount(g_acc, weights=weighted, minlength=n))), dtype=np.float64)
            index_usd = float(instruments.index_usd[inst[rows]][0])
            gross = np.bincount(book.account[rows], weights=np.abs(book.rule_size[rows]), minlength=n) * index_usd
            tier = np.minimum(np.searchsorted(bounds, gross, side="left"), len(bounds) - 1)
            mr7 = self.minimum_charge_rate * multipliers[tier] * gross
            mmr = np.maximum(np.maximum(np.maximum(mr1, mr2), mr6) + mr3 + mr4 + mr5, mr7)
            total += mmr
            for name, values in (("MR1", mr1), ("MR2", mr2), ("MR3", mr3), ("MR4", mr4), ("MR5", mr5), ("MR6", mr6), ("MR7", mr7), ("MMR", mmr)):
                components[f"{asset} {name}"] = values
        return BookMarginResult(self.name, book.account_ids, self.im_multiplier * total, total, equity, components).check_finite()

    def describe(self) -> str:
        """The configuration in one sentence (assets grouped by value)."""

        def grouped(table: Mapping[str, Any], fmt: Any) -> str:
            groups: dict[str, list[str]] = {}
            for asset, value in table.items():
                groups.setdefault(fmt(value), []).append(asset)
            return "; ".join(f"{'/'.join(assets)} {text}" for text, assets in groups.items())

        moves = grouped(self.price_moves, lambda v: "+-" + "/".join(f"{m:.0%}" for m in v))
        return (f"OKX PM: MR1 {moves} (vol shock {'on' if self.vol_shock else 'off'}); MR2 after {self.theta_days:g} days; "
                f"MR3 {self.term_vol_move:g} vol x (30/DTE)^{self.term_power:g}; MR4 {grouped(self.basis_moves, lambda v: f'{v:.0%}/year')}; "
                f"MR5 rate +-{self.rate_move:.2%}; MR6 {grouped(self.extreme_moves, lambda v: f'+-{v:.0%}')} x {self.extreme_weight:g}; "
                f"MR7 {self.minimum_charge_rate:g} x tier multiplier; IMR = {self.im_multiplier:g} x MMR")

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        account.require_positions()
        rows = []
        scenario_tables = []
        position_tables = []
        total_mm = 0.0
        for asset in account.underlyings:
            engine = self.engine_for(asset)
            sub = Account(tuple(p for p in account.positions if p.underlying == asset), account_id=account.account_id)
            book = Book.from_accounts([sub], market)
            result = engine.result_from_book(book, 0)
            assert result.scenarios is not None
            scenarios = result.scenarios.assign(underlying=asset)
            pnl = scenarios["pnl_usd"].to_numpy()
            is_mr1 = (scenarios["family"] == "MR1").to_numpy()
            mr1 = max(0.0, -float(np.min(pnl[is_mr1])))
            mr6 = max(0.0, -float(np.min(pnl[~is_mr1])))
            mr2 = mr5 = 0.0
            if self.theta_days > 0:  # MR2: time dimension of the grid, spot and vol unchanged
                decay = self._side_engine(self.theta_days, ()).result_from_book(book, 0).scenarios
                assert decay is not None
                mr2 = max(0.0, -float(decay["pnl_usd"].iloc[0]))
                scenario_tables.append(decay.assign(underlying=asset, family="MR2"))
            if self.rate_move > 0:  # MR5: rate dimension of the grid, now, spot and vol unchanged
                rates = self._side_engine(0.0, (self.rate_move, -self.rate_move)).result_from_book(book, 0).scenarios
                assert rates is not None
                mr5 = max(0.0, -float(rates["pnl_usd"].iloc[1:].min()))
                scenario_tables.append(rates.iloc[1:].assign(underlying=asset, family="MR5"))
            scenario_tables.append(scenarios)
            position_tables.append(result.positions)
            # MR3 and MR4 per expiry
            basis_by_expiry: dict[object, float] = {}
            years_by_expiry: dict[object, float] = {}
            vega_by_expiry: dict[object, float] = {}
            netted = net_positions(sub.positions)  # identical instruments once (engines net before building arrays)
            for instrument, quantity in zip(netted.instruments, netted.net_quantity.tolist()):
                if quantity != 0 and isinstance(instrument, Future | Option):
                    years = market.time_to_expiry_years(instrument.expiry)
                    forward = market.forward_usd(asset, instrument.expiry)
                    coins = Position(instrument, quantity).coin_quantity(forward)  # inverse: face / forward
                    delta = 1.0
                    if isinstance(instrument, Option):
                        vol = market.vol(asset, instrument.expiry, instrument.strike_usd)
                        greeks = black76_greeks(forward, instrument.strike_usd, years, vol, market.rate, instrument.is_call)
                        delta = float(greeks.delta)
                        vega_by_expiry[instrument.expiry] = vega_by_expiry.get(instrument.expiry, 0.0) + coins * float(greeks.vega)
                    basis_by_expiry[instrument.expiry] = basis_by_expiry.get(instrument.expiry, 0.0) + coins * delta * forward
                    years_by_expiry[instrument.expiry] = years
            basis_move = self.basis_move_for(asset)
            mr4 = basis_move * sum(years_by_expiry[e] * abs(v) for e, v in basis_by_expiry.items())
            weighted = [v * (30.0 / max(years_by_expiry[e] * 365.0, 1.0)) ** self.term_power for e, v in vega_by_expiry.items()]
            mr3 = self.term_vol_move * (sum(abs(w) for w in weighted) - abs(sum(weighted)))
            index_usd = market.index_usd(asset)
            gross = float(sum(abs(Position(i, q).coin_quantity(index_usd)) for i, q in zip(netted.instruments, netted.net_quantity.tolist()) if q != 0)
                          * index_usd)
            mr7 = self.minimum_charge_rate * size_multiplier(gross, self.size_tiers) * gross
            mmr = max(max(mr1, mr2, mr6) + mr3 + mr4 + mr5, mr7)
            total_mm += mmr
            moves = self.price_moves_for(asset)
            rows += [
                (f"{asset} MR1 price grid", mr1, f"worst loss over spot moves 0, +-{', +-'.join(f'{g:.0%}' for g in moves)}"
                 + (" x vol up/none/down" if self.vol_shock else "")),
                (f"{asset} MR2 time decay", mr2, f"loss of options revalued {self.theta_days:g} days later at unchanged spot and vol"),
                (f"{asset} MR3 vega term structure", mr3, f"{self.term_vol_move:g} x (sum |vega_e m_e| - |sum vega_e m_e|), m_e = (30/DTE)^{self.term_power:g}"),
                (f"{asset} MR4 basis", mr4, f"{basis_move:.0%} annual basis move x years x |net delta notional| per expiry"),
                (f"{asset} MR5 interest rate", mr5, f"worst loss for a rate move of +-{self.rate_move:.2%}"),
                (f"{asset} MR6 extreme move", mr6, f"worst loss at +-{self.extreme_move_for(asset):.0%} x weight {self.extreme_weight:g}"),
                (f"{asset} MR7 minimum charge", mr7, f"{self.minimum_charge_rate:g} x tier multiplier x gross notional {gross:,.2f} USD"),
                (f"{asset} MMR", mmr, "max(max(MR1, MR2, MR6) + MR3 + MR4 + MR5, MR7)"),
            ]
        equity = Book.from_accounts([account], market).mtm_usd.sum() + account.cash_usd
        components = pd.DataFrame(rows, columns=["component", "maintenance_margin_usd", "explanation"])
        components.insert(1, "initial_margin_usd", components["maintenance_margin_usd"] * self.im_multiplier)
        components = components[components["component"].str.endswith("MMR")].reset_index(drop=True)
        details = {"breakdown": pd.DataFrame(rows, columns=["component", "usd", "explanation"])}
        return MarginResult(self.name, self.im_multiplier * total_mm, total_mm, float(equity), pd.concat(position_tables, ignore_index=True), components,
                            pd.concat(scenario_tables, ignore_index=True), details,
                            ("MMR per underlying = max(max(MR1, MR2, MR6) + MR3 + MR4 + MR5, MR7); see details['breakdown'].",))


def okx_model_from_data(spec: Any) -> OkxPortfolioMarginModel:
    """Build the model from a venue file (``engine: okx_pm``): classes with asset lists expand to per-asset tables."""
    p = spec.parameters

    def expand(section: str, value_key: str) -> dict[str, Any]:
        classes = p.get(section)
        if not isinstance(classes, Mapping) or not classes:
            raise FileFormatError(f"{spec.name}.parameters.{section}: expected a mapping of classes with 'assets' and '{value_key}'")
        out: dict[str, Any] = {}
        for name, entry in classes.items():
            if value_key not in entry:
                raise FileFormatError(f"{spec.name}.parameters.{section}.{name}: missing {value_key!r}")
            value = entry[value_key]
            value = tuple(float(v) for v in value) if isinstance(value, list) else float(value)
            for asset in entry.get("assets") or [DEFAULT]:
                out[str(asset)] = value
        return out

    vol = p.get("mr1_vol_shock")
    mr7 = p.get("mr7") or {}
    for key, table in (("mr7.base_rate", mr7), ("mr7.size_tiers", mr7), ("im_multiplier", p)):
        if key.rsplit(".", 1)[-1] not in table:
            raise FileFormatError(f"{spec.name}.parameters.{key}: missing (the venue file states every OKX number)")
    tiers = tuple((float(u), float(m)) for u, m in mr7["size_tiers"])
    return OkxPortfolioMarginModel(
        expand("mr1", "moves"), expand("mr6", "move"), expand("mr4", "annual_move"), float(p.get("mr6_weight", 1.0)),
        None if vol is None else vol_shock_from_data(vol, f"{spec.name}.parameters.mr1_vol_shock"),
        float((p.get("mr2") or {}).get("days", 0.0)), float((p.get("mr3") or {}).get("vol_move", 0.0)), float((p.get("mr3") or {}).get("power", 0.5)),
        float((p.get("mr5") or {}).get("rate_move", 0.0)), float(mr7["base_rate"]), tiers, float(p["im_multiplier"]), spec.name,
    )
