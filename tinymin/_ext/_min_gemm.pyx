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
lane sums dominate (LeNet's first layer, K = 25: 2.1 against 3.3 ms). In a build
with AVX-512DQ (``HAS_VRANGE``) the C tile of ``_panel_tiles.h`` runs instead, on
panels of the signed weights: one VRANGE instruction for the clip, a fused
multiply-add by sgn(x) (each thread writes the signs of its block of rows beside
it), and a 6-row x 4-panel tile; that header says why it is faster.

The tiles themselves live in ``_min_tiles.pxd``, shared with the fused im2col kernels
of ``_fused.pyx``; this module holds the entry points, the weight packing and the
loops that share the rows among threads.

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
from libc.string cimport memcpy

from tinymin._ext._lanes cimport MB, TINYMIN_VECTOR_BYTES
from tinymin._ext._min_tiles cimport (TINYMIN_HAS_RANGE, _min_block, _min_panel_block, _min_vrange_block,
                                      _signs, tinymin_prefers_operand_broadcasts)

from tinymin._ext.threads import num_threads as _num_threads

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

# The two forms of the VRANGE min tile (``_panel_tiles.h``, point 4), the same sums
# bit for bit: "registers" (x and sgn(x) broadcast into registers once per row and k)
# and "operands" (x read by each VRANGE as a memory operand, sgn(x) loaded whole from
# a table); tinymin/_ext/tiles.py is the switch.
def default_tile_broadcasts() -> str:
    """The form this CPU was measured to run faster: ``"operands"`` on AMD family 19h
    (Zen 4), ``"registers"`` elsewhere (Zen 5, where it was measured, and the CPUs
    where neither was)."""
    return "operands" if HAS_VRANGE and tinymin_prefers_operand_broadcasts() else "registers"


_tile_broadcasts = default_tile_broadcasts()


def tile_broadcasts() -> str:
    """The form of the VRANGE min tile in use: ``"registers"`` or ``"operands"``."""
    return _tile_broadcasts


def set_tile_broadcasts(form: str) -> None:
    """Run the VRANGE min tile in ``form`` (``"registers"``, ``"operands"``, or
    ``"auto"`` for :func:`default_tile_broadcasts`; checked by the caller,
    :func:`tinymin._ext.tiles.set_min_tile_broadcasts`). The results do not change."""
    global _tile_broadcasts
    _tile_broadcasts = default_tile_broadcasts() if form == "auto" else form


def _operand_broadcasts() -> bool:
    return _tile_broadcasts == "operands"


def vector_lanes(dtype) -> int:
    """Lanes of one vector register for ``dtype`` in this build (what ``_nr`` returns)."""
    return TINYMIN_VECTOR_BYTES // np.dtype(dtype).itemsize


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
    P, K = cols.shape
    if vrange:  # the signed panels; each thread copies its block and writes sgn(x) after it
        scratch = np.empty((_num_threads(), 2 * MB * K), cols.dtype)
        if cols.dtype == np.float32:
            _min_vrange_run[float](cols, pan, scratch, out, _operand_broadcasts())
        else:
            _min_vrange_run[double](cols, pan, scratch, out, _operand_broadcasts())
        nan_filters_to_nan(out, w_hat)
        return out
    ab, sg = np.abs(pan), np.sign(pan)
    if cols.dtype == np.float32:
        _min_panel_run[float](cols, ab, sg, out)
    else:
        _min_panel_run[double](cols, ab, sg, out)
    return out


def nan_filters_to_nan(out, w_hat):
    """Set the outputs of filters with a NaN weight to NaN (axis 1 of ``out``: rows
    (P, C) or NCHW): the VRANGE kernels would drop a NaN weight from the sum, since
    VRANGE returns the other operand where one is NaN, but m(x, NaN) is NaN."""
    bad = np.isnan(w_hat).any(axis=1)
    if bad.any():
        out[:, bad] = np.nan


def _pick_vrange(vrange, who="min_gemm"):
    if vrange is None:
        return HAS_VRANGE
    if vrange and not HAS_VRANGE:
        raise ValueError(f"{who}: vrange=True needs a build with AVX-512DQ")
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
                    const floating[:, :, ::1] sg, floating[:, ::1] out):
    cdef Py_ssize_t P = x.shape[0], K = x.shape[1], C = out.shape[1]
    cdef Py_ssize_t nblocks = (P + MB - 1) // MB, b, r0, nr
    cdef int nt = _num_threads()
    for b in prange(nblocks, nogil=True, schedule="dynamic", num_threads=nt):
        r0 = b * MB
        nr = P - r0 if P - r0 < MB else MB
        _min_panel_block(&x[r0, 0], nr, K, C, &ab[0, 0, 0], &sg[0, 0, 0], &out[r0, 0])


cdef _min_vrange_run(const floating[:, ::1] x, const floating[:, :, ::1] pan,
                     floating[:, ::1] scratch, floating[:, ::1] out, bint operands):
    # each thread copies its block of rows into its scratch, with their signs MB * K
    # values after them, and runs the VRANGE kernel there (operands: its form)
    cdef Py_ssize_t P = x.shape[0], K = x.shape[1], C = out.shape[1]
    cdef Py_ssize_t nblocks = (P + MB - 1) // MB, b, r0, nr, ds = MB * K
    cdef int nt = scratch.shape[0]
    cdef floating* buf
    for b in prange(nblocks, nogil=True, schedule="dynamic", num_threads=nt):
        r0 = b * MB
        nr = P - r0 if P - r0 < MB else MB
        buf = &scratch[threadid(), 0]
        memcpy(buf, &x[r0, 0], nr * K * sizeof(floating))
        _signs(buf, nr * K, buf + ds)
        _min_vrange_block(buf, ds, nr, K, C, &pan[0, 0, 0], &out[r0, 0], operands)
