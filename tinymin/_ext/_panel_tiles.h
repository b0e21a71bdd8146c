/* The AVX-512DQ panel kernels: the min-selector with VRANGEPS / VRANGEPD, and the
 * ordinary product with the same tile.
 *
 * Included by _min_gemm.pyx. For one block of rows of x against every filter panel
 * (panels from pack_panels, npanels x K x nr, nr = one vector of filters) the "min"
 * kernel computes
 *
 *     out[p, c] = sum_k sgn(x[p, k]) * clip(w[c, k], -|x[p, k]|, |x[p, k]|)
 *
 * which is m(x, w) = sgn(x) sgn(w) min(|x|, |w|), Eq. 13 of
 * docs/guides/minconv_math.rst, section 4 (the clip identity with the roles of x and w
 * swapped), and the "dot" kernel the exact convolution's
 *
 *     out[p, c] = sum_k x[p, k] * w[c, k],
 *
 * both from the same (signed) weight panels: the fused im2col + GEMM of the exact
 * layer, which reads each block of rows from L2 as the min kernel does.
 *
 * Why it is fast:
 *
 * 1. One instruction for the clip. range(w, x, 2) = sgn(w) min(|w|, |x|) (imm bits
 *    1:0 = 10, the smaller magnitude; bits 3:2 = 00, the sign of the first operand)
 *    is clip(w, -|x|, |x|), so a pair costs a range and a fused multiply-add by
 *    sgn(x). On Zen 4 and 5 VRANGE runs beside the FMAs (measured on Zen 5: a range
 *    and an FMA per pair ran at the rate of FMAs alone), so a pair costs about what a
 *    product costs. On an Intel Xeon (family 6, model 167) they share the vector
 *    ports: a loop of pairs takes 1.95-1.98x a loop of FMAs
 *    (benchmarks/bench_vector_ports.py), so there no tile of two instructions per pair
 *    can come under about twice an FMA-bound product tile.
 * 2. sgn(x) comes from memory, not from a second weight stream: each x value has its
 *    sign at a fixed distance ds after it (the caller lays out [x | sgn(x)]), read
 *    with one broadcast per row and k. The weights are the panels of w alone, the
 *    stream the dot kernel reads. Measured on Zen 5, against the dot tile in the same
 *    run (benchmarks/README.md): with |w| and sgn(w) panels (the clip identity
 *    sgn(w) clip(x, -|w|, |w|), two weight streams from L2) the tile took 1.26-1.57x
 *    the dot tile's time; with sgn(x) computed from x in registers (two logic
 *    operations per row and k) 1.26-1.68x; as here, 1.05-1.22x.
 * 3. A wide tile: 6 rows x 4 panels (64 float32 or 32 float64 filters), 24
 *    accumulators of AVX-512's 32 registers, + 4 weight vectors, the broadcast x, its
 *    sign and one temporary. Each broadcast serves 4 panels and each weight vector
 *    6 rows.
 * 4. Two forms of the tile, the same sums bit for bit. "registers" broadcasts x and
 *    sgn(x) into registers once per row and k, as above. "operands" lets each VRANGE
 *    read x straight from memory with an embedded broadcast ({1to16}), and loads
 *    the vector sgn(x) whole from a table of eight (+-0, +-1, +-NaN, picked by the
 *    stored sign's top 3 bits), so no broadcast instruction runs at all. Which form
 *    is faster depends on the core. On Zen 4 a broadcast takes a slot in the pipes
 *    VRANGE needs: in a loop of one tile step, "registers" took 1.39-1.48x the dot
 *    tile's time, x as an operand (sgn(x) still broadcast) 1.21-1.23x, and
 *    "operands" 1.05-1.08x; the fused LeNet conv2 kernel took 1.34-1.46x,
 *    1.20-1.24x and 1.16-1.17x the exact fused kernel's time (3 rounds each).
 *    sgn(x) as an embedded-broadcast operand of each FMA was slower (1.32-1.51x).
 *    benchmarks/README.md has the tables. On Zen 5, where "registers" was designed,
 *    an FMA with an embedded broadcast made the tile 1.65x slower, and the other
 *    two were not tried. So tinymin_prefers_operand_broadcasts() picks "operands"
 *    only on AMD family 19h (Zen 4); callers can choose (tinymin._ext.tiles). gcc
 *    would fold the broadcast that 4 panels share into one register, so VRANGE with
 *    its memory operand is a line of inline assembly.
 *
 * NaN: VRANGE returns the other operand where one is NaN (like minNum). A NaN input
 * still gives NaN, through sgn(x) = NaN in the FMA; a NaN weight would vanish, so the
 * callers set the outputs of NaN filters to NaN afterwards.
 *
 * Without AVX-512DQ, TINYMIN_HAS_RANGE is 0 and the functions are empty stubs that
 * are never called: the portable Cython tile (min) and BLAS (dot) run instead.
 */
