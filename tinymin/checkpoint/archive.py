"""Checkpoint files: one ``.npz`` file (no pickle) holding weights, optimizer state and config.

Layout of the archive (every entry a numpy array, so ``allow_pickle=False`` loads it):

* ``meta/format_version``, ``meta/epoch``, ``meta/config`` (JSON text)
* ``model/<state_dict key>`` (e.g. ``model/0.weight``)
* ``optimizer/...`` and ``scheduler/...`` from
  :func:`tinymin.checkpoint.state_codec.flatten_state_dict`
* ``extra/<name>``: anything else a caller stores (the random generators' states)

Writes are atomic (:mod:`tinymin.checkpoint.atomic`): a crash mid-write never leaves a
truncated checkpoint behind.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinymin.checkpoint.atomic import write_npz_atomic
from tinymin.checkpoint.state_codec import flatten_state_dict, unflatten_state_dict

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt or not a tinymin checkpoint."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""

    path: Path
    config: dict[str, Any]
    epoch: int
    model_state: dict[str, np.ndarray]
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def save_checkpoint(path: str | os.PathLike, model, config: dict[str, Any], epoch: int = 0,
                    optimizer=None, scheduler=None, extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write model weights, optimizer/scheduler state and ``config`` atomically to ``path``."""
    arrays: dict[str, np.ndarray] = {
        "meta/format_version": np.array(FORMAT_VERSION),
        "meta/epoch": np.array(int(epoch)),
        "meta/config": np.array(json.dumps(config, sort_keys=True)),
    }
    arrays.update({f"model/{k}": v for k, v in model.state_dict().items()})
    if optimizer is not None:
        arrays.update(flatten_state_dict(optimizer.state_dict(), prefix="optimizer/"))
    if scheduler is not None:
        arrays.update(flatten_state_dict(scheduler.state_dict(), prefix="scheduler/"))
    for key, value in (extra or {}).items():
        arrays[f"extra/{key}"] = np.asarray(value)
    return write_npz_atomic(path, arrays)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    CheckpointError
        Naming the path and the reason: missing, not an npz archive, truncated,
        missing metadata, unknown format version or unreadable config.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint ({exc})") from None
    return _parse_checkpoint(path, arrays)


def _parse_checkpoint(path: Path, arrays: dict[str, np.ndarray]) -> Checkpoint:
    for key in ("meta/format_version", "meta/epoch", "meta/config"):
        if key not in arrays:
            raise CheckpointError(f"{path}: not a tinymin checkpoint (no {key!r} entry)")
    version = int(arrays["meta/format_version"])
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version}, this tinymin reads {FORMAT_VERSION}")
    try:
        config = json.loads(str(arrays["meta/config"]))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: config is not valid JSON ({exc})") from None
    model_state = _section(arrays, "model/")
    if not model_state:
        raise CheckpointError(f"{path}: checkpoint holds no model weights")
    optimizer = unflatten_state_dict(arrays, prefix="optimizer/") if _section(arrays, "optimizer/") else None
    scheduler = unflatten_state_dict(arrays, prefix="scheduler/") if _section(arrays, "scheduler/") else None
    return Checkpoint(path, config, int(arrays["meta/epoch"]), model_state, optimizer, scheduler,
                      _section(arrays, "extra/"))


def _section(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
