"""Reductions: ``sum``, ``max`` and ``prod`` over some axes (``mean`` is built from ``sum``)."""

from __future__ import annotations

import numpy as np

from tinymin.autograd import Context, Function


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """Turn ``None``, an int or a sequence of ints into a sorted tuple of axes.

    A 0-d tensor takes ``dim`` 0 or -1, as in PyTorch, and has no axis to reduce."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"dim {a} is out of range for a tensor with {ndim} dims")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"dim {axis} repeats an axis")
    return tuple(sorted(out)) if ndim else ()


def integer_accumulator(a) -> type | None:
    """int64 for a bool or unsigned array narrower than 64 bits, which torch sums and
    multiplies as int64 where numpy would keep them unsigned; None (numpy's own choice,
    the array's dtype or int64) for the rest."""
    dtype = np.asarray(a).dtype
    if dtype.kind == "b" or (dtype.kind == "u" and dtype.itemsize < 8):
        return np.int64
    return None


def _expand_reduced(grad: np.ndarray, shape, axes, keepdims: bool) -> np.ndarray:
    """Reinsert the reduced axes (as size 1) so ``grad`` broadcasts against the input."""
    if not keepdims:
        grad = np.expand_dims(grad, axes)
    return np.broadcast_to(grad, shape)


class SumFunction(Function):
    """:math:`y = \\sum_{i \\in \\text{axes}} a_i`; every summed element gets gradient 1."""

    @staticmethod
    def forward(ctx: Context, a, axis=None, keepdims=False):
        axes = normalize_axes(axis, np.ndim(a))
        ctx.save_for_backward(np.shape(a), axes, keepdims)
        return np.sum(a, axis=axes, keepdims=keepdims, dtype=integer_accumulator(a))

    @staticmethod
    def backward(ctx: Context, grad):
        shape, axes, keepdims = ctx.saved_tensors
        return (_expand_reduced(grad, shape, axes, keepdims).copy(), None, None)


class MaxFunction(Function):
    """:math:`y = \\max_{i \\in \\text{axes}} a_i`.

    The gradient flows to the maximal elements; when several tie, it is shared equally
    among them (so the gradient of ``max`` stays the average of its one-sided
    derivatives, and finite differences agree).
    """

    @staticmethod
    def forward(ctx: Context, a, axis=None, keepdims=False):
        axes = normalize_axes(axis, np.ndim(a))
        out = np.max(a, axis=axes, keepdims=True)
        ctx.save_for_backward(a, out, axes)
        return out if keepdims else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx: Context, grad):
        a, out, axes = ctx.saved_tensors
        # in the input's float dtype: a bool / int division would give float64
        hit = a == out
        if a.dtype.kind == "f" and np.isnan(out).any():  # NaN == NaN is False, yet a NaN is
            hit |= np.isnan(a) & np.isnan(out)          # the maximum where there is one
        is_max = hit.astype(np.result_type(a.dtype, np.float32))
        share = is_max / is_max.sum(axis=axes, keepdims=True)
        grad = np.reshape(grad, out.shape)
        return (grad * share, None, None)


class ProdFunction(Function):
    """:math:`y = \\prod_{i \\in \\text{axes}} a_i`.

    The gradient of one factor is the product of all the others,
    :math:`\\partial y/\\partial a_i = \\prod_{j \\ne i} a_j`, computed as the product
    of the factors before it times the product of those after it (two cumulative
    products), so a zero factor needs no division.
    """

    @staticmethod
    def forward(ctx: Context, a, axis=None, keepdims=False):
        axes = normalize_axes(axis, np.ndim(a))
        ctx.save_for_backward(a, axes, keepdims)
        return np.prod(a, axis=axes, keepdims=keepdims, dtype=integer_accumulator(a))

    @staticmethod
    def backward(ctx: Context, grad):
        a, axes, keepdims = ctx.saved_tensors
        if a.size == 0:  # no factor, no gradient to give
            return (np.zeros(a.shape, np.result_type(a.dtype, grad.dtype)), None, None)
        kept = [i for i in range(a.ndim) if i not in axes]
        # the reduced axes moved to the end and merged into one: shape (kept..., n)
        moved = np.transpose(a, kept + list(axes)).reshape([a.shape[i] for i in kept] + [-1])
        ones = np.ones(moved.shape[:-1] + (1,), dtype=moved.dtype)
        before = np.cumprod(np.concatenate([ones, moved[..., :-1]], axis=-1), axis=-1)
        after = np.flip(np.cumprod(np.flip(np.concatenate([moved[..., 1:], ones], axis=-1), -1),
                                   axis=-1), -1)
        others = (before * after).reshape([a.shape[i] for i in kept + list(axes)])
        others = np.transpose(others, np.argsort(kept + list(axes)))
        return (_expand_reduced(grad, a.shape, axes, keepdims) * others, None, None)
