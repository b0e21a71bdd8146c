"""Training on the torch engine: loaders, the loop, and tinymin's checkpoints.

The loop is tinymin's (:mod:`tinymin.train`) with torch parts: a
``torch.utils.data.DataLoader`` over tinymin's own datasets, torch's optimizers and
schedulers (built by :func:`tinymin.experiment.make_optimizer` and ``make_scheduler`` from
torch.optim), DistributedDataParallel when torchrun started several processes. Run
folders and checkpoints are tinymin's own (``metrics.csv``, ``config.json``,
``checkpoint.npz``): this module converts optimizer and scheduler states both ways, so
a run started on one engine resumes on the other.

Batches: ``batch_size`` is per process; every step consumes ``batch_size x
world_size`` images (the global batch). A seeded ``DistributedSampler`` (also in a
world of one) draws one permutation per epoch from ``seed + epoch`` and deals it to the
ranks, so step ``s`` of an N-process run sees exactly the images of step ``s`` of a
one-process run with an N times larger batch.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from tinymin.torch.distributed import Placement, sum_over_ranks
from tinymin.train import EpochEnd, NonFiniteLossError, epoch_row

#: Options torch keeps in a parameter group that tinymin's optimizers do not have.
TORCH_ONLY_GROUP_KEYS = ("foreach", "capturable", "differentiable", "fused")
#: Scheduler bookkeeping torch keeps and tinymin's schedulers do not.
TORCH_ONLY_SCHEDULER_KEYS = ("_step_count", "_is_initial", "_get_lr_called_within_step")


class TorchDataset(Dataset):
    """A tinymin dataset seen by torch's DataLoader: samples ``(image, label)`` as they are
    (numpy arrays and ints; the DataLoader's collate stacks them into tensors)."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset[index]


class RankSlice(Dataset):
    """Every ``world_size``-th sample starting at ``rank``: each rank's share of a test set,
    without the padding DistributedSampler adds (so summed counts are exact)."""

    def __init__(self, dataset, rank: int, world_size: int) -> None:
        self.dataset, self.indices = dataset, range(rank, len(dataset), world_size)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.dataset[self.indices[index]]


def make_train_loader(dataset, batch_size: int, seed: int, placement: Placement) -> DataLoader:
    """Shuffled batches of this rank's share, reshuffled each epoch (call ``set_epoch``)."""
    sampler = DistributedSampler(TorchDataset(dataset), num_replicas=placement.world_size,
                                 rank=placement.rank, shuffle=True, seed=seed)
    return DataLoader(TorchDataset(dataset), batch_size=batch_size, sampler=sampler,
                      pin_memory=placement.device.type == "cuda")


def make_test_loader(dataset, batch_size: int, placement: Placement) -> DataLoader:
    """This rank's share of the test set (:class:`RankSlice`), in order, unshuffled."""
    return DataLoader(RankSlice(TorchDataset(dataset), placement.rank, placement.world_size),
                      batch_size=batch_size)


# ----------------------------------------------------------------------- the loop
def train_epoch(model: torch.nn.Module, optimizer, loader: DataLoader, placement: Placement,
                progress: Callable | None = None) -> dict[str, float]:
    """One pass over this rank's share; returns the loss and accuracy over all ranks.

    Raises
    ------
    NonFiniteLossError
        When the loss is NaN or infinite, before that batch's backward and update.
    """
    model.train()
    total_loss = torch.zeros((), dtype=torch.float64, device=placement.device)
    correct = torch.zeros((), dtype=torch.int64, device=placement.device)
    seen = 0
    batches = progress(loader) if progress is not None else loader
    for batch, (x, y) in enumerate(batches, start=1):
        x = x.to(placement.device, non_blocking=True)
        y = y.to(placement.device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        if not torch.isfinite(loss):  # as tinymin's loop: no backward, no step (one host sync)
            raise NonFiniteLossError(f"the loss became {loss.item()} in batch {batch} of {len(loader)}")
        loss.backward()
        optimizer.step()
        total_loss += loss.detach().double() * len(y)  # stays on the device: no sync per step
        correct += (logits.detach().argmax(dim=1) == y).sum()
        seen += len(y)
    loss_sum, n_correct, n_seen = sum_over_ranks([total_loss.item(), float(correct.item()), seen],
                                                 placement)
    return {"loss": loss_sum / max(n_seen, 1), "accuracy": n_correct / max(n_seen, 1)}


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader, placement: Placement) -> dict[str, float]:
    """Loss and accuracy over the whole test set (each rank evaluates its slice)."""
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(placement.device), y.to(placement.device)
        logits = model(x)
        total_loss += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == y).sum())
        seen += len(y)
    loss_sum, n_correct, n_seen = sum_over_ranks([total_loss, float(correct), seen], placement)
    return {"loss": loss_sum / max(n_seen, 1), "accuracy": n_correct / max(n_seen, 1)}


