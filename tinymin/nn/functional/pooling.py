"""Max and average pooling, built on the same im2col as convolution.

Each channel is pooled on its own, so the input is viewed as ``(N*C, 1, H, W)`` and
every pooling window becomes one row of a column matrix: max pooling is then a
row-wise max (backward: the gradient goes to the arg-max of each row), average
pooling a row-wise mean (backward: each element gets ``1/(kh*kw)`` of it). PyTorch's
``ceil_mode`` lets the last windows hang over the bottom and right edges: the input
is then padded explicitly first (-inf for max, 0 for average), and the average
divides by what each window holds of the padded input (or, without
``count_include_pad``, of the input itself). Adaptive average pooling (any input
size to a fixed output size) is two matrix products instead.
"""

from __future__ import annotations

import numpy as np

from tinymin import _ext
from tinymin.autograd import Context, Function
from tinymin.ops.checks import check_float, pair
from tinymin.ops.conv import ConvGeometry, conv_geometry, rows_to_nchw
from tinymin.tensor import Tensor


def pool_window(op: str, kernel_size, stride, padding) -> tuple[tuple[int, int], ...]:
    """Check a pooling window: kernel and stride positive (``stride=None`` means the
    kernel size), padding non-negative and at most half the kernel, as in PyTorch.
    Returns the three as pairs."""
    kernel = pair(kernel_size, f"{op}: kernel_size", 1)
    stride = kernel if stride is None else pair(stride, f"{op}: stride", 1)
    padding = pair(padding, f"{op}: padding")
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel}")
    return kernel, stride, padding


def _pool_geometry(op: str, x_shape, kernel_size, stride, padding,
                   ceil_mode: bool = False) -> tuple[ConvGeometry, tuple]:
    kernel, stride, padding = pool_window(op, kernel_size, stride, padding)
    if len(x_shape) != 4:
        raise ValueError(f"{op}: input must be NCHW (4-D) or one unbatched CHW image (3-D), "
                         f"got shape {tuple(x_shape)}")
    n, c, h, w = x_shape
    if h == 0 or w == 0:
        raise ValueError(f"{op}: input shape {tuple(x_shape)} has no pixels to pool")
    if ceil_mode:  # windows hanging over the bottom and right count: check with them
        h, w = (size + _ceil_extra(size, k, s, p)
                for size, k, s, p in zip((h, w), kernel, stride, padding))
    # an empty batch (n * c == 0) pools like one image, into an empty output; with an
    # overhang the callers pad explicitly and read only kernel, stride and padding here
    geom = conv_geometry(op, (n * c, 1, h, w), (1, 1, *kernel), stride, padding,
                         quoted_shape=tuple(x_shape))
    return geom, (n, c)


