/* The convolution's weight gradient with AVX-512, read straight from the NCHW output
 * gradient.
 *
 * Included by _conv_grad.pyx. For the images n0..n1-1 of a batch it adds
 *
 *     dw[c, k] += sum_n sum_q grad[n, c, q] * cols[n * Q + q, k]
 *
 * (dL/dW = G^T cols, docs/guides/minconv_math.rst, section 1) into dw (C x K,
 * row-major), with Q = OH * OW output positions per image and cols the forward's
 * column matrix (row p = n * Q + q, K values).
 *
 * BLAS computes the same product from G laid out as P x C, which first needs a
 * transposing copy of the NCHW gradient; here the gradient is read where it is: a tile
 * of 6 filters x 64 columns keeps 24 accumulators in registers while it runs down the
 * positions q of one image, each step loading 4 vectors of one row of cols and
 * broadcasting the 6 filters' gradients at q (6 loads with stride Q). The positions go
 * in blocks of QB so that the block of cols (QB x K) stays in L2 for all the tiles.
 * Filters past C (the last tile of 6) read the last real filter and are not stored;
 * columns past K are masked.
 *
 * Without AVX-512F, TINYMIN_HAS_WGRAD is 0 and the functions are empty stubs that are
 * never called: BLAS runs instead.
 */
#ifndef TINYMIN_WEIGHT_GRAD_H
#define TINYMIN_WEIGHT_GRAD_H

#include <stddef.h>

#if defined(__AVX512F__)
#include <immintrin.h>

#define TINYMIN_HAS_WGRAD 1
#define TINYMIN_WG_FILTERS 6
#define TINYMIN_WG_VECTORS 4
#define TINYMIN_WG_QB 256

/* dw[c0 + i, k0 : k0 + nk] += sum over q < nq of g[i * Q + q] * cols[q * K + k0 + ...],
   i < nf; the last of the nv vectors masked by `last`. */
static inline __attribute__((always_inline)) void tinymin_wgrad_tile_f(
        const float* cols, ptrdiff_t K, const float* g, ptrdiff_t Q, ptrdiff_t nq,
        float* dw, int nf, const int nv, __mmask16 last) {
    const float* gi[TINYMIN_WG_FILTERS];
    __m512 acc[TINYMIN_WG_FILTERS][TINYMIN_WG_VECTORS];
    for (int i = 0; i < TINYMIN_WG_FILTERS; i++) {
        gi[i] = g + (i < nf ? i : nf - 1) * Q;
        for (int j = 0; j < nv; j++) acc[i][j] = _mm512_setzero_ps();
    }
    for (ptrdiff_t q = 0; q < nq; q++) {
        __m512 x[TINYMIN_WG_VECTORS];
        for (int j = 0; j < nv; j++)
            x[j] = _mm512_maskz_loadu_ps(j == nv - 1 ? last : 0xFFFF, cols + q * K + 16 * j);
        for (int i = 0; i < TINYMIN_WG_FILTERS; i++) {
            __m512 gb = _mm512_set1_ps(gi[i][q]);
            for (int j = 0; j < nv; j++) acc[i][j] = _mm512_fmadd_ps(gb, x[j], acc[i][j]);
        }
    }
    /* constant bounds, so that acc stays in registers: a loop to the run-time nf
       made gcc (with Python's -fwrapv) keep acc in memory, stored on every step */
    for (int i = 0; i < TINYMIN_WG_FILTERS; i++)
        for (int j = 0; j < nv; j++) {
            if (i >= nf) continue;
            __mmask16 m = j == nv - 1 ? last : 0xFFFF;
            float* d = dw + i * K + 16 * j;
            _mm512_mask_storeu_ps(d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), acc[i][j]));
        }
}

