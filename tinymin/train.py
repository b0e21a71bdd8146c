"""The training loop, written out: small functions a notebook can call one by one.

``fit`` computes; it writes no files. What a run writes to its folder after each epoch
(metrics, scales, checkpoint) is the run's job: :class:`tinymin.experiment.EpochWriter`,
passed as ``on_epoch_end``, over a :class:`tinymin.run_folder.RunFolder`.

>>> # model, loaders and optimizer built as in PyTorch, then:
>>> # history = fit(model, optimizer, train_loader, epochs=3, test_loader=test_loader)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tinymin import nn, overrides
from tinymin.autograd import no_grad
from tinymin.checkpoint import Checkpoint
from tinymin.nn import functional as F
from tinymin.random import get_rng_state, set_rng_state
from tinymin.run_folder import RunFolder
from tinymin.tensor import Tensor

LossFn = Callable[[Tensor, Any], Tensor]
#: ``on_epoch_end(epoch, row)``: the hook both engines' ``fit`` call after each epoch.
EpochEnd = Callable[[int, dict[str, float]], None]


class NonFiniteLossError(RuntimeError):
    """The loss (or the weights) became NaN or infinite: training stops before the bad
    update, so the weights and the last checkpoint stay finite. ``reason``: what
    happened, without the advice :func:`training_stopped` adds."""

    reason: str = ""


def _progress(iterable: Iterable, total: int, desc: str, enabled: bool):
    """A tqdm bar when ``enabled`` (and tqdm is installed), else the bare iterable."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency; stay usable without it
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def train_step(model: nn.Module, optimizer, x: Tensor, y: Tensor,
               loss_fn: LossFn = F.cross_entropy) -> tuple[float, int]:
    """One optimisation step: forward, loss, backward, update.

    Returns the batch loss and the number of correct predictions.
    """
    optimizer.zero_grad()
    logits = model(x)
    loss = loss_fn(logits, y)
    if not np.isfinite(loss.item()):
        # no backward, no step: the weights stay the last finite ones
        raise NonFiniteLossError(f"the loss became {loss.item()}")
    loss.backward()
    optimizer.step()
    correct = int((logits.numpy().argmax(axis=1) == y.numpy()).sum())
    return loss.item(), correct


def train_epoch(model: nn.Module, optimizer, loader, loss_fn: LossFn = F.cross_entropy,
                progress: bool = True, desc: str = "train") -> dict[str, float]:
    """One pass over ``loader`` in training mode; returns mean loss and accuracy."""
    mine = overrides.lookup("train_epoch")
    if mine is not None:  # the learner's train_epoch (tinymin.exercises.use)
        return mine(model, optimizer, loader, loss_fn, progress, desc)
    _check_not_empty("train_epoch", loader)
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = _progress(loader, len(loader), desc, progress)
    for batch, (x, y) in enumerate(bar, start=1):
        try:
            loss, batch_correct = train_step(model, optimizer, x, y, loss_fn)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"{error} in {desc}, batch {batch} of {len(loader)}") from None
        total_loss += loss * len(y)
        correct += batch_correct
        seen += len(y)
        if progress and hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.2%}")
    return {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1)}


def evaluate(model: nn.Module, loader, loss_fn: LossFn = F.cross_entropy,
             progress: bool = False) -> dict[str, float]:
    """Mean loss and accuracy over ``loader`` in eval mode, without building a graph."""
    _check_not_empty("evaluate", loader)
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with no_grad():
        for x, y in _progress(loader, len(loader), "eval", progress):
            logits = model(x)
            total_loss += loss_fn(logits, y).item() * len(y)
            correct += int((logits.numpy().argmax(axis=1) == y.numpy()).sum())
            seen += len(y)
    return {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1)}


def predict(model: nn.Module, x: np.ndarray | Tensor, batch_size: int = 256) -> np.ndarray:
    """Logits for a whole array of inputs, in eval mode and batches."""
    data = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    model.eval()
    with no_grad():
        outs = [model(Tensor(data[i:i + batch_size])).numpy() for i in range(0, len(data), batch_size)]
    return np.concatenate(outs)


def fit(model: nn.Module, optimizer, train_loader, epochs: int, test_loader=None,
        scheduler=None, *, start_epoch: int = 0, loss_fn: LossFn = F.cross_entropy,
        progress: bool = True, log: Callable[[str], None] | None = print,
        on_epoch_end: EpochEnd | None = None) -> list[dict[str, float]]:
    """Train for ``epochs`` epochs after ``start_epoch``, evaluating after each; returns
    one metrics row (:func:`epoch_row`) per epoch.

    ``fit`` computes and writes nothing: ``on_epoch_end(epoch, row)`` runs after each
    epoch (after the scheduler's step), then ``log`` prints the row. A run that keeps
    its files passes the run's writer here (:class:`tinymin.experiment.EpochWriter`:
    ``metrics.csv``, ``scales.csv``, ``checkpoint.npz``); the torch engine's
    :func:`tinymin.torch.train.fit` calls the same hook the same way.

    Raises
    ------
    NonFiniteLossError
        When the loss or a weight becomes NaN or infinite, before the bad update reaches
        ``on_epoch_end`` (so a checkpoint written there stays finite).
    """
    if epochs < 0:
        raise ValueError(f"fit: epochs must be >= 0, got {epochs}")
    _check_not_empty("fit", train_loader)
    if test_loader is not None:
        _check_not_empty("fit", test_loader, "test loader")
    history = []
    for epoch in range(start_epoch + 1, start_epoch + epochs + 1):
        start = time.perf_counter()
        try:
            train = train_epoch(model, optimizer, train_loader, loss_fn, progress, f"epoch {epoch}")
            _check_finite_weights(model, epoch)
        except NonFiniteLossError as error:
            raise training_stopped(str(error)) from None
        test = evaluate(model, test_loader, loss_fn) if test_loader is not None else {}
        row = epoch_row(epoch, train, test, optimizer.param_groups[0]["lr"],
                        time.perf_counter() - start)
        if scheduler is not None:
            scheduler.step()
        history.append(row)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
        if log is not None:
            log(format_epoch(row))
    return history


