"""Benchmark: one large account (200,000 positions over 10 instruments) under every registered preset.

Issue 11 item 4: every model nets identical instruments before it builds any positions x
scenarios array, so an account of many small fills of a few instruments costs about as much
as the same account pre-netted. The account holds BTC and ETH spot, perpetuals, one future and
two options each (10 instruments), in 200,000 rows of random signed sizes (seeded).

For each preset of :func:`marginlab.margin.presets.available_models` the benchmark runs, in a
fresh subprocess (so that the peak resident memory is the model's own):

* the large account, timed (``margin(account, market)``, the account already built);
* the **reference**: the same account pre-netted to one position per instrument (10 rows),
  timed in the same subprocess; ``ratio`` = large seconds / reference seconds.

Peak memory is the subprocess's peak RSS (``ru_maxrss``) minus its RSS before the large call
(imports, market data and the account are not counted), and the whole peak is printed too.
Models that cannot hold options (``binance-brackets``, ``hyperliquid``, ``dydx`` and their cross
versions) are margined on the account's linear rows only (BTC/ETH spot, perpetuals and futures,
still about 120,000 rows over 6 instruments), marked ``linear-only``. The ``calibrated-*``
presets read the example parameter file (:func:`marginlab.parameters.example_parameters`),
written to a temporary folder.

Target: < 10 s and < 1 GB peak per model on 2 cores. The last line reads::

    models=N max_seconds=S max_peak_mb=M max_ratio=R

Usage: ``python benchmarks/large_account.py [--positions N] [--models a,b] [--seed S]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MARKET = {
    "as_of": "2025-01-15T23:00:00Z",
    "rate": 0.0,
    "assets": {
        "BTC": {
            "index_usd": 100_510.23,
            "perpetual_usd": 100_545.0,
            "expiries": {"2025-03-28T08:00:00Z": {"forward_usd": 102_500.0, "smile": {"strikes_usd": [80_000, 100_000, 120_000],
                                                                                        "vols": [0.66, 0.59, 0.59]}}},
        },
        "ETH": {
            "index_usd": 3_450.54,
            "perpetual_usd": 3_451.8,
            "expiries": {"2025-03-28T08:00:00Z": {"forward_usd": 3_511.0, "atm_vol": 0.71}},
        },
        "USDC": {"index_usd": 1.0},
    },
}

#: The ten instruments and the typical size of one row (units of the underlying).
INSTRUMENTS = (
    ("BTC", 0.02), ("BTC-PERPETUAL", 0.05), ("BTC-20250328", 0.05), ("BTC-20250328-110000-C", 0.05), ("BTC-20250328-90000-P", 0.05),
    ("ETH", 0.5), ("ETH-PERPETUAL", 1.0), ("ETH-20250328", 1.0), ("ETH-20250328-4000-C", 1.0), ("ETH-20250328-3000-P", 1.0),
)


def large_account(positions: int = 200_000, seed: int = 0, linear_only: bool = False):  # type: ignore[no-untyped-def]
    """The benchmark account: ``positions`` rows over the 10 instruments, signed random sizes (spot long)."""
    from marginlab.account import Account
    from marginlab.instruments import Position, parse_symbol

    rng = np.random.default_rng(seed)
    instruments = [(parse_symbol(s), size) for s, size in INSTRUMENTS]
    if linear_only:
        instruments = [(i, size) for i, size in instruments if i.kind != "option"]
    which = rng.integers(0, len(instruments), positions)
    sizes = np.round(rng.uniform(0.2, 1.0, positions), 3)
    signs = np.where(rng.random(positions) < 0.55, 1.0, -1.0)  # a net long bias so nothing nets to zero
    rows = []
    for k, size, sign in zip(which.tolist(), sizes.tolist(), signs.tolist()):
        instrument, unit = instruments[k]
        quantity = unit * size * (1.0 if instrument.kind == "spot" else sign)
        rows.append(Position(instrument, quantity))
    return Account(tuple(rows), cash_usd=5_000_000.0, collateral={"USDC": 1_000_000.0}, account_id="large")


def netted(account):  # type: ignore[no-untyped-def]
    """The same account with one position per instrument (the reference)."""
    from marginlab.account import Account
    from marginlab.instruments import Position

    totals: dict = {}
    for position in account.positions:
        totals[position.instrument] = totals.get(position.instrument, 0.0) + position.quantity
    return Account(tuple(Position(i, q) for i, q in totals.items() if q != 0), account.cash_usd, dict(account.collateral), account.account_id)


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")  # pragma: no cover


def run_one(name: str, positions: int, seed: int) -> dict:
    """Margin the large account and its netted reference under preset ``name`` (in this process)."""
    import warnings

    from marginlab.exceptions import InputError
    from marginlab.margin.presets import get_model
    from marginlab.market import MarketSnapshot

    warnings.simplefilter("ignore")
    market = MarketSnapshot.from_dict(MARKET)
    model = get_model(name)
    scope = "all"
    account = large_account(positions, seed)
    small = netted(account)
    try:
        model.margin(small, market)
    except InputError:
        scope = "linear-only"
        account = large_account(positions, seed, linear_only=True)
        small = netted(account)
        model.margin(small, market)
    start = time.perf_counter()
    reference = model.margin(small, market)
    reference_seconds = time.perf_counter() - start
    before = _rss_mb()
    start = time.perf_counter()
    result = model.margin(account, market)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    same = abs(result.maintenance_margin_usd - reference.maintenance_margin_usd) <= 1e-6 * max(1.0, abs(reference.maintenance_margin_usd))
    return {"model": name, "scope": scope, "rows": len(account.positions), "instruments": len(small.positions), "seconds": seconds,
            "reference_seconds": reference_seconds, "ratio": seconds / max(reference_seconds, 1e-9), "peak_mb": max(peak - before, 0.0),
            "process_peak_mb": peak, "mm_usd": result.maintenance_margin_usd, "same_as_netted": bool(same)}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="", help="comma-separated presets (default: every registered preset)")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)  # internal: run one model and print JSON
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.positions, args.seed)))
        return []

    import dataclasses

    from marginlab.margin.presets import available_models
    from marginlab.parameters import example_parameters

    names = [n for n in args.models.split(",") if n] or list(available_models()["name"])
    folder = Path(tempfile.mkdtemp(prefix="marginlab-bench-"))
    example = example_parameters()  # BTC only: ETH gets the same parameters (a benchmark, not a calibration)
    btc = example.assets["BTC"]
    assets = {"BTC": btc, "ETH": dataclasses.replace(btc, asset="ETH"),
              "USDC": dataclasses.replace(btc, asset="USDC", haircut=0.01)}  # the account's stable-coin collateral
    parameter_file = dataclasses.replace(example, assets=assets).save(folder / "parameters.yaml")
    env = dict(os.environ, MARGINLAB_PARAMETER_FILE=str(parameter_file))
    rows = []
    print(f"{'model':<22} {'scope':<12} {'rows':>8} {'inst':>4} {'seconds':>8} {'netted_s':>8} {'ratio':>7} {'peak_mb':>8} {'proc_mb':>8}  same")
    for name in names:
        done = subprocess.run([sys.executable, __file__, "--one", name, "--positions", str(args.positions), "--seed", str(args.seed)],
                              capture_output=True, text=True, env=env)
        if done.returncode != 0:
            print(f"{name:<22} FAILED: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
            rows.append({"model": name, "failed": True})
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{name:<22} {row['scope']:<12} {row['rows']:>8,} {row['instruments']:>4} {row['seconds']:>8.2f} {row['reference_seconds']:>8.3f} "
              f"{row['ratio']:>7.1f} {row['peak_mb']:>8.1f} {row['process_peak_mb']:>8.1f}  {row['same_as_netted']}")
    ok = [r for r in rows if not r.get("failed")]
    failed = len(rows) - len(ok)
    print(f"models={len(ok)} failed={failed} max_seconds={max((r['seconds'] for r in ok), default=float('nan')):.2f} "
          f"max_peak_mb={max((r['peak_mb'] for r in ok), default=float('nan')):.1f} "
          f"max_ratio={max((r['ratio'] for r in ok), default=float('nan')):.1f}")
    return rows


if __name__ == "__main__":
    main()
