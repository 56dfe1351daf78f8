"""Tests of marginlab.analysis.methodology_backtest and ``marginlab backtest``.

The acceptance run (BTC ETH SOL BNB, whole history, the published 1-day maintenance and 2-day initial rates, long and
short) is recomputed independently from the CSV it writes and the raw closes: exceptions on non-overlapping days of the
loss of a long (``1 - P[D+h]/P[D]``) and of a short (``P[D+h]/P[D] - 1``), Kupiec's likelihood ratio written out by
hand, Christoffersen's independence test from the transition counts; the CSV's rates are the parameter file's
(``calibrate`` at a date). The quality figures are regression-guarded.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from marginlab.analysis.methodology_backtest import JSON_KEYS, backtest_methodology, realised_losses
from marginlab.calibration.methodology import Methodology
from marginlab.cli import main
from marginlab.exceptions import DataError, InputError

MAIN_ASSETS = ["BTC", "ETH", "SOL", "BNB"]


def _snapshot_or_skip():
    from marginlab.data import snapshot_dir

    try:
        snapshot_dir()
    except Exception as error:  # pragma: no cover
        pytest.skip(f"no data snapshot: {error}")


def _cli_run(folder, *options):
    import contextlib
    import io

    csv = folder / "r.csv"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["backtest", "--assets", *MAIN_ASSETS, "--rates-out", str(csv), "--json", *options])
    assert code == 0
    return pd.read_csv(csv), json.loads(buffer.getvalue())


@pytest.fixture(scope="module")
def acceptance_run(tmp_path_factory):
    _snapshot_or_skip()
    return _cli_run(tmp_path_factory.mktemp("bt"))


@pytest.fixture(scope="module")
def per_side_run(tmp_path_factory):
    _snapshot_or_skip()
    return _cli_run(tmp_path_factory.mktemp("bt_sides"), "--rates", "per-side")


def _recompute(rates, records, requirement_of_cell):
    """Every record's exceptions, Kupiec and Christoffersen p-values from the CSV's rates and the raw closes."""
    from marginlab import data

    assert list(rates.columns) == ["date", "asset", "horizon_days", "confidence", "requirement", "side", "rate"]
    assert [list(r) for r in records] == [list(JSON_KEYS)] * len(records)
    by_key = {(r["asset"], r["horizon_days"], r["side"]): r for r in records}
    assert set(by_key) == {(a, h, side) for a in MAIN_ASSETS for h in (1, 2) for side in ("long", "short")}
    for (asset, h, side), record in by_key.items():
        assert record["requirement"] == requirement_of_cell(h, side)
        close = data.load_daily(asset)["close"]
        close.index = pd.DatetimeIndex(close.index).strftime("%Y-%m-%d")
        own = rates[(rates["asset"] == asset) & (rates["horizon_days"] == h) & (rates["side"] == side)].set_index("date")["rate"]
        dates = list(close.index)
        position = {d: i for i, d in enumerate(dates)}
        tested = []
        for day, rate in own.items():  # the row dated D covers the close of D to the close of D + h
            i = position[day]
            if i + h < len(dates):
                growth = close.iloc[i + h] / close.iloc[i]
                tested.append((rate, 1 - growth if side == "long" else growth - 1))
        tested = tested[::h]  # non-overlapping windows from the first rate
        hits = np.array([loss > rate for rate, loss in tested])
        assert record["observations"] == len(hits)
        assert record["exceptions"] == int(hits.sum())
        assert record["rate"] == pytest.approx(hits.mean())
        assert record["kupiec_p"] == pytest.approx(_kupiec_by_hand(len(hits), int(hits.sum()), 0.01), rel=1e-9)
        assert record["christoffersen_p"] == pytest.approx(_independence_by_hand(hits), rel=1e-9)
        assert record["average_rate"] == pytest.approx(own.mean())


def _kupiec_by_hand(n: int, x: int, p: float) -> float:
    # LR = -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x], chi2(1)
    phat = x / n
    null = (n - x) * math.log(1 - p) + (x * math.log(p) if x else 0.0)
    alt = (n - x) * math.log(1 - phat) + (x * math.log(phat) if x else 0.0)
    return float(stats.chi2.sf(max(-2 * (null - alt), 0.0), 1))


def _independence_by_hand(hits: np.ndarray) -> float:
    a, b = hits[:-1], hits[1:]
    n00, n01 = int(np.sum(~a & ~b)), int(np.sum(~a & b))
    n10, n11 = int(np.sum(a & ~b)), int(np.sum(a & b))
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi0 = n01 / (n00 + n01)
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0

    def term(count, prob):
        return count * math.log(prob) if count else 0.0

    lr = -2 * (term(n00 + n10, 1 - pi) + term(n01 + n11, pi) - term(n00, 1 - pi0) - term(n01, pi0) - term(n10, 1 - pi1) - term(n11, pi1))
    return float(stats.chi2.sf(max(lr, 0.0), 1))


def test_exceptions_and_kupiec_recomputed_from_the_csv_and_raw_prices(acceptance_run):
    rates, records = acceptance_run
    _recompute(rates, records, lambda h, side: {1: "maintenance_rate", 2: "initial_rate"}[h])
    for _, group in rates.groupby(["asset", "horizon_days"]):
        long, short = (group[group["side"] == side].set_index("date")["rate"] for side in ("long", "short"))
        pd.testing.assert_series_equal(long, short)  # one published rate, tested on both sides


def test_per_side_rates_recomputed_from_the_csv_and_raw_prices(per_side_run, acceptance_run):
    rates, records = per_side_run
    _recompute(rates, records, lambda h, side: f"{'maintenance' if h == 1 else 'initial'}_{side}")
    one = acceptance_run[0]
    for (asset, h), group in rates.groupby(["asset", "horizon_days"]):
        long, short = (group[group["side"] == side].set_index("date")["rate"] for side in ("long", "short"))
        published = one[(one["asset"] == asset) & (one["horizon_days"] == h) & (one["side"] == "long")].set_index("date")["rate"]
        # the file's one rate is the larger side
        np.testing.assert_allclose(np.maximum(long, short).to_numpy(), published.reindex(long.index).to_numpy(), rtol=1e-9)


def test_per_side_quality_on_both_sides(per_side_run):
    """Regression guard of the measured figures (BTC ETH SOL BNB, whole history): with each side tested against its
    own rate, no cell is rejected by Kupiec (two-sided) or Christoffersen at 5% and no red window appears."""
    _, records = per_side_run
    for record in records:
        assert record["kupiec_p"] > 0.05 and record["christoffersen_p"] > 0.05, record
        assert record["red"] == 0.0, record


def test_the_csv_rates_are_the_published_file_rates(acceptance_run):
    """The rate of the CSV dated D is the parameter file's maintenance / initial rate of calibrate(asof=D)."""
    from marginlab.calibration.calibrate import calibrate

    rates, _ = acceptance_run
    day = "2024-03-12"
    params = calibrate(["SOL"], day, stablecoin_collateral=(), created_at="2024-03-13T00:00:00+00:00")
    row = rates[(rates["asset"] == "SOL") & (rates["date"] == day)]
    entry = params.asset("SOL")
    assert row[row["horizon_days"] == 1]["rate"].iloc[0] == pytest.approx(entry.maintenance_rate, rel=1e-9)
    assert row[row["horizon_days"] == 2]["rate"].iloc[0] == pytest.approx(entry.initial_rate, rel=1e-9)


