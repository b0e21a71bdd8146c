"""``python -m tinymin train --engine torch``: tinymin builds the run's start, torch runs it.

The same three steps as :mod:`tinymin.experiment`:

1. **parse** (:mod:`tinymin.cli`; ``--engine torch``, ``--device``);
2. **build**, :meth:`TorchTrainingRun.build`: this process's place (device, rank,
   world size, from torchrun's environment), then the
   :class:`~tinymin.experiment.StartingState` exactly as on tinymin's engine (seeded
   data, the model, ``--init-from``, ``--calibrate``, ``--resume``), so both engines
   start from the same weights; then the engine's parts: the model goes to torch
   (:func:`tinymin.torch.to_torch`), to the device, into DistributedDataParallel when
   several processes run, with torch's optimizer, scheduler (their states restored on
   ``--resume``, from either engine's checkpoint) and loaders;
3. **run** it, :meth:`TorchTrainingRun.run`: :func:`tinymin.torch.train.fit`; after each
   epoch rank 0 (alone) hands the row to the run's
   :class:`~tinymin.experiment.EpochWriter`, the one tinymin's engine uses:
   ``scales.csv``, ``metrics.csv`` and ``checkpoint.npz`` in tinymin's own format.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tinymin.experiment import (
    TEST_BATCH_SIZE,
    StartingState,
    make_optimizer,
    make_scheduler,
    unresumable,
)
from tinymin.random import get_rng_state
from tinymin.torch.convert import from_torch, to_torch
from tinymin.torch.distributed import Placement, setup_placement, synchronise_input_scales, teardown
from tinymin.torch.train import (
    checkpoint_views,
    fit,
    load_training_state,
    make_test_loader,
    make_train_loader,
    restore_rng_states,
    rng_states,
    unwrap,
)

Log = Callable[[str], None]


def _silent(text: str) -> None:
    """The log of ranks other than 0."""


def start_in_rank_order(options: Any, log: Log, placement: Placement) -> StartingState:
    """The :class:`~tinymin.experiment.StartingState` on every rank, rank 0 first: a
    resumed run's log files are trimmed by rank 0, and the other ranks then find nothing
    left to rewrite."""
    if placement.distributed and not placement.is_main:
        torch.distributed.barrier()
    start = StartingState.build(options)
    start.initialise(log)
    start.resume(log)
    if placement.distributed and placement.is_main:
        torch.distributed.barrier()
    return start


def distributed_data_parallel(module: torch.nn.Module, placement: Placement) -> torch.nn.Module:
    """``module`` in DistributedDataParallel, without the per-step buffer broadcast: every
    rank computes the same min-conv statistic (step 1 averages it over the ranks), so the
    buffers stay equal on their own, and the tests can see that they do."""
    device_ids = [placement.device.index] if placement.device.type == "cuda" else None
    ddp = torch.nn.parallel.DistributedDataParallel
    if "forward_sync_buffers" in inspect.signature(ddp).parameters:  # torch >= 2.13
        return ddp(module, device_ids=device_ids, forward_sync_buffers=False)
    return ddp(module, device_ids=device_ids, broadcast_buffers=False)


@dataclass
class TorchTrainingRun:
    """A run's :class:`~tinymin.experiment.StartingState` (``start``: data, folder,
    starting weights) moved to torch: the torch model, optimizer, scheduler and loaders."""

    start: StartingState
    placement: Placement
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_loader: torch.utils.data.DataLoader
    test_loader: torch.utils.data.DataLoader
    log: Log

    @classmethod
    def build(cls, options: Any, log: Log = print) -> TorchTrainingRun:
        """Place this process, build the run's start with tinymin, move it to torch.

        Raises
        ------
        ValueError
            For a device this machine does not have (before anything is built or written).
        """
        placement = setup_placement(options.device)
        log = log if placement.is_main else _silent
        start = start_in_rank_order(options, log, placement)
        module = to_torch(start.model).to(placement.device)
        model = module
        if placement.distributed:
            synchronise_input_scales(module)
            model = distributed_data_parallel(module, placement)
        optimizer = make_optimizer(options.optimizer, model.parameters(), options.lr,
                                   options.momentum, options.weight_decay, torch.optim)
        scheduler = make_scheduler(options.scheduler, optimizer, options.epochs,
                                   torch.optim.lr_scheduler)
        torch.manual_seed(options.seed + placement.rank)  # dropout masks differ across ranks
        if start.resumed is not None:
            try:
                load_training_state(start.resumed, optimizer, scheduler)
            except (RuntimeError, ValueError) as exc:  # an optimizer state that does not fit
                raise unresumable(start.resumed, exc) from None
            if placement.is_main:
                restore_rng_states(start.resumed.extra)
        return cls(start, placement, model, optimizer, scheduler,
                   make_train_loader(start.train_set, options.batch_size, options.seed, placement),
                   make_test_loader(start.test_set, TEST_BATCH_SIZE, placement), log)

    @property
    def global_batch(self) -> int:
        """Images per optimisation step over all processes."""
        return self.start.options.batch_size * self.placement.world_size

    @property
    def config(self) -> dict[str, Any]:
        """tinymin's run config plus the engine that ran it."""
        return {**self.start.config,
                "engine": {"name": "torch", "torch": torch.__version__,
                           "device": str(self.placement.device.type),
                           "world_size": self.placement.world_size, "global_batch": self.global_batch}}

    def run(self) -> list[dict[str, float]]:
        """Train the remaining epochs; returns one metrics dict per epoch trained (on
        rank 0; the other ranks return an empty list, so only rank 0 reports)."""
        start, placement = self.start, self.placement
        options, config = start.options, self.config
        if placement.is_main and start.folder is not None:
            start.folder.write_config(config)
        self.log(f"{start.describe()}, torch engine on {placement.device.type}, "
                 f"{placement.world_size} process(es) x batch {options.batch_size} = "
                 f"global batch {self.global_batch}")
        try:
            history = fit(self.model, self.optimizer, self.train_loader, start.epochs_left,
                          self.test_loader, self.scheduler, placement,
                          start_epoch=start.start_epoch, progress=self._progress(),
                          on_epoch_end=self._end_of_epoch(config))
            if placement.distributed:
                # every rank waits for rank 0's last checkpoint before the group goes:
                # a rank leaving it while another still used it aborted about one run
                # in thirty at exit (gloo, "terminate called without an active exception")
                torch.distributed.barrier()
        finally:
            teardown(placement)
        return history if placement.is_main else []

    def _progress(self):
        if not self.placement.is_main or self.start.options.no_progress:
            return None
        from tqdm.auto import tqdm

        return lambda loader: tqdm(loader, desc="train", leave=False, dynamic_ncols=True)

    def _end_of_epoch(self, config: dict[str, Any]) -> Callable[[int, dict[str, float]], None] | None:
        """Rank 0 hands each epoch to the run's :class:`~tinymin.experiment.EpochWriter`
        (the other ranks write nothing): tinymin's checkpoint format, scales measured on
        a tinymin copy of the model."""
        if not self.placement.is_main:
            return None
        writer = self.start.epoch_writer(config, self.log)
        model, optimizer, scheduler = self.model, self.optimizer, self.scheduler

        def extra() -> dict[str, np.ndarray]:
            return {"rng_global": np.array(get_rng_state()), **rng_states()}

        def after_epoch(epoch: int, row: dict[str, float]) -> None:
            writer.write(epoch, row, *checkpoint_views(model, optimizer, scheduler), extra,
                         lambda: from_torch(unwrap(model)))

        return after_epoch
