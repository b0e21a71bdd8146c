# cython: language_level=3
# What the selector-GEMM kernels (_min_gemm.pyx, _selector_gemm.pyx) share: the width
# of the vector registers this build targets, the tile sizes, and three tiny inline
# helpers. A .pxd, so that both modules inline the same definitions.
from cython cimport floating

cdef extern from *:
    """
    /* The width of the vector registers the compiler may use, in bytes: 64 when it
       targets AVX-512 (-march=native on a CPU that has it), else 32 (AVX2's ymm; on
       narrower targets gcc splits each 32-byte lane group into smaller vectors). */
    #if defined(__AVX512F__)
    #define TINYMIN_VECTOR_BYTES 64
    #else
    #define TINYMIN_VECTOR_BYTES 32
    #endif
    """
    const int TINYMIN_VECTOR_BYTES

# Tiles: MR = 8 rows of output; MB rows form the block that one thread takes at a time.
# NRMAX bounds the lanes of one vector (16 float32 in a 512-bit register), the size
# of the accumulator arrays the compiler maps onto vector registers.
cdef enum:
    NRMAX = 16
    MR = 8
    MB = 64


cdef inline Py_ssize_t _nr(floating dummy) noexcept nogil:
    # lanes in one vector of the dtype (a compile-time constant per type): 16 float32
    # or 8 float64 with AVX-512, 8 or 4 otherwise
    return TINYMIN_VECTOR_BYTES // sizeof(floating)


cdef inline void _zero(floating* acc) noexcept nogil:
    cdef Py_ssize_t c
    for c in range(NRMAX):
        acc[c] = 0


cdef inline void _store(const floating* acc, floating* out, Py_ssize_t ncols) noexcept nogil:
    cdef Py_ssize_t c
    for c in range(ncols):
        out[c] = acc[c]


# What every 8-row tile does at its two ends: zero its 8 accumulators, point at its 8
# input rows, store the rows that exist. Inline, so each kernel's registers stay its own.
cdef inline void _zero8(floating* a0, floating* a1, floating* a2, floating* a3,
                        floating* a4, floating* a5, floating* a6, floating* a7) noexcept nogil:
    _zero(a0); _zero(a1); _zero(a2); _zero(a3)
    _zero(a4); _zero(a5); _zero(a6); _zero(a7)


cdef inline const floating* _row(const floating* x, Py_ssize_t ldx, Py_ssize_t r,
                                 Py_ssize_t nrows) noexcept nogil:
    # row r of a tile, or the last real row again past ``nrows`` (the ragged end of the
    # last block): read, so nothing past the end of x is touched, and never stored
    return x + (r if r < nrows else nrows - 1) * ldx


cdef inline void _store8(const floating* a0, const floating* a1, const floating* a2,
                         const floating* a3, const floating* a4, const floating* a5,
                         const floating* a6, const floating* a7, floating* out, Py_ssize_t ldo,
                         Py_ssize_t nrows, Py_ssize_t ncols) noexcept nogil:
    # the first ``nrows`` rows x ``ncols`` filters of a tile into out (row stride ldo)
    _store(a0, out, ncols)
    if nrows > 1: _store(a1, out + ldo, ncols)
    if nrows > 2: _store(a2, out + 2 * ldo, ncols)
    if nrows > 3: _store(a3, out + 3 * ldo, ncols)
    if nrows > 4: _store(a4, out + 4 * ldo, ncols)
    if nrows > 5: _store(a5, out + 5 * ldo, ncols)
    if nrows > 6: _store(a6, out + 6 * ldo, ncols)
    if nrows > 7: _store(a7, out + 7 * ldo, ncols)
