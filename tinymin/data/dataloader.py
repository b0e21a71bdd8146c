"""``DataLoader``: batches of samples from a Dataset, shuffled reproducibly."""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from typing import Any, Callable

import numpy as np

from tinymin import overrides
from tinymin.data.dataset import Dataset
from tinymin.random import default_rng, generator_state_from_json, generator_state_to_json
from tinymin.tensor import Tensor


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch, keeping the sample's structure.

    Arrays become one Tensor with a new leading batch axis; tuples and dicts are
    collated field by field. Python numbers become one Tensor whose dtype fits them
    all: bool if every one is a bool, int64 if every one is an integer, else float32,
    so a float label after int labels gives a float batch, never a truncated one
    (arrays of different dtypes promote the same way, by numpy's rules).

    Raises
    ------
    ValueError
        When samples differ in structure (a tuple of 1 and a tuple of 2, a number and
        an array, dicts with other keys) or arrays in shape; the message names the
        first sample that differs from sample 0.
    TypeError
        For a type it cannot batch.
    """
    mine = overrides.lookup("default_collate")
    if mine is not None:  # the learner's default_collate (tinymin.exercises.use)
        return mine(samples)
    first = samples[0]
    kind = _kind(first)
    for index, sample in enumerate(samples):
        if _kind(sample) != kind or _layout(sample) != _layout(first):
            raise ValueError(
                f"default_collate: sample {index} is {_describe(sample)} but sample 0 is "
                f"{_describe(first)}; every sample of a batch needs the same structure"
            )
    if kind == "sequence":
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if kind == "mapping":
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if kind == "array":
        return Tensor(np.stack([getattr(s, "data", s) for s in samples]))
    if kind == "number":
        return Tensor(np.array(samples, dtype=_number_dtype(samples)))
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}")


def _kind(sample: Any) -> str:
    if isinstance(sample, (tuple, list)):
        return "sequence"
    if isinstance(sample, dict):
        return "mapping"
    if isinstance(sample, (Tensor, np.ndarray)):
        return "array"
    if isinstance(sample, (bool, np.bool_, numbers.Real)):
        return "number"
    return type(sample).__name__


def _layout(sample: Any) -> Any:
    """What must match across a batch: a sequence's length, a dict's keys, an array's shape."""
    kind = _kind(sample)
    if kind == "sequence":
        return len(sample)
    if kind == "mapping":
        return sorted(map(str, sample))
    if kind == "array":
        return np.shape(getattr(sample, "data", sample))
    return None


def _describe(sample: Any) -> str:
    kind = _kind(sample)
    if kind == "sequence":
        return f"a {type(sample).__name__} of {len(sample)}"
    if kind == "mapping":
        return f"a dict with keys {sorted(map(str, sample))}"
    if kind == "array":
        return f"an array of shape {np.shape(getattr(sample, 'data', sample))}"
    name = type(sample).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _number_dtype(samples: Sequence[Any]) -> type:
    if all(isinstance(s, (bool, np.bool_)) for s in samples):
        return np.bool_
    if all(isinstance(s, numbers.Integral) for s in samples):
        return np.int64
    return np.float32


class DataLoader:
    """Iterate over a dataset in (optionally shuffled) mini-batches.

    Parameters
    ----------
    dataset : Dataset
        Anything with ``__len__`` and ``__getitem__``.
    batch_size : int
        Samples per batch.
    shuffle : bool
        Draw a new random order every epoch.
    drop_last : bool
        Drop the last batch if it is smaller than ``batch_size``.
    collate_fn : callable, optional
        Turns a list of samples into a batch; :func:`default_collate` by default.
    seed : int, optional
        Seed for this loader's own shuffling generator; by default shuffling draws from
        tinymin's global generator (see :func:`tinymin.manual_seed`).
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable[[list], Any] | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn or default_collate
        self._rng = None if seed is None else np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batch_indices(self) -> list[np.ndarray]:
        """The index arrays of one epoch's batches (a new order each call if shuffling)."""
        n = len(self.dataset)
        if self.shuffle:
            order = (self._rng or default_rng()).permutation(n)
        else:
            order = np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        return [order[i : i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def __iter__(self) -> Iterator[Any]:
        for indices in self.batch_indices():
            yield self.collate_fn([self.dataset[int(i)] for i in indices])

    def get_rng_state(self) -> str | None:
        """JSON text of this loader's own shuffling generator (None if it uses the global one)."""
        return None if self._rng is None else generator_state_to_json(self._rng)

    def set_rng_state(self, state: str | None) -> None:
        """Restore the shuffling generator saved by :func:`get_rng_state` (so a resumed
        run draws the same epoch orders as an uninterrupted one)."""
        if state is None or self._rng is None:
            if (state is None) != (self._rng is None):
                raise ValueError("DataLoader.set_rng_state: the state and this loader disagree "
                                 "on whether the loader has its own generator (seed=...)")
            return
        generator_state_from_json(self._rng, state)

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}(n={len(self.dataset)}), "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})")