static inline __attribute__((always_inline)) void tinymin_wgrad_tile_d(
        const double* cols, ptrdiff_t K, const double* g, ptrdiff_t Q, ptrdiff_t nq,
        double* dw, int nf, const int nv, __mmask8 last) {
    const double* gi[TINYMIN_WG_FILTERS];
    __m512d acc[TINYMIN_WG_FILTERS][TINYMIN_WG_VECTORS];
    for (int i = 0; i < TINYMIN_WG_FILTERS; i++) {
        gi[i] = g + (i < nf ? i : nf - 1) * Q;
        for (int j = 0; j < nv; j++) acc[i][j] = _mm512_setzero_pd();
    }
    for (ptrdiff_t q = 0; q < nq; q++) {
        __m512d x[TINYMIN_WG_VECTORS];
        for (int j = 0; j < nv; j++)
            x[j] = _mm512_maskz_loadu_pd(j == nv - 1 ? last : 0xFF, cols + q * K + 8 * j);
        for (int i = 0; i < TINYMIN_WG_FILTERS; i++) {
            __m512d gb = _mm512_set1_pd(gi[i][q]);
            for (int j = 0; j < nv; j++) acc[i][j] = _mm512_fmadd_pd(gb, x[j], acc[i][j]);
        }
    }
    /* constant bounds, so that acc stays in registers: a loop to the run-time nf
       made gcc (with Python's -fwrapv) keep acc in memory, stored on every step */
    for (int i = 0; i < TINYMIN_WG_FILTERS; i++)
        for (int j = 0; j < nv; j++) {
            if (i >= nf) continue;
            __mmask8 m = j == nv - 1 ? last : 0xFF;
            double* d = dw + i * K + 8 * j;
            _mm512_mask_storeu_pd(d, m, _mm512_add_pd(_mm512_maskz_loadu_pd(m, d), acc[i][j]));
        }
}

/* Images n0..n1-1 into dw (C x K, not cleared here). */
static inline void tinymin_wgrad_f(const float* cols, const float* grad, ptrdiff_t n0, ptrdiff_t n1,
                                   ptrdiff_t C, ptrdiff_t Q, ptrdiff_t K, float* dw) {
    const ptrdiff_t width = 16 * TINYMIN_WG_VECTORS;  /* columns per tile */
    for (ptrdiff_t n = n0; n < n1; n++)
        for (ptrdiff_t q0 = 0; q0 < Q; q0 += TINYMIN_WG_QB) {
            ptrdiff_t nq = Q - q0 < TINYMIN_WG_QB ? Q - q0 : TINYMIN_WG_QB;
            const float* block = cols + (n * Q + q0) * K;
            for (ptrdiff_t k0 = 0; k0 < K; k0 += width) {
                ptrdiff_t nk = K - k0 < width ? K - k0 : width;
                int nv = (int)((nk + 15) / 16);
                __mmask16 last = (__mmask16)((1u << (nk - 16 * (nv - 1))) - 1u);
                for (ptrdiff_t c0 = 0; c0 < C; c0 += TINYMIN_WG_FILTERS) {
                    int nf = C - c0 < TINYMIN_WG_FILTERS ? (int)(C - c0) : TINYMIN_WG_FILTERS;
                    const float* g = grad + (n * C + c0) * Q + q0;
                    float* d = dw + c0 * K + k0;
                    switch (nv) {  /* a constant nv per call: four unrolled copies */
                    case 4: tinymin_wgrad_tile_f(block + k0, K, g, Q, nq, d, nf, 4, last); break;
                    case 3: tinymin_wgrad_tile_f(block + k0, K, g, Q, nq, d, nf, 3, last); break;
                    case 2: tinymin_wgrad_tile_f(block + k0, K, g, Q, nq, d, nf, 2, last); break;
                    default: tinymin_wgrad_tile_f(block + k0, K, g, Q, nq, d, nf, 1, last); break;
                    }
                }
            }
        }
}