def test_the_per_side_csv_rates_are_the_file_side_rates(per_side_run):
    from marginlab.calibration.calibrate import calibrate

    rates, _ = per_side_run
    day = "2024-03-12"
    sides = calibrate(["SOL"], day, stablecoin_collateral=(), created_at="2024-03-13T00:00:00+00:00").asset("SOL").side_rates
    assert sides is not None
    row = rates[(rates["asset"] == "SOL") & (rates["date"] == day)].set_index(["horizon_days", "side"])["rate"]
    for (h, side), value in row.items():
        assert value == pytest.approx(getattr(sides, f"{'maintenance' if h == 1 else 'initial'}_{side}"), rel=1e-9)


def test_quality_of_the_published_rates_on_both_sides(acceptance_run):
    """One rate, max(down, up) with side-specific volatility, for both sides (regression guard of the measured
    figures): every cell's exception rate between 0.3% and 1.25%, the short side never rejected for too many
    exceptions, no cell rejected for clustering at 1%, no red traffic-light window."""
    _, records = acceptance_run
    for record in records:
        assert 0.003 <= record["rate"] <= 0.0125, record
        assert record["christoffersen_p"] > 0.01, record
        assert record["red"] == 0.0, record
        if record["side"] == "short":
            assert record["kupiec_p"] > 0.05 or record["rate"] < 0.01, record


