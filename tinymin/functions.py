"""The ``tinymin.*`` functions: tensor constructors and the function form of Tensor
methods.

The composite operations (``maximum``, ``logsumexp``, ``expand``, ``split`` ...) live
in :mod:`tinymin.ops.composite`, the activations in :mod:`tinymin.ops.activation`;
``tinymin`` exports them from there, and ``Tensor`` methods of the same name call the
same functions. This module builds on :mod:`tinymin.tensor`, never the other way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinymin import ops
from tinymin._arrays import shape_args, to_array
from tinymin.autograd import as_tensor, unwrap
from tinymin.device import as_device
from tinymin.dtypes import as_dtype
from tinymin.ops import composite
from tinymin.tensor import MaxResult, Tensor


# ---------------------------------------------------------------- constructors
def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, device: Any = None) -> Tensor:
    """Create a :class:`Tensor`.

    Python floats become float32; numpy float64 arrays stay float64; integer and
    boolean data keep their type (labels, masks). Pass ``dtype=`` to force one.
    ``device`` may only be the CPU (see :mod:`tinymin.device`).

    Examples
    --------
    >>> import tinymin as tm
    >>> x = tm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """
    _check_device(device, "tensor")
    if isinstance(data, Tensor):
        data = data._array
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        data = [d._array if isinstance(d, Tensor) else d for d in data]
    if isinstance(data, np.ndarray):
        data = data.copy()  # like torch.tensor: the new tensor owns its data
    return Tensor(data, requires_grad=requires_grad, dtype=None if dtype is None else as_dtype(dtype))


def zeros(*shape: Any, size: Any = None, dtype: Any = np.float32, requires_grad: bool = False,
          device: Any = None) -> Tensor:
    """A tensor of ``shape`` (or ``size=``) filled with 0 (float32 unless ``dtype=``)."""
    _check_device(device, "zeros")
    return Tensor(np.zeros(_shape("zeros", shape, size), dtype=dtype), requires_grad=requires_grad)


def ones(*shape: Any, size: Any = None, dtype: Any = np.float32, requires_grad: bool = False,
         device: Any = None) -> Tensor:
    """A tensor of ``shape`` (or ``size=``) filled with 1 (float32 unless ``dtype=``)."""
    _check_device(device, "ones")
    return Tensor(np.ones(_shape("ones", shape, size), dtype=dtype), requires_grad=requires_grad)


def _shape(op: str, shape: tuple, size: Any) -> tuple[int, ...]:
    """The shape given as ``op(2, 3)``, ``op((2, 3))`` or ``op(size=(2, 3))``, as in PyTorch."""
    if size is None:
        return shape_args(shape)
    if shape:
        raise TypeError(f"{op}: give the shape either as arguments or as size=, not both")
    return tuple(size) if isinstance(size, (tuple, list)) else (size,)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:
    """Zeros with the shape and dtype (unless ``dtype=``) of ``t``."""
    _check_device(device, "zeros_like")
    return Tensor(np.zeros_like(unwrap(t), dtype=dtype), requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
              device: Any = None) -> Tensor:
    """Ones with the shape and dtype (unless ``dtype=``) of ``t``."""
    _check_device(device, "ones_like")
    return Tensor(np.ones_like(unwrap(t), dtype=dtype), requires_grad=requires_grad)


def arange(*args: Any, start: Any = None, end: Any = None, step: Any = None, dtype: Any = None,
           device: Any = None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` (default 0) up to, not including, ``end``, ``step`` (default 1)
    apart, called as ``torch.arange`` is: ``arange(end)``, ``arange(start, end[, step])``,
    or with the names as keywords (a step needs a start). int64 for integer arguments,
    float32 for floats, as in PyTorch.

    Examples
    --------
    >>> import tinymin as tm
    >>> tm.arange(4).tolist(), tm.arange(1, 2, 0.25).tolist(), tm.arange(end=3).dtype
    ([0, 1, 2, 3], [1.0, 1.25, 1.5, 1.75], dtype('int64'))
    """
    _check_device(device, "arange")
    start, end, step = _arange_bounds(args, start, end, step)
    values = np.arange(start, end, step, dtype=None if dtype is None else as_dtype(dtype))
    if dtype is None and values.dtype == np.float64:
        values = values.astype(np.float32)
    return Tensor(values, requires_grad=requires_grad)


