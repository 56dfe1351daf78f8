"""Tests of marginlab.calibration.offsets: the stress-correlation spread credits and their place in the parameter file."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from marginlab.calibration.calibrate import calibrate
from marginlab.calibration.methodology import HaircutSpec, Methodology
from marginlab.calibration.offsets import (
    SpreadBacktest,
    StressOffsetMethod,
    estimate_offsets,
    spread_backtest,
    spread_credit,
    stress_moves,
)
from marginlab.exceptions import FileFormatError, InputError, MarginLabWarning, ParameterError, UnknownAssetError
from marginlab.parameters import OffsetParameters, PairOffset, ParameterSet, example_parameters


def _prices(n: int = 1200, rho: float = 0.8, seed: int = 7, start: str = "2020-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    common, a, b, c = rng.standard_normal((4, n))
    days = pd.date_range(start, periods=n, freq="D", tz="UTC")
    w = math.sqrt(rho)
    returns = pd.DataFrame({"AAA": 0.03 * (w * common + math.sqrt(1 - rho) * a),
                            "BBB": 0.05 * (w * common + math.sqrt(1 - rho) * b),
                            "CCC": 0.04 * c}, index=days)
    return 100.0 * np.exp(returns.cumsum())


# ------------------------------------------------------------------------------------------ the rule
def test_credit_rate_hand_values():
    method = StressOffsetMethod()  # haircut 0.20, cap 0.70, min_observations 30
    # rho = min(0.90, 0.85) - 0.20 = 0.65 -> 1 - sqrt(0.35) = 1 - 0.591608 = 0.408392
    assert method.credit_rate(0.90, 0.85, 100) == pytest.approx(0.408392, abs=1e-6)
    # rho = 0.99 - 0.0 -> 1 - sqrt(0.01) = 0.9, capped at 0.7
    assert StressOffsetMethod(haircut=0.0).credit_rate(0.99, 0.995, 100) == pytest.approx(0.70)
    assert StressOffsetMethod(haircut=0.0, cap=1.0).credit_rate(0.99, 0.995, 100) == pytest.approx(0.90)
    assert method.credit_rate(0.19, 0.9, 100) == 0.0          # rho <= 0 after the haircut
    assert method.credit_rate(-0.5, -0.5, 100) == 0.0
    assert method.credit_rate(0.95, 0.95, 29) == 0.0          # too few stress days
    assert method.credit_rate(float("nan"), 0.9, 100) == 0.0


def test_the_rule_is_conservative_for_an_equal_risk_normal_spread():
    # two legs of standalone requirement S, opposite sign: credited cost 2 S (1 - rate) must be >= the normal-theory
    # joint requirement S sqrt(2 (1 - rho)) at the true correlation, for every rho (haircut 0, no cap: worst case)
    method = StressOffsetMethod(haircut=0.0, cap=1.0)
    for rho in np.linspace(-0.9, 0.999, 200):
        rate = method.credit_rate(rho, rho, 100)
        assert 2.0 * (1.0 - rate) >= math.sqrt(2.0 * (1.0 - rho)) - 1e-12


@pytest.mark.parametrize("kwargs", [{"horizon_days": 0}, {"stress_quantile": 1.0}, {"standardise": "garch"}, {"haircut": -0.1},
                                    {"cap": 1.5}, {"min_observations": 1}, {"window_days": 10}, {"ewma_decay": 1.0}])
def test_bad_method_settings_are_one_line_errors(kwargs):
    with pytest.raises(ParameterError, match=next(iter(kwargs))):
        StressOffsetMethod(**kwargs)


# ------------------------------------------------------------------------------------------ estimation
def test_estimate_matches_an_independent_computation_raw_moves():
    prices = _prices(400)
    method = StressOffsetMethod(standardise="raw", warmup_days=0, stress_quantile=0.9, min_observations=10)
    table = estimate_offsets(prices, "2020-12-31", method, ["BBB", "AAA"])
    # independently: log returns to 2020-12-31, stress = either |r| at or beyond its own 90% quantile, scipy Pearson
    cut = prices.loc[:"2020-12-31"]
    r = np.log(cut).diff().dropna()
    x, y = r["AAA"].to_numpy(), r["BBB"].to_numpy()
    stress = (np.abs(x) >= np.quantile(np.abs(x), 0.9)) | (np.abs(y) >= np.quantile(np.abs(y), 0.9))
    rho_stress = stats.pearsonr(x[stress], y[stress])[0]
    rho_all = stats.pearsonr(x, y)[0]
    pair = table.pair("BBB", "AAA")
    assert (pair.asset_a, pair.asset_b) == ("AAA", "BBB")
    assert pair.correlation_stress == pytest.approx(rho_stress, abs=1e-12)
    assert pair.correlation_all == pytest.approx(rho_all, abs=1e-12)
    assert pair.n_stress == int(stress.sum()) and pair.n_observations == len(x) == 365
    assert (pair.window_start, pair.window_end) == ("2020-01-02", "2020-12-31")
    assert pair.credit_rate == pytest.approx(1 - math.sqrt(1 - (min(rho_stress, rho_all) - 0.2)), abs=1e-12)


def test_ewma_standardised_moves_and_horizon():
    prices = _prices(300)
    from marginlab.stats.ewma import ewma_volatility

    moves = stress_moves(prices, "2020-12-31", StressOffsetMethod(horizon_days=2, warmup_days=30))
    r = np.log(prices.loc[:"2020-12-31", "AAA"]).diff().dropna()
    z = (r / ewma_volatility(r)).iloc[30:]
    expected = z.rolling(2).sum().dropna()
    pd.testing.assert_series_equal(moves["AAA"].dropna(), expected, check_names=False)


def test_correlated_pair_gets_credit_independent_pair_none():
    table = estimate_offsets(_prices(1500, rho=0.85), "2024-01-01")
    assert len(table.pairs) == 3
    assert 0.2 < table.rate("AAA", "BBB") <= 0.7
    assert table.rate("AAA", "CCC") == 0.0 and table.rate("BBB", "CCC") == 0.0
    frame = table.table()
    assert list(frame.columns[:3]) == ["asset_a", "asset_b", "credit_rate"]
    assert table.settings["haircut"] == 0.2 and "rule" in table.settings


def test_offsets_use_data_up_to_asof_only():
    prices = _prices(1200)
    asof = "2022-06-30"
    base = estimate_offsets(prices, asof)
    later = prices.copy()
    after = later.index > pd.Timestamp(asof, tz="UTC") + pd.Timedelta(hours=23)
    later.loc[after] = later.loc[after].to_numpy() * np.random.default_rng(0).uniform(0.2, 5.0, size=(int(after.sum()), 3))
    assert estimate_offsets(later, asof) == base
    assert estimate_offsets(prices.loc[:asof], asof) == base
    assert base.pair("AAA", "BBB").window_end == asof
    assert estimate_offsets(prices, "2022-07-31") != base


def test_bad_input_is_a_one_line_error():
    prices = _prices(200)
    with pytest.raises(InputError, match="at least two"):
        estimate_offsets(prices, "2020-06-30", assets=["AAA"])
    with pytest.raises(InputError, match="ZZZ"):
        estimate_offsets(prices, "2020-06-30", assets=["AAA", "ZZZ"])
    with pytest.raises(InputError, match="asof"):
        estimate_offsets(prices, "not a date")
    bad = prices.copy()
    bad.iloc[5, 0] = -1.0
    with pytest.raises(InputError, match=r"prices\[AAA\]"):
        estimate_offsets(bad, "2020-06-30")


def test_short_overlap_gives_no_credit():
    prices = _prices(400)
    prices.loc[: "2020-12-01", "BBB"] = np.nan  # BBB starts late: ~30 common days, ~3 stress days
    pair = estimate_offsets(prices, "2020-12-31").pair("AAA", "BBB")
    assert pair.n_stress < 30 and pair.credit_rate == 0.0


@pytest.mark.slow
def test_btc_eth_offsets_on_the_snapshot():
    from marginlab.data import close_panel

    try:
        prices = close_panel(["BTC", "ETH", "SOL"], how="outer")
    except Exception as error:  # pragma: no cover
        pytest.skip(f"no data snapshot: {error}")
    table = estimate_offsets(prices, "2024-12-31")
    pair = table.pair("BTC", "ETH")
    # BTC/ETH daily moves are strongly but not perfectly correlated (0.6-0.7 over the whole history since 2015)
    assert 0.55 < pair.correlation_all < 0.8 and 0.55 < pair.correlation_stress < 0.85
    assert 0.15 < pair.credit_rate < 0.4
    assert pair.window_end == "2024-12-31" and pair.n_observations > 3000 and pair.n_stress > 200


# ------------------------------------------------------------------------------------------ the parameter file
def _with_offsets(rate: float = 0.4) -> ParameterSet:
    from dataclasses import replace

    params = example_parameters()
    eth = replace(params.asset("BTC"), asset="ETH")
    table = OffsetParameters("stress-correlation (ewma, 1-day)", StressOffsetMethod().to_dict(),
                             (PairOffset("BTC", "ETH", rate, 0.7, 0.65, 250, 3000, "2015-09-08", "2025-01-31"),))
    return replace(params, assets={"BTC": params.asset("BTC"), "ETH": eth}, offsets=table)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_offsets_round_trip_in_the_file(tmp_path, suffix):
    params = _with_offsets()
    path = params.save(tmp_path / f"p{suffix}")
    loaded = ParameterSet.load(path)
    assert loaded == params
    assert loaded.offsets is not None and loaded.offsets.rate("ETH", "BTC") == 0.4


def test_a_file_without_offsets_still_loads():
    document = example_parameters().to_dict()
    assert "offsets" not in document
    assert ParameterSet.from_dict(document).offsets is None


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["offsets"]["pairs"][0].update(credit_rate=1.5), r"offsets.pairs.0.credit_rate"),
    (lambda d: d["offsets"]["pairs"][0].update(asset_b="SOL"), r"offsets.pairs.0.asset_b: 'SOL' is not an asset"),
    (lambda d: d["offsets"]["pairs"][0].update(asset_b="BTC"), r"offsets.pairs.0: BTC/BTC"),
    (lambda d: d["offsets"]["pairs"].append(dict(d["offsets"]["pairs"][0], asset_a="ETH", asset_b="BTC")), r"offsets.pairs.1"),
    (lambda d: d["offsets"]["pairs"][0].update(correlation_all=1.2), r"offsets.pairs.0.correlation_all"),
])
def test_malformed_offsets_name_the_field(change, message):
    document = _with_offsets().to_dict()
    change(document)
    with pytest.raises(FileFormatError, match=message):
        ParameterSet.from_dict(document)


def test_unknown_pair_lookup():
    with pytest.raises(UnknownAssetError, match="BTC/SOL"):
        _with_offsets().offsets.pair("BTC", "SOL")  # type: ignore[union-attr]


def test_calibrate_fills_the_offsets_table_from_data_up_to_asof():
    prices = _prices(900, rho=0.85)[["AAA", "BBB"]]
    light = Methodology(name="light", haircut=HaircutSpec(n_simulations=2_000))
    kwargs = {"implied_vol": {}, "stablecoin_collateral": (), "created_at": "2030-01-01T00:00:00+00:00", "allow_short_history": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarginLabWarning)
        params = calibrate(["AAA", "BBB"], "2022-04-30", light, prices=prices, **kwargs)
        single = calibrate(["AAA"], "2022-04-30", light, prices=prices, **kwargs)
    assert single.offsets is None
    assert params.offsets == estimate_offsets(prices, "2022-04-30")
    assert params.offsets is not None and params.offsets.rate("AAA", "BBB") > 0


# ------------------------------------------------------------------------------------------ backtest
def test_spread_credit_is_the_span_inter_commodity_rule():
    from marginlab.margin.correlation import inter_commodity_credit
    from marginlab.margin.span import InterCommoditySpread

    rng = np.random.default_rng(3)
    for _ in range(50):
        a, b, rate = rng.uniform(0, 10_000), rng.uniform(0, 10_000), rng.uniform(0, 1)
        reference = inter_commodity_credit({"A": (a, a), "B": (b, -b)}, [InterCommoditySpread("A", "B", 1.0, 1.0, rate)])
        assert float(spread_credit(a, b, rate)) == pytest.approx(reference.requirement_usd, rel=1e-12, abs=1e-9)


def test_break_even_credit_rate_hand_example():
    # four days, R_long = R_short = 0.1 (R = 0.2): b = (0.2 - loss) / 0.2 for losses 0.18, 0.10, 0.0, -0.05
    # -> b = 0.1, 0.5, 1.0, 1.25; alpha = 0.75 tolerates floor(0.25 x 4) = 1 exception -> break-even = 2nd smallest = 0.5
    frame = pd.DataFrame({"requirement_long": 0.1, "requirement_short": 0.1, "requirement": 0.2, "loss": [0.18, 0.10, 0.0, -0.05]})
    result = SpreadBacktest("A", "B", 0.75, None, None, frame)
    assert result.break_even_credit_rate == pytest.approx(0.5)


def test_spread_backtest_bad_input():
    with pytest.raises(InputError, match="short_asset"):
        spread_backtest("BTC", "BTC", "2020-01-01", "2021-01-01", prices=_prices(100))
    with pytest.raises(InputError, match="refit_days"):
        spread_backtest("AAA", "BBB", "2020-01-01", "2021-01-01", prices=_prices(100), refit_days=0)
    with pytest.raises(InputError, match="sizing"):
        spread_backtest("AAA", "BBB", "2020-01-01", "2021-01-01", prices=_prices(100), sizing="beta")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="ZZZ"):
        spread_backtest("AAA", "ZZZ", "2020-01-01", "2021-01-01", prices=_prices(100))


@pytest.mark.slow
def test_btc_eth_spread_backtest_credit_keeps_exceptions_at_or_below_target():
    """Real data 2021-2024, both directions: with the calibrated credit the 1-day 99% exception rate stays <= 1%,
    the credit is below the break-even rate, and the rate used on a day is estimated from data before it."""
    from marginlab.data import close_panel

    try:
        prices = close_panel(["BTC", "ETH"], end="2024-12-31", how="outer")
    except Exception as error:  # pragma: no cover
        pytest.skip(f"no data snapshot: {error}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarginLabWarning)
        for long_asset, short_asset, sizing in (("ETH", "BTC", "equal_notional"), ("BTC", "ETH", "equal_notional"),
                                                ("ETH", "BTC", "equal_risk"), ("BTC", "ETH", "equal_risk")):
            result = spread_backtest(long_asset, short_asset, "2021-01-01", "2024-12-31", prices=prices, sizing=sizing)  # type: ignore[arg-type]
            frame = result.frame
            assert len(frame) == 1461
            assert result.exception_rate <= 0.01
            assert not (result.credited.p_value < 0.05 and result.exception_rate > 0.01)  # no rejection for too many
            assert (frame["credited_requirement"] <= frame["requirement"]).all()
            assert (frame["credit_rate"] > 0).all() and frame["credit_rate"].max() < result.break_even_credit_rate
            day = frame.index[30]  # second refit
            expected = estimate_offsets(prices, day - pd.Timedelta(days=1), assets=[long_asset, short_asset]).rate("BTC", "ETH")
            assert frame.loc[day, "credit_rate"] == pytest.approx(expected)
            assert "Kupiec" in result.summary()
            if sizing == "equal_risk":  # both legs carry the same requirement
                assert np.allclose(frame["requirement_long"], frame["requirement_short"])
