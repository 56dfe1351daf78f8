"""The instrument table of the columnar book and its revaluation.

:class:`InstrumentTable`
    One row per *distinct* instrument at the valuation time: kind (:class:`~marginlab.book.kinds.InstrumentKind`),
    underlying, reference price, index, forward, strike, seconds to expiry, vol, rate, oracle
    confidence, and the numeraire of a coin-margined holder.
:func:`revalue_instruments`
    The unit value of every row under arbitrary (spot multiplier, vol multiplier) scenarios:
    the one revaluation kernel of every scenario engine (risk matrix, FHS VaR/ES, OKX PM, SPAN).
:func:`to_numeraire`
    Scenario values of coin-margined rows measured in their coin.

Options are priced with Black-76 on the forward with the guards of Derive's on-chain pricer
(:func:`black76_guarded`); near settlement a forward is split into a moving and a frozen part
(``forward_freeze_seconds``).

This module is on the low floor of the package: it imports nothing from ``margin``,
``analysis`` or ``calibration``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from marginlab.book.kinds import FUTURE, OPTION, PERPETUAL, SPOT, STATIC
from marginlab.exceptions import InputError
from marginlab.market import SECONDS_PER_YEAR

__all__ = ["InstrumentTable", "black76_guarded", "forward_parts", "option_values", "revalue_instruments", "to_numeraire"]


# ----------------------------------------------------------------------------------------
# pricing kernel
# ----------------------------------------------------------------------------------------
def black76_guarded(
    forward_usd: ArrayLike, strike_usd: ArrayLike, total_vol: ArrayLike, discount: ArrayLike, is_call: ArrayLike
) -> NDArray[np.float64]:
    """Discounted Black-76 price with the guards of Derive's on-chain pricer.

    ``c = N(d1) - mu N(d1 - V)`` (``mu = K / F``, ``V = vol sqrt(years)`` the total vol) floored
    at 0, ``c = 1`` when ``V >= 24``, ``c = max(1 - mu, 0)`` when ``V = 0``; puts by parity
    ``p = max(c + mu - 1, 0)``; ``call = min(c F D, F D)``, ``put = min(p F D, K D)``. A zero
    strike gives ``call = F D, put = 0``; a zero forward ``call = 0, put = K D``.

    >>> round(float(black76_guarded(100.0, 100.0, 0.2, 1.0, True)), 6)   # = black76_price(100, 100, 1, 0.2)
    7.965567
    """
    forward, strike, total, disc = (np.asarray(a, dtype=np.float64) for a in (forward_usd, strike_usd, total_vol, discount))
    call = np.asarray(is_call, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mu = strike / forward
        live = (total > 0) & (forward > 0) & (strike > 0)
        safe_total = np.where(live, total, 1.0)
        safe_mu = np.where(live, mu, 1.0)
        d1 = (-np.log(safe_mu) + 0.5 * safe_total * safe_total) / safe_total
        normalised = np.maximum(ndtr(d1) - safe_mu * ndtr(d1 - safe_total), 0.0)
        normalised = np.where(total >= 24.0, 1.0, normalised)
        normalised = np.where(live, normalised, np.maximum(1.0 - np.where(np.isfinite(mu), mu, 0.0), 0.0))
        normalised_put = np.maximum(normalised + np.where(np.isfinite(mu), mu, 0.0) - 1.0, 0.0)
        call_value = np.minimum(normalised * forward * disc, forward * disc)
        put_value = np.minimum(normalised_put * forward * disc, strike * disc)
    call_value = np.where(strike <= 0, forward * disc, np.where(forward <= 0, 0.0, call_value))
    put_value = np.where(strike <= 0, 0.0, np.where(forward <= 0, strike * disc, put_value))
    return np.asarray(np.where(call, call_value, put_value), dtype=np.float64)


# ----------------------------------------------------------------------------------------
# the table
# ----------------------------------------------------------------------------------------
def _array(values: Any, n: int, default: float, name: str) -> NDArray[np.float64]:
    if values is None:
        return np.full(n, default, dtype=np.float64)
    out = np.asarray(values, dtype=np.float64).reshape(-1)
    if out.shape != (n,):
        raise InputError(name, f"shape {out.shape}", f"must have one value per instrument ({n})")
    return out



@dataclass(frozen=True)
class InstrumentTable:
    """Distinct instruments at one valuation time (one row each).

    Parameters
    ----------
    symbol : sequence of str
    kind : array of int
        An :class:`~marginlab.book.kinds.InstrumentKind` code: ``SPOT``, ``PERPETUAL``, ``FUTURE``, ``OPTION`` or ``STATIC``
        (collateral that does not move with any scenario).
    asset : array of int
        Index into ``assets`` of the underlying (risk unit).
    assets : tuple of str
    price_usd : array
        Value of one unit for spot/static (moves with the spot shock for spot), the mark used
        for perpetual scenario P&L; ignored for futures and options.
    index_usd : array
        Index price used for notional-based contingencies (defaults to ``price_usd``).
    forward_usd, strike_usd, seconds, vol, rate, is_call, confidence : arrays
        Futures and options: forward, strike, seconds to expiry, annualised vol,
        continuously-compounded rate; ``confidence`` is the oracle confidence in [0, 1].
    numeraire : array of int, optional
        Per row, the index into ``assets`` of the coin its holder is margined in (a
        coin-margined account), or -1 for USD (default for every row). Scenario values of a
        row with a coin numeraire are measured in that coin and expressed at today's coin
        price (:func:`to_numeraire`).
    """

    symbol: tuple[str, ...]
    kind: NDArray[np.int64]
    asset: NDArray[np.int64]
    assets: tuple[str, ...]
    price_usd: NDArray[np.float64]
    index_usd: NDArray[np.float64]
    forward_usd: NDArray[np.float64]
    strike_usd: NDArray[np.float64]
    seconds: NDArray[np.float64]
    vol: NDArray[np.float64]
    rate: NDArray[np.float64]
    is_call: NDArray[np.bool_]
    confidence: NDArray[np.float64]
    numeraire: NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return len(self.kind)

    @classmethod
    def build(
        cls,
        symbol: Sequence[str],
        kind: ArrayLike,
        asset: Sequence[str],
        *,
        price_usd: ArrayLike | None = None,
        index_usd: ArrayLike | None = None,
        forward_usd: ArrayLike | None = None,
        strike_usd: ArrayLike | None = None,
        seconds: ArrayLike | None = None,
        vol: ArrayLike | None = None,
        rate: ArrayLike | None = None,
        is_call: ArrayLike | None = None,
        confidence: ArrayLike | None = None,
        numeraire: Sequence[str | None] | None = None,
    ) -> "InstrumentTable":
        """Validate and assemble the arrays (``asset`` given as names).

        >>> from marginlab.book.kinds import PERPETUAL
        >>> table = InstrumentTable.build(["BTC-PERP"], [PERPETUAL], ["BTC"], price_usd=[100000.0])
        >>> len(table), table.assets
        (1, ('BTC',))
        """
        kinds = np.asarray(kind, dtype=np.int64).reshape(-1)
        n = len(kinds)
        if len(symbol) != n or len(asset) != n:
            raise InputError("symbol", len(symbol), f"symbol, kind and asset must have the same length ({n})")
        if np.any((kinds < SPOT) | (kinds > STATIC)):
            raise InputError("kind", kinds[(kinds < SPOT) | (kinds > STATIC)][0], "unknown instrument kind code")
        assets, asset_index = np.unique(np.asarray(asset, dtype=object).astype(str), return_inverse=True)
        price = _array(price_usd, n, np.nan, "price_usd")
        index = _array(index_usd, n, np.nan, "index_usd")
        index = np.where(np.isnan(index), price, index)
        forward = _array(forward_usd, n, np.nan, "forward_usd")
        strike = _array(strike_usd, n, np.nan, "strike_usd")
        secs = _array(seconds, n, 0.0, "seconds")
        vols = _array(vol, n, 0.0, "vol")
        rates = _array(rate, n, 0.0, "rate")
        calls = np.zeros(n, dtype=bool) if is_call is None else np.asarray(is_call, dtype=bool).reshape(-1)
        conf = _array(confidence, n, 1.0, "confidence")
        derivative = (kinds == FUTURE) | (kinds == OPTION)
        checks = [
            ("price_usd", ~derivative, price),
            ("forward_usd", derivative, forward),
            ("strike_usd", kinds == OPTION, strike),
            ("seconds", derivative, secs),
            ("vol", kinds == OPTION, vols),
            ("index_usd", kinds != STATIC, index),
        ]
        for name, mask, values in checks:
            bad = mask & ~(np.isfinite(values) & (values >= 0))
            if np.any(bad):
                i = int(np.argmax(bad))
                raise InputError(f"{name}[{symbol[i]}]", float(values[i]), "must be a finite non-negative number")
        if np.any(~np.isfinite(rates)):
            i = int(np.argmax(~np.isfinite(rates)))
            raise InputError(f"rate[{symbol[i]}]", float(rates[i]), "must be finite")
        if np.any(~((conf >= 0) & (conf <= 1))):
            i = int(np.argmax(~((conf >= 0) & (conf <= 1))))
            raise InputError(f"confidence[{symbol[i]}]", float(conf[i]), "must be in [0, 1]")
        numeraire_index = None
        if numeraire is not None and any(c not in (None, "USD") for c in numeraire):
            if len(numeraire) != n:
                raise InputError("numeraire", len(numeraire), f"must have one entry per instrument ({n})")
            known = [str(a) for a in assets]
            unknown = [c for c in numeraire if c not in (None, "USD") and c not in known]
            if unknown:
                raise InputError("numeraire", unknown[0], f"must be USD or an asset of the table (known: {known})")
            numeraire_index = np.array([-1 if c in (None, "USD") else known.index(str(c)) for c in numeraire], dtype=np.int64)
        return cls(tuple(symbol), kinds, asset_index.astype(np.int64), tuple(str(a) for a in assets), price, index, forward, strike, secs, vols, rates, calls, conf,
                   numeraire_index)

    @property
    def years(self) -> NDArray[np.float64]:
        return self.seconds / SECONDS_PER_YEAR


# ----------------------------------------------------------------------------------------
# revaluation (the one kernel of every scenario engine)
# ----------------------------------------------------------------------------------------
def forward_parts(instruments: InstrumentTable, freeze_seconds: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(moving, frozen)`` parts of each row's forward: ``F * s / freeze`` moves with the spot, the rest is frozen
    (``s`` the seconds to expiry; all of it moves when ``freeze_seconds`` is 0)."""
    forward = np.nan_to_num(instruments.forward_usd)
    if freeze_seconds > 0:
        moving = np.clip(instruments.seconds / freeze_seconds, 0.0, 1.0)
        return forward * moving, forward * (1.0 - moving)
    return forward, np.zeros_like(forward)


