/* The min-selector panel kernel with AVX-512DQ's VRANGEPS / VRANGEPD.
 *
 * Included by _min_gemm.pyx. It computes what _min_panel_block computes portably,
 *
 *     out[p, c] = sum_k sgn(w[c, k]) * clip(x[p, k], -|w[c, k]|, |w[c, k]|),
 *
 * (Eq. 13 of docs/guides/minconv_math.rst, section 4, through the clip identity)
 * for one block of rows of x against every filter panel (panels from pack_panels:
 * ab = |w| and sg = sgn(w), each npanels x K x nr with nr = one vector of filters).
 *
 * Why it is faster than the portable tile:
 *
 * 1. One instruction for the clip. range(x, w, 2) = sgn(x) min(|x|, |w|) (imm bits
 *    1:0 = 10, the smaller magnitude; bits 3:2 = 00, the sign of the first operand)
 *    is clip(x, -|w|, |w|), so a pair costs a range and a fused multiply-add by
 *    sgn(w) where the portable tile needs a max, a min and a fused multiply-add.
 * 2. A wider tile: 6 rows x 4 panels (64 float32 or 32 float64 filters), 24
 *    accumulators of AVX-512's 32 registers. Each broadcast input serves 4 panels and
 *    each weight vector 6 rows: 10 loads per 24 range/FMA pairs, against 10 per 8 in
 *    an 8 x 1 tile, whose loads were the limit.
 *
 * VRANGE treats a NaN like minNum does (it returns the other operand), so a NaN input
 * would vanish from its sums: the caller (_min_panel_block) sets the outputs of such
 * rows to NaN afterwards. A NaN weight still gives NaN through sgn(w) = NaN.
 *
 * Without AVX-512DQ, TINYMIN_HAS_RANGE is 0 and the functions are empty stubs that
 * are never called.
 */
#ifndef TINYMIN_RANGE_TILE_H
#define TINYMIN_RANGE_TILE_H

#include <stddef.h>

#if defined(__AVX512DQ__)
#include <immintrin.h>

#define TINYMIN_HAS_RANGE 1
#define TINYMIN_RANGE_ROWS 6
#define TINYMIN_RANGE_PANELS 4

/* One tile, float32: rows x[0..5] (row stride ldx; rows past nrows read the last real
   one again and are not stored) against npan (1 to 4) panels starting at ab/sg (panel
   stride K * 16); ncols of the last panel's 16 filters are stored. always_inline with
   a constant npan, so each of the four callers below gets its own unrolled loops. */
static inline __attribute__((always_inline)) void tinymin_range_tile_f(
        const float* x, ptrdiff_t ldx, ptrdiff_t K, const float* ab, const float* sg,
        float* out, ptrdiff_t ldo, ptrdiff_t nrows, const int npan, ptrdiff_t ncols) {
    const float* row[TINYMIN_RANGE_ROWS];
    __m512 acc[TINYMIN_RANGE_ROWS][TINYMIN_RANGE_PANELS];
    for (int i = 0; i < TINYMIN_RANGE_ROWS; i++) {
        row[i] = x + (i < nrows ? i : nrows - 1) * ldx;
        for (int j = 0; j < npan; j++) acc[i][j] = _mm512_setzero_ps();
    }
    for (ptrdiff_t k = 0; k < K; k++) {
        __m512 w[TINYMIN_RANGE_PANELS], s[TINYMIN_RANGE_PANELS];
        for (int j = 0; j < npan; j++) {
            w[j] = _mm512_loadu_ps(ab + j * K * 16 + 16 * k);
            s[j] = _mm512_loadu_ps(sg + j * K * 16 + 16 * k);
        }
        for (int i = 0; i < TINYMIN_RANGE_ROWS; i++) {
            __m512 xb = _mm512_set1_ps(row[i][k]);
            for (int j = 0; j < npan; j++)
                acc[i][j] = _mm512_fmadd_ps(_mm512_range_ps(xb, w[j], 2), s[j], acc[i][j]);
        }
    }
    __mmask16 last = (__mmask16)((1u << ncols) - 1u);
    for (int i = 0; i < TINYMIN_RANGE_ROWS && i < nrows; i++)
        for (int j = 0; j < npan; j++)
            _mm512_mask_storeu_ps(out + i * ldo + 16 * j, j == npan - 1 ? last : 0xFFFF,
                                  acc[i][j]);
}

