/* The AVX-512DQ panel kernels: the min-selector with VRANGEPS / VRANGEPD, and the
 * ordinary product with the same tile.
 *
 * Included by _min_gemm.pyx. For one block of rows of x (row stride K) against every
 * filter panel (panels from pack_panels, npanels x K x nr, nr = one vector of filters)
 * the "min" kernel computes what _min_panel_block computes portably,
 *
 *     out[p, c] = sum_k sgn(w[c, k]) * clip(x[p, k], -|w[c, k]|, |w[c, k]|),
 *
 * (Eq. 13 of docs/guides/minconv_math.rst, section 4, through the clip identity) with
 * ab = |w| and sg = sgn(w) panels, and the "dot" kernel the exact convolution's
 *
 *     out[p, c] = sum_k x[p, k] * w[c, k]
 *
 * with ab = the w panels themselves (sg unused): the fused im2col + GEMM of the
 * exact layer, which reads each block of columns from L2 as the min kernel does.
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
 *    an 8 x 1 tile, whose loads were the limit. (The same tile with one FMA per pair
 *    is the "dot" kernel: on LeNet's and mini_cifar's layers it beat OpenBLAS's GEMM
 *    on the column matrix, benchmarks/README.md.)
 *
 * VRANGE treats a NaN like minNum does (it returns the other operand), so a NaN input
 * would vanish from its sums: the caller (_min_panel_block) sets the outputs of such
 * rows to NaN afterwards. A NaN weight still gives NaN through sgn(w) = NaN.
 *
 * Without AVX-512DQ, TINYMIN_HAS_RANGE is 0 and the functions are empty stubs that
 * are never called: the portable tile (min) and BLAS (dot) run instead.
 */
#ifndef TINYMIN_PANEL_TILES_H
#define TINYMIN_PANEL_TILES_H

#include <stddef.h>

#if defined(__AVX512DQ__)
#include <immintrin.h>

#define TINYMIN_HAS_RANGE 1
#define TINYMIN_TILE_ROWS 6
#define TINYMIN_TILE_PANELS 4

/* One tile, float32: rows x[0..5] (row stride ldx; rows past nrows read the last real
   one again and are not stored) against npan (1 to 4) panels starting at ab/sg (panel
   stride K * 16; sg is not read by the dot kernel); ncols of the last panel's 16
   filters are stored. always_inline with constant npan and dot, so each caller below
   gets its own unrolled loops. */
static inline __attribute__((always_inline)) void tinymin_panel_tile_f(
        const float* x, ptrdiff_t ldx, const ptrdiff_t* rowoff, const ptrdiff_t* koff,
        ptrdiff_t K, const float* ab, const float* sg, float* out, ptrdiff_t ldo, ptrdiff_t nrows,
        const int npan, ptrdiff_t ncols, const int dot, const int implicit) {
    const float* row[TINYMIN_TILE_ROWS];
    __m512 acc[TINYMIN_TILE_ROWS][TINYMIN_TILE_PANELS];
    for (int i = 0; i < TINYMIN_TILE_ROWS; i++) {
        ptrdiff_t r = i < nrows ? i : nrows - 1;
        row[i] = x + (implicit ? rowoff[r] : r * ldx);
        for (int j = 0; j < npan; j++) acc[i][j] = _mm512_setzero_ps();
    }
    for (ptrdiff_t k = 0; k < K; k++) {
        __m512 w[TINYMIN_TILE_PANELS], s[TINYMIN_TILE_PANELS];
        for (int j = 0; j < npan; j++) {
            w[j] = _mm512_loadu_ps(ab + j * K * 16 + 16 * k);
            if (!dot) s[j] = _mm512_loadu_ps(sg + j * K * 16 + 16 * k);
        }
        for (int i = 0; i < TINYMIN_TILE_ROWS; i++) {
            __m512 xb = _mm512_set1_ps(row[i][implicit ? koff[k] : k]);
            for (int j = 0; j < npan; j++)
                acc[i][j] = dot ? _mm512_fmadd_ps(xb, w[j], acc[i][j])
                                : _mm512_fmadd_ps(_mm512_range_ps(xb, w[j], 2), s[j], acc[i][j]);
        }
    }
    __mmask16 last = (__mmask16)((1u << ncols) - 1u);
    for (int i = 0; i < TINYMIN_TILE_ROWS && i < nrows; i++)
        for (int j = 0; j < npan; j++)
            _mm512_mask_storeu_ps(out + i * ldo + 16 * j, j == npan - 1 ? last : 0xFFFF,
                                  acc[i][j]);
}

