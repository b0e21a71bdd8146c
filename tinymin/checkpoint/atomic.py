"""Atomic writes: a file is either the old one or the whole new one, never half of it.

Every writer in tinymin (checkpoints, ``config.json`` and ``metrics.csv``, downloaded
and extracted dataset files, figures) goes through :func:`atomic_file`: the contents
go to a temporary file in the same folder, which is flushed to disk and then renamed
over the target with :func:`os.replace` (atomic on POSIX and Windows when both names
are on one file system). If anything fails on the way, including an interrupt, the
temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

#: Permissions of a finished file: readable by everyone, as a plain ``open`` would
#: leave it under the usual umask (``mkstemp`` creates its files private, 0600).
FILE_MODE = 0o644


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary binary file beside ``path``; on success it replaces ``path``.

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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_file(path) as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_npz_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """``np.savez(path, **arrays)``, atomically; returns the path."""
    with atomic_file(path) as f:
        np.savez(f, **arrays)
    return Path(path)
