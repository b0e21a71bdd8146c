/* The fused convolutions' NCHW store with AVX-512: a block of output rows (positions x
 * channels) written into the layer's (N, C, OH, OW) output.
 *
 * Included by _fused.pyx. For npos consecutive output positions of one image, whose
 * rows (C values each, row-major) the tile kernels left in ``rows``, it writes
 *
 *     dst[c * Q + p] = rows[p * C + c] * scale[c] + bias[c]      (p < npos, c < C)
 *
 * (scale and bias each where not NULL): the transpose of an npos x C block. A scalar
 * loop reads ``rows`` with a stride of C for every channel; on mini_cifar's small
 * layers that took 0.4-0.9 ms of a 2-2.5 ms layer (benchmarks/README.md). Here 16
 * positions x 16 channels (8 x 8 in float64) are loaded as 16 vectors of channels,
 * transposed in registers (4 rounds of unpacks and 128-bit shuffles, 3 in float64),
 * and stored as 16 vectors of positions. Ragged edges (fewer positions or channels)
 * are masked loads and stores.
 *
 * The scale and the bias go through the _round_ intrinsics, which gcc does not fuse
 * into one multiply-add (it may fuse _mm512_mul_ps and _mm512_add_ps): each rounds on
 * its own, as numpy's ``y * scale`` then ``+ bias`` does, so that both give the same
 * bits.
 *
 * Without AVX-512F, TINYMIN_HAS_NCHW_STORE is 0 and the functions are empty stubs that
 * are never called: the Cython loop of _fused.pyx runs instead.
 */
#ifndef TINYMIN_NCHW_STORE_H
#define TINYMIN_NCHW_STORE_H

#include <stddef.h>

#if defined(__AVX512F__)
#include <immintrin.h>

#define TINYMIN_HAS_NCHW_STORE 1
#define TINYMIN_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* r[i][j] -> r[j][i] for 16 vectors of 16 floats. */
static inline void tinymin_transpose16_f(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {  /* neighbouring rows: interleave 32-bit elements */
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int g = 0; g < 16; g += 4)  /* rows two apart: interleave 64-bit pairs */
        for (int h = 0; h < 2; h++) {
            __m512d a = _mm512_castps_pd(t[g + h]), b = _mm512_castps_pd(t[g + h + 2]);
            r[g + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[g + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    for (int h = 0; h < 16; h += 8)  /* rows four apart: even and odd 128-bit lanes */
        for (int i = 0; i < 4; i++) {
            t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
            t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xDD);
        }
    for (int i = 0; i < 8; i++) {  /* rows eight apart: the same, which sorts the lanes */
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

/* r[i][j] -> r[j][i] for 8 vectors of 8 doubles. */
static inline void tinymin_transpose8_d(__m512d r[8]) {
    __m512d t[8];
    for (int i = 0; i < 8; i += 2) {  /* neighbouring rows: interleave elements */
        t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
    }
    for (int g = 0; g < 8; g += 4)  /* rows two apart: even and odd 128-bit lanes */
        for (int i = 0; i < 2; i++) {
            r[g + i] = _mm512_shuffle_f64x2(t[g + i], t[g + i + 2], 0x88);
            r[g + i + 2] = _mm512_shuffle_f64x2(t[g + i], t[g + i + 2], 0xDD);
        }
    for (int i = 0; i < 4; i++) {  /* rows four apart: the same, which sorts the lanes */
        t[i] = _mm512_shuffle_f64x2(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f64x2(r[i], r[i + 4], 0xDD);
    }
    for (int i = 0; i < 8; i++) r[i] = t[i];
}

/* dst[c * Q + p] = rows[p * C + c] (* scale[c]) (+ bias[c]) for p < npos, c < C. */
static inline void tinymin_rows_to_nchw_f(const float* rows, ptrdiff_t npos, ptrdiff_t C,
                                          float* dst, ptrdiff_t Q, const float* scale,
                                          const float* bias) {
    for (ptrdiff_t p0 = 0; p0 < npos; p0 += 16) {
        ptrdiff_t pn = npos - p0 < 16 ? npos - p0 : 16;
        __mmask16 pmask = (__mmask16)((1u << pn) - 1u);
        for (ptrdiff_t c0 = 0; c0 < C; c0 += 16) {
            ptrdiff_t cn = C - c0 < 16 ? C - c0 : 16;
            __mmask16 cmask = (__mmask16)((1u << cn) - 1u);
            __m512 r[16];
            for (int i = 0; i < 16; i++)  /* row i: position p0 + i, channels c0.. */
                r[i] = i < pn ? _mm512_maskz_loadu_ps(cmask, rows + (p0 + i) * C + c0)
                              : _mm512_setzero_ps();
            tinymin_transpose16_f(r);  /* now r[l]: channel c0 + l, positions p0.. */
            for (int l = 0; l < cn; l++) {
                __m512 v = r[l];
                if (scale) v = _mm512_mul_round_ps(v, _mm512_set1_ps(scale[c0 + l]), TINYMIN_NEAREST);
                if (bias) v = _mm512_add_round_ps(v, _mm512_set1_ps(bias[c0 + l]), TINYMIN_NEAREST);
                _mm512_mask_storeu_ps(dst + (c0 + l) * Q + p0, pmask, v);
            }
        }
    }
}

static inline void tinymin_rows_to_nchw_d(const double* rows, ptrdiff_t npos, ptrdiff_t C,
                                          double* dst, ptrdiff_t Q, const double* scale,
                                          const double* bias) {
    for (ptrdiff_t p0 = 0; p0 < npos; p0 += 8) {
        ptrdiff_t pn = npos - p0 < 8 ? npos - p0 : 8;
        __mmask8 pmask = (__mmask8)((1u << pn) - 1u);
        for (ptrdiff_t c0 = 0; c0 < C; c0 += 8) {
            ptrdiff_t cn = C - c0 < 8 ? C - c0 : 8;
            __mmask8 cmask = (__mmask8)((1u << cn) - 1u);
            __m512d r[8];
            for (int i = 0; i < 8; i++)
                r[i] = i < pn ? _mm512_maskz_loadu_pd(cmask, rows + (p0 + i) * C + c0)
                              : _mm512_setzero_pd();
            tinymin_transpose8_d(r);
            for (int l = 0; l < cn; l++) {
                __m512d v = r[l];
                if (scale) v = _mm512_mul_round_pd(v, _mm512_set1_pd(scale[c0 + l]), TINYMIN_NEAREST);
                if (bias) v = _mm512_add_round_pd(v, _mm512_set1_pd(bias[c0 + l]), TINYMIN_NEAREST);
                _mm512_mask_storeu_pd(dst + (c0 + l) * Q + p0, pmask, v);
            }
        }
    }
}

#else  /* no AVX-512F: the Cython loop of _fused.pyx runs; these are never called */

#define TINYMIN_HAS_NCHW_STORE 0
static inline void tinymin_rows_to_nchw_f(const float* rows, ptrdiff_t npos, ptrdiff_t C,
                                          float* dst, ptrdiff_t Q, const float* scale,
                                          const float* bias) {}
static inline void tinymin_rows_to_nchw_d(const double* rows, ptrdiff_t npos, ptrdiff_t C,
                                          double* dst, ptrdiff_t Q, const double* scale,
                                          const double* bias) {}
#endif

#endif  /* TINYMIN_NCHW_STORE_H */