static inline void tinymin_wgrad_d(const double* cols, const double* grad, ptrdiff_t n0,
                                   ptrdiff_t n1, ptrdiff_t C, ptrdiff_t Q, ptrdiff_t K, double* dw) {
    const ptrdiff_t width = 8 * TINYMIN_WG_VECTORS;
    for (ptrdiff_t n = n0; n < n1; n++)
        for (ptrdiff_t q0 = 0; q0 < Q; q0 += TINYMIN_WG_QB) {
            ptrdiff_t nq = Q - q0 < TINYMIN_WG_QB ? Q - q0 : TINYMIN_WG_QB;
            const double* block = cols + (n * Q + q0) * K;
            for (ptrdiff_t k0 = 0; k0 < K; k0 += width) {
                ptrdiff_t nk = K - k0 < width ? K - k0 : width;
                int nv = (int)((nk + 7) / 8);
                __mmask8 last = (__mmask8)((1u << (nk - 8 * (nv - 1))) - 1u);
                for (ptrdiff_t c0 = 0; c0 < C; c0 += TINYMIN_WG_FILTERS) {
                    int nf = C - c0 < TINYMIN_WG_FILTERS ? (int)(C - c0) : TINYMIN_WG_FILTERS;
                    const double* g = grad + (n * C + c0) * Q + q0;
                    double* d = dw + c0 * K + k0;
                    switch (nv) {
                    case 4: tinymin_wgrad_tile_d(block + k0, K, g, Q, nq, d, nf, 4, last); break;
                    case 3: tinymin_wgrad_tile_d(block + k0, K, g, Q, nq, d, nf, 3, last); break;
                    case 2: tinymin_wgrad_tile_d(block + k0, K, g, Q, nq, d, nf, 2, last); break;
                    default: tinymin_wgrad_tile_d(block + k0, K, g, Q, nq, d, nf, 1, last); break;
                    }
                }
            }
        }
}

/* The same sums without the column matrix ("implicit"): element (p, k) of it is
   x[rowoff[p] + koff[k]] of the zero-padded input (rowoff: where output position p's
   receptive field starts, koff: where its k-th element sits), and the gradient comes
   as P x C rows (g_rows). The tile turns round: 6 columns k x 4 vectors of 16 filters,
   each step loading 4 vectors of one gradient row and broadcasting the 6 inputs. It
   writes dwt, the transpose (K x C). The sums run in the order of tinymin_wgrad_f
   (per image, per block of QB positions, q ascending), so both give the same bits. */
static inline __attribute__((always_inline)) void tinymin_wgrad_implicit_tile_f(
        const float* x, const ptrdiff_t* rowoff, const ptrdiff_t* kof, ptrdiff_t nq,
        const float* g, ptrdiff_t C, float* dwt, int nk, const int nv, __mmask16 last) {
    ptrdiff_t ko[TINYMIN_WG_FILTERS];
    __m512 acc[TINYMIN_WG_FILTERS][TINYMIN_WG_VECTORS];
    for (int i = 0; i < TINYMIN_WG_FILTERS; i++) {
        ko[i] = kof[i < nk ? i : nk - 1];
        for (int j = 0; j < nv; j++) acc[i][j] = _mm512_setzero_ps();
    }
    for (ptrdiff_t q = 0; q < nq; q++) {
        __m512 gv[TINYMIN_WG_VECTORS];
        const float* xq = x + rowoff[q];
        for (int j = 0; j < nv; j++)
            gv[j] = _mm512_maskz_loadu_ps(j == nv - 1 ? last : 0xFFFF, g + q * C + 16 * j);
        for (int i = 0; i < TINYMIN_WG_FILTERS; i++) {
            __m512 xb = _mm512_set1_ps(xq[ko[i]]);
            for (int j = 0; j < nv; j++) acc[i][j] = _mm512_fmadd_ps(gv[j], xb, acc[i][j]);
        }
    }
    for (int i = 0; i < TINYMIN_WG_FILTERS; i++)  /* constant bounds: see tinymin_wgrad_tile_f */
        for (int j = 0; j < nv; j++) {
            if (i >= nk) continue;
            __mmask16 m = j == nv - 1 ? last : 0xFFFF;
            float* d = dwt + i * C + 16 * j;
            _mm512_mask_storeu_ps(d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), acc[i][j]));
        }
}

