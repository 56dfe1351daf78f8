"""Risk-matrix (scenario) portfolio margin: one vectorised engine, configured by presets.

Every position is revalued under every scenario of a :class:`~marginlab.margin.scenarios.ScenarioGrid`
(spot multiplier x volatility treatment x dampening); the margin is the worst loss, scaled
by a loss factor, plus contingencies. Venue rules (Derive PMRM v2, Deribit portfolio margin,
SPAN-like grids) are parameter sets of :class:`RiskMatrixModel`, not copies of it.

Data layout
-----------
The engine margins a :class:`~marginlab.book.Book` (columnar positions of many accounts) over an
:class:`~marginlab.book.InstrumentTable` (one row per distinct instrument); both live in
:mod:`marginlab.book`, with the revaluation kernel :func:`~marginlab.book.revalue_instruments`.

Algorithm (per chunk of accounts)
---------------------------------
1. Each distinct instrument is revalued once per scenario (``n_instruments x n_scenarios``
   unit values; :func:`revalue_instruments`).
2. Positions are grouped into *buckets*: one per (account, underlying, option expiry), and one
   per (account, linear instrument). Bucket values under each scenario are a sparse matrix
   product ``B @ U``.
3. For option buckets a static discount applies to the shocked value (``long`` factor when the
   bucket is worth >= 0, ``short`` factor otherwise; 1 without :class:`StaticDiscount`), and the
   scenario P&L of the bucket is ``(discounted shocked value - unshocked value) * dampening``.
   Skew rotations count ``-|P&L|`` per option bucket (the worst rotation direction).
4. Buckets are summed into *risk units* (account, underlying). The risk unit's loss is
   ``max(0, -min(basis contingency, min over scenarios of P&L, ...))`` (floored at the
   minimum charge); the basis (forward) contingency of an option bucket is
   ``min(V(F*up) - V(F), V(F*down) - V(F), 0) * (add + per_year * years)``.
5. Per account::

       maintenance = mm_loss_factor * sum(loss) + MMcont
       initial     = im_factor * sum(loss) + MMcont + IMcont     (im_factor + depeg add-on)
       MMcont      = linear% * |qty| * index (perps, futures) + option% * index * naked shorts
                     + collateral haircuts
       IMcont      = the IM-only parts of the same + oracle-confidence contingency

   Naked shorts are counted per (expiry, strike): ``max(-(calls + puts), 0)`` so a call and a
   put at the same strike offset each other, different strikes never do. The oracle
   contingency of a bucket is ``(1 - c) * margin * notional`` when its confidence ``c`` is
   below the threshold.

Near settlement (``seconds < forward_freeze_seconds``) a forward is split into a moving part
``F * s / freeze`` and a frozen part, so expiring positions barely move with the spot.
Options are priced with Black-76 on the forward and discounted at ``exp(-rate * years)``
(rates clamped at 0 with ``clamp_negative_rates``); an expired option is worth its intrinsic
value.

>>> from marginlab.margin.risk_matrix import RiskMatrixModel
>>> from marginlab.margin.scenarios import ScenarioGrid
>>> from marginlab.account import Account
>>> from marginlab.instruments import Perpetual, Position
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
>>> model = RiskMatrixModel(ScenarioGrid.regular(spot_range=0.10, points=3, vol_shocks=("none",)))
>>> result = model.margin(Account([Position(Perpetual("BTC"), 2.0)], cash_usd=50000), market)
>>> result.maintenance_margin_usd, result.details["worst_scenario"]
(20000.0, 'spot -10.0%, vol none')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from marginlab.account import Account
from marginlab.book import (
    FUTURE,
    KIND_NAMES,
    OPTION,
    PERPETUAL,
    SPOT,
    STATIC,
    Book,
    InstrumentTable,
    black76_guarded,
    book_scenario_pnl,
    revalue_instruments,
    to_numeraire,
)
from marginlab.book.instruments import forward_parts, option_values
from marginlab.exceptions import InputError, NumericalError, ParameterError
from marginlab.margin.base import MarginModel, MarginResult
from marginlab.margin.scenarios import ScenarioGrid, SkewShock, VolShock
from marginlab.market import SECONDS_PER_YEAR, MarketSnapshot
from marginlab.valuation import text_column

# The columnar book lives in :mod:`marginlab.book`; these names stay importable from here for
# user code written against earlier versions.
__all__ = [
    "FUTURE", "KIND_NAMES", "OPTION", "PERPETUAL", "SPOT", "STATIC", "BasisContingency", "Book", "BookMarginResult",
    "ConfidenceContingency", "DepegAddOn", "InstrumentTable", "RiskMatrixModel", "StaticDiscount", "black76_guarded",
    "book_scenario_pnl", "revalue_instruments", "to_numeraire",
]

# ----------------------------------------------------------------------------------------
# parameter groups
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StaticDiscount:
    """Static discount of shocked option-expiry values (Derive ``Margin`` group).

    ``long = long_base * exp(-years * (rate * long_rate_scale + long_add))`` multiplies a
    bucket worth >= 0; ``short = min(1 / D, short_base * exp(years * (rate * short_rate_scale
    + short_add)))`` multiplies a bucket worth < 0 (``D = exp(-rate * years)``).
    """

    long_base: float = 0.95
    long_rate_scale: float = 1.0
    long_add: float = 0.08
    short_base: float = 1.04
    short_rate_scale: float = 0.5
    short_add: float = 0.08

    def factors(self, years: ArrayLike, rate: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(long, short)`` factors per expiry."""
        years_, rate_ = np.asarray(years, dtype=np.float64), np.asarray(rate, dtype=np.float64)
        long = self.long_base * np.exp(-years_ * (rate_ * self.long_rate_scale + self.long_add))
        short = np.minimum(1.0 / np.exp(-rate_ * years_), self.short_base * np.exp(years_ * (rate_ * self.short_rate_scale + self.short_add)))
        return long, short


