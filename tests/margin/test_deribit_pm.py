"""Deribit portfolio-margin presets: worked examples C3 (vol shocks) and D (futures PM)
from ``../shared/reference/worked_examples.md``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from marginlab.account import Account
from marginlab.instruments import Future, Option, Position
from marginlab.margin.deribit_pm import deribit_futures_pm, deribit_pm, deribit_vol_shock
from marginlab.margin.presets import get_model
from marginlab.market import MarketSnapshot


def test_c3_vol_shock_hand_numbers() -> None:
    """C3: up = max(vol (1 + 0.5 (30/DTE)^p), 0.5), down = vol (1 - 0.25 (30/DTE)^p), p = 0.3 (<= 30 d), 0.13 (> 30 d)."""
    shock = deribit_vol_shock()
    # DTE 7.5 d, vol 0.6: (30/7.5)^0.3 = 4^0.3 = 1.515717; up = 0.6 * 1.757858 = 1.054715; down = 0.6 * 0.621071 = 0.372642
    up, down = shock.shocked_vols(0.6, 7.5)
    assert float(up) == pytest.approx(0.6 * (1 + 0.5 * 4**0.3), rel=1e-14)
    assert float(up) == pytest.approx(1.054715, abs=1e-6)
    assert float(down) == pytest.approx(0.372642, abs=1e-6)
    # DTE 60 d, vol 0.6: (30/60)^0.13 = 0.913831; up = 0.6 * 1.456916 = 0.874149; down = 0.6 * 0.771542 = 0.462925
    up, down = shock.shocked_vols(0.6, 60.0)
    assert float(up) == pytest.approx(0.874149, abs=1e-6)
    assert float(down) == pytest.approx(0.462925, abs=1e-6)
    # the 0.5 floor binds for a low vol: DTE 90 d, vol 0.3: 0.3 * (1 + 0.5 * (1/3)^0.13) = 0.4300 -> 0.5
    up, _ = shock.shocked_vols(0.3, 90.0)
    assert float(up) == 0.5
    # exactly 30 days uses the short-term power and m = 1: up = 0.6 * 1.5 = 0.9, down = 0.6 * 0.75 = 0.45
    up, down = shock.shocked_vols(0.6, 30.0)
    assert (float(up), float(down)) == pytest.approx((0.9, 0.45), rel=1e-14)


def test_c3_grid_has_nine_price_points_times_three_vol_moves_and_the_extended_table() -> None:
    model = deribit_pm()
    frame = model.scenarios.frame()
    regular = frame[frame["family"] == "regular"]
    assert sorted(set(np.round(regular["spot_shock"] - 1, 6))) == pytest.approx([-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16])
    assert len(regular) == 27 and set(regular["vol_shock"]) == {"up", "none", "down"}
    tail = frame[frame["family"] == "tail"]
    assert list(np.round(tail["spot_shock"] - 1, 2)) == [-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert set(tail["vol_shock"]) == {"up"}


def test_c3_option_scenario_uses_the_shocked_vol() -> None:
    # one long 30-day ATM call, spot unchanged + vol up: P&L = Black(vol 0.9) - Black(vol 0.6) (closed form, rate 0)
    from scipy.stats import norm

    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000, "expiries": {"2025-02-14": {"atm_vol": 0.6}}}}})
    result = deribit_pm().margin(Account([Position(Option("BTC", "2025-02-14", 100_000, "call"), 1.0)]), market)
    years = 30 / 365

    def atm_call(vol: float) -> float:
        total = vol * math.sqrt(years)
        return 100_000 * (norm.cdf(total / 2) - norm.cdf(-total / 2))

    row = result.scenarios[(result.scenarios["spot_shock"] == 1.0) & (result.scenarios["vol_shock"] == "up")].iloc[0]
    assert row["pnl_usd"] == pytest.approx(atm_call(0.9) - atm_call(0.6), rel=1e-9)


def test_d_futures_portfolio_margin() -> None:
    """D: 10 long ETH futures, 20 days, I0 = 2,243.3, basis 8%: F0 = 2,253.2, contingency 134.6, 11 P&L points."""
    market = MarketSnapshot.from_dict({"as_of": "2025-01-01T00:00:00Z", "rate": 0.08, "assets": {"ETH": {"index_usd": 2243.3}}})
    future = Future("ETH", "2025-01-21T00:00:00Z")
    forward = market.forward_usd("ETH", future.expiry)
    assert forward == pytest.approx(2243.3 * math.exp(0.08 * 20 / 365), rel=1e-14)
    assert round(forward, 1) == 2253.2
    result = deribit_futures_pm().margin(Account([Position(future, 10.0)]), market)
    published = [-3380, -2704, -2028, -1352, -676, 0, 676, 1352, 2028, 2704, 3380]
    assert list(result.scenarios["spot_shock"].round(2)) == pytest.approx([0.85 + 0.03 * i for i in range(11)])
    # the published P&Ls are rounded to whole dollars
    np.testing.assert_allclose(result.scenarios["pnl_usd"], published, atol=0.5)
    components = result.components.set_index("component")
    contingency = components.loc["perpetual/future contingency", "maintenance_margin_usd"]
    assert contingency == pytest.approx(0.006 * 2243.3 * 10, rel=1e-12)
    assert round(contingency, 1) == 134.6
    assert result.maintenance_margin_usd == pytest.approx(10 * forward * 0.15 + contingency, rel=1e-12)


def test_presets_registered() -> None:
    for name in ("deribit-pm", "deribit-pm-legacy", "deribit-futures-pm"):
        assert get_model(name).name == name
    legacy = get_model("deribit-pm-legacy")
    assert legacy.option_contingency_mm == 0.01 and max(legacy.scenarios.spot_shock[:27]) == pytest.approx(1.125)
