# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Selector GEMMs in Cython: ``out[p, c] = sum_k op(cols[p, k], w[c, k])``.

Three choices of ``op`` (docs/guides/minconv_math.rst, section 4):

* ``min_gemm``:   ``m(a, b) = sgn(a) sgn(b) min(|a|, |b|)`` (Eq. 13), the paper's
  operator: its kernels are in ``_min_gemm.pyx``, imported here so that the three
  form one family;
* ``max_gemm``:   ``sgn(a) sgn(b) max(|a|, |b|)``;
* ``adder_gemm``: ``-|a - b|`` (AdderNet).

The public, validating entry points are in ``tinymin/_ext/__init__.py``; the
functions here trust their arguments (C-contiguous 2-D float32/float64 arrays of the
same dtype, matching K) and are called only after those checks.

``max_gemm`` and ``adder_gemm`` use the panel layout of ``min_gemm_panels``: the
weights repacked into panels of nr filters (K x nr, nr = one vector register), an
8-row x nr tile vectorised over the filters, the 8 inputs of each k broadcast
(``max_gemm`` computes |x| and sgn(x) once per row and k). Rows are shared among
OpenMP threads in blocks of ``MB``. The tile's two ends (zero the 8 accumulators,
point at the 8 rows, the ragged last tile included, store what exists) are the
inline helpers of ``_lanes.pxd``, shared with ``min_gemm_panels``.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport fabs

from tinymin._ext._lanes cimport MB, MR, NRMAX, _nr, _row, _store8, _zero8

from tinymin._ext._min_gemm import out_or_new, pack_panels
from tinymin._ext._min_gemm import min_gemm  # noqa: F401  (re-exported: one family)
from tinymin._ext.threads import num_threads as _num_threads


cdef inline floating _fmax(floating a, floating b) noexcept nogil:
    # max(a, b) that lets a NaN in ``a`` through (a is |x| below)
    return b if b > a else a


cdef inline floating _sign(floating x) noexcept nogil:
    return <floating>((x > 0) - (x < 0))


# ------------------------------------------------------------------ max micro-kernels
cdef inline void _max_tile(const floating* x, Py_ssize_t K,
                           const floating* ab, const floating* sg,
                           floating* out, Py_ssize_t ldo, Py_ssize_t nrows,
                           Py_ssize_t ncols) noexcept nogil:
    """8 rows x nr filters of sum_k sgn(x) sgn(w) max(|x|, |w|), with ab = |w|, sg = sgn(w).

    |x| and sgn(x) are computed once per (row, k), outside the vectorised c loop. Rows
    past ``nrows`` read the last real row again and are never stored (``_lanes.pxd``).
    """
    cdef Py_ssize_t nr = _nr(x[0])
    cdef floating a0[NRMAX]
    cdef floating a1[NRMAX]
    cdef floating a2[NRMAX]
    cdef floating a3[NRMAX]
    cdef floating a4[NRMAX]
    cdef floating a5[NRMAX]
    cdef floating a6[NRMAX]
    cdef floating a7[NRMAX]
    cdef const floating* r1 = _row(x, K, 1, nrows)
    cdef const floating* r2 = _row(x, K, 2, nrows)
    cdef const floating* r3 = _row(x, K, 3, nrows)
    cdef const floating* r4 = _row(x, K, 4, nrows)
    cdef const floating* r5 = _row(x, K, 5, nrows)
    cdef const floating* r6 = _row(x, K, 6, nrows)
    cdef const floating* r7 = _row(x, K, 7, nrows)
    cdef floating m0, m1, m2, m3, m4, m5, m6, m7
    cdef floating s0, s1, s2, s3, s4, s5, s6, s7
    cdef floating hi, s
    cdef Py_ssize_t k, c, o
    _zero8(a0, a1, a2, a3, a4, a5, a6, a7)
    for k in range(K):
        m0 = fabs(x[k]); s0 = _sign(x[k])
        m1 = fabs(r1[k]); s1 = _sign(r1[k])
        m2 = fabs(r2[k]); s2 = _sign(r2[k])
        m3 = fabs(r3[k]); s3 = _sign(r3[k])
        m4 = fabs(r4[k]); s4 = _sign(r4[k])
        m5 = fabs(r5[k]); s5 = _sign(r5[k])
        m6 = fabs(r6[k]); s6 = _sign(r6[k])
        m7 = fabs(r7[k]); s7 = _sign(r7[k])
        o = k * nr
        for c in range(nr):
            hi = ab[o + c]
            s = sg[o + c]
            a0[c] += (s0 * s) * _fmax(m0, hi)
            a1[c] += (s1 * s) * _fmax(m1, hi)
            a2[c] += (s2 * s) * _fmax(m2, hi)
            a3[c] += (s3 * s) * _fmax(m3, hi)
            a4[c] += (s4 * s) * _fmax(m4, hi)
            a5[c] += (s5 * s) * _fmax(m5, hi)
            a6[c] += (s6 * s) * _fmax(m6, hi)
            a7[c] += (s7 * s) * _fmax(m7, hi)
    _store8(a0, a1, a2, a3, a4, a5, a6, a7, out, ldo, nrows, ncols)


