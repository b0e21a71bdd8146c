"""Finding dataset files on disk, and checking a file's SHA-256.

One *data root*: the ``root=`` argument, else ``$TINYMIN_DATA``, else
``~/.cache/tinymin``. Inside it a dataset may live in its own subfolder
(``mnist/``, ``fashion-mnist/``, ``cifar-10/``) or directly in the root; the MNIST
family also accepts torchvision's layout (``MNIST/raw/``, ``FashionMNIST/raw/``).
When no ``root=`` is given, Fashion-MNIST is also found in
``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist`` package,
which ships the four ``*-ubyte.gz`` files there). IDX files may be raw or ``.gz``.
Downloads always go to ``<data root>/<name>/``.

"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from tinymin.data.errors import DatasetNotFoundError

#: Environment variable naming the data root.
ENV_VAR = "TINYMIN_DATA"
_CHUNK = 1 << 20


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$TINYMIN_DATA``, else ``~/.cache/tinymin``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "tinymin"


def candidate_dirs(
    name: str,
    root: str | os.PathLike[str] | None = None,
    extra_dirs: Iterable[str | os.PathLike[str]] = (),
    subdirs: Sequence[str] | None = None,
) -> list[Path]:
    """The folders searched for dataset ``name``, in order.

    Parameters
    ----------
    name : str
        The dataset's folder name, e.g. ``"mnist"``.
    root : path, optional
        An explicit data root. When given, only it is searched (not
        ``$TINYMIN_DATA``, the cache or ``extra_dirs``), so results never depend on
        what else is installed.
    extra_dirs : iterable of paths
        System-wide bases searched after the data root when ``root`` is None.
    subdirs : sequence of str, optional
        Relative folders tried inside each base; ``""`` is the base itself.
        Default ``(name, "")``.
    """
    bases = [data_root(root)]
    if root is None:
        bases += [Path(d) for d in extra_dirs]
    subdirs = (name, "") if subdirs is None else subdirs
    found: list[Path] = []
    for base in bases:
        for sub in subdirs:
            folder = base / sub if sub else base
            if folder not in found:
                found.append(folder)
    return found


def locate_file(folder: Path, filename: str) -> Path | None:
    """``folder/filename``, else ``folder/filename.gz``, else None."""
    for candidate in (folder / filename, folder / f"{filename}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_root(
    name: str,
    files: Sequence[str],
    root: str | os.PathLike[str] | None = None,
    extra_dirs: Iterable[str | os.PathLike[str]] = (),
    subdirs: Sequence[str] | None = None,
) -> Path:
    """The first of :func:`candidate_dirs` that holds every one of ``files``.

    Each file may be raw or gzip-compressed (``<file>.gz``). A folder that holds some
    of the files but not all stops the search: the files found later could belong to
    another data set of the same file names (MNIST and Fashion-MNIST share theirs).

    Raises
    ------
    DatasetNotFoundError
        Naming the folder and the missing files where one holds only some of them;
        else listing the files, the folders searched and where to put the files.
    """
    searched = candidate_dirs(name, root, extra_dirs, subdirs)
    for folder in searched:
        present = [f for f in files if locate_file(folder, f) is not None]
        if len(present) == len(files):
            return folder
        if present:
            missing = [f for f in files if f not in present]
            raise DatasetNotFoundError(
                f"{name}: {folder} holds {', '.join(present)} but not {', '.join(missing)} "
                "(each raw or .gz). Put the missing files there, or move that folder away, "
                "or pass download=True to complete it."
            )
    target = data_root(root) / name
    raise DatasetNotFoundError(
        f"{name}: could not find {', '.join(files)} (each raw or .gz). Searched:\n  "
        + "\n  ".join(str(d) for d in searched)
        + f"\nPut the files in {target} (or pass root=..., or set ${ENV_VAR}), "
        "or pass download=True."
    )


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
