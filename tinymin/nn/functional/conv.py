"""Exact 2-D convolution by im2col + one GEMM (Eq. 1-2): ``conv2d`` and its Function.

The derivation: docs/guides/minconv_math.rst, section 1. The machinery it shares with
``min_conv2d`` (geometry, im2col in chunks, the exact backward) is in
:mod:`tinymin.ops.conv`.
"""

from __future__ import annotations

import numpy as np

from tinymin.autograd import Context, Function, is_grad_enabled
from tinymin.functions import cat, zeros
from tinymin.ops.checks import check_float, pair
from tinymin.ops.conv import (
    check_unbatched,
    columns_needed,
    conv_backward,
    conv_geometry,
    exact_conv,
    fits_in_one_chunk,
    image_chunks,
    keep_columns,
    same_padding,
)
from tinymin.tensor import Tensor


class Conv2dFunction(Function):
    """Exact convolution (cross-correlation, as in PyTorch) by im2col + GEMM."""

    @staticmethod
    def forward(ctx: Context, x, weight, bias, stride, padding):
        geom = conv_geometry("conv2d", x.shape, weight.shape, stride, padding)
        w2 = weight.reshape(geom.out_channels, -1)
        keep_cols = (is_grad_enabled() and ctx.needs_input_grad[1]
                     and fits_in_one_chunk(geom, x.itemsize) and columns_needed(x, weight, geom))
        out = np.empty((geom.batch, geom.out_channels, geom.out_h, geom.out_w),
                       dtype=np.result_type(x, weight))
        # the column matrix, kept for the weight gradient when it fits in one chunk
        # (then the loop runs once); without it the images go in memory-bounded chunks
        cols = keep_columns(ctx, x, geom) if keep_cols else None
        for chunk in image_chunks(geom, x.itemsize):
            cols = exact_conv(x[chunk], w2, bias, geom, cols, out[chunk])
        ctx.save_for_backward(x, weight, geom, cols)
        return out

    @staticmethod
    def backward(ctx: Context, grad):
        x, weight, geom, cols = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx, dw = conv_backward(grad, x, weight, geom, cols, need_x=need_x, need_w=need_w)
        db = grad.sum(axis=(0, 2, 3)) if need_b else None
        return dx, dw, db, None, None


def pad_bottom_right(x: Tensor, extra: tuple[int, int]) -> Tensor:
    """``x`` (``(..., H, W)``) with ``extra`` zero rows at the bottom and columns at the
    right: the uneven part of ``padding="same"`` for an even kernel."""
    extra_h, extra_w = extra
    if extra_h:
        x = cat([x, zeros(x.shape[:-2] + (extra_h, x.shape[-1]), dtype=x.dtype)], dim=-2)
    if extra_w:
        x = cat([x, zeros(x.shape[:-1] + (extra_w,), dtype=x.dtype)], dim=-1)
    return x


def _text_padding(x: Tensor, kernel: tuple[int, int], stride, padding: str):
    """``x`` and the padding of both sides for ``padding="valid"`` or ``"same"``."""
    if padding == "valid":
        return x, 0
    if padding != "same":
        raise ValueError(f"conv2d: padding must be an int, a pair, 'valid' or 'same', got "
                         f"{padding!r}")
    both, extra = same_padding("conv2d", kernel, pair(stride, "conv2d: stride", 1))
    return pad_bottom_right(x, extra), both


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """2-D convolution of an NCHW batch, PyTorch semantics (zero padding).

    .. math::

        y_{n,c,i,j} = b_c + \\sum_{c'} \\sum_{u<k_h} \\sum_{v<k_w}
        w_{c,c',u,v}\\; x_{n,c',\\,s_h i + u - p_h,\\, s_w j + v - p_w}

    Parameters
    ----------
    x : Tensor
        Input of shape ``(N, C_in, H, W)``, or one unbatched ``(C_in, H, W)`` image (as
        PyTorch: the output has no batch axis either).
    weight : Tensor
        Filters of shape ``(C_out, C_in, kh, kw)``.
    bias : Tensor, optional
        Shape ``(C_out,)``.
    stride : int or pair of int
    padding : int, pair of int, ``"valid"`` or ``"same"``
        ``"same"`` (stride 1) pads so that the output has the input's size, an even
        kernel with one more zero at the bottom and right, as in PyTorch.
    """
    check_float("conv2d", input=x, weight=weight, bias=bias)
    if isinstance(padding, str):
        x, padding = _text_padding(x, tuple(weight.shape[2:]), stride, padding)
    check_unbatched("conv2d", x.shape, weight.shape, stride, padding)
    if x.ndim == 3:  # unbatched: a batch of one (checked above with its own shape)
        return conv2d(x[None], weight, bias, stride, padding)[0]
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"conv2d: bias shape {tuple(bias.shape)} != ({weight.shape[0]},)")
    return Conv2dFunction.apply(x, weight, bias, stride, padding)
