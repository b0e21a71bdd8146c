# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The min-selector GEMM in Cython: ``out[p, c] = sum_k m(cols[p, k], w_hat[c, k])``.

``m(a, b) = sgn(a) sgn(b) min(|a|, |b|)`` (Eq. 13, docs/guides/minconv_math.rst,
section 4), computed through the identity ``m(a, w) = sgn(w) * clip(a, -|w|, |w|)``.
The validating entry point is :func:`tinymin._ext.min_gemm`; the functions here trust
their arguments (C-contiguous 2-D float32/float64 arrays of the same dtype, matching
K). Its numpy twin is ``tinymin._ext.reference.min_gemm``. The two other selector
GEMMs (max, adder) are in ``_selector_gemm.pyx``.

How the kernels are organised (benchmarks/README.md holds the measurements behind it):

A "vector" below is one register of the width the compiler targets: 64 bytes with
AVX-512 (``-march=native`` on a CPU that has it; 16 float32 or 8 float64 lanes, 32
registers), else 32 bytes (AVX2: 8 or 4 lanes, 16 registers). ``min_gemm`` has two
kernels that compute the same sums and picks one by K (``PANEL_MAX_K``):

``min_gemm_panels`` vectorises over the filters (every K with AVX-512; K <= 64
otherwise). The weights are repacked into panels of nr filters (K x nr, nr = one
vector), as |w| and sgn(w); a tile is 8 rows x one panel: for each k the 8 inputs are
broadcast and each does (max, min, fused multiply-add) against the panel's -|w|, |w|
and sgn(w), and the results are stored as they are. No lane sums, no padding of K.
It needs 8 accumulators + 8 broadcasts + 3 weight vectors: with 16 registers gcc
spills, which is why AVX2 builds use it only where the k-lane kernel's per-output
lane sums dominate (LeNet's first layer, K = 25: 2.1 against 3.3 ms).

``min_gemm_klanes`` vectorises over k ("k-lanes"):

1. ``|w|`` and ``sgn(w)`` are computed once per call as C x Kp arrays, K zero-padded
   to Kp, a multiple of the lane count nl (one vector), and 64-byte aligned (numpy
   only promises 16; a misaligned vector load that splits a cache line costs two).
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
   -> 1). Everything lives in registers (8 + 3 + 2 temporaries of AVX2's 16);
   nothing in the loop is loop-invariant, so gcc has nothing to hoist and spill.
   The compares are written as ``lo if lo > x else x``, which gcc turns into one
   ``vmaxps`` (and which keeps a NaN input NaN); the loops live in ``cdef inline
   ... noexcept nogil`` helpers (gcc did not vectorise them written directly in the
   ``prange`` body).

Measurements, and the variants that lost: benchmarks/README.md, "How min_gemm got
fast".
"""

import sys

import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport NAN
from libc.string cimport memcpy

from tinymin._ext._lanes cimport (MB, MR, NRMAX, TINYMIN_VECTOR_BYTES, _nr, _row, _store8,
                                  _zero8)
from tinymin._ext._patches cimport _im2col_row

from tinymin._ext._im2col import im2col as _im2col
from tinymin._ext.threads import num_threads as _num_threads

# The panel kernels with AVX-512DQ (one VRANGE instruction per clip, a 6-row x 64-filter
# tile; the same tile with one FMA per pair for the exact layer): written in C with
# intrinsics in _panel_tiles.h, which says why they are faster.
cdef extern from "_panel_tiles.h":
    const bint TINYMIN_HAS_RANGE
    void tinymin_min_block_f(const float* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                             const float* ab, const float* sg, float* out) noexcept nogil
    void tinymin_min_block_d(const double* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                             const double* ab, const double* sg, double* out) noexcept nogil
    void tinymin_dot_block_f(const float* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                             const float* w, float* out) noexcept nogil
    void tinymin_dot_block_d(const double* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                             const double* w, double* out) noexcept nogil
    void tinymin_min_implicit_f(const float* x, const Py_ssize_t* rowoff, const Py_ssize_t* koff,
                                Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C, const float* ab,
                                const float* sg, float* out) noexcept nogil
    void tinymin_min_implicit_d(const double* x, const Py_ssize_t* rowoff,
                                const Py_ssize_t* koff, Py_ssize_t nrows, Py_ssize_t K,
                                Py_ssize_t C, const double* ab, const double* sg,
                                double* out) noexcept nogil
    void tinymin_dot_implicit_f(const float* x, const Py_ssize_t* rowoff, const Py_ssize_t* koff,
                                Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C, const float* w,
                                float* out) noexcept nogil
    void tinymin_dot_implicit_d(const double* x, const Py_ssize_t* rowoff,
                                const Py_ssize_t* koff, Py_ssize_t nrows, Py_ssize_t K,
                                Py_ssize_t C, const double* w, double* out) noexcept nogil


# KC (a multiple of every lane count) bounds the k-chunk of the k-lane kernel.
cdef enum:
    KC = 1024

#: Up to this many columns (K = C_in kh kw) ``min_gemm`` vectorises over the filters
#: (:func:`min_gemm_panels`), above it over k (:func:`min_gemm_klanes`). With AVX-512's
#: 32 vector registers the panel kernel's 8 accumulators, 8 broadcast inputs and 3
#: weight vectors fit, and it was faster at every K measured (25 to 4,608); with 16
#: registers (AVX2) it spills, and won only up to K of about 64 (benchmarks/README.md).
PANEL_MAX_K = sys.maxsize if TINYMIN_VECTOR_BYTES >= 64 else 64

#: Whether this build has the AVX-512DQ panel kernels (``_panel_tiles.h``), which
#: ``min_gemm_panels`` and ``im2col_min_gemm`` then use, and which ``im2col_gemm``
#: (the exact layer's fused kernel) needs.
HAS_VRANGE = bool(TINYMIN_HAS_RANGE)


def vector_lanes(dtype) -> int:
    """Lanes of one vector register for ``dtype`` in this build (what ``_nr`` returns)."""
    return TINYMIN_VECTOR_BYTES // np.dtype(dtype).itemsize


cdef inline floating _clip(floating x, floating lo, floating hi) noexcept nogil:
    # Each ternary is one vmaxps / vminps; written with x last so that a NaN in x
    # comes out as NaN (vmaxps(a, b) returns b when either is NaN), as in numpy.
    x = lo if lo > x else x
    return hi if hi < x else x


# ------------------------------------------------------------------ min micro-kernels
cdef inline void _finish(floating* acc, floating* out, bint first) noexcept nogil:
    # Add up the lanes of one accumulator (halving: 16 -> 8 -> 4 -> 2 -> 1) into
    # out[0], on top of the partial sum of the earlier k-chunks unless this is the
    # first chunk.
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
    _zero8(a0, a1, a2, a3, a4, a5, a6, a7)
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


cdef inline void _min_panel_tile(const floating* x, Py_ssize_t ldx, Py_ssize_t K,
                                 const floating* ab, const floating* sg,
                                 floating* out, Py_ssize_t ldo, Py_ssize_t nrows,
                                 Py_ssize_t ncols) noexcept nogil:
    """8 rows x one panel of nr filters, vectorised over the filters (small K).

    out[r*ldo + c] = sum_k sg[k*nr + c] * clip(x[r*ldx + k], -ab[k*nr + c], ab[k*nr + c])
    for r < nrows, c < ncols. Rows past ``nrows`` read the last real row again (so
    nothing past the end of ``x`` is read) and are never stored.
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
    cdef const floating* r1 = _row(x, ldx, 1, nrows)
    cdef const floating* r2 = _row(x, ldx, 2, nrows)
    cdef const floating* r3 = _row(x, ldx, 3, nrows)
    cdef const floating* r4 = _row(x, ldx, 4, nrows)
    cdef const floating* r5 = _row(x, ldx, 5, nrows)
    cdef const floating* r6 = _row(x, ldx, 6, nrows)
    cdef const floating* r7 = _row(x, ldx, 7, nrows)
    cdef floating x0, x1, x2, x3, x4, x5, x6, x7, hi, lo, s
    cdef Py_ssize_t k, c, o
    _zero8(a0, a1, a2, a3, a4, a5, a6, a7)
    for k in range(K):
        # the 8 inputs of this k, each broadcast to every lane
        x0 = x[k]; x1 = r1[k]; x2 = r2[k]; x3 = r3[k]
        x4 = r4[k]; x5 = r5[k]; x6 = r6[k]; x7 = r7[k]
        o = k * nr
        for c in range(nr):  # one vector operation per line
            hi = ab[o + c]
            lo = -hi
            s = sg[o + c]
            a0[c] += s * _clip(x0, lo, hi)
            a1[c] += s * _clip(x1, lo, hi)
            a2[c] += s * _clip(x2, lo, hi)
            a3[c] += s * _clip(x3, lo, hi)
            a4[c] += s * _clip(x4, lo, hi)
            a5[c] += s * _clip(x5, lo, hi)
            a6[c] += s * _clip(x6, lo, hi)
            a7[c] += s * _clip(x7, lo, hi)
    _store8(a0, a1, a2, a3, a4, a5, a6, a7, out, ldo, nrows, ncols)


cdef inline bint _has_nan(const floating* x, Py_ssize_t K) noexcept nogil:
    # an OR over the row rather than an early exit, so that gcc vectorises it
    cdef int bad = 0
    cdef Py_ssize_t k
    for k in range(K):
        bad |= x[k] != x[k]
    return bad


cdef void _min_panel_block(const floating* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                           const floating* ab, const floating* sg,
                           floating* out, bint vrange) noexcept nogil:
    """All filter panels over one block of rows (``x``: nrows x K, read in place).

    With ``vrange`` (only where the build has AVX-512DQ) the block goes to the VRANGE
    kernel of ``_panel_tiles.h``, else to the portable 8-row tile above.
    """
    cdef Py_ssize_t nr = _nr(x[0])
    cdef Py_ssize_t jp, j, r, panel = K * nr
    if vrange:  # (AVX-512DQ: then nr is 16 float32 or 8 float64)
        if floating is float:
            tinymin_min_block_f(x, nrows, K, C, ab, sg, out)
        else:
            tinymin_min_block_d(x, nrows, K, C, ab, sg, out)
    else:
        for jp in range((C + nr - 1) // nr):
            j = jp * nr
            r = 0
            while r < nrows:
                _min_panel_tile(x + r * K, K, K, ab + jp * panel, sg + jp * panel,
                                out + r * C + j, C, min(<Py_ssize_t>MR, nrows - r),
                                min(nr, C - j))
                r += MR
    if vrange:
        # VRANGE returns the other operand where one is NaN (minNum), so a NaN input
        # would vanish from its sums; m(NaN, w) is NaN for every w, so such a row's
        # outputs are all NaN. One scan per block: about 1% of the tile work.
        for r in range(nrows):
            if _has_nan(x + r * K, K):
                for j in range(C):
                    out[r * C + j] = NAN


# ------------------------------------------------------------------- weight packing
def pack_panels(w):
    """Repack ``w`` (C x K) into filter panels: array (ceil(C/nr), K, nr), zero-padded.

    ``panels[j, k, c] = w[j*nr + c, k]`` with nr = ``vector_lanes(w.dtype)``: the nr
    filters of panel j are contiguous for each k, the order the micro-kernel reads.
    Padding filters are zero, so they add nothing and are never stored.
    """
    C, K = w.shape
    nr = vector_lanes(w.dtype)
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


def out_or_new(out, P, C, dtype):
    return np.empty((P, C), dtype=dtype) if out is None else out


# ------------------------------------------------------------------------ entry points
def min_gemm(cols, w_hat, out=None):
    """``out[p, c] = sum_k sgn(cols[p,k]) sgn(w_hat[c,k]) min(|cols[p,k]|, |w_hat[c,k]|)``.

    Arguments are validated by :func:`tinymin._ext.min_gemm`; see there. Up to
    ``PANEL_MAX_K`` columns the filter-panel kernel runs (:func:`min_gemm_panels`),
    above it the k-lane kernel (:func:`min_gemm_klanes`); both compute the same sums.
    """
    P, K = cols.shape
    C = w_hat.shape[0]
    out = out_or_new(out, P, C, cols.dtype)
    if P == 0 or C == 0:
        return out
    if K == 0:
        out[...] = 0
        return out
    if K <= PANEL_MAX_K:
        return min_gemm_panels(cols, w_hat, out)
    return min_gemm_klanes(cols, w_hat, out)


def min_gemm_klanes(cols, w_hat, out):
    """``min_gemm`` vectorised over k (long rows in an AVX2 build): steps 1-3 of the
    module docstring."""
    P, K = cols.shape
    C = w_hat.shape[0]
    # |w| and sgn(w), K zero-padded to a multiple of the lane count (the padding adds
    # sgn(0) * clip(0, 0, 0) = 0), 64-byte aligned so no vector load splits a cache line
    nl = vector_lanes(cols.dtype)
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


def min_gemm_panels(cols, w_hat, out, vrange=None):
    """``min_gemm`` vectorised over the filters (K <= ``PANEL_MAX_K``: every K in an
    AVX-512 build, short rows otherwise).

    No lane sums at the end of each output and no zero padding of k: what the k-lane
    kernel spends on those dominates when K is a few vectors long (LeNet's first
    layer: K = 25). ``vrange``: use the AVX-512DQ kernel (``_panel_tiles.h``); None
    means where the build has it (``HAS_VRANGE``); False runs the portable tile,
    which is how the tests check it on a machine that would not pick it.
    """
    vrange = _pick_vrange(vrange)
    pan = pack_panels(w_hat)
    ab, sg = np.abs(pan), np.sign(pan)
    if cols.dtype == np.float32:
        _min_panel_run[float](cols, ab, sg, out, vrange)
    else:
        _min_panel_run[double](cols, ab, sg, out, vrange)
    return out


def _pick_vrange(vrange):
    if vrange is None:
        return HAS_VRANGE
    if vrange and not HAS_VRANGE:
        raise ValueError("min_gemm: vrange=True needs a build with AVX-512DQ")
    return bool(vrange)


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


cdef _min_panel_run(const floating[:, ::1] x, const floating[:, :, ::1] ab,
                    const floating[:, :, ::1] sg, floating[:, ::1] out, bint vrange):
    cdef Py_ssize_t P = x.shape[0], K = x.shape[1], C = out.shape[1]
    cdef Py_ssize_t nblocks = (P + MB - 1) // MB, b, r0, nr
    cdef int nt = _num_threads()
    for b in prange(nblocks, nogil=True, schedule="dynamic", num_threads=nt):
        r0 = b * MB
        nr = P - r0 if P - r0 < MB else MB
        _min_panel_block(&x[r0, 0], nr, K, C, &ab[0, 0, 0], &sg[0, 0, 0], &out[r0, 0],
                         vrange)


# ------------------------------------------------------ im2col fused with the selector
def im2col_min_gemm(x, w_hat, kernel_size, stride, padding, cols=None, out=None,
                    nchw=False, vrange=None):
    """``min_gemm(im2col(x, ...), w_hat)`` without the column matrix going through memory.

    Arguments are validated by :func:`tinymin._ext.im2col_min_gemm`; see there. The
    output rows are cut into blocks of whole output rows of an image (about ``MB``
    rows); a thread unfolds one block into its own buffer, which stays in L2, and runs
    the selector kernel over it at once (the panel or the k-lane kernel, as
    :func:`min_gemm` picks), so the column matrix is neither written out nor read back
    (LeNet's conv2: 40 MB each way). With ``cols`` given the block is unfolded there
    instead (the caller keeps the whole matrix, e.g. for a weight gradient) and still
    used while it is in L2; where the AVX-512DQ kernel runs and ``cols`` is not wanted,
    the tiles read ``x`` itself and nothing is unfolded. ``nchw``: the output as (N, C,
    OH, OW). ``vrange`` as in :func:`min_gemm_panels`.
    """
    return _im2col_fused(x, w_hat, kernel_size, stride, padding, cols, out,
                         _pick_vrange(vrange), False, None, nchw)


def im2col_gemm(x, w, kernel_size, stride, padding, cols=None, out=None, bias=None,
                nchw=False):
    """``im2col(x, ...) @ w.T``, fused: the exact layer's forward, as
    :func:`im2col_min_gemm` does the min-selector's.

    Arguments are validated by :func:`tinymin._ext.im2col_gemm`; see there. Only in a
    build with the AVX-512DQ panel kernels (``HAS_VRANGE``): the "dot" kernel of
    ``_panel_tiles.h`` (one FMA per pair, the min kernel's 6 x 64 tile) runs over each
    block of columns while it is in L2. Elsewhere the exact layer calls BLAS. With
    ``nchw`` the output is the layer's (N, C, OH, OW) array, ``bias`` added: each
    block's rows are transposed into it while they are in the cache.
    """
    if not HAS_VRANGE:
        raise RuntimeError("im2col_gemm needs a build with AVX-512DQ (HAS_VRANGE)")
    return _im2col_fused(x, w, kernel_size, stride, padding, cols, out, True, True, bias, nchw)


def _im2col_fused(x, w_hat, kernel_size, stride, padding, cols, out, bint vrange, bint dot,
                  bias=None, bint nchw=False):
    # the body of im2col_min_gemm (dot False) and im2col_gemm (dot True)
    N, Cin, H, W = x.shape
    C, K = w_hat.shape
    KH, KW = kernel_size
    SH, SW = stride
    PH, PW = padding
    OH, OW = (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1
    P = N * OH * OW
    if nchw:
        out = np.empty((N, C, OH, OW), x.dtype) if out is None else out
    else:
        out = out_or_new(out, P, C, x.dtype)
    if cols is not None:  # nothing to fuse with: the columns alone
        if C == 0 or K == 0:
            _im2col(x, kernel_size, stride, padding, cols)
    if P == 0 or C == 0:
        return out
    if K == 0:
        out[...] = 0
        if bias is not None:
            out += bias.reshape(1, -1, 1, 1) if nchw else bias
        return out
    nt = _num_threads()
    tb = max(1, -(-MB // OW))  # output rows (n, i) per block: at least MB rows of cols
    klanes = K > PANEL_MAX_K and not dot
    nl = vector_lanes(x.dtype)
    Kp = -(-K // nl) * nl if klanes else K
    if klanes:  # |w|, sgn(w) zero-padded to Kp; the block buffers' padding stays zero
        ab = _aligned_zeros((C, Kp), x.dtype)
        sg = _aligned_zeros((C, Kp), x.dtype)
        ab[:, :K] = np.abs(w_hat)
        sg[:, :K] = np.sign(w_hat)
        ab, sg = ab[:, None, :], sg[:, None, :]  # 3-D like the panels, for one signature
    elif dot:  # the weights as they are (sg is not read)
        ab = sg = pack_panels(w_hat)
    else:
        pan = pack_panels(w_hat)
        ab, sg = np.abs(pan), np.sign(pan)
    keep = cols is not None
    # implicit: the tiles read the (padded) input itself, no block is unfolded; not for
    # kept columns, the k-lane kernel, the portable tile, or a NaN input to the min
    # kernel (whose NaN rows are found in the unfolded block)
    implicit = (not keep and not klanes and vrange
                and (dot or not np.isnan(x).any()))
    xbuf = _aligned_zeros((nt, 0 if implicit else tb * OW, Kp), x.dtype)
    cols_view = cols if keep else xbuf[0]  # not written unless keep
    xpad, koff = _padded_input(x, kernel_size, padding) if implicit else (x, np.zeros(1, np.intp))
    rowbuf = np.empty((nt, tb * OW if implicit else 0), np.intp)
    geometry = np.array([KH, KW, SH, SW, PH, PW, OH, OW, tb], dtype=np.intp)
    # with nchw each thread's block of rows goes to ybuf first, then transposed
    ybuf = np.empty((nt, tb * OW if nchw else 0, C), x.dtype)
    rows = out.reshape(N, C, OH * OW)[0] if nchw else out  # (unused with nchw)
    nchw_view = out.reshape(N, C, OH * OW) if nchw else ybuf[:, :0, :]
    bias_view = np.zeros(C, x.dtype) if bias is None else bias
    if x.dtype == np.float32:
        _fused_run[float](x, ab, sg, xbuf, cols_view, rows, geometry, keep, klanes, vrange,
                          dot, nt, ybuf, nchw_view, bias_view, nchw, bias is not None,
                          implicit, xpad, koff, rowbuf)
    else:
        _fused_run[double](x, ab, sg, xbuf, cols_view, rows, geometry, keep, klanes, vrange,
                           dot, nt, ybuf, nchw_view, bias_view, nchw, bias is not None,
                           implicit, xpad, koff, rowbuf)
    return out


def _padded_input(x, kernel_size, padding):
    """``x`` zero-padded (a copy only if there is padding), and ``koff``: where element
    k = (c, u, v) of a receptive field sits relative to the field's first element,
    ``c * Hp * Wp + u * Wp + v`` in the padded (N, C, Hp, Wp) array."""
    N, Cin, H, W = x.shape
    (KH, KW), (PH, PW) = kernel_size, padding
    if PH or PW:
        xpad = np.zeros((N, Cin, H + 2 * PH, W + 2 * PW), x.dtype)
        xpad[:, :, PH:PH + H, PW:PW + W] = x
    else:
        xpad = x
    Hp, Wp = xpad.shape[2], xpad.shape[3]
    c, u, v = np.meshgrid(np.arange(Cin), np.arange(KH), np.arange(KW), indexing="ij")
    koff = (c * Hp * Wp + u * Wp + v).reshape(-1).astype(np.intp)
    return xpad, koff


cdef inline void _rows_to_nchw_block(const floating* rows, Py_ssize_t C, Py_ssize_t t0,
                                     Py_ssize_t t1, Py_ssize_t OH, Py_ssize_t OW,
                                     floating* nchw, const floating* bias,
                                     bint add_bias) noexcept nogil:
    """The rows of output rows t0..t1-1 (t = n * OH + i; row (t - t0) * OW + j of
    ``rows``, C values each) into the NCHW array: nchw[n, c, i * OW + j], plus bias[c].

    Done per block while its rows are in the cache; a whole-array transpose afterwards
    (numpy's copy into NCHW) read them back from memory in one thread.
    """
    cdef Py_ssize_t t, c, j, n, Q = OH * OW
    cdef const floating* src
    cdef floating* dst
    cdef floating b
    for t in range(t0, t1):
        n = t // OH
        src = rows + (t - t0) * OW * C
        for c in range(C):
            dst = nchw + (n * C + c) * Q + (t % OH) * OW
            if add_bias:
                b = bias[c]
                for j in range(OW):
                    dst[j] = src[j * C + c] + b
            else:
                for j in range(OW):
                    dst[j] = src[j * C + c]


cdef _fused_run(const floating[:, :, :, ::1] x, const floating[:, :, ::1] ab,
                const floating[:, :, ::1] sg, floating[:, :, ::1] xbuf,
                floating[:, ::1] cols, floating[:, ::1] out, const Py_ssize_t[::1] g,
                bint keep, bint klanes, bint vrange, bint dot, int nt,
                floating[:, :, ::1] ybuf, floating[:, :, ::1] nchw_out,
                const floating[::1] bias, bint nchw, bint add_bias, bint implicit,
                const floating[:, :, :, ::1] xpad, const Py_ssize_t[::1] koff,
                Py_ssize_t[:, ::1] rowbuf):
    cdef Py_ssize_t N = x.shape[0], Cin = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t KH = g[0], KW = g[1], SH = g[2], SW = g[3], PH = g[4], PW = g[5]
    cdef Py_ssize_t OH = g[6], OW = g[7], tb = g[8]
    cdef Py_ssize_t K = Cin * KH * KW, Kp = xbuf.shape[2], C = ybuf.shape[2]  # (ybuf: nt x rows x C)
    cdef Py_ssize_t T = N * OH, nblocks = (T + tb - 1) // tb
    cdef Py_ssize_t b, t, t0, t1, nrows, r, j, base
    cdef Py_ssize_t Hp = xpad.shape[2], Wp = xpad.shape[3]
    cdef Py_ssize_t* ro
    cdef floating* buf
    cdef floating* dst
    cdef floating* rows
    for b in prange(nblocks, nogil=True, schedule="dynamic", num_threads=nt):
        t0 = b * tb
        t1 = T if t0 + tb > T else t0 + tb
        nrows = (t1 - t0) * OW
        buf = &xbuf[threadid(), 0, 0]
        # the block's output rows: in out, or (nchw) this thread's buffer for now
        rows = &ybuf[threadid(), 0, 0] if nchw else &out[t0 * OW, 0]
        if implicit:  # where each row's receptive field starts in xpad; nothing unfolded
            ro = &rowbuf[threadid(), 0]
            for t in range(t0, t1):
                base = (t // OH) * Cin * Hp * Wp + (t % OH) * SH * Wp
                for j in range(OW):
                    ro[(t - t0) * OW + j] = base + j * SW
            if dot:
                if floating is float:
                    tinymin_dot_implicit_f(&xpad[0, 0, 0, 0], ro, &koff[0], nrows, K, C,
                                           &ab[0, 0, 0], rows)
                else:
                    tinymin_dot_implicit_d(&xpad[0, 0, 0, 0], ro, &koff[0], nrows, K, C,
                                           &ab[0, 0, 0], rows)
            else:
                if floating is float:
                    tinymin_min_implicit_f(&xpad[0, 0, 0, 0], ro, &koff[0], nrows, K, C,
                                           &ab[0, 0, 0], &sg[0, 0, 0], rows)
                else:
                    tinymin_min_implicit_d(&xpad[0, 0, 0, 0], ro, &koff[0], nrows, K, C,
                                           &ab[0, 0, 0], &sg[0, 0, 0], rows)
            if nchw:
                _rows_to_nchw_block(rows, C, t0, t1, OH, OW, &nchw_out[0, 0, 0], &bias[0],
                                    add_bias)
            continue
        # unfold the block's rows: into the kept column matrix, or this thread's buffer
        # (with the k-lane kernel always the buffer: its rows are padded to Kp)
        dst = &cols[t0 * OW, 0] if keep and not klanes else buf
        for t in range(t0, t1):
            _im2col_row(&x[t // OH, 0, 0, 0], Cin, H, W, KH, KW, SW, PW,
                        (t % OH) * SH - PH, OW, dst + (t - t0) * OW * Kp, Kp)
        if klanes:
            if keep:
                for r in range(nrows):
                    memcpy(&cols[t0 * OW + r, 0], buf + r * Kp, K * sizeof(floating))
            _min_block(buf, nrows, Kp, C, &ab[0, 0, 0], &sg[0, 0, 0], rows)
        elif dot:
            if floating is float:
                tinymin_dot_block_f(dst, nrows, K, C, &ab[0, 0, 0], rows)
            else:
                tinymin_dot_block_d(dst, nrows, K, C, &ab[0, 0, 0], rows)
        else:
            _min_panel_block(dst, nrows, K, C, &ab[0, 0, 0], &sg[0, 0, 0], rows, vrange)
        if nchw:
            _rows_to_nchw_block(rows, C, t0, t1, OH, OW, &nchw_out[0, 0, 0], &bias[0],
                                add_bias)