#ifndef TINYMIN_PANEL_TILES_H
#define TINYMIN_PANEL_TILES_H

#include <stddef.h>

#if defined(__AVX512DQ__)
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define TINYMIN_HAS_RANGE 1
#define TINYMIN_TILE_ROWS 6
#define TINYMIN_TILE_PANELS 4

/* range(w, *x, 2), *x broadcast from memory by the instruction itself (AT&T operand
   order: the memory operand first, then w). */
static inline __m512 tinymin_range_from_memory_f(__m512 w, const float* x) {
    __m512 r;
    __asm__("vrangeps $2, %2%{1to16%}, %1, %0" : "=v"(r) : "v"(w), "m"(*x));
    return r;
}
static inline __m512d tinymin_range_from_memory_d(__m512d w, const double* x) {
    __m512d r;
    __asm__("vrangepd $2, %2%{1to8%}, %1, %0" : "=v"(r) : "v"(w), "m"(*x));
    return r;
}

/* The vector sgn(x) for a stored sign s, indexed by the top 3 bits of s (its sign
   bit and the top two of its exponent): 0 = +0, 1 = +1, 3 = NaN, 4 = -0, 5 = -1,
   7 = -NaN; 2 and 6 do not occur for the values tinymin_signs_f/_d write. Loading
   one 64-byte row is a plain load, where a broadcast takes a slot of the pipes
   VRANGE needs (point 4 above). TINYMIN_SIGN_ROW_* repeats a value across a row. */
static inline uint32_t tinymin_bits_f(const float* v) { uint32_t b; memcpy(&b, v, 4); return b; }
static inline uint64_t tinymin_bits_d(const double* v) { uint64_t b; memcpy(&b, v, 8); return b; }
#define TINYMIN_SIGN_ROW_F(V) {V, V, V, V, V, V, V, V, V, V, V, V, V, V, V, V}
#define TINYMIN_SIGN_ROW_D(V) {V, V, V, V, V, V, V, V}
static const float tinymin_sign_vectors_f[8][16] __attribute__((aligned(64))) = {
    TINYMIN_SIGN_ROW_F(0.0f), TINYMIN_SIGN_ROW_F(1.0f), TINYMIN_SIGN_ROW_F(0.0f),
    TINYMIN_SIGN_ROW_F(__builtin_nanf("")), TINYMIN_SIGN_ROW_F(-0.0f),
    TINYMIN_SIGN_ROW_F(-1.0f), TINYMIN_SIGN_ROW_F(0.0f),
    TINYMIN_SIGN_ROW_F(-__builtin_nanf(""))};
static const double tinymin_sign_vectors_d[8][8] __attribute__((aligned(64))) = {
    TINYMIN_SIGN_ROW_D(0.0), TINYMIN_SIGN_ROW_D(1.0), TINYMIN_SIGN_ROW_D(0.0),
    TINYMIN_SIGN_ROW_D(__builtin_nan("")), TINYMIN_SIGN_ROW_D(-0.0),
    TINYMIN_SIGN_ROW_D(-1.0), TINYMIN_SIGN_ROW_D(0.0),
    TINYMIN_SIGN_ROW_D(-__builtin_nan(""))};

/* 1 where the min tile should run in the form "operands" (point 4 above): an AMD CPU
   of family 19h (Zen 4). */
