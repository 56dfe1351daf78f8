"""The one exception and warning hierarchy of marginlab.

Every error the package raises on bad input derives from :class:`MarginLabError`, and its
message names the offending field and value, so that a wrong margin is never returned
silently. Numerical trouble that the package can recover from (a GARCH fit that does not
converge, a parameter on its boundary) is reported with a :class:`MarginLabWarning`
subclass and handled by the documented fallback of the function that warns.

Examples
--------
>>> from marginlab.exceptions import InputError, MarginLabError
>>> try:
...     raise InputError("strike_usd", -5.0, "must be positive")
... except MarginLabError as error:
...     print(error)
strike_usd=-5.0: must be positive
"""

from __future__ import annotations

from typing import Any


class MarginLabError(Exception):
    """Base class of every error raised by marginlab."""


class InputError(MarginLabError, ValueError):
    """An input value is invalid: NaN, out of range, of the wrong kind.

    Parameters
    ----------
    field : str
        Name of the offending field (``"price_usd"``, ``"positions[2].quantity"``...).
    value : Any
        The offending value, shown with ``repr``.
    reason : str
        What is wrong with it, e.g. ``"must be positive"``.
    """

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class ParameterError(InputError):
    """A model or calibration parameter is outside its allowed range."""


class UnknownAssetError(InputError, KeyError):
    """An asset, symbol, model or preset name is not known."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return f"{self.field}={self.value!r}: {self.reason}"


class ExpiredInstrumentError(InputError):
    """An option or future has expired at the valuation time."""


class MissingMarketDataError(InputError, KeyError):
    """The market snapshot lacks a price, forward or volatility a position needs."""

    def __str__(self) -> str:
        return f"{self.field}={self.value!r}: {self.reason}"


class EmptyPortfolioError(InputError):
    """An account or book holds nothing to margin."""


class FileFormatError(MarginLabError, ValueError):
    """A file (account, market, parameter file, case vector) is malformed."""


class OutputError(InputError):
    """A file cannot be written where asked: missing or read-only folder, a directory, a bad suffix, a full disk."""


class NumericalError(MarginLabError, ArithmeticError):
    """A computation produced a NaN or an infinite total (e.g. an overflow at absurd sizes).

    Parameters
    ----------
    field : str
        The quantity that is not finite (``"maintenance_margin_usd"``...).
    value : Any
        The value that was produced.
    reason : str
        What was being computed, and what to check.
    """

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class DataError(MarginLabError, ValueError):
    """Market data failed validation or could not be loaded.

    The message names the file, row, column and value where that is known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.value = value
        where = []
        if file is not None:
            where.append(f"file={file}")
        if row is not None:
            where.append(f"row={row}")
        if column is not None:
            where.append(f"column={column}")
        if value is not None:
            where.append(f"value={value!r}")
        suffix = f" ({', '.join(where)})" if where else ""
        super().__init__(f"{message}{suffix}")


class DownloadError(DataError):
    """A download failed, or its checksum did not match."""


class NetworkError(DownloadError):
    """The network could not be reached (no connection, DNS failure, time-out): CLI exit code 3, not 2."""


class CalibrationError(MarginLabError):
    """A calibration could not produce parameters, even with its fallback."""


class MarginLabWarning(UserWarning):
    """Base class of every warning issued by marginlab."""


class ConvergenceWarning(MarginLabWarning):
    """An optimiser did not converge; the documented fallback was used."""


class BoundaryWarning(MarginLabWarning):
    """A fitted parameter sits on the boundary of its admissible region."""


class DataWarning(MarginLabWarning):
    """Market data has a gap or another issue that was reported, not fixed."""
