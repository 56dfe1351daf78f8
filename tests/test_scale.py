"""Dask scale-out gives exactly the in-process results on the same seeded book."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("distributed")

from marginlab.analysis.replay import replay  # noqa: E402
from marginlab.analysis.stress_scenarios import MarketPath  # noqa: E402
from marginlab.analysis.synthetic import synthetic_book  # noqa: E402
from marginlab.exceptions import EmptyPortfolioError, ParameterError  # noqa: E402
from marginlab.margin.flat import FlatRateModel  # noqa: E402
from marginlab.scale import local_client, margin_book, partition, replay_on_dask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with local_client(n_workers=2, processes=False) as client:
        yield client


@pytest.fixture(scope="module")
def path():
    index = pd.date_range("2025-01-01", periods=5, freq="6h", tz="UTC")
    prices = [100_000, 96_000, 90_000, 84_000, 88_000]
    return MarketPath(pd.DataFrame({"BTC": prices}, index=index), pd.DataFrame({"BTC": [0.6] * 5}, index=index), {"BTC": "given"}, "test")


@pytest.fixture(scope="module")
def book(path):
    return synthetic_book(16, path.snapshot(0), rng=11, strategies={"long_perp": 3, "short_perp": 1}, assets=["BTC"])


def test_partition_keeps_order_and_sizes(book):
    parts = partition(book, 3)
    assert [len(p) for p in parts] == [5, 6, 5]
    assert sum(parts, ()) == book
    with pytest.raises(ParameterError):
        partition(book, 0)


def test_margin_book_identical_on_dask(client, book, path):
    market = path.snapshot(1)
    model = FlatRateModel(0.1, 0.05)
    local = margin_book(book, model, market)
    remote = margin_book(book, model, market, client=client, partitions=4)
    pd.testing.assert_frame_equal(local, remote)
    # and equal to the hand formula: IM = 10% x |q| x 96,000
    expected = [0.1 * abs(a.positions[0].quantity) * 96_000 for a in book]
    assert local["initial_margin_usd"].tolist() == pytest.approx(expected)


def test_replay_identical_on_dask(client, book, path):
    models = {"10x": FlatRateModel(0.1, 0.05), "5x": FlatRateModel(0.2, 0.1)}
    local = replay(book, models, path, insurance_fund_usd=1_000)
    remote = replay_on_dask(book, models, path, client, insurance_fund_usd=1_000)
    pd.testing.assert_frame_equal(local.summary(), remote.summary())
    pd.testing.assert_frame_equal(local.events, remote.events)
    pd.testing.assert_frame_equal(local.steps, remote.steps)
    assert local.summary().loc["10x", "accounts_liquidated"] > 0


def test_empty_book():
    with pytest.raises(EmptyPortfolioError):
        margin_book([], FlatRateModel(), None)  # type: ignore[arg-type]


def test_book_engine_partitioned_on_dask_matches_in_process_and_reference(client, path):
    """The book engine split by account over the cluster: same events as in process and as the per-account engine."""
    from marginlab.margin.presets import get_model

    book = synthetic_book(60, path.snapshot(0), rng=5, strategies={"long_perp": 2, "short_perp": 1, "basis": 1}, assets=["BTC"])
    models = {"cross": get_model("deribit-cross"), "flat": FlatRateModel(0.1, 0.05)}
    local = replay(book, models, path, funding=1.0)
    remote = replay_on_dask(book, models, path, client, partitions=5, funding=1.0)
    pd.testing.assert_frame_equal(local.events, remote.events)
    pd.testing.assert_frame_equal(local.steps, remote.steps)
    reference = replay(book, models, path, funding=1.0, engine="per-account")
    pd.testing.assert_frame_equal(local.summary(), reference.summary(), rtol=1e-9)
    assert local.summary()["accounts_liquidated"].sum() > 0


def test_replay_on_cluster_rejects_bad_scheduler(book, path):
    from marginlab.scale import replay_on_cluster

    with pytest.raises(ParameterError, match="scheduler"):
        replay_on_cluster(book, FlatRateModel(), path, "nowhere")
    with pytest.raises(ParameterError, match="workers"):
        replay_on_cluster(book, FlatRateModel(), path, "local", workers=0)
