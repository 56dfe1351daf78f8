"""Benchmark: a stress replay of an exchange-sized book on the book-level engine.

A seeded synthetic book (default 100,000 accounts: perpetuals, futures and options over BTC and
ETH, :func:`marginlab.analysis.synthetic.synthetic_book`) is replayed through
``covid-2020-03-12`` (daily bars, 2 sub-steps per intraday leg, as the CLI) under
``deribit-pm`` with the book-level engine (``replay(engine="book")``: every account margined in
one vectorised call per step, liquidations on arrays). The same run replays a sample of the
book (default the first 20 accounts) with the per-account reference engine
(``engine="per-account"``) and checks that both give the same events on the sample.

``seconds`` is the wall time of the book replay (book construction excluded, printed apart);
``accounts_per_s = accounts / seconds``; ``ratio_to_per_account`` divides it by the per-account
engine's accounts per second on the sample; ``peak_rss_mb`` is the process's peak resident
memory. The last line reads::

    accounts=N seconds=S accounts_per_s=A ratio_to_per_account=R peak_rss_mb=M

Targets (issue 13): 100,000 accounts in under 60 s on 2 cores, ratio >= 50, peak < 4 GB.

Usage: ``python benchmarks/stress_replay.py [--accounts N] [--sample M] [--model NAME] [--scenario NAME] [--seed S]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import pandas as pd

from marginlab.analysis.replay import replay
from marginlab.analysis.stress_scenarios import scenario_path
from marginlab.analysis.synthetic import synthetic_book
from marginlab.margin.presets import get_model


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=20, help="accounts replayed by the per-account reference")
    parser.add_argument("--model", default="deribit-pm")
    parser.add_argument("--scenario", default="covid-2020-03-12")
    parser.add_argument("--substeps", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    path = scenario_path(args.scenario, ["BTC", "ETH"], substeps=args.substeps)
    model = get_model(args.model)
    start = time.perf_counter()
    book = synthetic_book(args.accounts, path.snapshot(0), rng=args.seed)
    build_seconds = time.perf_counter() - start

    start, cpu_start = time.perf_counter(), time.process_time()
    result = replay(book, {args.model: model}, path, engine="book")
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    summary = result.summary().loc[args.model]

    sample = book[: min(args.sample, len(book))]
    start = time.perf_counter()
    reference = replay(sample, {args.model: model}, path, engine="per-account")
    reference_seconds = time.perf_counter() - start
    check = replay(sample, {args.model: model}, path, engine="book")
    same = _same_events(check.runs[args.model].events, reference.runs[args.model].events)

    accounts_per_s = args.accounts / seconds
    reference_per_s = len(sample) / reference_seconds
    print(f"scenario={path.name} steps={len(path)} model={args.model} positions={sum(len(a.positions) for a in book)} "
          f"book_build_seconds={build_seconds:.2f} replay_cpu_seconds={cpu_seconds:.2f} (wall time on a shared machine is longer)")
    print(f"accounts_liquidated={int(summary['accounts_liquidated'])} events={len(result.events)} "
          f"shortfall_usd={summary['shortfall_usd']:,.0f} bad_debt_usd={summary['bad_debt_usd']:,.0f}")
    print(f"per_account_sample={len(sample)} per_account_seconds={reference_seconds:.2f} per_account_accounts_per_s={reference_per_s:.3g} "
          f"sample_events_identical={same}")
    figures = {
        "accounts": float(args.accounts),
        "seconds": seconds,
        "accounts_per_s": accounts_per_s,
        "ratio_to_per_account": accounts_per_s / reference_per_s,
        "peak_rss_mb": _peak_rss_mb(),
    }
    print(f"accounts={args.accounts} seconds={seconds:.2f} accounts_per_s={accounts_per_s:.0f} "
          f"ratio_to_per_account={figures['ratio_to_per_account']:.0f} peak_rss_mb={figures['peak_rss_mb']:.0f}")
    return figures


def _same_events(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if a.shape != b.shape or list(a["action"]) != list(b["action"]) or list(a["account_id"]) != list(b["account_id"]):
        return False
    numeric = [c for c in a.columns if pd.api.types.is_float_dtype(a[c])]
    return bool(np.allclose(a[numeric].to_numpy(float), b[numeric].to_numpy(float), rtol=1e-9, atol=1e-6, equal_nan=True))


if __name__ == "__main__":
    main()
