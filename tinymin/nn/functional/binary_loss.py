"""Binary cross-entropy, on probabilities and (stably) on logits, and ``logsigmoid``."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymin.autograd import Context, Function
from tinymin.nn.functional.loss import as_array, check_reduction, legacy_reduction, reduce_loss
from tinymin.ops.checks import check_float
from tinymin.tensor import Tensor

__all__ = ["BinaryCrossEntropyFunction", "LogSigmoidFunction", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "logsigmoid"]


class LogSigmoidFunction(Function):
    """:math:`\\log\\sigma(x) = -\\log(1 + e^{-x})`, computed without overflow.

    .. math::

        \\log\\sigma(x) = \\min(x, 0) - \\log\\big(1 + e^{-|x|}\\big), \\qquad
        \\frac{d}{dx}\\log\\sigma(x) = 1 - \\sigma(x) = \\sigma(-x)
    """

    @staticmethod
    def forward(ctx: Context, x):
        ctx.save_for_backward(x)
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))

    @staticmethod
    def backward(ctx: Context, grad):
        (x,) = ctx.saved_tensors
        sigmoid_of_minus_x = np.exp(-np.logaddexp(0, x))  # 1 / (1 + e^x), overflow-free
        return grad * sigmoid_of_minus_x.astype(x.dtype)


def logsigmoid(x: Tensor) -> Tensor:
    """:math:`\\log \\sigma(x)` elementwise, stable for large :math:`|x|` (``F.logsigmoid``)."""
    check_float("logsigmoid", input=x)
    return LogSigmoidFunction.apply(x)


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities :math:`x \\in [0, 1]` against targets :math:`y`.

    .. math::

        \\ell_i = -w_i \\big( y_i \\log x_i + (1 - y_i) \\log(1 - x_i) \\big)

    Each logarithm is clamped at :math:`-100`, as in PyTorch, so :math:`x = 0` or
    :math:`1` gives a finite loss. Prefer :func:`binary_cross_entropy_with_logits` on
    logits: it never needs the clamp.

    Raises
    ------
    ValueError
        If an input or target value lies outside [0, 1] or the shapes differ.
    """
    reduction = legacy_reduction("binary_cross_entropy", size_average, reduce, reduction)
    check_reduction("binary_cross_entropy", reduction)
    target = _checked_target("binary_cross_entropy", input, target)
    labels = as_array(target)
    if labels.size and not (np.all(labels >= 0) and np.all(labels <= 1)):
        raise ValueError("binary_cross_entropy: every target value must be in [0, 1], got min "
                         f"{labels.min()} and max {labels.max()} (as PyTorch requires)")
    values = input.numpy()
    if values.size and not (np.all(values >= 0) and np.all(values <= 1)):
        raise ValueError("binary_cross_entropy: every input value must be in [0, 1] (these are "
                         f"probabilities), got min {values.min()} and max {values.max()}; "
                         "for logits use binary_cross_entropy_with_logits")
    losses = BinaryCrossEntropyFunction.apply(input, target)
    if weight is not None:
        losses = losses * _as_constant(weight, input)
    return reduce_loss("binary_cross_entropy", losses, reduction)


class BinaryCrossEntropyFunction(Function):
    """Elementwise :math:`-(y \\log x + (1-y) \\log(1-x))`, logarithms clamped at -100.

    The backward is PyTorch's, finite even where a probability is exactly 0 or 1:

    .. math::

        \\frac{\\partial \\ell}{\\partial x} = \\frac{x - y}{\\max(x (1 - x), 10^{-12})},
        \\qquad
        \\frac{\\partial \\ell}{\\partial y} = \\log(1 - x) - \\log x
    """

    @staticmethod
    def forward(ctx: Context, x, y):
        log_x, log_1mx = _clamped_log(x), _clamped_log(1 - x)
        ctx.save_for_backward(x, y, log_x, log_1mx)
        return -(y * log_x + (1 - y) * log_1mx)

    @staticmethod
    def backward(ctx: Context, grad):
        x, y, log_x, log_1mx = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        dx = grad * (x - y) / np.maximum(x * (1 - x), 1e-12) if need_x else None
        dy = grad * (log_1mx - log_x) if need_y else None
        return dx, dy


def _clamped_log(x: np.ndarray) -> np.ndarray:
    """:math:`\\max(\\log x, -100)`, without numpy's divide-by-zero warning at 0."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(x), -100.0).astype(x.dtype)


def binary_cross_entropy_with_logits(input: Tensor, target: Any,  # noqa: A002
                                     weight: Any = None, size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy of :math:`\\sigma(x)` for logits :math:`x`, computed stably.

    .. math::

        \\ell_i = -w_i \\big( p\\, y_i \\log\\sigma(x_i) + (1 - y_i) \\log(1 - \\sigma(x_i)) \\big)
               = w_i \\big( (1 - y_i)\\, x_i - (1 + (p - 1) y_i) \\log\\sigma(x_i) \\big)

    using :math:`\\log(1-\\sigma(x)) = \\log\\sigma(x) - x`; :math:`p` is ``pos_weight``
    (one value per class, broadcast along the last axis), 1 by default.
    """
    reduction = legacy_reduction("binary_cross_entropy_with_logits", size_average, reduce,
                                 reduction)
    check_reduction("binary_cross_entropy_with_logits", reduction)
    target = _checked_target("binary_cross_entropy_with_logits", input, target)
    log_sig = logsigmoid(input)
    if pos_weight is None:
        losses = (1 - target) * input - log_sig
    else:
        pw = _as_constant(pos_weight, input)
        losses = (1 - target) * input - (1 + (pw - 1) * target) * log_sig
    if weight is not None:
        losses = losses * _as_constant(weight, input)
    return reduce_loss("binary_cross_entropy_with_logits", losses, reduction)


def _checked_target(op: str, input: Tensor, target: Any) -> Any:  # noqa: A002
    check_float(op, input=input)
    target_shape = as_array(target).shape
    if input.shape != target_shape:
        raise ValueError(f"{op}: target shape {target_shape} must equal the input shape "
                         f"{input.shape}")
    return _as_constant(target, input)


def _as_constant(value: Any, input: Tensor) -> Any:  # noqa: A002
    """A Tensor stays a Tensor (it may need a gradient); anything else becomes an array
    of the input's dtype, so float64 targets do not turn a float32 loss into float64."""
    if isinstance(value, Tensor):
        return value
    return np.asarray(value, dtype=input.dtype)
