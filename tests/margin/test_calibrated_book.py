"""``calibrated-portfolio`` and ``calibrated-cross`` on whole books (marginlab.margin.calibrated, the book protocol).

``PerUnderlyingPortfolioMargin.margin`` is the reference: ``margin_book`` must give every account the totals it gives
(to 1e-9 relative), on BTC+ETH books of perpetuals, futures and options with collateral, offsets on and off and
inter-underlying legs in both directions; the same errors for uncalibrated underlyings and collateral. The book
engine (marginlab.analysis.book) margins both presets on its vectorised paths.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marginlab.account import Account
from marginlab.analysis.book import BookMargin, BookState, PseudoAccounts, StepMarket, book_margin, is_vectorised
from marginlab.book import Book
from marginlab.exceptions import InputError, UnknownAssetError
from marginlab.instruments import Future, Option, Perpetual, Position, Spot
from marginlab.margin.base import BookMarginModel
from marginlab.margin.calibrated import PerUnderlyingPortfolioMargin, models_from_parameters
from marginlab.margin.correlation import inter_commodity_credit, inter_commodity_credits
from marginlab.margin.span import InterCommoditySpread
from marginlab.market import MarketSnapshot
from marginlab.parameters import ParameterSet, example_parameters

EXPIRY = datetime(2025, 3, 28, 8, tzinfo=UTC)
EXPIRY_2 = datetime(2025, 6, 27, 8, tzinfo=UTC)
MARKET = MarketSnapshot.from_dict({"as_of": "2025-01-15", "rate": 0.03, "assets": {
    "BTC": {"index_usd": 100_000.0, "perpetual_usd": 100_050.0, "expiries": {
        EXPIRY: {"forward_usd": 101_000.0, "atm_vol": 0.6}, EXPIRY_2: {"forward_usd": 102_500.0, "atm_vol": 0.55}}},
    "ETH": {"index_usd": 4_000.0, "expiries": {EXPIRY: {"forward_usd": 4_050.0, "atm_vol": 0.7}, EXPIRY_2: {"forward_usd": 4_120.0, "atm_vol": 0.65}}},
    "SOL": {"index_usd": 200.0},
    "USDT": {"index_usd": 0.999},
}})


def _params() -> ParameterSet:
    """BTC: the example file (MM 6%, IM 8.5%, scan 12%); ETH: MM 10%, IM 12%, the same grid and vol shocks."""
    base = example_parameters()
    btc = base.asset("BTC")
    eth = replace(btc, asset="ETH", maintenance_rate=0.10, initial_rate=0.12)
    return replace(base, assets={"BTC": btc, "ETH": eth})


MODELS = models_from_parameters(_params())
PORTFOLIO = MODELS["calibrated-portfolio"]
assert isinstance(PORTFOLIO, PerUnderlyingPortfolioMargin)
OFFSET = replace(PORTFOLIO, offsets={("BTC", "ETH"): 0.40})


def _instrument(asset: str, kind: str, expiry: datetime, strike_step: int, call: bool):  # type: ignore[no-untyped-def]
    forward = MARKET.forward_usd(asset, expiry)
    if kind == "perpetual":
        return Perpetual(asset)
    if kind == "future":
        return Future(asset, expiry)
    if kind == "spot":
        return Spot(asset)
    strike = round(forward * (1 + 0.1 * strike_step), 0)
    return Option(asset, expiry, strike, "call" if call else "put")


positions = st.builds(
    lambda asset, kind, expiry, step, call, size, entry: Position(
        _instrument(asset, kind, expiry, step, call), size * (1.0 if asset == "BTC" else 25.0),
        entry_price_usd=None if entry is None or kind in ("option", "spot") else MARKET.index_usd(asset) * entry),
    st.sampled_from(["BTC", "ETH"]),
    st.sampled_from(["perpetual", "future", "option", "option", "spot"]),
    st.sampled_from([EXPIRY, EXPIRY_2]),
    st.integers(-3, 3),
    st.booleans(),
    st.floats(-5, 5).filter(lambda q: abs(q) > 1e-3),
    st.one_of(st.none(), st.floats(0.8, 1.2)),
)
collateral = st.dictionaries(st.sampled_from(["BTC", "ETH", "USD"]), st.floats(0, 50_000).map(lambda x: round(x, 3)), max_size=3)
accounts = st.builds(
    lambda p, c, cash, k: Account(tuple(p), cash_usd=cash, collateral={a: (v / 100_000 if a == "BTC" else v / 4_000 if a == "ETH" else v) for a, v in c.items()},
                                  account_id=f"acct-{k}"),
    st.lists(positions, min_size=1, max_size=6), collateral, st.floats(-20_000, 200_000), st.integers(0, 10**6),
)


def _assert_book_matches_reference(model: PerUnderlyingPortfolioMargin, book: list[Account]) -> None:
    result = model.margin_book(Book.from_accounts(book, MARKET))
    for k, account in enumerate(book):
        reference = model.margin(account, MARKET)
        for name in ("initial_margin_usd", "maintenance_margin_usd", "equity_usd"):
            expected = getattr(reference, name)
            assert getattr(result, name)[k] == pytest.approx(expected, rel=1e-9, abs=1e-9 * (1.0 + abs(expected))), (name, k)


@given(st.lists(accounts, min_size=1, max_size=4), st.sampled_from([0.0, 0.25, 0.40, 0.95]))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_margin_book_gives_every_account_the_totals_of_margin(book: list[Account], rate: float) -> None:
    model = replace(PORTFOLIO, offsets={("ETH", "BTC"): rate} if rate else {})
    _assert_book_matches_reference(model, book)


def test_seeded_books_with_legs_in_both_directions_offsets_on_and_off() -> None:
    rng = np.random.default_rng(2026)
    expiries = [EXPIRY, EXPIRY_2]
    book = []
    for k in range(40):
        direction = 1.0 if k % 2 else -1.0  # long BTC / short ETH, then the other way round
        held = [Position(Perpetual("BTC"), direction * rng.uniform(0.1, 3.0)), Position(Perpetual("ETH"), -direction * rng.uniform(2.0, 80.0))]
        if k % 3 == 0:
            held.append(Position(Future("ETH", expiries[k % 2]), rng.normal(0, 20), entry_price_usd=float(rng.uniform(3_500, 4_500))))
        if k % 4 == 1:
            strike = float(np.round(100_000 * rng.uniform(0.8, 1.2), -3))
            held.append(Position(Option("BTC", expiries[k % 2], strike, "call" if rng.random() < 0.5 else "put"), rng.normal(0, 2)))
        held_collateral = {"BTC": float(rng.uniform(0, 0.5)), "ETH": float(rng.uniform(0, 5)), "USD": float(rng.uniform(0, 10_000))} if k % 5 == 0 else {}
        book.append(Account(tuple(held), cash_usd=float(rng.uniform(0, 50_000)), collateral=held_collateral, account_id=f"a{k}"))
    for model in (PORTFOLIO, OFFSET, replace(PORTFOLIO, offsets={("BTC", "ETH"): 1.0})):
        _assert_book_matches_reference(model, book)
    credits = OFFSET.margin_book(Book.from_accounts(book, MARKET)).components["inter-underlying credit BTC/ETH maintenance_margin_usd"]
    legs = OFFSET.margin_book(Book.from_accounts(book, MARKET)).components["BTC leg"]
    assert np.all(credits <= 0) and (credits[legs > 0] < 0).any() and (credits[legs < 0] < 0).any()


def test_hand_worked_spread_in_both_directions() -> None:
    # long 1 BTC / short 20 ETH: BTC leg 6% x 100,000 = 6,000 (worst: a fall), ETH leg 10% x 80,000 = 8,000 (worst: a rise);
    # spreads = min(6,000, 8,000) = 6,000, credit 0.40 x 6,000 x 2 = 4,800, MM = 14,000 - 4,800 = 9,200.
    # IM: 8.5% x 100,000 = 8,500 and 12% x 80,000 = 9,600, credit 0.40 x 8,500 x 2 = 6,800, IM = 11,300.
    # short 1 BTC / long 20 ETH: the same legs the other way round, the same figures. Both long: no credit.
    market = MarketSnapshot.from_dict({"as_of": "2025-01-15", "assets": {"BTC": {"index_usd": 100_000.0}, "ETH": {"index_usd": 4_000.0}}})
    book = [Account((Position(Perpetual("BTC"), s), Position(Perpetual("ETH"), -20.0 * s * t)), cash_usd=20_000.0) for s, t in ((1, 1), (-1, 1), (1, -1))]
    result = OFFSET.margin_book(Book.from_accounts(book, market))
    assert result.maintenance_margin_usd == pytest.approx([9_200.0, 9_200.0, 14_000.0], rel=1e-12)
    assert result.initial_margin_usd == pytest.approx([11_300.0, 11_300.0, 18_100.0], rel=1e-12)
    assert result.components["BTC leg"].tolist() == [1.0, -1.0, 1.0]
    assert result.components["ETH leg"].tolist() == [-1.0, 1.0, 1.0]
    assert result.equity_usd == pytest.approx([20_000.0] * 3)
    # the components add up to the totals
    columns = [c for c in result.components if c.endswith("maintenance_margin_usd")]
    assert sum(result.components[c] for c in columns) == pytest.approx(result.maintenance_margin_usd)


def test_equity_pools_cash_collateral_after_the_calibrated_haircuts_and_mark_to_market() -> None:
    # 0.5 BTC collateral at 100,000 with the example file's BTC haircut (12% at its reference vol), 2 ETH at 4,000 with
    # twice the reference vol (24%), 1,000 USD (no haircut), cash 1,000, a long perpetual entered 1,000 below the mark
    # of 100,050 (+1,000): equity = 1,000 + 50,000 x 0.88 + 8,000 x 0.76 + 1,000 + 1,000 = 53,080
    haircuts = PORTFOLIO.haircuts
    assert haircuts is not None and haircuts.haircut("BTC", 1.0, MARKET) == pytest.approx(0.12)
    model = replace(PORTFOLIO, haircuts=haircuts.with_current_vol({"ETH": 2 * haircuts.reference_vol["ETH"]}))  # type: ignore[attr-defined]
    account = Account((Position(Perpetual("BTC"), 1.0, entry_price_usd=99_050.0),), cash_usd=1_000.0, collateral={"BTC": 0.5, "ETH": 2.0, "USD": 1_000.0})
    result = model.margin_book(Book.from_accounts([account], MARKET))
    assert result.equity_usd[0] == pytest.approx(53_080.0, rel=1e-12)
    assert result.components["collateral_usd"][0] == pytest.approx(44_000.0 + 6_080.0 + 1_000.0, rel=1e-12)
    assert model.margin(account, MARKET).equity_usd == pytest.approx(53_080.0, rel=1e-12)


def test_accounts_without_positions_get_no_requirement() -> None:
    table_book = Book.from_accounts([Account((Position(Perpetual("BTC"), 1.0),)), Account((), cash_usd=5.0, collateral={"USD": 7.0})], MARKET)
    result = PORTFOLIO.margin_book(table_book)
    assert result.maintenance_margin_usd[1] == 0.0 and result.initial_margin_usd[1] == 0.0 and result.equity_usd[1] == pytest.approx(12.0)


def test_uncalibrated_underlyings_and_collateral_raise_the_errors_of_margin() -> None:
    sol = Account((Position(Perpetual("SOL"), 10.0), Position(Perpetual("BTC"), 1.0)), account_id="sol")
    sol_collateral = Account((Position(Perpetual("BTC"), 1.0),), collateral={"SOL": 10.0}, account_id="collateral")
    plain = Account((Position(Perpetual("BTC"), 1.0),), account_id="plain")
    for first, second in ((plain, sol), (plain, sol_collateral), (sol, sol_collateral), (sol_collateral, sol)):
        with pytest.raises(UnknownAssetError) as expected:
            for account in (first, second):
                PORTFOLIO.margin(account, MARKET)
        with pytest.raises(UnknownAssetError) as raised:
            PORTFOLIO.margin_book(Book.from_accounts([first, second], MARKET))
        assert str(raised.value) == str(expected.value)
        with pytest.raises(UnknownAssetError) as engine:
            book_margin(PORTFOLIO, [first, second], MARKET)
        assert str(engine.value) == str(expected.value)


def test_coin_margined_books_and_amount_dependent_haircuts_are_left_to_margin() -> None:
    from marginlab.collateral import TieredHaircut

    coin = Account((Position(Perpetual("BTC"), 1.0),), collateral={"BTC": 1.0}, margin_currency="BTC")
    with pytest.raises(InputError, match="numeraire"):
        PORTFOLIO.margin_book(Book.from_accounts([coin], MARKET))
    tiered = replace(PORTFOLIO, haircuts=TieredHaircut({}))
    assert not tiered.book_vectorised and not is_vectorised(tiered)
    with pytest.raises(InputError, match="haircuts"):
        tiered.margin_book(Book.from_accounts([Account((Position(Perpetual("BTC"), 1.0),))], MARKET))


def test_both_presets_run_on_the_vectorised_paths_of_the_book_engine() -> None:
    assert isinstance(PORTFOLIO, BookMarginModel) and PORTFOLIO.book_vectorised
    assert is_vectorised(PORTFOLIO) and is_vectorised(MODELS["calibrated-cross"])
    book = [Account((Position(Perpetual("BTC"), 0.5 * (k - 3.5)), Position(Future("ETH", EXPIRY), 10.0 * (2.5 - k))), cash_usd=10_000.0 * k,
                    collateral={"USD": 1_000.0 * k, "BTC": 0.1, "ETH": 0.5 * k}, account_id=f"a{k}") for k in range(1, 6)]
    for name, kind in (("calibrated-portfolio", "book"), ("calibrated-cross", "rules")):
        model = OFFSET if name == "calibrated-portfolio" else MODELS[name]
        state = BookState(book)
        engine = BookMargin(model, state, StepMarket.build(state, MARKET))
        assert engine.kind == kind
        im, mm, equity = engine(PseudoAccounts.of(state, np.arange(len(book))))
        for k, account in enumerate(book):
            reference = model.margin(account, MARKET)
            assert (im[k], mm[k], equity[k]) == pytest.approx((reference.initial_margin_usd, reference.maintenance_margin_usd, reference.equity_usd),
                                                              rel=1e-9)


def test_calibrated_cross_still_refuses_options_in_the_book_engine() -> None:
    cross = MODELS["calibrated-cross"]
    book = [Account((Position(Perpetual("BTC"), 1.0),)), Account((Position(Option("BTC", EXPIRY, 100_000.0, "call"), 1.0),))]
    with pytest.raises(InputError) as expected:
        cross.margin(book[1], MARKET)
    with pytest.raises(InputError) as raised:
        book_margin(cross, book, MARKET)
    assert str(raised.value) == str(expected.value) and "calibrated-portfolio" in str(raised.value)


def test_a_subclass_does_not_inherit_the_rules_path() -> None:
    from marginlab.margin.calibrated import CalibratedCrossMargin

    class Stricter(CalibratedCrossMargin):
        pass

    cross = MODELS["calibrated-cross"]
    assert not is_vectorised(Stricter(cross.rules, cross.haircuts, preset_name="stricter"))  # type: ignore[attr-defined]


DELTAS = st.one_of(st.just(0.0), st.floats(0.01, 50), st.floats(-50, -0.01))


@given(st.lists(st.tuples(st.floats(0, 1e6), DELTAS, st.floats(0, 1e6), DELTAS, st.floats(0, 1e6), DELTAS), min_size=1, max_size=8),
       st.floats(0, 1), st.floats(0, 1))
@settings(max_examples=60, deadline=None)
def test_credits_of_many_books_at_once_equal_those_of_each_book_alone(rows, rate_1, rate_2) -> None:  # type: ignore[no-untyped-def]
    spreads = [InterCommoditySpread("A", "B", 1.0, 2.0, rate_1), InterCommoditySpread("B", "C", 3.0, 1.0, rate_2), InterCommoditySpread("A", "C", 1.0, 1.0, 0.5)]
    scan = {name: np.array([r[2 * i] for r in rows]) for i, name in enumerate("ABC")}
    delta = {name: np.array([r[2 * i + 1] for r in rows]) for i, name in enumerate("ABC")}
    out = inter_commodity_credits(scan, delta, spreads)
    for k in range(len(rows)):
        one = inter_commodity_credit({name: (scan[name][k], delta[name][k]) for name in "ABC"}, spreads)
        by = one.by_underlying.set_index("underlying")
        for name in "ABC":
            assert out.credit_usd[name][k] == by.loc[name, "credit_usd"]
            assert out.remaining_delta[name][k] == by.loc[name, "remaining_delta"]
        assert [out.spreads_formed[s][k] for s in range(3)] == one.spreads["spreads_formed"].tolist()
