"""Datasets: indexable collections of ``(input, target)`` samples, as in PyTorch."""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinymin.random import Generator, default_rng


class Dataset:
    """Base class: a dataset is anything with ``__len__`` and ``__getitem__``.

    Subclasses return one sample per index, usually a tuple ``(x, y)`` of a
    numpy array and an int label.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        """``a + b``: the samples of ``a``, then those of ``b`` (:class:`ConcatDataset`)."""
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Wrap arrays (or Tensors) that share their first dimension.

    ``dataset[i]`` returns ``tuple(a[i] for a in arrays)``.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        self.arrays = [np.asarray(a) for a in arrays]
        n = len(self.arrays[0])
        for a in self.arrays[1:]:
            if len(a) != n:
                shapes = [x.shape for x in self.arrays]
                raise ValueError(f"TensorDataset: first dimensions differ, shapes {shapes}")

    def __getitem__(self, index: int) -> tuple:
        return tuple(a[index] for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])


class ConcatDataset(Dataset):
    """The samples of several datasets, one after another, as PyTorch's.

    Index :math:`i` falls in the first dataset whose running total of lengths exceeds
    it (``cumulative_sizes``, found by bisection); negative indices count from the end.
    """

    def __init__(self, datasets: Sequence[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        if not -len(self) <= index < len(self):
            raise IndexError(f"ConcatDataset: index {index} is out of range for "
                             f"{len(self)} samples")
        index = index % len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


class Subset(Dataset):
    """The samples of ``dataset`` at the given ``indices``, in that order.

    ``indices`` is kept as given (:func:`random_split` gives a list), as in PyTorch, and
    passed on to ``dataset`` as they are: ints, or any key the dataset takes. A list of
    positions gives the dataset the list of their indices.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[Any]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(
    dataset: Dataset,
    lengths: Sequence[int | float],
    generator: Generator | None = None,
    *,
    seed: int | None = None,
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    Parameters
    ----------
    dataset : Dataset
    lengths : sequence of int, or of float
        Sizes that add up to ``len(dataset)``, or fractions that add up to 1: each
        split then gets :math:`\\lfloor n f_i \\rfloor` samples and the remainder is
        dealt out one by one from the first split on, as PyTorch does.
    generator : tinymin.Generator, optional
        Draws the permutation; by default tinymin's global generator.
    seed : int, optional
        tinymin's shortcut: a generator seeded with ``seed`` for this split alone.
    """
    if seed is not None and generator is not None:
        raise ValueError("random_split: give generator= or seed=, not both")
    n = len(dataset)
    lengths = _lengths_from_fractions(lengths, n) if _are_fractions(lengths) else list(lengths)
    if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in lengths):
        raise TypeError(f"random_split: lengths {list(lengths)} must be integers (or fractions "
                        "that sum to 1)")
    if sum(lengths) != n or any(k < 0 for k in lengths):
        raise ValueError(
            f"random_split: lengths {list(lengths)} must be non-negative and sum to "
            f"len(dataset) = {n} (or be fractions that sum to 1)"
        )
    if seed is not None:
        rng = np.random.default_rng(seed)
    else:
        rng = default_rng() if generator is None else generator.numpy_generator
    order = rng.permutation(n).tolist()  # a list of ints, as PyTorch's indices
    subsets, start = [], 0
    for k in lengths:
        subsets.append(Subset(dataset, order[start : start + k]))
        start += k
    return subsets


def _are_fractions(lengths: Sequence[int | float]) -> bool:
    """PyTorch's test: the lengths sum to (about) 1, and not above it."""
    total = sum(lengths)
    return math.isclose(total, 1) and total <= 1


def _lengths_from_fractions(fractions: Sequence[float], n: int) -> list[int]:
    lengths = []
    for index, fraction in enumerate(fractions):
        if not 0 <= fraction <= 1:
            raise ValueError(f"random_split: fraction at index {index} is not between 0 and 1")
        lengths.append(int(math.floor(n * fraction)))
    for i in range(n - sum(lengths)):  # the remainder, one each from the first split on
        lengths[i % len(lengths)] += 1
    for index, length in enumerate(lengths):
        if length == 0:
            warnings.warn(f"random_split: split {index} is empty", UserWarning, stacklevel=3)
    return lengths


def random_subset(dataset: Dataset, n: int | None, seed: int) -> Dataset:
    """A seeded random subset of ``n`` samples; the dataset itself when ``n`` is None or
    at least its length (what the command line's ``--train-limit`` uses)."""
    if n is None or n >= len(dataset):
        return dataset
    if n <= 0:
        raise ValueError(f"limit must be positive, got {n}")
    return Subset(dataset, np.random.default_rng(seed).permutation(len(dataset))[:n].tolist())
