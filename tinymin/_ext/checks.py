"""The checks every kernel wrapper of :mod:`tinymin._ext` runs before any Cython code:
argument types and ranges, dtypes, contiguity, output buffers, and sizes that would not
fit in memory. Each error names the kernel (``who``) and the argument."""

from __future__ import annotations

import functools
import os
from numbers import Integral

import numpy as np

#: The dtypes every kernel takes.
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

def _pair(value, who: str, what: str, minimum: int) -> tuple[int, int]:
    """int -> (n, n); a pair of ints -> tuple; each checked to be >= minimum."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, Integral) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{who}: {what} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        bound = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{who}: {what} must be {bound}, got {value!r}")
    return pair


def _array(a, who: str, name: str, ndim: int) -> np.ndarray:
    """Check that ``a`` is a C-contiguous float32/float64 ndarray with ``ndim`` axes."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{who}: {name} must be a numpy ndarray, got {type(a).__name__}")
    if a.ndim != ndim:
        raise ValueError(f"{who}: {name} must be {ndim}-D, got shape {a.shape}")
    if a.dtype not in FLOATS:
        raise TypeError(f"{who}: {name} must be float32 or float64, got dtype {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(
            f"{who}: {name} (shape {a.shape}, strides {a.strides}) is not C-contiguous; "
            f"pass np.ascontiguousarray({name})"
        )
    return a


def _is_fortran(a) -> bool:
    """A 2-D array stored column by column (``a.T`` is C-contiguous), e.g. ``(A @ B).T``."""
    return isinstance(a, np.ndarray) and a.ndim == 2 and a.flags.f_contiguous and not a.flags.c_contiguous


