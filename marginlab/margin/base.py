"""The margin interface every model implements, and the result every model returns.

A margin model is a small immutable object configured in its constructor, with one pure
method::

    result = model.margin(account, market)

:class:`MarginResult` carries the totals (initial and maintenance margin, equity, margin
ratio, free margin) and tidy tables that explain them: one row per position, one row per
component (scan risk, contingencies, collateral haircuts...), and for scenario-based models
one row per scenario.

Conventions
-----------
* Requirements are non-negative USD amounts.
* ``equity_usd`` is what the model counts as the account's equity (collateral after the
  model's haircuts, if any, plus positions' mark-to-market).
* ``margin_ratio = equity / maintenance margin`` (infinite when nothing is required): the
  unified-account convention of worked example F, liquidation at or below 1.
* ``free_margin_usd = equity - initial margin``: what can still be withdrawn or used.

>>> from marginlab.margin.base import MarginResult
>>> import pandas as pd
>>> result = MarginResult("example", 1500.0, 1000.0, 5000.0,
...     positions=pd.DataFrame(), components=pd.DataFrame(
...         {"component": ["scan risk"], "initial_margin_usd": [1500.0], "maintenance_margin_usd": [1000.0]}))
>>> result.margin_ratio, result.free_margin_usd
(5.0, 3500.0)
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from marginlab.account import Account
from marginlab.exceptions import NumericalError
from marginlab.instruments import Position
from marginlab.market import MarketSnapshot

if TYPE_CHECKING:
    from marginlab.book import Book, InstrumentTable

#: Positions printed by :meth:`MarginResult.summary` (the table itself keeps every row).
SUMMARY_POSITION_ROWS = 50


def _readable(value: float) -> str:
    """A number for a reader: thousands separators and cents, small sizes with 6 significant digits, no exponent.

    >>> _readable(-37490.123), _readable(0.00125), _readable(float("nan"))
    ('-37,490.12', '0.00125', 'NaN')
    """
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else str(value)
    if value == 0 or abs(value) >= 1:
        return f"{value:,.2f}"
    text = f"{value:.6f}".rstrip("0")
    return text if not text.endswith(".") else f"{value:.3g}"


@dataclass(frozen=True, eq=False)
class MarginResult:
    """Totals of a margin computation and the tables that explain them.

    Parameters
    ----------
    model : str
        Name of the model or preset that produced the result.
    initial_margin_usd, maintenance_margin_usd : float
        Requirements (>= 0).
    equity_usd : float
        Equity counted by the model.
    positions : DataFrame
        One row per position (``symbol``, ``quantity`` and model-specific columns such as
        ``initial_margin_usd``, ``maintenance_margin_usd``, ``liquidation_price_usd``, or the
        position's P&L in the worst scenario).
    components : DataFrame
        One row per component with columns ``component``, ``initial_margin_usd``,
        ``maintenance_margin_usd`` and optionally ``explanation``.
    scenarios : DataFrame, optional
        Scenario-based models: one row per scenario with its description and ``pnl_usd``.
    details : dict
        Model-specific extra values (e.g. the worst scenario, factors used).
    notes : tuple of str
        Sentences that explain the result in words.
    currency : str, default "USD"
        The account's margin (settlement) currency; a coin (``"BTC"``) for a coin-margined
        account. The ``*_usd`` fields stay in USD; :meth:`currency_totals` gives both views.
    currency_price_usd : float, default 1.0
        USD price of one unit of ``currency`` at the snapshot (the index) used to convert.
    """

    model: str
    initial_margin_usd: float
    maintenance_margin_usd: float
    equity_usd: float
    positions: pd.DataFrame
    components: pd.DataFrame
    scenarios: pd.DataFrame | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    currency: str = "USD"
    currency_price_usd: float = 1.0

    def currency_totals(self) -> pd.DataFrame:
        """Initial and maintenance margin, equity and free margin in ``currency`` and in USD.

        The margin ratio is the same in both (one price converts both sides).

        >>> import pandas as pd
        >>> result = MarginResult("m", 15_000.0, 7_500.0, 100_000.0, pd.DataFrame(), pd.DataFrame(),
        ...                       currency="BTC", currency_price_usd=100_000.0)
        >>> result.currency_totals()["BTC"].tolist()
        [0.15, 0.075, 1.0, 0.85, 13.333333333333334]
        """
        usd = self.totals()
        price = float(self.currency_price_usd)
        converted = usd.copy()
        converted.iloc[:4] = usd.iloc[:4] / price
        return pd.DataFrame({self.currency: converted.to_numpy(), "USD": usd.to_numpy()},
                            index=["initial_margin", "maintenance_margin", "equity", "free_margin", "margin_ratio"])

    def __post_init__(self) -> None:
        for name in ("initial_margin_usd", "maintenance_margin_usd", "equity_usd"):
            value = getattr(self, name)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise NumericalError(name, value, f"the {self.model} total must be a number") from None
            if not math.isfinite(number):
                raise NumericalError(
                    name, number,
                    f"the {self.model} total is not finite (an overflow or an invalid operation at these sizes); check quantities, prices and cash",
                )
            object.__setattr__(self, name, number)

    @property
    def free_margin_usd(self) -> float:
        """Equity minus initial margin."""
        return self.equity_usd - self.initial_margin_usd

    @property
    def excess_maintenance_usd(self) -> float:
        """Equity minus maintenance margin (negative: liquidatable)."""
        return self.equity_usd - self.maintenance_margin_usd

    @property
    def margin_ratio(self) -> float:
        """Equity / maintenance margin (``inf`` when no maintenance is required)."""
        if self.maintenance_margin_usd <= 0:
            return math.inf
        return self.equity_usd / self.maintenance_margin_usd

    @property
    def is_liquidatable(self) -> bool:
        """True when equity is below the maintenance margin."""
        return self.equity_usd < self.maintenance_margin_usd

    def totals(self) -> pd.Series:
        """The headline numbers as a Series."""
        return pd.Series(
            {
                "initial_margin_usd": self.initial_margin_usd,
                "maintenance_margin_usd": self.maintenance_margin_usd,
                "equity_usd": self.equity_usd,
                "free_margin_usd": self.free_margin_usd,
                "margin_ratio": self.margin_ratio,
            },
            name=self.model,
        )

    def to_frame(self) -> pd.DataFrame:
        """The component table with a final ``total`` row."""
        columns = ["component", "initial_margin_usd", "maintenance_margin_usd"]
        table = self.components.reindex(columns=[*columns, *[c for c in self.components.columns if c not in columns]])
        total = pd.DataFrame(
            [{"component": "total", "initial_margin_usd": self.initial_margin_usd, "maintenance_margin_usd": self.maintenance_margin_usd}]
        )
        return pd.concat([table, total], ignore_index=True) if len(table) else total

    def scan_risk_table(self) -> pd.DataFrame | None:
        """Scan risk per underlying and a ``total`` row (their sum), or None when the model has no such table.

        Portfolio models that charge each underlying its own worst scenario (the risk-matrix
        presets, the calibrated per-underlying model) put the rows in
        ``details["scan_risk_by_underlying"]``: ``underlying``, ``worst_scenario``, ``loss_usd``,
        ``maintenance_margin_usd`` and ``initial_margin_usd``.
        """
        table = self.details.get("scan_risk_by_underlying")
        if not isinstance(table, pd.DataFrame) or not len(table):
            return None
        columns = [c for c in ("underlying", "worst_scenario", "loss_usd", "maintenance_margin_usd", "initial_margin_usd") if c in table.columns]
        shown = table[columns].reset_index(drop=True)
        total: dict[str, Any] = {c: float(shown[c].sum()) for c in columns if c.endswith("_usd")}
        total.update({"underlying": "total", "worst_scenario": ""})
        return pd.concat([shown, pd.DataFrame([total], columns=columns)], ignore_index=True)

    def summary(self) -> str:
        """A readable report: totals, components, positions, scan risk per underlying, notes."""
        lines = [
            f"Margin by {self.model}",
            f"  initial margin      {self.initial_margin_usd:>16,.2f} USD",
            f"  maintenance margin  {self.maintenance_margin_usd:>16,.2f} USD",
            f"  equity              {self.equity_usd:>16,.2f} USD",
            f"  free margin         {self.free_margin_usd:>16,.2f} USD",
            f"  margin ratio        {self.margin_ratio:>16.4f} (equity / maintenance)" if math.isfinite(self.margin_ratio)
            else "  margin ratio                     n/a (no maintenance margin)",
            *([f"  in {self.currency} (at {self.currency_price_usd:,.2f} USD): initial {self.initial_margin_usd / self.currency_price_usd:,.6f}, "
               f"maintenance {self.maintenance_margin_usd / self.currency_price_usd:,.6f}, equity {self.equity_usd / self.currency_price_usd:,.6f}"]
              if self.currency != "USD" else []),
            "",
            "Components:",
            self.to_frame().to_string(index=False, float_format=lambda v: f"{v:,.2f}", na_rep="-"),
        ]
        if len(self.positions):
            shown = self.positions.head(SUMMARY_POSITION_ROWS)
            title = "Positions:" if len(shown) == len(self.positions) else f"Positions (first {len(shown):,} of {len(self.positions):,}):"
            lines += ["", title, shown.to_string(index=False, float_format=_readable, na_rep="-")]
        by_underlying = self.scan_risk_table()
        if by_underlying is not None:
            lines += ["", "Scan risk by underlying (each in its own worst scenario; the total is their sum):",
                      by_underlying.to_string(index=False, float_format=lambda v: f"{v:,.2f}")]
        elif self.details.get("worst_scenario") is not None:
            lines += ["", f"Worst scenario: {self.details['worst_scenario']}"]
        if self.notes:
            lines += ["", "Why:", *[f"  - {note}" for note in self.notes]]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"MarginResult(model={self.model!r}, initial_margin_usd={self.initial_margin_usd:,.2f}, "
            f"maintenance_margin_usd={self.maintenance_margin_usd:,.2f}, equity_usd={self.equity_usd:,.2f})"
        )


class MarginModel(abc.ABC):
    """Interface of every margin model: configured once, then ``margin(account, market)``.

    Subclasses are frozen dataclasses whose fields are the model's parameters, so that a
    venue preset is simply a named instance.
    """

    #: What family the model belongs to ("isolated", "cross", "portfolio").
    family: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every model's result carries the account's margin currency (a coin for a coin-margined
        # account) and its index price, so that each engine reports in that currency and in USD.
        super().__init_subclass__(**kwargs)
        method = cls.__dict__.get("margin")
        if method is None or getattr(method, "_labels_currency", False):
            return

        @functools.wraps(method)
        def margin(self: MarginModel, account: Account, market: MarketSnapshot) -> MarginResult:
            return with_account_currency(method(self, account, market), account, market)

        margin._labels_currency = True  # type: ignore[attr-defined]
        cls.margin = margin  # type: ignore[method-assign]

    @property
    def name(self) -> str:
        return getattr(self, "preset_name", "") or type(self).__name__

    @abc.abstractmethod
    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        """Margin ``account`` at ``market``."""

    def account_equity_usd(self, account: Account, market: MarketSnapshot) -> float:
        """Equity the model counts, also for an account without positions.

        Default: cash + collateral at market + positions' mark-to-market (no haircut); models
        that apply haircuts override it.
        """
        from marginlab.valuation import equity_usd, value_positions

        return equity_usd(account.cash_usd, account.collateral, value_positions(account.positions, market), market)


def with_account_currency(result: MarginResult, account: Account, market: MarketSnapshot) -> MarginResult:
    """``result`` labelled with ``account.margin_currency`` and its index price (USD figures unchanged)."""
    import dataclasses

    currency = getattr(account, "margin_currency", "USD")
    if currency == "USD":
        return result
    price = 1.0 if currency == "USD" else market.index_usd(currency)
    return dataclasses.replace(result, currency=currency, currency_price_usd=price)


@dataclass(frozen=True)
class IncrementalMargin:
    """Margin before and after a proposed trade, and the difference."""

    before: MarginResult
    after: MarginResult

    @property
    def initial_margin_change_usd(self) -> float:
        return self.after.initial_margin_usd - self.before.initial_margin_usd

    @property
    def maintenance_margin_change_usd(self) -> float:
        return self.after.maintenance_margin_usd - self.before.maintenance_margin_usd

    @property
    def accepted(self) -> bool:
        """True when the account still meets its initial margin after the trade."""
        return self.after.free_margin_usd >= 0

    def summary(self) -> str:
        return (
            f"What-if under {self.after.model}: initial margin {self.before.initial_margin_usd:,.2f} -> "
            f"{self.after.initial_margin_usd:,.2f} USD ({self.initial_margin_change_usd:+,.2f}); maintenance "
            f"{self.before.maintenance_margin_usd:,.2f} -> {self.after.maintenance_margin_usd:,.2f} USD "
            f"({self.maintenance_margin_change_usd:+,.2f}); free margin after {self.after.free_margin_usd:,.2f} USD"
            f" -> {'accepted' if self.accepted else 'rejected'}"
        )


def what_if(model: MarginModel, account: Account, trade: Iterable[Position], market: MarketSnapshot) -> IncrementalMargin:
    """Incremental margin of adding ``trade`` to ``account`` under any ``model``.

    An account without positions has zero requirement before the trade; its equity is the
    model's :meth:`MarginModel.account_equity_usd` (cash and collateral, after haircuts where
    the model applies them).
    """
    trade = tuple(trade)
    if account.positions:
        before = model.margin(account, market)
    else:
        empty = pd.DataFrame(columns=["component", "initial_margin_usd", "maintenance_margin_usd"])
        before = MarginResult(model.name, 0.0, 0.0, model.account_equity_usd(account, market), pd.DataFrame(), empty)
    after = model.margin(account.with_positions(trade), market)
    return IncrementalMargin(before, after)


# ----------------------------------------------------------------------------------------
# models that margin a whole columnar book
# ----------------------------------------------------------------------------------------
@runtime_checkable
class BookMargins(Protocol):
    """What :meth:`BookMarginModel.margin_book` returns: one entry per account of the book.

    ``initial_margin_usd``, ``maintenance_margin_usd`` and ``equity_usd`` follow the conventions
    of :class:`MarginResult` (account ``k`` of the book gets the totals ``model.margin`` gives the
    same account); the implementations add the components that explain them (scan loss,
    contingencies, VaR/ES, MR1..MR7 per underlying...).
    """

    model: str
    account_ids: tuple[str, ...]
    initial_margin_usd: NDArray[np.float64]
    maintenance_margin_usd: NDArray[np.float64]
    equity_usd: NDArray[np.float64]


@runtime_checkable
class BookMarginModel(Protocol):
    """A model that margins every account of a columnar book in vectorised calls.

    The book is a :class:`~marginlab.margin.risk_matrix.Book` over an
    :class:`~marginlab.margin.risk_matrix.InstrumentTable` (each distinct instrument once).

    * ``prepare_book(instruments, as_of=None)`` does the per-valuation-time work once (each
      instrument revalued under every scenario); ``as_of`` is the valuation time, which models
      whose data are dated (FHS history) check for look-ahead.
    * ``margin_book(book, prepared=None)`` margins every account (``prepared`` from
      ``prepare_book(book.instruments)``, computed when not given), chunked over accounts so that
      memory stays bounded.
    * ``book_vectorised`` is False for a configuration the vectorised path does not cover (a
      per-position callable, published SPAN arrays, ...): such a model is margined account by
      account (:meth:`MarginModel.margin`) by the book engine.

    Implemented by :class:`~marginlab.margin.risk_matrix.RiskMatrixModel`,
    :class:`~marginlab.margin.fhs.FilteredHistoricalMargin`,
    :class:`~marginlab.margin.okx_pm.OkxPortfolioMarginModel`,
    :class:`~marginlab.margin.span.SpanModel` and
    :class:`~marginlab.margin.calibrated.PerUnderlyingPortfolioMargin` (``calibrated-portfolio``).

    >>> from marginlab.margin.presets import get_model
    >>> isinstance(get_model("span-example"), BookMarginModel), isinstance(get_model("hyperliquid"), BookMarginModel)
    (True, False)
    """

    @property
    def book_vectorised(self) -> bool: ...

    def prepare_book(self, instruments: InstrumentTable, *, as_of: datetime | None = None) -> Any: ...

    def margin_book(self, book: Book, *, prepared: Any = None) -> BookMargins: ...


def account_chunks(n_accounts: int, columns: int, *, bytes_per_chunk: float = 100e6, floor: int = 64) -> list[tuple[int, int]]:
    """``[(a0, a1), ...]`` account ranges whose ``(accounts x columns)`` float64 arrays hold about ``bytes_per_chunk``.

    >>> account_chunks(10, 5_000_000)
    [(0, 10)]
    >>> account_chunks(10_000, 2_500)[:2]
    [(0, 5000), (5000, 10000)]
    """
    size = max(int(bytes_per_chunk // (8 * max(columns, 1))), floor)
    return [(a0, min(a0 + size, n_accounts)) for a0 in range(0, n_accounts, size)]


@dataclass(frozen=True, eq=False)
class BookMarginTotals:
    """Margin of every account of a book (:class:`BookMargins`) with named component arrays.

    ``components`` maps a component name (``"es_usd"``, ``"BTC MR1"``, ``"ETH scan risk"``...)
    to one value per account.

    >>> import numpy as np
    >>> totals = BookMarginTotals("m", ("a", "b"), np.array([2.0, 0.0]), np.array([1.0, 0.0]), np.array([5.0, 3.0]),
    ...                           {"scan_usd": np.array([1.0, 0.0])})
    >>> totals.frame()["free_margin_usd"].tolist()
    [3.0, 3.0]
    """

    model: str
    account_ids: tuple[str, ...]
    initial_margin_usd: NDArray[np.float64]
    maintenance_margin_usd: NDArray[np.float64]
    equity_usd: NDArray[np.float64]
    components: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.account_ids)

    @property
    def free_margin_usd(self) -> NDArray[np.float64]:
        """Equity minus initial margin."""
        return self.equity_usd - self.initial_margin_usd

    def frame(self) -> pd.DataFrame:
        """One row per account: totals, free margin and every component."""
        return pd.DataFrame({"account_id": self.account_ids, "initial_margin_usd": self.initial_margin_usd,
                             "maintenance_margin_usd": self.maintenance_margin_usd, "equity_usd": self.equity_usd,
                             "free_margin_usd": self.free_margin_usd, **self.components})

    def check_finite(self) -> "BookMarginTotals":
        """Self, or :class:`~marginlab.exceptions.NumericalError` naming the first account with a non-finite total."""
        for name in ("initial_margin_usd", "maintenance_margin_usd", "equity_usd"):
            values = getattr(self, name)
            bad = ~np.isfinite(values)
            if np.any(bad):
                i = int(np.argmax(bad))
                raise NumericalError(f"{name}[{self.account_ids[i]}]", float(values[i]),
                                     f"the {self.model} total of this account is not finite (an overflow at these sizes); check its quantities and cash")
        return self
