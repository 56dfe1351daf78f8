"""Black-76 option prices, greeks and implied volatility, vectorised with numpy.

All functions broadcast over their array arguments. Conventions:

* ``forward_usd`` and ``strike_usd`` in USD, ``years`` to expiry (365-day years),
  ``vol`` an annualised fraction (0.55 = 55%), ``rate`` a continuously-compounded
  annual fraction; the discount factor is ``exp(-rate * years)``.
* Greeks are with respect to the forward: ``delta = dV/dF``, ``gamma = d2V/dF2``,
  ``vega = dV/dvol`` (per 1.00 of vol; divide by 100 for a vol point) and ``theta = dV/dt`` per
  year of calendar time (negative for a long option; divide by 365 for a day).
* At ``years == 0`` or ``vol == 0`` the price is the discounted intrinsic value.

The formulas (Black, 1976) are, with ``d1 = (ln(F/K) + vol^2 T / 2) / (vol sqrt(T))`` and
``d2 = d1 - vol sqrt(T)``::

    call = D (F N(d1) - K N(d2))        put = D (K N(-d2) - F N(-d1))

>>> from marginlab.pricing import black76_price
>>> round(float(black76_price(100.0, 100.0, 1.0, 0.2, 0.0, True)), 6)
7.965567
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from marginlab.exceptions import ConvergenceWarning, InputError

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _normal_pdf(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _d1_d2(forward, strike, years, vol):  # type: ignore[no-untyped-def]
    total_vol = vol * np.sqrt(years)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(forward / strike) + 0.5 * total_vol * total_vol) / total_vol
    return d1, d1 - total_vol, total_vol


def black76_price(
    forward_usd: ArrayLike,
    strike_usd: ArrayLike,
    years: ArrayLike,
    vol: ArrayLike,
    rate: ArrayLike = 0.0,
    is_call: ArrayLike = True,
) -> NDArray[np.float64]:
    """Discounted Black-76 price of a European call or put on a forward.

    Parameters
    ----------
    forward_usd, strike_usd : array_like
        Forward and strike, positive.
    years : array_like
        Time to expiry in years, non-negative.
    vol : array_like
        Annualised volatility, non-negative.
    rate : array_like
        Continuously-compounded discount rate.
    is_call : array_like of bool
        True for calls, False for puts.

    Returns
    -------
    ndarray
        Prices in the currency of the forward, broadcast over the inputs.
    """
    forward, strike, years_, vol_, rate_ = (np.asarray(a, dtype=np.float64) for a in (forward_usd, strike_usd, years, vol, rate))
    call = np.asarray(is_call, dtype=bool)
    discount = np.exp(-rate_ * years_)
    d1, d2, total_vol = _d1_d2(forward, strike, years_, vol_)
    sign = np.where(call, 1.0, -1.0)
    value = sign * (forward * ndtr(sign * d1) - strike * ndtr(sign * d2))
    intrinsic = np.maximum(sign * (forward - strike), 0.0)
    value = np.where(total_vol > 0, value, intrinsic)
    return np.asarray(discount * np.maximum(value, 0.0), dtype=np.float64)


def coin_settled_price(
    forward_usd: ArrayLike,
    strike_usd: ArrayLike,
    years: ArrayLike,
    vol: ArrayLike,
    index_usd: ArrayLike,
    rate: ArrayLike = 0.0,
    is_call: ArrayLike = True,
) -> NDArray[np.float64]:
    """Price **in coin** of a coin-settled option (Deribit's ``BTC-28MAR25-100000-C``).

    The option pays ``max(S_T - K, 0) / S_T`` coins (call), which converted at ``S_T`` is the
    USD payoff of the linear option: its USD value is :func:`black76_price`, and its value in
    coin is that divided by today's coin price ``index_usd``. Deribit, "Options"
    (https://www.deribit.com/pages/docs/options, read 2026-12-01): "The options are priced in
    BTC"; a 10,000 call bought for 0.05 BTC that expires at 12,500 "will settle with a value of
    2,500 USD, which is 0.2 BTC (2,500/12,500 = 0.2)". Deribit shows the USD equivalent using the
    future of the same expiry (or the index); we convert at the index, the price coin balances
    are valued at.

    >>> round(float(coin_settled_price(100_000.0, 100_000.0, 1.0, 0.2, 100_000.0)), 8)  # 7,965.567 USD / 100,000
    0.07965567
    """
    index = np.asarray(index_usd, dtype=np.float64)
    if np.any(~(np.isfinite(index) & (index > 0))):
        bad = np.atleast_1d(index)[~(np.isfinite(np.atleast_1d(index)) & (np.atleast_1d(index) > 0))][0]
        raise InputError("index_usd", float(bad), "must be a positive finite price")
    return np.asarray(black76_price(forward_usd, strike_usd, years, vol, rate, is_call) / index, dtype=np.float64)


class Greeks(NamedTuple):
    """Black-76 price and forward greeks (arrays of the broadcast shape)."""

    price: NDArray[np.float64]
    delta: NDArray[np.float64]
    gamma: NDArray[np.float64]
    vega: NDArray[np.float64]
    theta: NDArray[np.float64]


def black76_greeks(
    forward_usd: ArrayLike,
    strike_usd: ArrayLike,
    years: ArrayLike,
    vol: ArrayLike,
    rate: ArrayLike = 0.0,
    is_call: ArrayLike = True,
) -> Greeks:
    """Price, delta, gamma, vega and theta (per year) under Black-76.

    ``theta`` is the derivative with respect to calendar time with the forward held fixed:
    ``theta = -D F n(d1) vol / (2 sqrt(T)) + rate * price``. At expiry or zero vol the greeks
    are those of the intrinsic value (delta 0 or +-D, gamma, vega and theta 0).
    """
    forward, strike, years_, vol_, rate_ = (np.asarray(a, dtype=np.float64) for a in (forward_usd, strike_usd, years, vol, rate))
    call = np.asarray(is_call, dtype=bool)
    discount = np.exp(-rate_ * years_)
    d1, _, total_vol = _d1_d2(forward, strike, years_, vol_)
    live = total_vol > 0
    price = black76_price(forward, strike, years_, vol_, rate_, call)
    sign = np.where(call, 1.0, -1.0)
    pdf = _normal_pdf(np.where(live, d1, 0.0))
    intrinsic_delta = np.where(sign * (forward - strike) > 0, sign * discount, 0.0)
    delta = np.where(live, sign * discount * ndtr(sign * np.where(live, d1, 0.0)), intrinsic_delta)
    safe_total_vol = np.where(live, total_vol, 1.0)
    gamma = np.where(live, discount * pdf / (forward * safe_total_vol), 0.0)
    sqrt_years = np.sqrt(np.where(live, years_, 1.0))
    vega = np.where(live, discount * forward * pdf * sqrt_years, 0.0)
    theta = np.where(live, -discount * forward * pdf * vol_ / (2.0 * sqrt_years) + rate_ * price, 0.0)
    return Greeks(price, np.asarray(delta), np.asarray(gamma), np.asarray(vega), np.asarray(theta))


def implied_vol(
    price_usd: ArrayLike,
    forward_usd: ArrayLike,
    strike_usd: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike = 0.0,
    is_call: ArrayLike = True,
    *,
    tolerance: float = 1e-12,
    max_iterations: int = 100,
) -> NDArray[np.float64]:
    """Black-76 implied volatility, vectorised (safeguarded Newton within a bisection bracket).

    Raises :class:`~marginlab.exceptions.InputError` when a price lies outside the no-arbitrage
    bounds ``[D * intrinsic, D * F]`` (call) / ``[D * intrinsic, D * K]`` (put), naming the first
    offending element.

    Where the volatility is not identifiable -- the time value is below floating-point
    resolution, so that moving the volatility by 1e-6 changes the price by less than about
    1e-14 of its scale (deep in- or out-of-the-money short-dated options) -- or where the
    iteration does not converge, the result is NaN and a
    :class:`~marginlab.exceptions.ConvergenceWarning` says how many elements are affected.

    >>> from marginlab.pricing import black76_price, implied_vol
    >>> price = black76_price(100.0, 110.0, 0.5, 0.65, 0.01, False)
    >>> round(float(implied_vol(price, 100.0, 110.0, 0.5, 0.01, False)), 10)
    0.65
    """
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (price_usd, forward_usd, strike_usd, years, rate)), np.asarray(is_call, dtype=bool))
    price, forward, strike, years_, rate_ = (np.array(a, dtype=np.float64) for a in arrays[:5])
    call = np.array(arrays[5], dtype=bool)
    if np.any(~(years_ > 0)):
        index = int(np.argmax(~(years_ > 0)))
        raise InputError("years", float(years_.flat[index]), "implied vol needs a positive time to expiry")
    discount = np.exp(-rate_ * years_)
    lower = black76_price(forward, strike, years_, 0.0, rate_, call)
    upper = discount * np.where(call, forward, strike)
    bad = ~np.isfinite(price) | (price < lower - 1e-12 * upper) | (price >= upper)
    if np.any(bad):
        index = int(np.argmax(bad))
        raise InputError("price_usd", float(price.flat[index]), f"outside the no-arbitrage bounds [{float(lower.flat[index])}, {float(upper.flat[index])})")
    low = np.zeros_like(price)
    high = np.full_like(price, 5.0)
    while np.any(black76_price(forward, strike, years_, high, rate_, call) < price):
        high = np.where(black76_price(forward, strike, years_, high, rate_, call) < price, high * 2.0, high)
        if np.max(high) > 1e4:
            break
    vol = np.full_like(price, 0.5)
    for _ in range(max_iterations):
        greeks = black76_greeks(forward, strike, years_, vol, rate_, call)
        error = greeks.price - price
        low = np.where(error < 0, vol, low)
        high = np.where(error > 0, vol, high)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = vol - error / greeks.vega
        inside = np.isfinite(newton) & (newton > low) & (newton < high)
        vol_next = np.where(inside, newton, 0.5 * (low + high))
        if np.all(np.abs(vol_next - vol) <= tolerance * np.maximum(1.0, vol)):
            vol = vol_next
            break
        vol = vol_next
    greeks = black76_greeks(forward, strike, years_, vol, rate_, call)
    flat = greeks.vega * 1e-6 <= 64 * np.finfo(float).eps * upper
    unconverged = ~flat & (np.abs(greeks.price - price) > 1e-9 * upper)
    if np.any(flat | unconverged):
        warnings.warn(
            f"implied_vol: {int(np.sum(flat))} price(s) without identifiable time value and {int(np.sum(unconverged))} "
            "not converged; returned NaN for them",
            ConvergenceWarning,
            stacklevel=2,
        )
        vol = np.where(flat | unconverged, np.nan, vol)
    return vol
