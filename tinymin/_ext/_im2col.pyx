# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""im2col / col2im in Cython (float32 and float64 through the fused type ``floating``).

Layout (the same as :mod:`tinymin._ext.reference`): for an input ``x`` of shape
(N, C, H, W), kernel (KH, KW), stride (SH, SW) and zero padding (PH, PW),

    cols[(n*OH + i)*OW + j, (c*KH + u)*KW + v] = x[n, c, i*SH - PH + u, j*SW - PW + v]

(zero where the index falls in the padding), so ``cols @ w.reshape(C_out, -1).T`` is
the convolution. ``col2im`` is the adjoint: it scatter-adds every entry of ``cols``
back to the input position it was read from, and drops the padded ones.

The public, validating entry points are in ``tinymin/_ext/__init__.py``; these
functions trust their arguments and are only called after those checks.

Parallelism: ``im2col`` writes disjoint rows, so its (n, i) output rows are shared
among OpenMP threads. ``col2im`` adds overlapping windows into the same input
pixels, so it is parallel over images only (each thread owns whole images; no
atomics needed). Both use ``schedule="dynamic"`` so that a core shared with another
process does not hold up the rest.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset

from tinymin._ext.threads import blas_paused as _blas_paused
from tinymin._ext.threads import num_threads as _num_threads


cdef extern from *:
    """
    #ifdef _OPENMP
    #define TINYMIN_HAVE_OPENMP 1
    #else
    #define TINYMIN_HAVE_OPENMP 0
    #endif
    """
    int TINYMIN_HAVE_OPENMP


def openmp_enabled():
    """True when this extension was compiled with OpenMP (else prange runs serially)."""
    return bool(TINYMIN_HAVE_OPENMP)


# --------------------------------------------------------------------------- im2col
cdef inline void _im2col_row(const floating* img, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SW, Py_ssize_t PW,
                             Py_ssize_t ih0, Py_ssize_t OW,
                             floating* dst) noexcept nogil:
    """Fill the OW rows of ``cols`` for one output row i of one image.

    ``img`` is image n (C x H x W), ``ih0 = i*SH - PH`` the top input row of the
    window and ``dst`` the first of the OW consecutive rows (each C*KH*KW long).
    The loops run over (c, u) outside and j inside, so the input row and its bounds
    check are found once per (c, u) and reused by all OW windows.
    """
    cdef Py_ssize_t j, c, u, v, ih, iw, iw0
    cdef Py_ssize_t K = C * KH * KW
    cdef const floating* src
    cdef floating* row
    for c in range(C):
        for u in range(KH):
            ih = ih0 + u
            row = dst + (c * KH + u) * KW
            if ih < 0 or ih >= H:                   # a padding row: all zeros
                for j in range(OW):
                    for v in range(KW):
                        row[j * K + v] = 0
                continue
            src = img + (c * H + ih) * W
            for j in range(OW):
                iw0 = j * SW - PW
                if iw0 >= 0 and iw0 + KW <= W:      # interior: a plain copy
                    for v in range(KW):
                        row[j * K + v] = src[iw0 + v]
                else:
                    for v in range(KW):
                        iw = iw0 + v
                        row[j * K + v] = src[iw] if 0 <= iw < W else 0


cdef void _im2col_run(const floating* x, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H,
                      Py_ssize_t W, Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SH,
                      Py_ssize_t SW, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t OH,
                      Py_ssize_t OW, floating* cols, int nt) noexcept nogil:
    cdef Py_ssize_t t, n, i, K = C * KH * KW
    for t in prange(N * OH, schedule="dynamic", num_threads=nt):
        n = t // OH
        i = t % OH
        _im2col_row(x + n * C * H * W, C, H, W, KH, KW, SW, PW, i * SH - PH, OW,
                    cols + t * OW * K)


