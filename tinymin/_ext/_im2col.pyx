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
pixels, so each thread owns whole output planes (no atomics needed): whole images
when ``cols`` is row-major (C order), (channel, block of images) pairs when it is
column-major (Fortran order, what conv backward passes: each kernel offset's values
are then contiguous and fold as shifted row additions; with stride 1 and "same"
width, as one shifted addition per plane, the wrapped columns masked). All
loops use ``schedule="dynamic"`` so that a core shared with another process does not
hold up the rest.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset

from tinymin._ext._patches cimport _im2col_row

from tinymin._ext.threads import num_threads as _num_threads

cdef enum:
    NB = 16  # images per work item of the transposed col2im


# --------------------------------------------------------------------------- im2col
cdef void _im2col_run(const floating* x, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H,
                      Py_ssize_t W, Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SH,
                      Py_ssize_t SW, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t OH,
                      Py_ssize_t OW, floating* cols, int nt) noexcept nogil:
    cdef Py_ssize_t t, n, i, K = C * KH * KW
    for t in prange(N * OH, schedule="dynamic", num_threads=nt):
        n = t // OH
        i = t % OH
        _im2col_row(x + n * C * H * W, C, H, W, KH, KW, SW, PW, i * SH - PH, OW,
                    cols + t * OW * K, K)


# --------------------------------------------------------------------------- col2im
cdef inline void _col2im_image(const floating* cols, Py_ssize_t C, Py_ssize_t H,
                               Py_ssize_t W, Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SH,
                               Py_ssize_t SW, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t OH,
                               Py_ssize_t OW, floating* img) noexcept nogil:
    """Scatter-add the OH*OW rows of one image back into ``img`` (C x H x W).

    The rows are read in order, each one whole (a stream through memory, which the
    hardware prefetches), and added into the image, which stays in L1/L2: for row
    (i, j) and each (c, u) the KW values go to ``img[c, i*SH - PH + u, j*SW - PW :]``.
    """
    cdef Py_ssize_t i, j, c, u, v, ih, ih0, iw, iw0
    cdef Py_ssize_t K = C * KH * KW
    cdef bint inside
    cdef floating* dst
    cdef const floating* src
    memset(img, 0, C * H * W * sizeof(floating))
    for i in range(OH):
        ih0 = i * SH - PH
        for j in range(OW):
            iw0 = j * SW - PW
            src = cols + (i * OW + j) * K
            inside = ih0 >= 0 and ih0 + KH <= H and iw0 >= 0 and iw0 + KW <= W
            for c in range(C):
                for u in range(KH):
                    ih = ih0 + u
                    if inside:                      # interior window: a plain add
                        dst = img + (c * H + ih) * W + iw0
                        for v in range(KW):
                            dst[v] += src[v]
                    elif 0 <= ih < H:               # border: drop what came from padding
                        dst = img + (c * H + ih) * W
                        for v in range(KW):
                            iw = iw0 + v
                            if 0 <= iw < W:
                                dst[iw] += src[v]
                    src += KW


cdef void _col2im_run(const floating* cols, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H,
                      Py_ssize_t W, Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SH,
                      Py_ssize_t SW, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t OH,
                      Py_ssize_t OW, floating* dx, int nt) noexcept nogil:
    cdef Py_ssize_t n, K = C * KH * KW
    for n in prange(N, schedule="dynamic", num_threads=nt):
        _col2im_image(cols + n * OH * OW * K, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW,
                      dx + n * C * H * W)


cdef extern from *:
    """
    /* dst[j] += src[j]: restrict tells gcc the rows do not overlap, so the loop is
       vectorised without a run-time overlap check (the rows here are short) */
    static inline void tinymin_add_row_f(const float* __restrict src,
                                         float* __restrict dst, Py_ssize_t n) {
        for (Py_ssize_t j = 0; j < n; j++) dst[j] += src[j];
    }
    static inline void tinymin_add_row_d(const double* __restrict src,
                                         double* __restrict dst, Py_ssize_t n) {
        for (Py_ssize_t j = 0; j < n; j++) dst[j] += src[j];
    }
    /* dst[j] += src[j] where keep[j], else nothing: a select, not a multiply by 0/1,
       so an inf or NaN that is dropped does not turn into a NaN */
    static inline void tinymin_add_kept_f(const float* __restrict src, float* __restrict dst,
                                          const unsigned char* __restrict keep, Py_ssize_t n) {
        for (Py_ssize_t j = 0; j < n; j++) dst[j] += keep[j] ? src[j] : 0.0f;
    }
    static inline void tinymin_add_kept_d(const double* __restrict src, double* __restrict dst,
                                          const unsigned char* __restrict keep, Py_ssize_t n) {
        for (Py_ssize_t j = 0; j < n; j++) dst[j] += keep[j] ? src[j] : 0.0;
    }
    """
    void tinymin_add_row_f(const float* src, float* dst, Py_ssize_t n) noexcept nogil
    void tinymin_add_row_d(const double* src, double* dst, Py_ssize_t n) noexcept nogil
    void tinymin_add_kept_f(const float* src, float* dst, const unsigned char* keep,
                            Py_ssize_t n) noexcept nogil
    void tinymin_add_kept_d(const double* src, double* dst, const unsigned char* keep,
                            Py_ssize_t n) noexcept nogil


