"""Benchmark: the risk-matrix engine on a synthetic book of many accounts (Derive grid).

A seeded synthetic book (default 100,000 accounts) holds spot, perpetuals, futures and options
over several expiries and strikes on BTC and ETH. It is margined with the ``derive-pmrm-v2``
preset (31 scenarios, skew rotations, static discounts, basis and all contingencies). The same
run times two references:

* the bare vectorised Black-76 kernel (:func:`marginlab.pricing.black76_price`) over as many
  option valuations as the book has (option positions x scenarios);
* a simple per-position scalar loop (``math.erf`` Black-76, one position and one scenario at a
  time) on a sample, extrapolated per valuation.

``valuations_per_s`` counts option-position x scenario valuations per second of
``margin_book`` (the engine revalues each distinct instrument once and aggregates per account
with sparse products, so it can exceed the kernel). The last line reads::

    valuations_per_s=... ratio_to_kernel=... ratio_min=... ratio_max=... ratio_to_loop=... accounts_per_s=... seconds_100k=...

``ratio_to_kernel`` is the median over ``--repeat`` alternating engine/kernel runs (the machine is
shared: the spread of the per-run ratios is printed as ``ratio_min``/``ratio_max``).

Usage: ``python benchmarks/pm_engine.py [--accounts N] [--seed S] [--loop-sample M] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import numpy as np

from marginlab.book import FUTURE, OPTION, PERPETUAL, SPOT, Book, InstrumentTable
from marginlab.margin.derive import derive_model
from marginlab.market import SECONDS_PER_YEAR
from marginlab.pricing import black76_price

ASSETS = {"BTC": (100_000.0, 0.55), "ETH": (3_500.0, 0.70)}
EXPIRY_DAYS = (2, 9, 30, 91, 182)
STRIKE_MONEYNESS = np.round(np.linspace(0.6, 1.6, 21), 3)


def synthetic_instruments(rate: float = 0.05) -> InstrumentTable:
    """Spot, perpetual, futures and a strike grid of calls and puts per asset and expiry."""
    rows: dict[str, list] = {k: [] for k in ("symbol", "kind", "asset", "price", "forward", "strike", "seconds", "vol", "call")}

    def add(symbol, kind, asset, price=np.nan, forward=np.nan, strike=np.nan, seconds=0.0, vol=0.0, call=False):  # type: ignore[no-untyped-def]
        for name, value in zip(rows, (symbol, kind, asset, price, forward, strike, seconds, vol, call)):
            rows[name].append(value)

    for asset, (spot, atm_vol) in ASSETS.items():
        add(f"{asset}", SPOT, asset, price=spot)
        add(f"{asset}-PERP", PERPETUAL, asset, price=spot * 1.0002)
        for days in EXPIRY_DAYS:
            seconds = days * 86_400.0
            forward = spot * math.exp(rate * seconds / SECONDS_PER_YEAR)
            add(f"{asset}-F{days}", FUTURE, asset, forward=forward, seconds=seconds)
            for m in STRIKE_MONEYNESS:
                strike = round(spot * m, -1)
                vol = atm_vol * (1 + 0.25 * math.log(m) ** 2 / math.sqrt(days / 30))
                for call in (True, False):
                    add(f"{asset}-{days}-{strike:g}-{'C' if call else 'P'}", OPTION, asset, forward=forward, strike=strike, seconds=seconds,
                        vol=vol, call=call)
    spots = {a: s for a, (s, _) in ASSETS.items()}
    index = [spots[a] for a in rows["asset"]]
    return InstrumentTable.build(rows["symbol"], rows["kind"], rows["asset"], price_usd=rows["price"], index_usd=index, forward_usd=rows["forward"],
                                 strike_usd=rows["strike"], seconds=rows["seconds"], vol=rows["vol"], rate=np.full(len(index), rate),
                                 is_call=rows["call"])


def synthetic_book(accounts: int, rng: np.random.Generator | int | None = 0, mean_positions: float = 6.0) -> Book:
    """``accounts`` accounts with 1 + Poisson(mean_positions - 1) positions each (70% options)."""
    rng = np.random.default_rng(rng)
    table = synthetic_instruments()
    counts = 1 + rng.poisson(mean_positions - 1, accounts)
    account = np.repeat(np.arange(accounts), counts)
    n = len(account)
    options = np.flatnonzero(table.kind == OPTION)
    linear = np.flatnonzero(table.kind != OPTION)
    is_option = rng.random(n) < 0.7
    instrument = np.where(is_option, rng.choice(options, n), rng.choice(linear, n))
    quantity = np.round(rng.normal(0.0, 2.0, n), 2)
    quantity[quantity == 0] = 0.01
    quantity = np.where(table.kind[instrument] == SPOT, np.abs(quantity), quantity)
    cash = rng.uniform(10_000, 500_000, accounts)
    return Book.build(table, account, instrument, quantity, cash_usd=cash, n_accounts=accounts)


def _scalar_black76(forward: float, strike: float, years: float, vol: float, rate: float, call: bool) -> float:
    total = vol * math.sqrt(years)
    discount = math.exp(-rate * years)
    if total <= 0:
        return discount * max((forward - strike) if call else (strike - forward), 0.0)
    d1 = (math.log(forward / strike) + 0.5 * total * total) / total
    d2 = d1 - total
    cdf = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))  # noqa: E731
    if call:
        return discount * (forward * cdf(d1) - strike * cdf(d2))
    return discount * (strike * cdf(-d2) - forward * cdf(-d1))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loop-sample", type=int, default=300, help="option positions valued by the scalar loop")
    parser.add_argument("--chunk", type=int, default=0, help="accounts per engine chunk (default: the model's)")
    parser.add_argument("--repeat", type=int, default=3, help="timed engine/kernel pairs; the ratio is their median, its spread is printed")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    book = synthetic_book(args.accounts, args.seed)
    build_seconds = time.perf_counter() - start
    model = replace(derive_model(), chunk_accounts=args.chunk) if args.chunk else derive_model()
    scenarios = len(model.scenarios)
    option_positions = int(np.sum(book.instruments.kind[book.instrument] == OPTION))
    valuations = option_positions * scenarios

    model.margin_book(synthetic_book(min(args.accounts, 1000), args.seed + 1))  # warm-up
    table = book.instruments
    inst = book.instrument[table.kind[book.instrument] == OPTION]
    spot = model.scenarios.spot_array

    def kernel() -> None:
        """The bare kernel: the same number of option x scenario valuations, in chunks of 2M."""
        done = 0
        step = max(1, 2_000_000 // scenarios)
        while done < len(inst):
            rows = inst[done : done + step]
            black76_price(table.forward_usd[rows, None] * spot[None, :], table.strike_usd[rows, None], table.years[rows, None],
                          table.vol[rows, None], table.rate[rows, None], table.is_call[rows, None])
            done += step

    # engine and kernel alternate, so that both see the same load on a shared machine
    engine_times, kernel_times = [], []
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        result = model.margin_book(book)
        engine_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        kernel()
        kernel_times.append(time.perf_counter() - start)
    ratios = np.asarray(kernel_times) / np.asarray(engine_times)
    engine_seconds = float(np.median(engine_times))
    kernel_seconds = float(np.median(kernel_times))

    # scalar loop on a sample
    sample = inst[: min(args.loop_sample, len(inst))]
    start = time.perf_counter()
    for row in sample:
        for x in spot:
            _scalar_black76(float(table.forward_usd[row] * x), float(table.strike_usd[row]), float(table.years[row]), float(table.vol[row]),
                            float(table.rate[row]), bool(table.is_call[row]))
    loop_seconds = (time.perf_counter() - start) / max(len(sample) * scenarios, 1)

    engine_rate = valuations / engine_seconds
    loop_rate = 1.0 / loop_seconds
    accounts_per_s = args.accounts / engine_seconds
    print(f"accounts={args.accounts} positions={len(book)} option_positions={option_positions} instruments={len(table)} scenarios={scenarios}")
    print(f"book_build_seconds={build_seconds:.3f} engine_seconds={engine_seconds:.3f} kernel_seconds={kernel_seconds:.3f} "
          f"loop_seconds_per_valuation={loop_seconds:.3e}")
    print(f"mean_initial_margin_usd={float(np.mean(result.initial_margin_usd)):.2f} "
          f"mean_maintenance_margin_usd={float(np.mean(result.maintenance_margin_usd)):.2f}")
    print(f"ratio_to_kernel per run: {' '.join(f'{r:.3f}' for r in ratios)} (chunk_accounts={model.chunk_accounts})")
    figures = {
        "valuations_per_s": engine_rate,
        "ratio_to_kernel": float(np.median(ratios)),
        "ratio_min": float(ratios.min()),
        "ratio_max": float(ratios.max()),
        "ratio_to_loop": engine_rate / loop_rate,
        "accounts_per_s": accounts_per_s,
        "seconds_100k": 100_000 / accounts_per_s,
    }
    print(" ".join(f"{k}={v:.4g}" for k, v in figures.items()))
    return figures


if __name__ == "__main__":
    main()
