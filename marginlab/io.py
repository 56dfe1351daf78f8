"""Atomic file writes: every file marginlab writes goes through here.

A reader that opens a file while marginlab writes it sees either the old content or the new,
never a truncated one, and a failure (full disk, read-only folder, interrupted process) leaves
the old file in place and no temporary file behind. The write goes to a temporary file in the
same folder, is flushed and ``fsync``-ed, then renamed over the target with :func:`os.replace`
(atomic on POSIX and Windows when both live on one file system).

A process killed outright (``kill -9``, a power cut) cannot remove its temporary file. The
temporary files are named ``.<target name>.<pid>.<random>.tmp`` next to the target, and the next
write to the same target removes those an earlier, interrupted run left: only names of that exact
pattern for that target, only files last modified before the current process imported this module,
and (on POSIX) only when the process that made them is no longer running
(:func:`stale_temporary_files`).

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
import re
import tempfile
import time
from pathlib import Path

from marginlab.exceptions import OutputError

__all__ = ["atomic_write_bytes", "atomic_write_text", "check_writable", "stale_temporary_files"]

#: When this process imported the module: a temporary file last modified before it belongs to an earlier process.
_STARTED = time.time()


def _temporary_pattern(target: Path) -> re.Pattern[str]:
    """Names of the temporary files of ``target``: ``.<name>.<pid>.<random>.tmp`` (and the pid-less
    ``.<name>.<random>.tmp`` that earlier versions wrote), ``<random>`` being :func:`tempfile.mkstemp`'s 8 characters."""
    return re.compile(rf"\.{re.escape(target.name)}\.(?:(\d+)\.)?[a-z0-9_]{{8}}\.tmp")


def _running(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows: rely on the age alone
        return False
    if pid == os.getpid():
        return False  # a file of ours older than our start is from an earlier process with the same pid
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):  # no such process (or no such pid at all)
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def stale_temporary_files(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary files an earlier, interrupted write to ``path`` left behind.

    Only files named ``.<name of path>.<pid>.<8 characters>.tmp`` (or ``.<name>.<8 characters>.tmp``) in the
    folder of ``path``, last modified before the current process imported :mod:`marginlab.io`, whose process is
    no longer running (POSIX). :func:`atomic_write_bytes` removes them before it writes.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / ".params.yaml.999999999.abcd1234.tmp").write_text("partial")
    7
    >>> import os; os.utime(folder / ".params.yaml.999999999.abcd1234.tmp", (0, 0))
    >>> [p.name for p in stale_temporary_files(folder / "params.yaml")]
    ['.params.yaml.999999999.abcd1234.tmp']
    """
    target = Path(path)
    pattern = _temporary_pattern(target)
    stale = []
    folder = target.parent if str(target.parent) else Path(".")
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.name.startswith(f".{target.name}.")]
    except OSError:
        return []
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        candidate = folder / name
        try:
            modified = candidate.lstat().st_mtime
        except OSError:
            continue
        if modified >= _STARTED or not candidate.is_file() or candidate.is_symlink():
            continue
        if match.group(1) is not None and _running(int(match.group(1))):
            continue
        stale.append(candidate)
    return sorted(stale)


def _remove_stale(target: Path) -> None:
    for stale in stale_temporary_files(target):
        try:
            stale.unlink()
        except OSError:  # another process removed it, or we may not: not our business to fail on
            pass


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