static inline int tinymin_prefers_operand_broadcasts(void) {
    unsigned int a, b, c, d, family;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    if (b != 0x68747541 || d != 0x69746e65 || c != 0x444d4163) return 0;  /* AuthenticAMD */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    family = (a >> 8) & 0xF;
    if (family == 0xF) family += (a >> 20) & 0xFF;
    return family == 0x19;
}

/* One tile, float32: rows x[0..5] (row stride ldx; rows past nrows read the last real
   one again and are not stored) against npan (1 to 4) panels starting at w (panel
   stride K * 16); ncols of the last panel's 16 filters are stored. The min kernel
   (dot = 0) reads sgn(x) at x + ds. Implicit: row i starts at x + rowoff[i] and its
   k-th value sits koff[k] after that. always_inline with constant npan, dot and
   implicit, so each caller below gets its own unrolled loops; operands: the min tile
   reads x as an operand of each VRANGE and sgn(x) from the table above (point 4). */
static inline __attribute__((always_inline)) void tinymin_panel_tile_f(
        const float* x, ptrdiff_t ds, ptrdiff_t ldx, const ptrdiff_t* rowoff,
        const ptrdiff_t* koff, ptrdiff_t K, const float* w, float* out, ptrdiff_t ldo,
        ptrdiff_t nrows, const int npan, ptrdiff_t ncols, const int dot, const int implicit,
        const int operands) {
    const float* row[TINYMIN_TILE_ROWS];
    __m512 acc[TINYMIN_TILE_ROWS][TINYMIN_TILE_PANELS];
    for (int i = 0; i < TINYMIN_TILE_ROWS; i++) {
        ptrdiff_t r = i < nrows ? i : nrows - 1;
        row[i] = x + (implicit ? rowoff[r] : r * ldx);
        for (int j = 0; j < npan; j++) acc[i][j] = _mm512_setzero_ps();
    }
    for (ptrdiff_t k = 0; k < K; k++) {
        __m512 wk[TINYMIN_TILE_PANELS];
        for (int j = 0; j < npan; j++) wk[j] = _mm512_loadu_ps(w + j * K * 16 + 16 * k);
        ptrdiff_t kx = implicit ? koff[k] : k;  /* x[kx] in each row, its sign at kx + ds */
        for (int i = 0; i < TINYMIN_TILE_ROWS; i++) {
            __m512 xb = _mm512_set1_ps(row[i][kx]);
            if (dot) {
                for (int j = 0; j < npan; j++) acc[i][j] = _mm512_fmadd_ps(xb, wk[j], acc[i][j]);
            } else if (operands) {
                const float* xp = &row[i][kx];
                __m512 sx = _mm512_load_ps(tinymin_sign_vectors_f[tinymin_bits_f(xp + ds) >> 29]);
                for (int j = 0; j < npan; j++)
                    acc[i][j] = _mm512_fmadd_ps(tinymin_range_from_memory_f(wk[j], xp), sx,
                                                acc[i][j]);
            } else {
                __m512 sx = _mm512_set1_ps(row[i][kx + ds]);
                for (int j = 0; j < npan; j++)
                    acc[i][j] = _mm512_fmadd_ps(_mm512_range_ps(wk[j], xb, 2), sx, acc[i][j]);
            }
        }
    }
    __mmask16 last = ncols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << ncols) - 1u);
    for (int i = 0; i < TINYMIN_TILE_ROWS && i < nrows; i++)
        for (int j = 0; j < npan; j++)
            _mm512_mask_storeu_ps(out + i * ldo + 16 * j, j == npan - 1 ? last : 0xFFFF,
                                  acc[i][j]);
}

