"""Datasets: indexable collections of ``(input, target)`` samples, as in PyTorch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinymin.random import default_rng


class Dataset:
    """Base class: a dataset is anything with ``__len__`` and ``__getitem__``.

    Subclasses return one sample per index, usually a tuple ``(x, y)`` of a
    numpy array and an int label.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Wrap arrays (or Tensors) that share their first dimension.

    ``dataset[i]`` returns ``tuple(a[i] for a in arrays)``.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        self.arrays = [np.asarray(getattr(a, "data", a)) for a in arrays]
        n = len(self.arrays[0])
        for a in self.arrays[1:]:
            if len(a) != n:
                shapes = [x.shape for x in self.arrays]
                raise ValueError(f"TensorDataset: first dimensions differ, shapes {shapes}")

    def __getitem__(self, index: int) -> tuple:
        return tuple(a[index] for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])


class Subset(Dataset):
    """The samples of ``dataset`` at the given ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(
    dataset: Dataset, lengths: Sequence[int], seed: int | None = None
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    Parameters
    ----------
    dataset : Dataset
    lengths : sequence of int
        Must add up to ``len(dataset)``.
    seed : int, optional
        Seed for this split alone; by default tinymin's global generator is used.
    """
    if sum(lengths) != len(dataset) or any(n < 0 for n in lengths):
        raise ValueError(
            f"random_split: lengths {list(lengths)} must be non-negative and sum to "
            f"len(dataset) = {len(dataset)}"
        )
    rng = default_rng() if seed is None else np.random.default_rng(seed)
    order = rng.permutation(len(dataset))
    subsets, start = [], 0
    for n in lengths:
        subsets.append(Subset(dataset, order[start : start + n]))
        start += n
    return subsets


def random_subset(dataset: Dataset, n: int | None, seed: int) -> Dataset:
    """A seeded random subset of ``n`` samples; the dataset itself when ``n`` is None or
    at least its length (what the command line's ``--train-limit`` uses)."""
    if n is None or n >= len(dataset):
        return dataset
    if n <= 0:
        raise ValueError(f"limit must be positive, got {n}")
    return Subset(dataset, np.random.default_rng(seed).permutation(len(dataset))[:n])
