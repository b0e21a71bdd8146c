# cython: language_level=3
# One output row's receptive fields, unfolded: shared by im2col (_im2col.pyx) and the
# fused im2col + min-selector kernel (_min_gemm.pyx), which unfolds a block of rows
# into a buffer that stays in L2 and runs the selector over it at once. A .pxd, so
# both modules inline the same definition.
from cython cimport floating

cdef extern from *:
    """
    /* dst[0:n] = src[0:n] (or 0) for the short runs of one kernel row (KW values):
       with AVX-512 one masked load and one masked store (n up to one vector; masked
       lanes are neither read nor written), instead of a scalar loop of n steps */
    #if defined(__AVX512F__)
    #include <immintrin.h>
    #endif
    static inline void tinymin_copy_short_f(float* dst, const float* src, Py_ssize_t n) {
    #if defined(__AVX512F__)
        if (n <= 16) {
            __mmask16 m = (__mmask16)((1u << n) - 1u);
            _mm512_mask_storeu_ps(dst, m, _mm512_maskz_loadu_ps(m, src));
            return;
        }
    #endif
        for (Py_ssize_t i = 0; i < n; i++) dst[i] = src[i];
    }
    static inline void tinymin_copy_short_d(double* dst, const double* src, Py_ssize_t n) {
    #if defined(__AVX512F__)
        if (n <= 8) {
            __mmask8 m = (__mmask8)((1u << n) - 1u);
            _mm512_mask_storeu_pd(dst, m, _mm512_maskz_loadu_pd(m, src));
            return;
        }
    #endif
        for (Py_ssize_t i = 0; i < n; i++) dst[i] = src[i];
    }
    static inline void tinymin_zero_short_f(float* dst, Py_ssize_t n) {
    #if defined(__AVX512F__)
        if (n <= 16) {
            _mm512_mask_storeu_ps(dst, (__mmask16)((1u << n) - 1u), _mm512_setzero_ps());
            return;
        }
    #endif
        for (Py_ssize_t i = 0; i < n; i++) dst[i] = 0;
    }
    static inline void tinymin_zero_short_d(double* dst, Py_ssize_t n) {
    #if defined(__AVX512F__)
        if (n <= 8) {
            _mm512_mask_storeu_pd(dst, (__mmask8)((1u << n) - 1u), _mm512_setzero_pd());
            return;
        }
    #endif
        for (Py_ssize_t i = 0; i < n; i++) dst[i] = 0;
    }
    """
    void tinymin_copy_short_f(float* dst, const float* src, Py_ssize_t n) noexcept nogil
    void tinymin_copy_short_d(double* dst, const double* src, Py_ssize_t n) noexcept nogil
    void tinymin_zero_short_f(float* dst, Py_ssize_t n) noexcept nogil
    void tinymin_zero_short_d(double* dst, Py_ssize_t n) noexcept nogil


cdef inline void _copy_short(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    if floating is float:
        tinymin_copy_short_f(dst, src, n)
    else:
        tinymin_copy_short_d(dst, src, n)


cdef inline void _zero_short(floating* dst, Py_ssize_t n) noexcept nogil:
    if floating is float:
        tinymin_zero_short_f(dst, n)
    else:
        tinymin_zero_short_d(dst, n)


cdef inline void _im2col_row(const floating* img, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t SW, Py_ssize_t PW,
                             Py_ssize_t ih0, Py_ssize_t OW,
                             floating* dst, Py_ssize_t ldd) noexcept nogil:
    """Fill the OW rows of ``cols`` for one output row i of one image.

    ``img`` is image n (C x H x W), ``ih0 = i*SH - PH`` the top input row of the
    window and ``dst`` the first of the OW consecutive rows (each C*KH*KW long, ``ldd``
    apart: K in the column matrix, more in a padded buffer).
    The loops run over (c, u) outside and j inside, so the input row and its bounds
    check are found once per (c, u) and reused by all OW windows.
    """
    cdef Py_ssize_t j, c, u, v, ih, iw, iw0
    cdef const floating* src
    cdef floating* row
    for c in range(C):
        for u in range(KH):
            ih = ih0 + u
            row = dst + (c * KH + u) * KW
            if ih < 0 or ih >= H:                   # a padding row: all zeros
                for j in range(OW):
                    _zero_short(row + j * ldd, KW)
                continue
            src = img + (c * H + ih) * W
            for j in range(OW):
                iw0 = j * SW - PW
                if iw0 >= 0 and iw0 + KW <= W:      # interior: a plain copy
                    _copy_short(row + j * ldd, src + iw0, KW)
                else:
                    for v in range(KW):
                        iw = iw0 + v
                        row[j * ldd + v] = src[iw] if 0 <= iw < W else 0
