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
import math
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
        # a link whose target is gone still stands for a run: a new one must not replace it
        return any(p.exists() or p.is_symlink()
                   for p in (self.metrics_path, self.scales_path, self.checkpoint_path))

    def broken_links(self) -> list[Path]:
        """The run files that are symbolic links to nothing (their target was moved or
        deleted): a resumed run must not take them for files not written yet."""
        return [p for p in self.run_files if p.is_symlink() and not p.exists()]

    def refuse_broken_links(self) -> None:
        """Raise ValueError naming each run file that links to nothing: resuming would
        start again and replace the link, losing where it pointed (``train --resume``)."""
        broken = self.broken_links()
        if broken:
            links = ", ".join(f"{path} -> {os.readlink(path)}" for path in broken)
            raise ValueError(f"--resume: {links}: a symbolic link to a file that does not exist; "
                             "restore the file it points to, or pass --restart instead of "
                             "--resume to discard this run and start it again")

    def clear(self) -> list[Path]:
        """Delete the run's files and their temporary leftovers (``train --restart``);
        returns what was deleted. Other files in the folder are left alone."""
        removed = []
        for path in self.run_files:
            removed += remove_stale_temporaries(path)
            if path.exists() or path.is_symlink():  # a broken link goes too
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
        truncate_metrics(self.metrics_path, epoch, fields=METRIC_FIELDS)
        truncate_metrics(self.scales_path, epoch)  # its columns depend on the model

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
    """Add ``row`` to a CSV file, rewriting it atomically (never half a line on disk).

    Raises
    ------
    MetricsFileError
        When the file exists but is not a CSV file with exactly the columns ``fields``
        (default :data:`METRIC_FIELDS`), in that order: the new row would not line up
        under its header. The file is left as it was.
    """
    fields = fields or METRIC_FIELDS
    existing = _read_text(path) if path.exists() else ""
    header, _ = _parse_csv(path, existing)
    if header is None:
        existing = ""  # an empty file (or blank lines): start it with the header
    else:
        _check_columns(path, header, fields)
    if existing and not existing.endswith(("\n", "\r")):
        existing += "\r\n"  # end the last row: the new one must start a line of its own
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    if not existing:
        writer.writeheader()
    writer.writerow({k: row[k] for k in fields})
    write_text_atomic(path, existing + buffer.getvalue())


class MetricsFileError(ValueError):
    """A run folder's ``metrics.csv`` (or ``scales.csv``) that tinymin cannot read or
    append to (named, with the reason and the line)."""


def truncate_metrics(path: Path, last_epoch: int, fields: list[str] | None = None) -> None:
    """Drop the rows of a metrics CSV whose epoch is after ``last_epoch`` (atomic rewrite).

    With ``fields``, the file's header must be exactly these columns (the ones the
    resumed run appends): a file with other columns is refused, not rewritten.

    Raises
    ------
    MetricsFileError
        Naming the file, the line and the reason: not UTF-8 CSV, a row with more or
        fewer fields than the header, no ``epoch`` column, an epoch that is not a
        finite number, or other columns than ``fields``.
    """
    if not path.is_file():
        return
    header, rows = _parse_csv(path, _read_text(path))
    if header is None:
        return
    if "epoch" not in header:
        raise MetricsFileError(f"{path}: not a tinymin metrics file (no 'epoch' column); "
                               "move it away, or resume into another --out")
    epochs = [_epoch_of(path, line, row) for line, row in rows]
    if fields is not None:
        _check_columns(path, header, fields)
    kept = [row for (_, row), epoch in zip(rows, epochs) if epoch <= last_epoch]
    if len(kept) == len(rows):
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header)
    writer.writeheader()
    writer.writerows(kept)
    write_text_atomic(path, buffer.getvalue())


def _epoch_of(path: Path, line: int, row: dict[str, str]) -> float:
    """The row's epoch; a missing, non-numeric or non-finite one is an error (a NaN
    epoch would be neither kept nor dropped rightly)."""
    epoch = _number_or_none(row["epoch"])
    if epoch is None or not math.isfinite(epoch):
        raise MetricsFileError(f"{path}: a row has epoch {row['epoch']!r}, not a number "
                               f"(line {line}); mend or move the file")
    return epoch


def _check_columns(path: Path, header: list[str], fields: list[str]) -> None:
    """Refuse a file whose columns are not ``fields`` in this order: rows appended
    in ``fields`` order would sit under the wrong names."""
    if header != list(fields):
        raise MetricsFileError(f"{path}: has the columns {','.join(header)}, but this run "
                               f"writes {','.join(fields)}; new rows would not line up with "
                               "them: mend or move the file")


def _read_text(path: Path) -> str:
    """The text of a metrics CSV file; MetricsFileError, naming the line, if it is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise MetricsFileError(f"{path}: not UTF-8 text (line {line}: {exc.reason}, byte "
                               f"{data[exc.start:exc.start + 1]!r}); mend or move the file") from None


def _parse_csv(path: Path, text: str) -> tuple[list[str] | None, list[tuple[int, dict[str, str]]]]:
    """The header of the CSV ``text`` read from ``path`` (None if it has none) and its
    rows, each with the number of the line it ends on; blank lines are skipped.

    Raises
    ------
    MetricsFileError
        Naming the file, the line and the reason: not CSV, or a row with more or fewer
        fields than the header.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next((row for row in reader if row), None)
        rows = [(reader.line_num, row) for row in reader if row]
    except csv.Error as exc:  # e.g. a field over csv's size limit
        raise MetricsFileError(f"{path}: not a CSV file (line {reader.line_num}: {exc}); mend "
                               "or move the file") from None
    for line, row in rows:
        if len(row) != len(header):
            raise MetricsFileError(f"{path}: a row has {len(row)} fields, the header "
                                   f"{len(header)} (line {line}); mend or move the file")
    return header, [(line, dict(zip(header, row))) for line, row in rows]


def _number_or_none(text: str) -> float | None:
    """``float(text)``, or None when ``text`` is not a number."""
    try:
        return float(text)
    except ValueError:
        return None


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``metrics.csv`` (a file, or a run folder holding one) as floats.

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    MetricsFileError
        Naming the file, the line and the reason: not UTF-8 CSV, a row with more or
        fewer fields than the header, a missing column, or a value that is not a number.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics.csv here")
    header, rows = _parse_csv(path, _read_text(path))
    missing = [k for k in ("epoch", "train_loss", "test_accuracy") if rows and k not in header]
    if missing:
        raise MetricsFileError(f"{path}: not a tinymin metrics file (missing columns {missing})")
    return [{key: _value_of(path, line, key, text) for key, text in row.items()}
            for line, row in rows]


def _value_of(path: Path, line: int, column: str, text: str) -> float:
    """``text`` as a float, or MetricsFileError naming the file, line and column."""
    value = _number_or_none(text)
    if value is None:
        raise MetricsFileError(f"{path}: {column} is {text!r}, not a number (line {line}); "
                               "mend or move the file")
    return value
