"""Step 5 of Algorithm 1 as one fused Triton kernel, for CUDA tensors (the ``gpu`` extra).

.. math::

    y_{n,c,i,j} = s_c \\sum_{c'=0}^{C_{in}-1} \\sum_{u,v}
        m\\big(x_{n,c',\\,iS_h - P_h + u,\\,jS_w - P_w + v},\\; w_{c,c',u,v}\\big)

(zero outside the input), the same sums as :func:`~tinymin.torch.selector.unfolded_selector_conv2d`,
its readable reference. Each program computes a tile of ``BLOCK_P`` output positions
(rows ``p = (n OH + i) OW + j``) by ``BLOCK_C`` filters: for every ``k = (c', u, v)`` of
the receptive field it loads one input value per row (straight from ``x``: im2col is
never written out) and one weight per filter, and adds the selector of every (row,
filter) pair to a register accumulator, the way a GEMM tile adds products:

* ``min`` (the paper, Eq. 13): ``sgn(w) * clip(x, -|w|, |w|)``, which equals
  ``sgn(x) sgn(w) min(|x|, |w|)``;
* ``max``: ``sgn(x) sgn(w) max(|x|, |w|)``; ``adder``: ``-|x - w|``.

Then the rescale by ``s_c`` (``mu_w``) and one store per output. A NaN anywhere in a
row's receptive field or in a filter makes their output NaN, as in the reference
(Triton's minimum and maximum drop NaN, like ``fmin``, so the kernel counts NaN per
row and per filter and writes it back at the end, a test per loaded value rather than
per pair). Offsets are 64-bit, so inputs and outputs past :math:`2^{31}` elements are
addressed right. Clip, signed minimum,
sum and rescale are fused: no ``rows x C_out x K`` temporary, no column matrix, one
read of ``x`` per tile. Runs on CPU tensors too in Triton's interpreter
(``TRITON_INTERPRET=1``, set before this module is imported), which is how the tests
check it without a GPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
import triton
import triton.language as tl

#: Selector codes of the kernel's ``OPERATOR`` argument.
OPERATOR_CODES = {"min": 0, "max": 1, "adder": 2}
#: Output tile: rows (output positions) x filters per program.
BLOCK_P, BLOCK_C = 64, 32


@triton.jit
def _selector_term(a, b, OPERATOR: tl.constexpr):
    """m(a, b) for a column of inputs ``a`` (BLOCK_P, 1) and a row of weights ``b`` (1, BLOCK_C)."""
    if OPERATOR == 0:  # sgn(b) clip(a, -|b|, |b|)
        bound = tl.abs(b)
        sign_b = tl.where(b > 0, 1.0, tl.where(b < 0, -1.0, 0.0)).to(b.dtype)
        return sign_b * tl.minimum(tl.maximum(a, -bound), bound)
    elif OPERATOR == 1:  # sgn(a) sgn(b) max(|a|, |b|)
        sign_a = tl.where(a > 0, 1.0, tl.where(a < 0, -1.0, 0.0)).to(a.dtype)
        sign_b = tl.where(b > 0, 1.0, tl.where(b < 0, -1.0, 0.0)).to(b.dtype)
        return (sign_a * sign_b) * tl.maximum(tl.abs(a), tl.abs(b))
    else:  # -|a - b|
        return -tl.abs(a - b)


@triton.jit
def _selector_conv2d_kernel(x_ptr, wt_ptr, scale_ptr, y_ptr,
                            ROWS, C_in, H, W, C_out, OH, OW,
                            SH, SW, PH, PW,
                            KH: tl.constexpr, KW: tl.constexpr, OPERATOR: tl.constexpr,
                            BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """One (BLOCK_P rows) x (BLOCK_C filters) tile of y; ``wt`` is the weight as (K, C_out)."""
    rows = tl.program_id(0).to(tl.int64) * BLOCK_P + tl.arange(0, BLOCK_P)
    filters = tl.program_id(1).to(tl.int64) * BLOCK_C + tl.arange(0, BLOCK_C)
    row_ok = rows < ROWS  # N OH OW, from the host: Triton passes it as 64-bit where needed
    filter_ok = filters < C_out
    # row p -> (image n, output pixel i, j) -> top-left corner of its receptive field
    n = rows // (OH * OW)
    pixel = rows % (OH * OW)
    top = (pixel // OW) * SH - PH
    left = (pixel % OW) * SW - PW
    image = x_ptr + n * C_in * H * W
    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=y_ptr.dtype.element_ty)
    nan_in_row = tl.zeros((BLOCK_P,), dtype=tl.int32)
    nan_in_filter = tl.zeros((BLOCK_C,), dtype=tl.int32)
    plane = image  # advanced one plane per channel: a 64-bit pointer, no c * H * W product
    for c in range(C_in):
        for u in tl.static_range(KH):
            ih = top + u
            inside_h = row_ok & (ih >= 0) & (ih < H)
            for v in tl.static_range(KW):
                iw = left + v
                inside = inside_h & (iw >= 0) & (iw < W)
                # zero padding: a row outside the input reads 0, and m(0, w) still counts
                a = tl.load(plane + ih * W + iw, mask=inside, other=0.0)
                k = (c * KH + u) * KW + v
                b = tl.load(wt_ptr + k * C_out + filters, mask=filter_ok, other=0.0)
                acc += _selector_term(a[:, None], b[None, :], OPERATOR)
                nan_in_row += (a != a).to(tl.int32)
                nan_in_filter += (b != b).to(tl.int32)
        plane += H * W
    scale = tl.load(scale_ptr + filters, mask=filter_ok, other=0.0)
    acc = acc * scale[None, :]
    has_nan = (nan_in_row[:, None] > 0) | (nan_in_filter[None, :] > 0)
    acc = tl.where(has_nan, float("nan"), acc)
    # y[n, c, i, j] = y_ptr[(n C_out + c) OH OW + pixel]
    out = n[:, None] * C_out * OH * OW + filters[None, :] * OH * OW + pixel[:, None]
    tl.store(y_ptr + out, acc, mask=row_ok[:, None] & filter_ok[None, :])


def selector_conv2d(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
                    stride: Sequence[int], padding: Sequence[int], operator: str = "min",
                    block_p: int = BLOCK_P, block_c: int = BLOCK_C) -> torch.Tensor:
    """Step 5 by the fused kernel: ``x`` (N, C_in, H, W), ``weight`` (C_out, C_in, kh, kw),
    ``scale`` (C_out,), one dtype (float32 or float64), one device -> y (N, C_out, OH, OW).

    ``block_p`` and ``block_c`` (powers of two) set the output tile; the tests use small
    ones to reach ragged tile edges on small shapes. The kernel runs on ``x``'s device,
    whichever device is current.
    """
    for name, block in (("block_p", block_p), ("block_c", block_c)):
        if isinstance(block, bool) or not isinstance(block, int) or block < 1 or block & (block - 1):
            raise ValueError(f"selector_conv2d: {name} must be a power of two, got {block!r}")
    if block_p * block_c > 2**20:  # Triton's largest tensor
        raise ValueError(f"selector_conv2d: a tile of {block_p} x {block_c} is over Triton's "
                         f"{2**20:,} elements")
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    out_h = (h + 2 * padding[0] - kh) // stride[0] + 1
    out_w = (w + 2 * padding[1] - kw) // stride[1] + 1
    x = x.contiguous()
    wt = weight.reshape(c_out, -1).t().contiguous()  # (K, C_out): each k's filters side by side
    scale = scale.to(x.dtype).contiguous()
    y = torch.empty((n, c_out, out_h, out_w), dtype=x.dtype, device=x.device)
    rows = n * out_h * out_w
    if rows == 0 or c_out == 0:
        return y
    grid = (triton.cdiv(rows, block_p), triton.cdiv(c_out, block_c))
    # Triton launches on the current device: make it x's (a tensor on cuda:1 while
    # cuda:0 is current would otherwise be read from the wrong GPU)
    on_device = torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()
    with on_device:
        _selector_conv2d_kernel[grid](x, wt, scale, y, rows, c_in, h, w, c_out, out_h, out_w,
                                      stride[0], stride[1], padding[0], padding[1],
                                      KH=kh, KW=kw, OPERATOR=OPERATOR_CODES[operator],
                                      BLOCK_P=block_p, BLOCK_C=block_c)
    return y
