"""The strict file loader: UTF-8, directories, duplicate keys, malformed YAML/JSON, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.exceptions import FileFormatError, NumericalError, OutputError
from marginlab.fileio import load_json, load_yaml, read_mapping, read_text, write_mapping


def test_duplicate_yaml_key_is_an_error_naming_key_and_lines() -> None:
    text = "positions:\n  - symbol: BTC-PERPETUAL\n    quantity: 1\n    quantity: 100\n"
    with pytest.raises(FileFormatError, match=r"a.yaml: duplicate key 'quantity' at line 4, column 5 \(first at line 3, column 5\)"):
        load_yaml(text, "a.yaml")
    # flow style too, and nested mappings
    with pytest.raises(FileFormatError, match="duplicate key 'quantity'"):
        load_yaml("positions: [{symbol: X, quantity: 1, quantity: 100}]\n")
    with pytest.raises(FileFormatError, match="duplicate key 'BTC'"):
        load_yaml("assets:\n  BTC: {index_usd: 1}\n  BTC: {index_usd: 2}\n")


def test_same_key_in_different_mappings_is_fine() -> None:
    assert load_yaml("- {quantity: 1}\n- {quantity: 2}\n") == [{"quantity": 1}, {"quantity": 2}]


def test_duplicate_json_key_and_nan_are_errors() -> None:
    with pytest.raises(FileFormatError, match="b.json: duplicate key 'quantity'"):
        load_json('{"quantity": 1, "quantity": 100}', "b.json")
    with pytest.raises(FileFormatError, match="NaN is not valid JSON"):
        load_json('{"quantity": NaN}', "b.json")
    with pytest.raises(FileFormatError, match=r"b.json: malformed JSON: .* line 1, column"):
        load_json('{"quantity": }', "b.json")


def test_malformed_yaml_names_line() -> None:
    with pytest.raises(FileFormatError, match=r"c.yaml: malformed YAML: expected .* at line 2, column 1"):
        load_yaml("positions: [ {symbol: BTC-PERPETUAL, quantity: }\n", "c.yaml")


def test_non_utf8_names_byte_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("account_id: d\n# caf\u00e9\n".encode("latin-1"))
    with pytest.raises(FileFormatError) as info:
        read_text(path, "account file")
    message = str(info.value)
    # "# caf" is 5 characters: the bad byte 0xe9 is column 6 of line 2
    assert "not UTF-8 text (byte 0xe9 at line 2, column 6)" in message and "\n" not in message


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"is a directory, expected a file \(market file\)"):
        read_mapping(tmp_path, "market file")
    with pytest.raises(FileFormatError, match="no such account file"):
        read_mapping(tmp_path / "nope.yaml", "account file")


def test_write_mapping_is_atomic_and_round_trips(tmp_path: Path) -> None:
    data = {"account_id": "x", "positions": [{"symbol": "BTC-PERPETUAL", "quantity": 1.5}]}
    for name in ("a.yaml", "a.json"):
        path = write_mapping(tmp_path / name, data)
        assert read_mapping(path) == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.yaml"]  # no temporary file left


def test_write_mapping_refuses_nan_and_leaves_old_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"old": 1}\n')
    with pytest.raises(NumericalError, match=r"positions\[0\].quantity=nan"):
        write_mapping(path, {"positions": [{"quantity": float("nan")}]})
    assert json.loads(path.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_write_mapping_into_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # simulated (tests may run as root, who can write anywhere): the temporary file cannot be created
    import marginlab.io

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(marginlab.io.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=r"out='.*a.yaml': cannot write: Permission denied"):
        write_mapping(tmp_path / "a.yaml", {"a": 1})
    assert list(tmp_path.iterdir()) == []


_KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_VALUES = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False, width=64),
                    st.text(alphabet="abcXYZ -_.", max_size=10), st.booleans(), st.none())


@settings(max_examples=40, deadline=None)
@given(data=st.dictionaries(_KEYS, st.one_of(_VALUES, st.lists(_VALUES, max_size=3), st.dictionaries(_KEYS, _VALUES, max_size=3)),
                            max_size=6),
       suffix=st.sampled_from([".yaml", ".json"]))
def test_write_then_read_round_trips(tmp_path_factory: pytest.TempPathFactory, data: dict, suffix: str) -> None:
    path = tmp_path_factory.mktemp("rt") / f"data{suffix}"
    write_mapping(path, data)
    assert read_mapping(path) == data


@settings(max_examples=40, deadline=None)
@given(keys=st.lists(_KEYS, min_size=1, max_size=6, unique=True), repeat=st.integers(0, 5))
def test_any_repeated_key_is_rejected(keys: list[str], repeat: int) -> None:
    keys = [f"k_{key}" for key in keys]  # plain names (YAML 1.1 reads 'yes', 'on', 'null' as other types)
    duplicated = keys + [keys[repeat % len(keys)]]
    text = "".join(f"{key}: {i}\n" for i, key in enumerate(duplicated))
    with pytest.raises(FileFormatError, match=f"duplicate key '{duplicated[-1]}' at line {len(duplicated)}"):
        load_yaml(text)
    assert load_yaml("".join(f"{key}: {i}\n" for i, key in enumerate(keys))) == {k: i for i, k in enumerate(keys)}
