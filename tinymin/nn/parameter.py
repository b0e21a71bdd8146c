"""Parameters: the tensors a Module learns."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymin.device import as_device
from tinymin.dtypes import as_dtype
from tinymin.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a :class:`~tinymin.nn.Module` registers as learnable.

    Assigning one to a module attribute adds it to ``parameters()``; it requires grad
    by default and is float32 unless given a float64 array.
    """

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        array = data.numpy() if isinstance(data, Tensor) else data
        array = np.array(array, copy=True)  # a parameter owns its storage
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float32)
        super().__init__(array, requires_grad=requires_grad, dtype=array.dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def factory_dtype(what: str, device: Any = None, dtype: Any = None) -> np.dtype:
    """The dtype of a new layer's parameters and buffers from PyTorch's factory
    arguments: ``device`` None or the CPU (a GPU raises the error that names tinymin's
    PyTorch engine), ``dtype`` None (float32) or a floating type, float32 or float64.

    Raises
    ------
    TypeError
        For a dtype other than float32 and float64.
    """
    if device is not None:
        as_device(device, f"{what}(device=...)")
    if dtype is None:
        return np.dtype(np.float32)
    resolved = as_dtype(dtype)
    if resolved not in (np.float32, np.float64):
        raise TypeError(f"{what}: dtype must be float32 or float64, got {resolved}")
    return resolved
