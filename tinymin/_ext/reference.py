"""Numpy twins of the Cython kernels: the same functions, written to be read.

With ``TINYMIN_BACKEND=numpy`` (or ``tinymin._ext.use_backend("numpy")``) every
convolution in tinymin runs through this file, so a debugger steps into plain numpy
code. Each function has exactly the signature of its Cython twin in
``_im2col.pyx`` / ``_min_gemm.pyx`` / ``_selector_gemm.pyx``. Arguments are checked, and int arguments
turned into pairs, by the public wrappers in ``tinymin/_ext/__init__.py``; call those
(``tinymin._ext.im2col`` ...) rather than these directly.

Notation (docs/guides/minconv_math.rst): an input ``x`` of shape (N, C, H, W), a kernel (KH, KW), stride
(SH, SW), zero padding (PH, PW), output size

    OH = (H + 2 PH - KH) // SH + 1,    OW = (W + 2 PW - KW) // SW + 1,

``P = N*OH*OW`` output positions, ``K = C*KH*KW`` values per receptive field.
"""

from __future__ import annotations

import numpy as np

# Row chunks of the GEMMs are sized so that one temporary stays about this big
# (1 MB: about the L2 cache; 4x bigger chunks ran the twin 1.5x slower).
_CHUNK_BYTES = 2**20


