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
from tinymin.tensor import MaxResult, Tensor


# ---------------------------------------------------------------- constructors
def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Create a :class:`Tensor`.

    Python floats become float32; numpy float64 arrays stay float64; integer and
    boolean data keep their type (labels, masks). Pass ``dtype=`` to force one.

    Examples
    --------
    >>> import tinymin as tm
    >>> x = tm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        data = data.copy()  # like torch.tensor: the new tensor owns its data
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with 0 (float32 unless ``dtype=``)."""
    return Tensor(np.zeros(shape_args(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with 1 (float32 unless ``dtype=``)."""
    return Tensor(np.ones(shape_args(shape), dtype=dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape and dtype of ``t``."""
    return Tensor(np.zeros_like(unwrap(t)), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """Ones with the shape and dtype of ``t``."""
    return Tensor(np.ones_like(unwrap(t)), requires_grad=requires_grad)


def arange(*args: Any, dtype: Any = None) -> Tensor:
    """Evenly spaced values, as :func:`numpy.arange` (``start, stop, step``)."""
    return Tensor(np.arange(*args, dtype=dtype))


def randn(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from tinymin's seeded generator."""
    from tinymin.random import default_rng

    data = default_rng().standard_normal(shape_args(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform samples in ``[0, 1)`` from tinymin's seeded generator."""
    from tinymin.random import default_rng

    data = default_rng().random(shape_args(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """Wrap a numpy array without copying or changing its dtype, like ``torch.from_numpy``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array, dtype=array.dtype)


def full(size: Sequence[int] | int, fill_value: Any, dtype: Any = None,
         requires_grad: bool = False) -> Tensor:
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
    dtype = to_array(unwrap(fill_value)).dtype if dtype is None else dtype
    return Tensor(np.full(size, fill_value, dtype=dtype), requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = np.float32,
        requires_grad: bool = False) -> Tensor:
    """The ``n`` x ``m`` identity matrix (``m = n`` by default): ones on the diagonal."""
    return Tensor(np.eye(n, m, dtype=dtype), requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = np.float32,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included.

    .. math:: x_i = \\text{start} + i \\, \\frac{\\text{end} - \\text{start}}{\\text{steps} - 1}
    """
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    return Tensor(np.linspace(start, end, steps, dtype=dtype), requires_grad=requires_grad)


def randint(*args: Any, size: Any = None, dtype: Any = np.int64) -> Tensor:
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
    :meth:`~tinymin.tensor.Tensor.max`."""
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


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element; see :meth:`~tinymin.tensor.Tensor.argmax`."""
    return as_tensor(x).argmax(dim, keepdim)
