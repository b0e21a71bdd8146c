"""Composite operations: a few lines of primitive ops rather than a new Function.

``maximum``, ``logsumexp``, ``expand``, ``split`` ... are written from the primitives
in this package, so autograd derives their backward from theirs and there is no new
gradient to get wrong. ``Tensor`` methods of the same name and the ``tinymin.*``
functions both call these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinymin._arrays import broadcasts_to, reduction_args, shape_args
from tinymin.autograd import as_tensor
from tinymin.ops.arithmetic import AddFunction
from tinymin.ops.reduction import MaxFunction, normalize_axes
from tinymin.ops.shape import CatFunction, StackFunction
from tinymin.ops.unary import StdFromVarianceFunction

if TYPE_CHECKING:  # for type hints only; tensor.py is built on this module
    from tinymin.tensor import Tensor


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
    a, b = as_tensor(a), as_tensor(b)
    shape = _broadcast_shape("maximum", a, b)
    return MaxFunction.apply(StackFunction.apply(expand(a, shape), expand(b, shape), axis=0),
                             0, False)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise :math:`\\min(a, b) = -\\max(-a, -b)`; see :func:`maximum`.

    Integers and bools are compared directly (their negation would wrap around, and
    they carry no gradient); an integer operand beside a floating one takes its dtype
    first, as in :func:`maximum`."""
    a, b = as_tensor(a), as_tensor(b)
    _broadcast_shape("minimum", a, b)
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        return a._from_array(np.minimum(a.numpy(), b.numpy()))
    a = a if a.dtype.kind == "f" else a.type(b.dtype)
    b = b if b.dtype.kind == "f" else b.type(a.dtype)
    return -maximum(-a, -b)


def logsumexp(x: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
              keepdims: bool | None = None) -> Tensor:
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
    axis, keepdims : optional
        numpy's names for ``dim`` and ``keepdim``.
    """
    x = as_tensor(x)
    dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
    axes = normalize_axes(dim, x.ndim)
    if any(x.shape[a] == 0 for a in axes):  # a sum of no exponentials: log 0 = -inf
        return x.sum(axes, keepdim) * 0 - math.inf
    peak = np.max(x._array, axis=axes, keepdims=True)
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
    x = as_tensor(x)
    sizes = shape_args(sizes)
    new_dims = len(sizes) - x.ndim
    if new_dims < 0 or any(s == -1 for s in sizes[:new_dims]):
        raise ValueError(f"expand: cannot expand shape {x.shape} to {sizes}")
    target = tuple(x.shape[i - new_dims] if s == -1 else s for i, s in enumerate(sizes))
    if not broadcasts_to(x.shape, target):
        raise ValueError(f"expand: cannot expand shape {x.shape} to {sizes}")
    return AddFunction.apply(x, as_tensor(np.zeros(target, dtype=x.dtype)))


def repeat(x: Tensor, *repeats: Any) -> Tensor:
    """Tile ``x``: ``repeats[i]`` copies along dim ``i``, as ``torch.Tensor.repeat``.

    Extra leading ``repeats`` add new dims. Each dim is one concatenation of copies, so
    the gradient of an element is the sum over its copies.

    Parameters
    ----------
    x : Tensor
    repeats : int, or one sequence of int
        At least one per dim of ``x``, each >= 0.
    """
    x = as_tensor(x)
    repeats = shape_args(repeats)
    if len(repeats) < x.ndim or any(r < 0 for r in repeats):
        raise ValueError(f"repeat: need one count >= 0 per dim of shape {x.shape}, got {repeats}")
    out = x.reshape((1,) * (len(repeats) - x.ndim) + x.shape)
    for dim, count in enumerate(repeats):
        if count == 0:
            out = out[(slice(None),) * dim + (slice(0, 0),)]
        elif count > 1:
            out = CatFunction.apply(*[out] * count, axis=dim)
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
    x = as_tensor(x)
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
    x = as_tensor(x)
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    (axis,) = normalize_axes(dim, x.ndim)
    if x.shape[axis] == 0:  # nothing to cut: ``chunks`` empty pieces, as torch gives
        return tuple(x * 1 for _ in range(chunks))
    return split(x, math.ceil(x.shape[axis] / chunks), dim)


def var(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None, axis: Any = None, keepdims: bool | None = None) -> Tensor:
    """Variance over the ``n`` reduced elements, with PyTorch's signature and default:

    .. math:: \\operatorname{var}(x) = \\frac{1}{n - c} \\sum_i (x_i - \\bar x)^2

    where the correction :math:`c` is 1 by default (Bessel's, the unbiased estimate).

    Parameters
    ----------
    x : Tensor
    dim : int or tuple of int, optional
        All elements by default; ``axis`` is the same (numpy's name).
    unbiased : bool, optional
        The older spelling: True is ``correction=1``, False ``correction=0``.
    keepdim : bool
        Keep the reduced dims with size 1 (``keepdims`` is the same).
    correction : float, optional
        :math:`c`; 1 unless given. Where :math:`n - c \\le 0` the result is nan or inf.
    """
    x = as_tensor(x)
    if isinstance(dim, bool):  # var(True): PyTorch's var(unbiased)
        dim, unbiased = None, dim
    dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
    if unbiased is not None and correction is not None:
        raise TypeError("var: pass either unbiased= or correction=, not both")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    axes = normalize_axes(dim, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    centred = x - x.mean(dim, keepdim=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # n <= c: nan or inf, as in PyTorch
        return (centred * centred).sum(dim, keepdim) / max(count - correction, 0)


def std(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None, axis: Any = None, keepdims: bool | None = None) -> Tensor:
    """Standard deviation :math:`\\sqrt{\\operatorname{var}}`, with the arguments and the
    default correction (1) of :func:`var`."""
    variance = var(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)
    return StdFromVarianceFunction.apply(variance)  # PyTorch's gradient: 0 where std is 0


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge the axes ``start_dim..end_dim`` of ``x`` into one, as ``torch.flatten``."""
    x = as_tensor(x)
    (start,), (end,) = (normalize_axes(d, x.ndim) or (0,) for d in (start_dim, end_dim))
    if x.ndim == 0:  # dims 0 and -1 only, as in PyTorch
        return x.reshape(1)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = int(np.prod(x.shape[start : end + 1]))
    return x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1 :])


def _broadcast_shape(op: str, a: Tensor, b: Tensor) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None
