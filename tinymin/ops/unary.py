"""Elementwise functions of one tensor: ``exp log sqrt abs clip``."""

from __future__ import annotations

import numpy as np

from tinymin._arrays import float_operands
from tinymin.autograd import Context, Function


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

    ``lo`` or ``hi`` may be ``None`` (no bound on that side), as in ``torch.clamp``.
    """

    @staticmethod
    def forward(ctx: Context, a, lo=None, hi=None):
        a, lo, hi = float_operands(a, lo, hi)  # float32 clamped by int64 bounds: float32
        inside = np.ones(np.shape(a), dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        ctx.save_for_backward(inside)
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx: Context, grad):
        (inside,) = ctx.saved_tensors
        return (grad * inside, None, None)


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
