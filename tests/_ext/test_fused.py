"""Tests of ``tinymin._ext.im2col_min_gemm`` and ``im2col_gemm``: im2col fused with the
min-selector GEMM, and with the ordinary product of the exact layer.

The Cython kernels unfold blocks of rows into a cached buffer (or into ``cols``) and
run the selector (or the product) over each at once; they must give what their numpy
twins give (im2col, then min_gemm or BLAS), with or without ``cols``, with each of
min_gemm's kernels, on ragged blocks, and with NaN propagated as min_gemm propagates it.
"""

from __future__ import annotations

import numpy as np
import pytest
from backends import BACKENDS, needs_cython

from tinymin import _ext
from tinymin._ext import reference, tiles

DTYPES = [np.float32, np.float64]

# (N, C_in, H, W), (C_out, KH, KW), stride, padding: LeNet's conv2 and the 3x3 layer at
# small batches, strides, rectangles, kernels wider than one vector, one output row
GEOMETRIES = [
    ((3, 32, 14, 14), (64, 5, 5), (1, 1), (2, 2)),
    ((2, 64, 16, 16), (128, 3, 3), (1, 1), (1, 1)),
    ((2, 3, 11, 9), (7, 3, 2), (2, 1), (1, 0)),
    ((1, 2, 5, 40), (5, 1, 17), (1, 2), (0, 3)),
    ((5, 1, 28, 28), (32, 5, 5), (1, 1), (2, 2)),
    ((1, 4, 3, 130), (3, 3, 3), (1, 1), (0, 1)),
    ((2, 2, 6, 6), (1, 6, 6), (1, 1), (0, 0)),
]


