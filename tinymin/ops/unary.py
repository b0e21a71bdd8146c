"""Elementwise functions of one tensor: ``exp log sqrt abs clip``."""

from __future__ import annotations

import numpy as np

from tinymin._arrays import float_operands
from tinymin.autograd import Context, Function, sum_to


class ExpFunction(Function):
    """:math:`y = e^a`, :math:`\\partial y/\\partial a = e^a = y`."""

    @staticmethod
    def forward(ctx: Context, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad):
        (out,) = ctx.saved_tensors
        return (grad * out,)


class LogFunction(Function):
    """:math:`y = \\ln a`, :math:`\\partial y/\\partial a = 1/a`."""

    @staticmethod
    def forward(ctx: Context, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx: Context, grad):
        (a,) = ctx.saved_tensors
        return (grad / a,)


class SqrtFunction(Function):
    """:math:`y = \\sqrt{a}`, :math:`\\partial y/\\partial a = 1 / (2\\sqrt{a})`."""

    @staticmethod
    def forward(ctx: Context, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad):
        (out,) = ctx.saved_tensors
        return (grad / (2 * out),)


class StdFromVarianceFunction(SqrtFunction):
    """:math:`\\sigma = \\sqrt{v}` for a variance :math:`v` (:class:`SqrtFunction`'s
    forward), with PyTorch's gradient for ``std``: :math:`1 / (2\\sigma)`, and 0 where
    :math:`\\sigma = 0` (a constant row has no direction in which its spread grows;
    plain ``sqrt`` would give :math:`0 \\cdot \\infty = \\text{nan}`)."""

    @staticmethod
    def backward(ctx: Context, grad):
        (out,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.where(out == 0, 0, grad / (2 * out)).astype(grad.dtype, copy=False),)


class AbsFunction(Function):
    """:math:`y = |a|`, :math:`\\partial y/\\partial a = \\operatorname{sgn}(a)` (0 at 0)."""

    @staticmethod
    def forward(ctx: Context, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx: Context, grad):
        (a,) = ctx.saved_tensors
        return (grad * np.sign(a),)


class ClipFunction(Function):
    """:math:`y = \\min(\\max(a, lo), hi)`; gradient 1 inside ``[lo, hi]``, 0 outside.

    ``lo`` or ``hi`` may be ``None`` (no bound on that side), a number, or a tensor that
    broadcasts with ``a``, as in ``torch.clamp``. A tensor bound gets the gradient where
    it is the result, by PyTorch's rules: ``lo`` where :math:`a < lo < hi`, ``hi`` where
    :math:`a > hi` or the bounds cross (:math:`hi < lo`), summed over the dims it was
    broadcast along; ``a`` keeps it where :math:`lo \\le a \\le hi`.
    """

    @staticmethod
    def forward(ctx: Context, a, lo=None, hi=None):
        a, lo, hi = float_operands(a, lo, hi)  # float32 clamped by int64 bounds: float32
        out = np.clip(a, lo, hi)
        to_a = (True if lo is None else a >= lo) & (True if hi is None else a <= hi)
        to_lo = to_hi = None
        if isinstance(lo, np.ndarray):  # a tensor bound: it may need a gradient
            to_lo = (a < lo) if hi is None else (a < lo) & (lo < hi)
        if isinstance(hi, np.ndarray):
            to_hi = (a > hi) if lo is None else (a > hi) | (hi < lo)
        ctx.save_for_backward(np.shape(a), np.shape(lo), np.shape(hi), out.shape, to_a,
                              to_lo, to_hi)
        return out

    @staticmethod
    def backward(ctx: Context, grad):
        a_shape, lo_shape, hi_shape, shape, to_a, to_lo, to_hi = ctx.saved_tensors
        grads = [sum_to(np.where(to_a, grad, 0), a_shape)]
        for mask, bound_shape in ((to_lo, lo_shape), (to_hi, hi_shape)):
            grads.append(None if mask is None else
                         sum_to(np.where(np.broadcast_to(mask, shape), grad, 0), bound_shape))
        return tuple(grads)


class AsTypeFunction(Function):
    """Change the dtype; the gradient goes back in the input's dtype."""

    @staticmethod
    def forward(ctx: Context, a, dtype):
        ctx.save_for_backward(a.dtype)
        return a.astype(dtype)

    @staticmethod
    def backward(ctx: Context, grad):
        (dtype,) = ctx.saved_tensors
        return (grad.astype(dtype), None)
