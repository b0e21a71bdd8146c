"""The convolution machinery under both the exact and the min-selector convolution:
geometry, im2col in chunks, and the exact backward (Eq. 1-2).

The derivation: docs/guides/minconv_math.rst, section 1.

Every output position ``p`` is one row of the column matrix ``cols`` (P x K, with
K = C_in * kh * kw), so the whole layer is one matrix product:

.. math::

    Y = \\mathrm{cols}\\, W^\\top + b, \\qquad W \\in \\mathbb{R}^{C_{out} \\times K}

and its backward is two more products plus col2im (the adjoint of im2col; for stride 1
the input gradient is also one convolution of ``G``, :func:`input_grad_by_convolution`):

.. math::

    \\frac{\\partial L}{\\partial W} = G^\\top \\mathrm{cols}, \\qquad
    \\frac{\\partial L}{\\partial x} = \\mathrm{col2im}(G W), \\qquad
    \\frac{\\partial L}{\\partial b} = \\textstyle\\sum_p G_p

where ``G`` is the output gradient laid out as P x C_out. It sits below both users,
:func:`tinymin.nn.functional.conv2d` and :func:`tinymin.minconv.functional.min_conv2d`,
which share the geometry, chunking and backward defined here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tinymin import _ext, overrides
from tinymin.ops.checks import pair

#: Bound (bytes) on one column matrix; larger batches are processed in image chunks.
_IM2COL_LIMIT_BYTES = 256 * 2**20


def set_im2col_limit(n_bytes: int) -> int:
    """Set the largest column matrix built at once (default 256 MiB); returns the old value.

    Above the bound, convolutions walk the batch in chunks of images and recompute
    the columns in backward instead of keeping them, so peak memory stays bounded.
    """
    global _IM2COL_LIMIT_BYTES
    if n_bytes <= 0:
        raise ValueError(f"set_im2col_limit: bound must be positive, got {n_bytes}")
    previous, _IM2COL_LIMIT_BYTES = _IM2COL_LIMIT_BYTES, int(n_bytes)
    return previous


def get_im2col_limit() -> int:
    """The current bound set by :func:`set_im2col_limit`."""
    return _IM2COL_LIMIT_BYTES


@dataclass(frozen=True)
class ConvGeometry:
    """Shapes of one convolution, validated once."""

    batch: int
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    out_h: int
    out_w: int

    @property
    def rows_per_image(self) -> int:
        return self.out_h * self.out_w

    @property
    def patch_size(self) -> int:
        """K = C_in * kh * kw: the length of one receptive field."""
        return self.in_channels * self.kernel[0] * self.kernel[1]


def conv_geometry(op: str, x_shape, w_shape, stride, padding, *,
                  quoted_shape: tuple[int, ...] | None = None) -> ConvGeometry:
    """Check an NCHW input against an (out, in, kh, kw) weight and compute output size.

    The batch may be empty (the output is then empty too); every weight dim must be
    positive, the stride positive and the padding non-negative. ``quoted_shape`` is
    the input shape the messages name, where it differs from ``x_shape``: an
    unbatched ``(C, H, W)`` image checked as a batch of one (see :func:`check_unbatched`).
    """
    shown = tuple(x_shape if quoted_shape is None else quoted_shape)
    if len(x_shape) != 4:
        raise ValueError(f"{op}: input must be (N, C, H, W), got shape {shown}")
    if len(w_shape) != 4:
        raise ValueError(f"{op}: weight must be (out, in, kh, kw), got shape {tuple(w_shape)}")
    if min(w_shape) <= 0:
        raise ValueError(f"{op}: weight shape {tuple(w_shape)} has an empty dim")
    if x_shape[1] != w_shape[1]:
        raise ValueError(
            f"{op}: input shape {shown} has {x_shape[1]} channels but weight shape "
            f"{tuple(w_shape)} expects {w_shape[1]}"
        )
    stride, padding = pair(stride, f"{op}: stride", 1), pair(padding, f"{op}: padding")
    kh, kw = w_shape[2], w_shape[3]
    out_h = (x_shape[2] + 2 * padding[0] - kh) // stride[0] + 1
    out_w = (x_shape[3] + 2 * padding[1] - kw) // stride[1] + 1
    if out_h <= 0 or out_w <= 0:
        raise ValueError(
            f"{op}: kernel {(kh, kw)} is larger than the padded input "
            f"{(x_shape[2] + 2 * padding[0], x_shape[3] + 2 * padding[1])} (input shape "
            f"{shown}, weight shape {tuple(w_shape)})"
        )
    cause = f"input shape {shown} with padding {padding}, stride {stride}"
    _ext.check_array_size(op, "a padded input", (x_shape[0], x_shape[1], x_shape[2] + 2 * padding[0],
                                                x_shape[3] + 2 * padding[1]), 4, cause)
    _ext.check_array_size(op, "an output", (x_shape[0], w_shape[0], out_h, out_w), 4, cause)
    _ext.check_array_size(op, "a column matrix of one image", (out_h * out_w, x_shape[1] * kh * kw),
                          4, f"{cause} and weight shape {tuple(w_shape)}")
    return ConvGeometry(batch=x_shape[0], in_channels=x_shape[1], out_channels=w_shape[0],
                        kernel=(kh, kw), stride=stride, padding=padding, out_h=out_h, out_w=out_w)


def same_padding(op: str, kernel: tuple[int, int], stride: tuple[int, int]
                 ) -> tuple[tuple[int, int], tuple[int, int]]:
    """``padding="same"``: the zeros on both sides, and the one more at the bottom and
    right that an even kernel needs (PyTorch's choice), so that the output has the
    input's size. Stride 1 only, as in PyTorch."""
    if tuple(stride) != (1, 1):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                         f"(stride={tuple(stride)}), as in PyTorch")
    total = tuple(k - 1 for k in kernel)  # the zeros 'same' needs per axis
    both = tuple(t // 2 for t in total)
    return both, tuple(t - 2 * b for t, b in zip(total, both))  # type: ignore[return-value]


def check_unbatched(op: str, x_shape, w_shape, stride, padding) -> None:
    """Check the input of an op that takes a batch or one unbatched ``(C, H, W)`` image
    (PyTorch takes such an image as a batch of one): its number of dims, and an image
    as :func:`conv_geometry` checks a batch, with messages that name its own shape."""
    if len(x_shape) not in (3, 4):
        raise ValueError(f"{op}: input must be (N, C, H, W), or (C, H, W) for one unbatched "
                         f"image, got shape {tuple(x_shape)}")
    if len(x_shape) == 3:
        conv_geometry(op, (1, *x_shape), w_shape, stride, padding, quoted_shape=tuple(x_shape))


def image_chunks(geom: ConvGeometry, itemsize: int) -> Iterator[slice]:
    """Slices of the batch whose column matrices each stay under the im2col bound."""
    bytes_per_image = geom.rows_per_image * geom.patch_size * itemsize
    per_chunk = max(1, _IM2COL_LIMIT_BYTES // max(bytes_per_image, 1))
    for start in range(0, geom.batch, per_chunk):
        yield slice(start, min(start + per_chunk, geom.batch))


def fits_in_one_chunk(geom: ConvGeometry, itemsize: int) -> bool:
    """Whether the whole batch's column matrix stays under the im2col bound (then the
    forward may keep it for the weight gradient instead of rebuilding it)."""
    return geom.batch * geom.rows_per_image * geom.patch_size * itemsize <= _IM2COL_LIMIT_BYTES


def im2col(x: np.ndarray, geom: ConvGeometry, out: np.ndarray | None = None) -> np.ndarray:
    """Column matrix of ``x`` (rows = output positions, columns = patch elements),
    written into ``out`` if given (a learner's im2col may return its own array)."""
    return _ext.im2col(np.ascontiguousarray(x), geom.kernel, geom.stride, geom.padding, out=out)


#: Column matrices handed back after backward, by (shape, dtype): see take_columns.
_column_pool: dict[tuple[tuple[int, ...], str], list[np.ndarray]] = {}
_column_pool_lock = threading.Lock()
#: At most this many free matrices of one shape wait in the pool.
_POOL_DEPTH = 2


def take_columns(shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """An uninitialised (P, K) array for a column matrix that a forward keeps for
    backward: one handed back by :func:`give_back_columns`, or a new one.

    A new array of LeNet conv2's 40 MB costs its page faults on first touch, about
    4 ms per step at one or two threads; the forward and backward of a layer run
    once per step, so the same few matrices can serve every step.
    """
    with _column_pool_lock:
        free = _column_pool.get((tuple(shape), np.dtype(dtype).str))
        if free:
            return free.pop()
    return np.empty(shape, dtype)


def give_back_columns(cols: np.ndarray) -> None:
    """Return a matrix from :func:`take_columns` once nothing will read it again
    (its Function's ``ctx.release``, after backward)."""
    with _column_pool_lock:
        free = _column_pool.setdefault((cols.shape, cols.dtype.str), [])
        if len(free) < _POOL_DEPTH and not any(c is cols for c in free):
            free.append(cols)


def keep_columns(ctx, x: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """A column matrix for ``x`` (not yet filled) that goes back to the pool when
    ``ctx`` releases what it saved."""
    cols = take_columns((x.shape[0] * geom.rows_per_image, geom.patch_size), x.dtype)
    ctx.call_on_release(lambda: give_back_columns(cols))
    return cols


def fused_kernels_apply(*arrays: np.ndarray) -> bool:
    """Whether the fused im2col kernels may run: a build that has them, no learner's
    im2col swapped in (``tinymin.exercises.use``), one dtype."""
    return (_ext.has_fused_gemm() and overrides.lookup("im2col") is None
            and len({a.dtype for a in arrays}) == 1)


#: From this patch size K = C_in kh kw up, where the fused kernels apply, the weight
#: gradient reads the input itself instead of a kept column matrix: LeNet's conv2
#: (K = 800) forward + weight gradient 35 -> 26 ms at one thread; its conv1 (K = 25,
#: 32 filters) was faster with the columns kept, 2.6 against 3.2 ms.
IMPLICIT_MIN_PATCH = 64


def columns_needed(x: np.ndarray, weight: np.ndarray, geom: ConvGeometry) -> bool:
    """Whether the weight gradient needs the column matrix kept from the forward; not
    where :func:`fused_kernels_apply` and the patch is at least ``IMPLICIT_MIN_PATCH``
    long: then :func:`tinymin._ext.conv_weight_grad_of_input` reads ``x`` itself."""
    return not (fused_kernels_apply(x, weight) and geom.patch_size >= IMPLICIT_MIN_PATCH)


def exact_conv(x: np.ndarray, w_rows: np.ndarray, bias: np.ndarray | None, geom: ConvGeometry,
               cols: np.ndarray | None, out: np.ndarray) -> np.ndarray | None:
    """:math:`Y = \\mathrm{cols}(x)\\,W^\\top + b` written into ``out`` (NCHW); returns
    the column matrix for the weight gradient: written into ``cols`` (P x K, from
    :func:`keep_columns`) if given, else not kept (None).

    Where :func:`fused_kernels_apply` it is one kernel: each block of columns is
    multiplied, transposed into NCHW and given its bias while it is in the cache, and
    without ``cols`` the column matrix is never written at all. Elsewhere im2col, one
    BLAS product, a transposing copy and the bias (a learner's im2col may return its
    own array instead of filling ``cols``: that one is returned).
    """
    if fused_kernels_apply(x, w_rows, *([] if bias is None else [bias])):
        _ext.im2col_gemm(np.ascontiguousarray(x), np.ascontiguousarray(w_rows), geom.kernel,
                         geom.stride, geom.padding, cols=cols, out=out,
                         bias=None if bias is None else np.ascontiguousarray(bias), nchw=True)
        return cols
    kept = None if cols is None else im2col(x, geom, out=cols)
    unfolded = im2col(x, geom) if kept is None else kept
    # one product for the whole chunk, transposed into NCHW once (one matrix product per
    # image would skip the copy, but wakes BLAS's threads 64 times: 30x slower on two
    # busy cores)
    rows_to_nchw(unfolded @ w_rows.T, x.shape[0], geom, out=out)
    if bias is not None:
        out += bias.reshape(1, -1, 1, 1)
    return kept


def rows_to_nchw(rows: np.ndarray, n_images: int, geom: ConvGeometry,
                 out: np.ndarray | None = None) -> np.ndarray:
    """(P, C_out) rows, one per output position, -> an NCHW array (written into ``out``)."""
    nchw = rows.reshape(n_images, geom.out_h, geom.out_w, geom.out_channels)  # n_images may be 0
    nchw = nchw.transpose(0, 3, 1, 2)
    if out is None:
        return np.ascontiguousarray(nchw)
    np.copyto(out, nchw)
    return out


def nchw_to_rows(grad: np.ndarray) -> np.ndarray:
    """NCHW output gradient -> (P, C_out), matching the rows of ``cols``."""
    return np.ascontiguousarray(grad.transpose(0, 2, 3, 1)).reshape(-1, grad.shape[1])


#: Each thread's reusable buffer for the input gradient's columns (see _dcols_buffer).
_scratch = threading.local()


def _dcols_buffer(shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """A (K, P) array for :math:`(G W)^\\top`, kept between calls of this thread.

    The columns of the input gradient live only inside :func:`conv_backward` (col2im
    reads them and returns a new array), and a fresh array of their size costs the
    kernel's page zeroing on every step: about 2 ms for LeNet conv2's 40 MB, half of
    what col2im then takes. One buffer per thread, replaced when the shape changes.
    """
    buffer = getattr(_scratch, "dcols_t", None)
    if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
        buffer = np.empty(shape, dtype)
        _scratch.dcols_t = buffer
    return buffer


def weight_grad(cols: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """:math:`\\partial L/\\partial W = G^\\top \\mathrm{cols}` (C_out x K) from the NCHW
    output gradient ``grad`` of the images whose columns ``cols`` holds: one kernel
    that reads ``grad`` as it is (:func:`tinymin._ext.conv_weight_grad`), or, for
    mixed dtypes, the transposed gradient and one BLAS product."""
    if cols.dtype == grad.dtype:
        return _ext.conv_weight_grad(np.ascontiguousarray(cols), np.ascontiguousarray(grad))
    return nchw_to_rows(grad).T @ cols


#: The input gradient is one convolution (:func:`input_grad_by_convolution`) from this
#: many input channels up. Measured at one thread, batch 64 (benchmarks/README.md,
#: bench_conv_backward.py): with 16 to 128 channels it took 0.31-0.68x the time of
#: col2im(G W); with 8, 4 and 1 channel 1.12x, 1.81x and 2.74x (the fused kernel's
#: tile is 16 filters wide, and its filters here are the layer's input channels).
TRANSPOSED_MIN_CHANNELS = 16


def input_grad_by_convolution_applies(grad: np.ndarray, weight: np.ndarray,
                                      geom: ConvGeometry) -> bool:
    """Whether :func:`conv_backward` computes the input gradient by
    :func:`input_grad_by_convolution`: where the fused kernels are built and in use
    (:func:`tinymin._ext.has_fused_gemm`) and ``grad`` and ``weight`` share a dtype,
    for stride 1 and padding at most ``kernel - 1`` (else the transposed convolution
    would need a dilated or cropped gradient), with at least
    ``TRANSPOSED_MIN_CHANNELS`` input channels (its output channels: fewer fill too
    little of the kernel's 16-wide tile). A learner's im2col swapped in does not
    change the route: neither route unfolds anything, so a run with the learner's
    pieces and one with tinymin's give the same bits."""
    (kh, kw), (ph, pw) = geom.kernel, geom.padding
    return (_ext.has_fused_gemm() and grad.dtype == weight.dtype and geom.stride == (1, 1)
            and ph <= kh - 1 and pw <= kw - 1
            and geom.in_channels >= TRANSPOSED_MIN_CHANNELS)


def input_grad_by_convolution(grad: np.ndarray, weight: np.ndarray, geom: ConvGeometry,
                              out: np.ndarray | None = None) -> np.ndarray:
    """:math:`\\partial L/\\partial x` for stride 1 as one convolution of the output
    gradient, by the fused kernel (:func:`tinymin._ext.im2col_gemm`), no column matrix:

    .. math::

        \\frac{\\partial L}{\\partial x} = \\operatorname{conv2d}\\big(G,\\ \\tilde W,\\
        \\text{padding} = k - 1 - p\\big), \\qquad
        \\tilde W_{c_{in}, c_{out}, u, v} = W_{c_{out}, c_{in}, k_h - 1 - u, k_w - 1 - v}

    (the filters with in and out channels swapped and turned by 180 degrees: the
    "transposed convolution"). It is :math:`\\mathrm{col2im}(G W)` summed in another
    order: pixel :math:`x_{h, w}` receives :math:`G_{h + p - u,\\, w + p - v}\\,
    W_{u, v}` from every output whose window covered it, and reading those outputs as
    a window of the padded :math:`G` is a convolution. LeNet's conv2 never builds
    its 40 MB of gradient columns this way. ``grad``: (N, C_out, OH, OW), C-contiguous
    or not; the result, (N, C_in, H, W), is written into ``out`` if given.
    """
    (kh, kw), (ph, pw) = geom.kernel, geom.padding
    flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C_in, C_out, kh, kw)
    w_rows = np.ascontiguousarray(flipped).reshape(geom.in_channels, -1)
    return _ext.im2col_gemm(np.ascontiguousarray(grad), w_rows, geom.kernel, (1, 1),
                            (kh - 1 - ph, kw - 1 - pw), out=out, nchw=True)


def conv_backward(grad: np.ndarray, x: np.ndarray, weight: np.ndarray, geom: ConvGeometry,
                  cols: np.ndarray | None, need_x: bool,
                  need_w: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Exact gradients of :math:`Y = \\mathrm{cols}(x)\\,W^\\top` for inputs and weights.

    ``cols`` is the saved column matrix of ``x`` (or None: then it is rebuilt chunk
    by chunk). Returns ``(dx, dw)``; an entry not needed is None (the bias gradient
    is the caller's: a sum of ``grad``).
    """
    w2 = weight.reshape(geom.out_channels, -1)
    dx = np.empty_like(x) if need_x else None
    dw = np.zeros_like(w2) if need_w else None
    if need_x and input_grad_by_convolution_applies(grad, weight, geom):
        input_grad_by_convolution(grad, weight, geom, out=dx)
        need_x = False  # done: the chunks below are for dw only
    chunks = [slice(0, geom.batch)] if cols is not None else image_chunks(geom, x.itemsize)
    if need_w and cols is None and not columns_needed(x, weight, geom):
        dw += _ext.conv_weight_grad_of_input(np.ascontiguousarray(x), np.ascontiguousarray(grad),
                                             geom.kernel, geom.stride, geom.padding)
        need_w = False  # done: the chunks below are for dx only
    for chunk in chunks:
        if need_w:
            chunk_cols = cols if cols is not None else im2col(x[chunk], geom)
            dw += weight_grad(chunk_cols, grad[chunk])
        if need_x:
            # dcols = G W, computed as (W^T G^T)^T: the same GEMM, but each column of
            # dcols comes out contiguous, the layout col2im folds fastest
            g_rows = nchw_to_rows(grad[chunk])
            dcols_t = _dcols_buffer((w2.shape[1], g_rows.shape[0]), np.result_type(w2, g_rows))
            np.matmul(w2.T, g_rows.T, out=dcols_t)
            dx[chunk] = _ext.col2im(dcols_t.T, x[chunk].shape, geom.kernel, geom.stride,
                                    geom.padding)
    return dx, (dw.reshape(weight.shape) if dw is not None else None)
