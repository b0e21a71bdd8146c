"""Argument helpers shared by :mod:`tinymin.tensor`, :mod:`tinymin.functions` and
:mod:`tinymin.ops`: plain numpy and Python, no Tensor, so every engine module can
import them without a circle.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert ``data`` (not a Tensor: unwrap it first) to a numpy array with tinymin's
    dtype rules, without a copy where possible.

    Python floats become float32 (the default); numpy float arrays keep float32 or
    float64 (float16 is widened to float32); integers and booleans keep their type.
    """
    array = np.asarray(data, dtype=dtype)
    if array.dtype.kind in "OSUV":  # objects, bytes, strings, records: not numbers
        raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__} data of "
                        f"dtype {array.dtype}; give numbers or bools")
    if dtype is not None:
        return array
    if array.dtype == np.float64 and not _is_float64_source(data):
        return array.astype(np.float32)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    return array


def float_operands(*values: Any) -> tuple[Any, ...]:
    """An operation's operands with PyTorch's rule for mixed kinds: integer and boolean
    arrays met by a floating one take the floating arrays' dtype, so a float32 tensor
    times an int64 tensor is float32, as in PyTorch (numpy would give float64).
    Python numbers, ``None`` and arrays of one kind are left to numpy's rules."""
    if not any(isinstance(v, np.ndarray) and v.dtype.kind in "biu" for v in values):
        return values  # the usual case, float with float: nothing to do (every op runs this)
    floats = [v.dtype for v in values if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    if not floats:
        return values
    dtype = np.result_type(*floats)
    return tuple(v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind in "biu" else v
                 for v in values)


def _is_float64_source(data: Any) -> bool:
    return isinstance(data, (np.ndarray, np.floating)) and data.dtype == np.float64


def broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` broadcasts to exactly ``target``."""
    try:
        return np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        return False


def shape_args(args: tuple) -> tuple[int, ...]:
    """Accept both ``reshape(2, 3)`` and ``reshape((2, 3))``, as PyTorch does."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def reduction_args(dim: Any, keepdim: bool, axis: Any, keepdims: bool | None):
    """Reconcile PyTorch's ``dim``/``keepdim`` with numpy's ``axis``/``keepdims``; an
    empty ``dim`` (``()``, ``[]``) reduces every dim, as in PyTorch."""
    if axis is not None:
        if dim is not None:
            raise TypeError("pass either dim= or axis=, not both")
        dim = axis
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        dim = None
    if keepdims is not None:
        keepdim = keepdims
    return dim, keepdim


def torch_index_steps(index: Any) -> tuple[tuple, tuple] | None:
    """An index that mixes ints with index arrays, as two steps that give PyTorch's
    result: the ints first (basic indexing, a view), then the rest; None for any other
    index (numpy's result is PyTorch's then).

    numpy counts an int beside an index array as one more index array, so in
    ``x[0, :, [0, 1]]`` the two are apart and numpy puts their dims first; PyTorch
    takes the int away first, as ``x[0][:, [0, 1]]``. The gradient and assignment use
    the same two steps (``a[ints]`` is a view of ``a``).
    """
    if not isinstance(index, tuple):  # one item cannot mix the two kinds
        return None
    items = index
    ints = [_is_int_index(i) for i in items]
    if not any(ints) or not any(_is_array_index(i) for i in items):
        return None
    first, rest = [], []
    for item, is_int in zip(items, ints):
        if is_int:
            first.append(int(item))
        elif item is None:
            first.append(None)
            rest.append(slice(None))
        elif item is Ellipsis:
            first.append(Ellipsis)
            rest.append(Ellipsis)
        else:  # a slice, or an index array (a bool mask stands for its number of dims)
            mask_dims = np.ndim(item) if np.asarray(item).dtype == np.bool_ else 1
            first.extend([slice(None)] * max(mask_dims, 1))
            rest.append(item)
    return tuple(first), tuple(rest)


def _is_int_index(item: Any) -> bool:
    if isinstance(item, (bool, np.bool_)):
        return False
    if isinstance(item, np.ndarray):
        return item.ndim == 0 and item.dtype.kind in "iu"
    return isinstance(item, (int, np.integer))


def _is_array_index(item: Any) -> bool:
    return isinstance(item, (list, np.ndarray)) and not _is_int_index(item)
