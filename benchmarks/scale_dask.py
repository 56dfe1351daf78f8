"""Throughput of book-wide margining and replay: in-process versus dask with 1 and 2 workers.

Run: ``.venv/bin/python benchmarks/scale_dask.py [--accounts 400] [--model NAME]``. Prints
accounts margined per second for each setting and the ratio to the in-process reference (the
same function run in a plain loop here), and checks that the dask results are identical.
Workers are processes (``processes=True``) so that Python-heavy margin code runs in parallel.

The replay part runs the book engine (``replay(engine="book")``: one vectorised margin call per
step and model) in process and split by account over 1 and 2 dask workers (``replay_on_dask``:
each step's per-account phase on the partitions, the fund/ADL settlement on the client), and the
per-account reference engine in process for scale; every dask result is checked identical.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from marginlab.analysis.replay import replay
from marginlab.analysis.stress_scenarios import MarketPath
from marginlab.analysis.synthetic import synthetic_book
from marginlab.margin.flat import FlatRateModel
from marginlab.margin.presets import get_model
from marginlab.scale import local_client, margin_book, replay_on_dask


def hand_path() -> MarketPath:
    index = pd.date_range("2025-01-15", periods=6, freq="4h", tz="UTC")
    prices = [100_000, 97_000, 93_000, 88_000, 85_000, 90_000]
    return MarketPath(pd.DataFrame({"BTC": prices, "ETH": [p / 30 for p in prices]}, index=index),
                      pd.DataFrame({"BTC": [0.6] * 6, "ETH": [0.8] * 6}, index=index), {"BTC": "given", "ETH": "given"}, "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=400)
    parser.add_argument("--model", default="hyperliquid", help="preset name, or 'flat' for the reference flat-rate model")
    parser.add_argument("--replay-accounts", type=int, default=100)
    args = parser.parse_args()
    model = FlatRateModel(0.1, 0.05) if args.model == "flat" else get_model(args.model)
    path = hand_path()
    market = path.snapshot(0)
    book = synthetic_book(args.accounts, market, rng=0, strategies={"long_perp": 2, "short_perp": 1, "basis": 1})

    start = time.perf_counter()
    reference = margin_book(book, model, market)
    base = time.perf_counter() - start
    print(f"margin_book, {args.accounts} accounts, model {args.model}")
    print(f"  in-process         {args.accounts / base:10.1f} accounts/s   ratio 1.00")
    for workers in (1, 2):
        with local_client(n_workers=workers, processes=True) as client:
            margin_book(book[:8], model, market, client=client)  # warm the workers
            start = time.perf_counter()
            table = margin_book(book, model, market, client=client)
            elapsed = time.perf_counter() - start
        pd.testing.assert_frame_equal(reference, table)
        print(f"  dask {workers} worker(s)   {args.accounts / elapsed:10.1f} accounts/s   ratio {base / elapsed:.2f}  (identical: yes)")

    small = book[: args.replay_accounts]
    start = time.perf_counter()
    local = replay(small, {args.model: model}, path)
    base = time.perf_counter() - start
    steps = len(path) * len(small)
    start = time.perf_counter()
    per_account = replay(small, {args.model: model}, path, engine="per-account")
    per_account_seconds = time.perf_counter() - start
    pd.testing.assert_frame_equal(local.summary(), per_account.summary(), rtol=1e-9)
    print(f"replay, {len(small)} accounts x {len(path)} steps (book engine)")
    print(f"  in-process         {steps / base:10.1f} account-steps/s   ratio 1.00")
    print(f"  per-account engine {steps / per_account_seconds:10.1f} account-steps/s   ratio {base / per_account_seconds:.2f}  (same summary: yes)")
    for workers in (1, 2):
        with local_client(n_workers=workers, processes=True) as client:
            start = time.perf_counter()
            remote = replay_on_dask(small, {args.model: model}, path, client, partitions=2 * workers)
            elapsed = time.perf_counter() - start
        pd.testing.assert_frame_equal(local.summary(), remote.summary())
        pd.testing.assert_frame_equal(local.events, remote.events)
        print(f"  dask {workers} worker(s)   {steps / elapsed:10.1f} account-steps/s   ratio {base / elapsed:.2f}  (identical: yes)")


if __name__ == "__main__":
    main()
