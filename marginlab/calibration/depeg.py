"""Stablecoin depeg risk: episodes, their frequency and severity, and a depeg haircut.

A stablecoin's day-to-day price noise is tiny; its real risk is a *depeg*, a rare jump away
from 1 USD (UST/USTC in May 2022, USDN in 2022, HUSD in October 2022, USDC in March 2023).
A volatility model fitted on calm days cannot see that risk, so :class:`DepegModel` treats it
as a **mixture** calibrated on the pooled history of all stablecoins:

* an **episode** starts on a day whose close is below ``1 - threshold`` (default 2%) after a
  close at or above it, and ends after ``merge_gap_days`` consecutive days back on the peg
  (closer episodes are merged);
* the **depeg intensity** ``lambda`` is the number of episodes per stablecoin-year of history
  (pooled over every coin, so that coins without a depeg still inherit the sector's risk);
  the probability of a depeg within the liquidation horizon of ``h`` days is
  ``p_h = 1 - exp(-lambda * h / 365)``;
* the **loss given depeg** of an episode is the worst drop of the close within the first
  ``h`` days of the episode relative to the last close before it,
  ``LGD = 1 - min(close[start : start + h]) / close[start - 1]``;
* the **normal-regime loss** is the coin's own empirical ``h``-day price drop on days outside
  episodes;
* the haircut is the expected shortfall at ``confidence`` of the mixture that draws a depeg
  loss (uniformly among the episodes' LGDs) with probability ``p_h`` and a normal-regime loss
  otherwise. When ``p_h < 1 - confidence`` every depeg outcome lies in the tail and the ES is
  about ``p_h * mean(LGD) / (1 - confidence)`` plus the normal tail's share.

A coin that is **depegged at the as-of date** (close below ``1 - threshold``) is no longer a
stablecoin for margin purposes: :meth:`DepegResult.haircut` returns the largest of the
mixture ES and the empirical ES of forward ``h``-day drops observed from depegged states in the
pooled history; :class:`~marginlab.calibration.haircuts.HaircutModel` also applies its
volatility-scaled market ES to such a coin and keeps the larger value.

Only data up to ``asof`` is used; an episode still open at ``asof`` is counted with the drop
observed so far.

Examples
--------
>>> import numpy as np, pandas as pd
>>> days = pd.date_range("2020-01-01", periods=730, freq="D", tz="UTC")
>>> close = np.ones(730); close[400:405] = [0.9, 0.8, 0.85, 0.95, 0.99]
>>> history = pd.DataFrame({"timestamp": days, "symbol": "XUSD", "close": close})
>>> result = DepegModel(horizon_days=3).fit(history)
>>> len(result.episodes), round(float(result.episodes["loss_given_depeg"].iloc[0]), 2)
(1, 0.2)
>>> round(result.intensity_per_year, 2)
0.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from marginlab import data
from marginlab.exceptions import InputError, ParameterError
from marginlab.stats.risk_measures import weighted_expected_shortfall

#: Stablecoins known to the package (symbols of the snapshot files).
STABLECOINS: tuple[str, ...] = (
    "USDT", "USDC", "DAI", "BUSD", "TUSD", "USDP", "GUSD", "HUSD", "LUSD", "FRAX", "FEI", "MIM", "SUSD", "USDN", "USTC", "UST",
)


def _history_frame(history: pd.DataFrame, asof: pd.Timestamp | None) -> pd.DataFrame:
    required = {"timestamp", "symbol", "close"}
    missing = required - set(history.columns)
    if missing:
        raise InputError("history", sorted(history.columns), f"lacks columns {sorted(missing)}")
    frame = history[["timestamp", "symbol", "close"]].copy()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    if asof is not None:
        frame = frame[frame["timestamp"] <= asof]
    if frame.empty:
        raise InputError("history", "empty", "no stablecoin prices up to the as-of date")
    if not np.all(np.isfinite(frame["close"])) or (frame["close"] <= 0).any():
        raise InputError("history.close", "non-positive or non-finite", "stablecoin prices must be positive and finite")
    return frame.sort_values(["symbol", "timestamp"])


@dataclass(frozen=True)
class DepegResult:
    """Calibrated depeg risk of the stablecoin sector (see :class:`DepegModel`)."""

    model: DepegModel
    episodes: pd.DataFrame
    coin_years: float
    intensity_per_year: float
    horizon_probability: float
    depegged_state_es: float
    normal_losses: dict[str, np.ndarray] = field(repr=False)
    last_close: dict[str, float] = field(repr=False)
    asof: pd.Timestamp | None = None

    @property
    def mean_loss_given_depeg(self) -> float:
        """Average loss given depeg over the episodes (0 when there are none)."""
        return float(self.episodes["loss_given_depeg"].mean()) if len(self.episodes) else 0.0

    def mixture_expected_shortfall(self, symbol: str | None = None) -> float:
        """ES at the model's confidence of the normal/depeg mixture for ``symbol`` (pooled normal losses if unknown)."""
        if symbol in self.normal_losses and self.normal_losses[symbol].size:
            normal = self.normal_losses[symbol]
        else:
            pooled = [v for v in self.normal_losses.values() if v.size]
            normal = np.concatenate(pooled) if pooled else np.zeros(1)
        lgd = self.episodes["loss_given_depeg"].to_numpy(dtype=float)
        p = self.horizon_probability if lgd.size else 0.0
        losses = np.concatenate([normal, lgd])
        weights = np.concatenate([np.full(normal.size, (1.0 - p) / normal.size), np.full(lgd.size, p / max(lgd.size, 1))])
        return max(weighted_expected_shortfall(losses, weights, self.model.confidence), 0.0)

    def is_depegged(self, symbol: str, price_usd: float | None = None) -> bool:
        """Whether ``symbol`` trades below ``1 - threshold`` (at ``price_usd`` or its last close)."""
        price = self.last_close.get(symbol) if price_usd is None else price_usd
        return price is not None and price < 1.0 - self.model.threshold

    def haircut(self, symbol: str, price_usd: float | None = None) -> float:
        """Depeg haircut of ``symbol`` in [0, 1]: the mixture ES, or the depegged-state ES if it is off its peg."""
        value = self.mixture_expected_shortfall(symbol)
        if self.is_depegged(symbol, price_usd):
            value = max(value, self.depegged_state_es)
        return float(min(max(value, 0.0), 1.0))

    def summary(self) -> str:
        lines = [
            f"Depeg model: threshold {self.model.threshold:.1%}, horizon {self.model.horizon_days} days, "
            f"confidence {self.model.confidence:.2%}",
            f"  history: {self.coin_years:,.1f} stablecoin-years, {len(self.episodes)} episodes",
            f"  intensity {self.intensity_per_year:.3f} per coin-year -> P(depeg within horizon) {self.horizon_probability:.4%}",
            f"  mean loss given depeg {self.mean_loss_given_depeg:.2%}; ES from a depegged state {self.depegged_state_es:.2%}",
        ]
        if len(self.episodes):
            lines += ["", self.episodes.to_string(index=False, float_format=lambda v: f"{v:.4f}")]
        return "\n".join(lines)


