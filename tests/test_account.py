"""Accounts: YAML/JSON/CSV round trips and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.account import Account
from marginlab.exceptions import EmptyPortfolioError, FileFormatError, InputError
from marginlab.instruments import Option, Perpetual, Position

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _account() -> Account:
    return Account(
        (
            Position(Perpetual("BTC"), -2.0, entry_price_usd=95_000, isolated_collateral_usd=12_000, leverage=10, label="hedge"),
            Position(Option("BTC", "2025-03-28", 123_456.7, "call"), -1.5),
            Position(Option("ETH", "2025-06-27T08:00:00Z", 3_500, "put"), 4),
        ),
        cash_usd=-2_500.0,
        collateral={"BTC": 1.25, "USDC": 20_000},
        account_id="desk-7",
    )


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_round_trip_yaml_json(tmp_path: Path, suffix: str) -> None:
    account = _account()
    path = tmp_path / f"account{suffix}"
    account.save(path)
    loaded = Account.load(path)
    assert loaded == account
    assert loaded.positions[0].label == "hedge"  # labels are kept although not compared


def test_round_trip_positions_csv(tmp_path: Path) -> None:
    account = _account()
    path = tmp_path / "book.csv"
    account.save(path)
    loaded = Account.load(path)
    # a positions CSV carries positions only: cash and collateral default to 0, the id is the file stem
    assert loaded.positions == account.positions
    assert (loaded.cash_usd, dict(loaded.collateral), loaded.account_id) == (0.0, {}, "book")


def test_example_files_load() -> None:
    account = Account.load(EXAMPLES / "account_btc_options.yaml")
    assert len(account.positions) == 6 and account.collateral["BTC"] == 3.0
    assert Account.load(EXAMPLES / "positions_btc.csv").positions[0].leverage == 10.0


@settings(max_examples=30, deadline=None)
@given(
    quantities=st.lists(st.floats(-1e4, 1e4, allow_nan=False).filter(lambda q: abs(q) > 1e-9), min_size=1, max_size=5),
    cash=st.floats(-1e7, 1e7, allow_nan=False),
    btc=st.floats(0, 1e3, allow_nan=False),
)
def test_dict_round_trip_property(quantities: list[float], cash: float, btc: float) -> None:
    account = Account(tuple(Position(Perpetual("SOL"), q) for q in quantities), cash, {"BTC": btc})
    assert Account.from_dict(account.to_dict()) == account


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("positions: [ {symbol: BTC-PERPETUAL, quantity: 1 }\n", "malformed YAML"),
        ("- just a list\n", "must be a mapping"),
        ("positions: [{symbol: BTC-PERPETUAL, quantity: 1, size: 2}]\n", "unknown position field"),
        ("positions: [{symbol: BTC-PERPETUAL}]\n", "needs 'symbol' and 'quantity'"),
        ("positions: [{symbol: BTC-FOO-BAR, quantity: 1}]\n", "symbol="),
        ("positions: [{symbol: BTC-20250328--5-C, quantity: 1}]\n", "symbol="),
        ("positions: [{symbol: BTC-PERPETUAL, quantity: 0}]\n", "quantity=0:"),
        ("positions: [{symbol: BTC-PERPETUAL, quantity: abc}]\n", "quantity='abc'"),
        ("positions: {symbol: BTC}\n", "'positions' must be a list"),
        ("collateral: {BTC: -1}\n", "collateral[BTC]=-1.0"),
        ("collateral: [BTC]\n", "'collateral' must be a mapping"),
        ("cash_usd: .nan\n", "cash_usd=nan"),
        ("cash_usd: lots\n", "cash_usd='lots'"),
        ("accountid: x\n", "unknown account field"),
    ],
)
def test_malformed_files_raise_file_format_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "account.yaml"
    path.write_text(content)
    with pytest.raises(FileFormatError) as caught:
        Account.load(path)
    assert message in str(caught.value)
    assert "account.yaml" in str(caught.value)  # the file is named


def test_malformed_json_and_csv(tmp_path: Path) -> None:
    bad_json = tmp_path / "a.json"
    bad_json.write_text("{positions: }")
    with pytest.raises(FileFormatError, match="malformed JSON"):
        Account.load(bad_json)
    bad_csv = tmp_path / "a.csv"
    bad_csv.write_text("symbol,size\nBTC-PERPETUAL,1\n")
    with pytest.raises(FileFormatError, match="lacks column"):
        Account.load(bad_csv)
    bad_row = tmp_path / "b.csv"
    bad_row.write_text("symbol,quantity\nBTC-PERPETUAL,1\nETH-PERPETUAL,-1\nBTC-XX,2\n")
    with pytest.raises(FileFormatError, match="row 3"):
        Account.load(bad_row)
    with pytest.raises(FileFormatError, match="no such account file"):
        Account.load(tmp_path / "missing.yaml")


def test_direct_construction_errors_and_empty_account() -> None:
    with pytest.raises(InputError, match="positions\\[0\\]"):
        Account(("BTC-PERPETUAL",))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="cash_usd"):
        Account(cash_usd=float("inf"))
    empty = Account()
    assert empty.is_empty
    with pytest.raises(EmptyPortfolioError, match="holds no position"):
        empty.require_positions()
    with pytest.raises(InputError, match="factor"):
        _account().scaled(0.0)


def test_with_positions_scaled_and_underlyings() -> None:
    account = _account()
    assert account.underlyings == ("BTC", "ETH")
    bigger = account.with_positions([Position(Perpetual("SOL"), 1)])
    assert len(bigger.positions) == 4 and bigger.collateral == account.collateral
    doubled = account.scaled(2)
    assert doubled.cash_usd == -5_000.0 and doubled.collateral["BTC"] == 2.5 and doubled.positions[0].quantity == -4.0