def _out_size(h, w, kernel_size, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _rows_per_chunk(row_bytes: int, budget: int = _CHUNK_BYTES) -> int:
    return max(1, budget // max(1, row_bytes))


# --------------------------------------------------------------------------- im2col
def im2col(x, kernel_size, stride=(1, 1), padding=(0, 0), out=None):
    r"""Unfold every receptive field of ``x`` into one row of a matrix.

    .. math::

        \mathrm{cols}[(n\,OH + i)\,OW + j,\ (c\,KH + u)\,KW + v]
            = x_{\mathrm{pad}}[n, c,\ i\,SH + u,\ j\,SW + v]

    where ``x_pad`` is ``x`` with PH (PW) zero rows (columns) added on each side.
    Then ``cols @ w.reshape(C_out, -1).T`` is the convolution of Eq. 2
    (docs/guides/minconv_math.rst, section 1; cross-correlation, as in PyTorch).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64, C-contiguous
    kernel_size, stride, padding : (int, int)
    out : ndarray, shape (N*OH*OW, C*KH*KW), optional
        Buffer to write into (same dtype as ``x``).

    Returns
    -------
    cols : ndarray, shape (N*OH*OW, C*KH*KW)

    Notes
    -----
    The loop runs over the KH*KW kernel offsets (u, v), not over output positions:
    for a fixed (u, v), the values that offset sees at every output position form
    the strided slice ``x_pad[:, :, u : u + SH*OH : SH, v : v + SW*OW : SW]``, one
    numpy copy each.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = _out_size(h, w, kernel_size, stride, padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    if out is None:
        out = np.empty((n * oh * ow, c * kh * kw), dtype=x.dtype)
    # View the output as (n, i, j, c, u, v): its C-order flattening is the layout above.
    cols6 = out.reshape(n, oh, ow, c, kh, kw)
    for u in range(kh):
        for v in range(kw):
            patch = x_pad[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw]  # (n, c, i, j)
            cols6[:, :, :, :, u, v] = patch.transpose(0, 2, 3, 1)
    return out


def col2im(cols, x_shape, kernel_size, stride=(1, 1), padding=(0, 0)):
    r"""Fold the rows of ``cols`` back onto the input: the adjoint of :func:`im2col`.

    .. math::

        dx[n, c, h, w] = \sum_{(i, j, u, v):\ i\,SH + u - PH = h,\ j\,SW + v - PW = w}
            \mathrm{cols}[(n\,OH + i)\,OW + j,\ (c\,KH + u)\,KW + v]

    Every entry goes back to the pixel it was copied from; pixels read by several
    windows receive the sum, entries that came from the padding are dropped. So
    ``<im2col(x), cols> == <x, col2im(cols)>`` for all ``x`` and ``cols``: this is the
    input gradient of im2col, used by the convolution's backward pass.

    Parameters
    ----------
    cols : ndarray, shape (N*OH*OW, C*KH*KW), float32 or float64
    x_shape : (N, C, H, W)
    kernel_size, stride, padding : (int, int)

    Returns
    -------
    dx : ndarray, shape ``x_shape``, dtype of ``cols``
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = _out_size(h, w, kernel_size, stride, padding)
    dx_pad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    cols6 = cols.reshape(n, oh, ow, c, kh, kw)
    for u in range(kh):
        for v in range(kw):
            # the same strided slice im2col read from, now added to (a slice-add:
            # within one (u, v) no two output positions hit the same pixel)
            dx_pad[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw] += cols6[:, :, :, :, u, v].transpose(
                0, 3, 1, 2
            )
    return dx_pad[:, :, ph : ph + h, pw : pw + w].copy() if ph or pw else dx_pad


# ------------------------------------------------------------------ selector GEMMs
def min_gemm(cols, w_hat, out=None):
    r"""Min-selector GEMM, the approximate convolution of Eq. 13
    (docs/guides/minconv_math.rst, section 4).

    .. math::

        \mathrm{out}[p, c] = \sum_k m(\mathrm{cols}[p, k],\ \hat w[c, k]),
        \qquad m(a, b) = \mathrm{sgn}(a)\,\mathrm{sgn}(b)\,\min(|a|, |b|)

    Parameters
    ----------
    cols : ndarray, shape (P, K), float32 or float64
    w_hat : ndarray, shape (C, K), same dtype
    out : ndarray, shape (P, C), optional

    Returns
    -------
    out : ndarray, shape (P, C)

    Notes
    -----
    Written with the identity

    .. math::  m(x, w) = \mathrm{sgn}(w)\ \mathrm{clip}(x, -|w|, |w|)

    *Proof.* If ``w = 0`` both sides are 0. Otherwise, if ``|x| <= |w|`` the clip
    returns ``x`` and the right side is ``sgn(w) x = sgn(w) sgn(x) |x|``, which is
    the left side since ``min = |x|``. If ``|x| > |w|`` the clip returns
    ``sgn(x) |w|`` and the right side is ``sgn(w) sgn(x) |w|``, again the left side
    (``min = |w|``). (``x = 0`` falls in the first case: both sides 0.)

    So for one filter ``c``, with ``a = |w_hat[c]|`` and ``s = sgn(w_hat[c])``,
    ``out[:, c] = clip(cols, -a, a) @ s``: one clip (no multiplication) and one sum
    of terms with signs ``s`` (written as a matrix-vector product because numpy has
    no faster way to add with signs). Rows go in chunks so the temporary
    ``clip(cols, ...)`` stays about 1 MB whatever P is.
    """
    p, k = cols.shape
    n_filters = w_hat.shape[0]
    if out is None:
        out = np.empty((p, n_filters), dtype=cols.dtype)
    bound = np.abs(w_hat)  # |w|, (C, K)
    neg_bound = -bound  # -|w|
    sign = np.sign(w_hat)  # sgn(w), (C, K)
    step = _rows_per_chunk(k * cols.itemsize)
    clipped = np.empty((min(step, p), k), dtype=cols.dtype)
    for r0 in range(0, p, step):
        x = cols[r0 : r0 + step]
        buf = clipped[: len(x)]
        for c in range(n_filters):
            # clip(x, -|w|, |w|), as a max then a min (np.clip with array bounds
            # is 2-3x slower than these two plain ufuncs)
            np.maximum(x, neg_bound[c], out=buf)
            np.minimum(buf, bound[c], out=buf)
            out[r0 : r0 + len(x), c] = buf @ sign[c]  # sum_k sgn(w_k) * clip_k
    return out


def im2col_min_gemm(x, w_hat, kernel_size, stride=(1, 1), padding=(0, 0), cols=None, out=None,
                    nchw=False, scale=None, bias=None):
    r"""The min-selector convolution's core in one call: ``min_gemm(im2col(x), w_hat)``.

    .. math::

        \mathrm{out}[p, c] = \sum_k m(\mathrm{im2col}(x)[p, k],\ \hat w[c, k])

    ``cols``, if given, receives ``im2col(x)`` (for a caller that keeps it, e.g. for
    the weight gradient); with ``nchw`` the result is (N, C, OH, OW), channel c times
    ``scale[c]`` if given; ``bias[c]`` is added after that. Here the two
    steps simply run one after the other; the Cython twin works on a block of rows at a
    time while it is in the cache.
    """
    cols = im2col(x, kernel_size, stride, padding, cols)
    if not nchw:
        rows = min_gemm(cols, w_hat, out)
        if bias is not None:
            rows += bias
        return rows
    n, (oh, ow) = x.shape[0], _out_size(x.shape[2], x.shape[3], kernel_size, stride, padding)
    rows = min_gemm(cols, w_hat).reshape(n, oh, ow, w_hat.shape[0]).transpose(0, 3, 1, 2)
    if scale is not None:
        rows = rows * scale.reshape(1, -1, 1, 1)
    if bias is not None:
        rows = rows + bias.reshape(1, -1, 1, 1)
    if out is None:
        return np.ascontiguousarray(rows)
    np.copyto(out, rows)
    return out


def im2col_gemm(x, w, kernel_size, stride=(1, 1), padding=(0, 0), cols=None, out=None,
                bias=None, nchw=False):
    r"""The exact convolution's core in one call: ``im2col(x) @ w.T`` (+ ``bias``).

    .. math::

        \mathrm{out}[p, c] = \sum_k \mathrm{im2col}(x)[p, k]\; w[c, k]\ (+\, b_c)

    ``cols`` as in :func:`im2col_min_gemm`; with ``nchw`` the result is the layer's
    (N, C, OH, OW) array. The Cython twin (in builds with AVX-512DQ) unfolds a block of
    rows at a time and multiplies (and transposes) it while it is in the cache; this
    one calls BLAS on the whole column matrix.
    """
    cols = im2col(x, kernel_size, stride, padding, cols)
    rows = cols @ w.T
    if bias is not None:
        rows += bias
    if nchw:
        n, (oh, ow) = x.shape[0], _out_size(x.shape[2], x.shape[3], kernel_size, stride, padding)
        rows = rows.reshape(n, oh, ow, w.shape[0]).transpose(0, 3, 1, 2)
    if out is None:
        return np.ascontiguousarray(rows)
    np.copyto(out, rows)
    return out


def max_gemm(cols, w, out=None):
    r"""Max-selector GEMM (the ablation of docs/guides/minconv_math.rst, section 2).

    .. math::

        \mathrm{out}[p, c] = \sum_k \mathrm{sgn}(\mathrm{cols}[p, k])\,
            \mathrm{sgn}(w[c, k])\,\max(|\mathrm{cols}[p, k]|, |w[c, k]|)

    Parameters
    ----------
    cols : ndarray, shape (P, K), float32 or float64
    w : ndarray, shape (C, K), same dtype
    out : ndarray, shape (P, C), optional

    Returns
    -------
    out : ndarray, shape (P, C)

    Notes
    -----
    No clip identity here: for each filter, ``sgn(x) * max(|x|, |w|)`` is formed for a
    chunk of rows and summed with the signs of ``w``. A zero in either operand gives
    0, because of the ``sgn`` factors.
    """
    p, k = cols.shape
    n_filters = w.shape[0]
    if out is None:
        out = np.empty((p, n_filters), dtype=cols.dtype)
    bound = np.abs(w)
    sign = np.sign(w)
    step = _rows_per_chunk(3 * k * cols.itemsize)
    for r0 in range(0, p, step):
        x = cols[r0 : r0 + step]
        abs_x, sign_x = np.abs(x), np.sign(x)
        for c in range(n_filters):
            term = sign_x * np.maximum(abs_x, bound[c])  # sgn(x) max(|x|, |w|)
            out[r0 : r0 + len(x), c] = term @ sign[c]  # ... times sgn(w), summed
    return out


def adder_gemm(cols, w, out=None):
    r"""AdderNet-style GEMM: minus the L1 distance between patch and filter.

    .. math::

        \mathrm{out}[p, c] = -\sum_k |\mathrm{cols}[p, k] - w[c, k]|

    Parameters
    ----------
    cols : ndarray, shape (P, K), float32 or float64
    w : ndarray, shape (C, K), same dtype
    out : ndarray, shape (P, C), optional

    Returns
    -------
    out : ndarray, shape (P, C)
    """
    p, k = cols.shape
    n_filters = w.shape[0]
    if out is None:
        out = np.empty((p, n_filters), dtype=cols.dtype)
    step = _rows_per_chunk(k * cols.itemsize)
    diff = np.empty((min(step, p), k), dtype=cols.dtype)
    for r0 in range(0, p, step):
        x = cols[r0 : r0 + step]
        buf = diff[: len(x)]
        for c in range(n_filters):
            np.subtract(x, w[c], out=buf)
            np.abs(buf, out=buf)
            out[r0 : r0 + len(x), c] = -buf.sum(axis=1)
    return out


# ------------------------------------------------------------------ optimizer update
def conv_weight_grad(cols, grad, out):
    r"""The convolution's weight gradient :math:`G^\top \mathrm{cols}`, from the NCHW
    output gradient.

    .. math::

        \frac{\partial L}{\partial W_{c,k}} = \sum_n \sum_q
            \mathrm{grad}[n, c, q]\; \mathrm{cols}[n Q + q,\ k]

    The gradient transposed to P x C rows (the rows of ``cols``), then one BLAS
    product, written into ``out`` (C x K).
    """
    g_rows = np.ascontiguousarray(grad.transpose(0, 2, 3, 1)).reshape(-1, grad.shape[1])
    return np.matmul(g_rows.T, cols, out=out)


def conv_weight_grad_of_input(x, grad, kernel_size, stride, padding, out):
    r"""The weight gradient of the convolution of ``x``: :func:`conv_weight_grad` on
    ``im2col(x)``, here with the column matrix built (the Cython twin reads ``x``
    where the columns would have been copied from)."""
    return conv_weight_grad(im2col(x, kernel_size, stride, padding), grad, out)


def leaky_relu_backward(y, grad, alpha, out):
    r"""The leaky ReLU's input gradient from its output ``y`` (slope ``alpha >= 0``).

    .. math::

        \frac{\partial L}{\partial x_i} = g_i \cdot \begin{cases} 1 & y_i > 0 \\
        \alpha & \text{otherwise} \end{cases}
        = g_i \max([y_i > 0], \alpha)

    The slope as an array, then a product (a masked select such as ``np.where`` on a
    random sign pattern mispredicts a branch per element). Written into ``out``.
    """
    np.greater(y, 0, out=out)  # 1 where y > 0, else 0 ...
    np.maximum(out, alpha, out=out)  # ... and alpha for the 0s
    with np.errstate(invalid="ignore"):  # 0 * inf is NaN, as in the kernel, silently
        out *= grad
    return out


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, beta1, beta2, step_size,
                sqrt_bias_correction2, eps):
    r"""One Adam step, in place: the update of :class:`tinymin.optim.Adam` for one array.

    .. math::

        m &\leftarrow \beta_1 m + (1 - \beta_1)\, g \\
        v &\leftarrow \beta_2 v + (1 - \beta_2)\, g^2 \\
        \theta &\leftarrow \theta - \eta_t\, \frac{m}{\sqrt{v} / \sqrt{1 - \beta_2^t} + \epsilon}

    with ``step_size`` :math:`\eta_t = \gamma / (1 - \beta_1^t)` and
    ``sqrt_bias_correction2`` :math:`\sqrt{1 - \beta_2^t}`. With AMSGrad
    (``max_exp_avg_sq`` not None) the last line uses :math:`\max(v_{max}, v)`, which
    is also stored in ``max_exp_avg_sq``.

    Parameters
    ----------
    param, grad, exp_avg, exp_avg_sq : ndarray, one shape and dtype (float32 or float64)
        ``param`` (:math:`\theta`), ``exp_avg`` (:math:`m`) and ``exp_avg_sq``
        (:math:`v`) are updated in place; ``grad`` (:math:`g`) is only read.
    max_exp_avg_sq : ndarray or None
        The running maximum of :math:`v` (AMSGrad), or None.
    beta1, beta2, step_size, sqrt_bias_correction2, eps : float

    Notes
    -----
    Each line is one numpy operation writing into an existing array (``out=``, or an
    in-place operator), so the only new array is ``work``. The Cython twin does the
    same arithmetic in one pass over memory.
    """
    work = np.empty_like(param)
    exp_avg *= beta1  # m = beta1 m + (1 - beta1) g
    exp_avg += np.multiply(grad, 1 - beta1, out=work)
    exp_avg_sq *= beta2  # v = beta2 v + (1 - beta2) g^2
    np.multiply(grad, 1 - beta2, out=work)
    work *= grad
    exp_avg_sq += work
    v = exp_avg_sq
    if max_exp_avg_sq is not None:
        v = np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    denom = np.sqrt(v, out=work)  # sqrt(v) / sqrt(1 - beta2^t) + eps
    denom /= sqrt_bias_correction2
    denom += eps
    step = np.divide(exp_avg, denom, out=work)  # step_size * m / denom
    step *= step_size
    param -= step


# ------------------------------------------------------------ naive versions (benchmark)
def naive_min_gemm(cols, w_hat, out=None):
    r"""Min-selector GEMM by direct broadcasting: the slow, obvious numpy version.

    .. math::

        \mathrm{out}[p, c] = \sum_k \mathrm{sgn}(x_{pk})\,\mathrm{sgn}(\hat w_{ck})\,
            \min(|x_{pk}|, |\hat w_{ck}|)

    computed as ``(sign(x)[:, None] * sign(w)[None] * minimum(|x|[:, None],
    |w|[None])).sum(-1)`` on chunks of rows, each chunk a (rows, C, K) temporary of
    about 4 MB. Kept as the baseline of ``benchmarks/bench_kernels.py`` and as a
    check of :func:`min_gemm`.

    Parameters
    ----------
    cols : ndarray, shape (P, K)
    w_hat : ndarray, shape (C, K), same dtype
    out : ndarray, shape (P, C), optional

    Returns
    -------
    out : ndarray, shape (P, C)
    """
    p, k = cols.shape
    n_filters = w_hat.shape[0]
    if out is None:
        out = np.empty((p, n_filters), dtype=cols.dtype)
    step = _rows_per_chunk(n_filters * k * cols.itemsize, budget=4 * _CHUNK_BYTES)
    sw, aw = np.sign(w_hat)[None], np.abs(w_hat)[None]  # (1, C, K)
    for r0 in range(0, p, step):
        x = cols[r0 : r0 + step, None, :]  # (rows, 1, K)
        out[r0 : r0 + step] = (np.sign(x) * sw * np.minimum(np.abs(x), aw)).sum(-1)
    return out
