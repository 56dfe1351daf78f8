"""Inverse contracts, coin-settled options and coin-margined accounts.

Every expected number is worked by hand in the test. Sources:

* Deribit, "Futures" contract specifications (https://test.deribit.com/pages/docs/futures and
  https://legacy.deribit.com/pages/docs/futures, read 2026-12-01): BTC futures are "1 USD per
  Index Point, with contract size USD 10", cash-settled in BTC; initial margin "2% + size/100 x
  0.5%": "Your position is 25 BTC in size: initial margin is 2% + 25/100 *0.5% = 2.125%
  (= 0.53125 BTC)"; worked example C1 (MM 1% + size x 0.005%).
* Deribit Insights, "Deribit Inverse Contracts -- Calculating Profit in BTC and USD"
  (Cryptarbitrage, 2020-06-23): P&L in BTC = size_USD x (1/entry - 1/exit).
* R. Romano, "Trading bitcoin inverse futures contracts" (Medium, 2019-06-13,
  https://romanornr.medium.com/trading-bitcoin-inverse-futures-contracts-dbdccae9eddd):
  short 16,000 USD at 8,000 closed at 10,000 -> (1/10000 - 1/8000) x 16000 = -0.4 BTC.
* Deribit standard option margin (worked example C2; TSLab, "Deribit Margin Requirements
  Calculation", https://doc.tslab.pro/tslab/eng/data-providers/connection-to-broker/deribit-cryptocurrency-exchange/deribit-margin-requirements-calculation,
  read 2026-12-01): short call IM = max(0.15 - OTM/underlying, 0.1) + mark, MM = 0.075 + mark;
  short put IM = max(max(0.15 - OTM/underlying, 0.1) + mark, MM), MM = max(0.075, 0.075 x mark) + mark.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.account import Account
from marginlab.book import Book
from marginlab.exceptions import InputError
from marginlab.instruments import Future, Option, Perpetual, Position
from marginlab.margin.isolated import CoinOptionRule, deribit_standard, inverse_liquidation_prices
from marginlab.margin.presets import available_models, get_model
from marginlab.margin.risk_matrix import RiskMatrixModel
from marginlab.margin.scenarios import ScenarioGrid
from marginlab.market import MarketSnapshot
from marginlab.pricing import black76_price
from marginlab.valuation import equity_usd, value_positions

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPIRY = "2025-03-28T08:00:00Z"


def market_at(index_usd: float, vol: float = 0.6) -> MarketSnapshot:
    return MarketSnapshot.from_dict(
        {"as_of": "2025-01-15T08:00:00Z", "assets": {"BTC": {"index_usd": index_usd, "expiries": {EXPIRY: {"forward_usd": index_usd, "atm_vol": vol}}},
                                                     "ETH": {"index_usd": 3_000.0}}}
    )


INVERSE_PERP = Perpetual("BTC", settlement="BTC")


# ------------------------------------------------------------------ inverse P&L
def test_coin_settled_option_has_the_usd_value_of_the_linear_one() -> None:
    market = market_at(100_000.0)
    coin = Option("BTC", EXPIRY, 90_000, "put", settlement="BTC")
    usd = Option("BTC", EXPIRY, 90_000, "put")
    values = value_positions([Position(coin, -1.0), Position(usd, -1.0)], market)
    assert values.value_usd[0] == values.value_usd[1]
    years = market.time_to_expiry_years(coin.expiry)
    mark = float(black76_price(100_000.0, 90_000.0, years, 0.6, 0.0, False))
    assert values.value_in("BTC", 100_000.0)[0] == pytest.approx(-mark / 100_000.0, rel=1e-12)


# ------------------------------------------------------------------ Deribit standard margin in coin
def test_deribit_standard_inverse_perpetual_published_example() -> None:
    # 2,500,000 USD face at 100,000 = 25 BTC. IM = (2% + 25 x 0.005%) = 2.125% x 25 BTC = 0.53125 BTC (Deribit's
    # own example); MM = (1% + 25 x 0.005%) = 1.125% x 25 = 0.28125 BTC; in USD at the index: 53,125 and 28,125.
    account = Account([Position(INVERSE_PERP, 2_500_000.0)], collateral={"BTC": 1.0}, margin_currency="BTC")
    result = deribit_standard().margin(account, market_at(100_000.0))
    assert result.initial_margin_usd == pytest.approx(53_125.0, rel=1e-12)
    assert result.maintenance_margin_usd == pytest.approx(28_125.0, rel=1e-12)
    assert result.currency == "BTC" and result.currency_price_usd == 100_000.0
    view = result.currency_totals()
    assert view.loc["initial_margin", "BTC"] == pytest.approx(0.53125, rel=1e-12)
    assert view.loc["maintenance_margin", "BTC"] == pytest.approx(0.28125, rel=1e-12)
    assert view.loc["equity", "BTC"] == pytest.approx(1.0)  # 1 BTC collateral, entered at the mark
    assert view.loc["margin_ratio", "BTC"] == pytest.approx(view.loc["margin_ratio", "USD"])  # 1 / 0.28125
    assert result.positions["initial_margin_settlement"].iloc[0] == pytest.approx(0.53125, rel=1e-12)
    assert result.positions["settlement"].iloc[0] == "BTC"


def test_deribit_standard_coin_option_formulas_by_hand() -> None:
    rule = CoinOptionRule()
    index = np.array([100_000.0] * 4)
    strike = np.array([110_000.0, 95_000.0, 90_000.0, 110_000.0])
    mark_btc = np.array([0.02, 0.03, 0.12, 0.02])
    is_call = np.array([True, False, True, True])
    quantity = np.array([-1.0, -1.0, -1.0, 2.0])
    im, mm = rule.requirements(quantity, index, index, strike, mark_btc * index, is_call)
    im_btc, mm_btc = im / index, mm / index
    # short call 110k, S 100k: OTM 10,000 -> 0.15 - 0.10 = 0.05 -> max(0.05, 0.1) = 0.10; IM = 0.10 + 0.02 = 0.12 BTC;
    # MM = 0.075 + 0.02 = 0.095 BTC
    assert im_btc[0] == pytest.approx(0.12) and mm_btc[0] == pytest.approx(0.095)
    # short put 95k: OTM 5,000 -> 0.15 - 0.05 = 0.10 -> 0.10 + 0.03 = 0.13; MM = max(0.075, 0.075 x 0.03) + 0.03 = 0.105;
    # IM = max(0.13, 0.105) = 0.13 BTC
    assert im_btc[1] == pytest.approx(0.13) and mm_btc[1] == pytest.approx(0.105)
    # short in-the-money call 90k: OTM 0 -> 0.15 + 0.12 = 0.27 BTC; MM = 0.075 + 0.12 = 0.195 BTC
    assert im_btc[2] == pytest.approx(0.27) and mm_btc[2] == pytest.approx(0.195)
    # long 2 calls: the premium, 2 x 0.02 = 0.04 BTC (IM = MM)
    assert im_btc[3] == pytest.approx(0.04) and mm_btc[3] == pytest.approx(0.04)


def test_deribit_standard_coin_settled_short_put_through_the_model() -> None:
    market = market_at(100_000.0)
    put = Option("BTC", EXPIRY, 80_000, "put", settlement="BTC")
    result = deribit_standard().margin(Account([Position(put, -2.0)], collateral={"BTC": 2.0}, margin_currency="BTC"), market)
    mark_btc = float(black76_price(100_000.0, 80_000.0, market.time_to_expiry_years(put.expiry), 0.6, 0.0, False)) / 100_000.0
    # OTM = 20,000 -> 0.15 - 0.2 < 0.1 -> 0.1; IM = 2 x (0.1 + mark); MM = 2 x (max(0.075, 0.075 mark) + mark)
    assert result.currency_totals().loc["initial_margin", "BTC"] == pytest.approx(2 * (0.1 + mark_btc), rel=1e-12)
    assert result.currency_totals().loc["maintenance_margin", "BTC"] == pytest.approx(2 * (0.075 + mark_btc), rel=1e-12)


def test_coin_option_rule_describe_states_call_and_put_formulas() -> None:
    text = CoinOptionRule().describe()
    assert "short call IM = max(0.15 - OTM/S, 0.1) + mark, MM = 0.075 + mark" in text
    assert "short put MM = max(0.075, 0.075 x mark) + mark, IM = max(max(0.15 - OTM/S, 0.1) + mark, MM)" in text


def test_inverse_isolated_liquidation_prices_by_hand() -> None:
    # long 100,000 USD face at 50,000 (2 BTC), collateral 2 BTC (1x), MM rate 1% + 2 x 0.005% = 1.01%:
    # equity 2 + 100000 (1/50000 - 1/P) = 4 - 100000/P equals MM 0.0101 x 100000 / P = 1010 / P at P = 101010 / 4 = 25,252.5
    market = market_at(50_000.0)
    long = Position(INVERSE_PERP, 100_000.0, entry_price_usd=50_000, isolated_collateral_usd=100_000.0)
    prices = inverse_liquidation_prices(np.array([100_000.0, -100_000.0]), np.array([50_000.0] * 2), np.array([2.0, 2.0]), np.array([0.0101, 0.0101]))
    assert prices[0] == pytest.approx(25_252.5, rel=1e-12)
    # the 1x short (collateral 2 BTC = face / entry) is never liquidated: C + f/E = 2 - 2 = 0
    assert math.isnan(prices[1])
    # through the model, one long alone: same closed form with Deribit's size-dependent rate
    alone = deribit_standard().margin(Account([long]), market).positions
    assert alone["maintenance_rate"].iloc[0] == pytest.approx(0.0101, rel=1e-12)
    assert alone["liquidation_price_usd"].iloc[0] == pytest.approx(25_252.5, rel=1e-9)


# ------------------------------------------------------------------ scenario engine in coin
GRID = ScenarioGrid.regular(spot_range=0.20, points=3, vol_shocks=("none",))


def test_risk_matrix_inverse_short_perpetual_usd_and_coin_accounts() -> None:
    market = market_at(100_000.0)
    model = RiskMatrixModel(GRID)
    short = Position(INVERSE_PERP, -100_000.0)
    # USD account: P&L = f (1/E - 1/(F x)) S x - 0 = f S (x - 1) / E -> worst at x = 1.2: -100000 x 0.2 = -20,000 USD
    usd = model.margin(Account([short], cash_usd=50_000.0), market)
    assert usd.maintenance_margin_usd == pytest.approx(20_000.0, rel=1e-12)
    assert usd.currency == "USD"
    # BTC account: coin P&L = -100000 (1/100000 - 1/120000) = -1/6 BTC at x = 1.2 (at x = 0.8: +0.25 BTC)
    # -> 1/6 BTC x 100,000 = 16,666.67 USD at today's price
    coin = model.margin(Account([short], collateral={"BTC": 1.0}, margin_currency="BTC"), market)
    assert coin.maintenance_margin_usd == pytest.approx(100_000.0 / 6.0, rel=1e-12)
    assert coin.currency_totals().loc["maintenance_margin", "BTC"] == pytest.approx(1.0 / 6.0, rel=1e-12)
    assert coin.details["worst_scenario"] == "spot +20.0%, vol none"


def test_risk_matrix_coin_margined_short_put_loses_more_in_the_crash() -> None:
    market = market_at(100_000.0)
    model = RiskMatrixModel(GRID)
    put = Option("BTC", EXPIRY, 100_000, "put", settlement="BTC")
    years = market.time_to_expiry_years(put.expiry)
    p0 = float(black76_price(100_000.0, 100_000.0, years, 0.6, 0.0, False))
    p_down = float(black76_price(80_000.0, 100_000.0, years, 0.6, 0.0, False))
    usd = model.margin(Account([Position(put, -1.0)], cash_usd=100_000.0), market)
    coin = model.margin(Account([Position(put, -1.0)], collateral={"BTC": 1.0}, margin_currency="BTC"), market)
    # USD: loss = P(80k) - P(100k); coin: -(-P(80k)/(80k) + P(100k)/(100k)) BTC = (P(80k)/0.8 - P(100k)) USD at today's price
    assert usd.maintenance_margin_usd == pytest.approx(p_down - p0, rel=1e-10)
    assert coin.maintenance_margin_usd == pytest.approx(p_down / 0.8 - p0, rel=1e-10)
    assert coin.maintenance_margin_usd > usd.maintenance_margin_usd


def test_book_of_usd_accounts_is_unchanged_by_the_numeraire_machinery() -> None:
    market = market_at(100_000.0)
    account = Account([Position(Perpetual("BTC"), 1.0), Position(Option("BTC", EXPIRY, 90_000, "put"), -1.0)], cash_usd=10_000.0,
                      collateral={"BTC": 0.5})
    book = Book.from_accounts([account], market)
    assert book.instruments.numeraire is None
    assert not any("@" in s for s in book.instruments.symbol)


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(InputError, match="margin_currency"):
        Account(margin_currency="btc usd")
    with pytest.raises(InputError, match="settlement"):
        Perpetual("ETH", settlement="BTC")  # quanto
    with pytest.raises(InputError, match="settlement"):
        Future("BTC", EXPIRY, settlement="EUR")
    with pytest.raises(InputError, match="price_usd"):
        value_positions([Position(INVERSE_PERP, 1.0)], market_at(100.0)).value_in("BTC", 0.0)


# ------------------------------------------------------------------ properties
@settings(max_examples=40, deadline=None)
@given(collateral_btc=st.floats(0.1, 10.0), fall=st.floats(0.01, 0.7), strike=st.floats(60_000.0, 140_000.0))
def test_coin_collateral_short_put_loses_more_than_usd_collateral_in_a_fall(collateral_btc: float, fall: float, strike: float) -> None:
    before, after = market_at(100_000.0), market_at(100_000.0 * (1.0 - fall))
    put = Position(Option("BTC", EXPIRY, strike, "put", settlement="BTC"), -1.0)
    coin = Account([put], collateral={"BTC": collateral_btc}, margin_currency="BTC")
    usd = Account([put], cash_usd=collateral_btc * 100_000.0)

    def change(account: Account) -> float:
        return (equity_usd(account.cash_usd, account.collateral, value_positions(account.positions, after), after)
                - equity_usd(account.cash_usd, account.collateral, value_positions(account.positions, before), before))

    # both lose the put's rise; the coin account also loses collateral x the fall (the wrong-way effect)
    assert change(coin) < change(usd)
    assert change(coin) - change(usd) == pytest.approx(-collateral_btc * 100_000.0 * fall, rel=1e-9)


# ------------------------------------------------------------------ examples and presets
def _example_market() -> MarketSnapshot:
    return MarketSnapshot.load(EXAMPLES / "market_2025-01-15.yaml")


#: Presets that decline the example's instruments with a clear one-line error (they list no options)
#: or need a parameter file written by `marginlab calibrate`: they do not claim to handle it.
DECLINES = ("does not margin options", "MARGINLAB_PARAMETER_FILE")


@pytest.mark.filterwarnings("ignore::marginlab.exceptions.DataWarning")
@pytest.mark.parametrize("example", ["account_btc_options.yaml", "account_btc_coin_margined.yaml"])
@pytest.mark.parametrize("preset", list(available_models()["name"]))
def test_every_preset_that_handles_the_example_margins_it(example: str, preset: str) -> None:
    account = Account.load(EXAMPLES / example)
    try:
        result = get_model(preset).margin(account, _example_market())
    except InputError as error:
        assert any(reason in str(error) for reason in DECLINES), error
        return
    assert math.isfinite(result.initial_margin_usd) and result.initial_margin_usd >= result.maintenance_margin_usd >= 0
    assert result.currency == account.margin_currency  # every engine reports in the account's currency and in USD
    # a requirement below 100% of the example's gross notional (about 1.3M USD): no face-value-as-coins blow-up
    assert result.initial_margin_usd < 1_500_000


def test_coin_margined_example_reads_deribit_names() -> None:
    account = Account.load(EXAMPLES / "account_btc_coin_margined.yaml")
    assert account.margin_currency == "BTC" and account.is_coin_margined
    perpetual = account.positions[2]
    assert perpetual.instrument == INVERSE_PERP and perpetual.quantity == -150_000.0
    assert perpetual.instrument.deribit_symbol == "BTC-PERPETUAL"
    assert account.positions[0].instrument.deribit_symbol == "BTC-28MAR25-90000-P"
    assert account.positions[4].instrument == Perpetual("ETH", settlement="USDC")
    again = Account.from_dict(account.to_dict())
    assert again.positions == account.positions and again.margin_currency == "BTC"


def test_risk_matrix_inverse_with_an_entry_price_in_a_usd_account() -> None:
    # short 100,000 USD face entered at 80,000, mark = index = 100,000:
    # mark-to-market = -100000 (1/80000 - 1/100000) x 100000 = -25,000 USD; at x = 1.2 the USD value is
    # -100000 (1/80000 - 1/120000) x 120000 = -50,000: a further loss of f S (x - 1) / E = 100000 x 100000 x 0.2 / 80000 = 25,000
    market = market_at(100_000.0)
    result = RiskMatrixModel(GRID).margin(Account([Position(INVERSE_PERP, -100_000.0, entry_price_usd=80_000)], cash_usd=60_000.0), market)
    assert result.equity_usd == pytest.approx(60_000.0 - 25_000.0, rel=1e-12)
    assert result.maintenance_margin_usd == pytest.approx(25_000.0, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(strike=st.floats(60_000.0, 140_000.0), vol=st.floats(0.2, 1.5), quantity=st.floats(0.1, 5.0))
def test_coin_margined_short_put_needs_more_scenario_margin_than_in_usd(strike: float, vol: float, quantity: float) -> None:
    # in the down scenarios the coin account's loss L / x exceeds L (x < 1); a short put's worst scenario is down
    market = market_at(100_000.0, vol)
    put = Position(Option("BTC", EXPIRY, strike, "put", settlement="BTC"), -quantity)
    model = RiskMatrixModel(GRID)
    usd = model.margin(Account([put], cash_usd=1e6), market).maintenance_margin_usd
    coin = model.margin(Account([put], collateral={"BTC": 10.0}, margin_currency="BTC"), market).maintenance_margin_usd
    assert coin >= usd * (1 - 1e-12)


def test_usd_cash_of_a_coin_account_is_revalued_in_coin() -> None:
    # BTC account short 1 put (K 100k) with 50,000 USD of cash: at x = 0.8 the put costs P(80k)/0.8 - P(100k) at today's
    # price, the cash gains 50,000/0.8 - 50,000 = 12,500; at x = 1.2 the put gains P(100k) - P(120k)/1.2, the cash loses
    # 50,000 - 50,000/1.2 = 8,333.33. Equity is unchanged by the conversion.
    market = market_at(100_000.0)
    put = Option("BTC", EXPIRY, 100_000, "put", settlement="BTC")
    years = market.time_to_expiry_years(put.expiry)
    price = {x: float(black76_price(100_000.0 * x, 100_000.0, years, 0.6, 0.0, False)) for x in (0.8, 1.0, 1.2)}
    account = Account([Position(put, -1.0)], cash_usd=50_000.0, margin_currency="BTC")
    result = RiskMatrixModel(GRID).margin(account, market)
    down = -(price[0.8] / 0.8 - price[1.0]) + 12_500.0
    up = -(price[1.2] / 1.2 - price[1.0]) - (50_000.0 - 50_000.0 / 1.2)
    assert result.maintenance_margin_usd == pytest.approx(max(-down, -up, 0.0), rel=1e-10)
    assert result.equity_usd == pytest.approx(50_000.0 - price[1.0], rel=1e-12)


def test_account_files_with_margin_currency_and_symbol_convention(tmp_path: Path) -> None:
    from marginlab.exceptions import FileFormatError

    data = {"margin_currency": "btc", "symbol_convention": "deribit", "collateral": {"BTC": 1.0},
            "positions": [{"symbol": "BTC-PERPETUAL", "quantity": -1_000}, {"symbol": "ETH-PERPETUAL", "quantity": 2}]}
    account = Account.from_dict(data)
    assert account.margin_currency == "BTC"
    assert [p.instrument for p in account.positions] == [Perpetual("BTC", "BTC"), Perpetual("ETH", "ETH")]  # Deribit: both inverse
    path = tmp_path / "coin.yaml"
    account.save(path)
    again = Account.load(path)  # written with canonical symbols, read back without the convention
    assert again.positions == account.positions and again.margin_currency == "BTC"
    assert Account.from_dict({k: v for k, v in data.items() if k != "symbol_convention"}).positions[0].instrument == Perpetual("BTC")
    with pytest.raises(FileFormatError, match="symbol_convention"):
        Account.from_dict({**data, "symbol_convention": "okx"})
    with pytest.raises(FileFormatError, match="margin_currency"):
        Account.from_dict({**data, "margin_currency": "not a code"})
