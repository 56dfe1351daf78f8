"""Benchmark: book-engine stress replays of the FHS, OKX PM and SPAN presets against deribit-pm.

A seeded synthetic book (default 10,000 accounts, the strategies the presets can margin:
perpetuals, futures and options on BTC and ETH) goes through ``covid-2020-03-12`` (daily steps,
``substeps=1``) with traders funded at each model's initial margin (``funding=1.0``) on the book
engine (``replay(..., engine="book")``). Every preset is timed in the same run as
``deribit-pm`` (a risk-matrix preset, the reference of the book engine's speed); ``fhs-var`` is
also timed point in time (``model.as_of``: the history cut at the close before each step).
One line per preset, then the last line::

    accounts=N deribit_pm_s=S fhs_var_s=... okx_pm_s=... span_example_s=... worst_ratio_to_deribit_pm=R

Usage: ``python benchmarks/book_presets.py [--accounts N] [--seed S] [--presets NAME ...] [--repeat R]`` (with
``--repeat`` the reference and the presets are replayed in turn R times; times are medians and each ratio is the
median of the ratios measured within a round: the machine is shared).
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import numpy as np

from marginlab.analysis.replay import replay
from marginlab.analysis.stress_scenarios import scenario_path
from marginlab.analysis.synthetic import strategies_for_models, synthetic_book
from marginlab.exceptions import DataWarning
from marginlab.margin.presets import get_model

PRESETS = ("fhs-var", "fhs-var@as_of", "okx-pm", "span-example")


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--scenario", default="covid-2020-03-12")
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--repeat", type=int, default=1, help="rounds of replays (reference and presets in turn); medians are reported")
    args = parser.parse_args(argv)
    path = scenario_path(args.scenario, ["BTC", "ETH"], substeps=1)
    specs: dict[str, Any] = {"deribit-pm": get_model("deribit-pm")}
    for name in args.presets:
        base = get_model(name.split("@")[0])
        specs[name] = base.as_of if name.endswith("@as_of") else base
    models = [get_model(name.split("@")[0]) for name in specs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        book = synthetic_book(args.accounts, path.snapshot(0), rng=args.seed, strategies=strategies_for_models(models, path))
    runs: dict[str, list[float]] = {name: [] for name in specs}
    for _ in range(max(args.repeat, 1)):  # rounds: the reference and every preset in turn (the machine is shared)
        for name, spec in specs.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataWarning)  # fhs-var without as_of looks ahead in 2020 (the point of the @as_of run)
                result = replay(book, {name: spec}, path, funding=1.0, engine="book")
            runs[name].append(time.perf_counter() - start)
            summary = result.summary().iloc[0]
            print(f"{name:16s} {runs[name][-1]:8.2f} s  accounts liquidated {int(summary['accounts_liquidated']):,}  events {len(result.events):,}", flush=True)
    seconds = {name: float(np.median(values)) for name, values in runs.items()}
    # ratio to the reference: median over rounds of the ratio measured within the round
    ratios = {name: float(np.median(np.asarray(values) / np.asarray(runs["deribit-pm"]))) for name, values in runs.items() if name != "deribit-pm"}
    fields = " ".join(f"{name.replace('-', '_').replace('@', '_')}_s={value:.2f}" for name, value in seconds.items())
    print(f"accounts={args.accounts} steps={len(path)} {fields} worst_ratio_to_deribit_pm={max(ratios.values(), default=1.0):.2f}")
    return {**seconds, "worst_ratio": max(ratios.values(), default=1.0)}


if __name__ == "__main__":
    main()
