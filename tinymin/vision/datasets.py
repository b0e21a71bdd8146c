"""MNIST and Fashion-MNIST with torchvision's behaviour: the same arguments, the files
found where torchvision puts them, and each image handed to ``transform`` as torchvision
hands it.

torchvision's ``MNIST(root, train, transform, target_transform, download)`` returns
``(PIL image, int)`` samples, and a program turns the image into a tensor with
``transforms.ToTensor()``. The classes here do the same when Pillow is importable
(it is whenever matplotlib is installed): the image is a ``PIL.Image.Image`` of mode
``"L"``. Without Pillow they hand a ``uint8`` array of shape ``(28, 28)`` instead,
which :class:`tinymin.vision.transforms.ToTensor` accepts as well, so a program with
``ToTensor()`` in its transform runs the same either way.

Files are found as by :class:`tinymin.data.datasets.MNIST`: under ``root`` in
torchvision's ``MNIST/raw/`` (``FashionMNIST/raw/``) or tinymin's ``mnist/``
(``fashion-mnist/``) or ``root`` itself, each IDX file raw or ``.gz``; ``download=True``
puts them in torchvision's place, ``root/MNIST/raw/``. ``.data`` and ``.targets`` stay
numpy arrays (torchvision's are tensors).
"""

from __future__ import annotations

import operator
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tinymin.data import datasets as tinymin_datasets
from tinymin.data.embedded import EmbeddedMNIST as _EmbeddedArrays

__all__ = ["EmbeddedMNIST", "FashionMNIST", "MNIST", "to_image"]


def to_image(pixels: np.ndarray) -> Any:
    """What torchvision hands a transform: a PIL image if Pillow is importable, else
    the ``uint8`` array itself (a copy, so a transform cannot change the dataset)."""
    try:
        from PIL import Image
    except ImportError:
        return np.array(pixels, copy=True)
    return Image.fromarray(np.ascontiguousarray(pixels))


class _TorchvisionSamples:
    """``(image, int label)`` samples as torchvision builds them (see :func:`to_image`)."""

    data: np.ndarray
    targets: np.ndarray
    transform: Callable[[Any], Any] | None
    target_transform: Callable[[int], Any] | None
    classes: list[str]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        i = operator.index(index)
        image: Any = to_image(self.data[i])
        target: Any = int(self.targets[i])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    @property
    def class_to_idx(self) -> dict[str, int]:
        """Class name -> label, as torchvision's."""
        return {name: index for index, name in enumerate(self.classes)}


class MNIST(_TorchvisionSamples, tinymin_datasets.MNIST):
    """MNIST as ``torchvision.datasets.MNIST``.

    Parameters
    ----------
    root : path, optional
        The folder holding ``MNIST/raw/`` (torchvision's layout) or ``mnist/`` or the
        files themselves; default tinymin's data root.
    train : bool, default True
    transform : callable, optional
        Applied to each image (a PIL image, or a ``uint8`` ``(28, 28)`` array without
        Pillow); usually ends with ``transforms.ToTensor()``.
    target_transform : callable, optional
    download : bool, default False
        Download missing files into ``root/MNIST/raw/``, checking their SHA-256.
    """

    raw_folder_name = "MNIST"

    def __init__(self, root: str | os.PathLike[str] | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[int], Any] | None = None,
                 download: bool = False) -> None:
        super().__init__(root, train=train, transform=transform,
                         target_transform=target_transform, download=download)

    @classmethod
    def _find_or_download(cls, files, root, download) -> Path:
        try:
            return super()._find_or_download(files, root, download=False)
        except tinymin_datasets.DatasetNotFoundError:
            if not download:
                raise
        dest = tinymin_datasets.data_root(root) / cls.raw_folder_name / "raw"
        cls._download(files, dest)
        return dest


class FashionMNIST(MNIST, tinymin_datasets.FashionMNIST):
    """Fashion-MNIST as ``torchvision.datasets.FashionMNIST``; the arguments are
    :class:`MNIST`'s, the files in ``root/FashionMNIST/raw/`` (or tinymin's places)."""

    raw_folder_name = "FashionMNIST"
    # name, classes, subdirs, mirrors and checksums: tinymin's FashionMNIST's, which
    # comes before tinymin's MNIST in the method resolution order


class EmbeddedMNIST(_TorchvisionSamples, _EmbeddedArrays):
    """The MNIST subset shipped inside tinymin (5,000 training digits, the 10,000 test
    digits), with :class:`MNIST`'s arguments and samples, so a torchvision program
    runs on it with one word changed: ``datasets.MNIST(...)`` ->
    ``datasets.EmbeddedMNIST(...)``. ``root`` and ``download`` are accepted and unused
    (nothing is read from disk outside tinymin, nothing is downloaded).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[int], Any] | None = None,
                 download: bool = False) -> None:
        super().__init__(train, transform, target_transform)
