"""Parsers of the datasets' file formats: IDX (MNIST family) and CIFAR-10 binary.

Every function checks the structure it reads (magic numbers, exact lengths, label
range) and raises :class:`~tinymin.data.errors.DatasetError` naming the file.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from tinymin.checkpoint.archive import read_at_most
from tinymin.data.errors import DatasetError

IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, cols)
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N,)
CIFAR_RECORD_BYTES = 1 + 3 * 32 * 32


#: Records in each of CIFAR-10's binary batches; a file is read no further than this.
CIFAR_RECORDS_PER_BATCH = 10_000


def _open(path: Path) -> BinaryIO:
    """The file for reading bytes, decompressing on the fly when its name ends in ``.gz``."""
    try:
        return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")
    except OSError as err:
        raise DatasetError(f"{path}: cannot read the file ({err})") from err


def _read_at_most(path: Path, f: BinaryIO, limit: int) -> bytearray:
    """Up to ``limit`` bytes of ``f`` (:func:`tinymin.checkpoint.archive.read_at_most`):
    a file that decompresses to gigabytes (a "gzip bomb") or a header that claims more
    than the file holds costs no more memory than a valid file of that header would."""
    try:
        return read_at_most(f, limit)
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path}: cannot read the file ({err})") from err


def read_idx(path: str | os.PathLike[str], magic: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (the MNIST format) into a uint8 array.

    The header is a big-endian 32-bit magic number ``0x000008nn`` (``08`` = unsigned
    byte, ``nn`` = number of dimensions) followed by ``nn`` big-endian 32-bit sizes;
    the payload must hold exactly ``prod(sizes)`` bytes. The header is read first,
    then at most one byte more than the payload it announces.

    Parameters
    ----------
    path : path
        Raw or ``.gz`` file.
    magic : int
        Expected magic number, e.g. ``0x00000803`` for images, ``0x00000801`` for labels.

    Raises
    ------
    DatasetError
        Wrong magic number, truncated header, or a payload shorter or longer
        than the header's dimensions.
    """
    path = Path(path)
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    with _open(path) as f:
        header = _read_at_most(path, f, header_size)
        _check_idx_magic(path, header, magic)
        if len(header) < header_size:
            raise DatasetError(f"{path}: truncated IDX header ({len(header)} bytes, need "
                               f"{header_size})")
        dims = tuple(int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
        # math.prod of Python ints: np.prod would wrap around at 2**63 (2**31 * 2**31 * 4 == 0)
        needed = math.prod(dims)
        payload = _read_at_most(path, f, needed + 1)
    if len(payload) < needed:
        raise DatasetError(f"{path}: IDX payload is {len(payload)} bytes but the header's "
                           f"dimensions {dims} need {needed} (file truncated)")
    if len(payload) > needed:
        raise DatasetError(f"{path}: IDX payload is longer than the {needed} bytes the header's "
                           f"dimensions {dims} need (file has trailing bytes)")
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims).copy()


def _check_idx_magic(path: Path, raw: bytes, magic: int) -> None:
    """Raise :class:`DatasetError` unless ``raw`` starts with ``magic``."""
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found == magic:
        return
    shown = "none (file shorter than 4 bytes)" if found is None else f"0x{found:08x}"
    hint = ""
    if raw[:2] == b"\x1f\x8b":
        hint = "; the file is gzip-compressed, so give it a .gz suffix"
    raise DatasetError(f"{path}: IDX magic number {shown}, expected 0x{magic:08x}{hint}")


def check_labels(path: Path, labels: np.ndarray, n_classes: int) -> None:
    """Raise :class:`DatasetError` naming ``path`` if a label is ``>= n_classes``."""
    bad = np.flatnonzero(labels >= n_classes)
    if bad.size:
        raise DatasetError(
            f"{path}: label {int(labels[bad[0]])} at index {bad[0]} is outside "
            f"0..{n_classes - 1} ({bad.size} such labels)"
        )


def load_idx_pair(
    images_path: Path, labels_path: Path, image_shape: tuple[int, int] = (28, 28)
) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check an images/labels IDX pair; return ``(uint8 images, uint8 labels)``.

    Raises
    ------
    DatasetError
        Naming the file: unreadable (see :func:`read_idx`), no images, images of
        another size, or counts of images and labels that differ.
    """
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if len(images) == 0:
        raise DatasetError(f"{images_path}: the file holds no images (its header says 0)")
    if images.shape[1:] != image_shape:
        raise DatasetError(
            f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, "
            f"expected {image_shape[0]}x{image_shape[1]}"
        )
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    check_labels(labels_path, labels, 10)
    return images, labels


def read_cifar_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch; return ``(uint8 (N, 3, 32, 32), uint8 (N,))``.

    Each record is 1 label byte followed by 3072 pixel bytes: the 1024 red values
    of the 32x32 image row by row, then green, then blue.

    Raises
    ------
    DatasetError
        If the file is empty, its length is not a multiple of 3073 bytes, or a
        label is not in 0..9.
    """
    path = Path(path)
    limit = CIFAR_RECORDS_PER_BATCH * CIFAR_RECORD_BYTES
    with _open(path) as f:
        raw = _read_at_most(path, f, limit + 1)
    if len(raw) > limit:
        raise DatasetError(f"{path}: more than the {CIFAR_RECORDS_PER_BATCH:,} records of a "
                           "CIFAR-10 batch")
    if len(raw) == 0 or len(raw) % CIFAR_RECORD_BYTES:
        raise DatasetError(
            f"{path}: {len(raw)} bytes is not a positive multiple of the "
            f"{CIFAR_RECORD_BYTES}-byte CIFAR-10 record (1 label + 3072 pixels)"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
    labels = records[:, 0].copy()
    check_labels(path, labels, 10)
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels
