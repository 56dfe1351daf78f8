"""Instrument kinds of the columnar book: one enum, one code per kind.

Every array of the book (:class:`~marginlab.book.instruments.InstrumentTable`, the replay
state) stores a kind as the integer value of :class:`InstrumentKind`; the module-level names
(:data:`SPOT`, :data:`PERPETUAL`, ...) are the enum members themselves, for array comparisons
such as ``table.kind == OPTION``.

>>> from marginlab.book.kinds import InstrumentKind, kind_code
>>> int(InstrumentKind.OPTION), InstrumentKind.OPTION.label
(3, 'option')
>>> kind_code("perpetual") == InstrumentKind.PERPETUAL
True
"""

from __future__ import annotations

from enum import IntEnum

from marginlab.exceptions import InputError

__all__ = ["FUTURE", "KIND_NAMES", "OPTION", "PERPETUAL", "SPOT", "STATIC", "InstrumentKind", "kind_code"]


class InstrumentKind(IntEnum):
    """Kind of one row of an instrument table.

    ``STATIC`` is collateral that does not move with any scenario (USD, a stable coin, or a
    token a model does not shock); the other four are the kinds of
    :mod:`marginlab.instruments` (``Instrument.kind``).
    """

    SPOT = 0
    PERPETUAL = 1
    FUTURE = 2
    OPTION = 3
    STATIC = 4

    @property
    def label(self) -> str:
        """Lower-case name, as ``Instrument.kind`` spells it (``"static"`` for collateral rows)."""
        return self.name.lower()


SPOT = InstrumentKind.SPOT
PERPETUAL = InstrumentKind.PERPETUAL
FUTURE = InstrumentKind.FUTURE
OPTION = InstrumentKind.OPTION
STATIC = InstrumentKind.STATIC

#: Label of every code, indexed by code (``KIND_NAMES[kind]`` on arrays).
KIND_NAMES: tuple[str, ...] = tuple(k.label for k in InstrumentKind)

_BY_LABEL = {k.label: k for k in InstrumentKind}


def kind_code(label: str) -> InstrumentKind:
    """The kind of an ``Instrument.kind`` label (``"spot"``, ``"perpetual"``, ``"future"``, ``"option"``, ``"static"``).

    >>> kind_code("future")
    <InstrumentKind.FUTURE: 2>
    """
    try:
        return _BY_LABEL[label]
    except KeyError:
        raise InputError("kind", label, f"unknown instrument kind (known: {sorted(_BY_LABEL)})") from None
