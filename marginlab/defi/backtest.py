"""Historical backtests of a lending market: the stETH discount of June 2022, USDC's depeg of March 2023, 2025-10-10.

Each event replays the **relative** moves of the embedded daily history (:mod:`marginlab.data`, the 2026 snapshot
extension included) on the market's prices today, with the market's accounts and parameters, through the same
liquidation engine (:class:`~marginlab.defi.lending.LendingRiskModel`). A day is two steps: the day's extreme
(drivers and depegged tokens at their daily low) and the close. Depegs come from the data of each depeg history's
reference token:

* ``lst_eth``: stETH/ETH (``close_in_eth`` of the LST file; 0.9367 on 2022-06-15);
* ``synthetic_usd``: Binance USDe/USDT daily low (0.65 on 2025-10-10);
* ``fiat_backed_usd``: USDC daily low (0.8774 on 2023-03-11).

``depeg=False`` replays the same days with every token on its peg, so the two runs isolate what the depegs cost.

Examples
--------
>>> sorted(EVENTS)
['crash-2025-10-10', 'steth-2022-06', 'usdc-2023-03']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from marginlab.defi.lending import AccountBook, LendingMarket, LendingRiskModel, PricePaths, ReserveParameters
from marginlab.defi.market_file import MarketSpec
from marginlab.exceptions import UnknownAssetError

__all__ = ["EVENTS", "backtest", "event_paths"]

#: Event windows (inclusive UTC days) and what happened (README of the 2026 data extension).
EVENTS: dict[str, tuple[str, str, str]] = {
    "steth-2022-06": ("2022-06-08", "2022-06-20", "stETH/ETH 0.9367 on 2022-06-15 while ETH fell ~35%"),
    "usdc-2023-03": ("2023-03-08", "2023-03-15", "USDC low 0.8774 on 2023-03-11 (SVB)"),
    "crash-2025-10-10": ("2025-10-08", "2025-10-13", "ETH -21% intraday, USDe 0.65 on Binance on 2025-10-10"),
}


def _series(reference: pd.Timestamp, start: str, end: str) -> dict[str, tuple[pd.Series, pd.Series]]:
    """Per source: (daily low, daily close) relative to the close of the day before ``start``."""
    from marginlab import data

    before = (pd.Timestamp(start) - pd.Timedelta(days=10)).strftime("%Y-%m-%d")
    out: dict[str, tuple[pd.Series, pd.Series]] = {}
    for symbol in ("ETH", "BTC", "USDC"):
        bars = data.load_daily(symbol, before, end, gaps="ignore")
        ref = float(bars.loc[bars.index < reference, "close"].iloc[-1])
        window = bars.loc[bars.index >= reference]
        out[symbol] = (window["low"] / ref, window["close"] / ref)
    usde = data.load_series("usde_daily")  # from 2025-09-09: before, USDe is taken on its peg
    usde = usde[usde["symbol"] == "USDEUSDT"].set_index("timestamp")
    window = usde.loc[(usde.index >= reference) & (usde.index <= pd.Timestamp(end, tz="UTC"))]
    out["USDe"] = (window["low"], window["close"])  # against its peg (USDT)
    steth: pd.Series = data.load_series("lst", before, end, symbols=["STETH"], field="close_in_eth")["STETH"]
    ratio = steth.loc[steth.index >= reference]
    out["stETH/ETH"] = (ratio, ratio)  # closes only (rebasing: the peg is 1)
    return out


def event_paths(spec: MarketSpec, event: str, depeg: bool = True) -> PricePaths:
    """One historical path of the market's assets through ``event`` (two steps a day: extreme, close)."""
    if event not in EVENTS:
        raise UnknownAssetError("event", event, f"unknown backtest event (known: {sorted(EVENTS)})")
    start, end, _ = EVENTS[event]
    reference = pd.Timestamp(start, tz="UTC")
    series = _series(reference, start, end)
    days = pd.date_range(reference, pd.Timestamp(end, tz="UTC"), freq="D")
    steps = []
    for day in days:
        for kind in (0, 1):
            driver = {s: float(series[s][kind].get(day, series[s][1].loc[:day].iloc[-1])) for s in ("ETH", "BTC")}
            losses = {}
            if depeg:
                usdc = float(series["USDC"][kind].get(day, 1.0))
                usde = float(series["USDe"][kind].get(day, 1.0)) if len(series["USDe"][kind]) else 1.0
                steth = series["stETH/ETH"][1]
                lst = float(steth.get(day, steth.loc[:day].iloc[-1] if len(steth.loc[:day]) else 1.0))
                losses = {"fiat_backed_usd": np.array([max(1.0 - usdc, 0.0)]), "synthetic_usd": np.array([max(1.0 - usde, 0.0)]),
                          "lst_eth": np.array([max(1.0 - lst, 0.0)])}
            ratios = {k: np.array([v]) for k, v in driver.items()}
            row = [float(np.ravel(spec.registry.value_ratio(a, ratios, {h: v for h, v in losses.items() if h in spec.registry.depeg},
                                                            0.0, spec.asof))[0]) for a in spec.assets]
            steps.append(row)
    ratio = np.vstack([np.ones(len(spec.assets)), np.asarray(steps)])
    prices = ratio * np.array([spec.prices_usd[a] for a in spec.assets])[None, :]
    return PricePaths(spec.assets, prices[None, :, :])


def backtest(spec: MarketSpec, parameter_sets: Mapping[str, Mapping[str, ReserveParameters]], accounts: Mapping[str, AccountBook],
             events: Sequence[str] | None = None, model: LendingRiskModel | None = None) -> pd.DataFrame:
    """Bad debt and liquidations of each parameter set through each event, with and without the depegs.

    Parameters
    ----------
    parameter_sets : mapping label -> reserves
        E.g. ``{"current": spec.reserves, "recommended": recommendation.reserves}``.
    accounts : mapping label -> AccountBook
        The accounts under each parameter set (borrowers use their borrow usage of that set's LTV).
    """
    model = model or LendingRiskModel()
    rows: list[dict[str, Any]] = []
    for event in events or sorted(EVENTS):
        for depeg in (True, False):
            paths = event_paths(spec, event, depeg)
            for label, reserves in parameter_sets.items():
                result = model.run(LendingMarket(reserves, spec.liquidity, accounts[label]), paths)
                rows.append({"event": event, "depeg": depeg, "parameters": label, "bad_debt_usd": float(result.bad_debt_usd[0]),
                             "liquidated_usd": float(result.liquidated_usd[0]), "var95_target_usd": spec.targets.var95_usd,
                             "within_target": float(result.bad_debt_usd[0]) <= spec.targets.var95_usd})
    return pd.DataFrame(rows)