@dataclass(frozen=True)
class DepegModel:
    """Frequency x severity model of stablecoin depegs (module docstring has the formulas).

    Parameters
    ----------
    threshold : float
        Relative distance below the 1 USD peg that counts as depegged (0.02 = close < 0.98).
    horizon_days : int
        Liquidation horizon ``h`` in days.
    confidence : float
        Confidence level of the expected shortfall.
    merge_gap_days : int
        Days back on the peg needed to close an episode.
    """

    threshold: float = 0.02
    horizon_days: int = 3
    confidence: float = 0.99
    merge_gap_days: int = 30

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 0.5:
            raise ParameterError("threshold", self.threshold, "must lie in (0, 0.5)")
        if not 1 <= int(self.horizon_days) <= 30:
            raise ParameterError("horizon_days", self.horizon_days, "must be an integer between 1 and 30")
        if not 0.5 < self.confidence < 1.0:
            raise ParameterError("confidence", self.confidence, "must lie in (0.5, 1)")
        if self.merge_gap_days < 1:
            raise ParameterError("merge_gap_days", self.merge_gap_days, "must be at least 1")

    def fit(self, history: pd.DataFrame, asof: str | pd.Timestamp | None = None) -> DepegResult:
        """Calibrate on a long table ``timestamp, symbol, close`` of daily stablecoin closes (data after ``asof`` ignored)."""
        stamp = None if asof is None else pd.Timestamp(asof).tz_localize("UTC") if pd.Timestamp(asof).tzinfo is None else pd.Timestamp(asof)
        if stamp is not None and stamp.hour == 0 and stamp.minute == 0:
            stamp = stamp + pd.Timedelta(hours=23, minutes=59)
        frame = _history_frame(history, stamp)
        h = int(self.horizon_days)
        peg_floor = 1.0 - self.threshold
        episodes = []
        normal_losses: dict[str, np.ndarray] = {}
        state_losses = []
        coin_days = 0
        last_close = {}
        for symbol, group in frame.groupby("symbol", sort=True):
            close = group["close"].to_numpy(dtype=float)
            days = group["timestamp"].to_numpy()
            n = close.size
            coin_days += n
            last_close[str(symbol)] = float(close[-1])
            off = close < peg_floor
            in_episode = np.zeros(n, dtype=bool)
            i = 0
            while i < n:
                if off[i]:
                    start = i
                    last_off = i
                    j = i
                    while j < n and j - last_off <= self.merge_gap_days:
                        if off[j]:
                            last_off = j
                        j += 1
                    end = last_off
                    in_episode[start : end + 1] = True
                    reference = close[start - 1] if start > 0 else 1.0
                    window = close[start : min(start + h, n)]
                    trough = float(close[start : end + 1].min())
                    episodes.append(
                        {
                            "symbol": str(symbol),
                            "start": pd.Timestamp(days[start]),
                            "end": pd.Timestamp(days[end]),
                            "days_off_peg": int(off[start : end + 1].sum()),
                            "price_before": float(reference),
                            "trough_close": trough,
                            "loss_given_depeg": float(max(1.0 - window.min() / reference, 0.0)),
                            "max_drawdown_from_peg": float(max(1.0 - trough / reference, 0.0)),
                        }
                    )
                    i = end + 1
                else:
                    i += 1
            if n > h:
                forward_min = np.lib.stride_tricks.sliding_window_view(close[1:], h).min(axis=1)
                drops = 1.0 - forward_min / close[: n - h]
                touched = np.lib.stride_tricks.sliding_window_view(in_episode, h + 1).any(axis=1)
                normal_losses[str(symbol)] = drops[~touched]
                state_losses.append(drops[off[: n - h]])
            else:
                normal_losses[str(symbol)] = np.zeros(0)
        table = pd.DataFrame(
            episodes,
            columns=["symbol", "start", "end", "days_off_peg", "price_before", "trough_close", "loss_given_depeg", "max_drawdown_from_peg"],
        )
        coin_years = coin_days / 365.0
        intensity = len(table) / coin_years if coin_years > 0 else 0.0
        probability = 1.0 - math.exp(-intensity * h / 365.0)
        states = np.concatenate(state_losses) if state_losses else np.zeros(0)
        if states.size:
            state_es = weighted_expected_shortfall(states, np.ones(states.size), self.confidence)
        else:
            state_es = float(table["loss_given_depeg"].max()) if len(table) else 0.0
        return DepegResult(
            model=self,
            episodes=table,
            coin_years=coin_years,
            intensity_per_year=intensity,
            horizon_probability=probability,
            depegged_state_es=max(state_es, 0.0),
            normal_losses=normal_losses,
            last_close=last_close,
            asof=stamp,
        )


def load_stablecoin_history(asof: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Daily closes of every stablecoin in the snapshot, long format ``timestamp, symbol, close``.

    Joins the stablecoin file (15 coins to 2022-11) with the USDT and USDC rows of the universe
    file after the stablecoin file ends (to 2025-02, with the USDC depeg of March 2023).
    """
    stable = data.load_stablecoins()[["timestamp", "symbol", "close"]]
    universe = data.load_universe(symbols=["USDT", "USDC"])[["timestamp", "symbol", "close"]]
    parts = [stable]
    for symbol in ("USDT", "USDC"):
        end = stable.loc[stable["symbol"] == symbol, "timestamp"].max()
        parts.append(universe[(universe["symbol"] == symbol) & (universe["timestamp"] > end)])
    history = pd.concat(parts, ignore_index=True).sort_values(["symbol", "timestamp"], ignore_index=True)
    if asof is not None:
        stamp = pd.Timestamp(asof)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        history = history[history["timestamp"] <= stamp]
    return history
