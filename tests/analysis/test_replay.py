"""Tests of the scenario library and the stress replay (hand-built paths and real windows)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from marginlab.account import Account
from marginlab.analysis.replay import replay
from marginlab.analysis.stress_scenarios import SCENARIOS, MarketPath, get_scenario, list_scenarios, scenario_path
from marginlab.analysis.synthetic import synthetic_book
from marginlab.data import snapshot_available
from marginlab.exceptions import EmptyPortfolioError, InputError, ParameterError, UnknownAssetError
from marginlab.instruments import Option, Perpetual, Position
from marginlab.liquidation.reference import settle_expired
from marginlab.margin.flat import FlatRateModel

needs_data = pytest.mark.skipif(not snapshot_available(), reason="needs the market-data snapshot")


def hand_path(prices, vol=0.5, start="2025-01-01T00:00:00Z", hours=24):
    index = pd.date_range(start, periods=len(prices), freq=f"{hours}h")
    return MarketPath(pd.DataFrame({"BTC": prices}, index=index), pd.DataFrame({"BTC": [vol] * len(prices)}, index=index), {"BTC": "given"}, "hand")


def long_10x(name="long"):
    return Account((Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000),), cash_usd=10_000, account_id=name)


def test_library_has_the_named_windows_and_shocks():
    for name in ("covid-2020-03-12", "may-2021-05-19", "luna-ust-2022-05", "ftx-2022-11", "usdc-depeg-2023-03",
                 "btc-minus-40pct-instant", "vol-doubling"):
        assert name in SCENARIOS
    table = list_scenarios()
    assert set(table["kind"]) == {"historical", "hypothetical"}
    with pytest.raises(UnknownAssetError, match="scenario"):
        get_scenario("no-such-crash")


def test_crash_replay_worked_by_hand_with_fund_and_bad_debt():
    # 1 BTC long from 100,000 with 10,000 cash; price 100,000 -> 60,000 in one step.
    # equity 10,000 - 40,000 = -30,000 -> full liquidation (no fee: equity negative), deficit 30,000;
    # the fund (5,000) pays 5,000, no ADL counterparty -> bad debt 25,000. Capital demanded = IM 10% x 100,000.
    result = replay([long_10x()], {"10x": FlatRateModel(0.10, 0.05)}, hand_path([100_000, 60_000]), insurance_fund_usd=5_000)
    row = result.summary().loc["10x"]
    assert row["capital_demanded_usd"] == pytest.approx(10_000)
    assert row["accounts_liquidated"] == 1 and row["accounts_fully_liquidated"] == 1
    assert row["shortfall_usd"] == pytest.approx(30_000)
    assert row["fund_drawdown_usd"] == pytest.approx(5_000)
    assert row["bad_debt_usd"] == pytest.approx(25_000)
    assert row["fund_after_usd"] == 0
    assert list(result.events["action"]) == ["full_liquidation", "insurance_fund", "bad_debt"]


def test_funding_at_initial_margin_of_a_conservative_model():
    # IM 50%, MM 20%, funding 1.0: equity at start = 50,000 (cash 50,000). At 60,000: equity 10,000, MM 12,000,
    # ratio 0.833 -> partial: close 0.2 BTC (notional 12,000, fee 60) -> equity 9,940, MM 9,600, r 1.035;
    # close 0.16 BTC (notional 9,600, fee 48) -> equity 9,892, MM 7,680, r 1.288 >= 1.25. No shortfall; fund = fees 108.
    result = replay([long_10x()], {"cons": FlatRateModel(0.50, 0.20)}, hand_path([100_000, 60_000]), funding=1.0)
    row = result.summary().loc["cons"]
    assert row["capital_demanded_usd"] == pytest.approx(50_000)
    assert row["equity_at_start_usd"] == pytest.approx(50_000)
    assert row["accounts_fully_liquidated"] == 0
    assert row["shortfall_usd"] == 0
    assert row["fees_usd"] == pytest.approx(108)
    assert row["fund_after_usd"] == pytest.approx(108)
    closes = result.events[result.events["action"] == "partial_liquidation"]
    np.testing.assert_allclose(closes["quantity"], [-0.2, -0.16])


def test_adl_recovers_the_deficit_in_a_replay():
    # long deficit 30,000 (as above), fund 0; the short (-2 BTC from 100,000, cash 50,000) gains 80,000 and is
    # the only ADL candidate: 1 BTC bought back at the bankruptcy price 60,000 + 30,000 = 90,000.
    short = Account((Position(Perpetual("BTC"), -2.0, entry_price_usd=100_000),), cash_usd=50_000, account_id="short")
    result = replay([long_10x(), short], {"10x": FlatRateModel(0.10, 0.05)}, hand_path([100_000, 60_000]))
    row = result.summary().loc["10x"]
    assert row["adl_usd"] == pytest.approx(30_000)
    assert row["bad_debt_usd"] == 0
    adl = result.events[result.events["action"] == "adl"]
    assert adl["price_usd"].iloc[0] == pytest.approx(90_000)
    after = result.runs["10x"].accounts_after
    # short: 50,000 + 80,000 - 30,000 = 100,000 equity at 60,000, one BTC short left
    assert after[1].positions[0].quantity == pytest.approx(-1.0)
    assert after[1].cash_usd + after[1].positions[0].quantity * (60_000 - 100_000) == pytest.approx(100_000)
    # money is conserved: equities 0 + 100,000 = -30,000 + 130,000
    assert after[0].cash_usd == pytest.approx(0)


def test_option_settles_at_intrinsic_after_expiry():
    # short 1 put K = 90,000 expiring 2025-01-02 08:00; settled at the first step after expiry (price 80,000):
    # cash -= 1 x (90,000 - 80,000) = 10,000
    put = Option("BTC", datetime(2025, 1, 2, 8, tzinfo=UTC), 90_000, "put")
    account = Account((Position(put, -1.0),), cash_usd=50_000, account_id="seller")
    path = hand_path([100_000, 95_000, 80_000])
    result = replay([account], {"flat": FlatRateModel(0.2, 0.1)}, path)
    settled = result.events[result.events["action"] == "settlement"]
    assert len(settled) == 1
    assert settled["transfer_usd"].iloc[0] == pytest.approx(-10_000)
    assert result.runs["flat"].accounts_after[0].cash_usd == pytest.approx(40_000)
    # settle_expired on its own
    after, rows = settle_expired(account, path.snapshot(2))
    assert after.positions == () and after.cash_usd == pytest.approx(40_000) and len(rows) == 1


def test_partitions_do_not_change_results():
    path = hand_path([100_000, 97_000, 92_000, 85_000, 90_000])
    book = synthetic_book(12, path.snapshot(0), rng=4, strategies={"long_perp": 2, "short_perp": 1}, assets=["BTC"])
    one = replay(book, FlatRateModel(0.1, 0.05), path, partitions=1)
    three = replay(book, FlatRateModel(0.1, 0.05), path, partitions=3)
    pd.testing.assert_frame_equal(one.summary(), three.summary())
    pd.testing.assert_frame_equal(one.events, three.events)


def test_replay_input_errors():
    path = hand_path([100_000, 60_000])
    with pytest.raises(EmptyPortfolioError):
        replay([], FlatRateModel(), path)
    with pytest.raises(InputError, match="unique"):
        replay([long_10x("a"), long_10x("a")], FlatRateModel(), path)
    with pytest.raises(ParameterError, match="funding"):
        replay([long_10x()], FlatRateModel(), path, funding=-1)
    eth = Account((Position(Perpetual("ETH"), 1.0),), cash_usd=1_000, account_id="eth")
    with pytest.raises(InputError, match="ETH"):
        replay([eth], FlatRateModel(), path)


@needs_data
def test_covid_path_follows_the_daily_bars():
    path = scenario_path("covid-2020-03-12", ["BTC", "ETH"], substeps=2)
    btc = path.prices_usd["BTC"]
    # 2020-03-12 bar (btc_usd_daily.csv): open 7938.05, high 7969.45, low 4644.00, close 4857.10 (README section 1)
    assert btc.loc["2020-03-12T00:00:00Z"] == pytest.approx(7938.05)
    assert btc.loc["2020-03-12T16:00:00Z"] == pytest.approx(4644.00)
    assert btc.loc["2020-03-13T00:00:00Z"] == pytest.approx(4857.10)
    # down day: high (8 h) before low (16 h); a sub-step is the geometric midpoint of the leg
    assert btc.loc["2020-03-12T08:00:00Z"] == pytest.approx(7969.45)
    assert btc.loc["2020-03-12T12:00:00Z"] == pytest.approx(math.sqrt(7969.45 * 4644.00))
    assert path.vol_source["BTC"] == "ewma-realised"  # before DVOL (2021-03-24)
    assert (path.vols.to_numpy() > 0).all()


@needs_data
def test_ftx_vol_from_dvol_and_usdc_depeg_low():
    ftx = scenario_path("ftx-2022-11", ["BTC"], substeps=1)
    assert ftx.vol_source["BTC"] == "dvol"
    # DVOL BTC close on 2022-11-09 is 114.72 (dvol_daily.csv): the day's steps after the open use it
    assert ftx.vols["BTC"].loc["2022-11-09T16:00:00Z"] == pytest.approx(1.1472)
    usdc = scenario_path("usdc-depeg-2023-03", ["USDC"], substeps=1)
    assert usdc.prices_usd["USDC"].min() == pytest.approx(0.8774)  # README: USDC low 0.877 on 2023-03-11


@needs_data
def test_hypothetical_shock_from_data():
    path = scenario_path("btc-minus-40pct-instant", ["BTC", "USDC"])
    assert len(path) == 2
    assert path.prices_usd["BTC"].iloc[1] / path.prices_usd["BTC"].iloc[0] == pytest.approx(0.6)
    assert path.prices_usd["USDC"].iloc[1] == path.prices_usd["USDC"].iloc[0]
    doubled = scenario_path("vol-doubling", ["BTC"], base_vol=0.5)
    assert list(doubled.vols["BTC"]) == [0.5, 1.0]


@needs_data
def test_covid_naive_10x_book_liquidated_but_conservative_model_is_not():
    # 2020-03-09 open 8,037.73 to the 2020-03-13 low 3,858 is -52%; a 10x long under a 5% maintenance rate is
    # liquidated once the price is ~5.3% below entry ((1 - 0.1) / 0.95 = 0.947), so every account goes. The
    # 2020-03-12 leg from 7,969 to 4,644 cut in 2 sub-steps falls 23.7% per step, far more than the 5% buffer:
    # the naive book leaves a shortfall. A model asking 50% IM / 20% MM (equity 50% of notional) only
    # trims positions (partial liquidation) and never leaves a deficit.
    path = scenario_path("covid-2020-03-12", ["BTC"], substeps=2)
    book = synthetic_book(5, path.snapshot(0), rng=3, strategies={"long_perp": 1}, leverage_choices=(10,), assets=["BTC"])
    result = replay(book, {"naive-10x": FlatRateModel(0.10, 0.05), "conservative": FlatRateModel(0.50, 0.20)}, path, funding=1.0)
    table = result.summary()
    assert table.loc["naive-10x", "accounts_fully_liquidated"] == 5
    assert table.loc["naive-10x", "shortfall_usd"] > 0
    assert table.loc["conservative", "accounts_fully_liquidated"] == 0
    assert table.loc["conservative", "shortfall_usd"] == 0
    assert table.loc["conservative", "capital_demanded_usd"] == pytest.approx(5 * table.loc["naive-10x", "capital_demanded_usd"])


@needs_data
def test_hourly_window_and_ust_collapse_paths():
    hourly = scenario_path("feb-2025-03-hourly", ["ETH"])
    assert len(hourly) == 5 * 24  # 2025-02-01 .. 2025-02-05, hourly closes
    # README section 6: the largest ETH hourly move is -11.9% on 2025-02-03
    moves = hourly.prices_usd["ETH"].pct_change()
    assert moves.min() == pytest.approx(-0.119, abs=0.001)
    assert moves.idxmin().strftime("%Y-%m-%d") == "2025-02-03"
    ust = scenario_path("luna-ust-2022-05", ["USTC"], substeps=1)
    # README section 5: UST closed at 0.154 on 2022-05-13 (the path ends with that close)
    assert ust.prices_usd["USTC"].iloc[-1] == pytest.approx(0.154, abs=0.001)


def test_adaptive_model_is_rebuilt_at_every_step_and_warnings_logged_once():
    # an adaptive model: 10%/5% before 2025-01-03, then 50%/40% (a recalibration after a shock)
    calls = []

    def adaptive(time):
        calls.append(time)
        return FlatRateModel(0.10, 0.05) if time < datetime(2025, 1, 3, tzinfo=UTC) else FlatRateModel(0.50, 0.40)

    # 1 BTC long from 100,000 with cash 30,000; prices 100,000 -> 99,000 -> 99,000 -> 99,000.
    # steps 0-1 under 5% MM: ratio 30,000 / 5,000 = 6, then 29,000 / 4,950 = 5.9 (none);
    # steps 2-3 under 40% MM: ratio 29,000 / 39,600 = 0.73 -> partial liquidation at step 2:
    # close 0.2 (notional 19,800, fee 99) -> equity 28,901, MM 31,680, r 0.912; 0.16 (15,840, fee 79.2) -> 28,821.8 /
    # 25,344 = 1.137; 0.128 (12,672, fee 63.36) -> 28,758.44 / 20,275.2 = 1.418 >= 1.25 (three steps, 0.512 BTC left).
    # step 3: r = 28,758.44 / 20,275.2 = 1.418 -> warning, logged once.
    path = hand_path([100_000, 99_000, 99_000, 99_000])
    account = Account((Position(Perpetual("BTC"), 1.0, entry_price_usd=100_000),), cash_usd=30_000, account_id="a")
    result = replay([account], {"adaptive": adaptive}, path)
    # called once for the capital demanded at the start, then once per step (daily steps from 2025-01-01)
    assert calls == [path.times[0].to_pydatetime(), *path.times.to_pydatetime()]
    events = result.events
    closes = events[events["action"] == "partial_liquidation"]
    np.testing.assert_allclose(closes["quantity"], [-0.2, -0.16, -0.128])
    np.testing.assert_allclose(closes["fee_usd"], [99.0, 79.2, 63.36])
    assert list(events["action"]) == ["partial_liquidation"] * 3 + ["warning"]
    assert result.runs["adaptive"].accounts_after[0].positions[0].quantity == pytest.approx(0.512)


def test_bad_debt_recorded_once_and_settlement_deficit_is_not_lost():
    # bad debt of 25,000 (fund 5,000 of a 30,000 deficit) stays on the account and is not counted again later
    result = replay([long_10x()], {"10x": FlatRateModel(0.10, 0.05)}, hand_path([100_000, 60_000, 55_000, 70_000]), insurance_fund_usd=5_000)
    assert result.summary().loc["10x", "bad_debt_usd"] == pytest.approx(25_000)
    assert (result.events["action"] == "bad_debt").sum() == 1
    # a short put with only 5,000 cash expires 20,000 in the money at the step after expiry: the account has no position
    # left and -15,000 equity -> the fund (20,000) pays 15,000; nothing is silently lost
    put = Option("BTC", datetime(2025, 1, 2, 8, tzinfo=UTC), 90_000, "put")
    seller = Account((Position(put, -1.0),), cash_usd=5_000, account_id="seller")
    no_ladder = FlatRateModel(0.0, 0.0)  # never liquidates: the deficit comes from the settlement only
    result = replay([seller], {"none": no_ladder}, hand_path([100_000, 95_000, 70_000]), insurance_fund_usd=20_000)
    row = result.summary().loc["none"]
    assert row["fund_drawdown_usd"] == pytest.approx(15_000)
    assert row["fund_after_usd"] == pytest.approx(5_000)
    assert result.runs["none"].accounts_after[0].cash_usd == pytest.approx(0.0)


def test_point_in_time_models_calibrate_the_day_before_and_rebuild_fhs_per_step(monkeypatch):
    """The window opens 2020-03-09 00:00 UTC: the calibrated presets come from a calibration with data up to 2020-03-08;
    ``fhs-var`` is its point-in-time constructor (history cut at the close before each step); a venue preset is as published."""
    import marginlab.analysis.replay as calibration  # point_in_time_models calls the calibrate it imports
    from marginlab.analysis.replay import point_in_time_models
    from marginlab.margin.presets import get_model
    from marginlab.parameters import example_parameters

    seen = []
    monkeypatch.setattr(calibration, "calibrate", lambda assets, asof, **kwargs: seen.append((list(assets), str(asof))) or example_parameters())
    path = scenario_path("covid-2020-03-12", ["BTC"], substeps=1)
    models = point_in_time_models(path, ["calibrated-isolated", "calibrated-portfolio", "fhs-var", "hyperliquid"])
    assert seen == [(["BTC"], "2020-03-08")]  # one calibration for every calibrated preset
    assert models["hyperliquid"] == get_model("hyperliquid")
    fhs = models["fhs-var"](path.times[3])
    assert fhs.history.as_of < pd.Timestamp(path.times[3])
    assert type(models["calibrated-portfolio"]).__name__ == "PerUnderlyingPortfolioMargin"
    with pytest.raises(InputError, match="calibrated-cros"):
        point_in_time_models(path, ["calibrated-cros"])


def test_liquidation_volume_adds_up_to_the_closed_notional():
    """Per step, the notional of the ladder's closes; over the steps, the summary's ``closed_notional_usd``."""
    path = hand_path([100.0, 80.0, 60.0, 65.0])
    book = [Account((Position(Perpetual("BTC"), 1.0, entry_price_usd=100.0),), 12.0, account_id=f"a{k}") for k in range(3)]
    result = replay(book, {"flat": FlatRateModel(0.10, 0.05)}, path)
    volume = result.liquidation_volume()
    assert list(volume.index) == ["flat"] and volume.shape[1] == len(path)
    assert volume.loc["flat"].sum() == pytest.approx(result.summary().loc["flat", "closed_notional_usd"])
    assert volume.loc["flat"].iloc[0] == 0.0  # nothing closed at the open (equity 12 against MM 5 per account)
