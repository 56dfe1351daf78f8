"""The book-level replay engine reproduces the per-account reference engine.

For every preset a seeded synthetic book (strategies the preset can margin) goes through the
crash days of ``covid-2020-03-12`` (2020-03-12 08:00 to 2020-03-13 16:00, five steps, the
12 March fall of 42% and the rebound) with traders funded at the model's initial margin. The two engines must
give the same events (same rows in the same order, numbers equal up to rounding of sums
taken in another order), the same final balances, the same insurance-fund path and the same
bad debt.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from marginlab.analysis.book import BookMargin, BookState, PseudoAccounts, StepMarket, book_margin, is_vectorised
from marginlab.analysis.replay import book_expiries, replay
from marginlab.analysis.stress_scenarios import MarketPath, scenario_path
from marginlab.analysis.synthetic import strategies_for_models, synthetic_book
from marginlab.book import Book
from marginlab.liquidation.policy import LiquidationPolicy
from marginlab.liquidation.results import market_equity_usd
from marginlab.margin.flat import FlatRateModel
from marginlab.margin.presets import available_models, get_model
from marginlab.parameters import example_parameters

TEXT = ("time", "account_id", "action", "symbol", "step")


@pytest.fixture(scope="module")
def crash_path() -> MarketPath:
    path = scenario_path("covid-2020-03-12", ["BTC", "ETH"], substeps=1)
    window = slice(10, 15)
    return MarketPath(path.prices_usd.iloc[window], path.vols.iloc[window], path.vol_source, "covid crash days")


@pytest.fixture(scope="module", autouse=True)
def parameter_file(tmp_path_factory):  # type: ignore[no-untyped-def]
    path = example_parameters().save(tmp_path_factory.mktemp("params") / "p.json")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MARGINLAB_PARAMETER_FILE", str(path))
        yield path


def assert_same_replay(a, b) -> None:  # type: ignore[no-untyped-def]
    ea, eb = a.events, b.events
    assert len(ea) == len(eb)
    for column in ea.columns:
        if column in TEXT:
            assert ea[column].astype(str).tolist() == eb[column].astype(str).tolist(), column
        else:
            np.testing.assert_allclose(ea[column].to_numpy(float), eb[column].to_numpy(float), rtol=1e-9, atol=1e-6, err_msg=column)
    np.testing.assert_allclose(a.steps["fund_balance_usd"], b.steps["fund_balance_usd"], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(a.steps["bad_debt_usd"], b.steps["bad_debt_usd"], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(a.steps["equity_usd"], b.steps["equity_usd"], rtol=1e-9, atol=1e-3)
    assert a.steps["accounts_below_maintenance"].tolist() == b.steps["accounts_below_maintenance"].tolist()
    assert a.bad_debt_usd == pytest.approx(b.bad_debt_usd, rel=1e-9, abs=1e-6)
    assert a.fund_after_usd == pytest.approx(b.fund_after_usd, rel=1e-9, abs=1e-6)
    assert a.adl_recovered_usd == pytest.approx(b.adl_recovered_usd, rel=1e-9, abs=1e-6)
    after_a, after_b = list(a.accounts_after), list(b.accounts_after)
    assert [x.account_id for x in after_a] == [x.account_id for x in after_b]
    np.testing.assert_allclose([x.cash_usd for x in after_a], [x.cash_usd for x in after_b], rtol=1e-9, atol=1e-6)
    assert [[(p.symbol, round(p.quantity, 9)) for p in x.positions] for x in after_a] == [
        [(p.symbol, round(p.quantity, 9)) for p in x.positions] for x in after_b
    ]


PRESETS = available_models()["name"].tolist()
#: Accounts per preset: the per-account reference is the slow side (about 0.1 s per account and step under
#: load); MARGINLAB_EQUIVALENCE_ACCOUNTS=300 runs every preset on a 300-account book.
ACCOUNTS = int(os.environ.get("MARGINLAB_EQUIVALENCE_ACCOUNTS", "0")) or None
SIZES = {"fhs-var": 40, "okx-pm": 60, "span-example": 60}


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_book_engine_reproduces_the_per_account_engine_for_every_preset(preset: str, crash_path: MarketPath) -> None:
    model = get_model(preset)
    market = crash_path.snapshot(0)
    assets = ["BTC"] if preset.startswith("calibrated") else None  # the example parameter file calibrates BTC only
    strategies = strategies_for_models([model], crash_path, assets=assets)
    book = synthetic_book(ACCOUNTS or SIZES.get(preset, 120), market, rng=11, strategies=strategies, expiry_days=(2, 30, 60), assets=assets)
    runs = {engine: replay(book, {preset: model}, crash_path, funding=1.0, engine=engine).runs[preset] for engine in ("book", "per-account")}
    assert_same_replay(runs["book"], runs["per-account"])
    events = runs["book"].events
    assert (events["action"] == "partial_liquidation").any() or (events["action"] == "full_liquidation").any()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (LiquidationPolicy(fee_rate=0.002, slippage_rate=0.001), {"adl", "bad_debt", "insurance_fund", "full_liquidation"}),
        (LiquidationPolicy(liquidator_share=0.3, auto_deleverage=False, socialised_loss=True), {"socialised_loss", "insurance_fund"}),
        (LiquidationPolicy(use_insurance_fund=False, liquidator_share=1.0), {"adl", "bad_debt"}),
    ],
)
def test_flat_model_book_with_fund_exhausted_adl_and_bad_debt(crash_path: MarketPath, policy: LiquidationPolicy, expected: set[str]) -> None:
    """Thin funding (0.5 x IM) and no fund: deficits go to ADL, socialised loss and bad debt alike in both engines."""
    book = synthetic_book(150, crash_path.snapshot(0), rng=3, strategies={"long_perp": 3, "short_perp": 1, "basis": 1})
    runs = {
        engine: replay(book, {"flat": FlatRateModel(0.1, 0.05)}, crash_path, funding=0.5, policy=policy, engine=engine).runs["flat"]
        for engine in ("book", "per-account")
    }
    assert_same_replay(runs["book"], runs["per-account"])
    assert runs["book"].socialised_usd == pytest.approx(runs["per-account"].socialised_usd, rel=1e-9, abs=1e-6)
    assert runs["book"].liquidator_usd == pytest.approx(runs["per-account"].liquidator_usd, rel=1e-9, abs=1e-6)
    assert expected <= set(runs["book"].events["action"])


def test_expired_options_settle_identically(crash_path: MarketPath) -> None:
    book = synthetic_book(60, crash_path.snapshot(0), rng=5, strategies={"short_strangle": 1, "put_spread": 1}, expiry_days=(1,))
    model = get_model("deribit-pm")
    runs = {engine: replay(book, {"pm": model}, crash_path, engine=engine).runs["pm"] for engine in ("book", "per-account")}
    assert_same_replay(runs["book"], runs["per-account"])
    assert (runs["book"].events["action"] == "settlement").sum() > 0  # expiries on 13 March 08:00, inside the window


def test_book_margin_matches_model_margin_account_by_account(crash_path: MarketPath) -> None:
    book = synthetic_book(40, crash_path.snapshot(0), rng=2)
    market = crash_path.snapshot(0, book_expiries(book))
    for name in ("deribit-pm", "derive-pmrm-v2", "deribit-standard"):
        model = get_model(name)
        im, mm, equity = book_margin(model, book, market)
        for k, account in enumerate(book):
            result = model.margin(account, market)
            assert (im[k], mm[k], equity[k]) == pytest.approx((result.initial_margin_usd, result.maintenance_margin_usd, result.equity_usd), rel=1e-9)


def test_pseudo_accounts_and_market_equity(crash_path: MarketPath) -> None:
    book = synthetic_book(20, crash_path.snapshot(0), rng=4)
    market = crash_path.snapshot(0, book_expiries(book))
    state = BookState(book)
    step = StepMarket.build(state, market)
    np.testing.assert_allclose(step.market_equity(state), [market_equity_usd(a, market) for a in book], rtol=1e-12)
    assert state.frozen_accounts() == book
    # a pseudo-account with its first position halved margins like the account with that position halved
    rows, owner = state.rows_of(np.array([0]))
    quantity = state.quantity[rows].copy()
    quantity[0] *= 0.5
    _, mm, _ = BookMargin(FlatRateModel(0.1, 0.05), state, step)(PseudoAccounts(np.array([0]), rows, owner, quantity))
    halved = state.account_at(0, rows, quantity)
    assert mm[0] == pytest.approx(FlatRateModel(0.1, 0.05).margin(halved, market).maintenance_margin_usd)


def test_events_frame_has_reference_dtypes(crash_path: MarketPath) -> None:
    book = synthetic_book(30, crash_path.snapshot(0), rng=1, strategies={"long_perp": 1}, leverage_choices=(20,))
    events = replay(book, FlatRateModel(0.1, 0.05), crash_path).events
    assert events["step"].dtype == np.int64
    assert pd.api.types.is_float_dtype(events["fee_usd"])
    assert not events.empty


@pytest.mark.parametrize("name", ["deribit-pm", "deribit-cross", "hyperliquid"])
def test_book_margin_of_inverse_contracts_and_coin_margined_accounts_matches_the_reference(name: str) -> None:
    """Inverse contracts (USD face value) and coin-margined accounts next to ordinary USD accounts."""
    from marginlab.account import Account
    from marginlab.instruments import Perpetual, Position
    from marginlab.market import MarketSnapshot

    market = MarketSnapshot.from_dict({"as_of": "2025-01-15T00:00:00Z", "assets": {"BTC": {"index_usd": 100_000}, "ETH": {"index_usd": 3_000}}})
    accounts = [
        Account((Position(Perpetual("BTC"), 1.0, entry_price_usd=95_000),), 20_000.0, account_id="usd"),
        Account((Position(Perpetual("BTC", settlement="BTC"), 50_000.0, entry_price_usd=90_000),), 1_000.0, {"BTC": 1.0}, "inverse-usd"),
        Account((Position(Perpetual("BTC", settlement="BTC"), -50_000.0, entry_price_usd=80_000), Position(Perpetual("ETH"), 3.0)),
                5_000.0, {"BTC": 2.0}, "inverse-coin", "BTC"),
        Account((Position(Perpetual("ETH"), -30.0, entry_price_usd=2_000),), 2_000.0, {"BTC": 0.5}, "coin", "BTC"),
    ]
    model = get_model(name)
    if name == "hyperliquid":
        accounts = [a for a in accounts if not a.collateral]
    reference = np.array([[r.initial_margin_usd, r.maintenance_margin_usd, r.equity_usd] for r in (model.margin(a, market) for a in accounts)]).T
    np.testing.assert_allclose(np.array(book_margin(model, accounts, market)), reference, rtol=1e-9, atol=1e-6)
    state = BookState(accounts)
    assert state.to_accounts() == tuple(accounts)  # margin currency kept
    step = StepMarket.build(state, market)
    np.testing.assert_allclose(step.market_equity(state), [market_equity_usd(a, market) for a in accounts], rtol=1e-12)


def test_expired_inverse_future_settles_in_coin_in_both_engines(crash_path: MarketPath) -> None:
    """A long inverse future of 40,000 USD face entered at 8,000 settles at the index S of the first step at or
    after its expiry: ``face x (1/entry - 1/S)`` BTC, worth ``40,000 x (S / 8,000 - 1)`` USD at S (not the linear
    ``40,000 x (S - 8,000)``); its notional is the face."""
    from datetime import UTC, datetime

    from marginlab.account import Account
    from marginlab.instruments import Future, Position

    expiry = datetime(2020, 3, 13, 8, tzinfo=UTC)
    book = [Account((Position(Future("BTC", expiry, settlement="BTC"), 40_000.0, entry_price_usd=8_000.0),), 1_000_000.0, account_id="inv")]
    times = crash_path.times
    settle_step = int(np.flatnonzero(times >= expiry)[0])
    price = float(crash_path.prices_usd["BTC"].iloc[settle_step])
    expected = 40_000.0 * (price / 8_000.0 - 1.0)
    runs = {engine: replay(book, {"flat": FlatRateModel(0.1, 0.05)}, crash_path, engine=engine).runs["flat"] for engine in ("book", "per-account")}
    assert_same_replay(runs["book"], runs["per-account"])
    settled = runs["book"].events.query("action == 'settlement'")
    assert len(settled) == 1
    assert settled["transfer_usd"].iloc[0] == pytest.approx(expected, rel=1e-12)
    assert settled["notional_usd"].iloc[0] == pytest.approx(40_000.0)
    assert runs["book"].accounts_after[0].cash_usd == pytest.approx(1_000_000.0 + expected, rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["fhs-var", "okx-pm", "span-example"])
def test_book_engine_margins_fhs_okx_span_vectorised_and_reproduces_the_reference(preset: str, crash_path: MarketPath) -> None:
    """The three presets go through ``margin_book`` on the book engine (not account by account) and give the
    reference replay; ``fhs-var`` point in time (``model.as_of``: history cut at the close before each step,
    no look-ahead warning) on a seeded book of 80 accounts."""
    import warnings

    from marginlab.analysis.book import is_vectorised
    from marginlab.exceptions import DataWarning

    model = get_model(preset)
    assert is_vectorised(model)
    spec = model.as_of if preset == "fhs-var" else model
    market = crash_path.snapshot(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        strategies = strategies_for_models([spec(market.as_of) if preset == "fhs-var" else model], crash_path)
        book = synthetic_book(80, market, rng=23, strategies=strategies, expiry_days=(2, 30, 60))
        runs = {engine: replay(book, {preset: spec}, crash_path, funding=1.0, engine=engine).runs[preset] for engine in ("book", "per-account")}
    assert_same_replay(runs["book"], runs["per-account"])
    assert runs["book"].events["action"].isin(["partial_liquidation", "full_liquidation"]).any()


# ------------------------------------------------------------------ the calibrated presets on the book engine
@pytest.mark.parametrize("preset", ["calibrated-isolated", "calibrated-cross", "calibrated-portfolio"])
def test_calibrated_presets_are_margined_in_vectorised_calls(preset: str) -> None:
    assert is_vectorised(get_model(preset))


def _btc_eth_calibrated(offset: float):  # type: ignore[no-untyped-def]
    """The example file's BTC entry (MM 6%, IM 8.5%, scan 12%) and an ETH entry at MM 10%, IM 12%, offsets BTC/ETH."""
    from dataclasses import replace

    from marginlab.margin.calibrated import models_from_parameters
    from marginlab.parameters import OffsetParameters, PairOffset

    base = example_parameters()
    eth = replace(base.asset("BTC"), asset="ETH", maintenance_rate=0.10, initial_rate=0.12)
    params = replace(base, assets={"BTC": base.asset("BTC"), "ETH": eth}, offsets=OffsetParameters("hand", {}, (PairOffset("BTC", "ETH", offset),)))
    return models_from_parameters(params)


