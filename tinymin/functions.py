"""The ``tinymin.*`` functions: tensor constructors, the function form of Tensor
methods, and composite operations.

A composite operation (``maximum``, ``logsumexp``, ``expand``, ``split`` ...) is a few
lines of existing operations rather than a new :class:`~tinymin.autograd.Function`:
autograd derives its backward from theirs, so there is no new gradient to get wrong.
``Tensor`` methods of the same name call these functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinymin import ops
from tinymin.ops.reduction import normalize_axes
from tinymin.tensor import MaxResult, Tensor, _data, _shape_args, _to_array, broadcasts_to


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
    return Tensor(np.zeros(_shape_args(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with 1 (float32 unless ``dtype=``)."""
    return Tensor(np.ones(_shape_args(shape), dtype=dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape and dtype of ``t``."""
    return Tensor(np.zeros_like(_data(t)), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """Ones with the shape and dtype of ``t``."""
    return Tensor(np.ones_like(_data(t)), requires_grad=requires_grad)


def arange(*args: Any, dtype: Any = None) -> Tensor:
    """Evenly spaced values, as :func:`numpy.arange` (``start, stop, step``)."""
    return Tensor(np.arange(*args, dtype=dtype))


def randn(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from tinymin's seeded generator."""
    from tinymin.random import default_rng

    data = default_rng().standard_normal(_shape_args(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform samples in ``[0, 1)`` from tinymin's seeded generator."""
    from tinymin.random import default_rng

    data = default_rng().random(_shape_args(shape)).astype(dtype)
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
    dtype = _to_array(fill_value).dtype if dtype is None else dtype
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
    return _as_tensor(x).clip(min, max)


clamp = clip


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product ``a @ b`` (numpy's broadcasting rules); see :meth:`~tinymin.tensor.Tensor.matmul`."""
    return ops.MatMulFunction.apply(a, b)


def sum(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:  # noqa: A001
    """Sum over ``dim``; all elements by default. See :meth:`~tinymin.tensor.Tensor.sum`."""
    return _as_tensor(x).sum(dim, keepdim, **kw)


def mean(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    """Arithmetic mean over ``dim``; all elements by default. See :meth:`~tinymin.tensor.Tensor.mean`."""
    return _as_tensor(x).mean(dim, keepdim, **kw)


def max(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor | MaxResult:  # noqa: A001
    """Largest element; with an int ``dim``, a ``(values, indices)`` pair; see
    :meth:`~tinymin.tensor.Tensor.max`."""
    return _as_tensor(x).max(dim, keepdim, **kw)


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    """The same elements in a new ``shape``; see :meth:`~tinymin.tensor.Tensor.reshape`."""
    return ops.ReshapeFunction.apply(x, tuple(shape))


def permute(x: Tensor, dims: Sequence[int]) -> Tensor:
    """The axes reordered as ``dims``; see :meth:`~tinymin.tensor.Tensor.permute`."""
    return ops.PermuteFunction.apply(x, tuple(dims))


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap axes ``dim0`` and ``dim1``; see :meth:`~tinymin.tensor.Tensor.transpose`."""
    return _as_tensor(x).transpose(dim0, dim1)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim`` .. ``end_dim`` into one; see :meth:`~tinymin.tensor.Tensor.flatten`."""
    return _as_tensor(x).flatten(start_dim, end_dim)


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
    return ops.WhereFunction.apply(_data(condition), a, b)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element; see :meth:`~tinymin.tensor.Tensor.argmax`."""
    return _as_tensor(x).argmax(dim, keepdim)


# ------------------------------------------------------------ composite operations
def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise :math:`\\max(a, b)`, with broadcasting.

    Both operands are broadcast to one shape, stacked, and reduced with ``max`` over
    the new axis, so the gradient goes to the larger operand and is shared equally
    where they tie, as in PyTorch:

    .. math::

        \\frac{\\partial y}{\\partial a} = [a > b] + \\tfrac{1}{2} [a = b]

    Parameters
    ----------
    a, b : Tensor or array_like
    """
    a, b = _as_tensor(a), _as_tensor(b)
    shape = _broadcast_shape("maximum", a, b)
    return ops.MaxFunction.apply(stack([a.expand(shape), b.expand(shape)]), 0, False)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise :math:`\\min(a, b) = -\\max(-a, -b)`; see :func:`maximum`."""
    a, b = _as_tensor(a), _as_tensor(b)
    _broadcast_shape("minimum", a, b)
    return -maximum(-a, -b)


def logsumexp(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """:math:`\\log \\sum_i e^{x_i}` over ``dim`` (all elements by default), without overflow.

    The largest element :math:`m` is taken out first, as a constant:

    .. math::

        \\log \\sum_i e^{x_i} = m + \\log \\sum_i e^{x_i - m}

    so every exponent is at most 0, and the gradient is the softmax
    :math:`e^{x_i} / \\sum_j e^{x_j}`.

    Parameters
    ----------
    x : Tensor
    dim : int or tuple of int, optional
    keepdim : bool
        Keep the reduced dims with size 1.
    """
    x = _as_tensor(x)
    axes = normalize_axes(dim, x.ndim)
    peak = np.max(x.data, axis=axes, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)  # all -inf (or inf): shift by nothing
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for all -inf
        out = (x - peak).exp().sum(axes, keepdim=True).log() + peak
    if keepdim:
        return out
    return out.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))


def expand(x: Tensor, *sizes: Any) -> Tensor:
    """Broadcast ``x`` to the shape ``sizes``, as ``torch.Tensor.expand``.

    A size of ``-1`` keeps that dim; new dims may be added in front. It is written as
    ``x + zeros(sizes)``: broadcasting copies the values, and the backward of the
    addition sums the gradient over the copies,
    :math:`\\partial L/\\partial x_i = \\sum_{j \\mapsto i} \\partial L/\\partial y_j`.

    Parameters
    ----------
    x : Tensor
    sizes : int, or one sequence of int
    """
    x = _as_tensor(x)
    sizes = _shape_args(sizes)
    new_dims = len(sizes) - x.ndim
    if new_dims < 0 or any(s == -1 for s in sizes[:new_dims]):
        raise ValueError(f"expand: cannot expand shape {x.shape} to {sizes}")
    target = tuple(x.shape[i - new_dims] if s == -1 else s for i, s in enumerate(sizes))
    if not broadcasts_to(x.shape, target):
        raise ValueError(f"expand: cannot expand shape {x.shape} to {sizes}")
    return x + Tensor(np.zeros(target, dtype=x.dtype))


def repeat(x: Tensor, *repeats: Any) -> Tensor:
    """Tile ``x``: ``repeats[i]`` copies along dim ``i``, as ``torch.Tensor.repeat``.

    Extra leading ``repeats`` add new dims. Each dim is one :func:`cat` of copies, so the
    gradient of an element is the sum over its copies.

    Parameters
    ----------
    x : Tensor
    repeats : int, or one sequence of int
        At least one per dim of ``x``, each >= 0.
    """
    x = _as_tensor(x)
    repeats = _shape_args(repeats)
    if len(repeats) < x.ndim or any(r < 0 for r in repeats):
        raise ValueError(f"repeat: need one count >= 0 per dim of shape {x.shape}, got {repeats}")
    out = x.reshape((1,) * (len(repeats) - x.ndim) + x.shape)
    for dim, count in enumerate(repeats):
        if count == 0:
            out = out[(slice(None),) * dim + (slice(0, 0),)]
        elif count > 1:
            out = cat([out] * count, dim)
    return out


def split(x: Tensor, split_size_or_sections: int | Sequence[int],
          dim: int = 0) -> tuple[Tensor, ...]:
    """Cut ``x`` into pieces along ``dim`` (slices, so each gets its part of the gradient).

    Parameters
    ----------
    x : Tensor
    split_size_or_sections : int or sequence of int
        An int: pieces of that size (the last may be smaller). A sequence: the size of
        each piece; they must add up to ``x.shape[dim]``.
    dim : int
    """
    x = _as_tensor(x)
    (axis,) = normalize_axes(dim, x.ndim)
    length = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be a positive int, got {size}")
        sizes = [size] * (length // size) + ([length % size] if length % size else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or int(np.sum(sizes)) != length:
            raise ValueError(f"split: sections {sizes} do not add up to the size {length} of dim {dim}")
    starts = np.cumsum([0] + sizes[:-1])
    before = (slice(None),) * axis
    return tuple(x[before + (slice(int(s), int(s) + n),)] for s, n in zip(starts, sizes)) or (x,)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Cut ``x`` into ``chunks`` pieces of ``ceil(size / chunks)`` along ``dim`` (the last
    may be smaller, and there may be fewer pieces), as ``torch.chunk``."""
    x = _as_tensor(x)
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    (axis,) = normalize_axes(dim, x.ndim)
    return split(x, math.ceil(x.shape[axis] / chunks) or 1, dim)


def _broadcast_shape(op: str, a: Tensor, b: Tensor) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)
