# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Selector GEMMs in Cython: ``out[p, c] = sum_k op(cols[p, k], w[c, k])``.

Three choices of ``op`` (docs/guides/minconv_math.rst, section 4):

* ``min_gemm``:   ``m(a, b) = sgn(a) sgn(b) min(|a|, |b|)`` (Eq. 13), computed
  through the identity ``m(a, w) = sgn(w) * clip(a, -|w|, |w|)``;
* ``max_gemm``:   ``sgn(a) sgn(b) max(|a|, |b|)``;
* ``adder_gemm``: ``-|a - b|`` (AdderNet).

The public, validating entry points are in ``tinymin/_ext/__init__.py``; the
functions here trust their arguments (C-contiguous 2-D float32/float64 arrays of the
same dtype, matching K) and are called only after those checks.

How the kernels are organised (benchmarks/README.md holds the measurements behind it):

``min_gemm`` vectorises over k ("k-lanes"):

1. ``|w|`` and ``sgn(w)`` are computed once per call as C x Kp arrays, K zero-padded
   to Kp, a multiple of the lane count nl (8 float32, 4 float64: one 256-bit vector),
   and 64-byte aligned (numpy only promises 16; a misaligned vector load that splits
   a cache line costs two).
2. The rows of ``cols`` are split into blocks of ``MB`` rows, shared among OpenMP
   threads with ``prange(schedule="dynamic")``: a thread takes the next block when
   it is free, so a core busy with another process does not hold the others back
   (with "static" the 2-thread kernel ran 1.3-1.7x slower on a loaded machine). The
   thread copies its block into its own aligned, zero-padded buffer, then sweeps it
   in tiles of ``MR`` = 8 rows; for each tile all C filters stream past (tile rows
   in L1, filters from L2). K longer than ``KC`` is split into chunks, the partial
   sums kept in ``out``.
3. The micro-kernel computes 8 rows x 1 filter: 8 accumulator vectors, lane l
   summing the k with k % nl == l; per k-vector it loads |w| and sgn(w) once, forms
   -|w|, and does 8 x (max, min, fused multiply-add) with the 8 row vectors read
   straight from L1. At the end each accumulator's lanes are added up (8 -> 4 -> 2
   -> 1). Everything lives in registers (8 + 3 + 2 temporaries of the 16 ymm);
   nothing in the loop is loop-invariant, so gcc has nothing to hoist and spill.
   The compares are written as ``lo if lo > x else x``, which gcc turns into one
   ``vmaxps`` (and which keeps a NaN input NaN); the loops live in ``cdef inline
   ... noexcept nogil`` helpers (gcc did not vectorise them written directly in the
   ``prange`` body).

``max_gemm`` and ``adder_gemm`` still use the older layout: the weights repacked into
"filter panels" of nr filters (K x nr, nr = one vector), an 8-row x nr tile
vectorised over the filters, with the 8 inputs of each k broadcast.

Measurements, and the variants that lost: benchmarks/README.md, "How min_gemm got
fast".
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport fabs
from libc.string cimport memcpy

from tinymin._ext.threads import num_threads as _num_threads

# Tile sizes. min_gemm: a tile is MR = 8 rows x 1 filter, vectorised over k (8 row
# accumulators + |w|, -|w|, sgn(w) + temporaries fit the 16 ymm registers).
# max_gemm/adder_gemm: MR = 8 rows x nr filters (nr = one vector: 8 float32 or 4
# float64, ``_nr`` below), vectorised over the filters. MB rows form the block that
# one thread takes at a time; KC (a multiple of 8) bounds the k-chunk.
cdef enum:
    NRMAX = 8
    MR = 8
    MB = 64
    KC = 1024

# --------------------------------------------------------------------------- helpers
cdef inline Py_ssize_t _nr(floating dummy) noexcept nogil:
    # panel width: one 256-bit vector of the dtype (a compile-time constant per type)
    if floating is float:
        return 8
    else:
        return 4


cdef inline floating _clip(floating x, floating lo, floating hi) noexcept nogil:
    # Each ternary is one vmaxps / vminps; written with x last so that a NaN in x
    # comes out as NaN (vmaxps(a, b) returns b when either is NaN), as in numpy.
    x = lo if lo > x else x
    return hi if hi < x else x


cdef inline floating _fmax(floating a, floating b) noexcept nogil:
    # max(a, b) that lets a NaN in ``a`` through (a is |x| below)
    return b if b > a else a


cdef inline floating _sign(floating x) noexcept nogil:
    return <floating>((x > 0) - (x < 0))


cdef inline void _zero(floating* acc) noexcept nogil:
    cdef Py_ssize_t c
    for c in range(NRMAX):
        acc[c] = 0


