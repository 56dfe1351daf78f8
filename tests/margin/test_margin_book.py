"""Every model margins a whole columnar book (:class:`marginlab.margin.base.BookMarginModel`):
``fhs-var``, ``okx-pm``, ``span-example``, the risk-matrix presets, the isolated and cross rule sets
and the flat-rate reference, vectorised over accounts, give every account the totals of the
per-account ``model.margin`` (the independent implementation: one account, its own valuation, a
loop over underlyings), on mixed books drawn by hypothesis (USD, coin-margined and inverse
accounts) and on seeded synthetic books; the book engine then routes them through ``margin_book``."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marginlab.account import Account
from marginlab.analysis.book import is_vectorised
from marginlab.analysis.replay import book_expiries
from marginlab.analysis.stress_scenarios import scenario_path
from marginlab.analysis.synthetic import strategies_for_models, synthetic_book
from marginlab.book import Book, InstrumentTable
from marginlab.exceptions import DataWarning, InputError, UnknownAssetError
from marginlab.instruments import Future, Option, Perpetual, Position, Spot
from marginlab.margin.base import BookMarginModel, BookMargins
from marginlab.margin.fhs import square_root_liquidity_addon
from marginlab.margin.presets import get_model
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.margin.span import CalendarSpreadTable, InterCommoditySpread, SpanModel
from marginlab.market import MarketSnapshot

AS_OF = "2025-03-01T08:00:00Z"  # after the fhs-var history (2025-02-20): no look-ahead
NEAR, FAR = datetime(2025, 3, 7, 8, tzinfo=UTC), datetime(2025, 3, 28, 8, tzinfo=UTC)
MARKET = MarketSnapshot.from_dict({"as_of": AS_OF, "rate": 0.02, "assets": {
    "BTC": {"index_usd": 90_000.0, "perpetual_usd": 90_050.0, "expiries": {
        NEAR.isoformat(): {"forward_usd": 90_100.0, "smile": {"strikes_usd": [70_000, 90_000, 110_000], "vols": [0.7, 0.55, 0.6]}},
        FAR.isoformat(): {"forward_usd": 90_600.0, "atm_vol": 0.5}}},
    "ETH": {"index_usd": 2_200.0, "expiries": {NEAR.isoformat(): {"forward_usd": 2_205.0, "atm_vol": 0.7},
                                               FAR.isoformat(): {"forward_usd": 2_215.0, "atm_vol": 0.65}}},
    "SOL": {"index_usd": 140.0},
    "USDC": {"index_usd": 0.999}}})


def _instruments(assets: tuple[str, ...]) -> list[tuple[object, float]]:
    """(instrument, typical size) pool: perps, spot, futures and calls/puts over two expiries and strikes."""
    pool: list[tuple[object, float]] = []
    for asset in assets:
        size = {"BTC": 1.0, "ETH": 20.0, "SOL": 300.0}[asset]
        pool += [(Perpetual(asset), size), (Spot(asset), size)]
        if asset == "SOL":
            continue
        index = MARKET.index_usd(asset)
        for expiry in (NEAR, FAR):
            pool.append((Future(asset, expiry), size))
            for moneyness in (0.8, 1.0, 1.2):
                for kind in ("call", "put"):
                    pool.append((Option(asset, expiry, round(index * moneyness, -1), kind), size))
    return pool


def _account(draw: st.DrawFn, pool: list[tuple[object, float]], k: int) -> Account:
    count = draw(st.integers(0, 6))
    positions = []
    for _ in range(count):
        instrument, size = pool[draw(st.integers(0, len(pool) - 1))]
        quantity = draw(st.floats(-3.0, 3.0, allow_nan=False).filter(lambda q: abs(q) > 1e-3)) * size
        entry = None
        if isinstance(instrument, Perpetual | Future) and draw(st.booleans()):
            entry = MARKET.index_usd(instrument.underlying) * draw(st.floats(0.8, 1.2))
        positions.append(Position(instrument, quantity, entry))  # type: ignore[arg-type]
    collateral = {}
    if draw(st.booleans()):
        collateral["USDC"] = draw(st.floats(0.0, 50_000.0))
    if draw(st.booleans()):
        collateral["BTC"] = draw(st.floats(0.0, 2.0))
    return Account(tuple(positions), cash_usd=draw(st.floats(-10_000.0, 200_000.0)), collateral=collateral, account_id=f"a{k}")


@st.composite
def books(draw: st.DrawFn, assets: tuple[str, ...]) -> list[Account]:
    pool = _instruments(assets)
    return [_account(draw, pool, k) for k in range(draw(st.integers(1, 6)))]


def assert_book_matches_reference(model: BookMarginModel, accounts: list[Account], market: MarketSnapshot) -> BookMargins:
    book = Book.from_accounts(accounts, market)
    result = model.margin_book(book)
    assert len(result.initial_margin_usd) == len(accounts)
    for k, account in enumerate(accounts):
        if not account.positions:  # the reference refuses an empty portfolio; nothing is charged (a coin-margined
            if account.margin_currency == "USD":  # account's USD cash has risk in coin: it may be)
                assert result.initial_margin_usd[k] == 0.0 and result.maintenance_margin_usd[k] == 0.0
            continue
        reference = model.margin(account, market)  # type: ignore[attr-defined]
        got = (result.initial_margin_usd[k], result.maintenance_margin_usd[k], result.equity_usd[k])
        want = (reference.initial_margin_usd, reference.maintenance_margin_usd, reference.equity_usd)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), account
    return result


MODELS = {"fhs-var": ("BTC", "ETH", "SOL"), "okx-pm": ("BTC", "ETH", "SOL"), "span-example": ("BTC", "ETH")}


@pytest.fixture(scope="module")
def models() -> dict[str, BookMarginModel]:
    return {name: get_model(name) for name in MODELS}


@pytest.mark.parametrize("name", list(MODELS))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_margin_book_equals_per_account_margin_on_mixed_books(name: str, models, data) -> None:  # type: ignore[no-untyped-def]
    accounts = data.draw(books(MODELS[name]))
    assert_book_matches_reference(models[name], accounts, MARKET)


@pytest.mark.parametrize("name", list(MODELS))
def test_margin_book_equals_per_account_margin_on_a_seeded_synthetic_book(name: str, models) -> None:  # type: ignore[no-untyped-def]
    path = scenario_path("covid-2020-03-12", ["BTC", "ETH"], substeps=1)
    model = models[name]
    model_at = model.as_of(path.times[3]) if name == "fhs-var" else model  # type: ignore[attr-defined]
    strategies = strategies_for_models([model.as_of(path.times[0]) if name == "fhs-var" else model], path)  # type: ignore[attr-defined]
    accounts = [*synthetic_book(60, path.snapshot(0), rng=7, strategies=strategies, expiry_days=(2, 30, 60)),
                Account((), cash_usd=1_000.0, collateral={"BTC": 0.5}, account_id="empty")]
    market = path.snapshot(3, book_expiries(accounts))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # the point-in-time FHS does not look ahead
        result = assert_book_matches_reference(model_at, accounts, market)
    assert result.equity_usd[-1] == pytest.approx(1_000.0 + (0.5 * market.index_usd("BTC") if name != "span-example" else 0.0))
    assert np.count_nonzero(result.maintenance_margin_usd) > 40


def test_components_explain_the_totals(models) -> None:  # type: ignore[no-untyped-def]
    accounts = [Account((Position(Perpetual("BTC"), 1.0), Position(Option("ETH", FAR, 2_200.0, "put"), -10.0)), account_id="x"),
                Account((Position(Perpetual("ETH"), -5.0),), account_id="y")]
    book = Book.from_accounts(accounts, MARKET)
    fhs = models["fhs-var"].margin_book(book)
    weight = models["fhs-var"].stress_weight
    np.testing.assert_allclose(fhs.initial_margin_usd, (1 - weight) * fhs.components["es_usd"] + weight * fhs.components["stress_usd"])
    assert np.all(fhs.components["es_usd"] >= fhs.components["var_usd"])
    okx = models["okx-pm"].margin_book(book)
    np.testing.assert_allclose(okx.maintenance_margin_usd, okx.components["BTC MMR"] + okx.components["ETH MMR"])
    np.testing.assert_allclose(okx.initial_margin_usd, 1.3 * okx.maintenance_margin_usd)
    # OKX, hand numbers (worked example G): long 1 BTC perp at 90,050 -> MR6 24% x 90,050 = 21,612 > MR1 12%
    assert okx.components["BTC MMR"][0] == pytest.approx(0.24 * 90_050.0)
    span = models["span-example"].margin_book(book)
    # SPAN: short 5 ETH perps, PSR 25% of 2,200 -> 1 PSR x 5 = 2,750 (no option, no short option minimum)
    assert span.maintenance_margin_usd[1] == pytest.approx(0.25 * 2_200.0 * 5)
    frame = span.frame()
    assert (frame["BTC requirement"] + frame["ETH requirement"]).tolist() == pytest.approx(frame["maintenance_margin_usd"].tolist())


def test_protocol_conformance_and_vectorised_flags(models) -> None:  # type: ignore[no-untyped-def]
    for model in (*models.values(), get_model("deribit-pm")):
        assert isinstance(model, BookMarginModel) and is_vectorised(model)
    assert isinstance(get_model("deribit-pm"), RiskMatrixModel)
    for name in ("hyperliquid", "binance-unified", "dydx-cross"):
        assert isinstance(get_model(name), BookMarginModel) and is_vectorised(get_model(name))
    table = InstrumentTable.build(["BTC-PERP"], [1], ["BTC"], price_usd=[90_000.0])
    book = Book.build(table, account=[0], instrument=[0], quantity=[1.0])
    result = get_model("deribit-pm").margin_book(book, prepared=get_model("deribit-pm").prepare_book(table))
    assert result.maintenance_margin_usd[0] == get_model("deribit-pm").margin_book(book).maintenance_margin_usd[0]


def test_configurations_outside_the_vectorised_path_fall_back_to_the_reference(models) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    fhs = replace(models["fhs-var"], liquidity_addon=square_root_liquidity_addon(0.5, {"BTC": 1e4, "ETH": 1e5, "SOL": 1e6}))
    span = replace(models["span-example"], calendar_spreads={"BTC": CalendarSpreadTable({"a": 1.0}, {})})
    for model in (fhs, span):
        assert not model.book_vectorised and not is_vectorised(model)
        with pytest.raises(InputError, match="account by account"):
            model.margin_book(Book.from_accounts([Account((Position(Perpetual("BTC"), 1.0),))], MARKET))


def test_span_inter_commodity_credit_vectorised() -> None:
    model = SpanModel({"BTC": 0.2, "ETH": 0.25}, inter_spreads=(InterCommoditySpread("BTC", "ETH", 1, 30, 0.5),))
    accounts = [Account((Position(Perpetual("BTC"), 2.0), Position(Perpetual("ETH"), -45.0), Position(Perpetual("ETH"), -15.0)), account_id="spread"),
                Account((Position(Perpetual("BTC"), 2.0), Position(Perpetual("ETH"), 60.0)), account_id="same side")]
    result = assert_book_matches_reference(model, accounts, MARKET)
    # 2 spreads of 1 BTC / 30 ETH: credit 50% x (2 x 18,000 / 2 BTC + 60 x 550 / 60 ETH) per spread leg
    scan_btc, scan_eth = 0.2 * 90_050 * 2, 0.25 * 2_200 * 60  # perpetual marks: 90,050 and the ETH index
    assert result.maintenance_margin_usd[0] == pytest.approx(scan_btc + scan_eth - 0.5 * (2 * scan_btc / 2 + 60 * scan_eth / 60))
    assert result.maintenance_margin_usd[1] == pytest.approx(scan_btc + scan_eth)


def test_bad_books_raise_the_reference_errors(models) -> None:  # type: ignore[no-untyped-def]
    market = MarketSnapshot.from_dict({"as_of": AS_OF, "assets": {"DOGE": {"index_usd": 0.2}, "BTC": {"index_usd": 90_000.0}}})
    book = Book.from_accounts([Account((Position(Perpetual("BTC"), 1.0),)), Account((Position(Perpetual("DOGE"), 1e4),))], market)
    with pytest.raises(UnknownAssetError, match="DOGE"):
        models["fhs-var"].margin_book(book)
    with pytest.raises(InputError, match="price scan range"):
        models["span-example"].margin_book(book)


def test_fhs_point_in_time_model_cuts_history_and_crises(models) -> None:  # type: ignore[no-untyped-def]
    fhs = models["fhs-var"]
    covid = fhs.as_of("2020-03-12T08:00:00Z")
    assert covid is fhs.as_of(pd.Timestamp("2020-03-12T20:00:00Z"))  # cached per day
    assert covid.history.as_of == pd.Timestamp("2020-03-11", tz="UTC")
    assert covid.history.assets == ("BTC", "ETH")  # SOL's history starts 2020-04-10
    assert covid.stress_scenarios is None  # the three crisis days had not happened yet
    later = fhs.as_of("2021-06-01T00:00:00Z")
    assert later.stress_scenarios["name"].tolist() == ["COVID crash 2020-03-12", "May 2021 sell-off 2021-05-19"]
    assert later.history.assets == ("BTC", "ETH")  # SOL: 417 closes by then, fewer than 750 + 2 + 1
    market = MarketSnapshot.from_dict({"as_of": "2020-03-12T08:00:00Z", "assets": {"BTC": {"index_usd": 7_900.0}}})
    account = Account((Position(Perpetual("BTC"), 1.0),))
    with pytest.warns(DataWarning, match="look ahead"):
        fhs.margin(account, market)
    with pytest.warns(DataWarning, match="look ahead"):
        fhs.prepare_book(Book.from_accounts([account], market).instruments, as_of=market.as_of)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        result = covid.margin(account, market)
    assert result.details["history_as_of"] == pd.Timestamp("2020-03-11", tz="UTC")


# ---------------------------------------------------------------- rule sets, coin-margined and inverse books
RULE_MODELS = ("deribit-standard", "hyperliquid", "dydx", "binance-brackets", "binance-unified", "deribit-cross", "hyperliquid-cross",
               "dydx-cross", "binance-cross-margin-tiered")
NO_OPTIONS = {"hyperliquid", "dydx", "binance-brackets", "hyperliquid-cross", "dydx-cross", "binance-unified", "binance-cross-margin-tiered"}


@st.composite
def rule_books(draw: st.DrawFn, options: bool, coins: bool = True, inverse: bool = True) -> list[Account]:
    """USD, coin-margined and inverse accounts with chosen leverages, split rows of one instrument and collateral
    (``coins=False``: USDC collateral only, for venues that take no other)."""
    pool: list[tuple[object, float]] = [(i, s) for i, s in _instruments(("BTC", "ETH")) if options or not isinstance(i, Option)]
    if inverse:
        pool += [(Perpetual("BTC", settlement="BTC"), 50_000.0), (Future("BTC", FAR, settlement="BTC"), 50_000.0),
                 (Perpetual("ETH", settlement="ETH"), 20_000.0)]
    accounts = []
    for k in range(draw(st.integers(1, 5))):
        positions = []
        for _ in range(draw(st.integers(0, 5))):
            instrument, size = pool[draw(st.integers(0, len(pool) - 1))]
            quantity = draw(st.floats(-2.0, 2.0, allow_nan=False).filter(lambda q: abs(q) > 1e-3)) * size
            entry = None
            if isinstance(instrument, Perpetual | Future) and draw(st.booleans()):
                entry = MARKET.index_usd(instrument.underlying) * draw(st.floats(0.8, 1.2))
            leverage = draw(st.sampled_from([None, 2.0, 5.0])) if isinstance(instrument, Perpetual | Future) else None
            positions.append(Position(instrument, quantity, entry, leverage=leverage))  # type: ignore[arg-type]
        collateral = {}
        if coins and draw(st.booleans()):
            collateral["BTC"] = draw(st.floats(0.0, 2.0))
        if draw(st.booleans()):
            collateral["USDC"] = draw(st.floats(0.0, 300_000.0))
        coin = draw(st.sampled_from(["USD", "USD", "BTC"])) if coins else "USD"
        accounts.append(Account(tuple(positions), cash_usd=draw(st.floats(-10_000.0, 100_000.0)), collateral=collateral, account_id=f"r{k}",
                                margin_currency=coin))
    return accounts


@pytest.mark.parametrize("name", RULE_MODELS)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rule_sets_margin_book_equals_margin(name: str, data) -> None:  # type: ignore[no-untyped-def]
    """The one-account case of the same code: isolated and cross rule sets, with coin-margined and inverse accounts."""
    model = get_model(name)
    coins = name not in ("hyperliquid-cross", "dydx-cross")  # USDC collateral only
    assert_book_matches_reference(model, data.draw(rule_books(options=name not in NO_OPTIONS, coins=coins)), MARKET)


@pytest.mark.parametrize("name", ["deribit-pm", "derive-pmrm-v2", "okx-pm", "fhs-var"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_portfolio_models_on_coin_margined_and_inverse_books(name: str, models, data) -> None:  # type: ignore[no-untyped-def]
    model = models.get(name) or get_model(name)
    # Left out, to be aligned in those models' margin(): fhs-var's per-account margin() values an inverse contract as
    # face / mark coins, the book by its exact USD P&L (Book.from_accounts; they agree only when entry, mark and index
    # coincide); okx-pm's and fhs-var's margin() margin a coin-margined account in USD, the book in its coin.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        accounts = data.draw(rule_books(options=True, inverse=name != "fhs-var", coins=name not in ("okx-pm", "fhs-var")))
        assert_book_matches_reference(model, accounts, MARKET)


def test_flat_rate_model_margins_a_book() -> None:
    from marginlab.margin.flat import FlatRateModel

    accounts = [Account((Position(Perpetual("BTC"), 2.0, 80_000.0), Position(Perpetual("BTC", settlement="BTC"), -90_000.0)), cash_usd=5_000.0),
                Account((Position(Option("ETH", FAR, 2_200.0, "put"), -10.0),), collateral={"USDC": 1_000.0})]
    result = assert_book_matches_reference(FlatRateModel(0.1, 0.05), accounts, MARKET)
    # hand numbers: BTC 2 x 90,000 + inverse 90,000 / 90,050 coins x 90,000; ETH 10 x 2,200 (options: underlying notional)
    gross_btc = 2 * 90_000.0 + 90_000.0 / 90_050.0 * 90_000.0
    assert result.maintenance_margin_usd.tolist() == pytest.approx([0.05 * gross_btc, 0.05 * 22_000.0])


def test_isolated_book_hand_numbers() -> None:
    """Hyperliquid (E1): IM = notional / leverage at the perpetual mark; two rows of one perpetual net; long spot free."""
    accounts = [Account((Position(Perpetual("BTC"), 1.0, leverage=10), Position(Perpetual("BTC"), 0.5, leverage=20), Position(Spot("BTC"), 1.0)),
                        cash_usd=50_000.0)]
    result = assert_book_matches_reference(get_model("hyperliquid"), accounts, MARKET)
    assert result.initial_margin_usd[0] == pytest.approx(1.5 * 90_050.0 / 10)  # the lower leverage of the merged rows
    assert result.equity_usd[0] == pytest.approx(50_000.0 + 90_000.0)
