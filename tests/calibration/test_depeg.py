"""Tests of marginlab.calibration.depeg: episodes, intensity, loss given depeg, mixture ES (hand calculations)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from marginlab.calibration.depeg import DepegModel, weighted_expected_shortfall
from marginlab.exceptions import InputError, ParameterError


def _history(closes: dict[str, np.ndarray]) -> pd.DataFrame:
    frames = []
    for symbol, close in closes.items():
        days = pd.date_range("2020-01-01", periods=len(close), freq="D", tz="UTC")
        frames.append(pd.DataFrame({"timestamp": days, "symbol": symbol, "close": close}))
    return pd.concat(frames, ignore_index=True)


def test_weighted_es_hand_calculation():
    # losses 0 (99.5%) and 1 (0.5%): the worst 1% holds 0.5% at 1 and 0.5% at 0 -> ES = 0.5
    assert weighted_expected_shortfall(np.array([0.0, 1.0]), np.array([0.995, 0.005]), 0.99) == pytest.approx(0.5)
    # equal weights, 4 outcomes, 75%: the worst quarter is the largest loss
    assert weighted_expected_shortfall(np.array([0.1, 0.4, 0.2, 0.3]), np.ones(4), 0.75) == pytest.approx(0.4)


def test_one_episode_hand_calculation():
    close = np.ones(730)
    close[400:405] = [0.9, 0.8, 0.85, 0.95, 0.99]
    result = DepegModel(horizon_days=3, confidence=0.99).fit(_history({"XUSD": close}))
    assert len(result.episodes) == 1
    episode = result.episodes.iloc[0]
    assert episode["loss_given_depeg"] == pytest.approx(0.2)  # min(0.9, 0.8, 0.85) vs 1.0 before
    assert episode["days_off_peg"] == 4  # 0.9, 0.8, 0.85, 0.95 are below 0.98
    assert result.coin_years == pytest.approx(2.0)
    assert result.intensity_per_year == pytest.approx(0.5)
    p = 1 - math.exp(-0.5 * 3 / 365)
    assert result.horizon_probability == pytest.approx(p)
    # normal losses are all 0, p < 1%: ES = p * 0.2 / 0.01
    assert result.mixture_expected_shortfall("XUSD") == pytest.approx(p * 0.2 / 0.01)
    assert result.haircut("XUSD") == pytest.approx(p * 0.2 / 0.01)
    assert not result.is_depegged("XUSD")
    assert result.is_depegged("XUSD", 0.9)
    assert "1 episodes" in result.summary()


def test_close_depegs_merge_into_one_episode_and_far_ones_do_not():
    close = np.ones(1000)
    close[100] = 0.95
    close[110] = 0.96  # 10 days later: same episode (merge gap 30)
    close[500] = 0.9  # separate episode
    result = DepegModel(horizon_days=2, merge_gap_days=30).fit(_history({"A": close}))
    assert len(result.episodes) == 2
    assert list(result.episodes["loss_given_depeg"].round(6)) == [0.05, 0.1]


def test_pooled_intensity_across_coins():
    calm = np.ones(365)
    shaky = np.ones(365)
    shaky[200] = 0.5
    result = DepegModel().fit(_history({"CALM": calm, "SHAKY": shaky}))
    # one episode over 2 coin-years; the calm coin inherits the sector risk
    assert result.intensity_per_year == pytest.approx(0.5)
    assert result.haircut("CALM") > 0


def test_no_look_ahead():
    close = np.ones(800)
    close[600] = 0.7
    history = _history({"A": close})
    asof = history["timestamp"].iloc[500]
    before = DepegModel().fit(history, asof)
    assert len(before.episodes) == 0
    truncated = DepegModel().fit(history[history["timestamp"] <= asof])
    assert before.intensity_per_year == truncated.intensity_per_year == 0.0
    assert before.haircut("A") == truncated.haircut("A")


def test_bad_inputs():
    with pytest.raises(ParameterError, match="threshold"):
        DepegModel(threshold=0.0)
    with pytest.raises(ParameterError, match="confidence"):
        DepegModel(confidence=1.0)
    with pytest.raises(InputError, match="lacks columns"):
        DepegModel().fit(pd.DataFrame({"timestamp": [], "close": []}))
    bad = _history({"A": np.ones(50)})
    bad.loc[3, "close"] = -1.0
    with pytest.raises(InputError, match="close"):
        DepegModel().fit(bad)


def test_real_history_has_the_known_depegs():
    from marginlab.calibration.depeg import load_stablecoin_history

    try:
        history = load_stablecoin_history()
    except Exception as error:  # pragma: no cover
        pytest.skip(f"no data snapshot: {error}")
    result = DepegModel(horizon_days=3).fit(history)
    episodes = result.episodes
    ust = episodes[(episodes["symbol"] == "USTC") & (episodes["start"] == pd.Timestamp("2022-05-09", tz="UTC"))]
    assert len(ust) == 1
    # 0.996 on 2022-05-08 -> 0.793/0.800/0.801 in the next 3 days: LGD ~ 20%; trough far lower
    assert ust["loss_given_depeg"].iloc[0] == pytest.approx(1 - 0.793393 / 0.996401, abs=1e-4)
    assert ust["max_drawdown_from_peg"].iloc[0] > 0.95
    usdc = episodes[(episodes["symbol"] == "USDC") & (episodes["start"] == pd.Timestamp("2023-03-11", tz="UTC"))]
    assert len(usdc) == 1  # close 0.9715 on 2023-03-11 (README)
    assert 0.0 < result.haircut("USDC") < 0.05