def operands(rng, x_shape, w_shape, dtype):
    n, c, h, w = x_shape
    co, kh, kw = w_shape
    x = rng.standard_normal(x_shape).astype(dtype)
    w_hat = rng.standard_normal((co, c * kh * kw)).astype(dtype)
    x.flat[rng.integers(0, x.size, max(1, x.size // 7))] = 0
    w_hat.flat[rng.integers(0, w_hat.size, max(1, w_hat.size // 7))] = 0
    return x, w_hat


def tol(dtype, k):
    eps = np.finfo(dtype).eps
    return dict(rtol=50 * eps, atol=150 * eps * max(1, k))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("keep", [False, True])
def test_fused_equals_im2col_then_min_gemm(backend, dtype, geometry, keep):
    x_shape, w_shape, s, p = geometry
    x, w_hat = operands(np.random.default_rng(sum(x_shape)), x_shape, w_shape, dtype)
    k = w_shape[1:]
    expected_cols = reference.im2col(x, k, s, p)
    expected = reference.min_gemm(expected_cols, w_hat)
    cols = np.full_like(expected_cols, np.nan) if keep else None
    with _ext.use_backend(backend):
        got = _ext.im2col_min_gemm(x, w_hat, k, s, p, cols=cols)
    np.testing.assert_allclose(got, expected, **tol(dtype, w_hat.shape[1]))
    if keep:
        np.testing.assert_array_equal(cols, expected_cols)


@needs_cython
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES[:4])
@pytest.mark.parametrize("keep", [False, True])
def test_fused_k_lane_kernel_equals_the_twin(monkeypatch, dtype, geometry, keep):
    # an AVX-512 build runs the panel kernel at every K: force the k-lane one (what an
    # AVX2 build runs above K = 64) so that both fused paths are checked on this machine
    from tinymin._ext import _fused, _min_gemm

    monkeypatch.setattr(_min_gemm, "PANEL_MAX_K", 0)
    x_shape, w_shape, s, p = geometry
    x, w_hat = operands(np.random.default_rng(7), x_shape, w_shape, dtype)
    k = w_shape[1:]
    expected_cols = reference.im2col(x, k, s, p)
    cols = np.full_like(expected_cols, np.nan) if keep else None
    got = _fused.im2col_min_gemm(x, w_hat, k, s, p, cols, None)
    np.testing.assert_allclose(got, reference.min_gemm(expected_cols, w_hat),
                               **tol(dtype, w_hat.shape[1]))
    if keep:
        np.testing.assert_array_equal(cols, expected_cols)


@needs_cython
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_fused_portable_panel_tile_equals_the_twin(dtype, geometry):
    # an AVX-512DQ build runs the VRANGE kernel of _panel_tiles.h: force the portable
    # tile too (what other builds run), with a NaN input, so both are checked here
    from tinymin._ext import _fused

    x_shape, w_shape, s, p = geometry
    x, w_hat = operands(np.random.default_rng(11), x_shape, w_shape, dtype)
    x.flat[x.size // 2] = np.nan
    k = w_shape[1:]
    expected = reference.min_gemm(reference.im2col(x, k, s, p), w_hat)
    got = _fused.im2col_min_gemm(x, w_hat, k, s, p, None, None, vrange=False)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(got[ok], expected[ok], **tol(dtype, w_hat.shape[1]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_propagates_nan_like_min_gemm(backend, dtype):
    x, w_hat = operands(np.random.default_rng(1), (2, 3, 9, 9), (6, 3, 3), dtype)
    x[1, 2, 4, 4] = np.nan
    w_hat[4, 5] = np.nan
    expected = reference.min_gemm(reference.im2col(x, (3, 3), (1, 1), (1, 1)), w_hat)
    with _ext.use_backend(backend):
        got = _ext.im2col_min_gemm(x, w_hat, 3, 1, 1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    assert np.isnan(got).any() and not np.isnan(got).all()


needs_fused_gemm = pytest.mark.skipif(
    not _ext.HAVE_CYTHON or not _ext._min_gemm.HAS_VRANGE,
    reason="im2col_gemm's fused kernel needs a Cython build with AVX-512DQ; "
           "elsewhere the numpy twin runs, checked by the numpy backend's cases")


@pytest.mark.parametrize("backend", ["numpy", pytest.param("cython", marks=needs_fused_gemm)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES + [((2, 5, 9, 9), (70, 3, 3), (1, 1), (1, 1))])
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("nchw", [False, True])
def test_fused_gemm_equals_im2col_then_the_product(backend, dtype, geometry, keep, nchw):
    # the exact layer's forward, as rows, or as the NCHW output, with the bias added
    # (not to kept rows: one case without a bias); 70 filters = one group of 4 panels
    # and a ragged one
    x_shape, w_shape, s, p = geometry
    rng = np.random.default_rng(sum(x_shape) + 1)
    x, w = operands(rng, x_shape, w_shape, dtype)
    bias = None if keep and not nchw else rng.standard_normal(w.shape[0]).astype(dtype)
    k = w_shape[1:]
    expected_cols = reference.im2col(x, k, s, p)
    expected = expected_cols.astype(np.float64) @ w.T.astype(np.float64)
    if bias is not None:
        expected = expected + bias
    if nchw:
        oh, ow = _ext.conv_output_shape(x_shape[2], x_shape[3], k, s, p)
        expected = expected.reshape(x_shape[0], oh, ow, -1).transpose(0, 3, 1, 2)
    cols = np.full_like(expected_cols, np.nan) if keep else None
    with _ext.use_backend(backend):
        assert _ext.has_fused_gemm() == (backend == "cython")
        got = _ext.im2col_gemm(x, w, k, s, p, cols=cols, bias=bias, nchw=nchw)
    np.testing.assert_allclose(got, expected, **tol(dtype, w.shape[1]))
    assert got.dtype == dtype and got.flags.c_contiguous
    if keep:
        np.testing.assert_array_equal(cols, expected_cols)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_fused_min_writes_the_nchw_output(backend, geometry):
    x_shape, w_shape, s, p = geometry
    x, w_hat = operands(np.random.default_rng(sum(x_shape) + 3), x_shape, w_shape, np.float64)
    k = w_shape[1:]
    oh, ow = _ext.conv_output_shape(x_shape[2], x_shape[3], k, s, p)
    rows = reference.min_gemm(reference.im2col(x, k, s, p), w_hat)
    scale = np.linspace(0.5, 2.0, w_hat.shape[0])  # Algorithm 1's mu_w, per channel
    out = np.full((x_shape[0], w_hat.shape[0], oh, ow), np.nan)
    with _ext.use_backend(backend):
        assert _ext.im2col_min_gemm(x, w_hat, k, s, p, out=out, nchw=True) is out
        scaled = _ext.im2col_min_gemm(x, w_hat, k, s, p, nchw=True, scale=scale)
    expected = rows.reshape(x_shape[0], oh, ow, -1).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, expected, **tol(np.float64, w_hat.shape[1]))
    np.testing.assert_allclose(scaled, expected * scale.reshape(1, -1, 1, 1),
                               **tol(np.float64, w_hat.shape[1]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES[:3])
def test_fused_min_adds_the_bias_after_the_scale(backend, dtype, geometry):
    # Algorithm 1's step 5 in one call: mu_w * sums + b, rounded as numpy's y * scale
    # then + bias (min_conv2d's other path), so both give the same bits
    x_shape, w_shape, s, p = geometry
    rng = np.random.default_rng(sum(x_shape) + 5)
    x, w_hat = operands(rng, x_shape, w_shape, dtype)
    k = w_shape[1:]
    scale = rng.uniform(0.5, 2.0, w_hat.shape[0]).astype(dtype)
    bias = rng.standard_normal(w_hat.shape[0]).astype(dtype)
    with _ext.use_backend(backend):
        scaled = _ext.im2col_min_gemm(x, w_hat, k, s, p, nchw=True, scale=scale)
        both = _ext.im2col_min_gemm(x, w_hat, k, s, p, nchw=True, scale=scale, bias=bias)
        rows = _ext.im2col_min_gemm(x, w_hat, k, s, p)
        rows_bias = _ext.im2col_min_gemm(x, w_hat, k, s, p, bias=bias)
    np.testing.assert_array_equal(both, scaled + bias.reshape(1, -1, 1, 1))
    np.testing.assert_array_equal(rows_bias, rows + bias)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nchw", [False, True])
def test_a_nan_weight_makes_its_filter_nan(backend, dtype, nchw):
    # VRANGE returns the other operand where one is NaN, so the kernels mark NaN
    # filters afterwards: m(x, NaN) is NaN, in every output of that filter
    x, w_hat = operands(np.random.default_rng(2), (2, 3, 9, 9), (70, 3, 3), dtype)
    w_hat[66, 4] = np.nan  # in the ragged last panel group
    w_hat[3, 0] = np.nan
    with _ext.use_backend(backend):
        got = _ext.im2col_min_gemm(x, w_hat, 3, 1, 1, nchw=nchw)
    channels = got.reshape(-1, 70) if not nchw else got.transpose(0, 2, 3, 1).reshape(-1, 70)
    assert np.isnan(channels[:, [3, 66]]).all()
    assert not np.isnan(np.delete(channels, [3, 66], axis=1)).any()


@pytest.fixture
def cython():
    """The Cython kernels for one test, whatever ``TINYMIN_BACKEND`` says (the tests
    marked needs_fused_gemm check the tiles, not the twins)."""
    with _ext.use_backend("cython"):
        yield


@needs_fused_gemm
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_filter_count_has_all_its_filters_computed(cython, dtype):
    # the tiles take the filters in groups of 4 panels of one vector each (64 float32 or
    # 32 float64 filters); every group's last panel is full but the very last one's,
    # which is masked: a wrong mask leaves filters unwritten (found for C = 80-95,
    # 112-127, ... in float32), so every count up to 10 groups is tried, on each entry
    # point of the tiles
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 5, 3, 3)).astype(dtype)
    cols = reference.im2col(x, (1, 1), (1, 1), (0, 0))
    for c in range(1, 10 * 64 + 2):
        w = rng.standard_normal((c, 5)).astype(dtype)
        expected_min, expected_dot = reference.min_gemm(cols, w), cols @ w.T
        got = {
            "min_gemm": _ext.min_gemm(cols, w),
            "im2col_min_gemm": _ext.im2col_min_gemm(x, w, 1),
            "im2col_min_gemm, nchw": _ext.im2col_min_gemm(x, w, 1, nchw=True)
                                    .transpose(0, 2, 3, 1).reshape(-1, c),
            "im2col_min_gemm, cols": _ext.im2col_min_gemm(x, w, 1, cols=np.empty_like(cols)),
            "im2col_gemm": _ext.im2col_gemm(x, w, 1),
            "im2col_gemm, nchw": _ext.im2col_gemm(x, w, 1, nchw=True)
                                 .transpose(0, 2, 3, 1).reshape(-1, c),
        }
        for name, result in got.items():
            expected = expected_dot if "im2col_gemm" in name else expected_min
            np.testing.assert_allclose(result, expected, **tol(dtype, 5),
                                       err_msg=f"{name}, {c} filters")


@needs_fused_gemm
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_reading_the_input_itself_gives_the_bits_of_the_unfolded_block(cython, dtype, geometry):
    # without cols the tiles read the padded input ("implicit"); with cols they read the
    # unfolded block: the same sums in the same order, so the same bits
    x_shape, w_shape, s, p = geometry
    x, w = operands(np.random.default_rng(sum(x_shape) + 2), x_shape, w_shape, dtype)
    k = w_shape[1:]
    cols = np.empty_like(reference.im2col(x, k, s, p))
    np.testing.assert_array_equal(_ext.im2col_gemm(x, w, k, s, p),
                                  _ext.im2col_gemm(x, w, k, s, p, cols=cols))
    np.testing.assert_array_equal(_ext.im2col_min_gemm(x, w, k, s, p),
                                  _ext.im2col_min_gemm(x, w, k, s, p, cols=cols))


@pytest.fixture
def tile_form():
    """Set the min tile's form ("registers" / "operands") for one test."""
    before = tiles.min_tile_broadcasts()
    yield tiles.set_min_tile_broadcasts
    tiles.set_min_tile_broadcasts(before)


@needs_fused_gemm
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("nchw", [False, True])
def test_both_forms_of_the_min_tile_give_the_same_bits(cython, tile_form, dtype, geometry, keep,
                                                     nchw):
    # x and sgn(x) broadcast into registers, or read as VRANGE's operand and from a
    # table of sign vectors: the same instructions on the same values in the same
    # order, so the same bits, on the implicit path (no cols), the unfolded blocks
    # (cols) and min_gemm's own kernel
    x_shape, w_shape, s, p = geometry
    x, w_hat = operands(np.random.default_rng(sum(x_shape) + 3), x_shape, w_shape, dtype)
    k = w_shape[1:]
    expected_cols = reference.im2col(x, k, s, p)
    got = {}
    for form in ("registers", "operands"):
        tile_form(form)
        assert tiles.min_tile_broadcasts() == form
        cols = np.empty_like(expected_cols) if keep else None
        got[form] = (_ext.im2col_min_gemm(x, w_hat, k, s, p, cols=cols, nchw=nchw),
                     _ext.min_gemm(expected_cols, w_hat))
    np.testing.assert_array_equal(got["registers"][0], got["operands"][0])
    np.testing.assert_array_equal(got["registers"][1], got["operands"][1])
    expected = reference.min_gemm(expected_cols, w_hat)
    np.testing.assert_allclose(got["operands"][1], expected, **tol(dtype, w_hat.shape[1]))


@needs_fused_gemm
@pytest.mark.parametrize("form", ["registers", "operands"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_each_form_of_the_min_tile_propagates_nan(cython, tile_form, form, dtype):
    tile_form(form)
    x, w_hat = operands(np.random.default_rng(1), (2, 3, 9, 9), (6, 3, 3), dtype)
    x[1, 2, 4, 4] = np.nan
    w_hat[4, 5] = np.nan
    expected = reference.min_gemm(reference.im2col(x, (3, 3), (1, 1), (1, 1)), w_hat)
    got = _ext.im2col_min_gemm(x, w_hat, 3, 1, 1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))


def test_setting_an_unknown_form_of_the_min_tile_is_an_error():
    with pytest.raises(ValueError, match="set_min_tile_broadcasts: form must be .*'sideways'"):
        tiles.set_min_tile_broadcasts("sideways")


def _cpu_from_proc() -> tuple[str, int] | None:
    try:
        with open("/proc/cpuinfo") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    if "vendor_id" not in fields or "cpu family" not in fields:
        return None
    return fields["vendor_id"], int(fields["cpu family"])


@needs_fused_gemm
def test_the_default_form_follows_the_cpu_family():
    # the kernel's reading of CPUID, against the C helper's: "operands" on AMD family
    # 19h (Zen 4), where it was measured faster, "registers" everywhere else
    cpu = _cpu_from_proc()
    if cpu is None:
        pytest.skip("no vendor_id / cpu family in /proc/cpuinfo to compare with")
    zen4 = cpu == ("AuthenticAMD", 0x19)
    assert _ext._min_gemm.default_tile_broadcasts() == ("operands" if zen4 else "registers")


@pytest.mark.parametrize("backend", ["numpy", pytest.param("cython", marks=needs_fused_gemm)])
def test_fused_gemm_propagates_nan_and_fills_out(backend):
    x, w = operands(np.random.default_rng(4), (2, 3, 7, 7), (20, 3, 3), np.float32)
    x[0, 1, 3, 3] = np.nan
    expected = reference.im2col(x, (3, 3), (1, 1), (1, 1)) @ w.T
    out = np.zeros_like(expected)
    with _ext.use_backend(backend):
        assert _ext.im2col_gemm(x, w, 3, 1, 1, out=out) is out
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    assert np.isnan(out).any() and not np.isnan(out).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_fused_writes_into_out_and_handles_empty_batches(backend):
    x, w_hat = operands(np.random.default_rng(2), (2, 2, 5, 5), (4, 3, 3), np.float32)
    out = np.full((50, 4), np.nan, np.float32)
    with _ext.use_backend(backend):
        assert _ext.im2col_min_gemm(x, w_hat, 3, 1, 1, out=out) is out
        empty = _ext.im2col_min_gemm(x[:0], w_hat, 3, 1, 1)
        no_filters = _ext.im2col_min_gemm(x, w_hat[:0], 3, 1, 1, cols=np.empty((50, 18), np.float32))
    np.testing.assert_allclose(out, reference.min_gemm(reference.im2col(x, (3, 3), (1, 1), (1, 1)), w_hat),
                               rtol=1e-5, atol=1e-5)
    assert empty.shape == (0, 4) and no_filters.shape == (50, 0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_im2col_of_kernels_wider_than_one_vector(backend, dtype):
    # runs of KW values longer than a vector take the scalar copy, shorter a masked one
    x = np.random.default_rng(3).standard_normal((2, 2, 4, 40)).astype(dtype)
    for kw in (1, 7, 8, 9, 16, 17):
        with _ext.use_backend(backend):
            got = _ext.im2col(x, (2, kw), (1, 1), (1, 2))
        np.testing.assert_array_equal(got, reference.im2col(x, (2, kw), (1, 1), (1, 2)))


X32 = np.zeros((1, 2, 5, 5), np.float32)
W32 = np.zeros((3, 18), np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("call,exc,match", [
    (lambda: _ext.im2col_min_gemm(X32[0], W32, 3), ValueError, "x must be 4-D"),
    (lambda: _ext.im2col_min_gemm(X32, W32.astype(np.float64), 3), TypeError, "same dtype"),
    (lambda: _ext.im2col_min_gemm(X32, W32[:, :9].copy(), 3), ValueError, "K mismatch"),
    (lambda: _ext.im2col_min_gemm(X32[..., ::2], W32, 3), ValueError, "not C-contiguous"),
    (lambda: _ext.im2col_min_gemm(X32, W32, 6), ValueError, "larger than the padded input"),
    (lambda: _ext.im2col_min_gemm(X32, W32, 3, cols=np.zeros((9, 9), np.float32)), ValueError,
     "cols has shape"),
    (lambda: _ext.im2col_min_gemm(X32, W32, 3, out=np.zeros((9, 3), np.float64)), TypeError,
     "out has dtype"),
    (lambda: _ext.im2col_min_gemm(X32, W32, 3, scale=np.ones(3, np.float32)), ValueError,
     "scale= needs nchw=True"),
    (lambda: _ext.im2col_min_gemm(X32, W32, 3, nchw=True, scale=np.ones(2, np.float32)),
     ValueError, r"scale has shape \(2,\), expected \(3,\): one value per filter of w_hat "
     r"\(shape \(3, 18\)\)"),
    (lambda: _ext.im2col_min_gemm(X32, W32, 3, nchw=True, scale=np.ones(3)), TypeError,
     "scale is float64 but x is float32"),
    (lambda: _ext.im2col_min_gemm(X32.tolist(), W32, 3, bias=np.ones(3, np.float32)), TypeError,
     "x must be a numpy ndarray, got list"),
    (lambda: _ext.im2col_min_gemm(X32, W32, 3, padding=10**6), ValueError,
     r"x of shape \(1, 2, 5, 5\) with kernel \(3, 3\), stride \(1, 1\), padding "
     r"\(1000000, 1000000\) needs a padded input of shape \(2, 2, 2000005, 2000005\)"),
])
def test_bad_arguments_are_caught_before_the_kernel(backend, call, exc, match):
    with _ext.use_backend(backend), pytest.raises(exc, match=f"^im2col_min_gemm: .*{match}"):
        call()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("call,exc,match", [
    (lambda: _ext.im2col_gemm(X32, W32.astype(np.float64), 3), TypeError, "x is float32 but w is"),
    (lambda: _ext.im2col_gemm(X32, W32[:, :9].copy(), 3), ValueError, "K mismatch"),
    (lambda: _ext.im2col_gemm(X32, W32[:, ::2], 3), ValueError, "not C-contiguous"),
    (lambda: _ext.im2col_gemm(X32, W32, 3, stride=0), ValueError, "stride"),
    (lambda: _ext.im2col_gemm(X32, W32, 3, bias=np.zeros(4, np.float32)), ValueError,
     r"bias has shape \(4,\), expected \(3,\)"),
    (lambda: _ext.im2col_gemm(X32, W32, 3, bias=np.zeros(3)), TypeError,
     "bias is float64 but x is float32"),
    (lambda: _ext.im2col_gemm(X32, W32, 3, nchw=True, out=np.zeros((9, 3), np.float32)),
     ValueError, r"out has shape \(9, 3\), expected \(1, 3, 3, 3\)"),
])
def test_bad_arguments_of_the_exact_fused_kernel(backend, call, exc, match):
    with _ext.use_backend(backend), pytest.raises(exc, match=f"^im2col_gemm: .*{match}"):
        call()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", ["im2col_min_gemm", "im2col_gemm"])
@pytest.mark.parametrize("nchw", [False, True])
def test_a_bias_or_scale_may_not_overlap_what_the_kernel_writes(backend, kernel, nchw):
    # the kernel writes out (and cols) while it still reads the bias and scale: a bias
    # inside out would be read after the kernel overwrote it
    out = np.zeros((1, 3, 3, 3) if nchw else (9, 3), np.float32)
    cols = np.zeros((9, 18), np.float32)
    cases = [("bias", dict(out=out, bias=out.reshape(-1)[:3])),
             ("bias", dict(cols=cols, bias=cols[0, :3]))]
    if kernel == "im2col_min_gemm" and nchw:
        cases.append(("scale", dict(out=out, scale=out.reshape(-1)[3:6])))
    for name, kwargs in cases:
        written = "out" if "out" in kwargs else "cols"
        with _ext.use_backend(backend), \
                pytest.raises(ValueError, match=f"^{kernel}: {name} overlaps {written}"):
            getattr(_ext, kernel)(X32, W32, 3, nchw=nchw, **kwargs)


def test_out_may_not_overlap_cols():
    buf = np.zeros(9 * 18 + 9 * 3, np.float32)
    cols, out = buf[: 9 * 18].reshape(9, 18), buf[9 * 18 - 3:9 * 18 + 24].reshape(9, 3)
    with pytest.raises(ValueError, match="^im2col_min_gemm: out overlaps cols"):
        _ext.im2col_min_gemm(X32, W32, 3, cols=cols, out=out)


@needs_cython
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", [(0, 0), (2, 2), (1, 0), (0, 3)])
@pytest.mark.parametrize("signs", [False, True])
def test_the_padded_input_is_numpys_pad_and_sign(dtype, padding, signs):
    # what the implicit kernels read: x zero-padded (np.pad), and for the min kernel
    # the signs of the padded images after them (as np.sign, NaN for NaN)
    from tinymin._ext import _fused
    x = np.random.default_rng(3).standard_normal((3, 2, 5, 4)).astype(dtype)
    x[0, 0, 0, :3] = [np.nan, -0.0, 0.0]
    xpad, koff = _fused._padded_input(x, (3, 3), padding, signs=signs)
    (ph, pw) = padding
    expected = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    if signs:
        expected = np.concatenate([expected, np.sign(expected)])
    assert xpad.dtype == dtype and xpad.flags.c_contiguous
    np.testing.assert_array_equal(xpad, expected)
    assert np.array_equal(np.signbit(xpad[:3]), np.signbit(expected[:3]))  # x's -0.0 kept
    hp, wp = 5 + 2 * ph, 4 + 2 * pw
    assert koff[1] == 1 and koff[3] == wp and koff[9] == hp * wp


@needs_cython
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 17, 65536 + 3])
def test_the_signs_beside_the_input_are_numpys_sign(dtype, n):
    # where the VRANGE min kernel reads sgn(x) (the C loop tinymin_signs_f/_d): 1, -1,
    # 0 (either zero) and NaN as np.sign gives them, for infinities and subnormals too
    from tinymin._ext import _fused
    x = np.random.default_rng(n).standard_normal(n).astype(dtype)
    specials = np.array([np.nan, 0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-45], dtype)
    x[:min(n, specials.size)] = specials[:n]
    xpad, _ = _fused._padded_input(x.reshape(1, 1, 1, n), (1, 1), (0, 0), signs=True)
    out = xpad[1].reshape(-1)
    np.testing.assert_array_equal(out, np.sign(x))
