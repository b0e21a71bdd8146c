"""The affine layer :math:`y = x W^\\top + b`."""

from __future__ import annotations

from tinymin.autograd import Context, Function
from tinymin.ops.checks import check_float
from tinymin.tensor import Tensor


class LinearFunction(Function):
    """:math:`Y = X W^\\top + b` for ``X`` of shape (N, in): one GEMM forward, two backward.

    .. math::

        \\frac{\\partial L}{\\partial X} = G W, \\qquad
        \\frac{\\partial L}{\\partial W} = G^\\top X, \\qquad
        \\frac{\\partial L}{\\partial b} = \\textstyle\\sum_n G_n
    """

    @staticmethod
    def forward(ctx: Context, x, weight, bias):
        ctx.save_for_backward(x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx: Context, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        return (grad @ weight if need_x else None,
                grad.T @ x if need_w else None,
                grad.sum(axis=0) if need_b else None)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map with PyTorch's weight layout (``out_features x in_features``).

    .. math::

        y = x W^\\top + b

    Parameters
    ----------
    x : Tensor
        Shape ``(..., in_features)``.
    weight : Tensor
        Shape ``(out_features, in_features)``.
    bias : Tensor, optional
        Shape ``(out_features,)``.
    """
    check_float("linear", input=x, weight=weight, bias=bias)
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input shape {x.shape} does not match weight shape {weight.shape} "
            f"(expected input (..., {weight.shape[-1]}))"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias shape {bias.shape} != ({weight.shape[0]},)")
    if x.ndim == 2:
        return LinearFunction.apply(x, weight, bias)
    out = x @ weight.T  # batched inputs (..., in): the general matmul path
    return out if bias is None else out + bias