def test_no_look_ahead_cutting_the_data_leaves_earlier_rates_unchanged():
    _snapshot_or_skip()
    kwargs = dict(horizons=(2,), start="2021-01-01")
    full = backtest_methodology(["SOL"], **kwargs).rates
    cut = backtest_methodology(["SOL"], end="2022-06-30", **kwargs).rates
    assert cut["date"].max() == pd.Timestamp("2022-06-30", tz="UTC")
    merged = cut.merge(full, on=["date", "asset", "horizon_days", "side"], suffixes=("_cut", "_full"))
    assert len(merged) == len(cut)
    np.testing.assert_allclose(merged["rate_cut"], merged["rate_full"], rtol=1e-12)
    # the APC-governed scan range (2 days, 99.7%, smoothing) too
    full_apc = backtest_methodology(["SOL"], confidence=0.997, **kwargs)
    cut_apc = backtest_methodology(["SOL"], confidence=0.997, end="2022-06-30", **kwargs)
    assert bool(full_apc.table["anti_procyclicality"].iloc[0])
    merged = cut_apc.rates.merge(full_apc.rates, on=["date", "asset", "horizon_days", "side"], suffixes=("_cut", "_full"))
    np.testing.assert_allclose(merged["rate_cut"], merged["rate_full"], rtol=1e-12)


def test_the_rate_dated_d_is_the_calibration_at_d():
    """The backtest's row D equals the model fitted on data up to and including D (what calibrate(asof=D) uses)."""
    _snapshot_or_skip()
    from marginlab import data

    methodology = Methodology()
    result = backtest_methodology(["ETH"], methodology, horizons=(1,), start="2022-12-20", end="2022-12-31")
    close = data.load_daily("ETH")["close"]
    close = close[close.index <= pd.Timestamp("2022-12-31", tz="UTC")]
    returns = np.log(close).diff().dropna()
    from marginlab.calibration.published import published_rates

    latest = published_rates(methodology, returns).iloc[-1]
    assert result.rates["rate"].iloc[-1] == pytest.approx(float(latest["maintenance_rate"]), rel=1e-12)
    latest_plain = methodology.stress_range_model(1, 0.99, anti_procyclicality=False, extreme_moves="none").fit(returns).latest()
    assert latest["maintenance_rate"] >= max(latest_plain["scan_down"], latest_plain["scan_up"]) - 1e-12  # APC adds only
    assert result.rates["date"].iloc[-1] == pd.Timestamp("2022-12-31", tz="UTC")


def test_realised_losses_and_dating_on_a_toy_series():
    days = pd.date_range("2024-01-01", periods=700, tz="UTC")
    rng = np.random.default_rng(0)
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 700))), index=days)
    losses = realised_losses(close, 1)
    assert losses.iloc[0] == pytest.approx(1 - close.iloc[1] / close.iloc[0])
    result = backtest_methodology(["TOY"], prices={"TOY": close}, horizons=(1,))
    rates = result.rates
    # first rate: at the close of the 500th return (min_returns), i.e. the 501st close
    assert rates["date"].iloc[0] == days[500]
    tested = result.exceptions[result.exceptions["side"] == "long"]
    assert (tested["loss"].to_numpy() == pytest.approx(losses.reindex(tested["date"]).to_numpy()))
    short = result.exceptions[result.exceptions["side"] == "short"]
    assert short["loss"].to_numpy() == pytest.approx(-tested["loss"].to_numpy())
    assert result.table["observations"].iloc[0] == len(rates) // 2 - 1  # the last date has no realised move yet


def test_bad_input_is_a_one_line_error(capsys):
    days = pd.date_range("2024-01-01", periods=300, tz="UTC")
    short = pd.Series(np.linspace(100, 120, 300), index=days)
    with pytest.raises(DataError, match="TOY: 299 daily returns"):
        backtest_methodology(["TOY"], prices={"TOY": short})
    with pytest.raises(InputError, match="start"):
        backtest_methodology(["TOY"], prices={"TOY": short}, start="2024-99-01")
    with pytest.raises(InputError, match="horizons"):
        backtest_methodology(["TOY"], prices={"TOY": short}, horizons=(0,))
    with pytest.raises(InputError, match="start"):
        backtest_methodology(["TOY"], prices={"TOY": short}, start="2024-06-01", end="2024-01-01")
    assert main(["backtest", "--assets", "BTC", "--end", "yesterday-ish"]) == 2
    assert "end='yesterday-ish'" in capsys.readouterr().err
    assert main(["backtest", "--assets", "BTC", "--rates-out", "/nonexistent-folder/r.csv"]) == 2
    assert "rates_out" in capsys.readouterr().err


