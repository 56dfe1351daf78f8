"""Running book-wide work on a dask cluster, partitioned by accounts.

Margining a book and the per-account part of a stress replay are independent across
accounts, so they are split into partitions of accounts and mapped over a
``dask.distributed`` cluster; the book-level parts (insurance fund, ADL) stay on the client,
in the same deterministic order as in-process. The results are **identical** to the
in-process run on the same book (the same functions run on the same inputs; only where they
run changes).

Use a local cluster on one machine::

    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        table = margin_book(book, model, market, client=client)

or a real cluster through its scheduler's address (workers need marginlab installed)::

    client = Client("tcp://scheduler:8786")
    result = replay_on_dask(book, {"fhs": get_model("fhs-var")}, "covid-2020-03-12", client)

>>> from marginlab.scale import margin_book
>>> from marginlab.margin.flat import FlatRateModel
>>> from marginlab.analysis.synthetic import synthetic_book
>>> from marginlab.market import MarketSnapshot
>>> market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100000}}})
>>> book = synthetic_book(4, market, rng=0, strategies={"long_perp": 1})
>>> margin_book(book, FlatRateModel(0.1, 0.05), market)["initial_margin_usd"].round(2).tolist() == [
...     round(0.1 * abs(a.positions[0].quantity) * 100000, 2) for a in book]
True
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from marginlab.account import Account
from marginlab.analysis.replay import Executor, ModelSpec, ReplayResult, in_process, replay
from marginlab.analysis.stress_scenarios import MarketPath, Scenario
from marginlab.exceptions import EmptyPortfolioError, ParameterError
from marginlab.liquidation.results import market_equity_usd
from marginlab.margin.base import MarginModel
from marginlab.market import MarketSnapshot

MARGIN_COLUMNS = ("account_id", "initial_margin_usd", "maintenance_margin_usd", "equity_usd", "margin_ratio")


def dask_executor(client: Any) -> Executor:
    """An executor that maps chunks over ``client``'s workers and gathers results in order."""

    def run(function: Callable[[Any], Any], chunks: list[Any]) -> list[Any]:
        futures = client.map(function, chunks, pure=False)
        return list(client.gather(futures))

    return run


@dataclass(frozen=True)
class _MarginChunk:
    accounts: tuple[Account, ...]
    model: MarginModel
    market: MarketSnapshot


def _margin_chunk(chunk: _MarginChunk) -> list[tuple[str, float, float, float, float]]:
    rows = []
    for account in chunk.accounts:
        if not account.positions:
            rows.append((account.account_id, 0.0, 0.0, market_equity_usd(account, chunk.market), math.inf))
            continue
        result = chunk.model.margin(account, chunk.market)
        rows.append((account.account_id, result.initial_margin_usd, result.maintenance_margin_usd, result.equity_usd, result.margin_ratio))
    return rows


def partition(accounts: Sequence[Account], partitions: int) -> list[tuple[Account, ...]]:
    """Split ``accounts`` into ``partitions`` contiguous chunks of near-equal size (order kept)."""
    if partitions < 1:
        raise ParameterError("partitions", partitions, "must be at least 1")
    bounds = np.linspace(0, len(accounts), partitions + 1).round().astype(int)
    return [tuple(accounts[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _default_partitions(client: Any) -> int:
    if client is None:
        return 1
    try:
        workers = len(client.scheduler_info()["workers"])
    except Exception:  # pragma: no cover - any client without scheduler_info
        workers = 1
    return max(2 * workers, 1)


def margin_book(
    accounts: Sequence[Account], model: MarginModel, market: MarketSnapshot, *, client: Any = None, partitions: int | None = None
) -> pd.DataFrame:
    """Margin every account of a book; on ``client``'s cluster when given.

    Returns
    -------
    DataFrame
        One row per account, in book order: ``account_id, initial_margin_usd,
        maintenance_margin_usd, equity_usd, margin_ratio``.
    """
    accounts = tuple(accounts)
    if not accounts:
        raise EmptyPortfolioError("accounts", [], "the book is empty")
    count = partitions or _default_partitions(client)
    chunks = [_MarginChunk(c, model, market) for c in partition(accounts, count)]
    executor = dask_executor(client) if client is not None else in_process
    rows = [row for part in executor(_margin_chunk, chunks) for row in part]
    return pd.DataFrame(rows, columns=list(MARGIN_COLUMNS))


def replay_on_dask(
    book: Sequence[Account],
    models: Mapping[str, ModelSpec] | MarginModel,
    scenario: str | Scenario | MarketPath,
    client: Any,
    *,
    partitions: int | None = None,
    **kwargs: Any,
) -> ReplayResult:
    """:func:`~marginlab.analysis.replay.replay` with the per-account work on ``client``'s cluster."""
    return replay(book, models, scenario, executor=dask_executor(client), partitions=partitions or _default_partitions(client), **kwargs)


def replay_on_cluster(
    book: Sequence[Account],
    models: Mapping[str, ModelSpec] | MarginModel,
    scenario: str | Scenario | MarketPath,
    scheduler: str,
    *,
    workers: int = 2,
    **kwargs: Any,
) -> ReplayResult:
    """Replay on a dask cluster: ``scheduler="local"`` starts a ``LocalCluster`` of ``workers`` worker processes,
    any other value is the address of a running ``distributed`` scheduler (``tcp://host:8786``).

    The book is split by account into partitions (two per worker) and the results are identical to
    the in-process replay.
    """
    if not isinstance(scheduler, str) or not scheduler:
        raise ParameterError("scheduler", scheduler, "must be 'local' or a scheduler address such as tcp://host:8786")
    if scheduler == "local":
        if workers < 1:
            raise ParameterError("workers", workers, "must be at least 1")
        with local_client(workers, processes=True) as client:
            return replay_on_dask(book, models, scenario, client, **kwargs)
    if "://" not in scheduler:
        raise ParameterError("scheduler", scheduler, "must be 'local' or a scheduler address such as tcp://host:8786")
    from distributed import Client

    try:
        client = Client(scheduler, timeout="10s")
    except OSError as error:
        raise ParameterError("scheduler", scheduler, f"cannot connect: {error}") from None
    with client:
        return replay_on_dask(book, models, scenario, client, **kwargs)


@contextlib.contextmanager
def local_client(n_workers: int = 2, *, processes: bool = False, threads_per_worker: int = 1) -> Iterator[Any]:
    """A ``distributed`` client on a throw-away local cluster (closed on exit).

    ``processes=False`` runs the workers as threads in this process (fast to start, used in
    tests); ``processes=True`` gives real parallelism for Python-heavy work.
    """
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=n_workers, threads_per_worker=threads_per_worker, processes=processes, dashboard_address=":0", silence_logs=40
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
