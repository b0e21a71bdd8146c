"""Parameters: the tensors a Module learns."""

from __future__ import annotations

from typing import Any

import numpy as np

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
