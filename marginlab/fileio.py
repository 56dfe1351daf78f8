"""Reading and writing the package's YAML/JSON files: one loader, strict and with one-line errors.

Every file marginlab reads -- accounts, market snapshots, parameter files, Derive case vectors,
stress-test books -- goes through :func:`read_text` and :func:`load_yaml`/:func:`load_json`
(or :func:`read_mapping`, which picks by suffix), so that every failure is a
:class:`~marginlab.exceptions.FileFormatError` naming the file and what is wrong:

* a missing file, a directory given as a file, an unreadable file;
* bytes that are not UTF-8 (the message names the line and column of the first bad byte);
* malformed YAML/JSON (the parser's line and column);
* a **duplicate key** in one mapping (``quantity: 1`` then ``quantity: 100``): YAML and JSON
  parsers silently keep the last value; here it is an error naming the key and both lines;
* a value its tag or form cannot hold -- ``!!float abc``, ``!!bool maybe``, ``!!int 1.5``, an impossible
  date such as ``2025-02-30`` (which YAML reads as a timestamp): an error naming the key, the value
  and its line, never a bare ``ValueError`` from inside the parser;
* nesting deeper than :data:`MAX_DEPTH` levels (``[[[[...]]]]`` a thousand deep would exhaust
  Python's recursion limit) and more than :data:`MAX_ALIASES` aliases (``*ref``, the "billion laughs"
  expansion).

Every file marginlab writes goes through :mod:`marginlab.io` (temporary file, fsync, rename);
:func:`write_mapping` is the YAML/JSON writer on top of it.

>>> from marginlab.fileio import load_yaml
>>> load_yaml("quantity: 1\\nsymbol: BTC-PERPETUAL\\n")
{'quantity': 1, 'symbol': 'BTC-PERPETUAL'}
>>> load_yaml("quantity: 1\\nquantity: 100\\n", source="account.yaml")
Traceback (most recent call last):
...
marginlab.exceptions.FileFormatError: account.yaml: duplicate key 'quantity' at line 2, column 1 (first at line 1, column 1)
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import yaml

from marginlab.exceptions import FileFormatError
from marginlab.io import atomic_write_text

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "UniqueKeyLoader", "load_json", "load_yaml", "read_mapping", "read_text", "write_mapping"]

#: Deepest nesting of mappings and lists a YAML/JSON file may hold (marginlab's own files nest at most
#: about eight levels; a thousand levels would exhaust Python's recursion limit in the parser).
MAX_DEPTH = 100

#: Most aliases (``*name``) one YAML document may use (none of marginlab's files uses any; each alias
#: can double what a reader walks, the "billion laughs" expansion).
MAX_ALIASES = 100


class _BadValue(yaml.YAMLError):
    """A scalar its tag cannot construct (``!!float abc``, a date 2025-02-30), with where it is."""

    def __init__(self, node: yaml.Node, error: BaseException) -> None:
        self.node = node
        self.error = error
        self.key: Any = None
        super().__init__(str(error))

    def describe(self) -> str:
        mark = self.node.start_mark
        tag = str(self.node.tag).replace("tag:yaml.org,2002:", "!!")
        reason = " ".join(str(self.error).split()) or type(self.error).__name__
        field = "" if self.key is None else f"{self.key}="
        return f"{field}{self.node.value!r} at line {mark.line + 1}, column {mark.column + 1}: not a valid {tag} ({reason})"


class UniqueKeyLoader(yaml.SafeLoader):
    """:class:`yaml.SafeLoader` that rejects a key repeated in one mapping, values their tag cannot
    hold, nesting deeper than :data:`MAX_DEPTH` and more than :data:`MAX_ALIASES` aliases."""

    _depth = 0
    _aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # type: ignore[no-untyped-call]
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(None, None, f"more than {MAX_ALIASES} aliases", mark)
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)  # type: ignore[no-untyped-call]
        except (ValueError, KeyError, TypeError, OverflowError, IndexError) as error:
            if isinstance(node, yaml.ScalarNode):
                raise _BadValue(node, error) from None
            raise


    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, str] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: the base class reports it
                break
            mark = key_node.start_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}"
            if first is not None:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r} at {where} (first at {first})", mark)
            seen[key] = where
        try:
            return super().construct_mapping(node, deep=deep)
        except _BadValue as bad:
            if bad.key is None:
                for key_node, value_node in node.value:
                    if value_node is bad.node and isinstance(key_node, yaml.ScalarNode):
                        bad.key = key_node.value
            raise


# marginlab's files are JSON-like: no binary blobs, sets or ordered pair lists (a reader would not expect them)
UniqueKeyLoader.yaml_constructors = {
    tag: constructor for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
    if tag not in {f"tag:yaml.org,2002:{name}" for name in ("binary", "set", "omap", "pairs")}
}


def _describe_yaml_error(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if problem and str(problem).startswith("duplicate key"):
        return str(problem)
    if problem and mark is not None:
        return f"malformed YAML: {problem} at line {mark.line + 1}, column {mark.column + 1}"
    return f"malformed YAML: {' '.join(str(error).split())}"


def load_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML ``text`` with :class:`UniqueKeyLoader`; errors name ``source``."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _BadValue as bad:
        raise FileFormatError(f"{source}: {bad.describe()}") from None
    except yaml.YAMLError as error:
        raise FileFormatError(f"{source}: {_describe_yaml_error(error)}") from None
    except RecursionError:  # a deep flow collection the scanner itself recurses on
        raise FileFormatError(f"{source}: malformed YAML: nested more than {MAX_DEPTH} levels deep") from None


def _unique_pairs(source: str):  # type: ignore[no-untyped-def]
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise FileFormatError(f"{source}: duplicate key {key!r} in one JSON object")
            result[key] = value
        return result

    return hook


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_json_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999 overflows to inf
        raise ValueError(f"{text} is not a finite number")
    return number


def _depth_exceeds(data: Any, limit: int) -> bool:
    """True when ``data`` nests lists/dicts more than ``limit`` deep (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def load_json(text: str, source: str = "<string>") -> Any:
    """Parse JSON ``text``, rejecting duplicate keys, ``NaN``/``Infinity``/overflowing numbers and nesting deeper
    than :data:`MAX_DEPTH`; errors name ``source``."""
    try:
        data = json.loads(text, object_pairs_hook=_unique_pairs(source), parse_constant=_reject_constant,
                          parse_float=_finite_json_float)
    except RecursionError:
        raise FileFormatError(f"{source}: malformed JSON: nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as error:
        raise FileFormatError(f"{source}: malformed JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    except ValueError as error:
        if isinstance(error, FileFormatError):
            raise
        raise FileFormatError(f"{source}: malformed JSON: {error}") from None
    if _depth_exceeds(data, MAX_DEPTH):
        raise FileFormatError(f"{source}: malformed JSON: nested more than {MAX_DEPTH} levels deep")
    return data


def read_text(path: str | os.PathLike[str], what: str = "file") -> str:
    """The UTF-8 text of ``path``; a :class:`FileFormatError` naming it when that is impossible.

    ``what`` names the kind of file in the message ("account file", "market file"...).
    """
    target = Path(path)
    if not target.exists():
        raise FileFormatError(f"{target}: no such {what}")
    if target.is_dir():
        raise FileFormatError(f"{target}: is a directory, expected a file ({what})")
    try:
        data = target.read_bytes()
    except OSError as error:
        raise FileFormatError(f"{target}: cannot read the {what} ({error.strerror or error})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise FileFormatError(
            f"{target}: not UTF-8 text (byte 0x{data[error.start]:02x} at line {line}, column {column}); save the {what} as UTF-8"
        ) from None


def read_mapping(path: str | os.PathLike[str], what: str = "file") -> Any:
    """Read a ``.json`` file with :func:`load_json`, anything else with :func:`load_yaml`."""
    target = Path(path)
    text = read_text(target, what)
    if target.suffix.lower() == ".json":
        return load_json(text, str(target))
    return load_yaml(text, str(target))


def _check_finite(data: Any, where: str = "") -> None:
    if isinstance(data, float) and not math.isfinite(data):
        from marginlab.exceptions import NumericalError

        raise NumericalError(where or "value", data, "is not finite; refusing to write it")
    if isinstance(data, dict):
        for key, value in data.items():
            _check_finite(value, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            _check_finite(value, f"{where}[{index}]")


def write_mapping(path: str | os.PathLike[str], data: Any, *, field: str = "out") -> Path:
    """Write ``data`` atomically as JSON (``.json``) or YAML (anything else); returns the path.

    NaN and infinite numbers are refused (:class:`~marginlab.exceptions.NumericalError`) rather
    than written as ``.nan``/``NaN`` that another reader would take for a number.
    """
    target = Path(path)
    _check_finite(data)
    if target.suffix.lower() == ".json":
        text = json.dumps(data, indent=2, default=str, allow_nan=False) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return atomic_write_text(target, text, field=field)
