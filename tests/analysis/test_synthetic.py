"""Tests of the seeded synthetic book generator."""

from __future__ import annotations

import numpy as np
import pytest

from marginlab.analysis.synthetic import STRATEGIES, describe_book, round_to_index_grid, synthetic_book
from marginlab.exceptions import InputError, ParameterError, UnknownAssetError
from marginlab.market import MarketSnapshot


@pytest.fixture
def market():
    return MarketSnapshot.from_dict(
        {"as_of": "2025-01-15T00:00:00Z", "assets": {"BTC": {"index_usd": 100_000}, "ETH": {"index_usd": 3_000}}}
    )


def test_seeded_and_reproducible(market):
    assert synthetic_book(50, market, rng=1) == synthetic_book(50, market, rng=1)
    assert synthetic_book(50, market, rng=1) != synthetic_book(50, market, rng=2)
    assert synthetic_book(5, market, rng=np.random.default_rng(3)) == synthetic_book(5, market, rng=3)


def test_mix_of_strategies_and_ids(market):
    book = synthetic_book(400, market, rng=0)
    table = describe_book(book)
    assert table["account_id"].is_unique
    assert set(table["strategy"]) == set(STRATEGIES)
    # BTC 0.6 / ETH 0.4 by default: with 400 draws the BTC share is within 0.6 +- 4 sd (sd = 0.0245)
    share = (table["asset"] == "BTC").mean()
    assert abs(share - 0.6) < 4 * np.sqrt(0.24 / 400)


def test_long_perp_sizing(market):
    book = synthetic_book(30, market, rng=5, strategies={"long_perp": 1.0}, leverage_choices=(10,), notional_dispersion=0.0,
                          assets=["BTC"], median_notional_usd=50_000)
    for account in book:
        (position,) = account.positions
        # notional 50,000 at 100,000 -> 0.5 BTC, cash 50,000 / 10
        assert position.quantity == pytest.approx(0.5)
        assert position.entry_price_usd == 100_000
        assert position.leverage == 10
        assert account.cash_usd == pytest.approx(5_000)


def test_option_strategies_have_expiries_after_as_of_and_round_strikes(market):
    book = synthetic_book(60, market, rng=9, strategies={"short_strangle": 1, "covered_call": 1, "put_spread": 1}, assets=["BTC"])
    for account in book:
        for position in account.positions:
            assert position.instrument.expiry > market.as_of
            assert position.instrument.strike_usd % 1_000 == 0
        if account.positions[0].label == "covered_call":
            assert account.collateral["BTC"] == pytest.approx(-account.positions[0].quantity)


def test_round_strike():
    assert round_to_index_grid(117_340.0, 100_000.0) == 117_000.0
    assert round_to_index_grid(2_555.0, 3_000.0) == 2_560.0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n_accounts": 0}, InputError),
        ({"strategies": {"moon": 1.0}}, InputError),
        ({"strategies": {"long_perp": -1.0}}, ParameterError),
        ({"assets": ["DOGE"]}, UnknownAssetError),
        ({"leverage_choices": (0,)}, ParameterError),
    ],
)
def test_bad_input(market, kwargs, error):
    arguments = {"n_accounts": 5, "market": market, "rng": 0, **kwargs}
    with pytest.raises(error):
        synthetic_book(**arguments)