static inline __attribute__((always_inline)) void tinymin_wgrad_implicit_tile_d(
        const double* x, const ptrdiff_t* rowoff, const ptrdiff_t* kof, ptrdiff_t nq,
        const double* g, ptrdiff_t C, double* dwt, int nk, const int nv, __mmask8 last) {
    ptrdiff_t ko[TINYMIN_WG_FILTERS];
    __m512d acc[TINYMIN_WG_FILTERS][TINYMIN_WG_VECTORS];
    for (int i = 0; i < TINYMIN_WG_FILTERS; i++) {
        ko[i] = kof[i < nk ? i : nk - 1];
        for (int j = 0; j < nv; j++) acc[i][j] = _mm512_setzero_pd();
    }
    for (ptrdiff_t q = 0; q < nq; q++) {
        __m512d gv[TINYMIN_WG_VECTORS];
        const double* xq = x + rowoff[q];
        for (int j = 0; j < nv; j++)
            gv[j] = _mm512_maskz_loadu_pd(j == nv - 1 ? last : 0xFF, g + q * C + 8 * j);
        for (int i = 0; i < TINYMIN_WG_FILTERS; i++) {
            __m512d xb = _mm512_set1_pd(xq[ko[i]]);
            for (int j = 0; j < nv; j++) acc[i][j] = _mm512_fmadd_pd(gv[j], xb, acc[i][j]);
        }
    }
    for (int i = 0; i < TINYMIN_WG_FILTERS; i++)
        for (int j = 0; j < nv; j++) {
            if (i >= nk) continue;
            __mmask8 m = j == nv - 1 ? last : 0xFF;
            double* d = dwt + i * C + 8 * j;
            _mm512_mask_storeu_pd(d, m, _mm512_add_pd(_mm512_maskz_loadu_pd(m, d), acc[i][j]));
        }
}

/* Images n0..n1-1 (Q positions each; rowoff and g_rows indexed by p = n * Q + q) into
   dwt (K x C, not cleared here). */
static inline void tinymin_wgrad_implicit_f(const float* x, const ptrdiff_t* rowoff,
                                            const ptrdiff_t* koff, const float* g_rows,
                                            ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t Q, ptrdiff_t K,
                                            ptrdiff_t C, float* dwt) {
    const ptrdiff_t width = 16 * TINYMIN_WG_VECTORS;  /* filters per tile */
    for (ptrdiff_t n = n0; n < n1; n++)
        for (ptrdiff_t q0 = 0; q0 < Q; q0 += TINYMIN_WG_QB) {
            ptrdiff_t nq = Q - q0 < TINYMIN_WG_QB ? Q - q0 : TINYMIN_WG_QB;
            const ptrdiff_t* ro = rowoff + n * Q + q0;
            const float* g = g_rows + (n * Q + q0) * C;
            for (ptrdiff_t k0 = 0; k0 < K; k0 += TINYMIN_WG_FILTERS) {
                int nk = K - k0 < TINYMIN_WG_FILTERS ? (int)(K - k0) : TINYMIN_WG_FILTERS;
                for (ptrdiff_t c0 = 0; c0 < C; c0 += width) {
                    ptrdiff_t nc = C - c0 < width ? C - c0 : width;
                    int nv = (int)((nc + 15) / 16);
                    __mmask16 last = (__mmask16)((1u << (nc - 16 * (nv - 1))) - 1u);
                    float* d = dwt + k0 * C + c0;
                    switch (nv) {  /* a constant nv per call: four unrolled copies */
                    case 4: tinymin_wgrad_implicit_tile_f(x, ro, koff + k0, nq, g + c0, C, d, nk, 4, last); break;
                    case 3: tinymin_wgrad_implicit_tile_f(x, ro, koff + k0, nq, g + c0, C, d, nk, 3, last); break;
                    case 2: tinymin_wgrad_implicit_tile_f(x, ro, koff + k0, nq, g + c0, C, d, nk, 2, last); break;
                    default: tinymin_wgrad_implicit_tile_f(x, ro, koff + k0, nq, g + c0, C, d, nk, 1, last); break;
                    }
                }
            }
        }
}

