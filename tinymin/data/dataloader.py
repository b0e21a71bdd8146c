"""``DataLoader``: batches of samples from a Dataset, shuffled reproducibly, loaded in
the main process or in worker processes (:mod:`tinymin.data.workers`)."""

from __future__ import annotations

import hashlib
import multiprocessing
import numbers
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Callable

import numpy as np

from tinymin import overrides
from tinymin.data.dataset import Dataset
from tinymin.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    as_index,
)
from tinymin.data.workers import MultiProcessIterator
from tinymin.random import (
    Generator,
    default_rng,
    generator_state_from_json,
    generator_state_to_json,
    next_global_worker_pass,
)
from tinymin.tensor import Tensor


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch, keeping the sample's structure, as PyTorch's.

    Arrays become one Tensor with a new leading batch axis. Tuples and lists are
    collated field by field into a list (so ``x, y = batch`` unpacks it and
    ``batch[0] = ...`` works, as in PyTorch), a named tuple into the same named tuple,
    dicts key by key. Numpy scalars (a ``TensorDataset`` row of a 1-D array) become
    one Tensor of their dtype. Python numbers become one Tensor whose dtype fits them
    all: bool if every one is a bool, int64 if every one is an integer, else float32,
    so a float label after int labels gives a float batch, never a truncated one
    (arrays of different dtypes promote the same way, by numpy's rules). Strings
    (file names) are kept as a list of them.

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
        fields = [default_collate([s[i] for s in samples]) for i in range(len(first))]
        return type(first)(*fields) if _is_namedtuple(first) else fields
    if kind == "mapping":
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if kind == "array":
        return Tensor(np.stack([np.asarray(s) for s in samples]))
    if kind == "number":
        return Tensor(np.array(samples, dtype=_number_dtype(samples)))
    if kind == "string":
        return list(samples)
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}")


def _is_namedtuple(sample: Any) -> bool:
    return isinstance(sample, tuple) and hasattr(sample, "_fields")


def _kind(sample: Any) -> str:
    if isinstance(sample, (str, bytes)):
        return "string"
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
        return np.shape(sample)
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


def _number_dtype(samples: Sequence[Any]) -> Any:
    """Numpy scalars keep their dtype (a float64 or int32 label column stays one, as in
    PyTorch); Python numbers, or a mix: bool, int64, else float32."""
    if all(isinstance(s, np.generic) for s in samples):
        return np.result_type(*samples)
    if all(isinstance(s, (bool, np.bool_)) for s in samples):
        return np.bool_
    if all(isinstance(s, numbers.Integral) for s in samples):
        return np.int64
    return np.float32


def default_convert(sample: Any) -> Any:
    """What ``batch_size=None`` hands out: the sample with its arrays and numpy scalars of
    numbers made Tensors (tuples, lists and dicts converted field by field), as
    PyTorch's ``default_convert``: a tuple becomes a list, as in :func:`default_collate`;
    a named tuple stays one; arrays of strings stay as they are."""
    if isinstance(sample, (np.ndarray, np.generic)) and sample.dtype.kind in "biuf":
        return Tensor(np.asarray(sample))  # a numpy scalar: a 0-d Tensor, as in PyTorch
    if _is_namedtuple(sample):
        return type(sample)(*(default_convert(s) for s in sample))
    if isinstance(sample, (tuple, list)):
        return [default_convert(s) for s in sample]
    if isinstance(sample, dict):
        return {key: default_convert(value) for key, value in sample.items()}
    return sample


class Fetcher:
    """Load one batch: the samples at ``indices``, collated (or one converted sample when
    batching is off). A small picklable object, run in the main process or a worker."""

    def __init__(self, collate_fn: Callable[[Any], Any], batched: bool) -> None:
        self.collate_fn, self.batched = collate_fn, batched

    def __call__(self, dataset: Any, indices: Any) -> Any:
        if self.batched:
            return self.collate_fn([dataset[as_index(i)] for i in indices])
        return self.collate_fn(dataset[as_index(indices)])


class SingleProcessIterator:
    """One pass over a DataLoader in this process: a batch per ``next``. An exception
    from the dataset or the collate function leaves the pass where it was, so the
    next ``next`` gives the batch after it, as PyTorch's iterator does."""

    def __init__(self, loader: Any, fetch: Fetcher) -> None:
        self.dataset, self.fetch = loader.dataset, fetch
        self.batches = loader.index_batches()
        self.length = len(loader)

    def __iter__(self) -> SingleProcessIterator:
        return self

    def __len__(self) -> int:
        """The batches of the whole pass, as ``len(loader)`` (PyTorch's iterators have it)."""
        return self.length

    def __next__(self) -> Any:
        return self.fetch(self.dataset, next(self.batches))


