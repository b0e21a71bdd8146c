"""Atomic writes: a file is either the old one or the whole new one, never half of it.

Every writer in tinymin (checkpoints, ``config.json`` and ``metrics.csv``, downloaded
and extracted dataset files, figures) goes through :func:`atomic_file`: the contents
go to a temporary file in the same folder, which is flushed to disk and then renamed
over the target with :func:`os.replace` (atomic on POSIX and Windows when both names
are on one file system); on POSIX the folder is then flushed too, so that the rename
itself survives a power loss. If anything fails on the way, including an interrupt,
the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary binary file beside ``path``; on success it replaces ``path``.

    The temporary file is ``.<name>.<random>.tmp`` in the same folder, created with the
    permissions any file the user creates gets (``0o666`` less the umask, like
    ``open``). A write killed before its rename (``SIGKILL``, power loss) leaves its
    temporary file behind: the next write of the same ``path`` removes such leftovers
    (see :func:`remove_stale_temporaries`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "hello.txt"
    >>> with atomic_file(target) as f:
    ...     _ = f.write(b"hello")
    >>> target.read_bytes()
    b'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    # O_EXCL: never open a file someone else created; mode 0o666 is reduced by the umask
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries to disk (POSIX): a rename lives in the folder, and
    until the folder is written a power loss can bring back the old file. Windows
    cannot open a folder this way, and some file systems refuse to sync one; the new
    file is in place either way, so those cases are skipped."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # e.g. EINVAL on a file system that does not sync folders
    finally:
        os.close(fd)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files an interrupted :func:`atomic_file` left for ``path``.

    Only names of the pattern ``.<name of path>.*.tmp`` in ``path``'s folder are
    touched. tinymin writes each file from one process at a time, so any such file
    that exists when a new write starts is a leftover. Returns what was removed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    for leftover in stale:
        leftover.unlink(missing_ok=True)
    return stale


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_file(path) as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_npz_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """``np.savez(path, **arrays)``, atomically; returns the path.

    Raises
    ------
    TypeError
        Naming the entry, for an object array: ``np.savez`` would pickle it, and no
        file tinymin writes holds a pickle.
    """
    refuse_object_arrays(path, arrays)
    with atomic_file(path) as f:
        np.savez(f, **arrays)
    return Path(path)


def refuse_object_arrays(where: object, arrays: dict[str, np.ndarray]) -> None:
    """Raise TypeError naming the first object array of ``arrays``: ``np.savez`` would
    pickle it, and no file tinymin writes holds a pickle."""
    for name, array in arrays.items():
        if np.asarray(array).dtype.hasobject:
            raise TypeError(f"{where}: entry {name!r} is an object array; it would be pickled, "
                            "and tinymin files hold only plain arrays")
