# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Selector GEMMs in Cython: ``out[p, c] = sum_k op(cols[p, k], w[c, k])``.

Three choices of ``op`` (MATH.md section 4):

* ``min_gemm``:   ``m(a, b) = sgn(a) sgn(b) min(|a|, |b|)`` (Eq. 13), computed
  through the identity ``m(a, w) = sgn(w) * clip(a, -|w|, |w|)``;
* ``max_gemm``:   ``sgn(a) sgn(b) max(|a|, |b|)``;
* ``adder_gemm``: ``-|a - b|`` (AdderNet).

The public, validating entry points are in ``tinymin/_ext/__init__.py``; the
functions here trust their arguments (C-contiguous 2-D float32/float64 arrays of the
same dtype, matching K) and are called only after those checks.

How the kernel is organised (see PERFORMANCE.md for the measurements behind it):

1. The weights are repacked once per call into "filter panels" of ``NR``
   consecutive filters, transposed to K x NR, with ``-|w|``, ``|w|`` and ``sgn(w)``
   precomputed (filters beyond C are zero-padded; they are never written out).
   Inside a panel the ``NR`` values of one k are contiguous, so the innermost loop
   ``for c in range(NR)`` is a plain vector operation.
2. The rows of ``cols`` are split into blocks of ``MB`` rows, distributed over
   OpenMP threads with ``prange``. A thread sweeps all filter panels over its block;
   block (``MB`` x K) and panel (K x ``NR`` x 3) both stay in L2.
3. The micro-kernel computes an ``MR`` x ``NR`` tile of ``out`` with the whole k loop
   inside, accumulators in registers: per k it broadcasts ``MR`` inputs and reads
   one panel row. It lives in a ``cdef inline ... noexcept nogil`` helper: gcc did
   not vectorise the same loop written directly in the ``prange`` body.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport fabs

from tinymin._ext.threads import num_threads as _num_threads

# Tile sizes. NR filters per panel: 16 float32 = two AVX2 vectors (four for float64).
# MR rows per micro-tile: MR x NR accumulators must fit the 16 ymm registers.
# MB rows per block handed to a thread.
cdef enum:
    NR = 16
    MR = 4
    MB = 64


# --------------------------------------------------------------------------- helpers
cdef inline floating _clip(floating x, floating lo, floating hi) noexcept nogil:
    # written as the ternaries that map to one maxps / minps each
    x = x if x > lo else lo
    return x if x < hi else hi


cdef inline floating _fmax(floating a, floating b) noexcept nogil:
    return a if a > b else b


cdef inline floating _sign(floating x) noexcept nogil:
    return (x > 0) - (x < 0)


cdef inline void _store(const floating* acc, floating* out, Py_ssize_t ncols) noexcept nogil:
    cdef Py_ssize_t c
    for c in range(ncols):
        out[c] = acc[c]


# ------------------------------------------------------------------ min micro-kernels
cdef inline void _min_tile_mr(const floating* x, Py_ssize_t ldx, Py_ssize_t K,
                              const floating* nab, const floating* ab, const floating* sg,
                              floating* out, Py_ssize_t ldo, Py_ssize_t ncols) noexcept nogil:
    """MR rows x NR filters: out[r, c] = sum_k sg[k,c] * clip(x[r,k], nab[k,c], ab[k,c])."""
    cdef floating a0[NR]
    cdef floating a1[NR]
    cdef floating a2[NR]
    cdef floating a3[NR]
    cdef floating x0, x1, x2, x3, lo, hi, s
    cdef Py_ssize_t k, c, o
    for c in range(NR):
        a0[c] = 0
        a1[c] = 0
        a2[c] = 0
        a3[c] = 0
    for k in range(K):
        x0 = x[k]
        x1 = x[ldx + k]
        x2 = x[2 * ldx + k]
        x3 = x[3 * ldx + k]
        o = k * NR
        for c in range(NR):
            lo = nab[o + c]
            hi = ab[o + c]
            s = sg[o + c]
            a0[c] += s * _clip(x0, lo, hi)
            a1[c] += s * _clip(x1, lo, hi)
            a2[c] += s * _clip(x2, lo, hi)
            a3[c] += s * _clip(x3, lo, hi)
    _store(a0, out, ncols)
    _store(a1, out + ldo, ncols)
    _store(a2, out + 2 * ldo, ncols)
    _store(a3, out + 3 * ldo, ncols)


