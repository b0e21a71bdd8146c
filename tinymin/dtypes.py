"""PyTorch's dtype names (``tinymin.float32``, ``tinymin.long`` ...) as numpy dtypes.

A tinymin tensor's ``dtype`` is a :class:`numpy.dtype`, so these names are numpy's
scalar types: ``tinymin.long`` *is* ``numpy.int64``, and ``x.dtype == tinymin.long``
compares as a learner expects. :func:`as_dtype` turns whatever a PyTorch program passes
as a dtype (one of these names, a numpy dtype, Python's ``float``/``int``/``bool``, a
string such as ``"float32"`` or ``"torch.LongTensor"``) into a numpy dtype.

There is no float16 (``half``): tinymin computes in float32 or float64 (numpy's float16
arithmetic is slow, and the kernels take float32 and float64), and a float16 array
becomes a float32 tensor.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

float32 = np.float32
float64 = double = np.float64
uint8 = np.uint8
int8 = np.int8
int16 = short = np.int16
int32 = np.int32
int64 = long = np.int64
bool_ = np.bool_

#: ``x.type()`` names, as ``torch.FloatTensor`` ... (``tinymin.`` in front).
_TYPE_NAMES = {
    np.dtype(np.float32): "FloatTensor",
    np.dtype(np.float64): "DoubleTensor", np.dtype(np.uint8): "ByteTensor",
    np.dtype(np.int8): "CharTensor", np.dtype(np.int16): "ShortTensor",
    np.dtype(np.int32): "IntTensor", np.dtype(np.int64): "LongTensor",
    np.dtype(np.bool_): "BoolTensor",
}
_BY_TYPE_NAME = {name: dtype for dtype, name in _TYPE_NAMES.items()}

#: Python's types as PyTorch reads them when given as a dtype.
_PYTHON_TYPES = {builtins.float: np.dtype(np.float64), builtins.int: np.dtype(np.int64),
                 builtins.bool: np.dtype(np.bool_)}


def as_dtype(dtype: Any) -> np.dtype:
    """The numpy dtype that ``dtype`` names (see the module docstring).

    Raises
    ------
    TypeError
        For anything that names no dtype tinymin has.
    """
    if dtype in _PYTHON_TYPES:
        return _PYTHON_TYPES[dtype]
    if isinstance(dtype, str):
        name = dtype.split(".")[-1]
        if name in _BY_TYPE_NAME:
            return _BY_TYPE_NAME[name]
        dtype = {"float": "float32", "double": "float64", "long": "int64",
                 "int": "int32", "short": "int16", "bool": "bool"}.get(name, name)
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"not a dtype tinymin knows: {dtype!r}") from None


def is_floating_point(dtype: Any) -> bool:
    """Whether ``dtype`` is a floating-point type (the only ones that carry gradients)."""
    return np.dtype(dtype).kind == "f"


def type_name(dtype: np.dtype) -> str:
    """``x.type()``: ``'tinymin.FloatTensor'`` for float32, as ``torch.FloatTensor``."""
    return "tinymin." + _TYPE_NAMES.get(np.dtype(dtype), f"Tensor[{dtype}]")