/* The same tile in float64: 8 filters per panel. */
static inline __attribute__((always_inline)) void tinymin_range_tile_d(
        const double* x, ptrdiff_t ldx, ptrdiff_t K, const double* ab, const double* sg,
        double* out, ptrdiff_t ldo, ptrdiff_t nrows, const int npan, ptrdiff_t ncols) {
    const double* row[TINYMIN_RANGE_ROWS];
    __m512d acc[TINYMIN_RANGE_ROWS][TINYMIN_RANGE_PANELS];
    for (int i = 0; i < TINYMIN_RANGE_ROWS; i++) {
        row[i] = x + (i < nrows ? i : nrows - 1) * ldx;
        for (int j = 0; j < npan; j++) acc[i][j] = _mm512_setzero_pd();
    }
    for (ptrdiff_t k = 0; k < K; k++) {
        __m512d w[TINYMIN_RANGE_PANELS], s[TINYMIN_RANGE_PANELS];
        for (int j = 0; j < npan; j++) {
            w[j] = _mm512_loadu_pd(ab + j * K * 8 + 8 * k);
            s[j] = _mm512_loadu_pd(sg + j * K * 8 + 8 * k);
        }
        for (int i = 0; i < TINYMIN_RANGE_ROWS; i++) {
            __m512d xb = _mm512_set1_pd(row[i][k]);
            for (int j = 0; j < npan; j++)
                acc[i][j] = _mm512_fmadd_pd(_mm512_range_pd(xb, w[j], 2), s[j], acc[i][j]);
        }
    }
    __mmask8 last = (__mmask8)((1u << ncols) - 1u);
    for (int i = 0; i < TINYMIN_RANGE_ROWS && i < nrows; i++)
        for (int j = 0; j < npan; j++)
            _mm512_mask_storeu_pd(out + i * ldo + 8 * j, j == npan - 1 ? last : 0xFF,
                                  acc[i][j]);
}

/* One block of nrows rows (row stride K) against all C filters: groups of up to 4
   panels outside, tiles of 6 rows inside, so the block (in L2) is read once per group
   while each group's weights (4 x K x 16 values) stream past from L2. */
static void tinymin_range_block_f(const float* x, ptrdiff_t nrows, ptrdiff_t K,
                                  ptrdiff_t C, const float* ab, const float* sg,
                                  float* out) {
    const ptrdiff_t nr = 16, npanels = (C + nr - 1) / nr;
    for (ptrdiff_t p0 = 0; p0 < npanels; p0 += TINYMIN_RANGE_PANELS) {
        ptrdiff_t left = npanels - p0;
        int npan = left < TINYMIN_RANGE_PANELS ? (int)left : TINYMIN_RANGE_PANELS;
        ptrdiff_t ncols = C - (p0 + npan - 1) * nr;  /* filters in the group's last panel */
        const float* a = ab + p0 * K * nr;
        const float* s = sg + p0 * K * nr;
        for (ptrdiff_t r = 0; r < nrows; r += TINYMIN_RANGE_ROWS) {
            const float* xr = x + r * K;
            float* o = out + r * C + p0 * nr;
            ptrdiff_t rows = nrows - r;
            switch (npan) {  /* a constant npan per call: four unrolled copies */
            case 4: tinymin_range_tile_f(xr, K, K, a, s, o, C, rows, 4, ncols); break;
            case 3: tinymin_range_tile_f(xr, K, K, a, s, o, C, rows, 3, ncols); break;
            case 2: tinymin_range_tile_f(xr, K, K, a, s, o, C, rows, 2, ncols); break;
            default: tinymin_range_tile_f(xr, K, K, a, s, o, C, rows, 1, ncols); break;
            }
        }
    }
}

static void tinymin_range_block_d(const double* x, ptrdiff_t nrows, ptrdiff_t K,
                                  ptrdiff_t C, const double* ab, const double* sg,
                                  double* out) {
    const ptrdiff_t nr = 8, npanels = (C + nr - 1) / nr;
    for (ptrdiff_t p0 = 0; p0 < npanels; p0 += TINYMIN_RANGE_PANELS) {
        ptrdiff_t left = npanels - p0;
        int npan = left < TINYMIN_RANGE_PANELS ? (int)left : TINYMIN_RANGE_PANELS;
        ptrdiff_t ncols = C - (p0 + npan - 1) * nr;
        const double* a = ab + p0 * K * nr;
        const double* s = sg + p0 * K * nr;
        for (ptrdiff_t r = 0; r < nrows; r += TINYMIN_RANGE_ROWS) {
            const double* xr = x + r * K;
            double* o = out + r * C + p0 * nr;
            ptrdiff_t rows = nrows - r;
            switch (npan) {
            case 4: tinymin_range_tile_d(xr, K, K, a, s, o, C, rows, 4, ncols); break;
            case 3: tinymin_range_tile_d(xr, K, K, a, s, o, C, rows, 3, ncols); break;
            case 2: tinymin_range_tile_d(xr, K, K, a, s, o, C, rows, 2, ncols); break;
            default: tinymin_range_tile_d(xr, K, K, a, s, o, C, rows, 1, ncols); break;
            }
        }
    }
}

#else  /* no AVX-512DQ: the portable Cython tile runs; these are never called */

#define TINYMIN_HAS_RANGE 0
static void tinymin_range_block_f(const float* x, ptrdiff_t nrows, ptrdiff_t K,
                                  ptrdiff_t C, const float* ab, const float* sg,
                                  float* out) {}
static void tinymin_range_block_d(const double* x, ptrdiff_t nrows, ptrdiff_t K,
                                  ptrdiff_t C, const double* ab, const double* sg,
                                  double* out) {}
#endif

#endif  /* TINYMIN_RANGE_TILE_H */
