"""``python -m tinymin train --engine torch``: tinymin builds the run, torch runs it.

The same three steps as :mod:`tinymin.experiment`:

1. **parse** (:mod:`tinymin.cli`; ``--engine torch``, ``--device``);
2. **build**, :meth:`TorchTrainingRun.build`: this process's place (device, rank,
   world size, from torchrun's environment), then :meth:`tinymin.experiment.TrainingRun.build`
   exactly as on tinymin's engine (seeded data, the model, ``--init-from``,
   ``--calibrate``, ``--resume``), so both engines start from the same weights; then the
   model goes to torch (:func:`tinymin.torch.to_torch`), to the device, into
   DistributedDataParallel when several processes run, with torch's optimizer and
   scheduler (their states restored on ``--resume``, from either engine's checkpoint);
3. **run** it, :meth:`TorchTrainingRun.run`: :func:`tinymin.torch.train.fit`; after each
   epoch rank 0 (alone) appends to ``metrics.csv`` and ``scales.csv`` and writes
   ``checkpoint.npz`` in tinymin's own format, through the same
   :class:`~tinymin.run_folder.RunFolder`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tinymin.experiment import TrainingRun, make_optimizer, make_scheduler
from tinymin.minconv.diagnostics import layer_diagnostics, scale_snapshot
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
from tinymin.train import format_epoch

Log = Callable[[str], None]


def _silent(text: str) -> None:
    """The log of ranks other than 0."""


def build_in_rank_order(options: Any, log: Log, placement: Placement) -> TrainingRun:
    """:meth:`TrainingRun.build` on every rank, rank 0 first: a resumed run's log files
    are trimmed by rank 0, and the other ranks then find nothing left to rewrite."""
    if placement.distributed and not placement.is_main:
        torch.distributed.barrier()
    base = TrainingRun.build(options, log)
    if placement.distributed and placement.is_main:
        torch.distributed.barrier()
    return base


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
    """A :class:`~tinymin.experiment.TrainingRun` (``base``: data, folder, starting
    weights) moved to torch: the torch model, optimizer, scheduler and loaders."""

    base: TrainingRun
    placement: Placement
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_loader: torch.utils.data.DataLoader
    test_loader: torch.utils.data.DataLoader
    log: Log

    @classmethod
    def build(cls, options: Any, log: Log = print) -> TorchTrainingRun:
        """Place this process, build the run with tinymin, move it to torch.

        Raises
        ------
        ValueError
            For a device this machine does not have (before anything is built or written).
        """
        placement = setup_placement(options.device)
        log = log if placement.is_main else _silent
        base = build_in_rank_order(options, log, placement)
        module = to_torch(base.model).to(placement.device)
        model = module
        if placement.distributed:
            synchronise_input_scales(module)
            model = distributed_data_parallel(module, placement)
        optimizer = make_optimizer(options.optimizer, model.parameters(), options.lr,
                                   options.momentum, options.weight_decay, torch.optim)
        scheduler = make_scheduler(options.scheduler, optimizer, options.epochs,
                                   torch.optim.lr_scheduler)
        torch.manual_seed(options.seed + placement.rank)  # dropout masks differ across ranks
        if options.resume:
            checkpoint = base.folder.load()
            load_training_state(checkpoint, optimizer, scheduler)
            if placement.is_main:
                restore_rng_states(checkpoint.extra)
        return cls(base, placement, model, optimizer, scheduler,
                   make_train_loader(base.train_set, options.batch_size, options.seed, placement),
                   make_test_loader(base.test_set, 256, placement), log)

    @property
    def global_batch(self) -> int:
        """Images per optimisation step over all processes."""
        return self.base.options.batch_size * self.placement.world_size

    @property
    def config(self) -> dict[str, Any]:
        """tinymin's run config plus the engine that ran it."""
        return {**self.base.config,
                "engine": {"name": "torch", "torch": torch.__version__,
                           "device": str(self.placement.device.type),
                           "world_size": self.placement.world_size, "global_batch": self.global_batch}}

    def run(self) -> list[dict[str, float]]:
        """Train the remaining epochs; returns one metrics dict per epoch trained (on
        rank 0; the other ranks return an empty list, so only rank 0 reports)."""
        options, placement, folder = self.base.options, self.placement, self.base.folder
        config = self.config
        if placement.is_main and folder is not None:
            folder.write_config(config)
        self.log(f"training {options.model} ({options.conv} conv) on {options.data}: "
                 f"{len(self.base.train_set)} train / {len(self.base.test_set)} test images, "
                 f"{options.epochs} epochs, torch engine on {placement.device.type}, "
                 f"{placement.world_size} process(es) x batch {options.batch_size} = "
                 f"global batch {self.global_batch}")
        start = self.base.start_epoch
        epochs = options.epochs - start if options.resume else options.epochs
        try:
            history = fit(self.model, self.optimizer, self.train_loader, epochs, self.test_loader,
                          self.scheduler, placement, start, self._progress(),
                          self._end_of_epoch(config))
            if placement.distributed:
                # every rank waits for rank 0's last checkpoint before the group goes:
                # a rank leaving it while another still used it aborted about one run
                # in thirty at exit (gloo, "terminate called without an active exception")
                torch.distributed.barrier()
        finally:
            teardown(placement)
        return history if placement.is_main else []

    def _progress(self):
        if not self.placement.is_main or self.base.options.no_progress:
            return None
        from tqdm.auto import tqdm

        return lambda loader: tqdm(loader, desc="train", leave=False, dynamic_ncols=True)

    def _end_of_epoch(self, config: dict[str, Any]) -> Callable[[int, dict[str, float]], None]:
        """What rank 0 does after each epoch: the same files, in the same order, as
        tinymin's :func:`tinymin.train.fit` (scales, metrics, checkpoint, then the log)."""
        folder = self.base.folder

        def after_epoch(epoch: int, row: dict[str, float]) -> None:
            if not self.placement.is_main:
                return
            if folder is not None:
                self._log_scales(epoch)
                folder.log_epoch(row)
                model, optimizer, scheduler = checkpoint_views(self.model, self.optimizer, self.scheduler)
                extra = {"rng_global": np.array(get_rng_state()), **rng_states()}
                folder.save(model, config, epoch, optimizer, scheduler, extra=extra)
            self.log(format_epoch(row))

        return after_epoch

    def _log_scales(self, epoch: int) -> None:
        """``scales.csv`` as tinymin writes it, measured on a tinymin copy of the model."""
        test_set = self.base.test_set
        twin = from_torch(unwrap(self.model))
        if not scale_snapshot(twin):
            return
        twin.eval()
        probe = np.stack([test_set[i][0] for i in range(min(128, len(test_set)))])
        row = {"epoch": epoch, **scale_snapshot(twin)}
        for diag in layer_diagnostics(twin, probe):
            row[f"{diag['layer']}.correlation"] = round(diag["correlation"], 5)
        self.base.folder.log_scales(row)
