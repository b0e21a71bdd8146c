"""The datasets the command line knows by name, with the transforms each one uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tinymin.data import transforms as T
from tinymin.data.dataset import Dataset
from tinymin.data.datasets import CIFAR10, MNIST, EmbeddedMNIST, FashionMNIST

#: Per-channel mean and std of the CIFAR-10 training set (widely published values).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset."""

    name: str
    in_channels: int
    num_classes: int
    input_size: int


CATALOG: dict[str, DatasetInfo] = {
    "mnist-embedded": DatasetInfo("mnist-embedded", 1, 10, 28),
    "mnist": DatasetInfo("mnist", 1, 10, 28),
    "fashion-mnist": DatasetInfo("fashion-mnist", 1, 10, 28),
    # The paper feeds 28x28 crops of the 32x32 CIFAR images (docs/guides/minconv_math.rst,
    # section 7).
    "cifar10": DatasetInfo("cifar10", 3, 10, 28),
}


def cifar_transforms(train: bool, augment: bool) -> Callable:
    """Random 28x28 crop + flip for training (if ``augment``), centre crop for test."""
    normalize = T.Normalize(CIFAR10_MEAN, CIFAR10_STD)
    if train and augment:
        return T.Compose([T.RandomCrop(28), T.RandomHorizontalFlip(), normalize])
    return T.Compose([T.CenterCrop(28), normalize])


def load_splits(name: str, root: str | None = None, augment: bool = True,
                download: bool = False) -> tuple[Dataset, Dataset, DatasetInfo]:
    """``(train, test, info)`` for a catalog name such as ``"mnist-embedded"``."""
    train = load_split(name, True, root, augment, download)
    return train, load_split(name, False, root, augment, download), CATALOG[name]


def load_split(name: str, train: bool, root: str | None = None, augment: bool = True,
               download: bool = False) -> Dataset:
    """One split of a catalog dataset; only that split's files are needed."""
    if name not in CATALOG:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(CATALOG)}")
    if name == "mnist-embedded":
        return EmbeddedMNIST(train=train)
    if name in ("mnist", "fashion-mnist"):
        cls = MNIST if name == "mnist" else FashionMNIST
        return cls(root, train=train, download=download)
    return CIFAR10(root, train=train, transform=cifar_transforms(train, augment), download=download)
