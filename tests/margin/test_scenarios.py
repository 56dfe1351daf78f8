"""Time and rate dimensions of scenario grids (issue 12 item 4), checked against QuantLib's Black calculator."""

from __future__ import annotations

import math

import pytest

QuantLib = pytest.importorskip("QuantLib")

from marginlab.account import Account  # noqa: E402
from marginlab.exceptions import ParameterError  # noqa: E402
from marginlab.instruments import Option, Perpetual, Position  # noqa: E402
from marginlab.margin.risk_matrix import RiskMatrixModel  # noqa: E402
from marginlab.margin.scenarios import ScenarioGrid  # noqa: E402
from marginlab.market import SECONDS_PER_YEAR, MarketSnapshot  # noqa: E402

EXPIRY = "2025-04-15T00:00:00Z"
MARKET = MarketSnapshot.from_dict({"as_of": "2025-01-15T00:00:00Z", "rate": 0.03,
                                   "assets": {"BTC": {"index_usd": 100_000, "expiries": {EXPIRY: {"atm_vol": 0.6}}}}})


def quantlib_black(forward: float, strike: float, years: float, vol: float, rate: float, call: bool) -> float:
    payoff = QuantLib.PlainVanillaPayoff(QuantLib.Option.Call if call else QuantLib.Option.Put, strike)
    return float(QuantLib.BlackCalculator(payoff, forward, vol * math.sqrt(years), math.exp(-rate * years)).value())


@pytest.mark.parametrize("call", [True, False])
def test_horizon_and_rate_scenarios_match_quantlib(call: bool) -> None:
    option = Option("BTC", EXPIRY, 95_000, "call" if call else "put")
    years = MARKET.time_to_expiry_years(option.expiry)
    forward = MARKET.forward_usd("BTC", option.expiry)
    horizon_days = 7.0
    h = horizon_days * 86_400 / SECONDS_PER_YEAR
    grid = ScenarioGrid((1.0, 1.1), ("none", "none")).with_time_and_rates(horizon_days, [0.01, -0.02])
    result = RiskMatrixModel(grid).margin(Account([Position(option, 2.0)]), MARKET)
    pnl = result.scenarios["pnl_usd"].to_numpy()
    base = quantlib_black(forward, 95_000, years, 0.6, 0.03, call)
    # scenario 0: spot unchanged, 7 days later (theta); scenario 1: spot +10% (forward moves with it), 7 days later
    assert pnl[0] == pytest.approx(2 * (quantlib_black(forward, 95_000, years - h, 0.6, 0.03, call) - base), rel=1e-9)
    assert pnl[1] == pytest.approx(2 * (quantlib_black(1.1 * forward, 95_000, years - h, 0.6, 0.03, call) - base), rel=1e-9)
    # rate scenarios: +1% and -2% (rho through the discount at an unchanged forward), also at the horizon
    assert pnl[2] == pytest.approx(2 * (quantlib_black(forward, 95_000, years - h, 0.6, 0.04, call) - base), rel=1e-9)
    assert pnl[3] == pytest.approx(2 * (quantlib_black(forward, 95_000, years - h, 0.6, 0.01, call) - base), rel=1e-9)
    assert pnl[0] < 0  # a long option loses time value


def test_horizon_past_expiry_gives_intrinsic_value() -> None:
    # 100 days to a 90-day expiry: the long 95k call is worth max(F x 1.1 - K, 0) undiscounted at the horizon
    option = Option("BTC", EXPIRY, 95_000, "call")
    grid = ScenarioGrid((1.1,), ("none",), horizon_days=100.0)
    pnl = RiskMatrixModel(grid).margin(Account([Position(option, 1.0)]), MARKET).scenarios["pnl_usd"].iloc[0]
    forward = MARKET.forward_usd("BTC", option.expiry)
    years = MARKET.time_to_expiry_years(option.expiry)
    assert pnl == pytest.approx(1.1 * forward - 95_000 - quantlib_black(forward, 95_000, years, 0.6, 0.03, True), rel=1e-9)


def test_linear_positions_ignore_time_and_rates_and_labels() -> None:
    grid = ScenarioGrid((0.9, 1.0), ("none", "none")).with_time_and_rates(2.0, [0.01])
    result = RiskMatrixModel(grid).margin(Account([Position(Perpetual("BTC"), 1.0)]), MARKET)
    assert result.scenarios["pnl_usd"].tolist() == pytest.approx([-10_000.0, 0.0, 0.0])
    assert grid.label(2) == "spot +0.0%, vol none, rate +1.00%, after 2 days"
    assert grid.uses_time and grid.uses_rates and list(grid.frame()["rate_shock"]) == [0.0, 0.0, 0.01]
    assert not ScenarioGrid((1.0,), ("none",)).uses_rates


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"rate_shock": (0.01,)}, "rate_shock"), ({"rate_shock": (2.0, 0.0)}, "rate_shock"), ({"horizon_days": -1.0}, "horizon_days"),
     ({"labels": ("a",)}, "labels")],
)
def test_bad_time_and_rate_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        ScenarioGrid((1.0, 1.1), ("none", "none"), **kwargs)
