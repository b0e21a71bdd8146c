"""Worker processes for ``DataLoader(num_workers=N)``: load batches in parallel, hand
them back in order.

The main process decides everything random about the epoch (the sampler's order) and
sends each worker *tasks*: ``(task number, list of indices)``, round robin, at most
``prefetch_factor`` per worker ahead of the training loop. A worker loads and collates
its batch exactly as the single-process loader would (the same dataset, indices and
``collate_fn``), so the batches are equal; results come back through one queue in
whatever order they finish and are put back in task order before they are handed
out. A worker's exception travels back with its traceback text and is raised again
in the main process; so does a batch that cannot be pickled: a batch that holds more
than arrays, Tensors, numbers and strings is pickled by the worker itself, where a
queue's background thread would print the error and drop the batch, and the main
process would wait for it forever. Each worker seeds Python's
``random``, numpy's legacy global generator and tinymin's global generator with
``base_seed + worker_id``, so random transforms differ between workers and repeat
from run to run.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any, Callable

import numpy as np

from tinymin.random import manual_seed
from tinymin.tensor import Tensor

__all__ = ["ExceptionWrapper", "MultiProcessIterator", "WorkerInfo", "get_worker_info"]

#: Seconds between checks that the workers (or, in a worker, the main process) are alive.
POLL_INTERVAL = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` tells code running in a worker (PyTorch's fields)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process: its :class:`WorkerInfo`; in the main process: None."""
    return _worker_info


class ExceptionWrapper:
    """An exception caught in a worker, as its type and traceback text (both picklable)."""

    def __init__(self, where: str) -> None:
        exc_type, exc, _ = sys.exc_info()
        self.exc_type = exc_type
        self.message = (f"Caught {exc_type.__name__} {where}.\nOriginal "
                        + "".join(traceback.format_exception(exc_type, exc, exc.__traceback__)))

    def reraise(self) -> None:
        """Raise an exception of the original type whose message is the worker's traceback
        (a RuntimeError if that type cannot be built from one message, as PyTorch)."""
        message = _KeyErrorMessage(self.message) if self.exc_type is KeyError else self.message
        try:
            error = self.exc_type(message)
        except Exception:
            raise RuntimeError(self.message) from None
        raise error


class _KeyErrorMessage(str):
    """KeyError's str() is the repr of its argument; this keeps the traceback readable."""

    def __repr__(self) -> str:
        return str(self)