cdef inline void _add_shifted_row(const floating* src, floating* dst, Py_ssize_t n,
                                  Py_ssize_t step) noexcept nogil:
    """dst[j*step] += src[j] for j < n (with step 1 a plain vectorised add)."""
    cdef Py_ssize_t j
    if step == 1:
        if floating is float:
            tinymin_add_row_f(src, dst, n)
        else:
            tinymin_add_row_d(src, dst, n)
    else:
        for j in range(n):
            dst[j * step] += src[j]


cdef inline void _add_kept(const floating* src, floating* dst, const unsigned char* keep,
                           Py_ssize_t n) noexcept nogil:
    if floating is float:
        tinymin_add_kept_f(src, dst, keep, n)
    else:
        tinymin_add_kept_d(src, dst, keep, n)


cdef inline void _col2im_planes_flat(const floating* cols_t, Py_ssize_t P, Py_ssize_t n0,
                                     Py_ssize_t n1, Py_ssize_t c, Py_ssize_t C,
                                     Py_ssize_t H, Py_ssize_t W, Py_ssize_t KH,
                                     Py_ssize_t KW, Py_ssize_t PH, Py_ssize_t PW,
                                     const unsigned char* keep, floating* dx) noexcept nogil:
    """:func:`_col2im_planes` for stride 1 and an output as wide as the input (OW = W,
    "same" padding): then output pixel f = i*W + j of a plane adds into input pixel
    ``f + (u - PH)*W + (v - PW)`` of the same plane, one constant shift per (u, v),
    so each (u, v) and image is one long vectorised add over the flattened plane
    instead of OH adds of OW values. The columns that would wrap into the next row
    (j - PW + v outside [0, W)) are masked out by ``keep[v]``.
    """
    cdef Py_ssize_t u, v, n, i0, i1, j0, j1, f0, f1, shift, HW = H * W
    cdef const floating* src
    for n in range(n0, n1):
        memset(dx + (n * C + c) * HW, 0, HW * sizeof(floating))
    for u in range(KH):
        i0 = PH - u if PH > u else 0             # output rows whose input row is inside
        i1 = H + PH - u if H + PH - u < H else H
        for v in range(KW):
            j0 = PW - v if PW > v else 0         # and the columns
            j1 = W + PW - v if W + PW - v < W else W
            if i1 <= i0 or j1 <= j0:
                continue
            # from the first kept pixel to the last: every index in between stays
            # inside the plane (the wrapped columns between them are masked)
            f0 = i0 * W + j0
            f1 = (i1 - 1) * W + j1
            shift = (u - PH) * W + (v - PW)
            for n in range(n0, n1):
                src = cols_t + ((c * KH + u) * KW + v) * P + n * HW
                _add_kept(src + f0, dx + (n * C + c) * HW + f0 + shift, keep + v * HW + f0,
                          f1 - f0)


