"""Benchmark: walk-forward backtest of the recommended methodology, 8 assets over their whole history (target < 60 s).

The run loads the closes first (not timed), then times, in the same process:

* ``backtest_methodology(assets, horizons=(1, 2), confidence=0.99)`` -- for every asset and horizon the rate the
  parameter file would have set at every close (asymmetric EWMA volatility, rolling 1,000-day FHS pool), the
  realised losses, Kupiec/Christoffersen, traffic light and procyclicality figures;
* a reference workload on the same closes and horizons: the plain baseline of issue 10 -- EWMA(0.97) volatility and
  the 1% quantile of a rolling 1,000-day pool of standardised residuals (vectorised pandas), the least work any
  filtered-historical-simulation backtest does.

``ratio_to_reference`` = backtest seconds / reference seconds corrects for the machine's load. The last line reads::

    seconds=... reference_seconds=... ratio_to_reference=... assets=8 rates=... target_s=60 meets_target=...

Usage: ``python benchmarks/backtest_methodology.py [--assets A B ...]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from marginlab import data
from marginlab.analysis.methodology_backtest import backtest_methodology
from marginlab.exceptions import MarginLabWarning
from marginlab.stats.ewma import ewma_variance_forecasts

TARGET_SECONDS = 60.0
DEFAULT_ASSETS = ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "LTC")


def reference_workload(closes: dict[str, pd.Series], horizons: Sequence[int]) -> float:
    """EWMA(0.97) FHS with a rolling 1,000-day pool for every asset, horizon and date; returns seconds."""
    start = time.perf_counter()
    for close in closes.values():
        returns = np.log(close.to_numpy())
        returns = np.diff(returns)
        vol = np.sqrt(ewma_variance_forecasts(returns, 0.97, seed="mean", seed_days=30))
        z = pd.Series(returns / vol[:-1])
        for h in horizons:
            shocks = z.rolling(h).sum() / np.sqrt(h)
            quantile = shocks.rolling(1000, min_periods=250).quantile(0.01).to_numpy()
            rates = -np.expm1(vol[1:] * np.sqrt(h) * quantile)
            losses = 1.0 - close.shift(-h).to_numpy()[1:] / close.to_numpy()[1:]
            np.nansum(losses[::h] > rates[::h])
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", nargs="+", default=list(DEFAULT_ASSETS))
    parser.add_argument("--horizons", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", MarginLabWarning)
    closes = {asset: data.load_daily(asset)["close"].astype(float).dropna() for asset in args.assets}
    start = time.perf_counter()
    result = backtest_methodology(list(closes), horizons=args.horizons, confidence=0.99, prices=closes)
    seconds = time.perf_counter() - start
    reference = reference_workload(closes, args.horizons)
    figures = {
        "seconds": seconds,
        "reference_seconds": reference,
        "ratio_to_reference": seconds / reference,
        "assets": float(len(closes)),
        "rates": float(len(result.rates)),
    }
    print(result.table[["asset", "horizon_days", "side", "observations", "exceptions", "rate", "kupiec_p", "christoffersen_p"]].to_string(index=False))
    print(
        f"seconds={seconds:.2f} reference_seconds={reference:.3f} ratio_to_reference={seconds / reference:.1f} "
        f"assets={len(closes)} rates={len(result.rates)} target_s={TARGET_SECONDS:.0f} meets_target={seconds < TARGET_SECONDS}"
    )
    return figures


if __name__ == "__main__":  # pragma: no cover
    main()