/* The same tile in float64: 8 filters per panel. */
static inline __attribute__((always_inline)) void tinymin_panel_tile_d(
        const double* x, ptrdiff_t ds, ptrdiff_t ldx, const ptrdiff_t* rowoff,
        const ptrdiff_t* koff, ptrdiff_t K, const double* w, double* out, ptrdiff_t ldo,
        ptrdiff_t nrows, const int npan, ptrdiff_t ncols, const int dot, const int implicit,
        const int operands) {
    const double* row[TINYMIN_TILE_ROWS];
    __m512d acc[TINYMIN_TILE_ROWS][TINYMIN_TILE_PANELS];
    for (int i = 0; i < TINYMIN_TILE_ROWS; i++) {
        ptrdiff_t r = i < nrows ? i : nrows - 1;
        row[i] = x + (implicit ? rowoff[r] : r * ldx);
        for (int j = 0; j < npan; j++) acc[i][j] = _mm512_setzero_pd();
    }
    for (ptrdiff_t k = 0; k < K; k++) {
        __m512d wk[TINYMIN_TILE_PANELS];
        for (int j = 0; j < npan; j++) wk[j] = _mm512_loadu_pd(w + j * K * 8 + 8 * k);
        ptrdiff_t kx = implicit ? koff[k] : k;
        for (int i = 0; i < TINYMIN_TILE_ROWS; i++) {
            __m512d xb = _mm512_set1_pd(row[i][kx]);
            if (dot) {
                for (int j = 0; j < npan; j++) acc[i][j] = _mm512_fmadd_pd(xb, wk[j], acc[i][j]);
            } else if (operands) {
                const double* xp = &row[i][kx];
                __m512d sx = _mm512_load_pd(tinymin_sign_vectors_d[tinymin_bits_d(xp + ds) >> 61]);
                for (int j = 0; j < npan; j++)
                    acc[i][j] = _mm512_fmadd_pd(tinymin_range_from_memory_d(wk[j], xp), sx,
                                                acc[i][j]);
            } else {
                __m512d sx = _mm512_set1_pd(row[i][kx + ds]);
                for (int j = 0; j < npan; j++)
                    acc[i][j] = _mm512_fmadd_pd(_mm512_range_pd(wk[j], xb, 2), sx, acc[i][j]);
            }
        }
    }
    __mmask8 last = ncols >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << ncols) - 1u);
    for (int i = 0; i < TINYMIN_TILE_ROWS && i < nrows; i++)
        for (int j = 0; j < npan; j++)
            _mm512_mask_storeu_pd(out + i * ldo + 8 * j, j == npan - 1 ? last : 0xFF,
                                  acc[i][j]);
}

/* One block of nrows rows against all C filters: groups of up to 4 panels outside,
   tiles of 6 rows inside, so the block (in L2) is read once per group while each
   group's weights (4 x K x nr values) stream past from L2. Explicit rows have stride
   K; implicit ones start at x + rowoff[r]. */
static inline __attribute__((always_inline)) void tinymin_panel_block_f(
        const float* x, ptrdiff_t ds, const ptrdiff_t* rowoff, const ptrdiff_t* koff,
        ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C, const float* w, float* out, const int dot,
        const int implicit, const int operands) {
    const ptrdiff_t nr = 16, npanels = (C + nr - 1) / nr;
    for (ptrdiff_t p0 = 0; p0 < npanels; p0 += TINYMIN_TILE_PANELS) {
        ptrdiff_t left = npanels - p0;
        int npan = left < TINYMIN_TILE_PANELS ? (int)left : TINYMIN_TILE_PANELS;
        /* filters in the group's last panel: all nr but in the very last panel (a shift
           of 1u by nr or more would be undefined, and wrap on x86) */
        ptrdiff_t ncols = p0 + npan < npanels ? nr : C - (p0 + npan - 1) * nr;
        const float* wg = w + p0 * K * nr;
        for (ptrdiff_t r = 0; r < nrows; r += TINYMIN_TILE_ROWS) {
            const float* xr = implicit ? x : x + r * K;
            const ptrdiff_t* ro = implicit ? rowoff + r : rowoff;
            float* o = out + r * C + p0 * nr;
            ptrdiff_t rows = nrows - r;
            switch (npan) {  /* a constant npan per call: four unrolled copies */
            case 4: tinymin_panel_tile_f(xr, ds, K, ro, koff, K, wg, o, C, rows, 4, ncols,
                                         dot, implicit, operands); break;
            case 3: tinymin_panel_tile_f(xr, ds, K, ro, koff, K, wg, o, C, rows, 3, ncols,
                                         dot, implicit, operands); break;
            case 2: tinymin_panel_tile_f(xr, ds, K, ro, koff, K, wg, o, C, rows, 2, ncols,
                                         dot, implicit, operands); break;
            default: tinymin_panel_tile_f(xr, ds, K, ro, koff, K, wg, o, C, rows, 1, ncols,
                                         dot, implicit, operands); break;
            }
        }
    }
}

