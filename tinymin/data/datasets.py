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

This module holds the datasets read from files (MNIST, Fashion-MNIST, CIFAR-10) and
re-exports the rest. The shared base class: :mod:`tinymin.data.image_classification`;
the embedded subset and its checks: :mod:`tinymin.data.embedded`; where the files are
looked for: :mod:`tinymin.data.files`; downloads and their verification:
:mod:`tinymin.data.download`; the file formats: :mod:`tinymin.data.parsers`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tinymin.data.download import RemoteFile, download_file, safe_extract
from tinymin.data.embedded import (  # the embedded subset's names stay importable from here
    EMBEDDED_DIR,  # noqa: F401
    EMBEDDED_MNIST,  # noqa: F401
    EmbeddedFile,
    EmbeddedMNIST,
    load_embedded_mnist,
)
from tinymin.data.errors import DatasetError, DatasetNotFoundError, DownloadError
from tinymin.data.files import ENV_VAR, data_root, find_root, locate_file, sha256_of
from tinymin.data.image_classification import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    _ImageClassification,
)
from tinymin.data.parsers import load_idx_pair, read_cifar_batch

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
