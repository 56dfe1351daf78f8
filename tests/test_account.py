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
    with pytest.raises(FileFormatError, match=r"columns\[1\]='size': not a positions column"):
        Account.load(bad_csv)
    bad_csv.write_text("symbol,entry_price_usd\nBTC-PERPETUAL,1\n")
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


def test_overflowing_notional_is_rejected() -> None:
    # 1e306 units at any price overflow float64 once multiplied by a price (1e306 * 1e5 = inf)
    with pytest.raises(FileFormatError, match=r"positions\[0\].quantity=1e\+306: notional of BTC-PERPETUAL"):
        Account.from_dict({"positions": [{"symbol": "BTC-PERPETUAL", "quantity": 1e306}]})
    with pytest.raises(InputError, match=r"positions\[0\].quantity"):  # direct construction: InputError
        Account((Position(Perpetual("BTC"), 1e306),))
    # the bound is on quantity x reference price: 1e14 BTC at an entry price of 1e5 is 1e19 USD > 1e18
    with pytest.raises(FileFormatError, match="exceeds 1e\\+18 USD"):
        Account.from_dict({"positions": [{"symbol": "BTC-PERPETUAL", "quantity": 1e14, "entry_price_usd": 1e5}]})
    # an option's strike is its reference price: 2e13 calls x 1e5 strike = 2e18 USD
    with pytest.raises(FileFormatError, match="exceeds"):
        Account.from_dict({"positions": [{"symbol": "BTC-20250328-100000-C", "quantity": -2e13}]})
    # just below the bound is accepted (1e13 x 1e5 = 1e18)
    assert Account.from_dict({"positions": [{"symbol": "BTC-PERPETUAL", "quantity": 1e13, "entry_price_usd": 1e5}]}).positions
    for field, record in (("cash_usd", {"cash_usd": 1e300}), ("collateral[BTC]", {"collateral": {"BTC": 1e300}})):
        with pytest.raises(FileFormatError, match=field.replace("[", r"\[").replace("]", r"\]")):
            Account.from_dict(record)


def test_strict_files(tmp_path: Path) -> None:
    duplicate = tmp_path / "dup.yaml"
    duplicate.write_text("account_id: a\npositions:\n  - {symbol: BTC-PERPETUAL, quantity: 1, quantity: 100}\n")
    with pytest.raises(FileFormatError, match="duplicate key 'quantity'"):
        Account.load(duplicate)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("symbol,quantity,label\nBTC-PERPETUAL,1,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(FileFormatError, match="not UTF-8 text"):
        Account.load(latin)
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    with pytest.raises(FileFormatError, match="is a directory"):
        Account.load(folder)


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".csv"])
def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import marginlab.io
    from marginlab.exceptions import OutputError

    path = tmp_path / f"account{suffix}"
    _account().save(path)
    before = path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(marginlab.io.os, "fsync", full_disk)
    with pytest.raises(OutputError, match="No space left on device"):
        _account().scaled(2.0).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    del os