def _spread_book(crash_path: MarketPath, n: int):  # type: ignore[no-untyped-def]
    """Accounts holding a BTC book and an ETH book (synthetic strategies, both directions), a third with USD collateral.

    A third of the accounts post BTC collateral: an account wiped out while holding it gets a new deficit at each later
    step as BTC keeps falling, deficits that tie but for their last bits (ordered at 40 significant bits by both
    engines, :func:`~marginlab.liquidation.events.ordering_key`)."""
    from dataclasses import replace

    market = crash_path.snapshot(0)
    strategies = {"long_perp": 3, "short_perp": 3, "basis": 1, "covered_call": 1, "put_spread": 1}
    btc = synthetic_book(n, market, rng=21, strategies=strategies, expiry_days=(30, 60), assets=["BTC"])
    eth = synthetic_book(n, market, rng=22, strategies=strategies, expiry_days=(30, 60), assets=["ETH"])
    return tuple(
        replace(a, positions=a.positions + b.positions, cash_usd=a.cash_usd + b.cash_usd,
                collateral={"USD": 2_000.0} if k % 3 == 0 else {"BTC": 0.05} if k % 3 == 1 else {})
        for k, (a, b) in enumerate(zip(btc, eth))
    )


@pytest.mark.parametrize("offset", [0.0, 0.6])
def test_calibrated_portfolio_with_offsets_replays_identically_on_a_btc_eth_spread_book(crash_path: MarketPath, offset: float) -> None:
    model = _btc_eth_calibrated(offset)["calibrated-portfolio"]
    assert is_vectorised(model)
    book = _spread_book(crash_path, 60)
    market = crash_path.snapshot(0, book_expiries(book))
    if offset:
        # credits are formed at the start, on legs of both directions
        totals = model.margin_book(Book.from_accounts(book, market))
        credit = totals.components["inter-underlying credit BTC/ETH maintenance_margin_usd"]
        legs = totals.components["BTC leg"]
        assert (credit[legs > 0] < 0).any() and (credit[legs < 0] < 0).any()
    runs = {engine: replay(book, {"cp": model}, crash_path, funding=1.0, engine=engine).runs["cp"] for engine in ("book", "per-account")}
    assert_same_replay(runs["book"], runs["per-account"])
    assert runs["book"].events["action"].isin(["partial_liquidation", "full_liquidation"]).any()


def test_calibrated_cross_replays_identically_on_a_btc_eth_book_with_collateral(crash_path: MarketPath) -> None:
    model = _btc_eth_calibrated(0.6)["calibrated-cross"]
    book = tuple(a for a in _spread_book(crash_path, 60) if not any(p.instrument.kind == "option" for p in a.positions))
    runs = {engine: replay(book, {"cc": model}, crash_path, funding=1.0, engine=engine).runs["cc"] for engine in ("book", "per-account")}
    assert_same_replay(runs["book"], runs["per-account"])
    assert runs["book"].events["action"].isin(["partial_liquidation", "full_liquidation"]).any()
