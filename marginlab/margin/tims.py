"""OCC's Theoretical Intermarket Margin System (TIMS) on the risk-matrix engine.

TIMS revalues every position at a set of valuation points (moves of its underlying) and then
offsets gains against losses at three levels of grouping:

**class group**
    the options and futures of one underlying and the underlying itself: gains offset losses
    at 100% (here: one class group per underlying asset, or several assets named together);
**product group**
    class groups of similar underlyings: at each valuation point, a class group's gain offsets
    the losses of the others at the product group's ``offset`` percentage;
**portfolio group**
    product groups of related markets: the product groups' gains offset each other's losses at the
    portfolio group's ``offset``.

At valuation point ``s``, with ``c_g(s)`` the P&L of class group ``g``::

    P(s) = sum_g min(c_g(s), 0) + offset_product * sum_g max(c_g(s), 0)        (product group)
    Q(s) = sum_p min(P_p(s), 0) + offset_portfolio * sum_p max(P_p(s), 0)      (portfolio group)
    requirement = sum over portfolio groups of max(0, -min_s Q(s))

(a product group outside any portfolio group stands alone: ``Q = P``; a class group outside any
product group likewise). The offsets are applied point by point, so that only gains and losses that
occur in the same market move offset each other; the valuation points are the scenarios of the
engine's grid, applied to every underlying at once (the move of a class group is its asset's spot
scale times the grid's move, :attr:`RiskMatrixModel.asset_spot_scale`).

Sources: the grouping and offsets of TIMS as OCC describes them (OCC, "Theoretical Intermarket
Margin System (TIMS) Methodology, RBH and CPM User Guide", v1.13, November 2021; "P&L offsets:
class group, product group, portfolio group", themargininvestor.com); the valuation points of FINRA
Rule 4210(g)(2)(F) (10 equidistant points over the range of the product: +-15% for equities). The
group tables are data: ``venues/tims-example.yaml`` (assumed crypto offsets, none published).

>>> from marginlab.margin.presets import get_model
>>> model = get_model("tims-example")
>>> model.product_of_class["BTC"], model.product_offsets["crypto-majors"]
('crypto-majors', 0.5)
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
from marginlab.book import STATIC, Book, InstrumentTable
from marginlab.exceptions import ParameterError
from marginlab.margin.base import BookMarginTotals, MarginModel, MarginResult
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.market import MarketSnapshot


def group_pnl(class_pnl: NDArray[np.float64], groups: NDArray[np.int64], n_groups: int, offsets: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(accounts x groups x scenarios)`` P&L of groups from ``(accounts x members x scenarios)`` member P&L.

    Member ``k`` belongs to group ``groups[k]``; a group's P&L is the sum of its members' losses plus
    ``offsets[group]`` times the sum of their gains, scenario by scenario.

    >>> pnl = np.array([[[-100.0, 40.0], [60.0, -10.0]]])     # 1 account, 2 members, 2 scenarios
    >>> group_pnl(pnl, np.array([0, 0]), 1, np.array([0.5])).tolist()
    [[[-70.0, 10.0]]]
    """
    losses = np.minimum(class_pnl, 0.0)
    gains = np.maximum(class_pnl, 0.0)
    out = np.zeros((class_pnl.shape[0], n_groups, class_pnl.shape[2]))
    for member in range(class_pnl.shape[1]):
        g = int(groups[member])
        out[:, g, :] += losses[:, member, :] + offsets[g] * gains[:, member, :]
    return out