def revalue_instruments(
    instruments: InstrumentTable,
    spot_multipliers: ArrayLike,
    vol_multipliers: ArrayLike,
    *,
    forward_freeze_seconds: float = 0.0,
    clamp_negative_rates: bool = False,
) -> NDArray[np.float64]:
    """Unit value of every instrument under arbitrary (spot multiplier, vol multiplier) scenarios.

    This is the revaluation kernel of the engine, exposed for other scenario engines (FHS
    VaR/ES): each distinct instrument is valued once per scenario.

    Parameters
    ----------
    instruments : InstrumentTable
    spot_multipliers : array_like, shape (n_scenarios,) or (n_assets, n_scenarios)
        Multiplier on each underlying (one row per ``instruments.assets`` entry, or one row
        applied to every asset).
    vol_multipliers : array_like, same shapes
        Multiplier on every option's vol.
    forward_freeze_seconds, clamp_negative_rates
        As in :class:`~marginlab.margin.risk_matrix.RiskMatrixModel`.

    Returns
    -------
    ndarray, shape (n_instruments, n_scenarios)
        Unit value: spot ``price * x``, perpetual ``price * x``, future ``forward(x)``,
        option discounted Black-76 price, static collateral ``price``. The P&L of a position is
        ``quantity * (value[:, s] - value_unshocked)``.

    >>> from marginlab.book.kinds import PERPETUAL
    >>> table = InstrumentTable.build(["BTC-PERP"], [PERPETUAL], ["BTC"], price_usd=[100.0])
    >>> revalue_instruments(table, [0.9, 1.0, 1.1], [1.0, 1.0, 1.0]).round(6).tolist()
    [[90.0, 100.0, 110.0]]
    """
    spot = np.atleast_2d(np.asarray(spot_multipliers, dtype=np.float64))
    volm = np.atleast_2d(np.asarray(vol_multipliers, dtype=np.float64))
    spot, volm = np.broadcast_arrays(spot, volm)
    n_assets = len(instruments.assets)
    if spot.shape[0] not in (1, n_assets):
        raise InputError("spot_multipliers", spot.shape, f"must have 1 or {n_assets} rows (one per asset)")
    rows = instruments.asset if spot.shape[0] > 1 else np.zeros(len(instruments), dtype=np.int64)
    x = spot[rows]  # (n_inst, S)
    vm = volm[rows]
    out = np.empty(x.shape)
    kind = instruments.kind
    moving, fixed = forward_parts(instruments, forward_freeze_seconds)
    out[:] = np.nan_to_num(instruments.price_usd)[:, None]
    linear = (kind == SPOT) | (kind == PERPETUAL)
    out[linear] *= x[linear]
    future = kind == FUTURE
    out[future] = moving[future, None] * x[future] + fixed[future, None]
    option = kind == OPTION
    if np.any(option):
        out[option] = option_values(instruments, option, moving[option, None] * x[option] + fixed[option, None],
                                     instruments.vol[option, None] * vm[option], clamp_negative_rates)
    return to_numeraire(instruments, out, spot)


