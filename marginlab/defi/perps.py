"""Open-interest caps of a perpetual protocol from external liquidity and the price impact of its liquidations.

When a perpetual market's price falls, the positions whose margin is exhausted are liquidated and their hedges or
the liquidator's inventory are sold on external venues. Selling ``q`` USD into a market that trades ``ADV`` a day moves
the price by about ``k sigma_daily sqrt(q / ADV)`` (the square-root law, :func:`marginlab.stats.square_root_impact`;
Almgren et al. 2005, Toth et al. 2011). If a share ``s`` of the open interest is liquidated on a stress day, an open
interest ``OI`` moves the price by ``impact(OI) = k sigma sqrt(s OI / ADV)``; keeping it under ``max_impact`` (below
the maintenance margin, so liquidations do not trigger further liquidations) caps the open interest at

``OI_impact = ADV (max_impact / (k sigma))^2 / s``.

With an order-book or pool depth ``D`` available at a slippage of ``max_impact`` the cap is also at most
``depth_multiple x D / s`` (the Chaos Labs "twice the liquidity at the bonus slippage" rule applied to the liquidated
share). The cap is the smaller of the two.

Examples
--------
>>> policy = OpenInterestCapPolicy(max_impact=0.02, liquidated_share=0.25)
>>> policy.impact_cap_usd(adv_usd=1e9, sigma_daily=0.04)  # 1e9 x (0.02 / 0.04)^2 / 0.25
1000000000.0
>>> round(policy.liquidation_impact(1e9, 1e9, 0.04), 6)  # 0.04 sqrt(0.25)
0.02
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from marginlab.exceptions import InputError, ParameterError
from marginlab.stats.impact import square_root_impact

__all__ = ["OpenInterestCapPolicy", "oi_caps_from_data"]


@dataclass(frozen=True)
class OpenInterestCapPolicy:
    """Open-interest caps from the square-root impact of liquidations (module docstring).

    Parameters
    ----------
    max_impact : float
        Largest acceptable price impact of a stress day's liquidations (fraction; e.g. below the maintenance margin).
    liquidated_share : float
        Share of the open interest liquidated on a stress day (assumed).
    k : float
        Square-root impact prefactor (0.5-1 in the literature).
    depth_multiple : float
        Multiple of the depth at ``max_impact`` slippage allowed for the liquidated share (Chaos Labs: 2).
    """

    max_impact: float = 0.02
    liquidated_share: float = 0.25
    k: float = 1.0
    depth_multiple: float = 2.0

    def __post_init__(self) -> None:
        for name in ("max_impact", "liquidated_share"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= 1):
                raise ParameterError(name, value, "must lie in (0, 1]")
        for name in ("k", "depth_multiple"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ParameterError(name, value, "must be positive")

    def liquidation_impact(self, oi_usd: Any, adv_usd: Any, sigma_daily: Any) -> Any:
        """Price impact of liquidating ``liquidated_share`` of ``oi_usd``."""
        return square_root_impact(self.liquidated_share * np.asarray(oi_usd, dtype=float), adv_usd, sigma_daily, self.k)

    def impact_cap_usd(self, adv_usd: float, sigma_daily: float) -> float:
        """Largest open interest whose stress liquidations move the price at most ``max_impact``."""
        if not (math.isfinite(adv_usd) and adv_usd > 0):
            raise InputError("adv_usd", adv_usd, "must be positive")
        if not (math.isfinite(sigma_daily) and sigma_daily > 0):
            raise InputError("sigma_daily", sigma_daily, "must be positive")
        return float(adv_usd * (self.max_impact / (self.k * sigma_daily)) ** 2 / self.liquidated_share)

    def cap_usd(self, adv_usd: float, sigma_daily: float, depth_at_impact_usd: float | None = None) -> float:
        """The open-interest cap: the impact cap, and at most ``depth_multiple x depth / share`` when a depth is given."""
        cap = self.impact_cap_usd(adv_usd, sigma_daily)
        if depth_at_impact_usd is not None:
            if not (math.isfinite(depth_at_impact_usd) and depth_at_impact_usd >= 0):
                raise InputError("depth_at_impact_usd", depth_at_impact_usd, "must be finite and >= 0")
            cap = min(cap, self.depth_multiple * depth_at_impact_usd / self.liquidated_share)
        return cap


def oi_caps_from_data(symbols: Sequence[str], asof: Any, policy: OpenInterestCapPolicy | None = None, *, adv_window_days: int = 30,
                      ewma_decay: float = 0.94, open_interest_usd: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Open-interest caps of ``symbols`` at ``asof`` from the embedded daily history (USD volume and EWMA volatility).

    ``open_interest_usd`` (e.g. CoinGlass's all-venue OI of the embedded data) is compared with the cap and the
    impact it would cause.
    """
    from marginlab import data
    from marginlab.stats.ewma import ewma_variance_forecasts

    policy = policy or OpenInterestCapPolicy()
    stamp = pd.Timestamp(asof)
    rows = []
    for symbol in symbols:
        bars = data.load_daily(symbol, end=stamp.strftime("%Y-%m-%d"), gaps="ignore").dropna()
        if symbol in ("BTC", "ETH"):  # their long files give volume in coins; the universe file has USD volume
            volume = data.load_daily(symbol, end=stamp.strftime("%Y-%m-%d"), dataset="universe", gaps="ignore")["volume"]
        else:
            volume = bars["volume"]
        adv = float(volume.dropna().iloc[-adv_window_days:].mean())
        returns = np.diff(np.log(bars["close"].to_numpy()[-750:]))
        sigma = float(np.sqrt(ewma_variance_forecasts(returns, ewma_decay, seed="backcast")[-1]))
        cap = policy.cap_usd(adv, sigma)
        row = {"symbol": symbol, "adv_usd": adv, "sigma_daily": sigma, "oi_cap_usd": cap}
        if open_interest_usd and symbol in open_interest_usd:
            oi = float(open_interest_usd[symbol])
            row.update({"open_interest_usd": oi, "oi_over_cap": oi / cap, "impact_at_oi": float(policy.liquidation_impact(oi, adv, sigma))})
        rows.append(row)
    return pd.DataFrame(rows).set_index("symbol")
