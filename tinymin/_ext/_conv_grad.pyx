# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The convolution's weight gradient from the NCHW output gradient (AVX-512 builds):
from the column matrix (``conv_weight_grad``), or from the input itself, with no
column matrix (``conv_weight_grad_of_input``).

``dw[c, k] = sum_n sum_q grad[n, c, q] * cols[n * Q + q, k]``: the product
:math:`G^\\top \\mathrm{cols}` of docs/guides/minconv_math.rst, section 1, with ``G``
read in the layout the layer's output gradient arrives in (NCHW) instead of the
transposed P x C copy that BLAS needs. The tile and why it is laid out so:
``_weight_grad.h``. The images go in fixed groups (``group_size``), each group summed
into its own C x K partial sum by whichever OpenMP thread takes it, and the partial
sums are added up in group order at the end: the result does not depend on the
number of threads or on which thread took which group (a partial sum per thread,
filled as the threads happen to finish, changed the last bits from run to run).

The public, validating entry points are :func:`tinymin._ext.conv_weight_grad` and
:func:`tinymin._ext.conv_weight_grad_of_input`; their numpy twins are in
``tinymin._ext.reference``.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange

from tinymin._ext._fused import _padded_input
from tinymin._ext.threads import num_threads as _num_threads

cdef extern from "_weight_grad.h":
    const bint TINYMIN_HAS_WGRAD
    void tinymin_wgrad_f(const float* cols, const float* grad, Py_ssize_t n0, Py_ssize_t n1,
                         Py_ssize_t C, Py_ssize_t Q, Py_ssize_t K, float* dw) noexcept nogil
    void tinymin_wgrad_d(const double* cols, const double* grad, Py_ssize_t n0, Py_ssize_t n1,
                         Py_ssize_t C, Py_ssize_t Q, Py_ssize_t K, double* dw) noexcept nogil

    void tinymin_wgrad_implicit_f(const float* x, const Py_ssize_t* rowoff,
                                  const Py_ssize_t* koff, const float* g_rows, Py_ssize_t n0,
                                  Py_ssize_t n1, Py_ssize_t Q, Py_ssize_t K, Py_ssize_t C,
                                  float* dwt) noexcept nogil
    void tinymin_wgrad_implicit_d(const double* x, const Py_ssize_t* rowoff,
                                  const Py_ssize_t* koff, const double* g_rows, Py_ssize_t n0,
                                  Py_ssize_t n1, Py_ssize_t Q, Py_ssize_t K, Py_ssize_t C,
                                  double* dwt) noexcept nogil

#: Whether this build has the kernel (AVX-512F); elsewhere the caller uses BLAS.
HAS_WGRAD = bool(TINYMIN_HAS_WGRAD)


def conv_weight_grad(cols, grad, out):
    """``out = G^T cols`` with ``G`` the (N, C, OH, OW) ``grad``; arguments checked by
    :func:`tinymin._ext.conv_weight_grad`."""
    if not HAS_WGRAD:
        raise RuntimeError("conv_weight_grad needs a build with AVX-512 (HAS_WGRAD)")
    N, C = grad.shape[0], grad.shape[1]
    if grad.size == 0 or cols.size == 0:  # no images, positions or columns: no sum
        out[...] = 0
        return out
    size = group_size(N)
    partial = np.zeros((max(1, -(-N // size)), C, cols.shape[1]), cols.dtype)
    if cols.dtype == np.float32:
        _run[float](cols, grad.reshape(N, C, -1), partial, size, _num_threads())
    else:
        _run[double](cols, grad.reshape(N, C, -1), partial, size, _num_threads())
    np.sum(partial, axis=0, out=out)
    return out


def group_size(n_images: int) -> int:
    """Images per partial sum: 8, or more for a batch over 512, so that there are at
    most 64 partial sums (64 C x K arrays)."""
    return max(8, -(-n_images // 64))


cdef _run(const floating[:, ::1] cols, const floating[:, :, ::1] grad,
          floating[:, :, ::1] partial, Py_ssize_t size, int nt):
    cdef Py_ssize_t N = grad.shape[0], C = grad.shape[1], Q = grad.shape[2], K = cols.shape[1]
    cdef Py_ssize_t g, n0, n1
    if N == 0 or C == 0 or Q == 0 or K == 0:
        return
    for g in prange(partial.shape[0], nogil=True, schedule="dynamic", num_threads=nt):
        n0 = g * size
        n1 = N if n0 + size > N else n0 + size
        if floating is float:
            tinymin_wgrad_f(&cols[0, 0], &grad[0, 0, 0], n0, n1, C, Q, K, &partial[g, 0, 0])
        else:
            tinymin_wgrad_d(&cols[0, 0], &grad[0, 0, 0], n0, n1, C, Q, K, &partial[g, 0, 0])


def conv_weight_grad_of_input(x, grad, kernel_size, stride, padding, out):
    """``out = G^T im2col(x)`` without the column matrix: the tile reads the zero-padded
    input itself (``_weight_grad.h``, "implicit"); arguments checked by
    :func:`tinymin._ext.conv_weight_grad_of_input`. Same groups of images, same order of
    the sums, so the same bits as :func:`conv_weight_grad` on ``im2col(x)``."""
    if not HAS_WGRAD:
        raise RuntimeError("conv_weight_grad_of_input needs a build with AVX-512 (HAS_WGRAD)")
    N, C, OH, OW = grad.shape
    if grad.size == 0 or x.size == 0:
        out[...] = 0
        return out
    xpad, koff = _padded_input(x, kernel_size, padding)
    K = koff.shape[0]
    Cin, Hp, Wp = xpad.shape[1], xpad.shape[2], xpad.shape[3]
    n, oh, ow = np.meshgrid(np.arange(N), np.arange(OH), np.arange(OW), indexing="ij")
    rowoff = (n * Cin * Hp * Wp + oh * stride[0] * Wp + ow * stride[1]).reshape(-1).astype(np.intp)
    g_rows = np.ascontiguousarray(grad.transpose(0, 2, 3, 1)).reshape(-1, C)
    size = group_size(N)
    partial = np.zeros((-(-N // size), K, C), x.dtype)
    if x.dtype == np.float32:
        _run_implicit[float](xpad, rowoff, koff, g_rows, partial, size, OH * OW, _num_threads())
    else:
        _run_implicit[double](xpad, rowoff, koff, g_rows, partial, size, OH * OW, _num_threads())
    np.copyto(out, np.sum(partial, axis=0).T)  # dw is the transpose of the K x C sums
    return out


cdef _run_implicit(const floating[:, :, :, ::1] xpad, const Py_ssize_t[::1] rowoff,
                   const Py_ssize_t[::1] koff, const floating[:, ::1] g_rows,
                   floating[:, :, ::1] partial, Py_ssize_t size, Py_ssize_t Q, int nt):
    cdef Py_ssize_t N = g_rows.shape[0] // Q, K = koff.shape[0], C = g_rows.shape[1]
    cdef Py_ssize_t g, n0, n1
    for g in prange(partial.shape[0], nogil=True, schedule="dynamic", num_threads=nt):
        n0 = g * size
        n1 = N if n0 + size > N else n0 + size
        if floating is float:
            tinymin_wgrad_implicit_f(&xpad[0, 0, 0, 0], &rowoff[0], &koff[0], &g_rows[0, 0],
                                     n0, n1, Q, K, C, &partial[g, 0, 0])
        else:
            tinymin_wgrad_implicit_d(&xpad[0, 0, 0, 0], &rowoff[0], &koff[0], &g_rows[0, 0],
                                     n0, n1, Q, K, C, &partial[g, 0, 0])