cdef inline void _min_tile_1(const floating* x, Py_ssize_t K,
                             const floating* nab, const floating* ab, const floating* sg,
                             floating* out, Py_ssize_t ncols) noexcept nogil:
    """One row x NR filters (the rows left over after the MR-row tiles)."""
    cdef floating a0[NR]
    cdef floating x0
    cdef Py_ssize_t k, c, o
    for c in range(NR):
        a0[c] = 0
    for k in range(K):
        x0 = x[k]
        o = k * NR
        for c in range(NR):
            a0[c] += sg[o + c] * _clip(x0, nab[o + c], ab[o + c])
    _store(a0, out, ncols)


cdef void _min_block(const floating* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                     const floating* nab, const floating* ab, const floating* sg,
                     floating* out) noexcept nogil:
    """All filter panels over one block of rows (x and out already offset to the block)."""
    cdef Py_ssize_t jp, j, r, ncols, panel = K * NR
    for jp in range((C + NR - 1) // NR):
        j = jp * NR
        ncols = C - j if C - j < NR else NR
        r = 0
        while r + MR <= nrows:
            _min_tile_mr(x + r * K, K, K, nab + jp * panel, ab + jp * panel,
                         sg + jp * panel, out + r * C + j, C, ncols)
            r += MR
        while r < nrows:
            _min_tile_1(x + r * K, K, nab + jp * panel, ab + jp * panel,
                        sg + jp * panel, out + r * C + j, ncols)
            r += 1


# ------------------------------------------------------------------ max micro-kernels
cdef inline void _max_tile_mr(const floating* x, Py_ssize_t ldx, Py_ssize_t K,
                              const floating* ab, const floating* sg,
                              floating* out, Py_ssize_t ldo, Py_ssize_t ncols) noexcept nogil:
    """MR x NR tile of sum_k sgn(x) sgn(w) max(|x|, |w|)."""
    cdef floating a0[NR]
    cdef floating a1[NR]
    cdef floating a2[NR]
    cdef floating a3[NR]
    cdef floating m0, m1, m2, m3, s0, s1, s2, s3, hi, s
    cdef Py_ssize_t k, c, o
    for c in range(NR):
        a0[c] = 0
        a1[c] = 0
        a2[c] = 0
        a3[c] = 0
    for k in range(K):
        m0 = fabs(x[k])
        m1 = fabs(x[ldx + k])
        m2 = fabs(x[2 * ldx + k])
        m3 = fabs(x[3 * ldx + k])
        s0 = _sign(x[k])
        s1 = _sign(x[ldx + k])
        s2 = _sign(x[2 * ldx + k])
        s3 = _sign(x[3 * ldx + k])
        o = k * NR
        for c in range(NR):
            hi = ab[o + c]
            s = sg[o + c]
            a0[c] += (s0 * s) * _fmax(m0, hi)
            a1[c] += (s1 * s) * _fmax(m1, hi)
            a2[c] += (s2 * s) * _fmax(m2, hi)
            a3[c] += (s3 * s) * _fmax(m3, hi)
    _store(a0, out, ncols)
    _store(a1, out + ldo, ncols)
    _store(a2, out + 2 * ldo, ncols)
    _store(a3, out + 3 * ldo, ncols)


cdef inline void _max_tile_1(const floating* x, Py_ssize_t K,
                             const floating* ab, const floating* sg,
                             floating* out, Py_ssize_t ncols) noexcept nogil:
    cdef floating a0[NR]
    cdef floating m0, s0
    cdef Py_ssize_t k, c, o
    for c in range(NR):
        a0[c] = 0
    for k in range(K):
        m0 = fabs(x[k])
        s0 = _sign(x[k])
        o = k * NR
        for c in range(NR):
            a0[c] += (s0 * sg[o + c]) * _fmax(m0, ab[o + c])
    _store(a0, out, ncols)


cdef void _max_block(const floating* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                     const floating* ab, const floating* sg, floating* out) noexcept nogil:
    cdef Py_ssize_t jp, j, r, ncols, panel = K * NR
    for jp in range((C + NR - 1) // NR):
        j = jp * NR
        ncols = C - j if C - j < NR else NR
        r = 0
        while r + MR <= nrows:
            _max_tile_mr(x + r * K, K, K, ab + jp * panel, sg + jp * panel,
                         out + r * C + j, C, ncols)
            r += MR
        while r < nrows:
            _max_tile_1(x + r * K, K, ab + jp * panel, sg + jp * panel,
                        out + r * C + j, ncols)
            r += 1


# ---------------------------------------------------------------- adder micro-kernels
cdef inline void _adder_tile_mr(const floating* x, Py_ssize_t ldx, Py_ssize_t K,
                                const floating* wt,
                                floating* out, Py_ssize_t ldo, Py_ssize_t ncols) noexcept nogil:
    """MR x NR tile of -sum_k |x - w|."""
    cdef floating a0[NR]
    cdef floating a1[NR]
    cdef floating a2[NR]
    cdef floating a3[NR]
    cdef floating x0, x1, x2, x3, w
    cdef Py_ssize_t k, c, o
    for c in range(NR):
        a0[c] = 0
        a1[c] = 0
        a2[c] = 0
        a3[c] = 0
    for k in range(K):
        x0 = x[k]
        x1 = x[ldx + k]
        x2 = x[2 * ldx + k]
        x3 = x[3 * ldx + k]
        o = k * NR
        for c in range(NR):
            w = wt[o + c]
            a0[c] -= fabs(x0 - w)
            a1[c] -= fabs(x1 - w)
            a2[c] -= fabs(x2 - w)
            a3[c] -= fabs(x3 - w)
    _store(a0, out, ncols)
    _store(a1, out + ldo, ncols)
    _store(a2, out + 2 * ldo, ncols)
    _store(a3, out + 3 * ldo, ncols)


cdef inline void _adder_tile_1(const floating* x, Py_ssize_t K, const floating* wt,
                               floating* out, Py_ssize_t ncols) noexcept nogil:
    cdef floating a0[NR]
    cdef floating x0
    cdef Py_ssize_t k, c, o
    for c in range(NR):
        a0[c] = 0
    for k in range(K):
        x0 = x[k]
        o = k * NR
        for c in range(NR):
            a0[c] -= fabs(x0 - wt[o + c])
    _store(a0, out, ncols)


cdef void _adder_block(const floating* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                       const floating* wt, floating* out) noexcept nogil:
    cdef Py_ssize_t jp, j, r, ncols, panel = K * NR
    for jp in range((C + NR - 1) // NR):
        j = jp * NR
        ncols = C - j if C - j < NR else NR
        r = 0
        while r + MR <= nrows:
            _adder_tile_mr(x + r * K, K, K, wt + jp * panel, out + r * C + j, C, ncols)
            r += MR
        while r < nrows:
            _adder_tile_1(x + r * K, K, wt + jp * panel, out + r * C + j, ncols)
            r += 1


# ------------------------------------------------------------------- weight packing
def _panels(w):
    """Repack ``w`` (C x K) into filter panels: array (ceil(C/NR), K, NR), zero-padded.

    ``panels[j, k, c] = w[j*NR + c, k]``: the NR filters of panel j are contiguous for
    each k, which is the order the micro-kernel reads them in.
    """
    C, K = w.shape
    npan = (C + NR - 1) // NR
    padded = np.zeros((npan * NR, K), dtype=w.dtype)
    padded[:C] = w
    return np.ascontiguousarray(padded.reshape(npan, NR, K).transpose(0, 2, 1))


def _out_or_new(out, P, C, dtype):
    return np.empty((P, C), dtype=dtype) if out is None else out


# ------------------------------------------------------------------------ entry points
def min_gemm(cols, w_hat, out=None):
    """``out[p, c] = sum_k sgn(cols[p,k]) sgn(w_hat[c,k]) min(|cols[p,k]|, |w_hat[c,k]|)``.

    Arguments are validated by :func:`tinymin._ext.min_gemm`; see there.
    """
    P, K = cols.shape
    C = w_hat.shape[0]
    out = _out_or_new(out, P, C, cols.dtype)
    if P == 0 or C == 0:
        return out
    if K == 0:
        out[...] = 0
        return out
    pan = _panels(w_hat)
    ab = np.abs(pan)
    if cols.dtype == np.float32:
        _min_run[float](cols, -ab, ab, np.sign(pan), out)
    else:
        _min_run[double](cols, -ab, ab, np.sign(pan), out)
    return out


def max_gemm(cols, w, out=None):
    """``out[p, c] = sum_k sgn(cols[p,k]) sgn(w[c,k]) max(|cols[p,k]|, |w[c,k]|)``.

    Arguments are validated by :func:`tinymin._ext.max_gemm`; see there.
    """
    P, K = cols.shape
    C = w.shape[0]
    out = _out_or_new(out, P, C, cols.dtype)
    if P == 0 or C == 0:
        return out
    if K == 0:
        out[...] = 0
        return out
    pan = _panels(w)
    if cols.dtype == np.float32:
        _max_run[float](cols, np.abs(pan), np.sign(pan), out)
    else:
        _max_run[double](cols, np.abs(pan), np.sign(pan), out)
    return out


def adder_gemm(cols, w, out=None):
    """``out[p, c] = -sum_k |cols[p,k] - w[c,k]|``.

    Arguments are validated by :func:`tinymin._ext.adder_gemm`; see there.
    """
    P, K = cols.shape
    C = w.shape[0]
    out = _out_or_new(out, P, C, cols.dtype)
    if P == 0 or C == 0:
        return out
    if K == 0:
        out[...] = 0
        return out
    pan = _panels(w)
    if cols.dtype == np.float32:
        _adder_run[float](cols, pan, out)
    else:
        _adder_run[double](cols, pan, out)
    return out


cdef _min_run(floating[:, ::1] x, floating[:, :, ::1] nab, floating[:, :, ::1] ab,
              floating[:, :, ::1] sg, floating[:, ::1] out):
    cdef Py_ssize_t P = x.shape[0], K = x.shape[1], C = out.shape[1]
    cdef Py_ssize_t nblocks = (P + MB - 1) // MB, b, r0, nr
    cdef int nt = _num_threads()
    for b in prange(nblocks, nogil=True, schedule="static", num_threads=nt):
        r0 = b * MB
        nr = P - r0 if P - r0 < MB else MB
        _min_block(&x[r0, 0], nr, K, C, &nab[0, 0, 0], &ab[0, 0, 0], &sg[0, 0, 0],
                   &out[r0, 0])


cdef _max_run(floating[:, ::1] x, floating[:, :, ::1] ab, floating[:, :, ::1] sg,
              floating[:, ::1] out):
    cdef Py_ssize_t P = x.shape[0], K = x.shape[1], C = out.shape[1]
    cdef Py_ssize_t nblocks = (P + MB - 1) // MB, b, r0, nr
    cdef int nt = _num_threads()
    for b in prange(nblocks, nogil=True, schedule="static", num_threads=nt):
        r0 = b * MB
        nr = P - r0 if P - r0 < MB else MB
        _max_block(&x[r0, 0], nr, K, C, &ab[0, 0, 0], &sg[0, 0, 0], &out[r0, 0])


cdef _adder_run(floating[:, ::1] x, floating[:, :, ::1] wt, floating[:, ::1] out):
    cdef Py_ssize_t P = x.shape[0], K = x.shape[1], C = out.shape[1]
    cdef Py_ssize_t nblocks = (P + MB - 1) // MB, b, r0, nr
    cdef int nt = _num_threads()
    for b in prange(nblocks, nogil=True, schedule="static", num_threads=nt):
        r0 = b * MB
        nr = P - r0 if P - r0 < MB else MB
        _adder_block(&x[r0, 0], nr, K, C, &wt[0, 0, 0], &out[r0, 0])
