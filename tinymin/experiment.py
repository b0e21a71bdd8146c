"""One training run of ``python -m tinymin train``: built from its options, then run.

The command is three steps, each in one place:

1. **parse** the options (:mod:`tinymin.cli`);
2. **build** what they describe, in two parts. The :class:`StartingState`, the same on
   both engines: the run folder, the seeded data splits, the model and its weights
   (copied from ``--init-from`` and ``--calibrate``-d, or the checkpoint of the run
   being resumed). Then the engine's own parts: :meth:`TrainingRun.build` adds
   tinymin's optimizer, scheduler and loaders (:mod:`tinymin.torch.experiment`
   torch's);
3. **run** it, :meth:`TrainingRun.run`: ``config.json``, then :func:`tinymin.train.fit`,
   which computes, and after every epoch the run's :class:`EpochWriter`, which writes
   ``scales.csv``, ``metrics.csv`` and ``checkpoint.npz`` (the torch engine's run uses
   the same writer).

The run folder and every file in it belong to one :class:`~tinymin.run_folder.RunFolder`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

import tinymin
from tinymin import optim
from tinymin.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from tinymin.data import DataLoader, Dataset, random_subset
from tinymin.data.catalog import DatasetInfo, load_splits
from tinymin.minconv.calibrate import calibrate_min, recalibrate_running_statistics
from tinymin.minconv.diagnostics import layer_diagnostics, scale_snapshot
from tinymin.minconv.layer import min_layers
from tinymin.models import build_model
from tinymin.nn import Module
from tinymin.run_folder import MetricsFileError, RunFolder, init_from
from tinymin.run_options import check_options
from tinymin.train import (
    EpochEnd,
    NonFiniteLossError,
    fit,
    format_epoch,
    resume_training,
    rng_states,
    training_stopped,
)

Log = Callable[[str], None]

#: Test images whose min-layer statistics go to ``scales.csv`` after every epoch.
SCALE_PROBE_IMAGES = 128
#: Images per batch when a run evaluates its test set (either engine, per process).
TEST_BATCH_SIZE = 256

#: The options that may differ from the saved run's when it is resumed: more
#: ``--epochs`` (to extend it; not with a scheduler, whose schedule --epochs sets), the
#: progress bar, the data limits and where the data lives, the engine and device that
#: compute the same run, and ``--mine`` (the learner's pieces compute the same maths
#: as tinymin's). ``--init-from`` and
#: ``--calibrate`` only shape a run's start, and the resumed weights come from its
#: checkpoint. Every other option the run recorded (model, conv, clip value, dropout,
#: data, optimizer, lr, momentum, weight decay, scheduler, batch size, seed,
#: augmentation) must be the same: the resumed run continues the saved one, or it is
#: refused. ``--recipe`` only names a set of these options, which are compared one by one.
RESUME_MAY_CHANGE = frozenset({"epochs", "no_progress", "train_limit", "test_limit", "data_root",
                               "download", "engine", "device", "out", "resume", "restart",
                               "init_from", "calibrate", "recipe", "mine"})


#: Named option sets for ``train --recipe NAME``. A recipe fills in the options the
#: command line leaves at their defaults; an option given explicitly wins.
RECIPES: dict[str, dict[str, Any]] = {
    # Min-conv LeNet from scratch on the 5,000 embedded digits: a learning rate three
    # times the default, annealed along a cosine over 10 epochs. The search behind it,
    # failures included, and its 3-seed figures: docs/guides/results.rst, section
    # "The from-scratch recipe".
    "minconv-scratch": {"conv": "min", "epochs": 10, "optimizer": "adam", "lr": 3e-3,
                        "scheduler": "cosine"},
}


def make_optimizer(name: str, params, lr: float, momentum: float, weight_decay: float,
                   optimizers: Any = optim):
    """``"sgd"``, ``"adam"`` or ``"adamw"`` over ``params``, taken from ``optimizers``:
    :mod:`tinymin.optim`, or ``torch.optim`` for the torch engine (the same class
    names and arguments), so both engines train with the same settings."""
    if name == "sgd":
        return optimizers.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optimizers.Adam(params, lr=lr, weight_decay=weight_decay)
    return optimizers.AdamW(params, lr=lr, weight_decay=weight_decay)


def make_scheduler(name: str, optimizer, epochs: int, schedulers: Any = optim):
    """``"step"`` (x0.1 every third of the run), ``"cosine"`` or ``"none"`` (None), taken
    from ``schedulers``: :mod:`tinymin.optim` or ``torch.optim.lr_scheduler``."""
    if name == "step":
        return schedulers.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "cosine":
        return schedulers.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    return None


def model_config(options: Any, info: DatasetInfo) -> dict[str, Any]:
    """The ``build_model`` arguments the options describe (``name`` last, as stored)."""
    config: dict[str, Any] = {"num_classes": info.num_classes, "in_channels": info.in_channels,
                              "input_size": info.input_size, "conv": options.conv}
    if options.conv == "min" and options.clip_value is not None:
        config["clip_value"] = options.clip_value
    if getattr(options, "dropout", None) is not None:
        config["dropout"] = options.dropout
    config["name"] = options.model
    return config


def check_resume_options(checkpoint: Checkpoint, options: Any) -> None:
    """Refuse to resume with an option that would change the run, naming the option
    with its saved and given values, or with ``--epochs`` not above the epochs done.

    Options listed in :data:`RESUME_MAY_CHANGE` may differ; options the saved run did
    not record (added to tinymin since) are not compared.
    """
    saved = checkpoint.config.get("train_args", {})
    if not isinstance(saved, dict):
        raise CheckpointError(f"{checkpoint.path}: config 'train_args' must be a JSON object")
    given = plain_options(options)
    differ = [f"--{name.replace('_', '-')} {given[name]} (saved: {saved[name]})"
              for name in sorted(set(saved) & set(given) - RESUME_MAY_CHANGE)
              if saved[name] != given[name]]
    if differ:
        raise ValueError(f"--resume: options differ from the saved run's: {', '.join(differ)}; "
                         "resume with the saved values or start a new run in another --out")
    scheduler = saved.get("scheduler", "none")
    if scheduler not in (None, "none") and "epochs" in saved and options.epochs != saved["epochs"]:
        # its step size or period comes from --epochs: the saved scheduler state would
        # keep the old one, and a longer run would anneal to zero and climb back
        raise ValueError(f"--resume: --epochs {options.epochs} differs from the saved run's "
                         f"{saved['epochs']}, and --scheduler {scheduler} sets its schedule "
                         f"from --epochs; resume with --epochs {saved['epochs']} to finish the "
                         f"run, or start a new run in another --out")
    done = checkpoint.epoch
    if options.epochs <= done:
        raise ValueError(f"--resume: --epochs {options.epochs} is not above the {done} "
                         f"epoch{'s' if done != 1 else ''} the run in {options.out} has done; "
                         f"give --epochs {done + 1} or more to train on")


def plain_options(options: Any) -> dict[str, Any]:
    """The options that JSON can hold, for ``config.json``."""
    return {k: v for k, v in vars(options).items()
            if isinstance(v, (str, int, float, bool, type(None)))}


@dataclass
class StartingState:
    """What a run starts from, on either engine: the options, the seeded data splits,
    the tinymin model with its starting weights, the run folder, and the epoch it
    starts after. Built by :meth:`build`, brought to its weights by :meth:`initialise`
    (``--init-from``, ``--calibrate``) and :meth:`resume` (``--resume``). Each engine
    adds its own optimizer, scheduler and loaders (:class:`TrainingRun`,
    :class:`tinymin.torch.experiment.TorchTrainingRun`).

    ``options`` are the parsed ``train`` options (an ``argparse.Namespace``: ``model``,
    ``data``, ``conv``, ``epochs``, ``out``, ``resume``, ``init_from``, ...; see
    ``python -m tinymin train --help``).
    """

    options: Any
    model: Module
    model_config: dict[str, Any]
    train_set: Dataset
    test_set: Dataset
    folder: RunFolder | None
    resumed: Checkpoint | None = None
    start_epoch: int = 0

    @classmethod
    def build(cls, options: Any, writer: bool = True) -> StartingState:
        """Check the options, take the run folder (its one writer: ``writer``; the
        torch engine's ranks other than 0 only read it), check it (and the options of a
        resumed run), seed, load the data, build the model.

        Raises
        ------
        ValueError
            With a message naming the option, for options out of range, options that do
            not fit the run being resumed, a folder that already holds another run or
            that another process writes (CheckpointError, a ValueError, for an
            unreadable checkpoint).
        """
        check_options(options)
        folder = RunFolder(options.out) if options.out else None
        if folder is not None and writer:
            folder.lock()
        try:
            resumed = cls._open_folder(folder, options, writer)
            tinymin.manual_seed(options.seed)
            train_set, test_set, info = load_splits(options.data, options.data_root,
                                                    not options.no_augment, options.download)
            train_set = random_subset(train_set, options.train_limit, options.seed)
            test_set = random_subset(test_set, options.test_limit, options.seed + 1)
            config = model_config(options, info)
            model = build_model(config["name"], **{k: v for k, v in config.items() if k != "name"})
        except BaseException:
            if folder is not None and writer:
                folder.unlock()
            raise
        return cls(options, model, config, train_set, test_set, folder=folder, resumed=resumed)

    @staticmethod
    def _open_folder(folder: RunFolder | None, options: Any, writer: bool) -> Checkpoint | None:
        """The checkpoint ``--resume`` continues, after checking that the options given
        are the saved run's (see :data:`RESUME_MAY_CHANGE`); None for a new run, or for
        a run stopped before its first checkpoint (it starts again from epoch 1)."""
        if folder is None:
            return None
        if getattr(options, "restart", False) and writer:
            folder.clear()
        out = options.out
        if not options.resume:
            if folder.holds_run():
                # a new run would append its epochs to the old metrics.csv: a silent mix
                raise ValueError(f"--out {out}: this folder already holds a run (metrics.csv or "
                                 "checkpoint.npz); pass --resume to continue it, --restart to "
                                 "discard it and start again, or choose another --out")
            return None
        folder.refuse_broken_links()
        if not folder.checkpoint_path.exists() and not folder.config_path.exists():
            raise ValueError(f"--resume: {out} holds no run to continue (no checkpoint.npz or "
                             "config.json); start one without --resume")
        if folder.checkpoint_path.exists():
            try:
                checkpoint = folder.load() if writer else load_checkpoint(folder.checkpoint_path)
            except CheckpointError as exc:
                raise CheckpointError(f"--resume: {exc}; pass --restart instead of --resume to "
                                      "discard this run and start it again") from None
            check_resume_options(checkpoint, options)
            return checkpoint
        # config.json but no checkpoint: stopped during its first epoch or first save
        check_resume_options(Checkpoint(folder.config_path, _read_config(folder), 0, {}), options)
        if writer:
            folder.load_nothing()
        return None

    def release(self) -> None:
        """Stop writing the run folder (its lock is given back)."""
        if self.folder is not None:
            self.folder.unlock()

    @contextlib.contextmanager
    def released_on_error(self) -> Iterator[None]:
        """Give the folder back if what is built inside fails."""
        try:
            yield
        except BaseException:
            self.release()
            raise

    def make_train_loader(self) -> DataLoader:
        """tinymin's shuffling train loader (seeded by ``--seed``)."""
        return DataLoader(self.train_set, self.options.batch_size, shuffle=True,
                          seed=self.options.seed)

    def initialise(self, log: Log, train_loader: DataLoader | None = None) -> None:
        """``--init-from`` and ``--calibrate``. ``train_loader``: the batches that
        re-estimate the min layers' statistics after a copy that lacks them (tinymin's
        engine passes its own loader; by default a fresh one)."""
        options = self.options
        source_conv = (self._start_from(options.init_from, log, train_loader)
                       if options.init_from else None)
        if options.calibrate:
            self._calibrate(source_conv, log)

    def _start_from(self, path: str, log: Log, train_loader: DataLoader | None) -> str | None:
        """Copy weights from a checkpoint (exact -> min transfer keeps shapes); returns
        the checkpoint's ``conv`` ("exact" or "min")."""
        checkpoint, missing = init_from(self.model, path, self.model_config)
        log(f"initialised from {path} (epoch {checkpoint.epoch}); "
            f"not in checkpoint, kept fresh: {missing or 'none'}")
        if any(key.endswith("running_abs_mean") for key in missing):
            # mu_x_hat still holds its initial value after the copy
            # (docs/guides/minconv_math.rst, section 6).
            recalibrate_running_statistics(self.model, train_loader or self.make_train_loader(),
                                           max_batches=20)
        return checkpoint.config.get("model", {}).get("conv")

    def _calibrate(self, source_conv: str | None, log: Log) -> None:
        """Fit the copied min layers to the exact ones they replace (tinymin's extension
        of the paper's transfer: :func:`tinymin.minconv.calibrate.calibrate_min`)."""
        options = self.options
        if not options.init_from or not min_layers(self.model):
            raise ValueError("--calibrate needs --conv min and --init-from an exact checkpoint")
        if source_conv != "exact":
            raise ValueError(f"--calibrate fits min layers to exact ones: {options.init_from} "
                             f"holds a conv={source_conv!r} model, not an exact one")
        if options.resume:
            return  # the resumed checkpoint already holds the calibrated layers
        # calibrate on plain images: no random crops or flips, and no draws from the RNG
        plain_train, _, _ = load_splits(options.data, options.data_root, augment=False)
        subset = random_subset(plain_train, options.calibrate, options.seed)
        images = np.stack([subset[i][0] for i in range(len(subset))])
        for layer in calibrate_min(self.model, images, fit_max_k=options.fit_max_k,
                                   linear_correction=options.linear_correction, seed=options.seed):
            log("  calibrated " + str(layer))

    def resume(self, log: Log, optimizer=None, scheduler=None, train_loader=None) -> None:
        """``--resume``: the saved weights and generators, the log rows after the saved
        epoch dropped (:func:`tinymin.train.resume_training`), and the states of the
        tinymin ``optimizer``, ``scheduler`` and ``train_loader`` given (the torch engine
        restores its own). Nothing to do for a new run."""
        checkpoint = self.resumed
        if checkpoint is None:
            if self.options.resume:
                log(f"{self.options.out} holds no checkpoint yet: the run starts again from epoch 1")
            return
        try:
            self.start_epoch = resume_training(checkpoint, self.model, optimizer, scheduler,
                                               train_loader, self.folder.path)
        except MetricsFileError:  # the folder's log, not the checkpoint: as it says
            raise
        except (RuntimeError, ValueError) as exc:  # weights or optimizer state that do not fit
            raise unresumable(checkpoint, exc) from None
        log(f"resuming {self.options.out} after epoch {self.start_epoch}")

    @property
    def epochs_left(self) -> int:
        """The epochs :func:`~tinymin.train.fit` still has to train."""
        return self.options.epochs - self.start_epoch

    @property
    def config(self) -> dict[str, Any]:
        """What ``config.json`` and every checkpoint of the run record."""
        return {"model": self.model_config, "data": self.options.data,
                "train_args": plain_options(self.options)}

    def describe(self) -> str:
        """The first line a run prints (each engine may add to it)."""
        options = self.options
        return (f"training {options.model} ({options.conv} conv) on {options.data}: "
                f"{len(self.train_set)} train / {len(self.test_set)} test images, "
                f"{options.epochs} epochs")

    def epoch_writer(self, config: dict[str, Any], log: Log) -> EpochWriter:
        """The run's :class:`EpochWriter` into its folder (``config``: what checkpoints
        record); min models also get a ``scales.csv`` probe of the test set."""
        probe = None
        if self.folder is not None and min_layers(self.model):
            count = min(SCALE_PROBE_IMAGES, len(self.test_set))
            probe = np.stack([self.test_set[i][0] for i in range(count)])
        return EpochWriter(self.folder, config, probe, log)


