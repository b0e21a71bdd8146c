"""A run folder: the files one training run writes and reads back.

::

    runs/lenet-min/
        config.json      the model, the data and every option of the run
        metrics.csv      one row per epoch (METRIC_FIELDS)
        scales.csv       min models: each layer's mu_x_hat, mu_w and correlation
        checkpoint.npz   weights, optimizer, scheduler, random generators (last epoch)
        .lock            while a process writes the folder: its pid, host, start and command

:class:`RunFolder` owns these files: it writes them atomically
(:mod:`tinymin.checkpoint.atomic`), lets one process write them at a time
(:meth:`RunFolder.lock`, :mod:`tinymin.run_lock`), resumes a run from them, and starts
a run from another run's checkpoint (``--init-from``). :func:`read_metrics` reads a
``metrics.csv`` back, for plots; :func:`check_output_file` keeps a command's output
from replacing its input or another run's files.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from tinymin.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
    write_text_atomic,
)
from tinymin.run_lock import FolderLock

#: Columns of ``metrics.csv``, one row per epoch.
METRIC_FIELDS = ["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
                 "lr", "seconds"]


class RunFolder:
    """The folder of one training run and the files in it (see the module docstring).

    Parameters
    ----------
    path : path
        The folder; created when the first file is written.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = FolderLock(self.path / ".lock")

    def lock(self, option: str = "--out") -> None:
        """Become the folder's one writer (creating the folder), or raise ValueError
        naming ``option``, the folder and the process that writes it. Released by
        :meth:`unlock`, or by the system when this process ends, however it ends."""
        holder = self._lock.acquire()
        if holder is not None:
            raise ValueError(f"{option} {self.path}: another process is writing this run folder "
                             f"({holder}); wait for it to end or stop it, or choose another "
                             f"{option}")

    def unlock(self) -> None:
        """Stop being the folder's writer (nothing to do if this process is not)."""
        self._lock.release()

    def writer(self) -> str | None:
        """The process writing this folder now (pid, host, start, command), or None."""
        return self._lock.holder()

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def scales_path(self) -> Path:
        return self.path / "scales.csv"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.npz"

    def write_config(self, config: dict[str, Any]) -> Path:
        """``config.json``: what the run is (model, data, options), as indented JSON."""
        return write_text_atomic(self.config_path, json.dumps(config, indent=2) + "\n")

    def log_epoch(self, row: dict[str, Any]) -> None:
        """Append one epoch's row to ``metrics.csv``."""
        append_metrics(self.metrics_path, row)

    def log_scales(self, row: dict[str, Any]) -> None:
        """Append one row (epoch, then one column per layer statistic) to ``scales.csv``."""
        append_metrics(self.scales_path, row, fields=list(row))

    def save(self, model, config: dict[str, Any], epoch: int, optimizer=None, scheduler=None,
             extra: dict | None = None) -> Path:
        """Write ``checkpoint.npz`` (atomically: a crash never leaves half of one)."""
        return save_checkpoint(self.checkpoint_path, model, config, epoch, optimizer, scheduler,
                               extra=extra)

    @property
    def run_files(self) -> tuple[Path, ...]:
        return (self.config_path, self.metrics_path, self.scales_path, self.checkpoint_path)

    def holds_run(self) -> bool:
        """Whether a run has already written its log or checkpoint here."""
        return any(p.exists() for p in (self.metrics_path, self.scales_path, self.checkpoint_path))

    def clear(self) -> list[Path]:
        """Delete the run's files and their temporary leftovers (``train --restart``);
        returns what was deleted. Other files in the folder are left alone."""
        removed = []
        for path in self.run_files:
            removed += remove_stale_temporaries(path)
            if path.exists():
                path.unlink()
                removed.append(path)
        return removed

    def load(self) -> Checkpoint:
        """The run's checkpoint, to resume from; first removes the temporary files a
        killed run left behind (a checkpoint's is as large as the checkpoint)."""
        for path in self.run_files:
            remove_stale_temporaries(path)
        return load_checkpoint(self.checkpoint_path)

    def load_nothing(self) -> None:
        """A run stopped before its first checkpoint, resumed: it starts again, so its
        log rows and the temporary files it left go."""
        for path in self.run_files:
            remove_stale_temporaries(path)
        self.forget_after(0)

    def forget_after(self, epoch: int) -> None:
        """Drop the log rows after ``epoch``: an epoch that was logged but not
        checkpointed before a crash is trained again, not logged twice."""
        for path in (self.metrics_path, self.scales_path):
            truncate_metrics(path, epoch)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"


