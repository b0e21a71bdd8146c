# cython: language_level=3
# The min-selector's micro-kernels, shared by the selector GEMMs (_min_gemm.pyx) and the
# fused im2col kernels (_fused.pyx): the portable tiles in Cython, the AVX-512DQ ones
# declared from _panel_tiles.h. A .pxd, so that both modules inline the same
# definitions (how they are organised and why: _min_gemm.pyx's module docstring).
from cython cimport floating

from tinymin._ext._lanes cimport MB, MR, NRMAX, _nr, _row, _store8, _zero8

# The panel kernels with AVX-512DQ (one VRANGE instruction per clip, a tile of 6 rows x 4
# vectors of filters, 64 float32 or 32 float64; the same tile with one FMA per pair for
# the exact layer): written in C with intrinsics in _panel_tiles.h, which says why they
# are faster. The min kernels read
# sgn(x) ds values after each x (tinymin_signs_f/_d write it there); ``operands``
# picks the tile's form, "operands" or "registers" (that header's point 4).
cdef extern from "_panel_tiles.h":
    const bint TINYMIN_HAS_RANGE
    int tinymin_prefers_operand_broadcasts() noexcept nogil
    void tinymin_min_block_f(const float* x, Py_ssize_t ds, Py_ssize_t nrows, Py_ssize_t K,
                             Py_ssize_t C, const float* w, float* out,
                             int operands) noexcept nogil
    void tinymin_min_block_d(const double* x, Py_ssize_t ds, Py_ssize_t nrows, Py_ssize_t K,
                             Py_ssize_t C, const double* w, double* out,
                             int operands) noexcept nogil
    void tinymin_dot_block_f(const float* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                             const float* w, float* out) noexcept nogil
    void tinymin_dot_block_d(const double* x, Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C,
                             const double* w, double* out) noexcept nogil
    void tinymin_min_implicit_f(const float* x, Py_ssize_t ds, const Py_ssize_t* rowoff,
                                const Py_ssize_t* koff, Py_ssize_t nrows, Py_ssize_t K,
                                Py_ssize_t C, const float* w, float* out,
                                int operands) noexcept nogil
    void tinymin_min_implicit_d(const double* x, Py_ssize_t ds, const Py_ssize_t* rowoff,
                                const Py_ssize_t* koff, Py_ssize_t nrows, Py_ssize_t K,
                                Py_ssize_t C, const double* w, double* out,
                                int operands) noexcept nogil
    void tinymin_dot_implicit_f(const float* x, const Py_ssize_t* rowoff, const Py_ssize_t* koff,
                                Py_ssize_t nrows, Py_ssize_t K, Py_ssize_t C, const float* w,
                                float* out) noexcept nogil
    void tinymin_dot_implicit_d(const double* x, const Py_ssize_t* rowoff,
                                const Py_ssize_t* koff, Py_ssize_t nrows, Py_ssize_t K,
                                Py_ssize_t C, const double* w, double* out) noexcept nogil
    void tinymin_signs_f(const float* x, Py_ssize_t n, float* s) noexcept nogil
    void tinymin_signs_d(const double* x, Py_ssize_t n, double* s) noexcept nogil


cdef inline void _signs(const floating* x, Py_ssize_t n, floating* s) noexcept nogil:
    # s[i] = sgn(x[i]) (NaN for NaN): where the VRANGE min kernels read it
    if floating is float:
        tinymin_signs_f(x, n, s)
    else:
        tinymin_signs_d(x, n, s)


cdef inline void _min_vrange_block(const floating* x, Py_ssize_t ds, Py_ssize_t nrows,
                                   Py_ssize_t K, Py_ssize_t C, const floating* w,
                                   floating* out, bint operands) noexcept nogil:
    # The VRANGE min kernel over one block of nrows rows (stride K), sgn(x) at x + ds,
    # against the signed panels w (pack_panels), in the form "operands" or
    # "registers" (_panel_tiles.h, point 4)
    if floating is float:
        tinymin_min_block_f(x, ds, nrows, K, C, w, out, operands)
    else:
        tinymin_min_block_d(x, ds, nrows, K, C, w, out, operands)


# KC (a multiple of every lane count) bounds the k-chunk of the k-lane kernel.
cdef enum:
    KC = 1024


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


cdef inline void _min_block(const floating* x, Py_ssize_t nrows, Py_ssize_t Kp, Py_ssize_t C,
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


cdef inline void _min_panel_block(const floating* x, Py_ssize_t nrows, Py_ssize_t K,
                                  Py_ssize_t C, const floating* ab, const floating* sg,
                                  floating* out) noexcept nogil:
    """All filter panels over one block of rows (``x``: nrows x K, read in place), with
    the portable 8-row tile above (a build with AVX-512DQ runs ``_min_vrange_block``)."""
    cdef Py_ssize_t nr = _nr(x[0])
    cdef Py_ssize_t jp, j, r, panel = K * nr
    for jp in range((C + nr - 1) // nr):
        j = jp * nr
        r = 0
        while r < nrows:
            _min_panel_tile(x + r * K, K, K, ab + jp * panel, sg + jp * panel,
                            out + r * C + j, C, min(<Py_ssize_t>MR, nrows - r),
                            min(nr, C - j))
            r += MR