/* The same tile in float64: 8 filters per panel. */
static inline __attribute__((always_inline)) void tinymin_panel_tile_d(
        const double* x, ptrdiff_t ldx, const ptrdiff_t* rowoff, const ptrdiff_t* koff,
        ptrdiff_t K, const double* ab, const double* sg, double* out, ptrdiff_t ldo, ptrdiff_t nrows,
        const int npan, ptrdiff_t ncols, const int dot, const int implicit) {
    const double* row[TINYMIN_TILE_ROWS];
    __m512d acc[TINYMIN_TILE_ROWS][TINYMIN_TILE_PANELS];
    for (int i = 0; i < TINYMIN_TILE_ROWS; i++) {
        ptrdiff_t r = i < nrows ? i : nrows - 1;
        row[i] = x + (implicit ? rowoff[r] : r * ldx);
        for (int j = 0; j < npan; j++) acc[i][j] = _mm512_setzero_pd();
    }
    for (ptrdiff_t k = 0; k < K; k++) {
        __m512d w[TINYMIN_TILE_PANELS], s[TINYMIN_TILE_PANELS];
        for (int j = 0; j < npan; j++) {
            w[j] = _mm512_loadu_pd(ab + j * K * 8 + 8 * k);
            if (!dot) s[j] = _mm512_loadu_pd(sg + j * K * 8 + 8 * k);
        }
        for (int i = 0; i < TINYMIN_TILE_ROWS; i++) {
            __m512d xb = _mm512_set1_pd(row[i][implicit ? koff[k] : k]);
            for (int j = 0; j < npan; j++)
                acc[i][j] = dot ? _mm512_fmadd_pd(xb, w[j], acc[i][j])
                                : _mm512_fmadd_pd(_mm512_range_pd(xb, w[j], 2), s[j], acc[i][j]);
        }
    }
    __mmask8 last = (__mmask8)((1u << ncols) - 1u);
    for (int i = 0; i < TINYMIN_TILE_ROWS && i < nrows; i++)
        for (int j = 0; j < npan; j++)
            _mm512_mask_storeu_pd(out + i * ldo + 8 * j, j == npan - 1 ? last : 0xFF,
                                  acc[i][j]);
}

/* One block of nrows rows (row stride K) against all C filters: groups of up to 4
   panels outside, tiles of 6 rows inside, so the block (in L2) is read once per group
   while each group's weights (4 x K x nr values) stream past from L2. */
static inline __attribute__((always_inline)) void tinymin_panel_block_f(
        const float* x, const ptrdiff_t* rowoff, const ptrdiff_t* koff, ptrdiff_t nrows,
        ptrdiff_t K, ptrdiff_t C, const float* ab, const float* sg, float* out, const int dot,
        const int implicit) {
    const ptrdiff_t nr = 16, npanels = (C + nr - 1) / nr;
    for (ptrdiff_t p0 = 0; p0 < npanels; p0 += TINYMIN_TILE_PANELS) {
        ptrdiff_t left = npanels - p0;
        int npan = left < TINYMIN_TILE_PANELS ? (int)left : TINYMIN_TILE_PANELS;
        ptrdiff_t ncols = C - (p0 + npan - 1) * nr;  /* filters in the group's last panel */
        const float* a = ab + p0 * K * nr;
        const float* s = sg + p0 * K * nr;
        for (ptrdiff_t r = 0; r < nrows; r += TINYMIN_TILE_ROWS) {
            const float* xr = implicit ? x : x + r * K;
            const ptrdiff_t* ro = implicit ? rowoff + r : rowoff;
            float* o = out + r * C + p0 * nr;
            ptrdiff_t rows = nrows - r;
            switch (npan) {  /* a constant npan per call: four unrolled copies */
            case 4: tinymin_panel_tile_f(xr, K, ro, koff, K, a, s, o, C, rows, 4, ncols,
                                         dot, implicit); break;
            case 3: tinymin_panel_tile_f(xr, K, ro, koff, K, a, s, o, C, rows, 3, ncols,
                                         dot, implicit); break;
            case 2: tinymin_panel_tile_f(xr, K, ro, koff, K, a, s, o, C, rows, 2, ncols,
                                         dot, implicit); break;
            default: tinymin_panel_tile_f(xr, K, ro, koff, K, a, s, o, C, rows, 1, ncols,
                                         dot, implicit); break;
            }
        }
    }
}

