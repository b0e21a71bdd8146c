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