def init_from(model, path: str | os.PathLike,
              model_config: dict[str, Any] | None = None) -> tuple[Checkpoint, list[str]]:
    """Copy the weights of another run's checkpoint into ``model`` (transfer learning).

    Keys the model has and the checkpoint lacks keep their fresh values (an exact
    checkpoint into a min model lacks the min layers' buffers). Returns the
    checkpoint and those missing keys.

    Parameters
    ----------
    model : Module
    path : path
    model_config : dict, optional
        The ``build_model`` config of ``model`` (``name``, ``conv``, ...): when given,
        the checkpoint's model must have the same ``name``, and a min-conv checkpoint
        cannot start an exact model (the other way round is the paper's transfer).

    Raises
    ------
    CheckpointError
        Naming the option that differs from the checkpoint, or the keys and shapes
        that do not fit the model; the model is left as it was.
    """
    checkpoint = load_checkpoint(path)
    if model_config is not None:
        _check_same_model(path, checkpoint.config.get("model", {}), model_config)
    try:
        result = model.load_state_dict(checkpoint.model_state, strict=False)
    except RuntimeError as exc:  # a shape differs: another model
        raise CheckpointError(f"{path}: holds another model ({exc}); check --model and --data") from None
    if result.unexpected_keys:
        raise CheckpointError(f"{path}: keys {result.unexpected_keys} do not exist in this model")
    return checkpoint, result.missing_keys


def _check_same_model(path: str | os.PathLike, saved: dict[str, Any], wanted: dict[str, Any]) -> None:
    name, saved_name = wanted.get("name"), saved.get("name")
    if saved_name is not None and saved_name != name:
        raise CheckpointError(f"{path}: the checkpoint holds a {saved_name!r} model, but --model "
                              f"is {name!r}")
    if saved.get("conv") == "min" and wanted.get("conv") == "exact":
        raise CheckpointError(f"{path}: the checkpoint holds a conv='min' model, but --conv is "
                              "'exact' (an exact checkpoint can start a min model, not the "
                              "other way round)")


def check_output_file(option: str, path: str | os.PathLike, inputs: tuple = (),
                      force: bool = False) -> None:
    """Refuse an output file that would replace an input, an existing file, or a file in
    a run folder (one holding ``config.json``, ``metrics.csv`` or a checkpoint) unless
    ``force``; a folder that a live process is writing is refused even then.

    Raises
    ------
    ValueError
        Naming ``option``, the path and what it would replace.
    """
    target = Path(path)
    folder = RunFolder(target.parent)
    holder = folder.writer()
    if holder is not None:
        raise ValueError(f"{option} {path}: {folder.path} is being written by a run ({holder}); "
                         "write elsewhere or wait for it to end")
    if force:
        return
    for source in inputs:
        if target.exists() and Path(source).exists() and os.path.samefile(target, source):
            raise ValueError(f"{option} {path}: is the input {source}; write to another file "
                             "(or pass --force to replace it)")
    if target.exists():
        raise ValueError(f"{option} {path}: exists; choose another file name (or pass --force "
                         "to replace it)")
    if any(p.exists() for p in folder.run_files):
        raise ValueError(f"{option} {path}: {folder.path} is the folder of a training run; "
                         "write elsewhere (or pass --force to write there)")


# ------------------------------------------------------------------- metrics CSV files
def append_metrics(path: Path, row: dict[str, Any], fields: list[str] | None = None) -> None:
    """Add ``row`` to a CSV file, rewriting it atomically (never half a line on disk)."""
    fields = fields or METRIC_FIELDS
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    if not existing:
        writer.writeheader()
    writer.writerow({k: row[k] for k in fields})
    write_text_atomic(path, existing + buffer.getvalue())


class MetricsFileError(ValueError):
    """A run folder's ``metrics.csv`` that tinymin cannot read (named, with the reason)."""


def truncate_metrics(path: Path, last_epoch: int) -> None:
    """Drop the rows of a metrics CSV whose epoch is after ``last_epoch`` (atomic rewrite)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    if fields is None:
        return
    if "epoch" not in fields:
        raise MetricsFileError(f"{path}: not a tinymin metrics file (no 'epoch' column); "
                               "move it away, or resume into another --out")
    try:
        kept = [row for row in rows if float(row["epoch"]) <= last_epoch]
    except (TypeError, ValueError):  # a missing or non-numeric epoch
        bad = next(row.get("epoch") for row in rows if not _is_number(row.get("epoch")))
        raise MetricsFileError(f"{path}: a row has epoch {bad!r}, not a number; mend or move "
                               "the file") from None
    if len(kept) == len(rows):
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(kept)
    write_text_atomic(path, buffer.getvalue())


def _is_number(text: Any) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``metrics.csv`` (a file, or a run folder holding one) as floats."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics.csv here")
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = [k for k in ("epoch", "train_loss", "test_accuracy") if rows and k not in rows[0]]
    if missing:
        raise ValueError(f"{path}: not a tinymin metrics file (missing columns {missing})")
    return [{k: float(v) for k, v in r.items()} for r in rows]