def _check_out(out, who: str, shape: tuple, dtype: np.dtype, *inputs: np.ndarray, name: str = "out"):
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{who}: {name} must be a numpy ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{who}: {name} has dtype {out.dtype}, expected {dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{who}: {name} has shape {out.shape}, expected {tuple(shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{who}: {name} (shape {out.shape}) is not C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{who}: {name} is read-only")
    for a in inputs:
        if np.may_share_memory(out, a):
            raise ValueError(f"{who}: {name} overlaps an input array")
    return out


def _geometry(who, h, w, kernel_size, stride, padding):
    kernel_size = _pair(kernel_size, who, "kernel_size", 1)
    stride = _pair(stride, who, "stride", 1)
    padding = _pair(padding, who, "padding", 0)
    for name, v in (("height", h), ("width", w)):
        if not isinstance(v, Integral) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{who}: input {name} must be a non-negative int, got {v!r}")
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(
            f"{who}: kernel {kernel_size} is larger than the padded input "
            f"{(h + 2 * ph, w + 2 * pw)} (input {(h, w)}, padding {padding})"
        )
    out_hw = ((h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
    return kernel_size, stride, padding, out_hw


@functools.cache
def _memory_bytes() -> int:
    """This machine's physical memory (no array larger than it can be allocated)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: numpy's own limit
        return np.iinfo(np.intp).max


def check_array_size(who: str, what: str, shape, itemsize: int, cause: str) -> None:
    """Refuse, before allocating it, an array larger than this machine's memory, naming
    the arguments (``cause``) that make it so: a huge padding, stride or shape would
    otherwise end in numpy's "Maximum allowed dimension exceeded" or a MemoryError."""
    n_bytes = itemsize
    for dim in shape:
        n_bytes *= int(dim)  # Python ints: no overflow
    if n_bytes > _memory_bytes():
        raise ValueError(f"{who}: {cause} needs {what} of shape {tuple(int(d) for d in shape)} "
                         f"({n_bytes / 2**30:.3g} GiB), more than this machine's "
                         f"{_memory_bytes() / 2**30:,.1f} GiB of memory")


def _fused_checks(who: str, x, w, w_name: str, kernel_size, stride, padding, cols, out,
                  nchw: bool = False, per_channel: tuple = ()):
    """The checks of the fused im2col kernels; returns (kernel_size, stride, padding, cols, out).

    ``out`` is (N*OH*OW, C) rows, or with ``nchw`` the (N, C, OH, OW) output;
    ``per_channel`` holds (name, vector) pairs of optional (C,) vectors (a bias, a scale),
    which must not share memory with ``out`` or ``cols`` (the kernel writes those
    while it still reads the vectors)."""
    _array(x, who, "x", 4)
    _array(w, who, w_name, 2)
    if x.dtype != w.dtype:
        raise TypeError(f"{who}: x is {x.dtype} but {w_name} is {w.dtype}; both must have the same dtype")
    n, c, h, wd = x.shape
    kernel_size, stride, padding, (oh, ow) = _geometry(who, h, wd, kernel_size, stride, padding)
    k = c * kernel_size[0] * kernel_size[1]
    if w.shape[1] != k:
        raise ValueError(f"{who}: K mismatch, x has shape {x.shape} and kernel {kernel_size} "
                         f"(K = {k}) but {w_name} has shape {w.shape} (K = {w.shape[1]})")
    cause = f"x of shape {x.shape} with kernel {kernel_size}, stride {stride}, padding {padding}"
    (ph, pw) = padding
    # the kernel's zero-padded copy of x, with the min kernel's signs beside it
    check_array_size(who, "a padded input", (2 * n, c, h + 2 * ph, wd + 2 * pw), x.itemsize, cause)
    out_shape = (n, w.shape[0], oh, ow) if nchw else (n * oh * ow, w.shape[0])
    check_array_size(who, "an output", out_shape, x.itemsize, cause)
    cols = _check_out(cols, who, (n * oh * ow, k), x.dtype, x, w, name="cols")
    out = _check_out(out, who, out_shape, x.dtype, x, w)
    if cols is not None and out is not None and np.may_share_memory(cols, out):
        raise ValueError(f"{who}: out overlaps cols")
    for name, vector in per_channel:
        _per_channel_check(who, name, vector, x, w, w_name, nchw, cols, out)
    return kernel_size, stride, padding, cols, out


def _per_channel_check(who: str, name: str, vector, x, w, w_name: str, nchw: bool, cols, out):
    # a bias or scale of the fused kernels: one value per filter, x's dtype, and not
    # inside the arrays the kernel writes
    if vector is None:
        return
    _array(vector, who, name, 1)
    if vector.dtype != x.dtype:
        raise TypeError(f"{who}: {name} is {vector.dtype} but x is {x.dtype}; both must "
                        f"have the same dtype")
    if vector.shape != (w.shape[0],):
        raise ValueError(f"{who}: {name} has shape {vector.shape}, expected ({w.shape[0]},): "
                         f"one value per filter of {w_name} (shape {w.shape})")
    if name == "scale" and not nchw:
        raise ValueError(f"{who}: scale= needs nchw=True")
    for written, written_name in ((out, "out"), (cols, "cols")):
        if written is not None and np.may_share_memory(vector, written):
            raise ValueError(f"{who}: {name} overlaps {written_name}")


def _weight_grad_checks(who: str, cols, grad, out) -> np.ndarray:
    """conv_weight_grad's checks; returns ``out`` or a new (C, K) array."""
    _array(cols, who, "cols", 2)
    _array(grad, who, "grad", 4)
    n, c, oh, ow = grad.shape
    if grad.dtype != cols.dtype:
        raise TypeError(f"{who}: grad is {grad.dtype} but cols is {cols.dtype}; "
                        f"both must have the same dtype")
    if cols.shape[0] != n * oh * ow:
        raise ValueError(f"{who}: cols has shape {cols.shape}, but grad of shape {grad.shape} "
                         f"has {n * oh * ow} output positions (rows)")
    out = _check_out(out, who, (c, cols.shape[1]), cols.dtype, cols, grad)
    return np.empty((c, cols.shape[1]), cols.dtype) if out is None else out


def _leaky_relu_checks(who: str, y, grad, negative_slope, out) -> np.ndarray:
    """leaky_relu_backward's checks; returns ``out`` or a new array like ``y``."""
    _array(y, who, "y", y.ndim if isinstance(y, np.ndarray) else 1)
    _array(grad, who, "grad", y.ndim)
    if grad.dtype != y.dtype or grad.shape != y.shape:
        raise ValueError(f"{who}: grad has shape {grad.shape} and dtype {grad.dtype}, but y "
                         f"has shape {y.shape} and dtype {y.dtype}")
    if not 0 <= negative_slope <= 1:
        raise ValueError(f"{who}: negative_slope must be in [0, 1], got {negative_slope!r}")
    return _check_out(out, who, y.shape, y.dtype) if out is not None else np.empty_like(y)


def _weight_grad_of_input_checks(who: str, x, grad, kernel_size, stride, padding, out):
    """conv_weight_grad_of_input's checks; returns (kernel_size, stride, padding, out)."""
    _array(x, who, "x", 4)
    _array(grad, who, "grad", 4)
    if grad.dtype != x.dtype:
        raise TypeError(f"{who}: grad is {grad.dtype} but x is {x.dtype}; both must have the same dtype")
    n, c, h, w = x.shape
    kernel_size, stride, padding, (oh, ow) = _geometry(who, h, w, kernel_size, stride, padding)
    if grad.shape[0] != n or grad.shape[2:] != (oh, ow):
        raise ValueError(f"{who}: grad has shape {grad.shape}, but x of shape {x.shape} with kernel "
                         f"{kernel_size}, stride {stride}, padding {padding} gives (N, C, OH, OW) = "
                         f"({n}, C, {oh}, {ow})")
    k = c * kernel_size[0] * kernel_size[1]
    out = _check_out(out, who, (grad.shape[1], k), x.dtype, x, grad)
    out = np.empty((grad.shape[1], k), x.dtype) if out is None else out
    return kernel_size, stride, padding, out