static inline void tinymin_wgrad_implicit_d(const double* x, const ptrdiff_t* rowoff,
                                            const ptrdiff_t* koff, const double* g_rows,
                                            ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t Q, ptrdiff_t K,
                                            ptrdiff_t C, double* dwt) {
    const ptrdiff_t width = 8 * TINYMIN_WG_VECTORS;
    for (ptrdiff_t n = n0; n < n1; n++)
        for (ptrdiff_t q0 = 0; q0 < Q; q0 += TINYMIN_WG_QB) {
            ptrdiff_t nq = Q - q0 < TINYMIN_WG_QB ? Q - q0 : TINYMIN_WG_QB;
            const ptrdiff_t* ro = rowoff + n * Q + q0;
            const double* g = g_rows + (n * Q + q0) * C;
            for (ptrdiff_t k0 = 0; k0 < K; k0 += TINYMIN_WG_FILTERS) {
                int nk = K - k0 < TINYMIN_WG_FILTERS ? (int)(K - k0) : TINYMIN_WG_FILTERS;
                for (ptrdiff_t c0 = 0; c0 < C; c0 += width) {
                    ptrdiff_t nc = C - c0 < width ? C - c0 : width;
                    int nv = (int)((nc + 7) / 8);
                    __mmask8 last = (__mmask8)((1u << (nc - 8 * (nv - 1))) - 1u);
                    double* d = dwt + k0 * C + c0;
                    switch (nv) {
                    case 4: tinymin_wgrad_implicit_tile_d(x, ro, koff + k0, nq, g + c0, C, d, nk, 4, last); break;
                    case 3: tinymin_wgrad_implicit_tile_d(x, ro, koff + k0, nq, g + c0, C, d, nk, 3, last); break;
                    case 2: tinymin_wgrad_implicit_tile_d(x, ro, koff + k0, nq, g + c0, C, d, nk, 2, last); break;
                    default: tinymin_wgrad_implicit_tile_d(x, ro, koff + k0, nq, g + c0, C, d, nk, 1, last); break;
                    }
                }
            }
        }
}

#else  /* no AVX-512: BLAS runs instead; these are never called */

#define TINYMIN_HAS_WGRAD 0
static inline void tinymin_wgrad_implicit_f(const float* x, const ptrdiff_t* rowoff,
                                            const ptrdiff_t* koff, const float* g_rows,
                                            ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t Q, ptrdiff_t K,
                                            ptrdiff_t C, float* dwt) {}
static inline void tinymin_wgrad_implicit_d(const double* x, const ptrdiff_t* rowoff,
                                            const ptrdiff_t* koff, const double* g_rows,
                                            ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t Q, ptrdiff_t K,
                                            ptrdiff_t C, double* dwt) {}
static inline void tinymin_wgrad_f(const float* cols, const float* grad, ptrdiff_t n0, ptrdiff_t n1,
                                   ptrdiff_t C, ptrdiff_t Q, ptrdiff_t K, float* dw) {}
static inline void tinymin_wgrad_d(const double* cols, const double* grad, ptrdiff_t n0,
                                   ptrdiff_t n1, ptrdiff_t C, ptrdiff_t Q, ptrdiff_t K, double* dw) {}
#endif

#endif  /* TINYMIN_WEIGHT_GRAD_H */
