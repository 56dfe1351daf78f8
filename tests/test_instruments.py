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