def seed_worker(seed: int) -> None:
    """Seed every global generator a dataset or transform may draw from."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    manual_seed(seed)


def worker_loop(dataset: Any, fetch: Callable[[Any, Any], Any], index_queue: Any,
                result_queue: Any, worker_id: int, num_workers: int, seed: int,
                init_fn: Callable[[int], None] | None) -> None:
    """A worker's life: seed, run ``worker_init_fn``, then serve tasks until told to stop
    (``None``) or until the main process has gone."""
    global _worker_info
    seed_worker(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    parent = os.getppid()
    init_error = None
    try:
        if init_fn is not None:
            try:
                init_fn(worker_id)
            except Exception:
                init_error = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
        while True:
            try:
                task = index_queue.get(timeout=POLL_INTERVAL)
            except queue.Empty:
                if os.getppid() != parent:  # the main process died: stop too
                    break
                continue
            if task is None:
                break
            task_id, indices = task
            if init_error is not None:
                result_queue.put(pickled_result(task_id, init_error, worker_id))
                continue
            try:
                batch = fetch(dataset, indices)
            except Exception:
                batch = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
            result_queue.put(pickled_result(task_id, batch, worker_id))
    except KeyboardInterrupt:
        pass  # the main process handles Ctrl-C and shuts the workers down
    # exit without waiting for unread results to be flushed into the pipe
    result_queue.cancel_join_thread()


def pickled_result(task_id: int, batch: Any, worker_id: int) -> Any:
    """``(task_id, batch)`` as the worker sends it: as it is when it is made of plain
    data (arrays, Tensors without a graph, numbers, strings, and lists, tuples and dicts
    of them), which always pickles; otherwise pickled here, so that a batch that cannot
    be pickled (a lambda, an open file) comes back as an error. An error whose
    exception type cannot be pickled (a class defined in a function) comes back as a
    RuntimeError with its message."""
    if _plain(batch):
        return (task_id, batch)  # no second copy of a large batch
    try:
        return bytes(ForkingPickler.dumps((task_id, batch)))
    except Exception:
        if not isinstance(batch, ExceptionWrapper):
            batch = ExceptionWrapper(f"in DataLoader worker process {worker_id} while "
                                     f"sending batch {task_id} back to the main process")
    try:
        return bytes(ForkingPickler.dumps((task_id, batch)))
    except Exception:
        batch.exc_type = RuntimeError
        return bytes(ForkingPickler.dumps((task_id, batch)))


def _plain(value: Any) -> bool:
    """Whether ``value`` is made of data that always pickles (see :func:`pickled_result`)."""
    if isinstance(value, (list, tuple)):
        return type(value) in (list, tuple) and all(_plain(v) for v in value)
    if isinstance(value, dict):
        return type(value) is dict and all(_plain(k) and _plain(v) for k, v in value.items())
    if isinstance(value, np.ndarray):
        return not value.dtype.hasobject
    if type(value) is Tensor:
        return value.grad_fn is None and not value.dtype.hasobject
    # exact types: a subclass (an enum defined in a function) may not pickle
    return value is None or type(value) in (bool, int, float, str, bytes) or (
        isinstance(value, np.generic) and not isinstance(value, np.object_))


def received(message: Any) -> tuple[int, Any]:
    """What the main process got from a worker, as ``(task_id, batch)``."""
    return pickle.loads(message) if isinstance(message, bytes) else message


class MultiProcessIterator:
    """One pass over a DataLoader with worker processes (reused by the next pass when
    the loader has ``persistent_workers``)."""

    def __init__(self, loader: Any, fetch: Callable[[Any, Any], Any], base_seed: int) -> None:
        context = loader.multiprocessing_context
        if context is None or isinstance(context, str):
            context = multiprocessing.get_context(context)
        self.num_workers = loader.num_workers
        self.prefetch = loader.prefetch_factor * loader.num_workers
        self.timeout = loader.timeout
        self.persistent = loader.persistent_workers
        self.result_queue = context.Queue()
        self.index_queues = [context.Queue() for _ in range(self.num_workers)]
        self.workers = []
        self._shut_down = False
        for worker_id, index_queue in enumerate(self.index_queues):
            worker = context.Process(
                target=worker_loop, daemon=True,
                args=(loader.dataset, fetch, index_queue, self.result_queue, worker_id,
                      self.num_workers, base_seed + worker_id, loader.worker_init_fn))
            worker.start()
            self.workers.append(worker)
        self.reset(loader)

    def reset(self, loader: Any) -> None:
        """Start a new pass: drop the results still due from the last one, send tasks."""
        if getattr(self, "send_idx", 0):
            for _ in range(self.send_idx - self.rcvd_idx - len(self.reorder)):
                self._get_result()
        self.tasks = iter(loader.index_batches())
        self.length = len(loader)
        self.send_idx = self.rcvd_idx = 0
        self.reorder: dict[int, Any] = {}
        for _ in range(self.prefetch):
            self._send_task()

    def _send_task(self) -> None:
        try:
            indices = next(self.tasks)
        except StopIteration:
            return
        self.index_queues[self.send_idx % self.num_workers].put((self.send_idx, indices))
        self.send_idx += 1

    def __iter__(self) -> MultiProcessIterator:
        return self

    def __len__(self) -> int:
        """The batches of the whole pass, as ``len(loader)`` (PyTorch's iterators have it)."""
        return self.length

    def __next__(self) -> Any:
        if self.rcvd_idx == self.send_idx:  # every task sent has been handed out
            if not self.persistent:
                self.shutdown()
            raise StopIteration
        while self.rcvd_idx not in self.reorder:
            task_id, data = self._get_result()
            self.reorder[task_id] = data
        data = self.reorder.pop(self.rcvd_idx)
        self.rcvd_idx += 1
        self._send_task()
        if isinstance(data, ExceptionWrapper):  # the workers go on: the next batch can come
            data.reraise()
        return data

    def _get_result(self) -> tuple[int, Any]:
        waited = 0.0
        interval = min(POLL_INTERVAL, self.timeout) if self.timeout else POLL_INTERVAL
        while True:
            try:
                return received(self.result_queue.get(timeout=interval))
            except queue.Empty:
                dead = [w for w in self.workers if not w.is_alive()]
                if dead:
                    codes = ", ".join(f"pid {w.pid}: exit code {w.exitcode}" for w in dead)
                    self.shutdown()
                    raise RuntimeError(f"DataLoader worker exited unexpectedly ({codes})") from None
                waited += interval
                if self.timeout and waited >= self.timeout:
                    self.shutdown()
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds "
                                       "waiting for a batch") from None

    @property
    def alive(self) -> bool:
        """Whether the workers still run (not after :meth:`shutdown`, e.g. after an error)."""
        return not self._shut_down

    def shutdown(self) -> None:
        """Stop the workers (asking first, then terminating the ones that do not stop)."""
        if self._shut_down:
            return
        self._shut_down = True
        for index_queue in self.index_queues:
            index_queue.put(None)
        for worker in self.workers:
            worker.join(timeout=5 * POLL_INTERVAL)
            if worker.is_alive():
                worker.terminate()
                worker.join()
        for q in [*self.index_queues, self.result_queue]:
            q.cancel_join_thread()
            q.close()

    def __del__(self) -> None:
        if getattr(self, "workers", None) is not None:
            self.shutdown()
