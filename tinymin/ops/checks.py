"""Argument checks shared by the engine's ops, the functional ops and the layers.

Each raises before any array work starts, with a message that begins with the op's
name: ``ValueError`` for a wrong value or shape, ``TypeError`` for a wrong dtype.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def pair(value: Any, name: str, minimum: int = 0) -> tuple[int, int]:
    """``3`` and ``(3,)`` -> ``(3, 3)``; a pair of ints stays a pair; each must be >=
    ``minimum``.

    Parameters
    ----------
    value : int or pair of int
    name : str
        How the message names the argument, e.g. ``"conv2d: stride"``.
    minimum : int
        1 for kernel sizes and strides, 0 for padding.
    """
    if _is_int(value):
        value = (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 1:  # (3,) is (3, 3), as torch's C++ ops take it
        value = (value[0], value[0])
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_int, value))):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    value = (int(value[0]), int(value[1]))
    if min(value) < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_float(op: str, **tensors: Any) -> None:
    """Every given tensor (None is skipped) must be float32 or float64."""
    for name, tensor in tensors.items():
        if tensor is not None and np.dtype(tensor.dtype) not in FLOAT_DTYPES:
            raise TypeError(f"{op}: {name} must be float32 or float64, got dtype {tensor.dtype}")
