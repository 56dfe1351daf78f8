"""Benchmark: the calibrated presets on the book engine next to ``deribit-pm``, in the same run.

The presets ``calibrated-portfolio`` and ``calibrated-cross`` are built from a parameter file calibrated on BTC and
ETH the day before the window (``calibrate(["BTC", "ETH"], "2020-03-08", rng=7)``). For each model of
``deribit-pm``, ``calibrated-portfolio`` and ``calibrated-cross``, a seeded synthetic book (default 10,000 accounts, the
strategies the model can margin, :func:`marginlab.analysis.synthetic.strategies_for_models`) is

* margined once at the first step by the book engine (:func:`marginlab.analysis.book.book_margin`) and, on a sample
  (default 200 accounts), account by account with ``model.margin``: ``margin_ratio`` is the per-account time scaled
  to the whole book over the book time, ``max_rel_diff`` the largest relative difference of the maintenance margins;
* replayed through ``covid-2020-03-12`` (daily bars, 1 sub-step) by ``replay(engine="book")``: ``replay_s``.

The last line reads::

    accounts=N deribit-pm_replay_s=... calibrated-portfolio_replay_s=... calibrated-cross_replay_s=... calibrated-portfolio_margin_ratio=...

Usage: ``python benchmarks/calibrated_book.py [--accounts N] [--sample M] [--scenario NAME]``.
"""

from __future__ import annotations

import argparse
import time

from marginlab.analysis.book import book_margin, is_vectorised
from marginlab.analysis.replay import book_expiries, replay
from marginlab.analysis.stress_scenarios import scenario_path
from marginlab.analysis.synthetic import strategies_for_models, synthetic_book
from marginlab.calibration.calibrate import calibrate
from marginlab.margin.calibrated import models_from_parameters
from marginlab.margin.presets import get_model


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=200, help="accounts margined one by one for the ratio")
    parser.add_argument("--scenario", default="covid-2020-03-12")
    args = parser.parse_args(argv)

    calibrated = models_from_parameters(calibrate(["BTC", "ETH"], "2020-03-08", rng=7, progress=False))
    path = scenario_path(args.scenario, ["BTC", "ETH"], substeps=1)
    models = {"deribit-pm": get_model("deribit-pm"), "calibrated-portfolio": calibrated["calibrated-portfolio"],
              "calibrated-cross": calibrated["calibrated-cross"]}
    figures: dict[str, float] = {"accounts": float(args.accounts)}
    for name, model in models.items():
        book = synthetic_book(args.accounts, path.snapshot(0), rng=11, strategies=strategies_for_models([model], path))
        market = path.snapshot(0, book_expiries(book))
        start = time.perf_counter()
        _, maintenance, _ = book_margin(model, book, market)
        vectorised_s = time.perf_counter() - start
        sample = book[: args.sample]
        start = time.perf_counter()
        reference = [model.margin(account, market).maintenance_margin_usd for account in sample]
        per_account_s = (time.perf_counter() - start) * len(book) / len(sample)
        diff = max(abs(r - float(maintenance[k])) / max(1.0, abs(r)) for k, r in enumerate(reference))
        start = time.perf_counter()
        result = replay(book, {name: model}, path, funding=1.0, progress=False, engine="book")
        replay_s = time.perf_counter() - start
        summary = result.summary().loc[name]
        print(f"{name}: vectorised={is_vectorised(model)} book_margin_s={vectorised_s:.2f} per_account_margin_s={per_account_s:.1f} "
              f"margin_ratio={per_account_s / vectorised_s:.0f} max_rel_diff={diff:.1e} replay_s={replay_s:.2f} steps={len(path)} "
              f"accounts_liquidated={int(summary['accounts_liquidated'])} events={len(result.events)}", flush=True)
        figures[f"{name}_replay_s"] = replay_s
        figures[f"{name}_margin_ratio"] = per_account_s / vectorised_s
    print(" ".join(f"{key}={value:.0f}" if key == "accounts" else f"{key}={value:.2f}" for key, value in figures.items()))
    return figures


if __name__ == "__main__":
    main()