def _read_config(folder: RunFolder) -> dict[str, Any]:
    try:
        config = json.loads(folder.config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise CheckpointError(f"--resume: {folder.config_path} is not readable JSON ({exc}); "
                              "pass --restart instead of --resume to start the run again") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"--resume: {folder.config_path} holds no JSON object; pass "
                              "--restart instead of --resume to start the run again")
    return config


def unresumable(checkpoint: Checkpoint, exc: Exception) -> CheckpointError:
    """The error of a checkpoint whose weights or optimizer state do not fit the run."""
    return CheckpointError(f"{checkpoint.path}: cannot resume this run from it ({exc}); "
                           "check --model, --conv and --data")


@dataclass
class EpochWriter:
    """What a run does after each epoch, on either engine, in this order: a
    ``scales.csv`` row (min models: each layer's mu_x_hat, mu_w and correlation with the
    exact convolution on ``probe``), a ``metrics.csv`` row, ``checkpoint.npz``, then the
    epoch's line to ``log``. Without a folder only the line is logged.

    ``folder`` and ``config`` (what every checkpoint records) belong to the run; each
    engine passes what it trained (:meth:`write`).
    """

    folder: RunFolder | None
    config: dict[str, Any]
    probe: np.ndarray | None = None
    log: Log | None = None

    def write(self, epoch: int, row: dict[str, float], model, optimizer, scheduler,
              extra: Callable[[], dict[str, np.ndarray]],
              tinymin_model: Callable[[], Module]) -> None:
        """Write epoch ``epoch`` (``row``: its metrics). ``model``, ``optimizer`` and
        ``scheduler`` go into the checkpoint as they are (anything with a numpy
        ``state_dict()``), with ``extra()``: the random generators, read as the
        checkpoint is written (after the scales, whose tinymin copy of a torch model
        draws its initial weights). ``tinymin_model()`` gives the tinymin model the
        scales are measured on (called only for min models)."""
        if self.folder is not None:
            if self.probe is not None:
                self.folder.log_scales(self._scales_row(epoch, tinymin_model()))
            self.folder.log_epoch(row)
            self.folder.save(model, self.config, epoch, optimizer, scheduler, extra=extra())
        if self.log is not None:
            self.log(format_epoch(row))

    def hook(self, model: Module, optimizer, scheduler=None, train_loader=None) -> EpochEnd:
        """``on_epoch_end`` for :func:`tinymin.train.fit` (tinymin's engine): each epoch
        writes ``model``, ``optimizer``, ``scheduler`` and the random generators (the
        train loader's included, so the run resumes bit-exact)."""

        def on_epoch_end(epoch: int, row: dict[str, float]) -> None:
            self.write(epoch, row, model, optimizer, scheduler,
                       extra=lambda: rng_states(train_loader), tinymin_model=lambda: model)

        return on_epoch_end

    def _scales_row(self, epoch: int, model: Module) -> dict[str, Any]:
        model.eval()
        row = {"epoch": epoch, **scale_snapshot(model)}
        for diag in layer_diagnostics(model, self.probe):
            row[f"{diag['layer']}.correlation"] = round(diag["correlation"], 5)
        return row


