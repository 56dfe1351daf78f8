"""Pre-trade margin checks at speed: a precomputed per-instrument scenario P&L table.

A scenario-grid model revalues every instrument under every scenario; the account's P&L in a
scenario is then linear in the quantities. So once the account and the instruments a trader may
trade are revalued (:meth:`PretradeTable.build`, one full revaluation), a proposed trade is one
vector add per underlying and a minimum::

    pnl_a(s)  <- pnl_a(s) + q * unit_pnl_i(s)            (i the traded instrument, a its underlying)
    MM        =  mm_loss_factor * sum_a max(0, -min_s pnl_a(s)) + contingencies(net quantities)
    IM        =  im_loss_factor * sum_a max(0, -min_s pnl_a(s)) + contingencies (MM and IM parts)

with the futures/perpetual contingency on ``|net quantity| x index`` and the option contingency on
the net short quantity per (underlying, expiry, strike), as the engine takes them
(:class:`~marginlab.margin.risk_matrix.RiskMatrixModel`). This is exact for the grid's revaluation,
dampening and those contingencies; it leaves out what is not linear in the quantities -- Derive's
static discount and skew netting, the basis (forward) contingency, oracle-confidence and depeg
add-ons, collateral haircuts, the minimum charge -- and the revaluation of instruments not in the
table (they raise). CME publishes the same idea for SPAN 2 (a fast approximation for checks under
50 ms, with the full margin at the end of day).

:func:`what_if` uses the table and runs the full model when the approximate free margin after the
trade is within ``near`` (a fraction of the IM) of zero, or when the model has a feature the table
leaves out, so that an accept/reject decision near the threshold is always the full model's.
``benchmarks/pretrade.py`` measures the speed and the error against the full model on a book.

>>> from marginlab.account import Account
>>> from marginlab.instruments import Perpetual, Position
>>> from marginlab.margin.presets import get_model
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000}}})
>>> table = PretradeTable.build(get_model("deribit-pm"), Account([Position(Perpetual("BTC"), 1.0)], cash_usd=50_000), market)
>>> round(table.check([(Perpetual("BTC"), 1.0)]).maintenance_margin_usd, 2)   # 2 BTC x 16% x 0.8
25600.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from marginlab.account import Account
from marginlab.book import FUTURE, OPTION, PERPETUAL, Book
from marginlab.exceptions import InputError, ParameterError
from marginlab.instruments import Instrument, Position
from marginlab.margin.base import IncrementalMargin, MarginResult
from marginlab.margin.base import what_if as full_what_if
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.market import MarketSnapshot


def _unsupported(model: RiskMatrixModel) -> tuple[str, ...]:
    """The features of ``model`` the table leaves out (empty: the table reproduces the model)."""
    out = []
    if model.static_discount is not None:
        out.append("static discount")
    if model.skew_shock is not None or np.any(model.scenarios.vol_codes >= 2):
        out.append("skew scenarios")
    if model.basis_contingency is not None:
        out.append("basis contingency")
    if model.confidence is not None or model.depeg is not None:
        out.append("oracle / depeg add-ons")
    if model.collateral_haircuts:
        out.append("collateral haircuts")
    if model.minimum_charge_usd > 0:
        out.append("minimum charge")
    return tuple(out)


@dataclass(frozen=True)
class PretradeCheck:
    """The approximate margin of the account with a proposed trade."""

    initial_margin_usd: float
    maintenance_margin_usd: float
    equity_usd: float

    @property
    def free_margin_usd(self) -> float:
        """Equity minus initial margin after the trade."""
        return self.equity_usd - self.initial_margin_usd


@dataclass(frozen=True, eq=False)
class PretradeTable:
    """Per-instrument scenario P&L of one account's instruments and of the instruments it may trade.

    Build with :meth:`build`; :meth:`check` margins the account plus a trade in microseconds.

    Attributes
    ----------
    model : RiskMatrixModel
    symbols : tuple of str
        The instruments of the table, by row.
    unit_pnl : array (instruments x scenarios)
        Dampened P&L of one unit of each instrument in each scenario (USD).
    asset_pnl : array (underlyings x scenarios)
        The account's P&L per underlying in each scenario.
    """

    model: RiskMatrixModel
    symbols: tuple[str, ...]
    row_of: dict[str, int]
    unit_pnl: NDArray[np.float64]
    unit_mtm: NDArray[np.float64]
    asset_of: NDArray[np.int64]
    index_usd: NDArray[np.float64]
    is_linear: NDArray[np.bool_]
    strike_group: NDArray[np.int64]
    quantity: NDArray[np.float64]
    asset_pnl: NDArray[np.float64]
    equity_usd: float
    unsupported: tuple[str, ...] = field(default=())

    @classmethod
    def build(cls, model: RiskMatrixModel, account: Account, market: MarketSnapshot, candidates: Iterable[Instrument] = ()) -> "PretradeTable":
        """Revalue the account's instruments and ``candidates`` once under every scenario of ``model``."""
        if not isinstance(model, RiskMatrixModel):
            raise ParameterError("model", type(model).__name__, "the pre-trade table needs a risk-matrix model (scenario grid)")
        candidates = tuple(candidates)
        probe = Account(tuple(Position(i, 1.0) for i in candidates), account_id="__candidates__") if candidates else None
        accounts = [account, probe] if probe is not None else [account]
        book = Book.from_accounts(accounts, market)
        instruments = book.instruments
        prep = model.prepare_book(instruments)
        damp = model.scenarios.dampening_array
        unit_pnl = (prep.values - prep.base[:, None]) * damp[None, :]
        n = len(instruments)
        quantity = np.zeros(n)
        mine = book.account == 0
        np.add.at(quantity, book.instrument[mine], book.quantity[mine])
        kind = instruments.kind
        linear = (kind == PERPETUAL) | (kind == FUTURE)
        # a trade at the mark adds its value to equity (options, spot), nothing for futures and perpetuals (as Book.from_accounts)
        unit_mtm = np.where(linear, 0.0, prep.base)
        asset = instruments.asset.astype(np.int64)
        asset_pnl = np.zeros((max(len(instruments.assets), 1), unit_pnl.shape[1]))
        np.add.at(asset_pnl, asset, quantity[:, None] * unit_pnl)
        equity = float(book.mtm_usd[mine].sum() + book.cash_usd[0])
        symbols = tuple(str(s) for s in instruments.symbol)
        return cls(model, symbols, {s: k for k, s in enumerate(symbols)}, unit_pnl, unit_mtm, asset, np.asarray(instruments.index_usd, dtype=np.float64),
                   linear, np.where(kind == OPTION, prep.strike_group, -1).astype(np.int64), quantity, asset_pnl,
                   equity, _unsupported(model))

    def _rows(self, trade: Sequence[tuple[Instrument | str, float]]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        rows = np.empty(len(trade), dtype=np.int64)
        qty = np.empty(len(trade))
        for k, (instrument, q) in enumerate(trade):
            symbol = instrument if isinstance(instrument, str) else instrument.symbol
            row = self.row_of.get(symbol)
            if row is None:
                raise InputError("trade", symbol, "is not in the pre-trade table (pass it among the candidates of PretradeTable.build)")
            rows[k] = row
            qty[k] = float(q)
        return rows, qty

    def check(self, trade: Sequence[tuple[Instrument | str, float]]) -> PretradeCheck:
        """The margin of the account plus ``trade`` (pairs of instrument or symbol, signed quantity)."""
        rows, qty = self._rows(trade)
        pnl = self.asset_pnl.copy()
        np.add.at(pnl, self.asset_of[rows], qty[:, None] * self.unit_pnl[rows])
        scan = float(np.maximum(-pnl.min(axis=1), 0.0).sum()) if pnl.shape[1] else 0.0
        quantity = self.quantity.copy()
        np.add.at(quantity, rows, qty)
        model = self.model
        linear = float(np.sum(np.abs(quantity[self.is_linear]) * self.index_usd[self.is_linear]))
        naked = 0.0
        options = self.strike_group >= 0
        if np.any(options) and (model.option_contingency_mm or model.option_contingency_im):
            groups, where = np.unique(self.strike_group[options], return_inverse=True)
            net = np.bincount(where, weights=quantity[options], minlength=len(groups))
            index = np.zeros(len(groups))
            index[where] = self.index_usd[options]
            naked = float(np.sum(np.maximum(-net, 0.0) * index))
        mm_cont = linear * model.linear_contingency_mm + naked * model.option_contingency_mm
        im_cont = mm_cont + linear * model.linear_contingency_im + naked * model.option_contingency_im
        equity = self.equity_usd + float(np.sum(qty * self.unit_mtm[rows]))
        return PretradeCheck(model.im_loss_factor * scan + im_cont, model.mm_loss_factor * scan + mm_cont, equity)

    def check_many(self, rows: NDArray[np.int64], quantities: NDArray[np.float64]) -> NDArray[np.float64]:
        """Approximate IM after each of many one-instrument trades (row ``rows[k]``, quantity ``quantities[k]``), vectorised."""
        pnl = self.asset_pnl[self.asset_of[rows]] + quantities[:, None] * self.unit_pnl[rows]
        # the other underlyings' losses do not change
        unit_loss = np.maximum(-self.asset_pnl.min(axis=1), 0.0)
        others = unit_loss.sum() - unit_loss[self.asset_of[rows]]
        scan = others + np.maximum(-pnl.min(axis=1), 0.0)
        quantity_after = self.quantity[rows] + quantities
        model = self.model
        linear_before = float(np.sum(np.abs(self.quantity[self.is_linear]) * self.index_usd[self.is_linear]))
        linear = linear_before + np.where(self.is_linear[rows], (np.abs(quantity_after) - np.abs(self.quantity[rows])) * self.index_usd[rows], 0.0)
        if model.option_contingency_mm or model.option_contingency_im:
            raise ParameterError("model", model.name, "check_many covers models without an option contingency; use check()")
        return np.asarray(model.im_loss_factor * scan + linear * (model.linear_contingency_mm + model.linear_contingency_im), dtype=np.float64)


def _approximate_result(table: PretradeTable, check: PretradeCheck) -> MarginResult:
    components = pd.DataFrame([("approximate scan risk and contingencies", check.initial_margin_usd, check.maintenance_margin_usd,
                                "pre-trade table: per-instrument scenario P&L added to the account's (marginlab.margin.pretrade)")],
                              columns=["component", "initial_margin_usd", "maintenance_margin_usd", "explanation"])
    return MarginResult(table.model.name, check.initial_margin_usd, check.maintenance_margin_usd, check.equity_usd, pd.DataFrame(), components,
                        notes=("Approximate: the pre-trade table; the full model was not run (the decision is not near the threshold).",),
                        details={"approximate": True})


def what_if(model: RiskMatrixModel, account: Account, trade: Iterable[Position], market: MarketSnapshot, *, table: PretradeTable | None = None,
            near: float = 0.02) -> IncrementalMargin:
    """Incremental margin of ``trade`` from the pre-trade table, with the full model near the threshold.

    Parameters
    ----------
    model : RiskMatrixModel
    account : Account
    trade : iterable of Position
    market : MarketSnapshot
    table : PretradeTable, optional
        Built for ``account`` with the trade's instruments among its candidates (built here when not given).
    near : float
        The full model decides when the approximate free margin after the trade is within ``near`` x IM of zero.

    Returns
    -------
    IncrementalMargin
        ``after.details["approximate"]`` is True when the table decided.
    """
    trade = tuple(trade)
    if not (math.isfinite(near) and near >= 0):
        raise ParameterError("near", near, "must be a non-negative fraction of the initial margin")
    table = table or PretradeTable.build(model, account, market, [p.instrument for p in trade])
    if table.unsupported:
        return full_what_if(model, account, trade, market)
    check = table.check([(p.instrument, p.quantity) for p in trade])
    if abs(check.free_margin_usd) <= near * max(check.initial_margin_usd, 0.0) or table.model is not model:
        return full_what_if(model, account, trade, market)
    return IncrementalMargin(_approximate_result(table, table.check([])), _approximate_result(table, check))


__all__ = ["PretradeCheck", "PretradeTable", "what_if"]
