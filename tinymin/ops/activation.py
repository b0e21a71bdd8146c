"""Activation functions and (log-)softmax.

They are part of the engine (``Tensor.relu`` and ``tinymin.relu`` call them), and
:mod:`tinymin.nn.functional` re-exports them as ``F.relu``, ``F.softmax``, ...
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from tinymin import _ext
from tinymin.autograd import Context, Function

if TYPE_CHECKING:  # for type hints only; tensor.py is built on this module
    from tinymin.tensor import Tensor


class ReLUFunction(Function):
    """:math:`y = \\max(x, 0)`; gradient 1 where :math:`x > 0`, else 0."""

    @staticmethod
    def forward(ctx: Context, x):
        positive = x > 0
        ctx.save_for_backward(positive)
        return np.maximum(x, x.dtype.type(0))  # not x * positive: -inf * 0 is nan

    @staticmethod
    def backward(ctx: Context, grad):
        (positive,) = ctx.saved_tensors
        return (grad * positive,)


class LeakyReLUFunction(Function):
    """:math:`y = x` for :math:`x > 0`, else :math:`\\alpha x`; gradient 1 or :math:`\\alpha`.

    For the usual :math:`0 \\le \\alpha \\le 1` both passes are branch-free
    arithmetic: :math:`y = \\max(x, \\alpha x)`, and the gradient times the slope
    :math:`\\max([x > 0], \\alpha)` in one pass of a kernel
    (:func:`tinymin._ext.leaky_relu_backward`, whose numpy twin builds that slope as an
    array). (A masked select such as ``np.where`` on a random sign pattern mispredicts
    a branch per element: 6 ms instead of 0.5 ms on LeNet's first activation.)
    """

    @staticmethod
    def forward(ctx: Context, x, negative_slope):
        if x.dtype.kind != "f":  # alpha x would be cast back to integers (torch refuses too)
            raise TypeError(f"leaky_relu: needs a floating-point tensor, got {x.dtype}")
        alpha_x = np.asarray(np.multiply(x, negative_slope, dtype=x.dtype))  # 0-d: an array
        if 0 <= negative_slope <= 1:
            out = np.maximum(alpha_x, x, out=alpha_x)
        else:
            out = np.where(x > 0, x, alpha_x)
        # for alpha >= 0, y > 0 exactly where x > 0: the output doubles as the mask
        ctx.save_for_backward(out if negative_slope >= 0 else x, negative_slope)
        return out

    @staticmethod
    def backward(ctx: Context, grad):
        positive_where, negative_slope = ctx.saved_tensors
        if 0 <= negative_slope <= 1 and positive_where.dtype == grad.dtype and grad.ndim:
            # grad where y > 0, else alpha * grad: one pass (tinymin._ext)
            return (_ext.leaky_relu_backward(np.ascontiguousarray(positive_where),
                                             np.ascontiguousarray(grad), negative_slope), None)
        slope = np.empty_like(grad)
        np.greater(positive_where, 0, out=slope)  # 1 where x > 0, else 0 ...
        slope = np.where(slope > 0, slope, np.asarray(negative_slope, grad.dtype))
        slope *= grad
        return (slope, None)


class SigmoidFunction(Function):
    """:math:`\\sigma(x) = 1/(1+e^{-x})`, :math:`\\sigma' = \\sigma(1-\\sigma)`."""

    @staticmethod
    def forward(ctx: Context, x):
        # An integer or boolean x gives float64, as exp does (casting back to x's dtype
        # would round every value to 0 or 1). Two branches so exp never overflows.
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad):
        (out,) = ctx.saved_tensors
        return (grad * out * (1 - out),)


class TanhFunction(Function):
    """:math:`y = \\tanh x`, :math:`y' = 1 - y^2`."""

    @staticmethod
    def forward(ctx: Context, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad):
        (out,) = ctx.saved_tensors
        return (grad * (1 - out * out),)


class LogSoftmaxFunction(Function):
    """:math:`y_i = x_i - \\log\\sum_j e^{x_j}`, computed after subtracting :math:`\\max_j x_j`.

    Backward: :math:`\\partial L/\\partial x = g - \\operatorname{softmax}(x) \\sum_j g_j`.
    """

    @staticmethod
    def forward(ctx: Context, x, dim):
        shifted = x - np.max(x, axis=dim, keepdims=True)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))
        ctx.save_for_backward(out, dim)
        return out

    @staticmethod
    def backward(ctx: Context, grad):
        out, dim = ctx.saved_tensors
        return (grad - np.exp(out) * np.sum(grad, axis=dim, keepdims=True), None)


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """Rectified linear unit, :math:`\\max(x, 0)`.

    ``inplace`` is accepted for PyTorch's signature; the result is always a new
    tensor and ``x`` is left as it is (coming_from_pytorch.rst).
    """
    return ReLUFunction.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """Leaky ReLU: :math:`x` if :math:`x > 0` else ``negative_slope`` :math:`\\cdot x`.

    ``inplace`` is accepted for PyTorch's signature; the result is always a new tensor.
    """
    return LeakyReLUFunction.apply(x, negative_slope)


def sigmoid(x: Tensor) -> Tensor:
    """Logistic sigmoid :math:`1/(1+e^{-x})`, overflow-free."""
    return SigmoidFunction.apply(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return TanhFunction.apply(x)


def log_softmax(x: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Numerically stable :math:`\\log \\operatorname{softmax}(x)` along ``dim`` (or
    numpy's ``axis``); neither given: PyTorch's deprecated guess, with its warning
    (:func:`implicit_dim`)."""
    dim = dim if axis is None else axis
    if dim is None:
        dim = implicit_dim("log_softmax", x.ndim)
    _check_dim("log_softmax", x, dim)
    if x.ndim == 0:  # one element: log 1 = 0, as a 1-D tensor of one gives
        return LogSoftmaxFunction.apply(x.reshape(1), 0).reshape(())
    if x.numel() == 0:  # nothing to normalise: an empty result of the same shape
        return x * 1
    return LogSoftmaxFunction.apply(x, dim)


def softmax(x: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """:math:`\\operatorname{softmax}(x)_i = e^{x_i} / \\sum_j e^{x_j}` along ``dim`` (or
    numpy's ``axis``); neither given: PyTorch's deprecated guess, with its warning
    (:func:`implicit_dim`)."""
    dim = dim if axis is None else axis
    if dim is None:
        dim = implicit_dim("softmax", x.ndim)
    return log_softmax(x, dim).exp()


def implicit_dim(name: str, ndim: int) -> int:
    """PyTorch's choice when ``dim`` is not given: 0 for 0-, 1- and 3-D inputs, else 1
    (with PyTorch's warning: name the dim). Not the last axis: on an (N, C, H, W)
    input the classes are axis 1."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _check_dim(op: str, x: Tensor, dim: int) -> None:
    if not -max(x.ndim, 1) <= dim < max(x.ndim, 1):  # a 0-d tensor takes 0 and -1
        raise ValueError(f"{op}: dim {dim} out of range for input of shape {x.shape}")