@dataclass(frozen=True)
class BasisContingency:
    """Forward (basis) contingency of option expiries: forward shocked by ``up_shock`` and
    ``down_shock`` with vols unchanged, loss scaled by ``add_factor + per_year_factor * years``."""

    up_shock: float = 1.0001
    down_shock: float = 0.955
    add_factor: float = 0.5
    per_year_factor: float = 2.0

    def __post_init__(self) -> None:
        if not (self.up_shock > 0 and self.down_shock > 0):
            raise ParameterError("up_shock", (self.up_shock, self.down_shock), "basis shocks must be positive multipliers")


@dataclass(frozen=True)
class ConfidenceContingency:
    """Oracle-confidence charge ``(1 - c) * margin * notional`` for buckets with ``c < threshold`` (IM only)."""

    threshold: float = 0.55
    margin: float = 1.0


@dataclass(frozen=True)
class DepegAddOn:
    """Stable-coin depeg: IM loss factor += ``(threshold - stable_price) * factor`` when ``stable_price < threshold``."""

    threshold: float = 0.98
    factor: float = 2.0


# ----------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BookMarginResult:
    """Margin of every account of a :class:`Book` (arrays, one entry per account).

    ``worst_scenario`` is the index of the scenario that sets the account's largest
    risk-unit loss (``n_scenarios`` when the basis contingency does, -1 when the account has
    no risk). ``scenario_pnl_usd`` (accounts x scenarios, dampened, summed over risk units)
    is kept when requested.
    """

    model: str
    account_ids: tuple[str, ...]
    initial_margin_usd: NDArray[np.float64]
    maintenance_margin_usd: NDArray[np.float64]
    equity_usd: NDArray[np.float64]
    scan_loss_usd: NDArray[np.float64]
    basis_contingency_usd: NDArray[np.float64]
    mm_contingency_usd: NDArray[np.float64]
    im_contingency_usd: NDArray[np.float64]
    worst_scenario: NDArray[np.int64]
    scenario_pnl_usd: NDArray[np.float64] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.account_ids)

    @property
    def free_margin_usd(self) -> NDArray[np.float64]:
        """Equity minus initial margin (Derive's ``IM``)."""
        return self.equity_usd - self.initial_margin_usd

    @property
    def excess_maintenance_usd(self) -> NDArray[np.float64]:
        """Equity minus maintenance margin (Derive's ``MM``); negative means liquidatable."""
        return self.equity_usd - self.maintenance_margin_usd

    def summary(self) -> str:
        """Totals over the book and the accounts below maintenance margin."""
        below = int(np.sum(self.excess_maintenance_usd < 0))
        return "\n".join(
            [
                f"Book margin by {self.model}: {len(self)} accounts",
                f"  initial margin      {float(np.sum(self.initial_margin_usd)):>18,.2f} USD",
                f"  maintenance margin  {float(np.sum(self.maintenance_margin_usd)):>18,.2f} USD",
                f"  equity              {float(np.sum(self.equity_usd)):>18,.2f} USD",
                f"  accounts below maintenance: {below}; below initial: {int(np.sum(self.free_margin_usd < 0))}",
            ]
        )

    def frame(self) -> pd.DataFrame:
        """One row per account."""
        return pd.DataFrame(
            {
                "account_id": self.account_ids,
                "initial_margin_usd": self.initial_margin_usd,
                "maintenance_margin_usd": self.maintenance_margin_usd,
                "equity_usd": self.equity_usd,
                "free_margin_usd": self.free_margin_usd,
                "scan_loss_usd": self.scan_loss_usd,
                "worst_scenario": self.worst_scenario,
            }
        )


# ----------------------------------------------------------------------------------------
# the engine
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Prepared:
    values: NDArray[np.float64]  # (n_inst, S)
    base: NDArray[np.float64]  # (n_inst,)
    basis_up: NDArray[np.float64]
    basis_down: NDArray[np.float64]
    group: NDArray[np.int64]  # instrument -> bucket group
    group_asset: NDArray[np.int64]
    group_is_option: NDArray[np.bool_]
    group_long: NDArray[np.float64]
    group_short: NDArray[np.float64]
    group_basis_scale: NDArray[np.float64]
    strike_group: NDArray[np.int64]  # instrument -> (asset, expiry, strike) id (options), -1 otherwise
    mm_haircut: NDArray[np.float64]
    im_haircut: NDArray[np.float64]
    vol_up: NDArray[np.float64]
    vol_down: NDArray[np.float64]
    skew_linear: NDArray[np.float64]
    skew_abs: NDArray[np.float64]


