"""The risk-matrix engine: closed forms, hand calculations, QuantLib prices and invariants."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.account import Account
from marginlab.book import OPTION, PERPETUAL, SPOT, Book, InstrumentTable, black76_guarded, book_scenario_pnl, revalue_instruments
from marginlab.exceptions import EmptyPortfolioError, InputError, NumericalError, ParameterError
from marginlab.instruments import Future, Option, Perpetual, Position
from marginlab.margin.presets import get_model
from marginlab.margin.risk_matrix import BasisContingency, RiskMatrixModel, StaticDiscount
from marginlab.margin.scenarios import ScenarioGrid, SkewShock, VolShock
from marginlab.market import MarketSnapshot

AS_OF = "2025-01-15T08:00:00Z"
EXPIRY = "2025-02-14T08:00:00Z"  # 30 days
EXPIRY_2 = "2025-03-16T08:00:00Z"  # 60 days


def _market(rate: float = 0.0) -> MarketSnapshot:
    return MarketSnapshot.from_dict(
        {
            "as_of": AS_OF,
            "rate": rate,
            "assets": {
                "BTC": {"index_usd": 100_000, "expiries": {EXPIRY: {"forward_usd": 100_000, "atm_vol": 0.6}, EXPIRY_2: {"forward_usd": 100_000, "atm_vol": 0.55}}},
                "ETH": {"index_usd": 4_000, "expiries": {EXPIRY: {"forward_usd": 4_000, "atm_vol": 0.7}}},
            },
        }
    )


def _option(strike: float, kind: str, expiry: str = EXPIRY, asset: str = "BTC") -> Option:
    return Option(asset, expiry, strike, kind)


GRID = ScenarioGrid.regular(spot_range=0.15, points=7)
MODEL = RiskMatrixModel(GRID, VolShock(up_range=0.5, down_range=0.25, short_term_power=0.3, long_term_power=0.13, min_shocked_vol=0.3))


def test_perpetual_closed_form() -> None:
    # a long perpetual loses |q| * price * 15% in the -15% scenario: 2 * 100,000 * 0.15 = 30,000
    account = Account([Position(Perpetual("BTC"), 2.0)], cash_usd=50_000)
    result = MODEL.margin(account, _market())
    assert result.maintenance_margin_usd == pytest.approx(30_000.0, rel=1e-12)
    assert result.initial_margin_usd == pytest.approx(30_000.0, rel=1e-12)
    assert result.equity_usd == pytest.approx(50_000.0)
    assert result.details["worst_scenario"].startswith("spot -15.0%")
    assert len(result.scenarios) == 21
    assert result.positions["worst_scenario_pnl_usd"].iloc[0] == pytest.approx(-30_000.0)


def test_option_values_match_quantlib_black_formula() -> None:
    table = InstrumentTable.build(
        ["C", "P"], [OPTION, OPTION], ["BTC", "BTC"], index_usd=[100_000.0] * 2, forward_usd=[101_000.0] * 2, strike_usd=[110_000.0, 90_000.0],
        seconds=[45 * 86_400.0] * 2, vol=[0.65, 0.7], rate=[0.03] * 2, is_call=[True, False],
    )
    values = revalue_instruments(table, [0.9, 1.0, 1.2], [1.0, 1.1, 0.8])
    years = 45 / 365
    discount = math.exp(-0.03 * years)
    for s, (x, vm) in enumerate([(0.9, 1.0), (1.0, 1.1), (1.2, 0.8)]):
        call = ql.blackFormula(ql.Option.Call, 110_000.0, 101_000.0 * x, 0.65 * vm * math.sqrt(years), discount)
        put = ql.blackFormula(ql.Option.Put, 90_000.0, 101_000.0 * x, 0.7 * vm * math.sqrt(years), discount)
        assert values[0, s] == pytest.approx(call, rel=1e-10)
        assert values[1, s] == pytest.approx(put, rel=1e-10)


def test_guarded_kernel_edge_cases() -> None:
    # zero total vol -> discounted intrinsic; zero strike -> call = F D, put = 0; zero forward -> put = K D
    assert float(black76_guarded(120.0, 100.0, 0.0, 0.9, True)) == pytest.approx(18.0)
    assert float(black76_guarded(120.0, 100.0, 0.0, 0.9, False)) == 0.0
    assert float(black76_guarded(120.0, 0.0, 0.5, 0.9, True)) == pytest.approx(108.0)
    assert float(black76_guarded(0.0, 100.0, 0.5, 0.9, False)) == pytest.approx(90.0)
    assert float(black76_guarded(100.0, 100.0, 30.0, 1.0, True)) == pytest.approx(100.0)  # V >= 24 -> c = 1


def test_vol_shocks_follow_the_term_structure() -> None:
    # 30-day option, vol 0.6: m = 1, up = max(0.6 * 1.5, 0.3) = 0.9, down = 0.6 * 0.75 = 0.45
    table = InstrumentTable.build(["C"], [OPTION], ["BTC"], index_usd=[100.0], forward_usd=[100.0], strike_usd=[100.0], seconds=[30 * 86_400.0],
                                  vol=[0.6], is_call=[True])
    model = RiskMatrixModel(ScenarioGrid((1.0, 1.0, 1.0), ("up", "none", "down")),
                            VolShock(up_range=0.5, down_range=0.25, short_term_power=0.3, long_term_power=0.13))
    book = Book.build(table, [0], [0], [1.0])
    pnl = model.margin_book(book, keep_scenarios=True).scenario_pnl_usd[0]
    years = 30 / 365
    base = ql.blackFormula(ql.Option.Call, 100.0, 100.0, 0.6 * math.sqrt(years), 1.0)
    assert pnl[0] == pytest.approx(ql.blackFormula(ql.Option.Call, 100.0, 100.0, 0.9 * math.sqrt(years), 1.0) - base, rel=1e-10)
    assert pnl[1] == pytest.approx(0.0, abs=1e-12)
    assert pnl[2] == pytest.approx(ql.blackFormula(ql.Option.Call, 100.0, 100.0, 0.45 * math.sqrt(years), 1.0) - base, rel=1e-10)


def test_naked_short_contingency_nets_calls_and_puts_per_strike() -> None:
    # per strike n = max(-(calls + puts), 0): K=100k: -2 calls + 1 put -> 1; K=110k: -1 put -> 1 (no offset across strikes)
    market = _market()
    positions = [Position(_option(100_000, "call"), -2.0), Position(_option(100_000, "put"), 1.0), Position(_option(110_000, "put"), -1.0)]
    model = RiskMatrixModel(ScenarioGrid((1.0,), ("none",)), option_contingency_mm=0.01, option_contingency_im=0.005)
    result = model.margin(Account(positions), market)
    components = result.components.set_index("component")
    # 2 naked options x 100,000 index x 1% = 2,000 (MM); IM adds 0.5% = 1,000
    assert components.loc["naked short option contingency", "maintenance_margin_usd"] == pytest.approx(2_000.0)
    assert components.loc["naked short option contingency", "initial_margin_usd"] == pytest.approx(3_000.0)


def test_static_discount_and_basis_contingency_hand_numbers() -> None:
    # static discount: long = 0.95 exp(-0.5 (0.1 * 1 + 0.08)) = 0.95 e^-0.09; short = min(e^0.05, 1.04 e^(0.5 (0.05 + 0.08)))
    long, short = StaticDiscount().factors(0.5, 0.1)
    assert float(long) == pytest.approx(0.95 * math.exp(-0.09), rel=1e-14)
    assert float(short) == pytest.approx(min(math.exp(0.05), 1.04 * math.exp(0.065)), rel=1e-14)
    # basis contingency of a long call, vols unchanged: min(V(1.0001 F) - V, V(0.955 F) - V, 0) * (0.5 + 2 * years)
    table = InstrumentTable.build(["C"], [OPTION], ["BTC"], index_usd=[100.0], forward_usd=[100.0], strike_usd=[100.0], seconds=[73 * 86_400.0],
                                  vol=[0.5], is_call=[True])
    model = RiskMatrixModel(ScenarioGrid((1.0,), ("none",)), basis_contingency=BasisContingency())
    result = model.margin_book(Book.build(table, [0], [0], [1.0]))
    years = 0.2
    v = [ql.blackFormula(ql.Option.Call, 100.0, f, 0.5 * math.sqrt(years), 1.0) for f in (100.0, 100.01, 95.5)]
    expected = min(v[1] - v[0], v[2] - v[0], 0.0) * (0.5 + 2.0 * years)
    assert result.basis_contingency_usd[0] == pytest.approx(expected, rel=1e-10)
    assert result.maintenance_margin_usd[0] == pytest.approx(-expected, rel=1e-10)
    assert result.worst_scenario[0] == 1  # the basis contingency (index n_scenarios)


def test_skew_shock_multiplier_hand_calculation() -> None:
    # SPEC §9 numbers (test_16, expiry 1): k = 0.220556, cap = 0.134038, k* = 0.725420 -> 1 + k cap / k* = 1.040753
    seconds = 3_214_052
    years = seconds / 31_536_000
    linear, absolute = SkewShock().raw_multipliers(120_000.0, 96_248.76561417685, years)
    q = math.sqrt(years)
    cap = -0.05 * q + 0.15
    k_star = max(0.01, q * 4.0 * (0.6 - 0.1 * q))
    k = math.log(120_000.0 / 96_248.76561417685)
    assert float(linear) == pytest.approx(1 + min(cap, k * cap / k_star), rel=1e-14)
    assert float(linear) == pytest.approx(1.040753, abs=1e-6)
    assert float(absolute) == float(linear)  # k > 0


def test_margin_book_equals_single_account_margins_and_is_chunk_invariant() -> None:
    market = _market(0.02)
    accounts = [
        Account([Position(Perpetual("BTC"), 1.5), Position(_option(90_000, "put"), -3.0)], cash_usd=10_000, account_id="a"),
        Account([Position(_option(110_000, "call", EXPIRY_2), 2.0), Position(Future("ETH", EXPIRY), -20.0)], collateral={"ETH": 3.0}, account_id="b"),
        Account([Position(_option(100_000, "call"), -1.0), Position(_option(100_000, "put"), -1.0), Position(Perpetual("ETH"), 5.0)], account_id="c"),
    ]
    model = replace(MODEL, linear_contingency_mm=0.01, option_contingency_mm=0.003)
    book = Book.from_accounts(accounts, market)
    whole = model.margin_book(book, keep_scenarios=True)
    chunked = replace(model, chunk_accounts=1).margin_book(book, keep_scenarios=True)
    np.testing.assert_allclose(whole.initial_margin_usd, chunked.initial_margin_usd, rtol=1e-13)
    np.testing.assert_allclose(whole.scenario_pnl_usd, chunked.scenario_pnl_usd, rtol=1e-13, atol=1e-9)
    for i, account in enumerate(accounts):
        single = model.margin(account, market)
        assert single.maintenance_margin_usd == pytest.approx(whole.maintenance_margin_usd[i], rel=1e-13)
        assert single.initial_margin_usd == pytest.approx(whole.initial_margin_usd[i], rel=1e-13)
    # multi-asset account c: risk units add up (BTC straddle + ETH perp, worst losses summed)
    frame = whole.frame()
    assert list(frame["account_id"]) == ["a", "b", "c"]


def test_book_scenario_pnl_for_other_engines() -> None:
    table = InstrumentTable.build(["BTC-PERP", "ETH"], [PERPETUAL, SPOT], ["BTC", "ETH"], price_usd=[100.0, 10.0])
    book = Book.build(table, [0, 0, 1], [0, 1, 1], [2.0, 3.0, -1.0])
    # per-asset multipliers: BTC x 0.9 / 1.1, ETH x 1.2 / 0.8
    pnl = book_scenario_pnl(book, [[0.9, 1.1], [1.2, 0.8]], np.ones((2, 2)))
    np.testing.assert_allclose(pnl, [[2 * -10 + 3 * 2, 2 * 10 + 3 * -2], [-1 * 2, -1 * -2]])


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ParameterError, match="skew_shock"):
        RiskMatrixModel(ScenarioGrid((1.0,), ("linear",)))
    with pytest.raises(ParameterError, match="mm_loss_factor"):
        RiskMatrixModel(GRID, mm_loss_factor=-1.0)
    with pytest.raises(ParameterError, match="vol_shock"):
        ScenarioGrid((1.0,), ("sideways",))
    with pytest.raises(ParameterError, match="spot_shock"):
        ScenarioGrid((float("nan"),), ("none",))
    with pytest.raises(InputError, match="vol"):
        InstrumentTable.build(["C"], [OPTION], ["BTC"], index_usd=[1.0], forward_usd=[1.0], strike_usd=[1.0], seconds=[1.0], vol=[-0.5])
    table = InstrumentTable.build(["P"], [PERPETUAL], ["BTC"], price_usd=[1.0])
    with pytest.raises(InputError, match="quantity"):
        Book.build(table, [0], [0], [float("inf")])
    with pytest.raises(InputError, match="instrument"):
        Book.build(table, [0], [3], [1.0])
    with pytest.raises(EmptyPortfolioError):
        MODEL.margin(Account([], cash_usd=10.0), _market())


def test_hedged_strategy_needs_less_than_isolated_margin() -> None:
    # a short call covered by a long perpetual: portfolio margin < sum of isolated requirements
    market = _market()
    account = Account([Position(_option(110_000, "call"), -1.0), Position(Perpetual("BTC"), 1.0)], cash_usd=50_000)
    isolated = get_model("deribit-standard").margin(account, market)
    portfolio = get_model("deribit-pm").margin(account, market)
    assert portfolio.initial_margin_usd < isolated.initial_margin_usd


# ---------------------------------------------------------------------------------- properties
_instrument_strategy = st.sampled_from(
    [Perpetual("BTC"), Future("BTC", EXPIRY), _option(90_000, "put"), _option(100_000, "call"), _option(120_000, "call", EXPIRY_2),
     Perpetual("ETH"), _option(4_000, "put", asset="ETH")]
)
_positions = st.lists(st.tuples(_instrument_strategy, st.floats(-5, 5, allow_nan=False).filter(lambda q: abs(q) > 1e-3)), min_size=1, max_size=6)
_PROPERTY_MODEL = replace(MODEL, linear_contingency_mm=0.01, option_contingency_mm=0.003, option_contingency_im=0.002,
                          static_discount=StaticDiscount(), basis_contingency=BasisContingency())


@settings(max_examples=40, deadline=None)
@given(_positions)
def test_property_margin_non_negative_and_hedge_is_free(items) -> None:  # type: ignore[no-untyped-def]
    market = _market(0.03)
    account = Account([Position(i, q) for i, q in items])
    result = _PROPERTY_MODEL.margin(account, market)
    assert result.maintenance_margin_usd >= 0 and result.initial_margin_usd >= result.maintenance_margin_usd - 1e-9
    hedged = Account([*account.positions, *[Position(i, -q) for i, q in items]])
    hedged_result = _PROPERTY_MODEL.margin(hedged, market)
    assert hedged_result.maintenance_margin_usd == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(hedged_result.scenarios["pnl_usd"], 0.0, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(_positions, st.integers(0, 10_000), st.floats(0.1, 0.9))
def test_property_split_and_permutation_invariance(items, seed, share) -> None:  # type: ignore[no-untyped-def]
    market = _market(0.03)
    positions = [Position(i, q) for i, q in items]
    base = _PROPERTY_MODEL.margin(Account(positions), market)
    split = [piece for p in positions for piece in (Position(p.instrument, p.quantity * share), Position(p.instrument, p.quantity * (1 - share)))]
    order = np.random.default_rng(seed).permutation(len(split))
    shuffled = _PROPERTY_MODEL.margin(Account([split[i] for i in order]), market)
    assert shuffled.maintenance_margin_usd == pytest.approx(base.maintenance_margin_usd, rel=1e-9, abs=1e-6)
    assert shuffled.initial_margin_usd == pytest.approx(base.initial_margin_usd, rel=1e-9, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(_positions, st.floats(0.1, 10.0))
def test_property_scan_loss_is_positively_homogeneous(items, factor) -> None:  # type: ignore[no-untyped-def]
    market = _market(0.03)
    positions = [Position(i, q) for i, q in items]
    scaled = [Position(i, q * factor) for i, q in items]
    a = _PROPERTY_MODEL.margin(Account(positions), market)
    b = _PROPERTY_MODEL.margin(Account(scaled), market)
    assert b.maintenance_margin_usd == pytest.approx(factor * a.maintenance_margin_usd, rel=1e-9, abs=1e-6)


def test_book_summary_counts_accounts_below_margin() -> None:
    table = InstrumentTable.build(["BTC-PERP"], [PERPETUAL], ["BTC"], price_usd=[100.0])
    book = Book.build(table, [0, 1], [0, 0], [1.0, 1.0], cash_usd=[100.0, 5.0])
    result = RiskMatrixModel(ScenarioGrid((0.9, 1.1), ("none", "none"))).margin_book(book)
    # each account needs 10 (10% of 100); account 1 has equity 5 < 10
    assert result.maintenance_margin_usd.tolist() == [10.0, 10.0]
    assert "accounts below maintenance: 1" in result.summary()


@settings(max_examples=25, deadline=None)
@given(_positions, st.integers(0, 10_000))
def test_property_derive_preset_invariants(items, seed) -> None:  # type: ignore[no-untyped-def]
    """The full Derive configuration (skew rotations, static discounts, basis, contingencies): margin >= 0,
    hedge is free, permutation and split invariance."""
    model = get_model("derive-pmrm-v2")
    market = _market(0.03)
    positions = [Position(i, q) for i, q in items]
    base = model.margin(Account(positions), market)
    assert base.maintenance_margin_usd >= 0 and base.initial_margin_usd >= base.maintenance_margin_usd - 1e-9
    split = [piece for p in positions for piece in (Position(p.instrument, 0.3 * p.quantity), Position(p.instrument, 0.7 * p.quantity))]
    order = np.random.default_rng(seed).permutation(len(split))
    other = model.margin(Account([split[i] for i in order]), market)
    assert other.initial_margin_usd == pytest.approx(base.initial_margin_usd, rel=1e-9, abs=1e-6)
    hedged = model.margin(Account([*positions, *[Position(p.instrument, -p.quantity) for p in positions]]), market)
    assert hedged.initial_margin_usd == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------- several underlyings (issue 11 item 7)
PERP_GRID = RiskMatrixModel(ScenarioGrid.regular(spot_range=0.10, points=3, vol_shocks=("none",)))


def test_btc_eth_account_scan_risk_per_underlying_adds_up() -> None:
    # Hand-worked: +1 BTC perpetual at 100,000 and -10 ETH perpetual at 4,000, spot moves -10%, 0, +10%.
    # BTC's worst scenario is -10%: loss 1 x 100,000 x 10% = 10,000 (ETH gains 4,000 in it).
    # ETH's worst scenario is +10%: loss 10 x 4,000 x 10% = 4,000 (BTC gains 10,000 in it).
    # Scan risk = 10,000 + 4,000 = 14,000, although no single scenario loses more than 6,000.
    account = Account([Position(Perpetual("BTC"), 1.0), Position(Perpetual("ETH"), -10.0)], cash_usd=50_000)
    result = PERP_GRID.margin(account, _market())
    assert result.maintenance_margin_usd == pytest.approx(14_000.0, rel=1e-12)
    assert -result.scenarios["pnl_usd"].min() == pytest.approx(6_000.0, rel=1e-12)
    table = result.details["scan_risk_by_underlying"].set_index("underlying")
    assert table.loc["BTC", "worst_scenario"] == "spot -10.0%, vol none"
    assert table.loc["ETH", "worst_scenario"] == "spot +10.0%, vol none"
    assert table.loc["BTC", "loss_usd"] == pytest.approx(10_000.0) and table.loc["ETH", "loss_usd"] == pytest.approx(4_000.0)
    components = result.components.set_index("component")
    assert components.loc["scan risk BTC", "maintenance_margin_usd"] == pytest.approx(10_000.0)
    assert components.loc["scan risk ETH", "maintenance_margin_usd"] == pytest.approx(4_000.0)
    assert result.to_frame().set_index("component").loc["total", "maintenance_margin_usd"] == pytest.approx(14_000.0)
    # each position's P&L is in the worst scenario of its own underlying
    positions = result.positions.set_index("symbol")
    assert positions.loc["BTC-PERPETUAL", "worst_scenario_pnl_usd"] == pytest.approx(-10_000.0)
    assert positions.loc["ETH-PERPETUAL", "worst_scenario_pnl_usd"] == pytest.approx(-4_000.0)
    assert positions.loc["ETH-PERPETUAL", "worst_scenario"] == "spot +10.0%, vol none"
    # the summary shows one row per underlying and their sum, not one misleading "worst scenario"
    text = result.summary()
    assert "Scan risk by underlying" in text and "Worst scenario:" not in text
    total_line = [line for line in text.splitlines() if line.strip().startswith("total") and "14,000.00" in line]
    assert total_line, text
    assert "BTC 10,000.00 USD in 'spot -10.0%, vol none'; ETH 4,000.00 USD in 'spot +10.0%, vol none'" in result.notes[0]


def test_calibrated_per_underlying_model_shows_one_scan_row_per_underlying() -> None:
    from marginlab.margin.calibrated import calibrated_portfolio

    model = calibrated_portfolio(_btc_eth_parameters())
    account = Account([Position(Perpetual("BTC"), 1.0), Position(Perpetual("ETH"), -10.0)], cash_usd=50_000)
    result = model.margin(account, _market())
    # a lone perpetual is charged its calibrated rate (6% MM) per underlying: 6,000 + 10 x 4,000 x 6% = 8,400
    table = result.scan_risk_table().set_index("underlying")
    assert table.loc["BTC", "maintenance_margin_usd"] == pytest.approx(6_000.0, rel=1e-12)
    assert table.loc["ETH", "maintenance_margin_usd"] == pytest.approx(2_400.0, rel=1e-12)
    assert table.loc["total", "maintenance_margin_usd"] == pytest.approx(result.maintenance_margin_usd, rel=1e-12)
    assert table.loc["ETH", "worst_scenario"].startswith("spot +")
    assert {"scan risk BTC", "scan risk ETH"} <= set(result.components["component"])


def test_split_rows_give_per_position_rows_that_add_up() -> None:
    # 1 BTC perpetual in three fills: the same margin as one row, and three position rows whose
    # worst-scenario P&Ls add up to the netted instrument's (-10,000)
    fills = [Position(Perpetual("BTC"), q) for q in (0.5, 0.25, 0.25)] + [Position(Perpetual("ETH"), -10.0)]
    split = PERP_GRID.margin(Account(fills), _market())
    one = PERP_GRID.margin(Account([Position(Perpetual("BTC"), 1.0), Position(Perpetual("ETH"), -10.0)]), _market())
    assert split.maintenance_margin_usd == one.maintenance_margin_usd
    assert len(split.positions) == 4
    btc = split.positions[split.positions["underlying"] == "BTC"]
    assert btc["worst_scenario_pnl_usd"].tolist() == pytest.approx([-5_000.0, -2_500.0, -2_500.0])
    assert btc["worst_scenario_pnl_usd"].sum() == pytest.approx(-10_000.0)


def test_margin_book_overflow_raises_numerical_error_naming_the_account() -> None:
    table = InstrumentTable.build(["BTC-PERP"], [PERPETUAL], ["BTC"], price_usd=[100_000.0])
    book = Book.build(table, [0, 1], [0, 0], [1.0, -1e306], cash_usd=[0.0, 1e306], account_ids=["fine", "huge"])
    with pytest.raises(NumericalError, match=r"margin_usd\[huge\]"):
        PERP_GRID.margin_book(book)


def _btc_eth_parameters():  # type: ignore[no-untyped-def]
    """The package's example parameter set (BTC) with ETH given the same record."""
    import dataclasses

    from marginlab.parameters import example_parameters

    example = example_parameters()
    eth = dataclasses.replace(example.assets["BTC"], asset="ETH")
    return dataclasses.replace(example, assets={**example.assets, "ETH": eth})
