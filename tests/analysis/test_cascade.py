"""Tests of square-root impact and liquidation cascades (hand-computed rounds)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from marginlab.account import Account
from marginlab.analysis.cascade import MIN_PRICE_FACTOR, SquareRootImpact, net_flow_units, simulate_cascade
from marginlab.data import snapshot_available
from marginlab.exceptions import MissingMarketDataError, ParameterError
from marginlab.instruments import Perpetual, Position
from marginlab.liquidation.policy import LiquidationPolicy
from marginlab.margin.flat import FlatRateModel
from marginlab.market import MarketSnapshot

# Liquidate in full as soon as equity < maintenance (no partial band to follow by hand).
ALL_OR_NOTHING = LiquidationPolicy(warning_ratio=1.0, reduce_only_ratio=1.0, liquidation_ratio=1.0, full_liquidation_ratio=0.999, target_ratio=1.0)


def market(price: float = 100_000.0) -> MarketSnapshot:
    return MarketSnapshot.from_dict({"as_of": "2025-01-15T00:00:00Z", "assets": {"BTC": {"index_usd": price}}})


def long_account(cash: float, name: str) -> Account:
    return Account((Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000),), cash_usd=cash, account_id=name)


def test_square_root_impact_formula():
    # dP/P = sign(Q) k sigma sqrt(|Q| / ADV): 2 x 0.04 x sqrt(400 / 10,000) = 0.016
    impact = SquareRootImpact({"BTC": 0.04}, {"BTC": 10_000.0}, k=2.0)
    assert impact.impact_fraction("BTC", 400.0) == pytest.approx(0.016)
    assert impact.impact_fraction("BTC", -400.0) == pytest.approx(-0.016)
    assert impact.impact_fraction("BTC", 0.0) == 0.0
    # quadrupling the flow doubles the impact
    assert impact.impact_fraction("BTC", 1600.0) == pytest.approx(2 * 0.016)
    # an absurd flow cannot push a price below MIN_PRICE_FACTOR
    assert impact.price_factors({"BTC": -1e12})["BTC"] == MIN_PRICE_FACTOR


def test_impact_validation():
    with pytest.raises(ParameterError, match="adv_units"):
        SquareRootImpact({"BTC": 0.04}, {"BTC": 0.0})
    with pytest.raises(ParameterError, match="k"):
        SquareRootImpact({"BTC": 0.04}, {"BTC": 1.0}, k=-1)
    with pytest.raises(MissingMarketDataError, match="ETH"):
        SquareRootImpact({"BTC": 0.04}, {"BTC": 1.0}).impact_fraction("ETH", 1.0)


def test_cascade_rounds_worked_by_hand():
    # Three 1-BTC longs from 100,000; MM 5% of notional; equity = cash + P - 100,000.
    # Liquidated when cash + P - 100,000 < 0.05 P (x 0.999), i.e. P < (100,000 - cash) / 0.95:
    #   A cash 8,000 -> 96,842; B cash 12,000 -> 92,632; C cash 20,000 -> 84,211.
    # Impact sigma 5%, ADV 1 BTC, k 1: selling 1 BTC moves the price by -5% x sqrt(1) = -5%.
    # shock -4% -> 96,000: round 1 liquidates A (sells 1) -> 96,000 x 0.95 = 91,200
    # round 2 liquidates B -> 91,200 x 0.95 = 86,640; round 3: C's ratio (6,640 / 4,332 = 1.53) holds: stop.
    # Fees 0.5%: A 480 at 96,000, B 456 at 91,200 -> fund 936. No bad debt.
    book = [long_account(8_000, "A"), long_account(12_000, "B"), long_account(20_000, "C")]
    impact = SquareRootImpact({"BTC": 0.05}, {"BTC": 1.0})
    result = simulate_cascade(book, FlatRateModel(0.1, 0.05), market(), impact, ALL_OR_NOTHING, shock={"BTC": 0.96})
    assert result.depth == 2
    np.testing.assert_allclose(result.price_path["BTC"].to_numpy(), [96_000, 91_200, 86_640])
    np.testing.assert_allclose(result.rounds["net_flow_units"], [-1, -1, 0])
    np.testing.assert_allclose(result.rounds["impact_fraction"], [-0.05, -0.05, 0.0])
    assert result.accounts_liquidated == ("A", "B")
    assert result.fund_after_usd == pytest.approx(936.0)
    assert result.bad_debt_usd == 0
    summary = result.summary()
    assert summary["accounts_liquidated"] == 2 and summary["depth_rounds"] == 2
    assert result.accounts_after[2] == book[2]


def test_no_impact_no_cascade():
    # with k = 0 only the accounts the shock itself breaks are liquidated (A), in one round
    book = [long_account(8_000, "A"), long_account(12_000, "B")]
    impact = SquareRootImpact({"BTC": 0.05}, {"BTC": 1.0}, k=0.0)
    result = simulate_cascade(book, FlatRateModel(0.1, 0.05), market(), impact, ALL_OR_NOTHING, shock={"BTC": 0.96})
    assert result.depth == 1
    assert result.accounts_liquidated == ("A",)


def test_net_flow_counts_closes_only():
    events = pd.DataFrame(
        {
            "action": ["full_liquidation", "partial_liquidation", "adl", "warning"],
            "symbol": ["BTC-PERPETUAL", "ETH-20250328-3000-C", "BTC-PERPETUAL", ""],
            "delta_quantity": [-2.0, 0.5, 1.0, 0.0],
        }
    )
    assert net_flow_units(events) == {"BTC": -2.0, "ETH": 0.5}


@pytest.mark.skipif(not snapshot_available(), reason="needs the market-data snapshot")
def test_impact_calibration_matches_hand_computation_from_the_file():
    # sigma = sample sd of the 30 daily log returns before 2020-03-12; ADV = mean USD volume / mean close
    from marginlab.data import snapshot_dir

    raw = pd.read_csv(snapshot_dir() / "crypto_universe_daily.csv.gz")
    btc = raw[raw["symbol"] == "BTC"].set_index("timestamp").sort_index()
    window = btc.loc["2020-02-10T00:00:00Z":"2020-03-11T00:00:00Z"]
    closes = window["close"].to_numpy()
    returns = [math.log(b / a) for a, b in zip(closes[:-1], closes[1:])]
    mean = sum(returns) / len(returns)
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    impact = SquareRootImpact.from_data(["BTC"], "2020-03-12", window_days=30)
    assert impact.sigma_daily["BTC"] == pytest.approx(sd, rel=1e-9)
    assert impact.adv_units["BTC"] == pytest.approx(window["volume"].mean() / window["close"].mean(), rel=1e-9)


def _assert_same_cascade(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.depth == b.depth
    assert len(a.events) == len(b.events)
    for column in a.events.columns:
        if pd.api.types.is_float_dtype(a.events[column]):
            np.testing.assert_allclose(a.events[column].to_numpy(float), b.events[column].to_numpy(float), rtol=1e-9, atol=1e-6, err_msg=column)
        else:
            assert a.events[column].astype(str).tolist() == b.events[column].astype(str).tolist(), column
    numeric = a.rounds.select_dtypes("number").columns
    np.testing.assert_allclose(a.rounds[numeric].to_numpy(float), b.rounds[numeric].to_numpy(float), rtol=1e-9, atol=1e-6)
    assert a.bad_debt_usd == pytest.approx(b.bad_debt_usd, rel=1e-9, abs=1e-6)
    assert a.fund_after_usd == pytest.approx(b.fund_after_usd, rel=1e-9, abs=1e-6)
    assert [x.cash_usd for x in a.accounts_after] == pytest.approx([x.cash_usd for x in b.accounts_after], rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("policy", [LiquidationPolicy(), ALL_OR_NOTHING, LiquidationPolicy(liquidator_share=0.5, auto_deleverage=False)])
def test_cascade_on_arrays_matches_the_per_account_reference(policy: LiquidationPolicy) -> None:
    """A deep cascade (thin liquidity) of a seeded long-heavy book: same rounds, prices, events, fund and bad debt."""
    from marginlab.analysis.synthetic import synthetic_book

    start = MarketSnapshot.from_dict({"as_of": "2025-01-15T00:00:00Z", "assets": {"BTC": {"index_usd": 100_000}, "ETH": {"index_usd": 3_000}}})
    book = synthetic_book(80, start, rng=2, strategies={"long_perp": 4, "short_perp": 1}, median_notional_usd=300_000, leverage_choices=(6, 7, 8, 9, 10, 12, 20))
    impact = SquareRootImpact({"BTC": 0.04, "ETH": 0.05}, {"BTC": 60.0, "ETH": 2_000.0}, k=1.0)
    results = {engine: simulate_cascade(book, FlatRateModel(0.10, 0.05), start, impact, policy, shock={"BTC": 0.93, "ETH": 0.92},
                                        insurance_fund_usd=20_000, engine=engine) for engine in ("book", "per-account")}
    _assert_same_cascade(results["book"], results["per-account"])
    assert results["book"].depth >= 2


def test_cascade_on_arrays_with_options_under_portfolio_margin() -> None:
    from marginlab.analysis.replay import book_expiries
    from marginlab.analysis.stress_scenarios import scenario_path
    from marginlab.analysis.synthetic import synthetic_book
    from marginlab.margin.presets import get_model

    if not snapshot_available():
        pytest.skip("needs the market-data snapshot")
    path = scenario_path("covid-2020-03-12", ["BTC", "ETH"], substeps=1)
    book = synthetic_book(40, path.snapshot(0), rng=4)
    start = path.snapshot(0, book_expiries(book))
    impact = SquareRootImpact({"BTC": 0.04, "ETH": 0.05}, {"BTC": 200.0, "ETH": 8_000.0})
    results = {engine: simulate_cascade(book, get_model("deribit-pm"), start, impact, shock={"BTC": 0.85, "ETH": 0.85}, engine=engine)
               for engine in ("book", "per-account")}
    _assert_same_cascade(results["book"], results["per-account"])


@pytest.mark.parametrize("name", ["deribit-pm", "deribit-cross"])
def test_cascade_on_arrays_with_inverse_contracts_and_coin_margined_accounts(name: str) -> None:
    from marginlab.analysis.synthetic import synthetic_book
    from marginlab.margin.presets import get_model

    start = MarketSnapshot.from_dict({"as_of": "2025-01-15T00:00:00Z", "assets": {"BTC": {"index_usd": 100_000}, "ETH": {"index_usd": 3_000}}})
    book = list(synthetic_book(30, start, rng=2, strategies={"long_perp": 4, "short_perp": 1}, median_notional_usd=300_000, leverage_choices=(6, 8, 10)))
    book += [Account((Position(Perpetual("BTC", settlement="BTC"), 500_000.0, entry_price_usd=100_000),), 30_000.0, {"BTC": 0.2}, "inverse"),
             Account((Position(Perpetual("BTC", settlement="BTC"), 400_000.0, entry_price_usd=100_000),), 0.0, {"BTC": 0.5}, "inverse-coin", "BTC"),
             Account((Position(Perpetual("ETH"), 100.0, entry_price_usd=3_000),), 1_000.0, {"BTC": 0.3}, "coin", "BTC")]
    impact = SquareRootImpact({"BTC": 0.04, "ETH": 0.05}, {"BTC": 60.0, "ETH": 2_000.0})
    results = {engine: simulate_cascade(book, get_model(name), start, impact, shock={"BTC": 0.9, "ETH": 0.9}, insurance_fund_usd=20_000, engine=engine)
               for engine in ("book", "per-account")}
    _assert_same_cascade(results["book"], results["per-account"])
    assert {"inverse", "inverse-coin", "coin"} <= set(results["book"].events["account_id"])
    assert [a.margin_currency for a in results["book"].accounts_after][-2:] == ["BTC", "BTC"]