@dataclass(frozen=True)
class RiskMatrixModel(MarginModel):
    """Scenario-grid portfolio margin (see the module docstring for the algorithm).

    Parameters
    ----------
    scenarios : ScenarioGrid
    vol_shock : VolShock
        Up/down vol shock rules (term structure, floor, minimum shocked vol).
    skew_shock : SkewShock, optional
        Needed when the grid has ``"linear"``/``"abs"`` scenarios.
    static_discount : StaticDiscount, optional
        Discount of shocked option-expiry values (Derive); none = factor 1.
    basis_contingency : BasisContingency, optional
        Forward contingency of option expiries (compared with, not added to, the scenarios).
    mm_loss_factor, im_loss_factor : float
        Multipliers of the worst loss for maintenance and initial margin.
    linear_contingency_mm, linear_contingency_im : float
        Fraction of ``|quantity| * index`` of perpetuals and futures (IM part is additional).
    option_contingency_mm, option_contingency_im : float
        Fraction of the index per net short option per (expiry, strike) (IM part additional).
    collateral_haircuts : mapping of str to (float, float)
        ``symbol -> (mm_haircut, im_haircut)`` applied to the positive value of that
        instrument (IM part additional). Collateral of :meth:`Book.from_accounts` is named
        ``"collateral:<ASSET>"``.
    confidence : ConfidenceContingency, optional
        Oracle-confidence contingency (IM only).
    depeg : DepegAddOn, optional
        Stable-coin depeg add-on to the IM loss factor.
    minimum_charge_usd : float
        Floor of each risk unit's scan loss (a minimum charge per underlying).
    asset_spot_scale : mapping of str to float
        Per-underlying scale of the spot moves: asset ``a`` is shocked by
        ``1 + scale[a] * (spot_shock - 1)`` (default 1). Lets one grid express moves as
        fractions of an asset-specific range (SPAN price scan ranges, OKX asset classes).
    forward_freeze_seconds : float
        Forwards closer to settlement than this move only in proportion ``seconds / freeze``.
    clamp_negative_rates : bool
        Discount and price options with ``max(rate, 0)``.
    negative_prices : {"error", "floor"}
        A scaled spot move below -100%: an error (default) or, as SPAN does, a price floored at
        zero (futures lose at most their price, options are valued at a zero underlying).
    chunk_accounts : int
        Accounts per chunk in :meth:`margin_book` (bounds memory; 5,000 keeps a chunk's buckets x
        scenarios arrays near the CPU cache and was fastest in ``benchmarks/pm_engine.py``).
    progress : bool
        Show a tqdm progress bar over chunks.
    preset_name : str
    """

    family: ClassVar[str] = "portfolio"

    scenarios: ScenarioGrid
    vol_shock: VolShock = VolShock()
    skew_shock: SkewShock | None = None
    static_discount: StaticDiscount | None = None
    basis_contingency: BasisContingency | None = None
    mm_loss_factor: float = 1.0
    im_loss_factor: float = 1.0
    linear_contingency_mm: float = 0.0
    linear_contingency_im: float = 0.0
    option_contingency_mm: float = 0.0
    option_contingency_im: float = 0.0
    collateral_haircuts: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    confidence: ConfidenceContingency | None = None
    depeg: DepegAddOn | None = None
    minimum_charge_usd: float = 0.0
    asset_spot_scale: Mapping[str, float] = field(default_factory=dict)
    forward_freeze_seconds: float = 0.0
    clamp_negative_rates: bool = False
    negative_prices: Literal["error", "floor"] = "error"
    chunk_accounts: int = 5_000
    progress: bool = False
    preset_name: str = ""

    def __post_init__(self) -> None:
        for name in ("mm_loss_factor", "im_loss_factor", "linear_contingency_mm", "linear_contingency_im", "option_contingency_mm",
                     "option_contingency_im", "minimum_charge_usd", "forward_freeze_seconds"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ParameterError(name, value, "must be a finite non-negative number")
        if self.negative_prices not in ("error", "floor"):
            raise ParameterError("negative_prices", self.negative_prices, "must be 'error' or 'floor'")
        if self.chunk_accounts < 1:
            raise ParameterError("chunk_accounts", self.chunk_accounts, "must be at least 1")
        if self.skew_shock is None and any(v in ("linear", "abs") for v in self.scenarios.vol_shock):
            raise ParameterError("skew_shock", None, "the scenario grid has skew scenarios ('linear'/'abs') but no SkewShock is configured")
        for asset, scale in self.asset_spot_scale.items():
            if not (math.isfinite(scale) and scale >= 0):
                raise ParameterError(f"asset_spot_scale[{asset}]", scale, "must be a finite non-negative scale")
        for symbol, pair in self.collateral_haircuts.items():
            mm, im = pair
            if not (0 <= mm <= 1 and 0 <= im <= 1 and mm + im <= 1):
                raise ParameterError(f"collateral_haircuts[{symbol}]", pair, "haircuts must be in [0, 1] with mm + im <= 1")

    def spot_shocks_by_asset(self, assets: Sequence[str], moving: ArrayLike | None = None) -> NDArray[np.float64]:
        """Spot multipliers per asset and scenario, shape (n_assets, n_scenarios), after ``asset_spot_scale``.

        ``moving[i] = False`` marks an asset held only as static collateral: its row is 1 (it does
        not move with the scenarios, so a grid wider than 100% does not reject it).
        """
        move = self.scenarios.spot_array - 1.0
        scale = np.asarray([float(self.asset_spot_scale.get(a, 1.0)) for a in assets], dtype=np.float64).reshape(-1, 1)
        if moving is not None:
            scale = np.where(np.asarray(moving, dtype=bool).reshape(-1, 1), scale, 0.0).astype(np.float64)
        shocks = 1.0 + scale * move[None, :] if len(assets) else np.ones((1, len(move)))
        if self.negative_prices == "floor":  # SPAN: a move past zero values the underlying at zero
            return np.maximum(shocks, 0.0)
        if np.any(shocks < 0):
            row, column = np.argwhere(shocks < 0)[0]
            raise ParameterError(f"spot_shock[{column}]", float(shocks[row, column]), f"gives a negative price multiplier for {assets[row]}")
        return shocks

    # -- preparation (per instrument table) ---------------------------------------------------
    @property
    def book_vectorised(self) -> bool:
        """Always True: every configuration margins a book in vectorised chunks (:class:`~marginlab.margin.base.BookMarginModel`)."""
        return True

    def prepare_book(self, instruments: InstrumentTable, *, as_of: Any = None) -> _Prepared:
        """Per-valuation-time work for :meth:`margin_book`: every instrument revalued under every scenario,
        bucket groups, static discounts, basis shocks and haircuts (``as_of`` is not used: the grid is not dated)."""
        return self._prepare(instruments)

    def _prepare(self, instruments: InstrumentTable) -> _Prepared:
        grid = self.scenarios
        n = len(instruments)
        codes = grid.vol_codes
        kind = instruments.kind
        option = kind == OPTION
        years = instruments.years
        rate = np.maximum(instruments.rate, 0.0) if self.clamp_negative_rates else instruments.rate
        # vol shocks per instrument
        up, down = self.vol_shock.multipliers(instruments.seconds)
        skew_lin = np.ones(n)
        skew_abs = np.ones(n)
        if self.skew_shock is not None:
            skew_lin, skew_abs = self.skew_shock.raw_multipliers(instruments.strike_usd, np.nan_to_num(instruments.forward_usd), years)
        vol = instruments.vol
        if self.vol_shock.absolute:
            vol_up = np.maximum(self.vol_shock.min_shocked_vol, vol + up)
            vol_down = np.maximum(vol - down, 0.0)
        else:
            vol_up = np.maximum(self.vol_shock.min_shocked_vol, vol * up)
            vol_down = vol * down
        # scenario unit values
        has_moving = np.bincount(instruments.asset[kind != STATIC], minlength=len(instruments.assets)) > 0
        spot_rows = self.spot_shocks_by_asset(instruments.assets, has_moving)  # (n_assets, S)
        values = revalue_instruments(instruments, spot_rows, np.ones(len(grid)), forward_freeze_seconds=self.forward_freeze_seconds,
                                     clamp_negative_rates=self.clamp_negative_rates)
        if np.any(option):
            moving, fixed = forward_parts(instruments, self.forward_freeze_seconds)
            x = np.where(codes[None, :] >= 2, 1.0, spot_rows[instruments.asset[option]])
            forward = moving[option, None] * x + fixed[option, None]
            vol_o = vol[option]
            table = np.stack([vol_o, vol_up[option], vol_down[option], vol_o * np.maximum(skew_lin[option], 0.0),
                              vol_o * np.maximum(skew_abs[option], 0.0)], axis=1)
            column = np.select([codes == 0, codes == 1, codes == -1, codes == 2], [0, 1, 2, 3], 4)
            values[option] = to_numeraire(
                instruments,
                option_values(instruments, option, forward, table[:, column], self.clamp_negative_rates,
                               grid.horizon_days * 86_400.0 / SECONDS_PER_YEAR, grid.rate_array if grid.uses_rates else None),
                spot_rows, option)
        base = revalue_instruments(instruments, np.ones(1), np.ones(1), forward_freeze_seconds=self.forward_freeze_seconds,
                                   clamp_negative_rates=self.clamp_negative_rates)[:, 0]
        bad = ~np.isfinite(values).all(axis=1) | ~np.isfinite(base)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise InputError(f"instruments[{instruments.symbol[i]}]", float(base[i]), "revalues to a non-finite value in some scenario; check its inputs")
        basis_up = base.copy()
        basis_down = base.copy()
        if self.basis_contingency is not None and np.any(option):
            shocked = revalue_instruments(instruments, [self.basis_contingency.up_shock, self.basis_contingency.down_shock], np.ones(2),
                                          forward_freeze_seconds=self.forward_freeze_seconds, clamp_negative_rates=self.clamp_negative_rates)
            basis_up[option], basis_down[option] = shocked[option, 0], shocked[option, 1]
        # bucket groups: options by (asset, seconds); every other instrument alone
        sub = np.where(option, -1.0, np.arange(n, dtype=np.float64))
        keys = np.stack([instruments.asset.astype(np.float64), np.where(option, instruments.seconds, -1.0), sub], axis=1) if n else np.zeros((0, 3))
        unique_keys, first, group = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        group = group.reshape(-1)
        group_is_option = option[first]
        group_asset = instruments.asset[first]
        long = np.ones(len(first))
        short = np.ones(len(first))
        if self.static_discount is not None:
            lf, sf = self.static_discount.factors(years[first], rate[first])
            long = np.where(group_is_option, lf, 1.0)
            short = np.where(group_is_option, sf, 1.0)
        scale = np.zeros(len(first))
        if self.basis_contingency is not None:
            scale = np.where(group_is_option, self.basis_contingency.add_factor + self.basis_contingency.per_year_factor * years[first], 0.0)
        strike_keys = np.stack([group.astype(np.float64), np.nan_to_num(instruments.strike_usd, nan=-1.0)], axis=1) if n else np.zeros((0, 2))
        strike_group = np.unique(strike_keys, axis=0, return_inverse=True)[1].reshape(-1) if n else np.zeros(0, dtype=np.int64)
        strike_group = np.where(option, strike_group, -1)
        mm_h = np.zeros(n)
        im_h = np.zeros(n)
        for i, symbol in enumerate(instruments.symbol):
            if instruments.numeraire is not None and instruments.numeraire[i] >= 0:
                symbol = symbol.rsplit("@", 1)[0]  # rows of coin-margined accounts are named "<symbol>@<coin>"
            if symbol in self.collateral_haircuts:
                mm_h[i], im_h[i] = self.collateral_haircuts[symbol]
        return _Prepared(values, base, basis_up, basis_down, group.astype(np.int64), group_asset, group_is_option, long, short, scale,
                         strike_group.astype(np.int64), mm_h, im_h, vol_up, vol_down, skew_lin, skew_abs)

    # -- evaluation of a chunk of accounts ----------------------------------------------------
    def _evaluate(self, book: Book, prep: _Prepared, p0: int, p1: int, a0: int, a1: int, keep: bool) -> dict[str, Any]:
        instruments = book.instruments
        grid = self.scenarios
        n_acc = a1 - a0
        n_inst = len(instruments)
        n_groups = len(prep.group_asset)
        n_scen = len(grid)
        acc = book.account[p0:p1] - a0
        inst = book.instrument[p0:p1]
        qty = book.quantity[p0:p1]
        kind = instruments.kind[inst]
        # buckets
        bkey = acc * np.int64(max(n_groups, 1)) + prep.group[inst]
        bkeys, bucket = np.unique(bkey, return_inverse=True)
        n_b = len(bkeys)
        b_acc = bkeys // max(n_groups, 1)
        b_group = bkeys % max(n_groups, 1)
        matrix = sparse.csr_matrix((qty, (bucket, inst)), shape=(n_b, n_inst))
        shocked = np.asarray(matrix @ prep.values)
        base = matrix @ prep.base
        # static discount: shocked value x (long factor if >= 0 else short factor), minus the unshocked value.
        # Groups without a discount have both factors exactly 1.0, so one pass over the whole (buckets x
        # scenarios) array is bit-identical to discounting only the option buckets (and avoids masked copies).
        group_long = prep.group_long[b_group]
        group_short = prep.group_short[b_group]
        if np.any(group_long != 1.0) or np.any(group_short != 1.0):
            contribution = np.where(shocked >= 0, group_long[:, None], group_short[:, None])
            contribution *= shocked
            contribution -= base[:, None]
        else:
            contribution = shocked - base[:, None]
        damp = grid.dampening_array
        if np.any(damp != 1.0):
            contribution *= damp[None, :]
        skew = grid.vol_codes >= 2
        if np.any(skew):
            option_bucket = prep.group_is_option[b_group][:, None]
            columns = np.flatnonzero(skew)
            if columns[-1] - columns[0] + 1 == len(columns):  # contiguous skew scenarios: work on a view
                block = contribution[:, columns[0] : columns[-1] + 1]
                np.copyto(block, -np.abs(block), where=option_bucket)
            else:
                contribution[:, skew] = np.where(option_bucket, -np.abs(contribution[:, skew]), contribution[:, skew])
        # basis contingency per option bucket
        up = matrix @ prep.basis_up
        down = matrix @ prep.basis_down
        basis_b = np.minimum(np.minimum(up - base, down - base), 0.0) * prep.group_basis_scale[b_group]
        # risk units (account, asset)
        rkey = b_acc * np.int64(max(len(instruments.assets), 1)) + prep.group_asset[b_group]
        rkeys, runit = np.unique(rkey, return_inverse=True)
        n_r = len(rkeys)
        r_acc = rkeys // max(len(instruments.assets), 1)
        rmatrix = sparse.csr_matrix((np.ones(n_b), (runit, np.arange(n_b))), shape=(n_r, n_b))
        pnl_r = np.asarray(rmatrix @ contribution)
        basis_r = np.bincount(runit, weights=basis_b, minlength=n_r)
        if n_scen:
            worst_r = np.argmin(pnl_r, axis=1) if n_r else np.zeros(0, dtype=np.int64)
            min_r = pnl_r[np.arange(n_r), worst_r] if n_r else np.zeros(0)
        basis_wins = ~(min_r < basis_r)
        worst_r = np.where(basis_wins, n_scen, worst_r)
        span_r = np.minimum(min_r, basis_r)
        loss_r = np.maximum(-span_r, 0.0)
        if self.minimum_charge_usd > 0:
            loss_r = np.maximum(loss_r, self.minimum_charge_usd)
        loss = np.bincount(r_acc, weights=loss_r, minlength=n_acc)
        basis_acc = np.bincount(r_acc, weights=basis_r, minlength=n_acc)
        # worst scenario of the account = that of its largest-loss risk unit
        # (risk units are sorted by account: per account, the first unit with the largest loss)
        worst = np.full(n_acc, -1, dtype=np.int64)
        if n_r:
            starts = np.flatnonzero(np.concatenate(([True], r_acc[1:] != r_acc[:-1])))
            largest = np.maximum.reduceat(loss_r, starts)
            unit_group = np.cumsum(np.isin(np.arange(n_r), starts)) - 1
            top = largest[unit_group]
            candidate = np.where((loss_r == top) | np.isnan(top), np.arange(n_r), n_r)  # NaN (overflow): reported by the totals' check
            chosen = np.minimum.reduceat(candidate, starts)
            worst[r_acc[chosen]] = np.where(loss_r[chosen] > 0, worst_r[chosen], -1)
        # contingencies
        index = instruments.index_usd[inst]
        linear = (kind == PERPETUAL) | (kind == FUTURE)
        linear_notional = np.bincount(acc, weights=np.where(linear, np.abs(qty) * index, 0.0), minlength=n_acc)
        option_pos = kind == OPTION
        naked = np.zeros(n_acc)
        if np.any(option_pos):
            sg = prep.strike_group[inst[option_pos]]
            skey = acc[option_pos] * np.int64(prep.strike_group.max() + 1) + sg
            skeys, swhere = np.unique(skey, return_inverse=True)
            net = np.bincount(swhere, weights=qty[option_pos], minlength=len(skeys))
            spot_of = np.zeros(len(skeys))
            spot_of[swhere] = index[option_pos]
            naked = np.bincount(skeys // np.int64(prep.strike_group.max() + 1), weights=np.maximum(-net, 0.0) * spot_of, minlength=n_acc).astype(np.float64)
        value = qty * prep.base[inst]
        haircut_base = np.maximum(value, 0.0)
        mm_haircut = np.bincount(acc, weights=haircut_base * prep.mm_haircut[inst], minlength=n_acc)
        im_haircut = np.bincount(acc, weights=haircut_base * prep.im_haircut[inst], minlength=n_acc)
        oracle = np.zeros(n_acc)
        if self.confidence is not None:
            conf = instruments.confidence[inst]
            if np.any(conf < self.confidence.threshold):
                c_b = np.ones(n_b)
                np.minimum.at(c_b, bucket, conf)
                notional = np.where((kind == SPOT) | (kind == STATIC), np.abs(value), np.abs(qty) * index)
                n_bucket = np.bincount(bucket, weights=notional, minlength=n_b)
                charge = np.where(c_b < self.confidence.threshold, (1.0 - c_b) * self.confidence.margin * n_bucket, 0.0)
                oracle = np.bincount(b_acc, weights=charge, minlength=n_acc).astype(np.float64)
        mm_cont = linear_notional * self.linear_contingency_mm + naked * self.option_contingency_mm + mm_haircut
        im_cont = linear_notional * self.linear_contingency_im + naked * self.option_contingency_im + im_haircut + oracle
        im_factor = np.full(n_acc, self.im_loss_factor)
        if self.depeg is not None:
            stable = book.stable_price[a0:a1]
            im_factor = im_factor + np.where(stable < self.depeg.threshold, (self.depeg.threshold - stable) * self.depeg.factor, 0.0)
        equity = np.bincount(acc, weights=book.mtm_usd[p0:p1], minlength=n_acc) + book.cash_usd[a0:a1]
        out: dict[str, Any] = {
            "initial": im_factor * loss + mm_cont + im_cont,
            "maintenance": self.mm_loss_factor * loss + mm_cont,
            "equity": equity,
            "loss": loss,
            "basis": basis_acc,
            "mm_cont": mm_cont,
            "im_cont": im_cont,
            "worst": worst,
        }
        if keep:
            ramatrix = sparse.csr_matrix((np.ones(n_r), (r_acc, np.arange(n_r))), shape=(n_acc, n_r))
            out["pnl"] = np.asarray(ramatrix @ pnl_r)
            out.update(
                pnl_r=pnl_r, basis_r=basis_r, r_asset=rkeys % max(len(instruments.assets), 1), r_acc=r_acc, loss_r=loss_r, worst_r=worst_r,
                bucket=bucket, b_group=b_group, base_b=base, shocked_b=shocked, contribution_b=contribution, basis_b=basis_b, im_factor=im_factor,
                linear_notional=linear_notional, naked=naked, mm_haircut=mm_haircut, im_haircut=im_haircut, oracle=oracle,
            )
        return out

    # -- public API ----------------------------------------------------------------------------
    def margin_book(self, book: Book, *, keep_scenarios: bool = False, prepared: Any = None) -> BookMarginResult:
        """Margin every account of ``book`` in vectorised chunks of ``chunk_accounts`` accounts.

        Parameters
        ----------
        book : Book
        keep_scenarios : bool
            Also return the (accounts x scenarios) P&L matrix.
        prepared : optional
            :meth:`prepare_book` of ``book.instruments`` (computed when not given): a caller margining
            several books over one instrument table (the book engine's trial closes) prepares once.

        Examples
        --------
        >>> table = InstrumentTable.build(["BTC-PERP", "ETH-PERP"], [PERPETUAL, PERPETUAL], ["BTC", "ETH"], price_usd=[100_000.0, 4_000.0])
        >>> book = Book.build(table, account=[0, 0, 1], instrument=[0, 1, 1], quantity=[1.0, -10.0, 5.0])
        >>> model = RiskMatrixModel(ScenarioGrid.regular(spot_range=0.1, points=3, vol_shocks=("none",)))
        >>> model.margin_book(book).maintenance_margin_usd.tolist()   # BTC 10,000 + ETH 4,000; ETH 2,000
        [14000.0, 2000.0]
        """
        prep = self._prepare(book.instruments) if prepared is None else prepared
        n = book.n_accounts
        starts = np.searchsorted(book.account, np.arange(0, n + self.chunk_accounts, self.chunk_accounts).clip(max=n))
        names = ("initial", "maintenance", "equity", "loss", "basis", "mm_cont", "im_cont", "worst")
        parts: dict[str, list[Any]] = {k: [] for k in (*names, "pnl")}
        bounds = list(range(0, n, self.chunk_accounts))
        iterator: Any = enumerate(bounds)
        if self.progress:
            from marginlab.progress import tqdm

            iterator = tqdm(iterator, total=len(bounds), desc=f"margin {self.name}", unit="chunk")
        for c, a0 in iterator:
            a1 = min(a0 + self.chunk_accounts, n)
            out = self._evaluate(book, prep, int(starts[c]), int(starts[c + 1]), a0, a1, keep_scenarios)
            for k in names:
                parts[k].append(out[k])
            if keep_scenarios:
                parts["pnl"].append(out["pnl"])
        joined: dict[str, Any] = {k: (np.concatenate(v) if v else np.zeros(0)).astype(np.int64 if k == "worst" else np.float64) for k, v in parts.items()}
        for key, field_name in (("initial", "initial_margin_usd"), ("maintenance", "maintenance_margin_usd"), ("equity", "equity_usd")):
            bad = ~np.isfinite(joined[key])
            if np.any(bad):
                i = int(np.argmax(bad))
                raise NumericalError(f"{field_name}[{book.account_ids[i]}]", float(joined[key][i]),
                                     f"the {self.name} total of this account is not finite (an overflow at these sizes); check its quantities and cash")
        return BookMarginResult(
            self.name, book.account_ids, joined["initial"], joined["maintenance"], joined["equity"], joined["loss"], joined["basis"],
            joined["mm_cont"], joined["im_cont"], joined["worst"].astype(np.int64), joined["pnl"].reshape(n, len(self.scenarios)) if keep_scenarios else None,
        )

    def evaluate_book_account(self, book: Book, account: int = 0) -> dict[str, Any]:
        """All intermediate arrays of one account of ``book`` (scenario P&L per risk unit, buckets,
        contingencies); used by :meth:`margin` and the Derive case adapter."""
        prep = self._prepare(book.instruments)
        p0, p1 = np.searchsorted(book.account, [account, account + 1])
        out = self._evaluate(book, prep, int(p0), int(p1), account, account + 1, True)
        out["prepared"] = prep
        out["positions"] = slice(int(p0), int(p1))
        return out

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        """Margin one account (see :meth:`margin_book` for many)."""
        account.require_positions()
        return self.result_from_book(Book.from_accounts([account], market), 0)

    def result_from_book(self, book: Book, account: int = 0) -> MarginResult:
        """A full :class:`MarginResult` (scenario table, worst scenario, contributions) for one account of ``book``.

        Risk units are underlyings: each has its own worst scenario and loss, and the scan loss
        is their sum (no offset between underlyings). The components table has one
        ``scan risk <underlying>`` row per risk unit, ``details["scan_risk_by_underlying"]`` the
        same figures with the worst scenario of each, and the positions table the P&L of every
        position in the worst scenario *of its own underlying* (positions of one underlying add
        up to minus that underlying's loss before static discounts, skew netting and the basis
        contingency). When the book keeps its source rows (:meth:`Book.build`), the positions
        table has one row per position given, not per netted instrument.
        """
        out = self.evaluate_book_account(book, account)
        prep: _Prepared = out["prepared"]
        grid = self.scenarios
        instruments = book.instruments
        sl = out["positions"]
        n_scen = len(grid)
        scenarios = grid.frame()
        scenarios["pnl_usd"] = out["pnl"][0]
        r_asset = np.asarray(out["r_asset"], dtype=np.int64)
        assets = [instruments.assets[a] for a in r_asset]
        if len(assets) > 1:
            for asset, row in zip(assets, out["pnl_r"]):
                scenarios[f"pnl_{asset}_usd"] = row
        loss_r = np.asarray(out["loss_r"], dtype=np.float64)
        worst_r = np.asarray(out["worst_r"], dtype=np.int64)
        worst_r = np.where(loss_r > 0, worst_r, -1)

        def label(index: int) -> str | None:
            return None if index < 0 else ("basis (forward) contingency" if index == n_scen else grid.label(index))

        worst = int(out["worst"][0])
        worst_label = label(worst)
        # positions: one row per source position (else per merged book row)
        merged_inst = book.instrument[sl]
        if book.source_row is not None and book.source_quantity is not None and book.source_mtm_usd is not None:
            source = np.flatnonzero((book.source_row >= sl.start) & (book.source_row < sl.stop))
            inst = book.instrument[book.source_row[source]]
            qty = book.source_quantity[source]
            mtm = book.source_mtm_usd[source]
        else:
            inst, qty, mtm = merged_inst, book.quantity[sl], book.mtm_usd[sl]
        symbols = np.asarray(instruments.symbol, dtype=object)
        kind_names = np.asarray(KIND_NAMES, dtype=object)
        asset_names = np.asarray(instruments.assets, dtype=object)
        positions = pd.DataFrame(
            {
                "symbol": text_column(symbols[inst]),
                "kind": text_column(kind_names[instruments.kind[inst]]),
                "underlying": text_column(asset_names[instruments.asset[inst]]),
                "quantity": qty,
                "value_usd": qty * prep.base[inst],
                "mtm_usd": mtm,
            }
        )
        # the worst scenario of each position's own underlying
        worst_of_asset = np.full(max(len(instruments.assets), 1), -1, dtype=np.int64)
        worst_of_asset[r_asset] = worst_r
        position_worst = worst_of_asset[instruments.asset[inst]] if len(inst) else np.zeros(0, dtype=np.int64)
        scenario_worst = (position_worst >= 0) & (position_worst < n_scen)
        if np.any(scenario_worst):
            column = np.where(scenario_worst, position_worst, 0)
            pnl = qty * (prep.values[inst, column] - prep.base[inst]) * grid.dampening_array[column]
            labels = np.asarray([label(int(w)) or "none" for w in worst_r], dtype=object)
            label_of_asset = np.full(len(worst_of_asset), "none", dtype=object)
            label_of_asset[r_asset] = labels
            positions["worst_scenario"] = text_column(label_of_asset[instruments.asset[inst]])
            positions["worst_scenario_pnl_usd"] = np.where(scenario_worst, pnl, np.nan)
        loss = float(out["loss"][0])
        im_factor = float(out["im_factor"][0])
        # scan risk per underlying: static-only risk units (collateral) are shown only when charged
        moving_assets = set(instruments.asset[merged_inst[instruments.kind[merged_inst] != STATIC]].tolist())
        shown = np.asarray([a in moving_assets or unit_loss > 0 for a, unit_loss in zip(r_asset.tolist(), loss_r.tolist())], dtype=bool)
        by_underlying = pd.DataFrame(
            {
                "underlying": [a for a, keep in zip(assets, shown) if keep],
                "worst_scenario": [label(int(w)) or "none (no loss)" for w, keep in zip(worst_r, shown) if keep],
                "worst_scenario_index": worst_r[shown],
                "loss_usd": loss_r[shown],
                "maintenance_margin_usd": self.mm_loss_factor * loss_r[shown],
                "initial_margin_usd": im_factor * loss_r[shown],
            }
        )
        rows = [
            (f"scan risk {r['underlying']}", r["initial_margin_usd"], r["maintenance_margin_usd"],
             f"worst loss {r['loss_usd']:,.2f} USD ({r['worst_scenario']}) x loss factor (MM {self.mm_loss_factor:g}, IM {im_factor:g})")
            for r in by_underlying.to_dict("records")
        ]
        if not rows:
            rows = [("scan risk", im_factor * loss, self.mm_loss_factor * loss, "no position moves with a scenario")]
        rows += [
            ("perpetual/future contingency", float(out["linear_notional"][0]) * self.linear_contingency_im, float(out["linear_notional"][0]) * self.linear_contingency_mm,
             f"notional {float(out['linear_notional'][0]):,.2f} USD x ({self.linear_contingency_mm:g} MM, +{self.linear_contingency_im:g} IM)"),
            ("naked short option contingency", float(out["naked"][0]) * self.option_contingency_im, float(out["naked"][0]) * self.option_contingency_mm,
             f"net short options per strike x index = {float(out['naked'][0]):,.2f} USD x ({self.option_contingency_mm:g} MM, +{self.option_contingency_im:g} IM)"),
            ("collateral haircuts", float(out["im_haircut"][0]), float(out["mm_haircut"][0]), "haircut x collateral value (IM part additional)"),
            ("oracle confidence", float(out["oracle"][0]), 0.0, "(1 - confidence) x margin x notional below the confidence threshold (IM only)"),
        ]
        components = pd.DataFrame(rows, columns=["component", "initial_margin_usd", "maintenance_margin_usd", "explanation"])
        components["initial_margin_usd"] += components["maintenance_margin_usd"] * ~components["component"].str.startswith("scan risk")
        details = {
            "worst_scenario": worst_label,
            "worst_scenario_index": worst,
            "scan_loss_usd": loss,
            "scan_risk_by_underlying": by_underlying,
            "basis_contingency_usd": float(out["basis"][0]),
            "im_loss_factor": im_factor,
            "risk_units": pd.DataFrame({"underlying": assets, "loss_usd": out["loss_r"], "basis_contingency_usd": out["basis_r"],
                                        "worst_scenario_index": out["worst_r"]}),
            "buckets": pd.DataFrame({"group": out["b_group"], "mtm_usd": out["base_b"], "basis_contingency_usd": out["basis_b"]}),
            "bucket_scenario_pnl_usd": out["contribution_b"],
            "bucket_shocked_value_usd": out["shocked_b"],
        }
        if len(by_underlying) > 1:
            parts = "; ".join(f"{r['underlying']} {r['loss_usd']:,.2f} USD in '{r['worst_scenario']}'" for r in by_underlying.to_dict("records"))
            first = (f"Scan risk is taken per underlying, each in its own worst of {n_scen} scenarios (no offset between underlyings): "
                     f"{parts}; total {loss:,.2f} USD.")
        else:
            first = f"The worst of {n_scen} scenarios is '{worst_label}' with a loss of {loss:,.2f} USD."
        notes = (
            first,
            "Position P&Ls are in the worst scenario of their own underlying, before the static discount of expiry values and skew netting.",
        )
        return MarginResult(self.name, float(out["initial"][0]), float(out["maintenance"][0]), float(out["equity"][0]), positions, components,
                            scenarios, details, notes)
