"""Downloading dataset files (verified by SHA-256) and extracting archives safely.

Downloads are verified against the SHA-256 recorded below before they are renamed
into place. Files already on disk are not hashed (Debian, for one, re-compresses the
Fashion-MNIST ``.gz`` files, so their bytes differ while the data is the same);
they are checked structurally instead: IDX magic numbers, exact payload lengths,
matching image and label counts, labels in range. Every problem raises
:class:`DatasetError` (a ``ValueError``) naming the file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from tinymin.checkpoint.atomic import atomic_file
from tinymin.data.errors import DatasetError, DownloadError

DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: its name on the mirrors, SHA-256 and size in bytes."""

    filename: str
    sha256: str
    size: int


def _user_agent() -> str:
    try:
        from tinymin._version import __version__
    except ImportError:  # pragma: no cover - version file always ships
        __version__ = "unknown"
    return f"tinymin/{__version__} (+urllib)"


def _progress(total: int, desc: str) -> Any:
    """A tqdm byte counter, silent when stderr is not a terminal."""
    from tqdm import tqdm  # a dependency; imported here to keep `import tinymin` light

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, disable=None, leave=False)


def _fetch(url: str, final: Path, remote: RemoteFile, opener: Callable[..., Any]) -> None:
    """Download ``url`` to ``final`` atomically, renamed into place only when its SHA-256
    matches: on any failure (including an interrupt) nothing is left behind."""
    request = urllib.request.Request(url, headers={"User-Agent": _user_agent()})
    with atomic_file(final) as out, opener(request, timeout=DOWNLOAD_TIMEOUT_S) as resp:
        digest = hashlib.sha256()
        with _progress(remote.size, remote.filename) as bar:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
        got = digest.hexdigest()
        if got != remote.sha256:
            raise DatasetError(f"SHA-256 mismatch: got {got}, expected {remote.sha256}")


def download_file(
    remote: RemoteFile,
    mirrors: Sequence[str],
    dest_dir: str | os.PathLike[str],
    opener: Callable[..., Any] | None = None,
) -> Path:
    """Download ``remote`` from the first mirror that works into ``dest_dir``.

    Each mirror URL is joined with ``remote.filename``. The bytes go to a
    temporary file in ``dest_dir`` and are renamed to ``dest_dir/filename`` only
    after their SHA-256 matches, so nothing half-written or unverified survives.

    Parameters
    ----------
    remote : RemoteFile
    mirrors : sequence of str
        Base URLs tried in order (``https://``, ``http://`` or ``file://``).
    dest_dir : path
        Created if missing.
    opener : callable, optional
        ``opener(request, timeout=...)`` returning a context manager with
        ``read(n)``; default :func:`urllib.request.urlopen` (looked up at call time,
        so tests can monkeypatch it).

    Raises
    ------
    DownloadError
        If every mirror failed; lists each mirror's error.
    """
    opener = urllib.request.urlopen if opener is None else opener
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / remote.filename
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + remote.filename
        try:
            _fetch(url, final, remote, opener)
            return final
        except (OSError, ValueError, http.client.HTTPException) as err:
            errors.append(f"{url}: {err}")
    raise DownloadError(
        f"could not download {remote.filename} into {dest}:\n  " + "\n  ".join(errors)
    )


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    """Reject members that are links, devices, absolute or climb out with ``..``."""
    parts = PurePosixPath(member.name).parts
    if member.name.startswith(("/", "\\")) or ".." in parts or ":" in member.name:
        raise DatasetError(f"{archive}: unsafe path {member.name!r} in archive")
    if not (member.isfile() or member.isdir()):
        raise DatasetError(f"{archive}: member {member.name!r} is not a plain file or folder")
    if member.isfile() and not parts:  # "" or ".": the destination folder itself
        raise DatasetError(f"{archive}: member {member.name!r} names no file")


def _check_no_clashes(archive: Path, members: list[tarfile.TarInfo], dest: Path) -> None:
    """Reject files that cannot all be written: one file inside another (``a``, then
    ``a/b``, or ``a/b`` where ``dest/a`` is a file already), or a file where ``dest``
    already has a folder."""
    files = {PurePosixPath(m.name).parts: m.name for m in members if m.isfile()}
    for parts, name in files.items():
        for end in range(1, len(parts)):
            if parts[:end] in files:
                raise DatasetError(f"{archive}: member {name!r} lies inside the file member "
                                   f"{files[parts[:end]]!r}")
            folder = dest.joinpath(*parts[:end])
            if folder.exists() and not folder.is_dir():
                raise DatasetError(f"{archive}: member {name!r} lies inside {folder}, which "
                                   "is a file, not a folder")
        if dest.joinpath(*parts).is_dir():
            raise DatasetError(f"{archive}: member {name!r} would replace the folder "
                               f"{dest.joinpath(*parts)}")


def _check_stays_inside(archive: Path, member: tarfile.TarInfo, dest: Path) -> None:
    """Reject a member whose target resolves outside ``dest`` through a symlink that
    already exists there (``dest/data -> /elsewhere`` makes ``data/x`` land elsewhere)."""
    target = dest.joinpath(*PurePosixPath(member.name).parts).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise DatasetError(f"{archive}: member {member.name!r} would be written to {target}, "
                           f"outside {dest}, through a symbolic link")


def safe_extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> list[Path]:
    """Extract the regular files of a tar archive into ``dest``, safely.

    Every member is checked first (no absolute paths, no ``..``, no links or
    devices, no target that an existing symlink in ``dest`` sends outside it, no file
    inside another file or over a folder); if any fails nothing is extracted. Each
    file is written to a temporary file and renamed into place.

    Returns
    -------
    list of Path
        The files written.
    """
    archive, dest = Path(archive), Path(dest)
    written = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_tar_member(archive, member)
                _check_stays_inside(archive, member, dest)
            _check_no_clashes(archive, members, dest)
            for member in (m for m in members if m.isfile()):
                target = dest.joinpath(*PurePosixPath(member.name).parts)
                source = tar.extractfile(member)
                with atomic_file(target) as out:
                    shutil.copyfileobj(source, out, _CHUNK)
                written.append(target)
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise DatasetError(f"{archive}: cannot extract the archive ({err})") from err
    return written
