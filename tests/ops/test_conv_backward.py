"""The exact convolution's input gradient computed two ways: col2im of the gradient's
columns (:math:`\\mathrm{col2im}(G W)`, every backend) and, for stride 1 where the fused
kernels run, one convolution of the output gradient with the flipped, transposed
filters (``tinymin.ops.conv.input_grad_by_convolution``). They are the same sums in
another order; both are checked against PyTorch-free float64 references, and
:func:`conv_backward` must pick the convolution exactly where it applies."""

from __future__ import annotations

import numpy as np
import pytest

import tinymin as tm
import tinymin.nn.functional as F
from tinymin import _ext, overrides
from tinymin.ops import conv
from tinymin.ops.conv import (
    conv_backward,
    conv_geometry,
    input_grad_by_convolution,
    input_grad_by_convolution_applies,
    nchw_to_rows,
)

needs_fused = pytest.mark.skipif(
    not _ext.HAVE_CYTHON or not _ext._min_gemm.HAS_VRANGE,
    reason="the input gradient by convolution runs on the fused kernels of an AVX-512DQ "
           "Cython build; elsewhere col2im runs (checked by every other conv test)")


def col2im_input_grad(grad, weight, geom, x_shape):
    """The textbook route, in float64: col2im(G W)."""
    w_rows = weight.reshape(geom.out_channels, -1).astype(np.float64)
    dcols = nchw_to_rows(grad.astype(np.float64)) @ w_rows
    with _ext.use_backend("numpy"):
        return _ext.col2im(dcols, x_shape, geom.kernel, geom.stride, geom.padding)


# (N, C_in, H, W), (C_out, kh, kw), padding: LeNet's conv2, a 3x3 layer, rectangles,
# a 1x1 kernel, padding at its largest (k - 1) and none, more filters than channels
GEOMETRIES = [
    ((2, 32, 14, 14), (64, 5, 5), (2, 2)),
    ((2, 16, 8, 8), (24, 3, 3), (1, 1)),
    ((3, 20, 9, 7), (6, 3, 5), (1, 2)),
    ((2, 16, 6, 6), (4, 1, 1), (0, 0)),
    ((2, 17, 8, 8), (5, 5, 5), (4, 4)),
    ((1, 18, 7, 9), (33, 3, 2), (0, 1)),
]


@needs_fused
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, padding", GEOMETRIES)
def test_the_convolution_of_the_gradient_is_col2im_of_its_columns(x_shape, w_shape, padding,
                                                                   dtype):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((w_shape[0], x_shape[1], *w_shape[1:])).astype(dtype)
    geom = conv_geometry("conv2d", x_shape, weight.shape, (1, 1), padding)
    grad = rng.standard_normal((x_shape[0], w_shape[0], geom.out_h, geom.out_w)).astype(dtype)
    with _ext.use_backend("cython"):
        assert input_grad_by_convolution_applies(grad, weight, geom)
        got = input_grad_by_convolution(grad, weight, geom)
    assert got.shape == x_shape and got.dtype == dtype
    expected = col2im_input_grad(grad, weight, geom, x_shape)
    tol = 2e-5 * np.sqrt(weight[0].size) if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


@needs_fused
def test_it_writes_into_out_and_reads_a_non_contiguous_gradient():
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((8, 16, 3, 3))
    geom = conv_geometry("conv2d", (2, 16, 5, 5), weight.shape, (1, 1), (1, 1))
    grad = np.asfortranarray(rng.standard_normal((2, 8, 5, 5)))  # not C-contiguous
    out = np.full((2, 16, 5, 5), np.nan)
    with _ext.use_backend("cython"):
        assert input_grad_by_convolution(grad, weight, geom, out=out) is out
    np.testing.assert_allclose(out, col2im_input_grad(grad, weight, geom, out.shape), rtol=1e-12,
                               atol=1e-12)


def geometry_case(stride=(1, 1), padding=(1, 1), in_channels=16, kernel=(3, 3)):
    weight = np.zeros((4, in_channels, *kernel), np.float32)
    geom = conv_geometry("conv2d", (1, in_channels, 8, 8), weight.shape, stride, padding)
    return np.zeros((1, 4, geom.out_h, geom.out_w), np.float32), weight, geom


@needs_fused
@pytest.mark.parametrize("case, applies", [
    (geometry_case(), True),
    (geometry_case(stride=(2, 2)), False),  # would need the gradient dilated
    (geometry_case(stride=(1, 2)), False),
    (geometry_case(padding=(3, 1)), False),  # padding > k - 1: would need it cropped
    (geometry_case(padding=(2, 2)), True),  # k - 1 exactly
    (geometry_case(in_channels=conv.TRANSPOSED_MIN_CHANNELS - 1), False),  # too few
    (geometry_case(in_channels=conv.TRANSPOSED_MIN_CHANNELS), True),
])
def test_it_applies_for_stride_1_padding_up_to_k_minus_1_and_enough_channels(case, applies):
    grad, weight, geom = case
    with _ext.use_backend("cython"):
        assert input_grad_by_convolution_applies(grad, weight, geom) is applies
        assert not input_grad_by_convolution_applies(grad.astype(np.float64), weight, geom)
    with _ext.use_backend("numpy"):  # the twins: col2im, which a learner steps into
        assert not input_grad_by_convolution_applies(grad, weight, geom)


@needs_fused
def test_a_learners_im2col_does_not_change_the_route():
    # neither route unfolds the input: the milestone's run with the learner's pieces
    # and tinymin's own run must compute the same bits
    grad, weight, geom = geometry_case()
    undo = overrides.install({"im2col": lambda *args, **kw: None})
    try:
        with _ext.use_backend("cython"):
            assert input_grad_by_convolution_applies(grad, weight, geom)
    finally:
        undo()


@needs_fused
def test_conv_backward_takes_it_and_its_input_gradient_passes_gradcheck(monkeypatch):
    calls = []
    monkeypatch.setattr(conv, "input_grad_by_convolution",
                        lambda *args, **kw: calls.append(1) or input_grad_by_convolution(*args, **kw))
    rng = np.random.default_rng(2)
    x = tm.tensor(rng.standard_normal((2, 16, 5, 4)), requires_grad=True)
    w = tm.tensor(rng.standard_normal((3, 16, 3, 2)), requires_grad=True)
    with _ext.use_backend("cython"):
        assert tm.gradcheck(lambda a, b: F.conv2d(a, b, padding=(1, 1)), [x, w])
    assert calls  # the gradient checked was the convolution's


@pytest.mark.parametrize("backend", ["numpy", pytest.param("cython", marks=needs_fused)])
def test_both_routes_give_conv_backward_the_same_gradients(backend, monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 16, 9, 9)).astype(np.float32)
    w = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    geom = conv_geometry("conv2d", x.shape, w.shape, (1, 1), (1, 1))
    grad = rng.standard_normal((3, 8, 9, 9)).astype(np.float32)
    with _ext.use_backend(backend):
        dx, dw = conv_backward(grad, x, w, geom, None, need_x=True, need_w=True)
        monkeypatch.setattr(conv, "TRANSPOSED_MIN_CHANNELS", 10**9)  # col2im only
        dx_col2im, dw_col2im = conv_backward(grad, x, w, geom, None, need_x=True, need_w=True)
    np.testing.assert_allclose(dx, dx_col2im, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(dw, dw_col2im)  # the weight gradient did not change route
