"""Samplers: the order in which a DataLoader visits a dataset, as ``torch.utils.data``.

A *sampler* yields dataset indices; a *batch sampler* yields lists of them. The
DataLoader builds ``BatchSampler(RandomSampler(...) or SequentialSampler(...))`` from
its ``shuffle``, ``batch_size`` and ``drop_last`` unless given its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np

from tinymin.random import Generator, default_rng

__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "numpy_rng"]


def numpy_rng(generator: Generator | np.random.Generator | None) -> np.random.Generator:
    """The numpy generator to draw from: ``generator``'s, else tinymin's global one
    (looked up now, so ``tinymin.manual_seed`` between epochs takes effect)."""
    if generator is None:
        return default_rng()
    if isinstance(generator, Generator):
        return generator.numpy_generator
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a tinymin.Generator (or a numpy Generator), got "
                    f"{type(generator).__name__}")


class Sampler:
    """Base class: an iterable of dataset indices (``__iter__``), usually with ``__len__``."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``, in order."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new random permutation of the indices at every pass (or, with
    ``replacement=True``, ``num_samples`` indices drawn uniformly with replacement).

    Parameters
    ----------
    data_source : sized
    replacement : bool, default False
    num_samples : int, optional
        Default ``len(data_source)``.
    generator : tinymin.Generator, optional
        Default: tinymin's global generator, at each pass.
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None,
                 generator: Generator | np.random.Generator | None = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement must be a bool, got {replacement!r}")
        if num_samples is not None and (isinstance(num_samples, bool) or
                                        not isinstance(num_samples, (int, np.integer)) or
                                        num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples must be a positive int, got "
                             f"{num_samples!r}")
        numpy_rng(generator)  # raises for a wrong type now, not at the first pass
        self.data_source, self.replacement = data_source, replacement
        self._num_samples, self.generator = num_samples, generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self) -> Iterator[int]:
        n, rng = len(self.data_source), numpy_rng(self.generator)
        if self.replacement:
            return iter(rng.integers(0, n, size=self.num_samples).tolist())
        order = rng.permutation(n)  # one permutation per pass (num_samples may exceed n)
        while len(order) < self.num_samples:
            order = np.concatenate([order, rng.permutation(n)])
        return iter(order[: self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights``
    (with replacement by default), as PyTorch's: a class-balanced sampler gives each
    sample the weight ``1 / count(its class)``.

    Parameters
    ----------
    weights : sequence of float
        One non-negative weight per index, not all zero.
    num_samples : int
    replacement : bool, default True
        Without replacement, each index at most once (``num_samples <= len(weights)``).
    generator : tinymin.Generator, optional
        Default: tinymin's global generator, at each pass.
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Generator | np.random.Generator | None = None) -> None:
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or \
                num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples must be a positive int, got "
                             f"{num_samples!r}")
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement must be a bool, got "
                             f"{replacement!r}")
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1 or not np.all(np.isfinite(weights)) or np.any(weights < 0) or \
                not weights.sum() > 0:
            raise ValueError("WeightedRandomSampler: weights must be a 1-D sequence of finite, "
                             "non-negative numbers, not all zero")
        if not replacement and num_samples > np.count_nonzero(weights):
            raise ValueError(f"WeightedRandomSampler: {num_samples} samples without replacement "
                             f"from {np.count_nonzero(weights)} non-zero weights")
        numpy_rng(generator)  # raises for a wrong type now, not at the first pass
        self.weights, self.num_samples = weights, int(num_samples)
        self.replacement, self.generator = replacement, generator

    def __iter__(self) -> Iterator[int]:
        rng = numpy_rng(self.generator)
        drawn = rng.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                           p=self.weights / self.weights.sum())
        return iter(drawn.tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices``, in a new random order at every pass."""

    def __init__(self, indices: Iterable[int],
                 generator: Generator | np.random.Generator | None = None) -> None:
        numpy_rng(generator)
        self.indices, self.generator = list(indices), generator

    def __iter__(self) -> Iterator[int]:
        order = numpy_rng(self.generator).permutation(len(self.indices))
        return iter([self.indices[i] for i in order])

    def __len__(self) -> int:
        return len(self.indices)


def as_index(index: Any) -> Any:
    """A sampler's index as a dataset gets it: numpy's ints as Python ints, anything
    else (a string key, a list of indices) as it is, as in PyTorch."""
    return int(index) if isinstance(index, np.integer) else index


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size`` (the last one
    shorter unless ``drop_last``)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
                batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last must be a bool, got {drop_last!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for index in self.sampler:
            batch.append(as_index(index))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