cdef void _max_block(const floating* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                     const floating* ab, const floating* sg, floating* out) noexcept nogil:
    cdef Py_ssize_t nr = _nr(x[0])
    cdef Py_ssize_t jp, j, r, panel = K * nr
    for jp in range((C + nr - 1) // nr):
        j = jp * nr
        r = 0
        while r < nrows:
            _max_tile(x + r * K, K, ab + jp * panel, sg + jp * panel, out + r * C + j, C,
                      min(<Py_ssize_t>MR, nrows - r), min(nr, C - j))
            r += MR


# ---------------------------------------------------------------- adder micro-kernels
cdef inline void _adder_tile(const floating* x, Py_ssize_t K, const floating* wt,
                             floating* out, Py_ssize_t ldo, Py_ssize_t nrows,
                             Py_ssize_t ncols) noexcept nogil:
    """8 rows x nr filters of -sum_k |x - w| (rows past ``nrows`` as in ``_max_tile``)."""
    cdef Py_ssize_t nr = _nr(x[0])
    cdef floating a0[NRMAX]
    cdef floating a1[NRMAX]
    cdef floating a2[NRMAX]
    cdef floating a3[NRMAX]
    cdef floating a4[NRMAX]
    cdef floating a5[NRMAX]
    cdef floating a6[NRMAX]
    cdef floating a7[NRMAX]
    cdef const floating* r1 = _row(x, K, 1, nrows)
    cdef const floating* r2 = _row(x, K, 2, nrows)
    cdef const floating* r3 = _row(x, K, 3, nrows)
    cdef const floating* r4 = _row(x, K, 4, nrows)
    cdef const floating* r5 = _row(x, K, 5, nrows)
    cdef const floating* r6 = _row(x, K, 6, nrows)
    cdef const floating* r7 = _row(x, K, 7, nrows)
    cdef floating w
    cdef Py_ssize_t k, c, o
    _zero8(a0, a1, a2, a3, a4, a5, a6, a7)
    for k in range(K):
        o = k * nr
        for c in range(nr):
            w = wt[o + c]
            a0[c] -= fabs(x[k] - w)
            a1[c] -= fabs(r1[k] - w)
            a2[c] -= fabs(r2[k] - w)
            a3[c] -= fabs(r3[k] - w)
            a4[c] -= fabs(r4[k] - w)
            a5[c] -= fabs(r5[k] - w)
            a6[c] -= fabs(r6[k] - w)
            a7[c] -= fabs(r7[k] - w)
    _store8(a0, a1, a2, a3, a4, a5, a6, a7, out, ldo, nrows, ncols)


cdef void _adder_block(const floating* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                       const floating* wt, floating* out) noexcept nogil:
    cdef Py_ssize_t nr = _nr(x[0])
    cdef Py_ssize_t jp, j, r, panel = K * nr
    for jp in range((C + nr - 1) // nr):
        j = jp * nr
        r = 0
        while r < nrows:
            _adder_tile(x + r * K, K, wt + jp * panel, out + r * C + j, C,
                        min(<Py_ssize_t>MR, nrows - r), min(nr, C - j))
            r += MR


def max_gemm(cols, w, out=None):
    """``out[p, c] = sum_k sgn(cols[p,k]) sgn(w[c,k]) max(|cols[p,k]|, |w[c,k]|)``.

    Arguments are validated by :func:`tinymin._ext.max_gemm`; see there.
    """
    P, K = cols.shape
    C = w.shape[0]
    out = out_or_new(out, P, C, cols.dtype)
    if P == 0 or C == 0:
        return out
    if K == 0:
        out[...] = 0
        return out
    pan = pack_panels(w)
    ab, sg = np.abs(pan), np.sign(pan)
    if cols.dtype == np.float32:
        _max_run[float](cols, ab, sg, out)
    else:
        _max_run[double](cols, ab, sg, out)
    return out


def adder_gemm(cols, w, out=None):
    """``out[p, c] = -sum_k |cols[p,k] - w[c,k]|``.

    Arguments are validated by :func:`tinymin._ext.adder_gemm`; see there.
    """
    P, K = cols.shape
    C = w.shape[0]
    out = out_or_new(out, P, C, cols.dtype)
    if P == 0 or C == 0:
        return out
    if K == 0:
        out[...] = 0
        return out
    pan = pack_panels(w)
    if cols.dtype == np.float32:
        _adder_run[float](cols, pan, out)
    else:
        _adder_run[double](cols, pan, out)
    return out

cdef _max_run(const floating[:, ::1] x, const floating[:, :, ::1] ab,
              const floating[:, :, ::1] sg, floating[:, ::1] out):
    cdef Py_ssize_t P = x.shape[0], K = x.shape[1], C = out.shape[1]
    cdef Py_ssize_t nblocks = (P + MB - 1) // MB, b, r0, nr
    cdef int nt = _num_threads()
    for b in prange(nblocks, nogil=True, schedule="dynamic", num_threads=nt):
        r0 = b * MB
        nr = P - r0 if P - r0 < MB else MB
        _max_block(&x[r0, 0], nr, K, C, &ab[0, 0, 0], &sg[0, 0, 0], &out[r0, 0])


cdef _adder_run(const floating[:, ::1] x, const floating[:, :, ::1] wt,
                floating[:, ::1] out):
    cdef Py_ssize_t P = x.shape[0], K = x.shape[1], C = out.shape[1]
    cdef Py_ssize_t nblocks = (P + MB - 1) // MB, b, r0, nr
    cdef int nt = _num_threads()
    for b in prange(nblocks, nogil=True, schedule="dynamic", num_threads=nt):
        r0 = b * MB
        nr = P - r0 if P - r0 < MB else MB
        _adder_block(&x[r0, 0], nr, K, C, &wt[0, 0, 0], &out[r0, 0])