def to_numeraire(instruments: InstrumentTable, values: NDArray[np.float64], spot_multipliers: NDArray[np.float64],
                 rows: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
    """Scenario unit values of coin-margined rows measured in their coin, expressed at today's coin price.

    For a row whose holder is margined in coin ``c`` (``instruments.numeraire``) moving by the
    multiplier ``x_c`` in a scenario, a USD amount ``V`` is worth ``V / (P_c x_c)`` coins, i.e.
    ``V / x_c`` in USD at today's price ``P_c``. Hence, with ``v`` the USD unit value and
    ``v0`` its unshocked value:

    * options, spot and collateral (the unit value is a value): ``v / x_c`` -- the coin's own
      spot (``P x_c``) is then constant (one coin is one coin) and static collateral or USD cash
      (``P``) gains in coin when the coin falls;
    * perpetuals and futures (the unit value is a price, the P&L ``q (v - v0)``): the P&L is
      converted, ``v0 + (v - v0) / x_c``.

    A short put held by a BTC-margined account therefore loses ``L / x_BTC`` when BTC falls
    by ``1 - x_BTC``: more than the USD loss ``L`` (the wrong-way effect of coin collateral).
    Rows with numeraire -1 (USD) are returned unchanged, so USD books are bit-identical.
    ``rows`` restricts the conversion to a subset of rows (``values`` then holds only those).
    """
    numeraire = instruments.numeraire
    if numeraire is None:
        return values
    selected = numeraire >= 0 if rows is None else (numeraire >= 0)[rows]
    if not np.any(selected):
        return values
    index = np.arange(len(instruments)) if rows is None else np.flatnonzero(rows)
    chosen = index[selected]
    spot = np.atleast_2d(spot_multipliers)
    xc = spot[numeraire[chosen]] if spot.shape[0] > 1 else np.broadcast_to(spot[0], (len(chosen), spot.shape[1]))
    kind = instruments.kind[chosen]
    out = values.copy()
    block = out[selected]
    linear = (kind == PERPETUAL) | (kind == FUTURE)
    unshocked = np.where(kind == FUTURE, np.nan_to_num(instruments.forward_usd[chosen]), np.nan_to_num(instruments.price_usd[chosen]))
    with np.errstate(divide="ignore", invalid="ignore"):
        converted = np.where(linear[:, None], unshocked[:, None] + (block - unshocked[:, None]) / xc, block / xc)
    out[selected] = converted
    return out


def option_values(instruments: InstrumentTable, option: NDArray[np.bool_], forward: NDArray[np.float64], vol: NDArray[np.float64],
                   clamp_negative_rates: bool, horizon_years: float = 0.0, rate_shock: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """Discounted Black-76 values of the ``option`` rows at shocked ``forward`` and ``vol`` (rows x scenarios).

    The time and rate dimensions of a scenario grid: reprice at ``T - horizon_years`` (intrinsic once expired)
    and at ``rate + rate_shock`` per scenario.
    """
    years = np.maximum(instruments.years[option, None] - horizon_years, 0.0)
    rate = instruments.rate[option, None] + (0.0 if rate_shock is None else rate_shock[None, :])
    if clamp_negative_rates:
        rate = np.maximum(rate, 0.0)
    discount = np.exp(-rate * years)
    return black76_guarded(forward, instruments.strike_usd[option, None], vol * np.sqrt(years), discount, instruments.is_call[option, None])
