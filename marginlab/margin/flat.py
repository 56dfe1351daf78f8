"""The flat-rate margin model: fixed rates of gross notional, equity at market.

The simplest model that margins a whole book; a reference for examples and tests of the liquidation
machinery (:mod:`marginlab.liquidation`), not a venue model.

>>> from marginlab.account import Account
>>> from marginlab.instruments import Perpetual, Position
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000}}})
>>> result = FlatRateModel(0.10, 0.05).margin(Account((Position(Perpetual("BTC"), 2.0),), 30_000), market)
>>> result.initial_margin_usd, result.maintenance_margin_usd, result.equity_usd   # 10% / 5% of 200,000
(20000.0, 10000.0, 30000.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from marginlab.account import Account
from marginlab.book import Book
from marginlab.exceptions import ParameterError
from marginlab.margin.base import BookMarginResult, MarginModel, MarginResult
from marginlab.market import MarketSnapshot
from marginlab.valuation import equity_usd, value_positions


@dataclass(frozen=True)
class FlatRateModel(MarginModel):
    """Fixed rates of gross notional: ``IM = im_rate x sum |notional|``, ``MM = mm_rate x sum |notional|``.

    Options count at their underlying notional, an inverse contract at its coin size ``face / mark``;
    equity is cash + collateral + mark-to-market (no haircut).

    Parameters
    ----------
    im_rate : float
        Initial margin, a fraction of gross notional.
    mm_rate : float
        Maintenance margin, a fraction of gross notional (at most ``im_rate``).
    preset_name : str
        The name results carry.

    Examples
    --------
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

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        """Margin of one account (the one-account case of :meth:`margin_book`).

        Parameters
        ----------
        account : Account
        market : MarketSnapshot

        Returns
        -------
        MarginResult
        """
        account.require_positions()
        valuation = value_positions(account.positions, market)
        notional = valuation.notional_usd
        # numeric columns only (cheap to build: the model is called at every step of a reference replay)
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
        return MarginResult(self.name, im, mm, equity_usd(account.cash_usd, account.collateral, valuation, market), positions, components)

    @property
    def book_vectorised(self) -> bool:
        """True: a book is margined in one vectorised pass (:class:`~marginlab.margin.base.BookMarginModel`)."""
        return True

    def prepare_book(self, instruments: Any, *, as_of: Any = None) -> None:
        """Nothing to prepare (the rates apply to notionals).

        Parameters
        ----------
        instruments : InstrumentTable
        as_of : datetime, optional

        Returns
        -------
        None
        """
        return None

    def margin_book(self, book: Book, *, prepared: Any = None) -> BookMarginResult:
        """Margin of every account of a :class:`~marginlab.book.Book` (:meth:`margin` is its one-account case).

        The rates of ``sum |size| x index`` over the positions (an inverse contract at its coin size), equity at market.

        Parameters
        ----------
        book : Book
        prepared : None
            Unused.

        Returns
        -------
        BookMarginResult
        """
        table = book.instruments
        positions = (table.collateral_asset == "")[book.instrument]
        notional = np.where(positions, np.abs(book.rule_size) * table.index_usd[book.instrument], 0.0)
        gross = np.bincount(book.account, weights=notional, minlength=book.n_accounts).astype(np.float64)
        equity = np.asarray(np.bincount(book.account, weights=book.mtm_usd, minlength=book.n_accounts) + book.cash_usd, dtype=np.float64)
        return BookMarginResult(self.name, book.account_ids, self.im_rate * gross, self.mm_rate * gross, equity,
                                {"gross_notional_usd": gross}).check_finite()
