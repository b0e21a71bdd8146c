"""One writer per run folder: a lock file that names its holder.

Two ``train --out X`` started at once would interleave their ``metrics.csv`` rows and
delete each other's temporary files. So the writer of a run folder first takes
``X/.lock``:

* on POSIX with ``fcntl.flock`` on the open file: the system releases it when its
  process ends, however it ends (``SIGKILL`` included), so a lock is never stale and is
  taken over as soon as its holder is gone;
* elsewhere by creating the file with ``O_CREAT | O_EXCL``; a file whose process is no
  longer running on this host is taken over.

The file holds the holder's pid, host, start time and command line (JSON), which the
error of a second writer quotes.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class FolderLock:
    """The lock file ``path``; :meth:`acquire` takes it, :meth:`release` gives it back."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._created_folder = False

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> str | None:
        """Take the lock (creating its folder); returns None, or, when another process
        holds it, a description of that process (and takes nothing)."""
        if self.held:
            return None
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._created_folder = True
        take = _take_flock if fcntl is not None else _take_exclusive
        fd, holder = take(self.path)
        if fd is None:
            self._remove_created_folder()
            return holder
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_this_process()).encode("utf-8"))
        self._fd = fd
        return None

    def release(self) -> None:
        """Give the lock back: the file is removed while still held, then closed."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None
        self._remove_created_folder()

    def holder(self) -> str | None:
        """Who holds the lock now (None: nobody, or this object)."""
        if self.held or not self.path.exists():
            return None
        if fcntl is None:
            return None if _holder_is_gone(self.path) else _describe(self.path)
        fd, holder = _take_flock(self.path, create=False)
        if fd is not None:  # free: give it straight back
            os.close(fd)
        return holder

    def _remove_created_folder(self) -> None:
        if self._created_folder:
            with contextlib.suppress(OSError):  # not empty: the run wrote files, keep them
                self.path.parent.rmdir()
            self._created_folder = False

    def __del__(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)


def _take_flock(path: Path, create: bool = True) -> tuple[int | None, str | None]:
    """(fd, None) with the lock taken, or (None, holder)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o666)
        except FileNotFoundError:
            return None, None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None, _describe(path)
        try:  # the holder we waited on may have removed the file: lock the new one
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd, None
        os.close(fd)
        if not create:
            return None, None


def _take_exclusive(path: Path) -> tuple[int | None, str | None]:  # pragma: no cover - Windows
    for _ in range(2):
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666), None
        except FileExistsError:
            if not _holder_is_gone(path):
                return None, _describe(path)
            path.unlink(missing_ok=True)
    return None, _describe(path)


def _this_process() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join(getattr(sys, "orig_argv", sys.argv))}


def _read(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        return {}
    return info if isinstance(info, dict) else {}


def _describe(path: Path) -> str:
    info = _read(path)
    if not info:
        return f"its lock {path} names no process yet"
    return (f"pid {info.get('pid')} on {info.get('host')}, since {info.get('started')}: "
            f"{info.get('command')}")


def _holder_is_gone(path: Path) -> bool:  # pragma: no cover - Windows
    """Whether the process named in ``path`` ran on this host and has ended."""
    info = _read(path)
    if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
        return False
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False
