"""Benchmark: pre-trade what-if checks from the pre-trade table against full margin calls.

A seeded 100-position account (BTC and ETH options over four expiries and eleven strikes, calls
and puts, plus perpetuals and futures) under ``deribit-pm``. 10,000 proposed one-instrument trades
(an instrument of the account or a candidate, a signed quantity) are checked with
:meth:`~marginlab.margin.pretrade.PretradeTable.check`; a sample of them (``--full``, default 300)
is also margined in full (``model.margin(account.with_positions(trade), market)``), in the same
run, for the time per call and the error. The last line::

    checks=10000 positions=100 approx_us=A full_ms=F speedup=X worst_abs_error_pct=E worst_abs_error_usd=U

``speedup`` is the full model's time per check over the table's; ``worst_abs_error_pct`` the worst
``|approx IM - full IM|`` over the sample as a percentage of the full IM. Usage:
``python benchmarks/pretrade.py [--checks N] [--full M] [--model NAME] [--seed S]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from marginlab.account import Account
from marginlab.instruments import Future, Option, Perpetual, Position
from marginlab.margin.presets import get_model
from marginlab.margin.pretrade import PretradeTable
from marginlab.market import MarketSnapshot

EXPIRIES = ("2025-01-31", "2025-02-28", "2025-03-28", "2025-06-27")
INDEX = {"BTC": 100_000.0, "ETH": 4_000.0}


def market() -> MarketSnapshot:
    return MarketSnapshot.from_dict({"as_of": "2025-01-15T08:00:00Z", "rate": 0.0, "assets": {
        a: {"index_usd": s, "expiries": {e: {"atm_vol": 0.55 + 0.05 * k} for k, e in enumerate(EXPIRIES)}} for a, s in INDEX.items()}})


def instruments() -> list:  # type: ignore[type-arg]
    out: list = []  # type: ignore[type-arg]
    for asset, spot in INDEX.items():
        out.append(Perpetual(asset))
        for expiry in EXPIRIES:
            out.append(Future(asset, expiry))
            for k in range(-5, 6):
                strike = round(spot * (1 + 0.05 * k), -1 if asset == "ETH" else 2)
                out += [Option(asset, expiry, strike, "call"), Option(asset, expiry, strike, "put")]
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--full", type=int, default=300)
    parser.add_argument("--positions", type=int, default=100)
    parser.add_argument("--model", default="deribit-pm")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    snapshot = market()
    universe = instruments()
    held = rng.choice(len(universe), size=args.positions, replace=False)
    positions = tuple(Position(universe[i], float(rng.choice([-1, 1]) * rng.uniform(0.5, 10.0))) for i in held)
    account = Account(positions, cash_usd=2_000_000.0, account_id="desk")
    model = get_model(args.model)

    start = time.perf_counter()
    table = PretradeTable.build(model, account, snapshot, universe)
    build_s = time.perf_counter() - start
    picks = rng.integers(0, len(universe), size=args.checks)
    sizes = rng.choice([-1, 1], size=args.checks) * rng.uniform(0.1, 5.0, size=args.checks)
    trades = [[(universe[i], float(q))] for i, q in zip(picks, sizes)]

    start = time.perf_counter()
    approx = np.array([table.check(t).initial_margin_usd for t in trades])
    approx_s = (time.perf_counter() - start) / args.checks

    sample = rng.choice(args.checks, size=min(args.full, args.checks), replace=False)
    start = time.perf_counter()
    full = np.array([model.margin(account.with_positions([Position(*trades[k][0])]), snapshot).initial_margin_usd for k in sample])
    full_s = (time.perf_counter() - start) / len(sample)

    error = np.abs(approx[sample] - full)
    figures = {"approx_us": 1e6 * approx_s, "full_ms": 1e3 * full_s, "speedup": full_s / approx_s, "build_ms": 1e3 * build_s,
               "worst_abs_error_pct": float(100.0 * np.max(error / full)), "worst_abs_error_usd": float(np.max(error))}
    print(f"table built in {figures['build_ms']:.1f} ms for {len(universe)} instruments x {len(model.scenarios)} scenarios")
    print(f"checks={args.checks} positions={args.positions} approx_us={figures['approx_us']:.1f} full_ms={figures['full_ms']:.2f} speedup={figures['speedup']:.0f} "
          f"worst_abs_error_pct={figures['worst_abs_error_pct']:.2e} worst_abs_error_usd={figures['worst_abs_error_usd']:.2e}")
    return figures


if __name__ == "__main__":
    main()