@dataclass
class TrainingRun:
    """One run on tinymin's engine: its :class:`StartingState` (``start``) with the
    tinymin optimizer, scheduler and loaders that train it."""

    start: StartingState
    optimizer: Any
    scheduler: Any
    train_loader: DataLoader
    test_loader: DataLoader

    # ------------------------------------------------------------------------ build
    @classmethod
    def build(cls, options: Any, log: Log = print) -> TrainingRun:
        """Seed, load the data, build model/optimizer/scheduler/loaders, then bring the
        model to its starting state (``--init-from``, ``--calibrate``, ``--resume``).

        Raises
        ------
        ValueError
            With a message naming the option, for options that do not fit the model,
            the checkpoint or the run being resumed (CheckpointError, a ValueError, for
            an unreadable checkpoint).
        """
        start = StartingState.build(options)
        with start.released_on_error():
            optimizer = make_optimizer(options.optimizer, start.model.parameters(), options.lr,
                                       options.momentum, options.weight_decay)
            scheduler = make_scheduler(options.scheduler, optimizer, options.epochs)
            run = cls(start, optimizer, scheduler, start.make_train_loader(),
                      DataLoader(start.test_set, TEST_BATCH_SIZE))
            start.initialise(log, run.train_loader)
            start.resume(log, optimizer, scheduler, run.train_loader)
        return run

    @property
    def model(self) -> Module:
        return self.start.model

    @property
    def config(self) -> dict[str, Any]:
        """What ``config.json`` and every checkpoint of the run record."""
        return self.start.config

    # -------------------------------------------------------------------------- run
    def run(self, log: Log = print) -> list[dict[str, float]]:
        """Train the remaining epochs; returns one metrics dict per epoch trained."""
        start, config = self.start, self.config
        if start.folder is not None:
            start.folder.write_config(config)
        log(start.describe())
        writer = start.epoch_writer(config, log)
        try:
            return fit(self.model, self.optimizer, self.train_loader, start.epochs_left,
                       self.test_loader, self.scheduler, start_epoch=start.start_epoch,
                       progress=not start.options.no_progress, log=None,
                       on_epoch_end=writer.hook(self.model, self.optimizer, self.scheduler,
                                                self.train_loader))
        except NonFiniteLossError as error:
            if start.folder is None:
                raise
            raise training_stopped(error.reason, start.folder.checkpoint_path) from None
        finally:
            start.release()
