"""Atomic file writes: every file marginlab writes goes through here.

A reader that opens a file while marginlab writes it sees either the old content or the new,
never a truncated one, and a failure (full disk, read-only folder, interrupted process) leaves
the old file in place and no temporary file behind. The write goes to a temporary file in the
same folder, is flushed and ``fsync``-ed, then renamed over the target with :func:`os.replace`
(atomic on POSIX and Windows when both live on one file system).

Examples
--------
>>> import tempfile, pathlib
>>> from marginlab.io import atomic_write_text
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> path = atomic_write_text(folder / "params.yaml", "assets: {}\\n")
>>> path.read_text()
'assets: {}\\n'
>>> sorted(p.name for p in folder.iterdir())   # no temporary file left
['params.yaml']
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from marginlab.exceptions import OutputError

__all__ = ["atomic_write_bytes", "atomic_write_text", "check_writable"]


def check_writable(path: str | os.PathLike[str], *, field: str = "out", suffixes: tuple[str, ...] = ()) -> Path:
    """Check, before any work, that ``path`` can be written: its folder exists and is writable.

    Parameters
    ----------
    path : path-like
        The file to be written.
    field : str
        Name of the argument, for the error message (``"out"``, ``"rates_out"``...).
    suffixes : tuple of str
        Allowed suffixes (``(".yaml", ".yml", ".json")``); empty allows any.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputError
        When the target is a directory, its folder is missing or not writable, or the suffix is
        not allowed.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(field, str(path), "is a directory, expected a file name")
    if suffixes and target.suffix.lower() not in suffixes:
        raise OutputError(field, str(path), f"unknown suffix {target.suffix!r}; expected one of {', '.join(suffixes)}")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(field, str(path), f"folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(field, str(path), f"folder {str(folder)!r} is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(field, str(path), "file exists and is not writable")
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, field: str = "out") -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename).

    Parent folders are created. An :class:`OSError` (read-only folder, full disk) becomes an
    :class:`~marginlab.exceptions.OutputError` naming ``field`` and the path; the old file, if any,
    is left untouched and the temporary file is removed.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as error:
        raise OutputError(field, str(path), f"cannot write: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(field, str(path), f"cannot write: {error.strerror or error}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, *, field: str = "out", encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; see :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode(encoding), field=field)