static inline __attribute__((always_inline)) void tinymin_panel_block_d(
        const double* x, ptrdiff_t ds, const ptrdiff_t* rowoff, const ptrdiff_t* koff,
        ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C, const double* w, double* out, const int dot,
        const int implicit, const int operands) {
    const ptrdiff_t nr = 8, npanels = (C + nr - 1) / nr;
    for (ptrdiff_t p0 = 0; p0 < npanels; p0 += TINYMIN_TILE_PANELS) {
        ptrdiff_t left = npanels - p0;
        int npan = left < TINYMIN_TILE_PANELS ? (int)left : TINYMIN_TILE_PANELS;
        /* filters in the group's last panel: all nr but in the very last panel (a shift
           of 1u by nr or more would be undefined, and wrap on x86) */
        ptrdiff_t ncols = p0 + npan < npanels ? nr : C - (p0 + npan - 1) * nr;
        const double* wg = w + p0 * K * nr;
        for (ptrdiff_t r = 0; r < nrows; r += TINYMIN_TILE_ROWS) {
            const double* xr = implicit ? x : x + r * K;
            const ptrdiff_t* ro = implicit ? rowoff + r : rowoff;
            double* o = out + r * C + p0 * nr;
            ptrdiff_t rows = nrows - r;
            switch (npan) {  /* a constant npan per call: four unrolled copies */
            case 4: tinymin_panel_tile_d(xr, ds, K, ro, koff, K, wg, o, C, rows, 4, ncols,
                                         dot, implicit, operands); break;
            case 3: tinymin_panel_tile_d(xr, ds, K, ro, koff, K, wg, o, C, rows, 3, ncols,
                                         dot, implicit, operands); break;
            case 2: tinymin_panel_tile_d(xr, ds, K, ro, koff, K, wg, o, C, rows, 2, ncols,
                                         dot, implicit, operands); break;
            default: tinymin_panel_tile_d(xr, ds, K, ro, koff, K, wg, o, C, rows, 1, ncols,
                                         dot, implicit, operands); break;
            }
        }
    }
}

/* The entry points: each a copy of the block with its kernel fixed. The "explicit"
   ones read a block of the column matrix (nrows rows of K values); the "implicit" ones
   read the zero-padded input x itself: element (r, k) of the column matrix is
   x[rowoff[r] + koff[k]] (rowoff: where output position r's receptive field starts,
   koff: where its k-th element sits relative to that), so no column matrix is
   unfolded at all. The min kernels read the sign of each x value ds elements after
   it (x + ds holds sgn(x), as tinymin_signs_f/_d write it). operands = 1: the form
   "operands", else "registers" (point 4 above); both are compiled and the caller
   picks one. */
static inline void tinymin_min_block_f(const float* x, ptrdiff_t ds, ptrdiff_t nrows, ptrdiff_t K,
                                       ptrdiff_t C, const float* w, float* out, int operands) {
    if (operands) tinymin_panel_block_f(x, ds, NULL, NULL, nrows, K, C, w, out, 0, 0, 1);
    else tinymin_panel_block_f(x, ds, NULL, NULL, nrows, K, C, w, out, 0, 0, 0);
}
static inline void tinymin_min_block_d(const double* x, ptrdiff_t ds, ptrdiff_t nrows,
                                       ptrdiff_t K, ptrdiff_t C, const double* w, double* out,
                                       int operands) {
    if (operands) tinymin_panel_block_d(x, ds, NULL, NULL, nrows, K, C, w, out, 0, 0, 1);
    else tinymin_panel_block_d(x, ds, NULL, NULL, nrows, K, C, w, out, 0, 0, 0);
}
static inline void tinymin_dot_block_f(const float* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const float* w, float* out) {
    tinymin_panel_block_f(x, 0, NULL, NULL, nrows, K, C, w, out, 1, 0, 0);
}
static inline void tinymin_dot_block_d(const double* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const double* w, double* out) {
    tinymin_panel_block_d(x, 0, NULL, NULL, nrows, K, C, w, out, 1, 0, 0);
}
static inline void tinymin_min_implicit_f(const float* x, ptrdiff_t ds, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const float* w, float* out,
                                          int operands) {
    if (operands) tinymin_panel_block_f(x, ds, rowoff, koff, nrows, K, C, w, out, 0, 1, 1);
    else tinymin_panel_block_f(x, ds, rowoff, koff, nrows, K, C, w, out, 0, 1, 0);
}
static inline void tinymin_min_implicit_d(const double* x, ptrdiff_t ds, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const double* w, double* out,
                                          int operands) {
    if (operands) tinymin_panel_block_d(x, ds, rowoff, koff, nrows, K, C, w, out, 0, 1, 1);
    else tinymin_panel_block_d(x, ds, rowoff, koff, nrows, K, C, w, out, 0, 1, 0);
}
static inline void tinymin_dot_implicit_f(const float* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const float* w, float* out) {
    tinymin_panel_block_f(x, 0, rowoff, koff, nrows, K, C, w, out, 1, 1, 0);
}
static inline void tinymin_dot_implicit_d(const double* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const double* w, double* out) {
    tinymin_panel_block_d(x, 0, rowoff, koff, nrows, K, C, w, out, 1, 1, 0);
}

#else  /* no AVX-512DQ: the portable Cython tile and BLAS run; these are never called */

#define TINYMIN_HAS_RANGE 0
static inline int tinymin_prefers_operand_broadcasts(void) { return 0; }
static inline void tinymin_min_block_f(const float* x, ptrdiff_t ds, ptrdiff_t nrows, ptrdiff_t K,
                                       ptrdiff_t C, const float* w, float* out, int operands) {}
static inline void tinymin_min_block_d(const double* x, ptrdiff_t ds, ptrdiff_t nrows,
                                       ptrdiff_t K, ptrdiff_t C, const double* w, double* out,
                                       int operands) {}
static inline void tinymin_dot_block_f(const float* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const float* w, float* out) {}
static inline void tinymin_dot_block_d(const double* x, ptrdiff_t nrows, ptrdiff_t K, ptrdiff_t C,
                                       const double* w, double* out) {}
static inline void tinymin_min_implicit_f(const float* x, ptrdiff_t ds, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const float* w, float* out,
                                          int operands) {}
static inline void tinymin_min_implicit_d(const double* x, ptrdiff_t ds, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const double* w, double* out,
                                          int operands) {}
static inline void tinymin_dot_implicit_f(const float* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const float* w, float* out) {}
static inline void tinymin_dot_implicit_d(const double* x, const ptrdiff_t* rowoff,
                                          const ptrdiff_t* koff, ptrdiff_t nrows, ptrdiff_t K,
                                          ptrdiff_t C, const double* w, double* out) {}
#endif

/* sgn(x) of n values into s (s[i] = 1, -1, 0, or NaN for a NaN x, as numpy's sign):
   what the min kernels read at x + ds. Plain C, so it builds everywhere. */
static inline void tinymin_signs_f(const float* x, ptrdiff_t n, float* s) {
    for (ptrdiff_t i = 0; i < n; i++)
        s[i] = x[i] > 0 ? 1.0f : x[i] < 0 ? -1.0f : x[i] * 0.0f;  /* 0 * NaN is NaN */
}
static inline void tinymin_signs_d(const double* x, ptrdiff_t n, double* s) {
    for (ptrdiff_t i = 0; i < n; i++)
        s[i] = x[i] > 0 ? 1.0 : x[i] < 0 ? -1.0 : x[i] * 0.0;
}

#endif  /* TINYMIN_PANEL_TILES_H */
