"""``tinymin.save`` and ``tinymin.load``: a state dict (or a tensor) in one ``.npz`` file.

The PyTorch habit ``torch.save(model.state_dict(), path)`` works the same way, but the
file is an ``.npz`` archive of plain arrays read with ``allow_pickle=False``: loading
a file never runs code from it. What can be saved:

* a Tensor or a numpy array (``load`` gives back a Tensor or an array);
* a state dict: a Module's, an Optimizer's, a scheduler's, or any dict of arrays,
  Tensors, numbers, strings and lists of numbers (``load`` gives arrays, as
  ``state_dict()`` does);
* a dict of such state dicts and values, ``{"model": ..., "optimizer": ..., "epoch":
  3}``, one level deep.

Layout: ``tinymin/layout`` (JSON: what was saved and which keys are state dicts), then
every value under its name through :mod:`~tinymin.checkpoint.state_codec`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tinymin.checkpoint.archive import (
    CheckpointError,
    check_binary_file,
    read_npz,
    source_name,
)
from tinymin.checkpoint.atomic import refuse_object_arrays, write_npz_atomic
from tinymin.checkpoint.state_codec import flatten_state_dict, unflatten_state_dict
from tinymin.device import as_device
from tinymin.tensor import Tensor

LAYOUT = "tinymin/layout"


def save(obj: Any, f: str | os.PathLike | BinaryIO) -> Path | None:
    """Write ``obj`` (a Tensor, an array or a state dict) to the ``.npz`` file ``f``.

    Parameters
    ----------
    obj : Tensor, ndarray or dict
        What to save (see the module docstring).
    f : str, path or binary file object
        A path is written atomically: the old file stays whole until the new one is
        complete. A file object opened for writing bytes (``open(p, "wb")``,
        ``io.BytesIO``) is written at its position, as ``torch.save`` does; whether
        that is atomic is up to whoever opened it.

    Returns
    -------
    Path or None
        The path written, or None for a file object (``torch.save`` returns None).

    Examples
    --------
    >>> import io, tempfile, pathlib, tinymin as tm
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "linear.npz"
    >>> model = tm.nn.Linear(2, 1)
    >>> _ = tm.save(model.state_dict(), path)
    >>> _ = model.load_state_dict(tm.load(path))
    >>> buffer = io.BytesIO()
    >>> tm.save(model.state_dict(), buffer)
    >>> _ = buffer.seek(0)
    >>> sorted(tm.load(buffer))
    ['bias', 'weight']
    """
    if isinstance(obj, (Tensor, np.ndarray)):
        array = np.asarray(_plain(obj))
        _check_numeric("the array", array)
        layout, arrays = {"type": type(obj).__name__}, {"tensor": array}
    elif isinstance(obj, Mapping):
        # an optimizer's state dict is one state dict (the codec walks its "state");
        # otherwise every dict value is a state dict of its own
        is_optimizer_state = "param_groups" in obj
        _check_keys("the dict", obj)
        sections = [] if is_optimizer_state else sorted(
            k for k, v in obj.items() if isinstance(v, Mapping))
        layout, arrays = {"type": "dict", "sections": sections}, {}
        leaves = {k: _plain(v) for k, v in obj.items() if k not in sections}
        for name in sections:
            _check_keys(f"section {name!r}", obj[name])
        try:
            arrays.update(flatten_state_dict(leaves))
            for name in sections:
                state = {k: _plain(v) for k, v in obj[name].items()}
                arrays.update(flatten_state_dict(state, prefix=f"{name}/"))
        except ValueError as exc:
            raise ValueError(f"save: {exc}") from None
        except TypeError as exc:
            raise TypeError(f"save: {exc}") from None
    else:
        raise TypeError(f"save: can save a Tensor, an array or a state dict, not a "
                        f"{type(obj).__name__}")
    if LAYOUT in arrays:  # a section "tinymin" holding "layout": the file's own entry
        raise ValueError(f"save: the name {LAYOUT!r} is tinymin's own; rename the section "
                         "'tinymin' or its key 'layout'")
    arrays[LAYOUT] = np.array(json.dumps(layout))
    if hasattr(f, "write"):
        check_binary_file(f, "wb")
        refuse_object_arrays(source_name(f), arrays)
        try:
            np.savez(f, **arrays)
        except io.UnsupportedOperation:
            raise TypeError(f"{source_name(f)}: the file object is not open for writing; open "
                            "it with 'wb'") from None
        return None
    return write_npz_atomic(f, arrays)


def load(f: str | os.PathLike | BinaryIO, map_location: Any = None, *,
         weights_only: bool = True) -> Any:
    """Read what :func:`save` wrote to ``f`` (never unpickling anything).

    Parameters
    ----------
    f : str, path or binary file object
        A file object (``open(p, "rb")``, ``io.BytesIO``) is read from its position
        to its end.
    map_location : None, "cpu" or ``tinymin.device("cpu")``
        Accepted for code written for ``torch.load``; tinymin has only the CPU, so a GPU
        here is an error that names the torch engine.
    weights_only : bool, default True
        Accepted for ``torch.load``'s spelling: tinymin's files hold nothing but arrays,
        so ``load`` is always weights-only, and False is refused rather than ignored.

    Raises
    ------
    CheckpointError
        If ``f`` is missing, not an ``.npz`` file, malformed, or not written by
        :func:`save` (use :func:`~tinymin.checkpoint.load_checkpoint` for a training
        checkpoint).
    """
    if map_location is not None:
        as_device(map_location, "tinymin.load(map_location=...)")
    if weights_only is not True:
        raise ValueError("tinymin.load: weights_only must be True: a tinymin file holds only "
                         "arrays and is never unpickled")
    path = source_name(f)
    arrays = read_npz(f)
    if LAYOUT not in arrays:
        raise CheckpointError(f"{path}: not written by tinymin.save (no {LAYOUT!r} entry); "
                              "a training checkpoint is read by load_checkpoint")
    try:
        layout = json.loads(str(arrays.pop(LAYOUT)))
        if not isinstance(layout, dict) or layout.get("type") not in ("Tensor", "ndarray", "dict"):
            raise ValueError(f"unknown layout {layout!r:.80}")
        if layout["type"] in ("Tensor", "ndarray"):
            array = arrays["tensor"]
            _check_numeric("'tensor'", array, op="load")
            return Tensor(array, dtype=array.dtype) if layout["type"] == "Tensor" else array
        sections = layout["sections"]
        if not isinstance(sections, list) or not all(isinstance(n, str) and n and "/" not in n
                                                     for n in sections):
            raise ValueError(f"sections must be a list of names, got {sections!r:.80}")
        inner = {k: v for k, v in arrays.items() if k.split("/", 1)[0] in sections}
        result = unflatten_state_dict({k: v for k, v in arrays.items() if k not in inner})
        for name in sections:
            result[name] = unflatten_state_dict(inner, prefix=f"{name}/")
        return result
    except (KeyError, TypeError, ValueError, RecursionError) as exc:  # Recursion: nested JSON
        raise CheckpointError(f"{path}: malformed tinymin.save file ({exc!r:.200})") from None


def _check_keys(where: str, mapping: Mapping) -> None:
    """Names are strings: ``{1: a, "1": b}`` would store two values under one name."""
    for key in mapping:
        if not isinstance(key, str):
            raise TypeError(f"save: {where} has the key {key!r}, a {type(key).__name__}; "
                            "the names of a state dict are strings")


def _check_numeric(where: str, array: np.ndarray, op: str = "save") -> None:
    """Only numbers and bools: anything else (objects, strings) is refused, never pickled."""
    if array.dtype.kind not in "biufc":
        raise TypeError(f"{op}: {where} has dtype {array.dtype}; only numeric and bool arrays "
                        "are stored")


def _plain(value: Any) -> Any:
    """A Tensor becomes its array; everything else stays as it is."""
    return value.numpy() if isinstance(value, Tensor) else value
