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
from tinymin.run_options import check_options
from tinymin.torch.convert import from_torch, to_torch
from tinymin.torch.distributed import (
    Placement,
    first_error,
    gather_to_main,
    setup_placement,
    synchronise_input_scales,
    teardown,
)
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
    """The :class:`~tinymin.experiment.StartingState` on every rank, rank 0 first: rank 0
    alone takes the run folder (its lock) and trims a resumed run's log files, and the
    other ranks then only read it.

    A user error on any rank (a bad checkpoint, a folder another process writes) is
    told to all ranks (:func:`~tinymin.torch.distributed.first_error`), which all raise
    it and leave the process group: no rank is left waiting in a collective for one that
    has gone, and ``python -m tinymin`` prints it once, from rank 0.
    """
    start, error = None, None
    if placement.is_main:
        start, error = _try_start(options, log, writer=True)
    if placement.distributed:
        message = first_error(error, placement)
        if message is None and not placement.is_main:
            start, error = _try_start(options, log, writer=False)
        message = message or first_error(error, placement)
        if message is not None:
            if start is not None:
                start.release()
            teardown(placement)
            raise error if error is not None else ValueError(message)
    elif error is not None:
        raise error
    return start


def _try_start(options: Any, log: Log, writer: bool) -> tuple[StartingState | None, Exception | None]:
    """(the start, None), or (None, the user error that stopped it)."""
    try:
        start = StartingState.build(options, writer=writer)
    except (ValueError, OSError) as exc:
        return None, exc
    try:
        start.initialise(log)
        start.resume(log)
    except (ValueError, OSError) as exc:
        start.release()
        return None, exc
    return start, None


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
        check_options(options)  # before the process group: a bad option is not a hang
        placement = setup_placement(options.device)
        log = log if placement.is_main else _silent
        start = start_in_rank_order(options, log, placement)
        try:
            return cls._build_on(start, placement, log)
        except BaseException:
            start.release()
            teardown(placement)
            raise

    @classmethod
    def _build_on(cls, start: StartingState, placement: Placement, log: Log) -> TorchTrainingRun:
        """The torch model, optimizer, scheduler and loaders of ``start`` on this rank."""
        options = start.options
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
                restore_rng_states(start.resumed.extra, placement.rank)
            except (RuntimeError, ValueError) as exc:  # an optimizer or generator state that does not fit
                raise unresumable(start.resumed, exc) from None
        return cls(start, placement, model, optimizer, scheduler,
                   train_loader=make_train_loader(start.train_set, options.batch_size, options.seed,
                                                  placement),
                   test_loader=make_test_loader(start.test_set, TEST_BATCH_SIZE, placement), log=log)

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
                          self.test_loader, self.scheduler, placement=placement,
                          start_epoch=start.start_epoch, progress=self._progress(),
                          on_epoch_end=self._end_of_epoch(config))
            if placement.distributed:
                # every rank waits for rank 0's last checkpoint before the group goes:
                # a rank leaving it while another still used it aborted about one run
                # in thirty at exit (gloo, "terminate called without an active exception")
                torch.distributed.barrier()
        finally:
            start.release()
            teardown(placement)
        return history if placement.is_main else []

    def _progress(self):
        if not self.placement.is_main or self.start.options.no_progress:
            return None
        from tqdm.auto import tqdm

        return lambda loader: tqdm(loader, desc="train", leave=False, dynamic_ncols=True)

    def _end_of_epoch(self, config: dict[str, Any]) -> Callable[[int, dict[str, float]], None]:
        """After each epoch every rank hands its random generators to rank 0
        (:func:`~tinymin.torch.distributed.gather_to_main`), which alone writes: the
        run's :class:`~tinymin.experiment.EpochWriter`, tinymin's checkpoint format,
        scales measured on a tinymin copy of the model, and every rank's generators
        (``rank<r>/...`` for ranks above 0), so a resumed run draws what an
        uninterrupted one draws on every rank."""
        placement = self.placement
        writer = self.start.epoch_writer(config, self.log) if placement.is_main else None
        model, optimizer, scheduler = self.model, self.optimizer, self.scheduler

        def own_states() -> dict[str, np.ndarray]:
            return {"rng_global": np.array(get_rng_state()), **rng_states()}

        def after_epoch(epoch: int, row: dict[str, float]) -> None:
            every_rank = gather_to_main(own_states(), placement)
            if writer is None:
                return
            others = {f"rank{rank}/{name}": value for rank, states in enumerate(every_rank)
                      if rank > 0 for name, value in states.items()}
            writer.write(epoch, row, *checkpoint_views(model, optimizer, scheduler),
                         lambda: {**own_states(), **others}, lambda: from_torch(unwrap(model)))

        return after_epoch