cdef inline void _store(const floating* acc, floating* out, Py_ssize_t ncols) noexcept nogil:
    cdef Py_ssize_t c
    for c in range(ncols):
        out[c] = acc[c]


# ------------------------------------------------------------------ min micro-kernels
cdef inline void _finish(floating* acc, floating* out, bint first) noexcept nogil:
    # Add up the lanes of one accumulator (halving: 8 -> 4 -> 2 -> 1) into out[0], on
    # top of the partial sum of the earlier k-chunks unless this is the first chunk.
    cdef Py_ssize_t l, h = _nr(acc[0])
    while h > 1:
        h //= 2
        for l in range(h):
            acc[l] += acc[l + h]
    out[0] = acc[0] if first else out[0] + acc[0]


cdef inline void _min_tile(const floating* x, Py_ssize_t ldx, Py_ssize_t K,
                           const floating* ab, const floating* sg,
                           floating* out, Py_ssize_t ldo, Py_ssize_t nrows,
                           bint first) noexcept nogil:
    """8 rows x 1 filter: out[r*ldo] (+)= sum_k sg[k] * clip(x[r*ldx + k], -ab[k], ab[k]).

    ``x``: 8 rows of the packed block (row stride ``ldx``), ``ab``/``sg``: |w| and
    sgn(w) of one filter; K is a multiple of the lane count nl. Lane l of an
    accumulator sums the k with k % nl == l; only the first ``nrows`` rows are stored.
    """
    cdef Py_ssize_t nl = _nr(x[0])
    cdef floating a0[NRMAX]
    cdef floating a1[NRMAX]
    cdef floating a2[NRMAX]
    cdef floating a3[NRMAX]
    cdef floating a4[NRMAX]
    cdef floating a5[NRMAX]
    cdef floating a6[NRMAX]
    cdef floating a7[NRMAX]
    cdef floating lo, hi, s
    cdef Py_ssize_t kv, l, k
    _zero(a0); _zero(a1); _zero(a2); _zero(a3)
    _zero(a4); _zero(a5); _zero(a6); _zero(a7)
    for kv in range(K // nl):
        for l in range(nl):  # one vector operation per line
            k = kv * nl + l
            hi = ab[k]
            lo = -hi
            s = sg[k]
            a0[l] += s * _clip(x[k], lo, hi)
            a1[l] += s * _clip(x[ldx + k], lo, hi)
            a2[l] += s * _clip(x[2 * ldx + k], lo, hi)
            a3[l] += s * _clip(x[3 * ldx + k], lo, hi)
            a4[l] += s * _clip(x[4 * ldx + k], lo, hi)
            a5[l] += s * _clip(x[5 * ldx + k], lo, hi)
            a6[l] += s * _clip(x[6 * ldx + k], lo, hi)
            a7[l] += s * _clip(x[7 * ldx + k], lo, hi)
    # rows past nrows (the ragged end of the last block) are computed, never stored
    _finish(a0, out, first)
    if nrows > 1: _finish(a1, out + ldo, first)
    if nrows > 2: _finish(a2, out + 2 * ldo, first)
    if nrows > 3: _finish(a3, out + 3 * ldo, first)
    if nrows > 4: _finish(a4, out + 4 * ldo, first)
    if nrows > 5: _finish(a5, out + 5 * ldo, first)
    if nrows > 6: _finish(a6, out + 6 * ldo, first)
    if nrows > 7: _finish(a7, out + 7 * ldo, first)


cdef void _min_block(const floating* x, Py_ssize_t nrows, Py_ssize_t Kp, Py_ssize_t C,
                     const floating* ab, const floating* sg, floating* out) noexcept nogil:
    """All filters over one packed block of rows (``x``: MB x Kp, ``out`` offset to it).

    Row tiles outside, filters inside: the tile's 8 rows (8 x KC values) stay in L1
    while the filters stream past from L2.
    """
    cdef Py_ssize_t j, r, rt, kb, k0, kc
    for kb in range((Kp + KC - 1) // KC):
        k0 = kb * KC
        kc = Kp - k0 if Kp - k0 < KC else KC
        for rt in range((nrows + MR - 1) // MR):
            r = rt * MR
            for j in range(C):
                _min_tile(x + r * Kp + k0, Kp, kc, ab + j * Kp + k0, sg + j * Kp + k0,
                          out + r * C + j, C, nrows - r, k0 == 0)


# ------------------------------------------------------------------ max micro-kernels
cdef inline void _max_tile8(const floating* x, Py_ssize_t K,
                            const floating* ab, const floating* sg,
                            floating* out, Py_ssize_t ldo, Py_ssize_t ncols) noexcept nogil:
    """8 rows x nr filters of sum_k sgn(x) sgn(w) max(|x|, |w|), with ab = |w|, sg = sgn(w).

    |x| and sgn(x) are computed once per (row, k), outside the vectorised c loop.
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
    cdef floating m0, m1, m2, m3, m4, m5, m6, m7
    cdef floating s0, s1, s2, s3, s4, s5, s6, s7
    cdef floating hi, s
    cdef Py_ssize_t k, c, o
    _zero(a0); _zero(a1); _zero(a2); _zero(a3)
    _zero(a4); _zero(a5); _zero(a6); _zero(a7)
    for k in range(K):
        m0 = fabs(x[k]); s0 = _sign(x[k])
        m1 = fabs(x[K + k]); s1 = _sign(x[K + k])
        m2 = fabs(x[2 * K + k]); s2 = _sign(x[2 * K + k])
        m3 = fabs(x[3 * K + k]); s3 = _sign(x[3 * K + k])
        m4 = fabs(x[4 * K + k]); s4 = _sign(x[4 * K + k])
        m5 = fabs(x[5 * K + k]); s5 = _sign(x[5 * K + k])
        m6 = fabs(x[6 * K + k]); s6 = _sign(x[6 * K + k])
        m7 = fabs(x[7 * K + k]); s7 = _sign(x[7 * K + k])
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
    _store(a0, out, ncols)
    _store(a1, out + ldo, ncols)
    _store(a2, out + 2 * ldo, ncols)
    _store(a3, out + 3 * ldo, ncols)
    _store(a4, out + 4 * ldo, ncols)
    _store(a5, out + 5 * ldo, ncols)
    _store(a6, out + 6 * ldo, ncols)
    _store(a7, out + 7 * ldo, ncols)


cdef inline void _max_tile1(const floating* x, Py_ssize_t K,
                            const floating* ab, const floating* sg,
                            floating* out, Py_ssize_t ncols) noexcept nogil:
    cdef Py_ssize_t nr = _nr(x[0])
    cdef floating a0[NRMAX]
    cdef floating m0, s0
    cdef Py_ssize_t k, c, o
    _zero(a0)
    for k in range(K):
        m0 = fabs(x[k])
        s0 = _sign(x[k])
        o = k * nr
        for c in range(nr):
            a0[c] += (s0 * sg[o + c]) * _fmax(m0, ab[o + c])
    _store(a0, out, ncols)


cdef void _max_block(const floating* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                     const floating* ab, const floating* sg, floating* out) noexcept nogil:
    cdef Py_ssize_t nr = _nr(x[0])
    cdef Py_ssize_t jp, j, r, ncols, panel = K * nr
    for jp in range((C + nr - 1) // nr):
        j = jp * nr
        ncols = C - j if C - j < nr else nr
        r = 0
        while r + MR <= nrows:
            _max_tile8(x + r * K, K, ab + jp * panel, sg + jp * panel,
                       out + r * C + j, C, ncols)
            r += MR
        while r < nrows:
            _max_tile1(x + r * K, K, ab + jp * panel, sg + jp * panel, out + r * C + j, ncols)
            r += 1


# ---------------------------------------------------------------- adder micro-kernels
cdef inline void _adder_tile8(const floating* x, Py_ssize_t K, const floating* wt,
                              floating* out, Py_ssize_t ldo, Py_ssize_t ncols) noexcept nogil:
    """8 rows x nr filters of -sum_k |x - w|."""
    cdef Py_ssize_t nr = _nr(x[0])
    cdef floating a0[NRMAX]
    cdef floating a1[NRMAX]
    cdef floating a2[NRMAX]
    cdef floating a3[NRMAX]
    cdef floating a4[NRMAX]
    cdef floating a5[NRMAX]
    cdef floating a6[NRMAX]
    cdef floating a7[NRMAX]
    cdef floating w
    cdef Py_ssize_t k, c, o
    _zero(a0); _zero(a1); _zero(a2); _zero(a3)
    _zero(a4); _zero(a5); _zero(a6); _zero(a7)
    for k in range(K):
        o = k * nr
        for c in range(nr):
            w = wt[o + c]
            a0[c] -= fabs(x[k] - w)
            a1[c] -= fabs(x[K + k] - w)
            a2[c] -= fabs(x[2 * K + k] - w)
            a3[c] -= fabs(x[3 * K + k] - w)
            a4[c] -= fabs(x[4 * K + k] - w)
            a5[c] -= fabs(x[5 * K + k] - w)
            a6[c] -= fabs(x[6 * K + k] - w)
            a7[c] -= fabs(x[7 * K + k] - w)
    _store(a0, out, ncols)
    _store(a1, out + ldo, ncols)
    _store(a2, out + 2 * ldo, ncols)
    _store(a3, out + 3 * ldo, ncols)
    _store(a4, out + 4 * ldo, ncols)
    _store(a5, out + 5 * ldo, ncols)
    _store(a6, out + 6 * ldo, ncols)
    _store(a7, out + 7 * ldo, ncols)


cdef inline void _adder_tile1(const floating* x, Py_ssize_t K, const floating* wt,
                              floating* out, Py_ssize_t ncols) noexcept nogil:
    cdef Py_ssize_t nr = _nr(x[0])
    cdef floating a0[NRMAX]
    cdef Py_ssize_t k, c, o
    _zero(a0)
    for k in range(K):
        o = k * nr
        for c in range(nr):
            a0[c] -= fabs(x[k] - wt[o + c])
    _store(a0, out, ncols)


cdef void _adder_block(const floating* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                       const floating* wt, floating* out) noexcept nogil:
    cdef Py_ssize_t nr = _nr(x[0])
    cdef Py_ssize_t jp, j, r, ncols, panel = K * nr
    for jp in range((C + nr - 1) // nr):
        j = jp * nr
        ncols = C - j if C - j < nr else nr
        r = 0
        while r + MR <= nrows:
            _adder_tile8(x + r * K, K, wt + jp * panel, out + r * C + j, C, ncols)
            r += MR
        while r < nrows:
            _adder_tile1(x + r * K, K, wt + jp * panel, out + r * C + j, ncols)
            r += 1


# ------------------------------------------------------------------- weight packing
def _panels(w):
    """Repack ``w`` (C x K) into filter panels: array (ceil(C/nr), K, nr), zero-padded.

    ``panels[j, k, c] = w[j*nr + c, k]`` with nr = 8 (float32) or 4 (float64): the nr
    filters of panel j are contiguous for each k, the order the micro-kernel reads.
    Padding filters are zero, so they add nothing and are never stored.
    """
    C, K = w.shape
    nr = 8 if w.dtype == np.float32 else 4
    npan = (C + nr - 1) // nr
    padded = np.zeros((npan * nr, K), dtype=w.dtype)
    padded[:C] = w
    return np.ascontiguousarray(padded.reshape(npan, nr, K).transpose(0, 2, 1))


def _aligned_zeros(shape, dtype):
    """Zero array whose data starts on a 64-byte boundary (numpy only promises 16)."""
    n = int(np.prod(shape))
    itemsize = np.dtype(dtype).itemsize
    raw = np.zeros(n + 64 // itemsize, dtype=dtype)
    off = (-raw.ctypes.data % 64) // itemsize
    return raw[off:off + n].reshape(shape)


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
    # |w| and sgn(w), K zero-padded to a multiple of the lane count (the padding adds
    # sgn(0) * clip(0, 0, 0) = 0), 64-byte aligned so no vector load splits a cache line
    nl = 8 if cols.dtype == np.float32 else 4
    Kp = -(-K // nl) * nl
    ab = _aligned_zeros((C, Kp), cols.dtype)
    sg = _aligned_zeros((C, Kp), cols.dtype)
    ab[:, :K] = np.abs(w_hat)
    sg[:, :K] = np.sign(w_hat)
    nt = _num_threads()
    xbuf = _aligned_zeros((nt, MB, Kp), cols.dtype)  # one packed row block per thread
    if cols.dtype == np.float32:
        _min_run[float](cols, ab, sg, xbuf, out, nt)
    else:
        _min_run[double](cols, ab, sg, xbuf, out, nt)
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


cdef _min_run(const floating[:, ::1] x, const floating[:, ::1] ab,
              const floating[:, ::1] sg, floating[:, :, ::1] xbuf,
              floating[:, ::1] out, int nt):
    cdef Py_ssize_t P = x.shape[0], K = x.shape[1], C = out.shape[1], Kp = ab.shape[1]
    cdef Py_ssize_t nblocks = (P + MB - 1) // MB, b, r0, nr, r
    cdef floating* buf
    for b in prange(nblocks, nogil=True, schedule="dynamic", num_threads=nt):
        r0 = b * MB
        nr = P - r0 if P - r0 < MB else MB
        # copy the block into this thread's aligned buffer (its padding stays zero)
        buf = &xbuf[threadid(), 0, 0]
        for r in range(nr):
            memcpy(buf + r * Kp, &x[r0 + r, 0], K * sizeof(floating))
        _min_block(buf, nr, Kp, C, &ab[0, 0], &sg[0, 0], &out[r0, 0])


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
