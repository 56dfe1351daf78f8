"""Black-76 prices, greeks and implied volatility against QuantLib (an independent implementation).

QuantLib's ``BlackCalculator(payoff, forward, stdDev, discount)`` gives the price and the
forward greeks; its ``vega(T)`` is per 1.00 of volatility and ``theta(spot, T)`` with
``spot = forward`` is the calendar-time derivative with the forward held fixed -- the same
conventions as :mod:`marginlab.pricing`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from marginlab.exceptions import ConvergenceWarning, InputError
from marginlab.pricing import black76_greeks, black76_price, implied_vol

ql = pytest.importorskip("QuantLib")

FORWARD = 100_000.0
STRIKES = [60_000.0, 80_000.0, 95_000.0, 100_000.0, 105_000.0, 120_000.0, 150_000.0]
YEARS = [7 / 365, 30 / 365, 0.25, 1.0, 2.0]
VOLS = [0.2, 0.55, 0.9, 1.5]
RATES = [0.0, 0.05]
GRID = list(itertools.product(STRIKES, YEARS, VOLS, RATES, (True, False)))
RELATIVE = 1e-10


def _quantlib(strike: float, years: float, vol: float, rate: float, is_call: bool) -> dict[str, float]:
    option_type = ql.Option.Call if is_call else ql.Option.Put
    discount = math.exp(-rate * years)
    calculator = ql.BlackCalculator(ql.PlainVanillaPayoff(option_type, strike), FORWARD, vol * math.sqrt(years), discount)
    return {
        "price": calculator.value(),
        "delta": calculator.deltaForward(),
        "gamma": calculator.gammaForward(),
        "vega": calculator.vega(years),
        "theta": calculator.theta(FORWARD, years),
        "formula": ql.blackFormula(option_type, strike, FORWARD, vol * math.sqrt(years), discount),
    }


def _grid_arrays():  # type: ignore[no-untyped-def]
    strike, years, vol, rate, call = (np.array(column) for column in zip(*GRID))
    return strike, years, vol, rate, call.astype(bool)


def _assert_close(ours: np.ndarray, theirs: np.ndarray, name: str) -> None:
    # |ours - theirs| <= 1e-10 |theirs| + 1e-14 max|theirs|: relative agreement to 1e-10, with an
    # absolute floor at double-precision noise for values that cancel to ~0 (deep out-of-the-money
    # put deltas are N(d1) - 1 in QuantLib, i.e. 1e-16 of rounding).
    floor = 1e-14 * np.max(np.abs(theirs))
    excess = np.abs(ours - theirs) / (RELATIVE * np.abs(theirs) + floor)
    worst = int(np.argmax(excess))
    relative = abs(ours[worst] - theirs[worst]) / abs(theirs[worst]) if theirs[worst] else math.inf
    assert excess[worst] <= 1.0, f"{name}: ours {ours[worst]!r} vs QuantLib {theirs[worst]!r} (relative {relative:.2e}) at {GRID[worst]}"


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    rows = [_quantlib(*point) for point in GRID]
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


def test_price_matches_quantlib_black_formula_over_grid(reference: dict[str, np.ndarray]) -> None:
    strike, years, vol, rate, call = _grid_arrays()
    price = black76_price(FORWARD, strike, years, vol, rate, call)
    _assert_close(price, reference["formula"], "price vs blackFormula")
    _assert_close(price, reference["price"], "price vs BlackCalculator")


@pytest.mark.parametrize("greek", ["delta", "gamma", "vega", "theta"])
def test_greeks_match_quantlib_black_calculator_over_grid(reference: dict[str, np.ndarray], greek: str) -> None:
    strike, years, vol, rate, call = _grid_arrays()
    greeks = black76_greeks(FORWARD, strike, years, vol, rate, call)
    _assert_close(getattr(greeks, greek), reference[greek], greek)


def test_implied_vol_matches_quantlib_and_round_trips() -> None:
    strike, years, vol, rate, call = _grid_arrays()
    price = black76_price(FORWARD, strike, years, vol, rate, call)
    # The volatility is identifiable where a 1e-6 vol move changes the price above rounding noise;
    # elsewhere (short-dated, far from the money) implied_vol returns NaN and warns.
    vega = black76_greeks(FORWARD, strike, years, vol, rate, call).vega
    identifiable = vega * 1e-6 > 64 * np.finfo(float).eps * np.where(call, FORWARD, strike)
    assert identifiable.mean() > 0.9
    with pytest.warns(ConvergenceWarning, match="without identifiable time value"):
        ours = implied_vol(price, FORWARD, strike, years, rate, call)
    assert np.all(np.isnan(ours[~identifiable]))
    # accuracy is limited by conditioning: a price known to ~eps x scale gives the vol to ~that / vega
    noise = 64 * np.finfo(float).eps * np.where(call, FORWARD, strike) / vega
    error = np.abs(ours - vol)[identifiable]
    assert np.all(error <= 1e-9 * vol[identifiable] + noise[identifiable])
    well_conditioned = identifiable & (noise < 1e-12)
    np.testing.assert_allclose(ours[well_conditioned], vol[well_conditioned], rtol=1e-10)
    for i in np.flatnonzero(identifiable)[::5]:
        option_type = ql.Option.Call if call[i] else ql.Option.Put
        discount = math.exp(-rate[i] * years[i])
        std_dev = ql.blackFormulaImpliedStdDev(option_type, strike[i], FORWARD, float(price[i]), discount, 0.0, 0.5, 1e-14, 1000)
        assert ours[i] == pytest.approx(std_dev / math.sqrt(years[i]), rel=1e-8)


def test_textbook_value() -> None:
    # Hull's Black-76 convention: F = K = 100, T = 1, vol 20%, r = 0:
    # 100 (N(0.1) - N(-0.1)) = 100 (2 N(0.1) - 1) = 7.965567455405804
    expected = 100.0 * (2.0 * 0.5398278372770290 - 1.0)
    assert float(black76_price(100.0, 100.0, 1.0, 0.2, 0.0, True)) == pytest.approx(expected, rel=1e-12)


def test_zero_time_and_zero_vol_give_discounted_intrinsic() -> None:
    assert float(black76_price(110.0, 100.0, 0.0, 0.5, 0.0, True)) == 10.0
    assert float(black76_price(90.0, 100.0, 1.0, 0.0, 0.05, False)) == pytest.approx(10.0 * math.exp(-0.05))
    greeks = black76_greeks(110.0, 100.0, 0.0, 0.5, 0.0, True)
    assert (float(greeks.delta), float(greeks.gamma), float(greeks.vega), float(greeks.theta)) == (1.0, 0.0, 0.0, 0.0)


@settings(max_examples=200, deadline=None)
@given(
    forward=st.floats(100.0, 200_000.0),
    moneyness=st.floats(0.3, 3.0),
    years=st.floats(1 / 365, 3.0),
    vol=st.floats(0.01, 3.0),
    rate=st.floats(-0.05, 0.2),
)
def test_put_call_parity(forward: float, moneyness: float, years: float, vol: float, rate: float) -> None:
    # C - P = D (F - K), exactly, for any volatility
    strike = forward * moneyness
    call = float(black76_price(forward, strike, years, vol, rate, True))
    put = float(black76_price(forward, strike, years, vol, rate, False))
    assert call - put == pytest.approx(math.exp(-rate * years) * (forward - strike), abs=1e-9 * forward)
    call_delta = float(black76_greeks(forward, strike, years, vol, rate, True).delta)
    put_delta = float(black76_greeks(forward, strike, years, vol, rate, False).delta)
    assert call_delta - put_delta == pytest.approx(math.exp(-rate * years), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(moneyness=st.floats(0.7, 1.4), years=st.floats(7 / 365, 2.0), vol=st.floats(0.05, 2.0), is_call=st.booleans())
def test_implied_vol_round_trip(moneyness: float, years: float, vol: float, is_call: bool) -> None:
    price = black76_price(100.0, 100.0 * moneyness, years, vol, 0.01, is_call)
    # the volatility is identifiable only when the price carries time value above rounding noise
    assume(float(black76_greeks(100.0, 100.0 * moneyness, years, vol, 0.01, is_call).vega) > 1e-4)
    assert float(implied_vol(price, 100.0, 100.0 * moneyness, years, 0.01, is_call)) == pytest.approx(vol, rel=1e-8)


def test_implied_vol_rejects_prices_outside_no_arbitrage_bounds() -> None:
    with pytest.raises(InputError, match="price_usd"):
        implied_vol(120.0, 100.0, 100.0, 1.0, 0.0, True)  # a call is worth less than the forward
    with pytest.raises(InputError, match="price_usd"):
        implied_vol(5.0, 110.0, 100.0, 1.0, 0.0, True)  # below intrinsic 10
    with pytest.raises(InputError, match="price_usd"):
        implied_vol(float("nan"), 100.0, 100.0, 1.0)
    with pytest.raises(InputError, match="years"):
        implied_vol(5.0, 100.0, 100.0, 0.0)


def test_coin_settled_price_is_the_usd_price_in_coin_and_keeps_parity() -> None:
    from marginlab.pricing import coin_settled_price

    # QuantLib's USD price divided by the coin price; put-call parity in coin: C - P = D (F - K) / S
    forward, strike, years, vol, rate, index = 102_000.0, 90_000.0, 0.25, 0.6, 0.03, 100_000.0
    std = vol * math.sqrt(years)
    discount = math.exp(-rate * years)
    usd = ql.BlackCalculator(ql.PlainVanillaPayoff(ql.Option.Call, strike), forward, std, discount).value()
    call = float(coin_settled_price(forward, strike, years, vol, index, rate, True))
    put = float(coin_settled_price(forward, strike, years, vol, index, rate, False))
    assert call == pytest.approx(usd / index, rel=RELATIVE)
    assert call - put == pytest.approx(discount * (forward - strike) / index, rel=1e-9)
    with pytest.raises(InputError, match="index_usd"):
        coin_settled_price(forward, strike, years, vol, 0.0)


def test_coin_settled_payoff_matches_deribit_published_examples() -> None:
    # Deribit, "Options" (https://www.deribit.com/pages/docs/options, read 2026-12-01): a 10,000 call bought for
    # 0.05 BTC settles at 12,500 with "2,500 USD, which is 0.2 BTC (2,500/12,500 = 0.2)"; profit 0.2 - 0.05 = 0.15 BTC.
    # A 10,000 put settled at 5,000 is worth 5,000 USD = 1 BTC. At expiry (years = 0) the price is the intrinsic value.
    from marginlab.pricing import coin_settled_price

    call = float(coin_settled_price(12_500.0, 10_000.0, 0.0, 0.6, 12_500.0, 0.0, True))
    put = float(coin_settled_price(5_000.0, 10_000.0, 0.0, 0.6, 5_000.0, 0.0, False))
    assert call == pytest.approx(0.2, rel=1e-15) and call - 0.05 == pytest.approx(0.15)
    assert put == pytest.approx(1.0, rel=1e-15)
