"""Deribit portfolio-margin presets: worked examples C3 (vol shocks) and D (futures PM)
from ``../shared/reference/worked_examples.md``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from marginlab.account import Account
from marginlab.exceptions import ParameterError
from marginlab.instruments import Future, Option, Position
from marginlab.margin.presets import deribit_futures_pm, deribit_pm, deribit_vol_shock, get_model
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
    model = deribit_pm(preset="deribit-pm-c3")
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
    for name in ("deribit-pm", "deribit-pm-c3", "deribit-pm-v1", "deribit-pm-v2", "deribit-pm-legacy", "deribit-futures-pm"):
        assert get_model(name).name == name
    legacy = get_model("deribit-pm-legacy")
    assert legacy.option_contingency_mm == 0.01 and max(legacy.scenarios.spot_shock[:27]) == pytest.approx(1.125)


# --------------------------------------------------------------------------- versions (issue 22)
BTC_MARKET = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000, "expiries": {
    "2025-02-14": {"atm_vol": 0.6}, "2025-03-28": {"atm_vol": 0.6}}}}})


def test_current_version_is_sourced_throughout() -> None:
    """deribit-pm: +-16% in 9 points (price_range 0.16, buckets_count 4) x 3 vols, MM = mm_factor 0.8 x IM, no contingency,
    no assumed value moving a BTC account (docs.deribit.com private/pme/simulate example parameters, 2024-06-17)."""
    model = get_model("deribit-pm")
    frame = model.scenarios.frame()
    assert len(frame) == 27 and set(frame["family"]) == {"regular"}
    assert sorted(set(np.round(frame["spot_shock"] - 1, 6))) == pytest.approx([-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16])
    assert (model.mm_loss_factor, model.im_loss_factor, model.option_contingency_mm, model.linear_contingency_mm) == (0.8, 1.0, 0.0, 0.0)
    # one short 30-day ATM call: IM = the worst loss, MM = 0.8 of it, and nothing assumed
    result = model.margin(Account([Position(Option("BTC", "2025-02-14", 100_000, "call"), -1.0)]), BTC_MARKET)
    worst = -float(result.scenarios["pnl_usd"].min())
    assert result.initial_margin_usd == pytest.approx(worst, rel=1e-12)
    assert result.maintenance_margin_usd == pytest.approx(0.8 * worst, rel=1e-12)
    assert result.assumptions == ()


def test_v2_contingencies_by_the_pages_examples() -> None:
    """deribit.com/pages/docs/portfoliomargin: call +10 and put -20 at strike X -> 10 x 0.01 BTC; long 100 in future A and
    short 100 in future B -> 1% x 100 BTC. At index 100,000: 10 x 1,000 + 100 x 1,000 USD."""
    model = get_model("deribit-pm-v2")
    account = Account([Position(Option("BTC", "2025-03-28", 100_000, "call"), 10.0), Position(Option("BTC", "2025-03-28", 100_000, "put"), -20.0),
                       Position(Future("BTC", "2025-02-14"), 100.0), Position(Future("BTC", "2025-03-28"), -100.0)])
    result = model.margin(account, BTC_MARKET)
    parts = result.components.set_index("component")["maintenance_margin_usd"]
    assert parts["naked short option contingency"] == pytest.approx(10 * 0.01 * 100_000, rel=1e-12)
    assert parts["offsetting futures contingency"] == pytest.approx(0.01 * 100 * 100_000, rel=1e-12)
    assert parts["all options contingency"] == 0.0 and parts["vega offset contingency"] == 0.0
    scan = -float(result.scenarios["pnl_usd"].min())
    assert result.maintenance_margin_usd == pytest.approx(scan + 10_000 + 100_000, rel=1e-12)
    assert max(model.engine.scenarios.spot_shock) == pytest.approx(1.10)
    # (30/15)^0.30 x 38% at 15 days, the page's second example
    up, down = model.engine.vol_shock.shocked_vols(0.6, 15.0)
    assert float(up) == pytest.approx(0.6 * (1 + 0.38 * 2**0.3), rel=1e-12) and float(down) == pytest.approx(0.6 * (1 - 0.38 * 2**0.3), rel=1e-12)


def test_v1_contingencies_by_the_pages_examples() -> None:
    """deribit.com/docs/category/uncategorized: 200 options long and short -> 1% x 200 BTC = 2 BTC; long 100 / short 100 futures
    -> 2 BTC; 15-day IV change sqrt(30/15) x 40% = 56.6%; offsetting vega: 25% x min(long, short) of the expiry vegas."""
    from scipy.stats import norm

    model = get_model("deribit-pm-v1")
    near, far = Option("BTC", "2025-02-14", 100_000, "call"), Option("BTC", "2025-03-28", 100_000, "call")
    account = Account([Position(near, 120.0), Position(far, -80.0), Position(Future("BTC", "2025-02-14"), 100.0),
                       Position(Future("BTC", "2025-03-28"), -100.0)])
    parts = model.margin(account, BTC_MARKET).components.set_index("component")["maintenance_margin_usd"]
    assert parts["all options contingency"] == pytest.approx(0.01 * 200 * 100_000, rel=1e-12)
    assert parts["offsetting futures contingency"] == pytest.approx(0.02 * 100 * 100_000, rel=1e-12)

    def vega_per_point(days: float) -> float:  # Black-76 ATM vega, forward = index (rate 0), per 1 vol point
        years = days / 365
        return 100_000 * norm.pdf(0.6 * math.sqrt(years) / 2) * math.sqrt(years) * 0.01

    long_vega, short_vega = 120 * vega_per_point(30), 80 * vega_per_point(72)
    assert parts["vega offset contingency"] == pytest.approx(0.25 * min(long_vega, short_vega), rel=1e-9)
    up, _ = model.engine.vol_shock.shocked_vols(0.5, 15.0)
    assert float(up) / 0.5 - 1 == pytest.approx(math.sqrt(2) * 0.40, rel=1e-12) and round(math.sqrt(2) * 0.40, 3) == 0.566


def test_older_versions_name_their_assumptions() -> None:
    account = Account([Position(Option("BTC", "2025-02-14", 100_000, "call"), -1.0)])
    assert "parameters.im_loss_factor" in get_model("deribit-pm-v2").margin(account, BTC_MARKET).assumptions
    # a far out-of-the-money short call is set by the extended table, whose dampening C3 assumes
    far = Account([Position(Option("BTC", "2025-03-28", 200_000, "call"), -1.0)])
    assert "parameters.grid.extra[].dampening" in get_model("deribit-pm-c3").margin(far, BTC_MARKET).assumptions
    assert get_model("deribit-pm").margin(far, BTC_MARKET).assumptions == ()


def test_builders_read_the_files() -> None:
    assert deribit_pm(spot_range=0.1).scenarios.spot_shock[-1] == pytest.approx(1.1)
    assert deribit_pm(tail_dampening=0.05).scenarios.dampening[-1] == 0.05
    assert deribit_futures_pm(step=0.05).scenarios.spot_shock[0] == pytest.approx(0.85)
    with pytest.raises(ParameterError, match="preset"):
        deribit_pm(preset="deribit-pm-v2")