static inline __attribute__((always_inline)) void tinymin_panel_block_d(
        const double* x, const ptrdiff_t* rowoff, const ptrdiff_t* koff, ptrdiff_t nrows,
        ptrdiff_t K, ptrdiff_t C, const double* ab, const double* sg, double* out, const int dot,
        const int implicit) {
    const ptrdiff_t nr = 8, npanels = (C + nr - 1) / nr;
    for (ptrdiff_t p0 = 0; p0 < npanels; p0 += TINYMIN_TILE_PANELS) {
        ptrdiff_t left = npanels - p0;
        int npan = left < TINYMIN_TILE_PANELS ? (int)left : TINYMIN_TILE_PANELS;
        ptrdiff_t ncols = C - (p0 + npan - 1) * nr;  /* filters in the group's last panel */
        const double* a = ab + p0 * K * nr;
        const double* s = sg + p0 * K * nr;
        for (ptrdiff_t r = 0; r < nrows; r += TINYMIN_TILE_ROWS) {
            const double* xr = implicit ? x : x + r * K;
            const ptrdiff_t* ro = implicit ? rowoff + r : rowoff;
            double* o = out + r * C + p0 * nr;
            ptrdiff_t rows = nrows - r;
            switch (npan) {  /* a constant npan per call: four unrolled copies */
            case 4: tinymin_panel_tile_d(xr, K, ro, koff, K, a, s, o, C, rows, 4, ncols,
                                         dot, implicit); break;
            case 3: tinymin_panel_tile_d(xr, K, ro, koff, K, a, s, o, C, rows, 3, ncols,
                                         dot, implicit); break;
            case 2: tinymin_panel_tile_d(xr, K, ro, koff, K, a, s, o, C, rows, 2, ncols,
                                         dot, implicit); break;
            default: tinymin_panel_tile_d(xr, K, ro, koff, K, a, s, o, C, rows, 1, ncols,
                                         dot, implicit); break;
            }
        }
    }
}

/* The entry points: each a copy of the block with its kernel fixed. The "explicit"
   ones read a block of the column matrix (rows of K values); the "implicit" ones read
   the zero-padded input x itself: element (r, k) of the column matrix is
   x[rowoff[r] + koff[k]] (rowoff: where output position r's receptive field starts,
   koff: where its k-th element sits relative to that), so no column matrix is
   unfolded at all. */
static inline void tinymin_min_block_f(const float* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const float* ab, const float* sg, float* out) {
    tinymin_panel_block_f(x, NULL, NULL, nrows, K, C, ab, sg, out, 0, 0);
}
static inline void tinymin_min_block_d(const double* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const double* ab, const double* sg, double* out) {
    tinymin_panel_block_d(x, NULL, NULL, nrows, K, C, ab, sg, out, 0, 0);
}
static inline void tinymin_dot_block_f(const float* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const float* w, float* out) {
    tinymin_panel_block_f(x, NULL, NULL, nrows, K, C, w, w, out, 1, 0);
}
static inline void tinymin_dot_block_d(const double* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const double* w, double* out) {
    tinymin_panel_block_d(x, NULL, NULL, nrows, K, C, w, w, out, 1, 0);
}
static inline void tinymin_min_implicit_f(const float* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const float* ab, const float* sg, float* out) {
    tinymin_panel_block_f(x, rowoff, koff, nrows, K, C, ab, sg, out, 0, 1);
}
static inline void tinymin_min_implicit_d(const double* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const double* ab, const double* sg,
                                          double* out) {
    tinymin_panel_block_d(x, rowoff, koff, nrows, K, C, ab, sg, out, 0, 1);
}
static inline void tinymin_dot_implicit_f(const float* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const float* w, float* out) {
    tinymin_panel_block_f(x, rowoff, koff, nrows, K, C, w, w, out, 1, 1);
}
static inline void tinymin_dot_implicit_d(const double* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const double* w, double* out) {
    tinymin_panel_block_d(x, rowoff, koff, nrows, K, C, w, w, out, 1, 1);
}

#else  /* no AVX-512DQ: the portable Cython tile and BLAS run; these are never called */

#define TINYMIN_HAS_RANGE 0
static inline void tinymin_min_block_f(const float* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const float* ab, const float* sg, float* out) {}
static inline void tinymin_min_block_d(const double* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const double* ab, const double* sg, double* out) {}
static inline void tinymin_dot_block_f(const float* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const float* w, float* out) {}
static inline void tinymin_dot_block_d(const double* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const double* w, double* out) {}
static inline void tinymin_min_implicit_f(const float* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const float* ab, const float* sg, float* out) {}
static inline void tinymin_min_implicit_d(const double* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const double* ab, const double* sg,
                                          double* out) {}
static inline void tinymin_dot_implicit_f(const float* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const float* w, float* out) {}
static inline void tinymin_dot_implicit_d(const double* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const double* w, double* out) {}
#endif

#endif  /* TINYMIN_PANEL_TILES_H */