def test_regime_quality_and_capital_tables_on_toy_prices():
    from marginlab.analysis.methodology_backtest import baseline_methodology, capital_table, quality_targets

    days = pd.date_range("2017-01-01", "2024-12-31", tz="UTC")
    rng = np.random.default_rng(3)
    prices = {name: pd.Series(100 * np.exp(np.cumsum(rng.standard_t(5, len(days)) * 0.02)), index=days) for name in ("AAA", "BBB")}
    run = backtest_methodology(["AAA", "BBB"], prices=prices, horizons=(1, 2))
    regimes = run.regime_table()
    pooled = regimes[(regimes["asset"] == "pooled") & (regimes["block"] == "2021-2022") & (regimes["horizon_days"] == 1)
                     & (regimes["side"] == "short")].iloc[0]
    tested = run.exceptions
    inside = tested[(tested["horizon_days"] == 1) & (tested["side"] == "short") & (tested["date"].dt.year.isin([2021, 2022]))]
    assert pooled["observations"] == len(inside) == 2 * 730
    assert pooled["exceptions"] == int(inside["exception"].sum())
    apc = backtest_methodology(["AAA", "BBB"], prices=prices, horizons=(2,), confidence=0.997, start="2019-01-01")
    assert apc.table["anti_procyclicality"].all() and apc.rates["date"].min() == pd.Timestamp("2019-01-01", tz="UTC")
    targets = quality_targets(run, apc, main_assets=("AAA",), majors=("AAA",))
    assert {"side", "target", "threshold", "measured", "met"} == set(targets.columns)
    assert set(targets["side"]) == {"long", "short", "both"}
    assert targets["target"].str.contains("other assets rejected \\(of 1\\)").any()
    baseline = backtest_methodology(["AAA", "BBB"], baseline_methodology(), prices=prices, horizons=(1, 2))
    capital = capital_table(run, baseline)
    assert len(capital) == 3 * 2 * 2
    expected = run.rates[(run.rates["horizon_days"] == 1) & (run.rates["side"] == "long")
                         & (run.rates["date"].dt.year.isin([2019, 2020]))]["rate"].mean()
    assert capital.loc[0, "average_rate_methodology"] == pytest.approx(expected)


def test_cli_table_output_with_a_methodology_file(tmp_path, capsys):
    _snapshot_or_skip()
    from marginlab.analysis.methodology_backtest import baseline_methodology

    path = baseline_methodology().save(tmp_path / "baseline.yaml")
    csv = tmp_path / "rates.csv"
    code = main(["backtest", "--assets", "ETH", "--methodology", str(path), "--start", "2024-01-01", "--end", "2024-06-30",
                 "--horizons", "1", "--rates-out", str(csv)])
    assert code == 0
    out = capsys.readouterr().out
    assert "methodology backtest (baseline-ewma-0.97-fhs-1000)" in out and f"wrote {csv}" in out
    rates = pd.read_csv(csv)
    assert rates["date"].iloc[0] == "2024-01-01" and rates["date"].iloc[-1] == "2024-06-30"
    assert set(rates["horizon_days"]) == {1} and set(rates["confidence"]) == {0.99}
    assert set(rates["side"]) == {"long", "short"} and set(rates["requirement"]) == {"maintenance_rate"}


def test_between_and_around_on_toy_prices():
    """A held-out period is the same rates and tests restricted by date; ``around`` finds the rates covering a day."""
    days = pd.date_range("2021-01-01", periods=900, tz="UTC")
    rng = np.random.default_rng(7)
    close = pd.Series(100 * np.exp(np.cumsum(rng.standard_t(4, 900) * 0.03)), index=days)
    run = backtest_methodology(["TOY"], prices={"TOY": close}, horizons=(1, 2))
    cut = pd.Timestamp("2023-01-01", tz="UTC")
    held = run.between(cut)
    assert held.rates["date"].min() >= cut and held.exceptions["date"].min() >= cut
    for row in held.table.itertuples(index=False):
        tested = run.exceptions[(run.exceptions["horizon_days"] == row.horizon_days) & (run.exceptions["side"] == row.side)
                                & (run.exceptions["date"] >= cut)]
        assert row.observations == len(tested) and row.exceptions == int(tested["exception"].sum())
    day = days[800]
    around = run.around(day, {"TOY": close})
    # 1 day: the rate set at the close before; 2 days: the two closes before (each side)
    assert sorted(set(zip(around["horizon_days"], around["date"]))) == [(1, days[799]), (2, days[798]), (2, days[799])]
    one = around[(around["horizon_days"] == 1) & (around["side"] == "long")].iloc[0]
    assert one["loss"] == pytest.approx(1 - close.iloc[800] / close.iloc[799])
    assert run.around(days[-1] + pd.Timedelta(days=30), {"TOY": close}).empty
