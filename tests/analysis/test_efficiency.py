"""Tests of the strategy library and margin tables (marginlab.analysis.efficiency).

Expected values: put-call parity (a box is worth (K2 - K1) D), intrinsic payoffs at expiry written
out by hand, Black-76 delta from scipy's normal CDF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from marginlab.account import Account
from marginlab.analysis.efficiency import (
    STRATEGIES,
    box,
    build_strategies,
    butterfly,
    calendar_spread,
    delta_neutral_call,
    margin_table,
    nearest_expiry,
    payoff_at_expiry_usd,
    round_strike,
)
from marginlab.exceptions import InputError, MissingMarketDataError, ParameterError, UnknownAssetError
from marginlab.instruments import Option, Perpetual
from marginlab.margin.base import MarginModel, MarginResult
from marginlab.market import MarketSnapshot
from marginlab.valuation import value_positions

MARKET = MarketSnapshot.from_dict(
    {
        "as_of": "2025-01-15T08:00:00Z",
        "rate": 0.05,
        "assets": {
            "BTC": {
                "index_usd": 100_000.0,
                "expiries": {
                    "2025-01-24": {"atm_vol": 0.6},
                    "2025-02-28": {"forward_usd": 101_000.0, "atm_vol": 0.55},
                    "2025-03-28": {"forward_usd": 102_000.0, "atm_vol": 0.5},
                },
            },
            "ETH": {"index_usd": 3_000.0},
        },
    }
)


def test_expiry_is_the_nearest_listed_at_least_30_days_ahead():
    assert nearest_expiry(MARKET, "BTC").date().isoformat() == "2025-02-28"
    assert nearest_expiry(MARKET, "BTC", 5).date().isoformat() == "2025-01-24"
    with pytest.raises(MissingMarketDataError):
        nearest_expiry(MARKET, "BTC", 100)


def test_strikes_are_relative_to_the_forward():
    # forward 101,000 for Feb: 10% OTM call 111,100 -> grid of 1,000 -> 111,000; put 90,900 -> 91,000
    strangle = STRATEGIES["strangle"](MARKET, "BTC", 2.0)
    strikes = sorted(p.instrument.strike_usd for p in strangle.positions)
    assert strikes == [91_000.0, 111_000.0]
    assert all(p.quantity == -2.0 for p in strangle.positions)
    assert round_strike(1_234.5, 1_200.0) == 1_230.0


def test_box_is_worth_strike_difference_discounted():
    account = box(MARKET, "BTC", size=3.0)
    strikes = sorted({p.instrument.strike_usd for p in account.positions})
    years = MARKET.time_to_expiry_years(nearest_expiry(MARKET, "BTC"))
    expected = 3.0 * (strikes[1] - strikes[0]) * math.exp(-0.05 * years)  # put-call parity
    value = float(value_positions(account.positions, MARKET).value_usd.sum())
    assert value == pytest.approx(expected, rel=1e-10)
    # and at expiry the payoff is exactly K2 - K1 whatever the price
    terminal = np.linspace(10_000, 300_000, 57)
    np.testing.assert_allclose(payoff_at_expiry_usd(account, terminal), 3.0 * (strikes[1] - strikes[0]))


def test_butterfly_payoff_is_non_negative_and_peaks_at_the_body():
    account = butterfly(MARKET, "BTC")
    low, mid, high = sorted(p.instrument.strike_usd for p in account.positions)
    terminal = np.linspace(50_000, 160_000, 1101)
    by_hand = np.maximum(terminal - low, 0) - 2 * np.maximum(terminal - mid, 0) + np.maximum(terminal - high, 0)
    payoff = payoff_at_expiry_usd(account, terminal)
    np.testing.assert_allclose(payoff, by_hand)
    assert payoff.min() >= 0
    assert payoff.max() == pytest.approx(min(mid - low, high - mid))


def test_covered_call_and_spreads_payoffs_by_hand():
    terminal = np.array([50_000.0, 100_000.0, 111_000.0, 200_000.0])
    covered = STRATEGIES["covered_call"](MARKET)
    np.testing.assert_allclose(payoff_at_expiry_usd(covered, terminal), np.minimum(terminal, 111_000.0))
    calls = STRATEGIES["call_spread"](MARKET)
    np.testing.assert_allclose(payoff_at_expiry_usd(calls, terminal), np.clip(terminal - 101_000.0, 0, 10_000.0))
    puts = STRATEGIES["put_spread"](MARKET)
    np.testing.assert_allclose(payoff_at_expiry_usd(puts, terminal), np.clip(101_000.0 - terminal, 0, 10_000.0))
    condor = STRATEGIES["iron_condor"](MARKET)
    assert payoff_at_expiry_usd(condor, np.array([101_000.0]))[0] == 0.0
    assert payoff_at_expiry_usd(condor, np.array([1_000.0]))[0] == pytest.approx(-(91_000 - 81_000))


def test_delta_neutral_call_and_basis_trade_are_delta_neutral():
    account = delta_neutral_call(MARKET, "BTC", size=2.0)
    option = account.positions[0].instrument
    assert isinstance(option, Option)
    years = MARKET.time_to_expiry_years(option.expiry)
    d1 = (math.log(101_000 / option.strike_usd) + 0.5 * 0.55**2 * years) / (0.55 * math.sqrt(years))
    delta = math.exp(-0.05 * years) * norm.cdf(d1)
    assert isinstance(account.positions[1].instrument, Perpetual)
    assert account.positions[1].quantity == pytest.approx(-2.0 * delta, rel=1e-10)
    basis = STRATEGIES["basis_trade"](MARKET, "ETH", 10.0)
    assert [p.quantity for p in basis.positions] == [10.0, -10.0]


def test_calendar_uses_the_next_expiry():
    account = calendar_spread(MARKET)
    expiries = [p.instrument.expiry.date().isoformat() for p in account.positions]
    assert expiries == ["2025-02-28", "2025-03-28"]
    with pytest.raises(InputError):
        payoff_at_expiry_usd(account, 1.0)


def test_build_all_strategies_and_bad_input():
    accounts = build_strategies(MARKET, "BTC", 1.0)
    assert set(accounts) == set(STRATEGIES) and len(accounts) == 14
    with pytest.raises(UnknownAssetError):
        build_strategies(MARKET, names=["jade_lizard"])
    with pytest.raises(ParameterError):
        STRATEGIES["strangle"](MARKET, otm=0.0)
    with pytest.raises(InputError):
        STRATEGIES["strangle"](MARKET, size=-1.0)
    with pytest.raises(MissingMarketDataError):
        STRATEGIES["strangle"](MARKET, "ETH")  # no listed expiries for ETH


@dataclass(frozen=True)
class _NotionalModel(MarginModel):
    """Test double: IM = 10% of notional, refuses options (a perpetual-only venue)."""

    def margin(self, account: Account, market: MarketSnapshot) -> MarginResult:
        if any(p.instrument.kind == "option" for p in account.positions):
            raise UnknownAssetError("instrument", "option", "this venue lists no options")
        notional = float(value_positions(account.positions, market).notional_usd.sum())
        return MarginResult("notional", 0.1 * notional, 0.05 * notional, 0.0, pd.DataFrame(), pd.DataFrame())


def test_margin_table_records_rejections_as_nan_with_reason():
    strategies = build_strategies(MARKET, names=["basis_trade", "naked_short_put"])
    table = margin_table(strategies, {"ten-percent": _NotionalModel()}, MARKET)
    basis = table.set_index("strategy").loc["basis_trade"]
    # 1 BTC spot + 1 BTC perpetual at 100,000: notional 200,000, IM 20,000 = 10%
    assert basis["notional_usd"] == pytest.approx(200_000.0)
    assert basis["initial_margin_usd"] == pytest.approx(20_000.0)
    assert basis["im_pct_of_notional"] == pytest.approx(10.0)
    assert basis["error"] == ""
    put = table.set_index("strategy").loc["naked_short_put"]
    assert math.isnan(put["initial_margin_usd"]) and "lists no options" in put["error"]


def test_plot_margin_table():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from marginlab.analysis.efficiency import plot_margin_table

    strategies = build_strategies(MARKET, names=["basis_trade", "naked_short_put"])
    ax = plot_margin_table(margin_table(strategies, {"ten-percent": _NotionalModel()}, MARKET))
    assert ax.get_xlabel() == "margin model" and ax.get_ylabel() == "strategy"
    assert "% of notional" in ax.figure.axes[-1].get_ylabel()
    plt.close(ax.figure)
    with pytest.raises(InputError):
        plot_margin_table(pd.DataFrame(), value="nope")
