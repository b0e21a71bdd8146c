"""``DataLoader``: batches of samples from a Dataset, shuffled reproducibly."""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from typing import Any, Callable

import numpy as np

from tinymin.data.dataset import Dataset
from tinymin.random import default_rng, generator_state_from_json, generator_state_to_json
from tinymin.tensor import Tensor


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch, keeping the sample's structure.

    Arrays become one Tensor with a new leading batch axis; Python ints become an
    int64 Tensor, floats a float32 Tensor; tuples and dicts are collated field by field.
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, Tensor):
        return Tensor(np.stack([s.data for s in samples]))
    if isinstance(first, np.ndarray):
        return Tensor(np.stack(samples))
    if isinstance(first, (bool, np.bool_)):
        return Tensor(np.array(samples, dtype=bool))
    if isinstance(first, numbers.Integral):
        return Tensor(np.array(samples, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return Tensor(np.array(samples, dtype=np.float32))
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}")


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
