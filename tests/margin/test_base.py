"""MarginResult and what_if (incremental margin of a proposed trade, for any model)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.account import Account
from marginlab.collateral import FlatHaircut
from marginlab.exceptions import MarginLabError, NumericalError
from marginlab.instruments import Option, Perpetual, Position
from marginlab.margin.base import MarginResult, what_if
from marginlab.margin.cross import CrossMargin
from marginlab.margin.isolated import IsolatedMargin, SizeLinearRate
from marginlab.margin.presets import available_models, deribit_standard, get_model
from marginlab.market import MarketSnapshot

MARKET = MarketSnapshot.from_dict(
    {"as_of": "2025-01-15T08:00:00Z", "assets": {"BTC": {"index_usd": 100_000}, "SOL": {"index_usd": 200}}}
)


def test_margin_result_ratios_by_hand() -> None:
    empty = pd.DataFrame(columns=["component", "initial_margin_usd", "maintenance_margin_usd"])
    result = MarginResult("m", 1_500.0, 1_000.0, 5_000.0, pd.DataFrame(), empty)
    assert (result.margin_ratio, result.free_margin_usd, result.excess_maintenance_usd) == (5.0, 3_500.0, 4_000.0)
    assert not result.is_liquidatable
    assert MarginResult("m", 0.0, 0.0, 1.0, pd.DataFrame(), empty).margin_ratio == math.inf
    assert list(result.to_frame()["component"]) == ["total"]


def test_what_if_isolated_size_dependent_rate() -> None:
    # Deribit C1: 10 BTC -> IM (2% + 10 x 0.005%) x 1,000,000 = 20,500; adding 15 BTC to the same
    # instrument makes one 25 BTC position -> 53,125 (C1). Increment 32,625, more than a separate
    # 15 BTC position would need (2.075% x 1,500,000 = 31,125): the size term of C1.
    account = Account((Position(Perpetual("BTC"), 10.0),), cash_usd=100_000)
    change = what_if(deribit_standard(), account, [Position(Perpetual("BTC"), 15.0)], MARKET)
    assert change.before.initial_margin_usd == pytest.approx(20_500.0)
    assert change.after.initial_margin_usd == pytest.approx(53_125.0)
    assert change.initial_margin_change_usd == pytest.approx(32_625.0)
    assert change.maintenance_margin_change_usd == pytest.approx(28_125.0 - 10_500.0)  # MM 1.05% x 1M = 10,500
    assert change.accepted  # free margin 100,000 - 53,125 >= 0
    assert "accepted" in change.summary()
    # a closing trade nets the instrument to zero: no requirement left
    closed = what_if(deribit_standard(), account, [Position(Perpetual("BTC"), -10.0)], MARKET)
    assert closed.after.initial_margin_usd == 0.0


def test_what_if_cross_and_from_an_account_without_positions() -> None:
    model = CrossMargin(IsolatedMargin({"*": SizeLinearRate(0.10, 0.05)}), FlatHaircut({"SOL": 0.2}))
    # no positions: before = 0 requirement, equity = 1,000 SOL x 200 x 0.8 = 160,000 (after the haircut)
    account = Account(collateral={"SOL": 1_000})
    change = what_if(model, account, [Position(Perpetual("BTC"), -20.0)], MARKET)
    assert change.before.initial_margin_usd == 0.0
    assert change.before.equity_usd == pytest.approx(160_000.0)
    # after: IM 10% x 2,000,000 = 200,000 > 160,000 -> rejected; MM change 100,000
    assert change.initial_margin_change_usd == pytest.approx(200_000.0)
    assert change.maintenance_margin_change_usd == pytest.approx(100_000.0)
    assert not change.accepted


def test_what_if_isolated_empty_account_equity_is_cash_and_collateral() -> None:
    change = what_if(deribit_standard(), Account(cash_usd=5_000.0, collateral={"SOL": 10}), [Position(Perpetual("SOL"), 25)], MARKET)
    assert change.before.equity_usd == pytest.approx(7_000.0)  # 5,000 + 10 x 200, no haircut
    assert change.after.initial_margin_usd == pytest.approx(200.625)  # C1: 25 SOL at 200


# ---------------------------------------------------------------- finite totals (issue 11 item 3)
@pytest.mark.parametrize("field", ["initial_margin_usd", "maintenance_margin_usd", "equity_usd"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_margin_result_rejects_non_finite_totals(field: str, bad: float) -> None:
    totals = {"initial_margin_usd": 1.0, "maintenance_margin_usd": 1.0, "equity_usd": 1.0, field: bad}
    with pytest.raises(NumericalError, match=field):
        MarginResult("m", positions=pd.DataFrame(), components=pd.DataFrame(), **totals)


def _parameter_file(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MARGINLAB_PARAMETER_FILE", str(_btc_eth_parameters().save(tmp_path / "parameters.yaml")))


HUGE_MARKET = MarketSnapshot.from_dict(
    {"as_of": "2025-01-15T23:00:00Z", "assets": {
        "BTC": {"index_usd": 100_000.0, "expiries": {"2025-03-28T08:00:00Z": {"forward_usd": 101_000.0, "atm_vol": 0.6}}},
        "ETH": {"index_usd": 3_500.0, "expiries": {"2025-03-28T08:00:00Z": {"forward_usd": 3_550.0, "atm_vol": 0.7}}},
    }}
)


@pytest.mark.parametrize("name", list(available_models()["name"]))
def test_every_preset_at_size_1e306_raises_our_error_not_nan(name: str, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # issue 11: deribit-pm and derive-pmrm-v2 returned margin NaN and equity inf, other models a bare ValueError
    _parameter_file(tmp_path, monkeypatch)
    model = get_model(name)
    accounts = [
        lambda: Account((Position(Perpetual("BTC"), -1e306),), cash_usd=1e306),
        lambda: Account((Position(Perpetual("BTC"), 1e306), Position(Option("ETH", "2025-03-28T08:00:00Z", 4_000, "call"), -1e306)),
                        cash_usd=1e306),
    ]
    for build in accounts:
        try:  # the account itself may refuse the overflowing notional (InputError), or the model (NumericalError)
            result = model.margin(build(), HUGE_MARKET)
        except MarginLabError as error:
            assert "\n" not in str(error)
            continue
        totals = (result.initial_margin_usd, result.maintenance_margin_usd, result.equity_usd)
        assert all(math.isfinite(t) for t in totals), (name, totals)


# ---------------------------------------------------------------- netting (issue 11 item 4)
SPLIT_MARKET = MarketSnapshot.from_dict(
    {"as_of": "2025-01-15T23:00:00Z", "assets": {
        "BTC": {"index_usd": 100_000.0, "perpetual_usd": 100_050.0,
                "expiries": {"2025-03-28T08:00:00Z": {"forward_usd": 101_000.0, "smile": {"strikes_usd": [90_000, 110_000], "vols": [0.62, 0.58]}}}},
        "ETH": {"index_usd": 3_500.0, "expiries": {"2025-03-28T08:00:00Z": {"forward_usd": 3_550.0, "atm_vol": 0.7}}},
    }}
)
SPLIT_POSITIONS = (
    Position(Perpetual("BTC"), 2.0),
    Position(Option("BTC", "2025-03-28T08:00:00Z", 110_000, "call"), -3.0),
    Position(Option("ETH", "2025-03-28T08:00:00Z", 4_000, "put"), 5.0),
    Position(Perpetual("ETH"), -20.0),
)


@settings(max_examples=10, deadline=None)
@given(pieces=st.lists(st.integers(1, 6), min_size=4, max_size=4), seed=st.integers(0, 2**16))
def test_splitting_positions_into_fills_never_changes_the_totals(pieces: list[int], seed: int) -> None:
    # every model nets identical instruments: an account split into fills (in any order) has the totals of the netted one
    rng = np.random.default_rng(seed)
    fills = []
    for position, count in zip(SPLIT_POSITIONS, pieces):
        weights = rng.dirichlet(np.ones(count))
        fills += [Position(position.instrument, position.quantity * w) for w in weights]
    fills = [fills[i] for i in rng.permutation(len(fills))]
    for name in ("deribit-standard", "deribit-cross", "deribit-pm", "derive-pmrm-v2", "okx-pm", "span-example"):
        model = get_model(name)
        netted = model.margin(Account(SPLIT_POSITIONS, cash_usd=1e6), SPLIT_MARKET)
        split = model.margin(Account(tuple(fills), cash_usd=1e6), SPLIT_MARKET)
        for field in ("initial_margin_usd", "maintenance_margin_usd", "equity_usd"):
            assert getattr(split, field) == pytest.approx(getattr(netted, field), rel=1e-9, abs=1e-6), (name, field)
        assert len(split.positions) == len(fills) or name == "okx-pm"


def _btc_eth_parameters():  # type: ignore[no-untyped-def]
    """The package's example parameter set (BTC) with ETH given the same record."""
    import dataclasses

    from marginlab.parameters import example_parameters

    example = example_parameters()
    eth = dataclasses.replace(example.assets["BTC"], asset="ETH")
    return dataclasses.replace(example, assets={**example.assets, "ETH": eth})