cdef inline void _col2im_planes(const floating* cols_t, Py_ssize_t P, Py_ssize_t n0,
                                Py_ssize_t n1, Py_ssize_t c, Py_ssize_t C, Py_ssize_t H,
                                Py_ssize_t W, Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SH,
                                Py_ssize_t SW, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t OH,
                                Py_ssize_t OW, floating* dx) noexcept nogil:
    """Fold everything that lands in channel c of images n0 <= n < n1 of ``dx``.

    ``cols_t`` is the column matrix transposed (K x P: each column of ``cols`` one
    contiguous row). For a kernel offset (u, v) the values of images n0..n1 are one
    contiguous stretch of its row (read in order), and output row i of image n adds
    into input row ``i*SH - PH + u`` of plane (n, c) from column ``j*SW - PW + v``:
    a shifted add of a contiguous row, into planes that stay in L1.
    """
    cdef Py_ssize_t u, v, n, i, ih, j0, j1
    cdef const floating* src
    cdef floating* plane
    for n in range(n0, n1):
        memset(dx + (n * C + c) * H * W, 0, H * W * sizeof(floating))
    for u in range(KH):
        for v in range(KW):
            if W - 1 + PW - v < 0:  # (C division truncates: keep the numerator >= 0)
                continue
            # the output columns j whose input column j*SW - PW + v is inside [0, W)
            j0 = (PW - v + SW - 1) // SW if PW > v else 0
            j1 = (W - 1 + PW - v) // SW + 1
            if j1 > OW:
                j1 = OW
            if j1 <= j0:
                continue
            for n in range(n0, n1):
                src = cols_t + ((c * KH + u) * KW + v) * P + n * OH * OW
                plane = dx + (n * C + c) * H * W
                for i in range(OH):
                    ih = i * SH - PH + u
                    if 0 <= ih < H:
                        _add_shifted_row(src + i * OW + j0, plane + ih * W + j0 * SW - PW + v,
                                         j1 - j0, SW)


cdef void _col2im_run_t(const floating* cols_t, Py_ssize_t N, Py_ssize_t C, Py_ssize_t H,
                        Py_ssize_t W, Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SH,
                        Py_ssize_t SW, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t OH,
                        Py_ssize_t OW, const unsigned char* keep, floating* dx,
                        int nt) noexcept nogil:
    # work items: (channel, block of NB images); each owns its planes of dx. ``keep``
    # (NULL unless stride 1 and OW == W) selects the flattened-plane fold.
    cdef Py_ssize_t t, n0, n1, P = N * OH * OW
    cdef Py_ssize_t blocks = (N + NB - 1) // NB
    for t in prange(C * blocks, schedule="dynamic", num_threads=nt):
        n0 = (t % blocks) * NB
        n1 = n0 + NB if n0 + NB < N else N
        if keep != NULL:
            _col2im_planes_flat(cols_t, P, n0, n1, t // blocks, C, H, W, KH, KW, PH, PW,
                                keep, dx)
        else:
            _col2im_planes(cols_t, P, n0, n1, t // blocks, C, H, W, KH, KW, SH, SW, PH, PW,
                           OH, OW, dx)


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


cdef _col2im_t_typed(const floating[:, ::1] cols_t, floating[:, :, :, ::1] dx,
                     Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SH, Py_ssize_t SW,
                     Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t OH, Py_ssize_t OW):
    cdef int nt = _num_threads()
    cdef const unsigned char[:, ::1] keep
    cdef const unsigned char* keep_ptr = NULL
    if SH == 1 and SW == 1 and OH == dx.shape[2] and OW == dx.shape[3]:
        keep = _kept_columns(OH, OW, KW, PW)
        keep_ptr = &keep[0, 0]
    with nogil:
        _col2im_run_t(&cols_t[0, 0], dx.shape[0], dx.shape[1], dx.shape[2], dx.shape[3],
                      KH, KW, SH, SW, PH, PW, OH, OW, keep_ptr, &dx[0, 0, 0, 0], nt)


def _kept_columns(OH, OW, KW, PW):
    """keep[v, i*OW + j] = 1 where input column j - PW + v is inside the image (stride 1)."""
    column = np.arange(OW)[None, :] - PW + np.arange(KW)[:, None]  # (v, j) -> input column
    inside = (column >= 0) & (column < OW)                         # OW == W here
    return np.ascontiguousarray(np.tile(inside, (1, OH)).astype(np.uint8))


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
    dx = np.empty((N, C, H, W), dtype=cols.dtype)  # each thread zeroes what it writes
    if not cols.flags.c_contiguous:  # Fortran order: cols.T is the (K, P) matrix
        if cols.dtype == np.float32:
            _col2im_t_typed[float](cols.T, dx, KH, KW, SH, SW, PH, PW, OH, OW)
        else:
            _col2im_t_typed[double](cols.T, dx, KH, KW, SH, SW, PH, PW, OH, OW)
    elif cols.dtype == np.float32:
        _col2im_typed[float](cols, dx, KH, KW, SH, SW, PH, PW, OH, OW)
    else:
        _col2im_typed[double](cols, dx, KH, KW, SH, SW, PH, PW, OH, OW)
    return dx