@dataclass(frozen=True)
class TimsModel(MarginModel):
    """TIMS: class, product and portfolio groups with percentage offsets over a risk-matrix engine.

    Parameters
    ----------
    engine : RiskMatrixModel
        Valuation points (grid, vol shock, per-asset spot scales); its loss factors set MM and IM
        (``mm_loss_factor``, ``im_loss_factor``) and its contingencies are not used.
    class_of_asset : mapping asset -> class group
        Assets not listed form their own class group (named after the asset).
    product_of_class : mapping class group -> product group
        Class groups not listed form their own product group (offset 0).
    product_offsets : mapping product group -> offset in [0, 1]
    portfolio_of_product : mapping product group -> portfolio group
    portfolio_offsets : mapping portfolio group -> offset in [0, 1]
    preset_name : str
    """

    family: ClassVar[str] = "portfolio"

    engine: RiskMatrixModel
    class_of_asset: Mapping[str, str] = field(default_factory=dict)
    product_of_class: Mapping[str, str] = field(default_factory=dict)
    product_offsets: Mapping[str, float] = field(default_factory=dict)
    portfolio_of_product: Mapping[str, str] = field(default_factory=dict)
    portfolio_offsets: Mapping[str, float] = field(default_factory=dict)
    preset_name: str = ""

    def __post_init__(self) -> None:
        for name in ("product_offsets", "portfolio_offsets"):
            for group, value in getattr(self, name).items():
                if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1):
                    raise ParameterError(f"{name}[{group}]", value, "must be a fraction in [0, 1]")
        for product in self.product_of_class.values():
            if product not in self.product_offsets:
                raise ParameterError("product_of_class", product, "names a product group without an offset in product_offsets")
        for portfolio in self.portfolio_of_product.values():
            if portfolio not in self.portfolio_offsets:
                raise ParameterError("portfolio_of_product", portfolio, "names a portfolio group without an offset in portfolio_offsets")

    # -- grouping ----------------------------------------------------------------------------
    def groups_of(self, assets: list[str]) -> tuple[list[str], list[str], list[str], dict[str, int], dict[str, int], dict[str, int]]:
        """Class, product and portfolio group names present for ``assets``, and the index maps."""
        classes = list(dict.fromkeys(self.class_of_asset.get(a, a) for a in assets))
        products = list(dict.fromkeys(self.product_of_class.get(c, f"class:{c}") for c in classes))
        portfolios = list(dict.fromkeys(self.portfolio_of_product.get(p, f"product:{p}") for p in products))
        return (classes, products, portfolios, {c: i for i, c in enumerate(classes)}, {p: i for i, p in enumerate(products)},
                {q: i for i, q in enumerate(portfolios)})

    def _levels(self, book: Book, prepared: Any = None) -> dict[str, Any]:
        instruments = book.instruments
        inst = book.instrument
        moving = instruments.kind[inst] != STATIC
        assets = [instruments.assets[a] for a in np.unique(instruments.asset[inst[moving]])]
        classes, products, portfolios, ci, pi, qi = self.groups_of(assets)
        n, n_s = book.n_accounts, len(self.engine.scenarios)
        prep = self.engine.prepare_book(instruments) if prepared is None else prepared
        class_pnl = np.zeros((n, len(classes), n_s))
        for asset in assets:
            rows = moving & (np.asarray(instruments.assets, dtype=object)[instruments.asset[inst]] == asset)
            sub = Book(instruments, book.account[rows], inst[rows], book.quantity[rows], book.mtm_usd[rows], np.zeros(n), book.stable_price,
                       book.account_ids)
            pnl = self.engine.margin_book(sub, keep_scenarios=True, prepared=prep).scenario_pnl_usd
            assert pnl is not None
            class_pnl[:, ci[self.class_of_asset.get(asset, asset)], :] += pnl
        product_of = np.asarray([pi[self.product_of_class.get(c, f"class:{c}")] for c in classes], dtype=np.int64)
        product_offset = np.asarray([self.product_offsets.get(p, 0.0) for p in products], dtype=np.float64)
        product_pnl = group_pnl(class_pnl, product_of, len(products), product_offset)
        portfolio_of = np.asarray([qi[self.portfolio_of_product.get(p, f"product:{p}")] for p in products], dtype=np.int64)
        portfolio_offset = np.asarray([self.portfolio_offsets.get(q, 0.0) for q in portfolios], dtype=np.float64)
        portfolio_pnl = group_pnl(product_pnl, portfolio_of, len(portfolios), portfolio_offset)
        loss = np.maximum(-portfolio_pnl.min(axis=2), 0.0) if n_s else np.zeros((n, len(portfolios)))
        worst = portfolio_pnl.argmin(axis=2) if n_s else np.zeros((n, len(portfolios)), dtype=np.int64)
        equity = np.bincount(book.account, weights=book.mtm_usd, minlength=n) + book.cash_usd
        return {"classes": classes, "products": products, "portfolios": portfolios, "class_pnl": class_pnl, "product_pnl": product_pnl,
                "portfolio_pnl": portfolio_pnl, "loss": loss, "worst": worst, "equity": equity}

    # -- the book protocol ------------------------------------------------------------------
    @property
    def book_vectorised(self) -> bool:
        """Always True."""
        return True

    def prepare_book(self, instruments: InstrumentTable, *, as_of: Any = None) -> Any:
        """The engine's revaluation of every instrument at every valuation point (``as_of`` unused)."""
        return self.engine.prepare_book(instruments)

    def margin_book(self, book: Book, *, prepared: Any = None) -> BookMarginTotals:
        """TIMS requirement of every account: one engine call per underlying, the offsets vectorised over accounts.
        Components ``"<portfolio group> loss"`` per account."""
        out = self._levels(book, prepared)
        total = out["loss"].sum(axis=1)
        components = {f"{q} loss": out["loss"][:, k] for k, q in enumerate(out["portfolios"])}
        return BookMarginTotals(self.name, book.account_ids, self.engine.im_loss_factor * total, self.engine.mm_loss_factor * total,
                                out["equity"], components).check_finite()

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        """The one-account case of :meth:`margin_book`, with the P&L of every group at every valuation point."""
        account.require_positions()
        book = Book.from_accounts([account], market)
        out = self._levels(book)
        grid = self.engine.scenarios.frame()
        scenarios = grid.copy()
        for level, names in (("class", out["classes"]), ("product", out["products"]), ("portfolio", out["portfolios"])):
            values = out[f"{level}_pnl"][0]
            for k, name in enumerate(names):
                scenarios[f"{level} {name} pnl_usd"] = values[k]
        scenarios["pnl_usd"] = out["portfolio_pnl"][0].sum(axis=0)
        loss = out["loss"][0]
        mm, im = self.engine.mm_loss_factor, self.engine.im_loss_factor
        rows = [(f"{q} (portfolio group)", im * float(loss[k]), mm * float(loss[k]),
                 f"worst valuation point: {self.engine.scenarios.label(int(out['worst'][0, k]))}") for k, q in enumerate(out["portfolios"])]
        components = pd.DataFrame(rows, columns=["component", "initial_margin_usd", "maintenance_margin_usd", "explanation"])
        total = float(loss.sum())
        notes = ("Class groups net at 100%; within a product group and then a portfolio group, gains offset losses at the group's "
                 "offset percentage, valuation point by valuation point.",)
        positions = pd.DataFrame({"symbol": [p.instrument.symbol for p in account.positions], "underlying": [p.underlying for p in account.positions],
                                  "quantity": [p.quantity for p in account.positions],
                                  "class_group": [self.class_of_asset.get(p.underlying, p.underlying) for p in account.positions]})
        return MarginResult(self.name, im * total, mm * total, float(out["equity"][0]), positions,
                            components, scenarios, {"worst_valuation_points": out["worst"][0].tolist()}, notes)

    def describe(self) -> str:
        """The groups and offsets in one sentence."""
        products = "; ".join(f"{p} ({self.product_offsets[p]:.0%}): {', '.join(c for c, q in self.product_of_class.items() if q == p)}"
                             for p in self.product_offsets)
        portfolios = "; ".join(f"{q} ({self.portfolio_offsets[q]:.0%}): {', '.join(p for p, r in self.portfolio_of_product.items() if r == q)}"
                               for q in self.portfolio_offsets)
        grid = self.engine.scenarios
        return (f"TIMS over {len(grid)} valuation points (spot {100 * (min(grid.spot_shock) - 1):+.1f}%..{100 * (max(grid.spot_shock) - 1):+.1f}%); "
                f"product groups {products or 'none'}; portfolio groups {portfolios or 'none'}")


__all__ = ["TimsModel", "group_pnl"]