def training_stopped(reason: str, checkpoint: str | Path | None = None) -> NonFiniteLossError:
    """The error :func:`fit` raises when ``reason`` stopped training; a run that keeps
    a checkpoint names it (the run re-raises with ``checkpoint``)."""
    kept = f"; {checkpoint} is left as it was" if checkpoint is not None else ""
    error = NonFiniteLossError(f"{reason}: training stopped{kept} (a smaller learning rate "
                               "usually helps)")
    error.reason = reason
    return error


def epoch_row(epoch: int, train: dict[str, float], test: dict[str, float], lr: float,
              seconds: float) -> dict[str, float]:
    """One row of ``metrics.csv`` (both engines write the same columns); test columns are
    NaN when there is no test set (``test`` empty)."""
    return {"epoch": epoch, "train_loss": train["loss"], "train_accuracy": train["accuracy"],
            "test_loss": test.get("loss", float("nan")),
            "test_accuracy": test.get("accuracy", float("nan")),
            "lr": lr, "seconds": seconds}


def _check_not_empty(op: str, loader, name: str = "loader") -> None:
    if len(loader) == 0:
        raise ValueError(f"{op}: the {name} yields no batches (an empty dataset, or "
                         "drop_last=True with fewer samples than one batch)")


def _check_finite_weights(model: nn.Module, epoch: int) -> None:
    """A finite loss can still come with an update that overflowed a weight; such
    weights must not reach a checkpoint."""
    for name, p in model.named_parameters():
        if not np.all(np.isfinite(p.numpy())):
            raise NonFiniteLossError(f"parameter {name} became non-finite in epoch {epoch}")


def rng_states(train_loader) -> dict[str, np.ndarray]:
    """The generators a training epoch draws from, as checkpoint ``extra`` entries.

    The global generator (initialisation, dropout, random transforms) and the train
    loader's own shuffling generator, if it has one. Saved after every epoch so that a
    resumed run draws the same dropout masks and batch orders as an uninterrupted one.
    """
    states = {"rng_global": np.array(get_rng_state())}
    loader_state = getattr(train_loader, "get_rng_state", lambda: None)()
    if loader_state is not None:
        states["rng_train_loader"] = np.array(loader_state)
    passes = getattr(train_loader, "worker_passes", None)
    if passes:  # the workers' seeds: a resumed run's draw the same random transforms
        states["train_loader_worker_passes"] = np.array(passes)
    return states


def resume_training(checkpoint: Checkpoint, model: nn.Module, optimizer=None, scheduler=None,
                    train_loader=None, run_dir: str | Path | None = None) -> int:
    """Put a run back where ``checkpoint`` left it; returns the last finished epoch.

    Restores the weights, the optimizer and scheduler states, the random generators
    (when the checkpoint has them: older ones do not) and drops rows of
    ``run_dir/metrics.csv`` and ``scales.csv`` after that epoch: an epoch that was
    logged but not checkpointed before a crash is trained again, not logged twice.
    """
    model.load_state_dict(checkpoint.model_state)
    if optimizer is not None and checkpoint.optimizer_state is not None:
        optimizer.load_state_dict(checkpoint.optimizer_state)
    if scheduler is not None and checkpoint.scheduler_state is not None:
        scheduler.load_state_dict(checkpoint.scheduler_state)
    if "rng_global" in checkpoint.extra:
        set_rng_state(str(checkpoint.extra["rng_global"]))
    if train_loader is not None and "rng_train_loader" in checkpoint.extra:
        if not hasattr(train_loader, "set_rng_state"):
            raise ValueError(f"{checkpoint.path}: holds a shuffling state, but the train loader "
                             f"({type(train_loader).__name__}) cannot restore one")
        train_loader.set_rng_state(str(checkpoint.extra["rng_train_loader"]))
    if train_loader is not None and "train_loader_worker_passes" in checkpoint.extra:
        passes = checkpoint.extra["train_loader_worker_passes"]
        if passes.shape != () or not np.issubdtype(passes.dtype, np.integer) or passes < 0:
            raise ValueError(f"{checkpoint.path}: 'extra/train_loader_worker_passes' must be "
                             f"one non-negative integer, got {passes!r}")
        if hasattr(train_loader, "worker_passes"):
            train_loader.worker_passes = int(passes)
    if run_dir is not None:
        RunFolder(run_dir).forget_after(checkpoint.epoch)
    return checkpoint.epoch


def format_epoch(row: dict[str, float]) -> str:
    """One human line per epoch."""
    text = (f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, "
            f"train acc {row['train_accuracy']:.2%}")
    if not np.isnan(row["test_accuracy"]):
        text += f", test loss {row['test_loss']:.4f}, test acc {row['test_accuracy']:.2%}"
    return text + f" ({row['seconds']:.1f} s)"
