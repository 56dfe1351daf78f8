"""Instruments, symbols and positions: round trips and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marginlab.exceptions import InputError
from marginlab.instruments import Future, Option, Perpetual, Position, Spot, parse_symbol, to_float, to_utc


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("BTC", Spot("BTC")),
        ("ETH-PERPETUAL", Perpetual("ETH")),
        ("sol-perp", Perpetual("SOL")),
        ("BTC-20250328", Future("BTC", datetime(2025, 3, 28, 8, tzinfo=UTC))),
        ("BTC-20250328-100000-C", Option("BTC", datetime(2025, 3, 28, 8, tzinfo=UTC), 100_000.0, "call")),
        ("ETH-20250627-3500-P", Option("ETH", datetime(2025, 6, 27, 8, tzinfo=UTC), 3_500.0, "put")),
    ],
)
def test_parse_symbol(symbol: str, expected: object) -> None:
    parsed = parse_symbol(symbol)
    assert parsed == expected
    assert parse_symbol(parsed.symbol) == parsed


@given(
    strike=st.floats(0.01, 5e6, allow_nan=False, allow_infinity=False),
    days=st.integers(0, 3_000),
    call=st.booleans(),
)
def test_option_symbol_round_trip_is_exact(strike: float, days: int, call: bool) -> None:
    # the symbol keeps every digit of the strike (123456.7 used to print as 123457)
    option = Option("BTC", datetime(2025, 1, 1, 8, tzinfo=UTC) + timedelta(days=days), strike, "call" if call else "put")
    assert parse_symbol(option.symbol) == option


def test_strike_formatting_examples() -> None:
    assert Option("BTC", "2025-03-28", 123_456.7, "call").symbol == "BTC-20250328-123456.7-C"
    assert Option("BTC", "2025-03-28", 2_000_000, "call").symbol == "BTC-20250328-2000000-C"
    assert Option("DOGE", "2025-03-28", 0.35, "put").symbol == "DOGE-20250328-0.35-P"


def test_to_utc_conventions() -> None:
    assert to_utc("2025-03-28") == datetime(2025, 3, 28, 8, tzinfo=UTC)  # bare date: 08:00 UTC
    assert to_utc("2025-03-28T10:00:00+02:00") == datetime(2025, 3, 28, 8, tzinfo=UTC)
    assert to_utc(datetime(2025, 3, 28, 8)) == datetime(2025, 3, 28, 8, tzinfo=UTC)  # naive = UTC
    assert to_utc(datetime(2025, 3, 28, 9, tzinfo=timezone(timedelta(hours=1)))).hour == 8


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: Option("BTC", "2025-03-28", -5.0, "call"), "strike_usd"),
        (lambda: Option("BTC", "2025-03-28", 0.0, "call"), "strike_usd"),
        (lambda: Option("BTC", "2025-03-28", float("nan"), "call"), "strike_usd"),
        (lambda: Option("BTC", "2025-03-28", "abc", "call"), "strike_usd"),
        (lambda: Option("BTC", "2025-03-28", 100.0, "straddle"), "option_type"),
        (lambda: Perpetual("btc"), "underlying"),
        (lambda: Spot(""), "underlying"),
        (lambda: Future("BTC", "28/03/2025"), "expiry"),
        (lambda: Future("BTC", 20250328), "expiry"),
        (lambda: Position(Perpetual("BTC"), 0.0), "quantity"),
        (lambda: Position(Perpetual("BTC"), float("inf")), "quantity"),
        (lambda: Position(Perpetual("BTC"), "two"), "quantity"),
        (lambda: Position(Perpetual("BTC"), 1.0, entry_price_usd=-1.0), "entry_price_usd"),
        (lambda: Position(Perpetual("BTC"), 1.0, entry_price_usd=0.0), "entry_price_usd"),
        (lambda: Position(Perpetual("BTC"), 1.0, isolated_collateral_usd=-1.0), "isolated_collateral_usd"),
        (lambda: Position(Perpetual("BTC"), 1.0, leverage=0.0), "leverage"),
        (lambda: parse_symbol("BTC-2025-03-28-1-C"), "symbol"),
        (lambda: parse_symbol("BTC-20250328-0-C"), "symbol"),
        (lambda: parse_symbol(""), "symbol"),
        (lambda: to_float("rate", True), "rate"),
    ],
)
def test_bad_input_names_field_and_value(factory, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as caught:
        factory()
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}=")


def test_position_scaled_and_properties() -> None:
    position = Position(Perpetual("BTC"), -2.0, entry_price_usd=95_000, isolated_collateral_usd=10_000, leverage=5)
    doubled = position.scaled(2.0)
    assert (doubled.quantity, doubled.isolated_collateral_usd, doubled.entry_price_usd, doubled.leverage) == (-4.0, 20_000.0, 95_000.0, 5.0)
    assert position.symbol == "BTC-PERPETUAL" and position.underlying == "BTC"
    assert Option("BTC", "2025-03-28", 1.0, "put").kind == "option"


# ------------------------------------------------------------------ venues' real names and settlement
MARCH = datetime(2025, 3, 28, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("symbol", "convention", "expected"),
    [
        # Deribit's own names (https://www.deribit.com instrument names, read 2026-12-01)
        ("BTC-PERPETUAL", "deribit", Perpetual("BTC", "BTC")),
        ("BTC-28MAR25", "marginlab", Future("BTC", MARCH, "BTC")),
        ("BTC-7MAR25", "marginlab", Future("BTC", datetime(2025, 3, 7, 8, tzinfo=UTC), "BTC")),
        ("BTC_USDC-PERPETUAL", "marginlab", Perpetual("BTC", "USDC")),
        ("ETH_USDC-28MAR25", "marginlab", Future("ETH", MARCH, "USDC")),
        ("BTC-28MAR25-100000-C", "marginlab", Option("BTC", MARCH, 100_000.0, "call", "BTC")),
        ("BTC_USDC-28MAR25-100000-C", "marginlab", Option("BTC", MARCH, 100_000.0, "call", "USDC")),
        ("XRP_USDC-28MAR25-2d2-P", "marginlab", Option("XRP", MARCH, 2.2, "put", "USDC")),
        ("BTC_USDC", "marginlab", Spot("BTC")),
        # the package's grammar: unchanged meanings, explicit settlement suffix
        ("BTC-PERPETUAL", "marginlab", Perpetual("BTC")),
        ("BTC-20250328", "marginlab", Future("BTC", MARCH)),
        ("BTC-20250328", "deribit", Future("BTC", MARCH, "BTC")),
        ("BTC-PERPETUAL:BTC", "marginlab", Perpetual("BTC", "BTC")),
        ("btc-20250328-100000-c:btc", "marginlab", Option("BTC", MARCH, 100_000.0, "call", "BTC")),
        ("BTC_USDT-PERP", "deribit", Perpetual("BTC", "USDT")),
        ("BTC_USDC-PERPETUAL:USDC", "marginlab", Perpetual("BTC", "USDC")),
    ],
)
def test_parse_venue_symbols(symbol: str, convention: str, expected: object) -> None:
    parsed = parse_symbol(symbol, convention)  # type: ignore[arg-type]
    assert parsed == expected
    assert parse_symbol(parsed.symbol) == parsed  # the canonical symbol reads back under the default convention


def test_canonical_and_deribit_names() -> None:
    assert Perpetual("BTC", "BTC").symbol == "BTC-PERPETUAL:BTC"
    assert Perpetual("BTC", "BTC").deribit_symbol == "BTC-PERPETUAL"
    assert Perpetual("BTC", "USDC").symbol == Perpetual("BTC", "USDC").deribit_symbol == "BTC_USDC-PERPETUAL"
    assert Future("BTC", MARCH, "BTC").symbol == "BTC-20250328:BTC"
    assert Future("BTC", MARCH, "BTC").deribit_symbol == "BTC-28MAR25"
    assert Option("BTC", MARCH, 100_000, "put", "BTC").deribit_symbol == "BTC-28MAR25-100000-P"
    assert Option("XRP", MARCH, 2.2, "call", "USDC").deribit_symbol == "XRP_USDC-28MAR25-2d2-C"
    assert Perpetual("BTC").is_inverse is False and Perpetual("BTC", "btc").is_inverse is True
    assert Spot("BTC").is_inverse is False


def test_coin_quantity_of_inverse_positions() -> None:
    # Deribit: 2,500,000 USD of BTC-PERPETUAL at 100,000 is a 25 BTC position
    assert Position(Perpetual("BTC", "BTC"), 2_500_000.0).coin_quantity(100_000.0) == 25.0
    assert Position(Perpetual("BTC"), 2.0).coin_quantity(100_000.0) == 2.0
    assert Position(Option("BTC", MARCH, 1.0, "put", "BTC"), -3.0).coin_quantity(100_000.0) == -3.0


@pytest.mark.parametrize(
    ("symbol", "reason"),
    [
        ("BTC_USDC-PERPETUAL:BTC", "two settlements"),
        ("BTC-30FEB25", "calendar date"),
        ("BTC-28XYZ25", "unknown month"),
        ("ETH-PERPETUAL:BTC", "settlement"),
        ("BTC_EUR-PERPETUAL", "settlement"),
        ("BTC:BTC", "settlement suffix"),
    ],
)
def test_bad_venue_symbols_name_the_symbol(symbol: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as caught:
        parse_symbol(symbol)
    assert caught.value.field == "symbol"


def test_bad_convention() -> None:
    with pytest.raises(InputError, match="convention"):
        parse_symbol("BTC-PERPETUAL", "okx")  # type: ignore[arg-type]


@given(
    strike=st.floats(0.01, 5e6, allow_nan=False, allow_infinity=False),
    days=st.integers(0, 3_000),
    call=st.booleans(),
    settlement=st.sampled_from(["USD", "USDC", "USDT", "BTC"]),
)
def test_settled_symbols_round_trip(strike: float, days: int, call: bool, settlement: str) -> None:
    expiry = datetime(2025, 1, 1, 8, tzinfo=UTC) + timedelta(days=days)
    for instrument in (
        Option("BTC", expiry, strike, "call" if call else "put", settlement),
        Future("BTC", expiry, settlement),
        Perpetual("BTC", settlement),
    ):
        assert parse_symbol(instrument.symbol) == instrument
        assert parse_symbol(instrument.deribit_symbol, "deribit").settlement == ("USDC" if settlement == "USD" else settlement)