# --------------------------------------------------------------------------- col2im
cdef inline void _col2im_image(const floating* cols, Py_ssize_t C, Py_ssize_t H,
                               Py_ssize_t W, Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SH,
                               Py_ssize_t SW, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t OH,
                               Py_ssize_t OW, floating* img) noexcept nogil:
    """Scatter-add the OH*OW rows of one image back into ``img`` (C x H x W).

    The same loop order as ``_im2col_row``: for each output row i and each (c, u),
    the target input row is found once and the OW windows are added into it.
    """
    cdef Py_ssize_t i, j, c, u, v, ih, iw, iw0
    cdef Py_ssize_t K = C * KH * KW
    cdef floating* dst
    cdef const floating* row
    memset(img, 0, C * H * W * sizeof(floating))
    for i in range(OH):
        for c in range(C):
            for u in range(KH):
                ih = i * SH - PH + u
                if ih < 0 or ih >= H:               # came from padding: dropped
                    continue
                dst = img + (c * H + ih) * W
                row = cols + i * OW * K + (c * KH + u) * KW
                for j in range(OW):
                    iw0 = j * SW - PW
                    if iw0 >= 0 and iw0 + KW <= W:
                        for v in range(KW):
                            dst[iw0 + v] += row[j * K + v]
                    else:
                        for v in range(KW):
                            iw = iw0 + v
                            if 0 <= iw < W:
                                dst[iw] += row[j * K + v]


cdef void _col2im_run(const floating* cols, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H,
                      Py_ssize_t W, Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SH,
                      Py_ssize_t SW, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t OH,
                      Py_ssize_t OW, floating* dx, int nt) noexcept nogil:
    cdef Py_ssize_t n, K = C * KH * KW
    for n in prange(N, schedule="dynamic", num_threads=nt):
        _col2im_image(cols + n * OH * OW * K, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW,
                      dx + n * C * H * W)


# ----------------------------------------------------------------------- entry points
cdef _im2col_typed(const floating[:, :, :, ::1] x, floating[:, ::1] cols,
                   Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SH, Py_ssize_t SW, Py_ssize_t PH,
                   Py_ssize_t PW, Py_ssize_t OH, Py_ssize_t OW):
    cdef int nt = _num_threads()
    with nogil:
        _im2col_run(&x[0, 0, 0, 0], x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                    KH, KW, SH, SW, PH, PW, OH, OW, &cols[0, 0], nt)


cdef _col2im_typed(const floating[:, ::1] cols, floating[:, :, :, ::1] dx,
                   Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SH, Py_ssize_t SW, Py_ssize_t PH,
                   Py_ssize_t PW, Py_ssize_t OH, Py_ssize_t OW):
    cdef int nt = _num_threads()
    with nogil:
        _col2im_run(&cols[0, 0], dx.shape[0], dx.shape[1], dx.shape[2], dx.shape[3],
                    KH, KW, SH, SW, PH, PW, OH, OW, &dx[0, 0, 0, 0], nt)


def im2col(x, kernel_size, stride=(1, 1), padding=(0, 0), out=None):
    """Unfold ``x`` (N, C, H, W) into ``cols`` (N*OH*OW, C*KH*KW).

    Arguments are validated (and int arguments normalised to pairs) by
    :func:`tinymin._ext.im2col`; see there for the full description.
    """
    N, C, H, W = x.shape
    KH, KW = kernel_size
    SH, SW = stride
    PH, PW = padding
    OH = (H + 2 * PH - KH) // SH + 1
    OW = (W + 2 * PW - KW) // SW + 1
    if out is None:
        out = np.empty((N * OH * OW, C * KH * KW), dtype=x.dtype)
    if out.size == 0:
        return out
    with _blas_paused():
        if x.dtype == np.float32:
            _im2col_typed[float](x, out, KH, KW, SH, SW, PH, PW, OH, OW)
        else:
            _im2col_typed[double](x, out, KH, KW, SH, SW, PH, PW, OH, OW)
    return out


def col2im(cols, x_shape, kernel_size, stride=(1, 1), padding=(0, 0)):
    """Fold ``cols`` back to an array of shape ``x_shape``, adding overlaps.

    The adjoint of :func:`im2col`. Arguments are validated by
    :func:`tinymin._ext.col2im`; see there.
    """
    N, C, H, W = x_shape
    KH, KW = kernel_size
    SH, SW = stride
    PH, PW = padding
    OH = (H + 2 * PH - KH) // SH + 1
    OW = (W + 2 * PW - KW) // SW + 1
    if cols.size == 0:
        return np.zeros((N, C, H, W), dtype=cols.dtype)
    dx = np.empty((N, C, H, W), dtype=cols.dtype)  # each thread zeroes its own images
    with _blas_paused():
        if cols.dtype == np.float32:
            _col2im_typed[float](cols, dx, KH, KW, SH, SW, PH, PW, OH, OW)
        else:
            _col2im_typed[double](cols, dx, KH, KW, SH, SW, PH, PW, OH, OW)
    return dx