def _arange_bounds(args: tuple, start: Any, end: Any, step: Any) -> tuple[Any, Any, Any]:
    """``(start, end, step)`` from arange's arguments, by torch's rules: one positional
    argument is the end (the start when ``end=`` is given too), two or three are
    ``start, end[, step]``; TypeError for a name given twice, a missing end, a step
    without a start, or None."""
    if len(args) > 3:
        raise TypeError(f"arange: takes at most 3 positional arguments, got {len(args)}")
    names = ("end",) if len(args) == 1 and end is None else ("start", "end", "step")
    given = dict(zip(names, args))
    for name, value in (("start", start), ("end", end), ("step", step)):
        if value is not None:
            if name in given:
                raise TypeError(f"arange: got {name} twice, by position and by keyword")
            given[name] = value
    if any(value is None for value in given.values()) or "end" not in given:
        raise TypeError("arange: missing the end of the range")
    if "step" in given and "start" not in given:
        raise TypeError("arange: a step needs a start: arange(start, end, step)")
    return given.get("start", 0), given["end"], given.get("step", 1)


def randn(*shape: Any, size: Any = None, dtype: Any = np.float32, requires_grad: bool = False,
          device: Any = None) -> Tensor:
    """Standard normal samples of ``shape`` (or ``size=``) from tinymin's seeded generator."""
    _check_device(device, "randn")
    from tinymin.random import default_rng

    data = default_rng().standard_normal(_shape("randn", shape, size)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape: Any, size: Any = None, dtype: Any = np.float32, requires_grad: bool = False,
         device: Any = None) -> Tensor:
    """Uniform samples in ``[0, 1)`` of ``shape`` (or ``size=``) from tinymin's seeded generator."""
    _check_device(device, "rand")
    from tinymin.random import default_rng

    data = default_rng().random(_shape("rand", shape, size)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """Wrap a numpy array without copying or changing its dtype, like ``torch.from_numpy``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array, dtype=array.dtype)


def full(size: Sequence[int] | int, fill_value: Any, dtype: Any = None,
         requires_grad: bool = False, device: Any = None) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``.

    Parameters
    ----------
    size : int or sequence of int
        The shape.
    fill_value : number
        The value of every element; its type gives the dtype when ``dtype`` is None
        (float -> float32, int -> int64, bool -> bool), as in :func:`tensor`.
    dtype : numpy dtype, optional
    requires_grad : bool
    """
    _check_device(device, "full")
    dtype = to_array(unwrap(fill_value)).dtype if dtype is None else dtype
    return Tensor(np.full(size, fill_value, dtype=dtype), requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = np.float32,
        requires_grad: bool = False, device: Any = None) -> Tensor:
    """The ``n`` x ``m`` identity matrix (``m = n`` by default): ones on the diagonal."""
    _check_device(device, "eye")
    return Tensor(np.eye(n, m, dtype=dtype), requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = np.float32,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included.

    .. math:: x_i = \\text{start} + i \\, \\frac{\\text{end} - \\text{start}}{\\text{steps} - 1}
    """
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    return Tensor(np.linspace(start, end, steps, dtype=dtype), requires_grad=requires_grad)


def randint(*args: Any, size: Any = None, dtype: Any = np.int64, device: Any = None) -> Tensor:
    """Uniform random integers in ``[low, high)`` from tinymin's seeded generator.

    Called as in PyTorch: ``randint(high, size)`` or ``randint(low, high, size)``, with
    ``size`` positional or a keyword.

    Examples
    --------
    >>> import tinymin as tm
    >>> tm.randint(3, 5, (4,)).shape
    (4,)
    """
    from tinymin.random import default_rng

    _check_device(device, "randint")
    if size is None:
        if not args:
            raise TypeError("randint: missing the size argument")
        args, size = args[:-1], args[-1]
    if len(args) not in (1, 2):
        raise TypeError("randint: call randint(high, size) or randint(low, high, size)")
    low, high = (0, args[0]) if len(args) == 1 else args
    if not low < high:
        raise ValueError(f"randint: low ({low}) must be below high ({high})")
    size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    return Tensor(default_rng().integers(low, high, size=size, dtype=dtype))


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples with the shape (and float dtype) of ``t``."""
    dtype = np.dtype(t.dtype if dtype is None else dtype)
    if dtype.kind != "f":
        raise TypeError(f"randn_like: normal samples need a float dtype, got {dtype}; pass dtype=")
    return randn(*t.shape, dtype=dtype, requires_grad=requires_grad)


# ------------------------------------------------- functions mirroring methods
def exp(x: Tensor) -> Tensor:
    """Elementwise :math:`e^x`; see :meth:`~tinymin.tensor.Tensor.exp`."""
    return ops.ExpFunction.apply(x)


def log(x: Tensor) -> Tensor:
    """Elementwise natural logarithm; see :meth:`~tinymin.tensor.Tensor.log`."""
    return ops.LogFunction.apply(x)


def sqrt(x: Tensor) -> Tensor:
    """Elementwise square root; see :meth:`~tinymin.tensor.Tensor.sqrt`."""
    return ops.SqrtFunction.apply(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001 (torch name)
    """Elementwise :math:`|x|`; see :meth:`~tinymin.tensor.Tensor.abs`."""
    return ops.AbsFunction.apply(x)


def clip(x: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Clamp every element into ``[min, max]`` (either may be None); see
    :meth:`~tinymin.tensor.Tensor.clip`."""
    return as_tensor(x).clip(min, max)


clamp = clip


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product ``a @ b`` (numpy's broadcasting rules); see :meth:`~tinymin.tensor.Tensor.matmul`."""
    return ops.MatMulFunction.apply(a, b)


def sum(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:  # noqa: A001
    """Sum over ``dim``; all elements by default. See :meth:`~tinymin.tensor.Tensor.sum`."""
    return as_tensor(x).sum(dim, keepdim, **kw)


def mean(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Arithmetic mean over ``dim``; all elements by default. See :meth:`~tinymin.tensor.Tensor.mean`."""
    return as_tensor(x).mean(dim, keepdim, **kw)


def max(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor | MaxResult:  # noqa: A001
    """Largest element; with an int ``dim``, a ``(values, indices)`` pair; see
    :meth:`~tinymin.tensor.Tensor.max`. ``max(a, b)`` of two tensors is
    :func:`tinymin.maximum`, as in PyTorch."""
    if isinstance(dim, Tensor):
        return composite.maximum(x, dim)
    return as_tensor(x).max(dim, keepdim, **kw)


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    """The same elements in a new ``shape``; see :meth:`~tinymin.tensor.Tensor.reshape`."""
    return ops.ReshapeFunction.apply(x, tuple(shape))


def permute(x: Tensor, dims: Sequence[int]) -> Tensor:
    """The axes reordered as ``dims``; see :meth:`~tinymin.tensor.Tensor.permute`."""
    return ops.PermuteFunction.apply(x, tuple(dims))


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap axes ``dim0`` and ``dim1``; see :meth:`~tinymin.tensor.Tensor.transpose`."""
    return as_tensor(x).transpose(dim0, dim1)


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Concatenate along an existing axis ``dim``."""
    if len(tensors) == 0:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    return ops.CatFunction.apply(*tensors, axis=dim)


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Stack equal-shaped tensors along a new axis ``dim``."""
    if len(tensors) == 0:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    return ops.StackFunction.apply(*tensors, axis=dim)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a if condition else b`` (broadcasting)."""
    return ops.WhereFunction.apply(unwrap(condition), a, b)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Index of the largest element; see :meth:`~tinymin.tensor.Tensor.argmax`."""
    return as_tensor(x).argmax(dim, keepdim, **kw)


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Index of the smallest element; see :meth:`~tinymin.tensor.Tensor.argmin`."""
    return as_tensor(x).argmin(dim, keepdim, **kw)


def min(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor | MaxResult:  # noqa: A001
    """Smallest element; with an int ``dim``, a ``(values, indices)`` pair; see
    :meth:`~tinymin.tensor.Tensor.min`. ``min(a, b)`` of two tensors is
    :func:`tinymin.minimum`."""
    if isinstance(dim, Tensor):
        return composite.minimum(x, dim)
    return as_tensor(x).min(dim, keepdim, **kw)


def amax(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The largest values over ``dim``; see :meth:`~tinymin.tensor.Tensor.amax`."""
    return as_tensor(x).amax(dim, keepdim)


def amin(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The smallest values over ``dim``; see :meth:`~tinymin.tensor.Tensor.amin`."""
    return as_tensor(x).amin(dim, keepdim)


def prod(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Product over ``dim``; see :meth:`~tinymin.tensor.Tensor.prod`."""
    return as_tensor(x).prod(dim, keepdim, **kw)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """``x`` with a new dim of size 1 at ``dim``; see :meth:`~tinymin.tensor.Tensor.unsqueeze`."""
    return as_tensor(x).unsqueeze(dim)


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    """``x`` without its dims of size 1; see :meth:`~tinymin.tensor.Tensor.squeeze`."""
    return as_tensor(x).squeeze(dim)


def numel(x: Tensor) -> int:
    """The number of elements of ``x``."""
    return as_tensor(x).numel()


def isnan(x: Any) -> Tensor:
    """Where ``x`` is NaN: a bool tensor, no gradient."""
    return as_tensor(x).isnan()


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether :math:`|a - b| \\le \\text{atol} + \\text{rtol} \\cdot |b|` everywhere
    (broadcasting), as ``torch.allclose``."""
    return bool(np.allclose(unwrap(a), unwrap(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


def randperm(n: int, dtype: Any = np.int64, requires_grad: bool = False,
             device: Any = None) -> Tensor:
    """A random permutation of ``0 .. n-1`` from tinymin's seeded generator."""
    from tinymin.random import default_rng

    _check_device(device, "randperm")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    return Tensor(default_rng().permutation(n).astype(as_dtype(dtype)), requires_grad=requires_grad)


def _check_device(device: Any, what: str) -> None:
    """Accept ``device=None`` or the CPU; anything else raises the GPU error."""
    if device is not None:
        as_device(device, what)
