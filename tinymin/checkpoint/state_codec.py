"""The npz state codec: a ``state_dict()`` as flat ``{name: array}`` entries and back.

Checkpoints are ``.npz`` files read with ``allow_pickle=False``, which hold only arrays.
:func:`flatten_state_dict` turns an optimizer's (or a scheduler's) ``state_dict()`` into
a flat ``{name: array}`` dict, and :func:`unflatten_state_dict` turns it back, with the
same Python types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

__all__ = ["flatten_state_dict", "unflatten_state_dict"]

# An array is stored under its path, e.g. "state/0/exp_avg". Every other value is
# stored as an array too, under its path plus ":" and its Python type, e.g.
# "param_groups/0/lr:float" or "param_groups/0/betas:tuple", so unflattening gives back
# exactly the same types and np.load(..., allow_pickle=False) can read it all.
_SEP = "/"
_DECODERS: dict[str, Callable[[np.ndarray], Any]] = {
    "none": lambda a: None,
    "bool": lambda a: bool(a),
    "int": lambda a: int(a),
    "float": lambda a: float(a),
    "str": lambda a: str(a),
    "list": lambda a: a.tolist(),
    "tuple": lambda a: tuple(a.tolist()),
}


def flatten_state_dict(state_dict: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """Flatten a ``state_dict()`` into ``{name: numpy array}`` for ``np.savez``.

    Works for an optimizer's state_dict (its ``"state"`` and ``"param_groups"`` are
    walked into) and for any flat dict of values, such as a scheduler's.

    Parameters
    ----------
    state_dict : dict
        Values: numpy arrays, ``None``, bools, ints, floats, strings, and lists or
        tuples of numbers.
    prefix : str, default ""
        Put in front of every name, e.g. ``"optimizer/"``, to share one file with a
        model's weights.

    Returns
    -------
    dict of str to numpy.ndarray
        Names like ``"state/0/exp_avg"`` (arrays, shared, not copied) and
        ``"param_groups/0/lr:float"`` (other values, tagged with their type).

    Examples
    --------
    >>> sd = {"state": {0: {"step": 3}}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    >>> sorted(flatten_state_dict(sd))
    ['param_groups/0/lr:float', 'param_groups/0/params:list', 'state/0/step:int']
    """
    flat: dict[str, np.ndarray] = {}
    for key, value in state_dict.items():
        if key == "state":
            for index, param_state in value.items():
                for name, leaf in param_state.items():
                    _put(flat, prefix, ["state", str(int(index)), name], leaf)
        elif key == "param_groups":
            for index, group in enumerate(value):
                for name, leaf in group.items():
                    _put(flat, prefix, ["param_groups", str(index), name], leaf)
        else:
            _put(flat, prefix, [key], value)
    return flat


def unflatten_state_dict(flat: Mapping[str, np.ndarray], prefix: str = "") -> dict[str, Any]:
    """Undo :func:`flatten_state_dict`, restoring the Python types.

    ``unflatten_state_dict(flatten_state_dict(sd))`` equals ``sd``.

    Parameters
    ----------
    flat : mapping of str to numpy.ndarray
        E.g. the ``NpzFile`` from ``np.load(path, allow_pickle=False)``.
    prefix : str, default ""
        Only names starting with it are read, with it removed.

    Returns
    -------
    dict
        The state_dict, ready for ``load_state_dict``.
    """
    result: dict[str, Any] = {}
    state: dict[int, dict[str, Any]] = {}
    groups: dict[int, dict[str, Any]] = {}
    for flat_key, array in flat.items():
        if not flat_key.startswith(prefix):
            continue
        path, value = _decode(flat_key[len(prefix) :], np.asarray(array))
        parts = path.split(_SEP)
        if len(parts) == 3 and parts[0] in ("state", "param_groups") and parts[1].isdigit():
            table = state if parts[0] == "state" else groups
            table.setdefault(int(parts[1]), {})[parts[2]] = value
        elif len(parts) == 1:
            result[path] = value
        else:
            raise ValueError(f"unflatten_state_dict: unexpected name {flat_key!r}")
    if groups or state:
        if sorted(groups) != list(range(len(groups))):
            raise ValueError(
                f"unflatten_state_dict: parameter groups {sorted(groups)} are not numbered "
                "0, 1, 2, ..."
            )
        result["state"] = dict(sorted(state.items()))
        result["param_groups"] = [groups[i] for i in range(len(groups))]
    return result


def _put(flat: dict[str, np.ndarray], prefix: str, parts: list[str], value: Any) -> None:
    for part in parts:
        if not isinstance(part, str) or not part or _SEP in part or ":" in part:
            raise ValueError(
                f"flatten_state_dict: names must be non-empty strings without '/' or ':', "
                f"got {part!r}"
            )
    key = prefix + _SEP.join(parts)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":  # object arrays would be pickled
            raise TypeError(f"flatten_state_dict: {key!r} is an array of dtype {value.dtype}; "
                            "only numeric and bool arrays can be stored")
        flat[key] = value
        return
    if value is None:
        tag, array = "none", np.zeros(0)
    elif isinstance(value, (bool, np.bool_)):
        tag, array = "bool", np.array(bool(value))
    elif isinstance(value, (int, np.integer)):
        tag, array = "int", np.array(int(value), dtype=np.int64)
    elif isinstance(value, (float, np.floating)):
        tag, array = "float", np.array(float(value), dtype=np.float64)
    elif isinstance(value, str):
        tag, array = "str", np.array(value)  # a unicode array: no pickle needed
    elif isinstance(value, (list, tuple)):
        tag, array = type(value).__name__, np.array(value)
        if array.ndim != 1 or array.dtype.kind not in "biuf":
            raise TypeError(f"flatten_state_dict: {key!r} is not a flat sequence of numbers")
    else:
        raise TypeError(
            f"flatten_state_dict: cannot store {key!r}, a {type(value).__name__}; values "
            "must be arrays, None, bools, numbers, strings or lists/tuples of numbers"
        )
    flat[f"{key}:{tag}"] = array


def _decode(key: str, array: np.ndarray) -> tuple[str, Any]:
    path, colon, tag = key.rpartition(":")
    if not colon:
        return key, array
    if tag not in _DECODERS:
        raise ValueError(f"unflatten_state_dict: unknown type tag {tag!r} in {key!r}")
    return path, _DECODERS[tag](array)
