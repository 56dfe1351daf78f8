"""The columnar book on the package's low floor: instrument kinds, the instrument table and its
revaluation, the positions book.

* :mod:`marginlab.book.kinds` -- :class:`InstrumentKind`, the one enum of instrument kind codes;
* :mod:`marginlab.book.instruments` -- :class:`InstrumentTable` (one row per distinct instrument)
  and :func:`revalue_instruments` (every row under every scenario), :func:`to_numeraire`;
* :mod:`marginlab.book.positions` -- :class:`Book` (positions of many accounts as columns) and
  :meth:`Book.from_accounts`.

Every margin model margins a :class:`Book` (``model.margin_book(book)``); the analysis layer
(replays, cascades) holds its accounts in these arrays. The package imports nothing from
``marginlab.margin``, ``marginlab.analysis`` or ``marginlab.calibration``
(``tests/test_imports.py`` checks it).

>>> from marginlab.book import Book, InstrumentTable, InstrumentKind
>>> table = InstrumentTable.build(["BTC-PERP"], [InstrumentKind.PERPETUAL], ["BTC"], price_usd=[100_000.0])
>>> Book.build(table, account=[0], instrument=[0], quantity=[2.0]).n_accounts
1
"""

from marginlab.book.instruments import InstrumentTable, black76_guarded, revalue_instruments, to_numeraire
from marginlab.book.kinds import FUTURE, KIND_NAMES, OPTION, PERPETUAL, SPOT, STATIC, InstrumentKind, kind_code
from marginlab.book.positions import Book, book_scenario_pnl

__all__ = [
    "FUTURE",
    "KIND_NAMES",
    "OPTION",
    "PERPETUAL",
    "SPOT",
    "STATIC",
    "Book",
    "InstrumentKind",
    "InstrumentTable",
    "black76_guarded",
    "book_scenario_pnl",
    "kind_code",
    "revalue_instruments",
    "to_numeraire",
]