def _windows(x: np.ndarray, geom: ConvGeometry, fill: float) -> np.ndarray:
    """Rows = pooling windows of every (image, channel); padding uses ``fill``."""
    n, c, h, w = x.shape
    flat = x.reshape(n * c, 1, h, w)
    ph, pw = geom.padding
    if fill != 0 and (ph or pw):
        flat = np.pad(flat, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
        return _ext.im2col(np.ascontiguousarray(flat), geom.kernel, geom.stride, (0, 0))
    return _ext.im2col(np.ascontiguousarray(flat), geom.kernel, geom.stride, geom.padding)


def _to_output(rows: np.ndarray, geom: ConvGeometry, nc: tuple) -> np.ndarray:
    n, c = nc
    return rows_to_nchw(rows, n * c, geom).reshape(n, c, geom.out_h, geom.out_w)


def _scatter(dcols: np.ndarray, x_shape, geom: ConvGeometry) -> np.ndarray:
    n, c, h, w = x_shape
    dx = _ext.col2im(np.ascontiguousarray(dcols), (n * c, 1, h, w), geom.kernel, geom.stride,
                     geom.padding)
    return dx.reshape(x_shape)


def _ceil_extra(size: int, kernel: int, stride: int, pad: int) -> int:
    """The rows (or columns) after the padded input that ``ceil_mode`` adds: PyTorch's
    output size :math:`\\lceil (H + 2p - k) / s \\rceil + 1`, less one where the last
    window would start past the input and its left padding."""
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if (out - 1) * stride >= size + pad:
        out -= 1
    return max(0, (out - 1) * stride + kernel - (size + 2 * pad))


def _padded_windows(op: str, x: np.ndarray, kernel, stride, padding, extra, fill: float):
    """Rows = pooling windows over ``x`` padded explicitly with ``fill`` (``padding`` on
    both sides, ``extra`` more at the bottom and right); returns the rows, the geometry
    and the shape of the padded planes (for :func:`_scatter_padded`)."""
    n, c, h, w = x.shape
    (ph, pw), (eh, ew) = padding, extra
    planes = np.pad(x.reshape(n * c, 1, h, w), ((0, 0), (0, 0), (ph, ph + eh), (pw, pw + ew)),
                    constant_values=fill)
    geom = conv_geometry(op, planes.shape, (1, 1, *kernel), stride, (0, 0))
    cols = _ext.im2col(np.ascontiguousarray(planes), kernel, stride, (0, 0))
    return cols, geom, planes.shape


def _scatter_padded(dcols: np.ndarray, x_shape, geom: ConvGeometry, planes_shape,
                    padding) -> np.ndarray:
    """The backward of :func:`_padded_windows`: windows summed back, the padding cut off."""
    n, c, h, w = x_shape
    ph, pw = padding
    dplanes = _ext.col2im(np.ascontiguousarray(dcols), planes_shape, geom.kernel, geom.stride,
                          (0, 0))
    return np.ascontiguousarray(dplanes[:, :, ph:ph + h, pw:pw + w]).reshape(x_shape)


def _avg_divisors(x_shape, kernel, stride, padding, geom: ConvGeometry, count_include_pad: bool,
                  divisor_override) -> np.ndarray:
    """What each window's sum is divided by, shape (out_h, out_w), as PyTorch: the
    window's size clipped to the padded input (the ceil-mode overhang never counts),
    or to the input itself without ``count_include_pad``, or ``divisor_override``."""
    if divisor_override is not None:
        return np.full((geom.out_h, geom.out_w), float(divisor_override))
    counts = []
    for size, k, s, p, out in zip(x_shape[2:], kernel, stride, padding, (geom.out_h, geom.out_w)):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        counts.append(end - start)
    return np.outer(counts[0], counts[1]).astype(np.float64)


def _tiles_exactly(x_shape, geom: ConvGeometry) -> bool:
    """Non-overlapping windows that cover the input exactly (the common 2x2/2 case)."""
    kh, kw = geom.kernel
    return (geom.stride == geom.kernel and geom.padding == (0, 0)
            and x_shape[2] % kh == 0 and x_shape[3] % kw == 0)


def _tile_views(a: np.ndarray, geom: ConvGeometry) -> list[np.ndarray]:
    """The kh*kw strided views of ``a``, one per window offset (u, v), in row-major order.

    With non-overlapping windows, view (u, v) holds element (u, v) of every window,
    laid out like the pooled output.
    """
    kh, kw = geom.kernel
    return [a[:, :, u::kh, v::kw] for u in range(kh) for v in range(kw)]


def _max_of_tiles(x: np.ndarray, geom: ConvGeometry):
    """Max over non-overlapping windows by strided slices; returns (out, winner index).

    ``winner`` (uint8, the output's shape) numbers the window offset that holds the
    first maximal element (the arg-max), so the backward sends each output's gradient
    to exactly one input, like the general path.
    """
    views = _tile_views(x, geom)
    out = views[0].copy()
    for view in views[1:]:
        np.maximum(out, view, out=out)
    winner = np.zeros(out.shape, dtype=np.uint8)
    found = views[0] == out
    for index, view in enumerate(views[1:], start=1):
        hit = view == out
        hit &= ~found  # an earlier offset already holds the maximum
        winner += hit.view(np.uint8) * np.uint8(index)  # branch-free: hit is 0 or 1
        found |= hit
    return out, winner


def _unpool_tiles(grad: np.ndarray, winner: np.ndarray, x_shape, geom: ConvGeometry) -> np.ndarray:
    """The max-pool backward on non-overlapping windows: ``grad`` to each arg-max."""
    dx = np.empty(x_shape, dtype=grad.dtype)
    for index, view in enumerate(_tile_views(dx, geom)):
        np.multiply(grad, winner == index, out=view)  # written in place, no spread copy
    return dx


def _extra_for_ceil_mode(x_shape, geom: ConvGeometry, ceil_mode: bool) -> tuple[int, int]:
    """The rows and columns ``ceil_mode`` adds after the padded input ((0, 0) without it)."""
    if not ceil_mode:
        return (0, 0)
    return tuple(_ceil_extra(size, k, s, p) for size, k, s, p  # type: ignore[return-value]
                 in zip(x_shape[2:], geom.kernel, geom.stride, geom.padding))


class MaxPool2dFunction(Function):
    """:math:`y = \\max_{(u,v) \\in \\text{window}} x_{u,v}`; gradient to the arg-max.

    With ``ceil_mode`` the last windows may hang over the bottom and right edges
    (PyTorch's rule); they see -inf there, so the maximum is the input's.
    """

    @staticmethod
    def forward(ctx: Context, x, kernel_size, stride, padding, ceil_mode=False):
        geom, nc = _pool_geometry("max_pool2d", x.shape, kernel_size, stride, padding, ceil_mode)
        extra = _extra_for_ceil_mode(x.shape, geom, ceil_mode)
        if any(extra):  # explicit -inf padding, the overhang included
            cols, padded_geom, planes = _padded_windows("max_pool2d", x, geom.kernel, geom.stride,
                                                        geom.padding, extra, -np.inf)
            argmax = cols.argmax(axis=1)
            ctx.save_for_backward(x.shape, padded_geom, argmax, cols.shape, (planes, geom.padding))
            return _to_output(cols[np.arange(len(cols)), argmax], padded_geom, nc)
        if _tiles_exactly(x.shape, geom):
            out, winner = _max_of_tiles(x, geom)
            ctx.save_for_backward(x.shape, geom, winner, None, None)
            return out
        cols = _windows(x, geom, fill=-np.inf)
        argmax = cols.argmax(axis=1)
        ctx.save_for_backward(x.shape, geom, argmax, cols.shape, None)
        return _to_output(cols[np.arange(len(cols)), argmax], geom, nc)

    @staticmethod
    def backward(ctx: Context, grad):
        x_shape, geom, argmax, cols_shape, padded = ctx.saved_tensors
        if cols_shape is None:  # fast path: ``argmax`` numbers the winning offset
            return _unpool_tiles(grad, argmax, x_shape, geom), None, None, None, None
        dcols = np.zeros(cols_shape, dtype=grad.dtype)
        dcols[np.arange(cols_shape[0]), argmax] = grad.reshape(-1)
        if padded is not None:
            planes, padding = padded
            return _scatter_padded(dcols, x_shape, geom, planes, padding), None, None, None, None
        return _scatter(dcols, x_shape, geom), None, None, None, None


class AvgPool2dFunction(Function):
    """:math:`y = \\frac{1}{d} \\sum_{(u,v) \\in \\text{window}} x_{u,v}`, where the
    divisor :math:`d` is :math:`k_h k_w` (zero padding counted), as PyTorch's options
    change it: ``ceil_mode`` windows that hang over the edge count only what lies in
    the padded input, ``count_include_pad=False`` counts only the input's own elements,
    and ``divisor_override`` fixes :math:`d`."""

    @staticmethod
    def forward(ctx: Context, x, kernel_size, stride, padding, ceil_mode=False,
                count_include_pad=True, divisor_override=None):
        geom, nc = _pool_geometry("avg_pool2d", x.shape, kernel_size, stride, padding, ceil_mode)
        extra = _extra_for_ceil_mode(x.shape, geom, ceil_mode)
        if not any(extra) and count_include_pad and divisor_override is None:
            cols = _windows(x, geom, fill=0.0)  # every window counts k_h k_w elements
            ctx.save_for_backward(x.shape, geom, cols.shape, None)
            return _to_output(cols.mean(axis=1), geom, nc)
        cols, padded_geom, planes = _padded_windows("avg_pool2d", x, geom.kernel, geom.stride,
                                                    geom.padding, extra, 0.0)
        divisors = _avg_divisors(x.shape, geom.kernel, geom.stride, geom.padding, padded_geom,
                                 count_include_pad, divisor_override).reshape(-1)
        sums = cols.sum(axis=1).reshape(-1, len(divisors)) / divisors
        ctx.save_for_backward(x.shape, padded_geom, cols.shape, (planes, geom.padding, divisors))
        return _to_output(sums.reshape(-1).astype(x.dtype, copy=False), padded_geom, nc)

    @staticmethod
    def backward(ctx: Context, grad):
        x_shape, geom, cols_shape, padded = ctx.saved_tensors
        if padded is None:
            share = grad.reshape(-1, 1) / cols_shape[1]
            dcols = np.broadcast_to(share, cols_shape).astype(grad.dtype)
            return _scatter(dcols, x_shape, geom), None, None, None, None, None, None
        planes, padding, divisors = padded
        rows = np.ascontiguousarray(grad.reshape(grad.shape[0] * grad.shape[1], -1))
        share = (rows / divisors).astype(grad.dtype).reshape(-1, 1)
        dcols = np.broadcast_to(share, cols_shape)
        return (_scatter_padded(dcols, x_shape, geom, planes, padding),
                None, None, None, None, None, None)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """2-D max pooling of ``(N, C, H, W)`` or unbatched ``(C, H, W)`` input (``stride``
    defaults to ``kernel_size``; padding is -inf), with PyTorch's arguments in its
    order; ``ceil_mode`` rounds the output size up (see :class:`MaxPool2dFunction`).
    ``dilation`` other than 1 and ``return_indices=True`` are refused (not supported)."""
    check_float("max_pool2d", input=x)
    if pair(dilation, "max_pool2d: dilation", 1) != (1, 1):
        raise ValueError(f"max_pool2d: dilation {dilation} is not supported (only 1)")
    if return_indices:
        raise ValueError("max_pool2d: return_indices=True is not supported")
    if x.ndim == 3:  # unbatched, as PyTorch: a batch of one
        return max_pool2d(x[None], kernel_size, stride, padding, ceil_mode=ceil_mode)[0]
    return MaxPool2dFunction.apply(x, kernel_size, stride, padding, bool(ceil_mode))


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling of ``(N, C, H, W)`` or unbatched ``(C, H, W)`` input
    (``stride`` defaults to ``kernel_size``; zero padding counted), with PyTorch's
    options (see :class:`AvgPool2dFunction` for the divisor they give)."""
    check_float("avg_pool2d", input=x)
    if divisor_override is not None and (isinstance(divisor_override, bool)
                                         or not isinstance(divisor_override, (int, np.integer))
                                         or divisor_override <= 0):
        raise ValueError(f"avg_pool2d: divisor_override must be a positive int, "
                         f"got {divisor_override!r}")
    if x.ndim == 3:  # unbatched, as PyTorch: a batch of one
        return avg_pool2d(x[None], kernel_size, stride, padding, ceil_mode, count_include_pad,
                          divisor_override)[0]
    return AvgPool2dFunction.apply(x, kernel_size, stride, padding, bool(ceil_mode),
                                   bool(count_include_pad), divisor_override)


def adaptive_avg_pool2d(x: Tensor, output_size) -> Tensor:
    """Average over windows chosen so that the output is ``output_size`` whatever the input.

    Output row :math:`i` of :math:`h_o` averages input rows
    :math:`\\lfloor iH/h_o \\rfloor \\le u < \\lceil (i+1)H/h_o \\rceil` (PyTorch's
    windows; they overlap when :math:`h_o` does not divide :math:`H`), and likewise for
    the columns. A window's mean is separable, so the whole operation is two matrix
    products with averaging matrices :math:`A_h` (:math:`h_o \\times H`) and
    :math:`A_w` (:math:`w_o \\times W`), and autograd derives the backward:

    .. math::

        y_{n,c} = A_h\\, x_{n,c}\\, A_w^\\top

    Parameters
    ----------
    x : Tensor
        ``(N, C, H, W)`` or ``(C, H, W)``.
    output_size : int or pair of (int or None)
        ``(h_o, w_o)``; None keeps that input size.
    """
    check_float("adaptive_avg_pool2d", input=x)
    if x.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected (N, C, H, W) or (C, H, W) input, "
                         f"got {x.shape}")
    height, width = x.shape[-2:]
    sizes = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else output_size
    if len(sizes) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, "
                         f"got {output_size!r}")
    out_h = height if sizes[0] is None else sizes[0]
    out_w = width if sizes[1] is None else sizes[1]
    pair((out_h, out_w), "adaptive_avg_pool2d: output_size", minimum=1)
    if height == 0 or width == 0:
        raise ValueError(f"adaptive_avg_pool2d: empty input of shape {x.shape}")
    rows = adaptive_average_matrix(height, out_h, x.dtype)
    cols = adaptive_average_matrix(width, out_w, x.dtype)
    pooled_columns = x @ cols.T  # (..., H, w_o): each row averaged over column windows
    return (pooled_columns.transpose(-1, -2) @ rows.T).transpose(-1, -2)  # (..., h_o, w_o)


def adaptive_average_matrix(size: int, out: int, dtype) -> np.ndarray:
    """``(out, size)`` matrix whose row ``i`` averages PyTorch's adaptive window ``i``."""
    matrix = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, stop = (i * size) // out, -(-((i + 1) * size) // out)
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix
