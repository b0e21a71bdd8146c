"""Tests of tinymin._ext: im2col/col2im and the selector GEMMs, on both backends.

Every kernel is checked against a definition written as plain Python loops, and the
two backends against each other. The Cython backend is skipped when not built.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from backends import BACKENDS, needs_cython
from hypothesis import given
from hypothesis import strategies as st
from strategies import im2col_geometry, seeds

from tinymin import _ext
from tinymin._ext import reference, threads

DTYPES = [np.float32, np.float64]


# ------------------------------------------------------------ loop definitions
def im2col_loop(x, k, s, p):
    """cols[(n*OH+i)*OW+j, (c*KH+u)*KW+v] = x[n, c, i*SH-PH+u, j*SW-PW+v] (0 outside)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = k, s, p
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols = np.zeros((n * oh * ow, c * kh * kw), dtype=x.dtype)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    for u in range(kh):
                        for v in range(kw):
                            hh, ww = i * sh - ph + u, j * sw - pw + v
                            if 0 <= hh < h and 0 <= ww < w:
                                cols[(b * oh + i) * ow + j, (ch * kh + u) * kw + v] = x[b, ch, hh, ww]
    return cols


def conv_loop(x, weight, s, p):
    """Direct sliding-window cross-correlation with zero padding (PyTorch's conv2d)."""
    n, c, h, w = x.shape
    co, _, kh, kw = weight.shape
    (sh, sw), (ph, pw) = s, p
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, co, oh, ow))
    for b in range(n):
        for o in range(co):
            for i in range(oh):
                for j in range(ow):
                    window = xp[b, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    y[b, o, i, j] = float((window.astype(np.float64) * weight[o]).sum())
    return y


def sgn(a):
    return (a > 0) - (a < 0)


SCALAR_OPS = {
    "min_gemm": lambda a, b: sgn(a) * sgn(b) * min(abs(a), abs(b)),
    "max_gemm": lambda a, b: sgn(a) * sgn(b) * max(abs(a), abs(b)),
    "adder_gemm": lambda a, b: -abs(a - b),
}

BROADCAST_OPS = {
    "min_gemm": lambda x, w: (np.sign(x) * np.sign(w) * np.minimum(abs(x), abs(w))).sum(-1),
    "max_gemm": lambda x, w: (np.sign(x) * np.sign(w) * np.maximum(abs(x), abs(w))).sum(-1),
    "adder_gemm": lambda x, w: -abs(x - w).sum(-1),
}


def gemm_loop(op, cols, w):
    f = SCALAR_OPS[op]
    out = np.zeros((cols.shape[0], w.shape[0]))
    for p in range(cols.shape[0]):
        for c in range(w.shape[0]):
            out[p, c] = sum(f(float(a), float(b)) for a, b in zip(cols[p], w[c]))
    return out


def gemm_broadcast(op, cols, w):
    x = cols.astype(np.float64)[:, None, :]
    return BROADCAST_OPS[op](x, w.astype(np.float64)[None])


def operands(rng, p, k, c, dtype):
    """Random cols and weights with zeros, exact ties |x| == |w| and sign mixes."""
    cols = rng.standard_normal((p, k)).astype(dtype)
    w = rng.standard_normal((c, k)).astype(dtype)
    if cols.size:
        cols.flat[rng.integers(0, cols.size, max(1, cols.size // 7))] = 0
    if w.size:
        w.flat[rng.integers(0, w.size, max(1, w.size // 7))] = 0
    if p and c and k:  # ties: some weights equal +-(an input of row 0)
        idx = rng.integers(0, k, max(1, k // 3))
        w[0, idx] = cols[0, idx] * rng.choice([-1, 1], len(idx))
    return np.ascontiguousarray(cols), np.ascontiguousarray(w)


def tol(dtype, k):
    eps = np.finfo(dtype).eps
    return dict(rtol=50 * eps, atol=50 * eps * max(1, k) * 3)


# ------------------------------------------------------------ im2col / col2im
@given(g=im2col_geometry, dtype=st.sampled_from(DTYPES), seed=seeds)
def test_im2col_matches_loop_definition_on_both_backends(g, dtype, seed):
    n, c, h, w, kh, kw, sh, sw, ph, pw = g
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)
    expected = im2col_loop(x, (kh, kw), (sh, sw), (ph, pw))
    with _ext.use_backend("numpy"):
        got_np = _ext.im2col(x, (kh, kw), (sh, sw), (ph, pw))
    np.testing.assert_array_equal(got_np, expected)
    assert got_np.dtype == dtype
    if _ext.HAVE_CYTHON:
        with _ext.use_backend("cython"):
            got_cy = _ext.im2col(x, (kh, kw), (sh, sw), (ph, pw))
        np.testing.assert_array_equal(got_cy, expected)


@given(g=im2col_geometry, dtype=st.sampled_from(DTYPES), seed=seeds)
def test_col2im_is_the_adjoint_of_im2col_and_backends_agree(g, dtype, seed):
    n, c, h, w, kh, kw, sh, sw, ph, pw = g
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    geo = ((kh, kw), (sh, sw), (ph, pw))
    results = {}
    for b in ["numpy", "cython"] if _ext.HAVE_CYTHON else ["numpy"]:
        with _ext.use_backend(b):
            cols = _ext.im2col(x, *geo)
            dcols = rng.standard_normal(cols.shape).astype(dtype)
            dx = _ext.col2im(dcols, x.shape, *geo)
            assert dx.shape == x.shape and dx.dtype == dtype
            lhs = float((cols.astype(np.float64) * dcols).sum())
            rhs = float((x.astype(np.float64) * dx).sum())
            assert np.isclose(lhs, rhs, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-4)
            results[b] = (dcols, dx)
    if len(results) == 2:
        dcols = results["numpy"][0]
        with _ext.use_backend("cython"):
            dx_cy = _ext.col2im(dcols, x.shape, *geo)
        with _ext.use_backend("numpy"):
            dx_np = _ext.col2im(dcols, x.shape, *geo)
        np.testing.assert_allclose(dx_cy, dx_np, **tol(dtype, 9))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,k,p", [((3, 2, 6, 9), 3, 1), ((2, 3, 7, 5), 5, 2),
                                       ((2, 2, 4, 4), 1, 0), ((17, 2, 5, 6), (3, 5), (1, 2))])
def test_col2im_same_padding_drops_the_padding_entries(backend, dtype, shape, k, p):
    # stride 1, output as wide as the input: the Cython kernel folds each plane as one
    # flattened shifted add with the wrapped columns masked; the values read from the
    # padding must be dropped, even inf and NaN (a mask multiply would make NaN of them)
    rng = np.random.default_rng(0)
    dcols = rng.standard_normal(_ext.im2col(np.ones(shape, dtype), k, 1, p).shape).astype(dtype)
    with _ext.use_backend("numpy"):
        from_padding = _ext.im2col(np.ones(shape, dtype), k, 1, p) == 0
        expected = _ext.col2im(dcols, shape, k, 1, p)
    assert from_padding.any() or p == 0  # 1x1: the flat path, nothing to drop
    dcols[from_padding] = np.where(rng.random(from_padding.sum()) < 0.5, np.inf, np.nan)
    with _ext.use_backend(backend):
        got = _ext.col2im(np.asfortranarray(dcols), shape, k, 1, p)
    np.testing.assert_allclose(got, expected, **tol(dtype, 25))


@given(g=im2col_geometry, dtype=st.sampled_from(DTYPES), seed=seeds)
def test_col2im_of_column_major_cols_agrees_with_the_twin(g, dtype, seed):
    # conv backward hands col2im (W^T G^T)^T, stored column by column; the Cython
    # kernel folds that layout with its own loops, the numpy twin with the same code
    n, c, h, w, kh, kw, sh, sw, ph, pw = g
    geo = ((kh, kw), (sh, sw), (ph, pw))
    oh, ow = _ext.conv_output_shape(h, w, *geo)
    dcols = np.random.default_rng(seed).standard_normal((n * oh * ow, c * kh * kw)).astype(dtype)
    with _ext.use_backend("numpy"):
        expected = _ext.col2im(dcols, (n, c, h, w), *geo)
    for b in ["numpy", "cython"] if _ext.HAVE_CYTHON else ["numpy"]:
        with _ext.use_backend(b):
            got = _ext.col2im(np.asfortranarray(dcols), (n, c, h, w), *geo)
        assert got.shape == (n, c, h, w) and got.dtype == dtype
        np.testing.assert_allclose(got, expected, **tol(dtype, 9))


@pytest.mark.parametrize("backend", BACKENDS)
@given(g=im2col_geometry, co=st.integers(1, 3), seed=seeds)
def test_im2col_gemm_is_the_convolution(backend, g, co, seed):
    n, c, h, w, kh, kw, sh, sw, ph, pw = g
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((co, c, kh, kw))
    with _ext.use_backend(backend):
        cols = _ext.im2col(x, (kh, kw), (sh, sw), (ph, pw))
    oh, ow = _ext.conv_output_shape(h, w, (kh, kw), (sh, sw), (ph, pw))
    y = (cols @ weight.reshape(co, -1).T).reshape(n, oh, ow, co).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, conv_loop(x, weight, (sh, sw), (ph, pw)), atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_im2col_out_buffer_is_reused(backend):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(np.float32)
    buf = np.full((2 * 6 * 5, 27), np.nan, dtype=np.float32)
    with _ext.use_backend(backend):
        got = _ext.im2col(x, 3, 1, 1, out=buf)
    assert got is buf
    np.testing.assert_array_equal(buf, im2col_loop(x, (3, 3), (1, 1), (1, 1)))


@needs_cython
@pytest.mark.parametrize("dtype", DTYPES)
def test_im2col_col2im_lenet_shape_backends_agree(dtype):
    # a real layer's size: several OpenMP chunks, interior fast path and borders
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 32, 14, 14)).astype(dtype)
    with _ext.use_backend("cython"):
        cy = _ext.im2col(x, 5, 1, 2)
        dcy = _ext.col2im(cy, x.shape, 5, 1, 2)
    with _ext.use_backend("numpy"):
        nu = _ext.im2col(x, 5, 1, 2)
        dnu = _ext.col2im(nu, x.shape, 5, 1, 2)
    np.testing.assert_array_equal(cy, nu)
    np.testing.assert_allclose(dcy, dnu, **tol(dtype, 25))


# ------------------------------------------------------------ selector GEMMs
OPS = ["min_gemm", "max_gemm", "adder_gemm"]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPES)
@given(p=st.integers(0, 19), k=st.integers(0, 13), c=st.integers(0, 11), seed=st.integers(0, 99))
def test_gemm_matches_scalar_loop_and_broadcast_on_both_backends(op, dtype, p, k, c, seed):
    cols, w = operands(np.random.default_rng(seed), p, k, c, dtype)
    expected = gemm_loop(op, cols, w)
    np.testing.assert_allclose(gemm_broadcast(op, cols, w), expected, rtol=1e-12, atol=1e-12)
    for b in ["numpy", "cython"] if _ext.HAVE_CYTHON else ["numpy"]:
        with _ext.use_backend(b):
            got = getattr(_ext, op)(cols, w)
        assert got.shape == (p, c) and got.dtype == dtype, b
        np.testing.assert_allclose(got, expected, **tol(dtype, k), err_msg=b)


@needs_cython
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "p,k,c",
    [(203, 1100, 37), (64, 25, 32), (129, 800, 9), (8, 3, 8), (17, 1025, 4)],
    ids=["K-blocked+ragged", "conv1", "multiblock", "one-tile", "K=KC+1"],
)
def test_gemm_cython_equals_numpy_twin_and_broadcast(op, dtype, p, k, c):
    # sizes that reach every path of the kernel: full and partial 8-row tiles and
    # filter panels, several row blocks (threads), and K split into chunks
    cols, w = operands(np.random.default_rng(p + k + c), p, k, c, dtype)
    with _ext.use_backend("cython"):
        cy = getattr(_ext, op)(cols, w)
    with _ext.use_backend("numpy"):
        nu = getattr(_ext, op)(cols, w)
    expected = gemm_broadcast(op, cols, w)
    np.testing.assert_allclose(cy, expected, **tol(dtype, k))
    np.testing.assert_allclose(nu, expected, **tol(dtype, k))


def _min_gemm_kernel(name):
    # min_gemm's kernels by name; "min_gemm_panels_portable" is the panel kernel with
    # its portable tile forced, which an AVX-512DQ build would not pick
    from tinymin._ext import _min_gemm

    if name == "min_gemm_panels_portable":
        return functools.partial(_min_gemm.min_gemm_panels, vrange=False)
    return getattr(_min_gemm, name)


@needs_cython
@pytest.mark.parametrize("kernel", ["min_gemm_klanes", "min_gemm_panels",
                                    "min_gemm_panels_portable"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p,k,c", [(203, 1100, 37), (64, 25, 32), (129, 800, 9), (5, 7, 3),
                                   (17, 1025, 4), (70, 64, 17), (9, 65, 16), (13, 40, 64),
                                   (97, 30, 130), (7, 3, 1)])
def test_every_min_gemm_kernel_equals_the_numpy_twin(kernel, dtype, p, k, c):
    # min_gemm picks one of its kernels by K (PANEL_MAX_K, which depends on the build's
    # vector width) and the build (HAS_VRANGE): each is checked on every size here,
    # whichever is picked; the sizes cover ragged row tiles (6 and 8 rows) and every
    # count of filter panels in the VRANGE kernel's groups of 4, full and ragged
    kernel_fn = _min_gemm_kernel(kernel)
    cols, w = operands(np.random.default_rng(p * k + c), p, k, c, dtype)
    got = kernel_fn(cols, w, np.full((p, c), np.nan, dtype))
    np.testing.assert_allclose(got, reference.min_gemm(cols, w), **tol(dtype, k))
    cols[p // 2, k // 2], w[c - 1, 0] = np.nan, np.nan
    got = kernel_fn(cols, w, np.zeros((p, c), dtype))
    expected_nan = np.zeros((p, c), dtype=bool)
    expected_nan[p // 2, :] = True
    expected_nan[:, c - 1] = True
    np.testing.assert_array_equal(np.isnan(got), expected_nan)


@pytest.mark.parametrize("dtype", DTYPES)
def test_naive_min_gemm_equals_min_gemm(dtype):
    cols, w = operands(np.random.default_rng(3), 300, 50, 7, dtype)
    np.testing.assert_allclose(
        reference.naive_min_gemm(cols, w), reference.min_gemm(cols, w), **tol(dtype, 50)
    )


def test_min_gemm_selects_the_smaller_magnitude_exactly():
    # one term at a time: Table 2's multiplexer, including ties and zeros
    a = np.array([[0.5, -0.5, 2.0, -2.0, 0.0, 1.0, -1.0, 3.0]])
    b = np.array([[1.0, 1.0, -1.0, -1.0, 5.0, 0.0, 1.0, -3.0]])
    for backend in ["numpy", "cython"] if _ext.HAVE_CYTHON else ["numpy"]:
        with _ext.use_backend(backend):
            terms = [_ext.min_gemm(a[:, [i]].copy(), b[:, [i]].copy())[0, 0] for i in range(8)]
        assert terms == [0.5, -0.5, -1.0, 1.0, 0.0, 0.0, -1.0, -3.0], backend


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_propagates_nan_like_numpy(backend, op, dtype):
    # a diverging run must show NaN, not a silently clipped number
    cols, w = operands(np.random.default_rng(8), 19, 12, 10, dtype)
    cols[3, 4] = np.nan
    w[6, 2] = np.nan
    with _ext.use_backend(backend):
        got = getattr(_ext, op)(cols, w)
    expected_nan = np.zeros_like(got, dtype=bool)
    expected_nan[3, :] = True
    expected_nan[:, 6] = True
    np.testing.assert_array_equal(np.isnan(got), expected_nan)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS)
def test_gemm_out_buffer_is_reused(backend, op):
    cols, w = operands(np.random.default_rng(5), 21, 9, 10, np.float32)
    buf = np.full((21, 10), np.nan, dtype=np.float32)
    with _ext.use_backend(backend):
        got = getattr(_ext, op)(cols, w, out=buf)
    assert got is buf
    np.testing.assert_allclose(buf, gemm_broadcast(op, cols, w), **tol(np.float32, 9))


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_only_inputs_are_accepted(backend):
    # e.g. arrays from np.load(mmap_mode="r") or frozen model weights
    x = np.random.default_rng(9).standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = np.random.default_rng(10).standard_normal((4, 27)).astype(np.float32)
    x.setflags(write=False)
    w.setflags(write=False)
    with _ext.use_backend(backend):
        cols = _ext.im2col(x, 3, 1, 1)
        cols.setflags(write=False)
        assert _ext.col2im(cols, x.shape, 3, 1, 1).shape == x.shape
        for op in OPS:
            np.testing.assert_allclose(
                getattr(_ext, op)(cols, w), gemm_broadcast(op, cols, w), **tol(np.float32, 27)
            )


@needs_cython
def test_results_do_not_depend_on_thread_count():
    cols, w = operands(np.random.default_rng(6), 517, 75, 20, np.float32)
    x = np.random.default_rng(7).standard_normal((5, 3, 9, 9)).astype(np.float32)
    before = threads.num_threads()
    try:
        runs = []
        for n in (1, 2, 3):
            threads.set_num_threads(n)
            with _ext.use_backend("cython"):
                cc = _ext.im2col(x, 3, 2, 1)
                g = np.random.default_rng(8).standard_normal((5, 4, 5, 5)).astype(np.float32)
                runs.append((_ext.min_gemm(cols, w), cc, _ext.col2im(cc, x.shape, 3, 2, 1),
                             _ext.col2im(np.asfortranarray(cc), x.shape, 3, 2, 1),
                             _ext.conv_weight_grad(cc, g),
                             _ext.im2col_gemm(x, w[:4, :27].copy(), 3, 2, 1),
                             _ext.im2col_min_gemm(x, w[:4, :27].copy(), 3, 2, 1)))
        for r in runs[1:]:
            for a, b in zip(runs[0], r):
                np.testing.assert_array_equal(a, b)
    finally:
        threads.set_num_threads(before)


# ------------------------------------------------------------ errors
x4 = np.zeros((1, 2, 5, 5), dtype=np.float32)
c2 = np.zeros((4, 6), dtype=np.float32)
w2 = np.zeros((3, 6), dtype=np.float32)

ERROR_CASES = [
    # (function name, call, exception)
    ("im2col", lambda: _ext.im2col(x4.astype(np.int32), 3), TypeError),
    ("im2col", lambda: _ext.im2col(x4.astype(np.float16), 3), TypeError),
    ("im2col", lambda: _ext.im2col([[1.0]], 3), TypeError),
    ("im2col", lambda: _ext.im2col(x4[0], 3), ValueError),
    ("im2col", lambda: _ext.im2col(x4.transpose(0, 1, 3, 2), 3), ValueError),
    ("im2col", lambda: _ext.im2col(x4, 3, stride=0), ValueError),
    ("im2col", lambda: _ext.im2col(x4, 3, stride=-1), ValueError),
    ("im2col", lambda: _ext.im2col(x4, 3, padding=-1), ValueError),
    ("im2col", lambda: _ext.im2col(x4, 0), ValueError),
    ("im2col", lambda: _ext.im2col(x4, (3, 3, 3)), ValueError),
    ("im2col", lambda: _ext.im2col(x4, 2.5), ValueError),
    ("im2col", lambda: _ext.im2col(x4, True), ValueError),
    ("im2col", lambda: _ext.im2col(x4, 6), ValueError),
    ("im2col", lambda: _ext.im2col(x4, 3, out=np.zeros((9, 17), np.float32)), ValueError),
    ("im2col", lambda: _ext.im2col(x4, 3, out=np.zeros((9, 18), np.float64)), TypeError),
    ("im2col", lambda: _ext.im2col(x4, 3, out=np.zeros((18, 9), np.float32).T), ValueError),
    ("col2im", lambda: _ext.col2im(c2, (1, 2, 5, 5), 3), ValueError),
    ("col2im", lambda: _ext.col2im(c2, (1, 2, 5), 3), ValueError),
    ("col2im", lambda: _ext.col2im(c2.astype(np.int64), (1, 2, 5, 5), 3), TypeError),
    ("col2im", lambda: _ext.col2im(c2[:, ::2], (1, 2, 5, 5), 1), ValueError),
    ("col2im", lambda: _ext.col2im(c2, (1, 2, 2, 2), 3), ValueError),
    ("col2im", lambda: _ext.col2im(c2, (1, 2, 5, 5), 3, stride=0), ValueError),
    ("conv_output_shape", lambda: _ext.conv_output_shape(4, 4, 5), ValueError),
    ("conv_output_shape", lambda: _ext.conv_output_shape(-1, 4, 1), ValueError),
    ("conv_output_shape", lambda: _ext.conv_output_shape(4, 4, 3, padding=-2), ValueError),
]
for _op in OPS:
    _f = getattr(_ext, _op)
    ERROR_CASES += [
        (_op, lambda f=_f: f(c2.astype(np.int32), w2.astype(np.int32)), TypeError),
        (_op, lambda f=_f: f(c2, w2.astype(np.float64)), TypeError),
        (_op, lambda f=_f: f(c2[:, :3], w2[:, :3]), ValueError),  # non-contiguous
        (_op, lambda f=_f: f(np.asfortranarray(np.ones((4, 6), np.float32)), w2), ValueError),
        (_op, lambda f=_f: f(c2[None], w2), ValueError),
        (_op, lambda f=_f: f(c2, w2[0]), ValueError),
        (_op, lambda f=_f: f(c2, np.zeros((3, 5), np.float32)), ValueError),  # K mismatch
        (_op, lambda f=_f: f(c2, w2, out=np.zeros((3, 4), np.float32)), ValueError),
        (_op, lambda f=_f: f(c2, w2, out=np.zeros((4, 3), np.float64)), TypeError),
        (_op, lambda f=_f: f(c2, w2, out=np.zeros((3, 4), np.float32).T), ValueError),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("who,call,exc", ERROR_CASES)
def test_bad_arguments_raise_naming_the_function(backend, who, call, exc):
    with _ext.use_backend(backend), pytest.raises(exc, match=f"^{who}: "):
        call()


def test_non_contiguous_message_says_how_to_fix():
    with pytest.raises(ValueError, match="np.ascontiguousarray"):
        _ext.min_gemm(c2[:, ::2], w2[:, ::2])


def test_out_may_not_alias_an_input():
    cols = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match="^min_gemm: out overlaps"):
        _ext.min_gemm(cols, cols, out=cols)


def test_conv_output_shape():
    assert _ext.conv_output_shape(14, 14, 5, 1, 2) == (14, 14)
    assert _ext.conv_output_shape(28, 28, 5) == (24, 24)
    assert _ext.conv_output_shape(7, 6, (3, 2), (2, 3), (1, 0)) == (4, 2)
    assert _ext.conv_output_shape(1, 1, 3, 1, 1) == (1, 1)


# ------------------------------------------------------------ backend switch, threads
def test_backend_switch_and_context_manager():
    start = _ext.backend()
    assert start in ("cython", "numpy")
    with _ext.use_backend("numpy") as name:
        assert name == "numpy" == _ext.backend()
    assert _ext.backend() == start
    with pytest.raises(ValueError, match="^set_backend: "):
        _ext.set_backend("cuda")
    with pytest.raises(ValueError, match="^use_backend: "), _ext.use_backend("fortran"):
        pass
    assert _ext.backend() == start
    try:
        _ext.set_backend("NumPy")
        assert _ext.backend() == "numpy"
    finally:
        _ext.set_backend(start)


def test_asking_for_cython_without_extension_warns_once_and_falls_back(monkeypatch):
    monkeypatch.setattr(_ext, "HAVE_CYTHON", False)
    monkeypatch.setattr(_ext, "_warned", False)
    with pytest.warns(_ext.KernelFallbackWarning, match="pip install -e ."):
        with _ext.use_backend("cython") as name:
            assert name == "numpy"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _ext.use_backend("cython") as name:  # second time: no warning
            assert name == "numpy"


_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_PROBE = (
    "import sys, warnings\n"
    "warnings.simplefilter('always')\n"
    "if len(sys.argv) > 1:\n"
    "    sys.modules['tinymin._ext._im2col'] = None  # as if never built\n"
    "with warnings.catch_warnings(record=True) as rec:\n"
    "    import tinymin._ext as e\n"
    "    e.im2col(__import__('numpy').zeros((1, 1, 3, 3)), 2)\n"
    "    first = e.backend()\n"
    "    e.set_backend('numpy')\n"
    "    e.set_backend('cython')  # falls back again, without a second warning\n"
    "rec = [r for r in rec if issubclass(r.category, e.KernelFallbackWarning)]\n"
    "print(first, e.HAVE_CYTHON, len(rec), rec[0].message if rec else '')\n"
)


@pytest.mark.parametrize(
    "env,hide,expected_backend",
    [
        ("numpy", False, "numpy"),
        ("cython", True, "numpy"),
        ("", True, "numpy"),
        ("bogus", False, None),
    ],
)
def test_environment_variable_and_missing_extension(env, hide, expected_backend):
    # one warning for a typo in TINYMIN_BACKEND, one (and only one) when the
    # extension is missing, however often the Cython backend is asked for
    n_warnings = (env == "bogus") + (hide or not _ext.HAVE_CYTHON)
    run_env = dict(os.environ, TINYMIN_BACKEND=env, PYTHONPATH=_ROOT)
    args = [sys.executable, "-c", _PROBE] + (["hide"] if hide else [])
    res = subprocess.run(args, env=run_env, capture_output=True, text=True, timeout=60, cwd=_ROOT)
    assert res.returncode == 0, res.stderr
    backend, have, n, *msg = res.stdout.split(maxsplit=3)
    if expected_backend is None:  # a typo in TINYMIN_BACKEND: warn, use the default
        expected_backend = "cython" if _ext.HAVE_CYTHON else "numpy"
    assert backend == expected_backend
    assert int(n) == n_warnings, res.stdout
    if hide:
        assert have == "False" and "are not built" in msg[0] and "pip install -e ." in msg[0]


def test_set_num_threads_validates_and_round_trips():
    before = threads.num_threads()
    try:
        _ext.set_num_threads(1)
        assert _ext.num_threads() == 1
        for bad in (0, -2, 1.5, "2", True):
            with pytest.raises(ValueError, match="^set_num_threads: "):
                _ext.set_num_threads(bad)
    finally:
        _ext.set_num_threads(before)
    assert threads.num_threads() == before


@pytest.mark.parametrize("name, default", [("OPENBLAS_THREAD_TIMEOUT", "4"),
                                           ("OMP_WAIT_POLICY", "PASSIVE")])
@pytest.mark.parametrize("preset", [None, "9"])
def test_import_sets_the_thread_environment_unless_the_user_did(name, default, preset):
    run_env = {k: v for k, v in os.environ.items() if k != name}
    run_env["PYTHONPATH"] = _ROOT
    if preset is not None:
        run_env[name] = preset
    probe = f"import os, tinymin; print(os.environ[{name!r}])"
    res = subprocess.run([sys.executable, "-c", probe], env=run_env, capture_output=True,
                         text=True, timeout=60, cwd=_ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == (preset or default)