def fit(model: torch.nn.Module, optimizer, train_loader: DataLoader, epochs: int,
        test_loader: DataLoader | None, scheduler, placement: Placement, *,
        start_epoch: int = 0, progress: Callable | None = None,
        on_epoch_end: EpochEnd | None = None) -> list[dict[str, float]]:
    """Train ``epochs`` epochs after ``start_epoch``; one metrics row per epoch, the same
    columns as :func:`tinymin.train.fit`, and the same contract: ``fit`` writes no
    files, ``on_epoch_end(epoch, row)`` runs after each epoch (on the ranks that pass
    one: the run passes its writer on rank 0 only)."""
    history = []
    for epoch in range(start_epoch + 1, start_epoch + epochs + 1):
        start = time.perf_counter()
        if hasattr(train_loader.sampler, "set_epoch"):  # a DistributedSampler: reshuffle
            train_loader.sampler.set_epoch(epoch)
        try:
            train = train_epoch(model, optimizer, train_loader, placement, progress)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"{error} of epoch {epoch}: training stopped, the last "
                                     "checkpoint is left as it was (a smaller learning rate "
                                     "usually helps)") from None
        test = evaluate(model, test_loader, placement) if test_loader is not None else {}
        row = epoch_row(epoch, train, test, optimizer.param_groups[0]["lr"],
                        time.perf_counter() - start)
        if scheduler is not None:
            scheduler.step()
        history.append(row)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
    return history


# ------------------------------------------------ tinymin's checkpoint format, both ways
def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DistributedDataParallel (its state_dict keys have no ``module.``)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def model_state_to_numpy(model: torch.nn.Module) -> OrderedDict[str, np.ndarray]:
    """The model's state_dict as numpy copies on the CPU, the keys tinymin's model has."""
    return OrderedDict((k, v.detach().cpu().numpy().copy()) for k, v in unwrap(model).state_dict().items())


def optimizer_state_to_numpy(state_dict: dict[str, Any]) -> dict[str, Any]:
    """A torch optimizer's state_dict in tinymin's form: arrays, an int step, tinymin's options."""
    state = {index: {key: _plain(key, value) for key, value in entry.items()}
             for index, entry in state_dict["state"].items()}
    groups = [{k: v for k, v in group.items() if k not in TORCH_ONLY_GROUP_KEYS}
              for group in state_dict["param_groups"]]
    return {"state": state, "param_groups": groups}


def _plain(key: str, value):
    if not isinstance(value, torch.Tensor):
        return value
    if key == "step":
        return int(value.item())
    return value.detach().cpu().numpy().copy()


def optimizer_state_from_numpy(state_dict: dict[str, Any], optimizer) -> dict[str, Any]:
    """tinymin's optimizer state in the form ``optimizer.load_state_dict`` takes (torch
    moves the tensors to each parameter's device and dtype)."""
    state = {int(index): {key: (torch.tensor(float(value)) if key == "step" else torch.as_tensor(value))
                          for key, value in entry.items()}
             for index, entry in state_dict["state"].items()}
    current = optimizer.state_dict()["param_groups"]
    if len(current) != len(state_dict["param_groups"]):
        raise ValueError(f"the checkpoint's optimizer has {len(state_dict['param_groups'])} "
                         f"parameter groups, this one {len(current)}")
    groups = [{**mine, **saved} for mine, saved in zip(current, state_dict["param_groups"])]
    return {"state": state, "param_groups": groups}


def scheduler_state_to_numpy(state_dict: dict[str, Any]) -> dict[str, Any]:
    """A torch scheduler's state_dict in tinymin's form (without torch's bookkeeping)."""
    return {k: v for k, v in state_dict.items() if k not in TORCH_ONLY_SCHEDULER_KEYS}


def scheduler_state_from_numpy(state_dict: dict[str, Any]) -> dict[str, Any]:
    """tinymin's scheduler state in the form torch's ``load_state_dict`` takes: torch
    counts one ``step()`` more than ``last_epoch`` (the one its constructor makes)."""
    return {**state_dict, "_step_count": int(state_dict["last_epoch"]) + 1}


class NumpyStateView:
    """What :func:`tinymin.checkpoint.save_checkpoint` asks of a model, optimizer or
    scheduler (a ``state_dict()`` of numpy arrays and plain values), for a torch one."""

    def __init__(self, state_dict: Callable[[], dict[str, Any]]) -> None:
        self.state_dict = state_dict


def checkpoint_views(model, optimizer, scheduler):
    """``(model, optimizer, scheduler)`` views to pass to ``save_checkpoint``."""
    return (NumpyStateView(lambda: model_state_to_numpy(model)),
            NumpyStateView(lambda: optimizer_state_to_numpy(optimizer.state_dict())),
            None if scheduler is None
            else NumpyStateView(lambda: scheduler_state_to_numpy(scheduler.state_dict())))


def load_training_state(checkpoint, optimizer, scheduler) -> None:
    """Put a checkpoint's optimizer and scheduler states (either engine's) into torch's."""
    if checkpoint.optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state_from_numpy(checkpoint.optimizer_state, optimizer))
    if scheduler is not None and checkpoint.scheduler_state is not None:
        scheduler.load_state_dict(scheduler_state_from_numpy(checkpoint.scheduler_state))


def rng_states() -> dict[str, np.ndarray]:
    """torch's generators (dropout), as checkpoint ``extra`` entries."""
    states = {"torch_rng_cpu": torch.get_rng_state().numpy()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch_rng_cuda"] = torch.cuda.get_rng_state().numpy()
    return states


def restore_rng_states(extra: dict[str, np.ndarray]) -> None:
    """Put back the generators :func:`rng_states` saved (those present in ``extra``)."""
    if "torch_rng_cpu" in extra:
        torch.set_rng_state(torch.from_numpy(np.array(extra["torch_rng_cpu"], dtype=np.uint8)))
    if "torch_rng_cuda" in extra and torch.cuda.is_available():
        torch.cuda.set_rng_state(torch.from_numpy(np.array(extra["torch_rng_cuda"], dtype=np.uint8)))