class DataLoader:
    """Iterate over a dataset in (optionally shuffled) mini-batches, as PyTorch's.

    The arguments, their order and their defaults are PyTorch's; each is checked, so a
    positional argument in the wrong place (``DataLoader(ds, True)``) is refused with a
    TypeError instead of meaning something else.

    Parameters
    ----------
    dataset : Dataset
        Anything with ``__len__`` and ``__getitem__`` (a map-style dataset).
    batch_size : int or None, default 1
        Samples per batch; None turns batching off (each sample is handed out alone,
        its arrays made Tensors).
    shuffle : bool, default False
        Visit the samples in a new random order every epoch.
    sampler : Sampler or iterable of int, optional
        The order of the indices (then ``shuffle`` must be False).
    batch_sampler : Sampler or iterable of lists of int, optional
        Whole batches of indices (then leave ``batch_size``, ``shuffle``, ``sampler`` and
        ``drop_last`` at their defaults).
    num_workers : int, default 0
        Worker processes loading batches in parallel; 0 loads in the main process. The
        batches hold the same samples in the same order either way; random transforms
        draw from each worker's own generators, seeded for each pass, so their draws
        differ from the main process's, and a transform given its own ``rng=`` is
        copied into every worker, which then draw alike (:mod:`tinymin.data.workers`).
    collate_fn : callable, optional
        Turns a list of samples into a batch; :func:`default_collate` by default.
    pin_memory : bool, default False
        Accepted; does nothing (it pins memory for copies to a GPU, and tinymin runs
        on the CPU).
    drop_last : bool, default False
        Drop the last batch if it is smaller than ``batch_size``.
    timeout : float, default 0
        Seconds to wait for a worker's batch before raising (0: no limit).
    worker_init_fn : callable, optional
        Called as ``worker_init_fn(worker_id)`` in each worker after it is seeded.
    multiprocessing_context : str or context, optional
        How workers start (``"fork"``, ``"spawn"``, ...); Python's default if None.
    generator : tinymin.Generator, optional
        Draws the shuffling order (and the workers' base seed) instead of tinymin's
        global generator.
    prefetch_factor : int, optional
        Batches each worker loads ahead (2 if None); only with ``num_workers > 0``.
    persistent_workers : bool, default False
        Keep the workers alive from one epoch to the next (only with workers).
    pin_memory_device : str, default ""
        Accepted; does nothing (see ``pin_memory``).
    in_order : bool, default True
        Accepted; tinymin always hands the batches out in order.
    seed : int, optional
        tinymin's own shortcut for ``generator=tinymin.Generator().manual_seed(seed)``
        (keyword only).
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Iterable[int] | None = None,
                 batch_sampler: Sampler | Iterable[Sequence[int]] | None = None,
                 num_workers: int = 0, collate_fn: Callable[[Any], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None, generator: Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True,
                 seed: int | None = None) -> None:
        _check_dataset(dataset)
        _check_type("batch_size", batch_size, "an int or None", _is_int_or_none)
        if batch_size is not None and batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        for name, value in (("shuffle", shuffle), ("pin_memory", pin_memory),
                            ("drop_last", drop_last), ("persistent_workers", persistent_workers),
                            ("in_order", in_order)):
            _check_type(name, value, "a bool", lambda v: v is None or isinstance(v, (bool, np.bool_)))
        _check_type("num_workers", num_workers, "an int", _is_int)
        if num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be >= 0, got {num_workers}")
        for name, fn in (("collate_fn", collate_fn), ("worker_init_fn", worker_init_fn)):
            _check_type(name, fn, "callable or None", lambda v: v is None or callable(v))
        _check_type("timeout", timeout, "a number", lambda v: isinstance(v, numbers.Real)
                    and not isinstance(v, bool))
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout must be >= 0, got {timeout}")
        _check_type("generator", generator, "a tinymin.Generator or None",
                    lambda v: v is None or isinstance(v, Generator))
        _check_type("prefetch_factor", prefetch_factor, "an int or None", _is_int_or_none)
        _check_type("sampler", sampler, "a Sampler or an iterable of indices",
                    lambda v: v is None or isinstance(v, Iterable))
        _check_type("batch_sampler", batch_sampler, "a Sampler or an iterable of index lists",
                    lambda v: v is None or isinstance(v, Iterable))
        _check_type("multiprocessing_context", multiprocessing_context,
                    "a start method name or a multiprocessing context",
                    lambda v: v is None or isinstance(v, (str, multiprocessing.context.BaseContext)))
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in "
                             "multiprocessing. let num_workers > 0 to enable multiprocessing")
        if prefetch_factor is not None and prefetch_factor <= 0:
            raise ValueError(f"DataLoader: prefetch_factor must be positive, got {prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                             "batch_size, shuffle, sampler, and drop_last")
        if batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is "
                             "mutually exclusive with drop_last")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give generator= or seed=, not both")

        self.dataset = dataset
        self.num_workers = int(num_workers)
        # None without workers, as in PyTorch: there is nothing to fetch ahead
        self.prefetch_factor = (None if num_workers == 0 else
                                2 if prefetch_factor is None else int(prefetch_factor))
        self.pin_memory, self.pin_memory_device = pin_memory, pin_memory_device
        self.timeout, self.worker_init_fn = timeout, worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers, self.in_order = persistent_workers, in_order
        self.drop_last = drop_last
        self.shuffle = bool(shuffle)
        if seed is not None:
            generator = Generator().manual_seed(seed)
        self.generator = generator
        self._rng = None if generator is None else generator.numpy_generator
        if batch_sampler is None and sampler is None:
            sampler = (RandomSampler(dataset, generator=generator) if self.shuffle
                       else SequentialSampler(dataset))
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, int(batch_size), drop_last)
        elif batch_sampler is not None and sampler is None:  # as in PyTorch: the batch
            batch_size, sampler = None, SequentialSampler(dataset)  # sampler does it all
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.batch_size = None if batch_size is None else int(batch_size)
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None
                                         else default_convert)
        self._iterator: MultiProcessIterator | None = None
        self._passes = 0  # passes started with workers: each gets its own base seed
        self._planned = True  # from here on, what plans the batches stays (__setattr__)

    #: What plans the batches: PyTorch refuses to change it after the loader is made.
    FIXED_AFTER_INIT = ("dataset", "batch_size", "batch_sampler", "sampler", "drop_last",
                        "persistent_workers")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.FIXED_AFTER_INIT and getattr(self, "_planned", False):
            raise ValueError(f"DataLoader: {name} attribute should not be set after the "
                             "DataLoader is initialized; make a new DataLoader")
        super().__setattr__(name, value)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        return len(self.sampler)  # type: ignore[arg-type]

    def index_batches(self) -> Iterator[Any]:
        """One epoch's batches of indices (single indices when batching is off)."""
        return iter(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def batch_indices(self) -> list[np.ndarray]:
        """The index arrays of one epoch's batches (a new order each call if shuffling)."""
        return [np.asarray(b, dtype=np.int64) for b in self.index_batches()]

    def __iter__(self) -> Iterator[Any]:
        fetch = Fetcher(self.collate_fn, self.batch_sampler is not None)
        if self.num_workers == 0:
            return SingleProcessIterator(self, fetch)
        if self.persistent_workers and self._iterator is not None and self._iterator.alive:
            self._iterator.reset(self)
            return self._iterator
        iterator = MultiProcessIterator(self, fetch, self.worker_base_seed())
        if self.persistent_workers:
            self._iterator = iterator
        return iterator

    def worker_base_seed(self) -> int:
        """The workers' base seed for the next pass: a hash of the shuffling generator's
        state and of the pass number: this loader's passes with its own generator
        (``seed=``, ``generator=``), else the passes of every loader on tinymin's global
        generator since the last ``tinymin.manual_seed``.

        It *reads* the generator, never draws from it, so a loader with workers leaves
        every random stream of the main process exactly where a loader without workers
        leaves it (PyTorch draws the seed from the generator instead). Counting the
        global generator's passes across loaders does what PyTorch's draw does: two
        loaders, or a loader made anew each epoch, get other seeds even where no
        shuffle moved the generator in between, and ``manual_seed`` starts them over.
        """
        if self._rng is not None:
            rng, pass_number = self._rng, self._passes
        else:
            rng, pass_number = default_rng(), next_global_worker_pass()
        text = f"{generator_state_to_json(rng)}:{pass_number}"
        self._passes += 1
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 2

    @property
    def worker_passes(self) -> int:
        """Passes started with workers so far: with the shuffling generator's state, what
        each pass's worker seeds are made of (:meth:`worker_base_seed`) for a loader with
        its own generator. A checkpoint saves it (``tinymin.train.rng_states``), so that
        a resumed run's workers draw the random transforms an uninterrupted run's would.
        (A loader on the global generator counts its passes here too, but its seeds use
        the count of all such passes since ``manual_seed``.)"""
        return self._passes

    @worker_passes.setter
    def worker_passes(self, passes: int) -> None:
        if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or passes < 0:
            raise ValueError(f"DataLoader.worker_passes: a non-negative int, got {passes!r}")
        self._passes = int(passes)

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

    def __del__(self) -> None:
        if getattr(self, "_iterator", None) is not None:
            self._iterator.shutdown()

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}(n={len(self.dataset)}), "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, num_workers={self.num_workers})")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_int_or_none(value: Any) -> bool:
    return value is None or _is_int(value)


def _check_type(name: str, value: Any, expected: str, ok: Callable[[Any], bool]) -> None:
    if not ok(value):
        hint = ""
        if name == "batch_size" and isinstance(value, (bool, np.bool_)):
            hint = f" (the second positional argument is batch_size; did you mean shuffle={value}?)"
        raise TypeError(f"DataLoader: {name} must be {expected}, got {type(value).__name__} "
                        f"{value!r}{hint}")


def _check_dataset(dataset: Any) -> None:
    if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__ (a map-style "
                        f"dataset), got {type(dataset).__name__}")
