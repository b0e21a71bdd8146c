"""The convolution's weight gradient from the NCHW output gradient
(tinymin._ext.conv_weight_grad): Cython kernel, numpy twin, checks."""

from __future__ import annotations

import numpy as np
import pytest
from backends import BACKENDS

from tinymin import _ext

DTYPES = [np.float32, np.float64]

# (N, C, OH, OW, K): LeNet's two layers, ragged filters (past a tile of 6) and columns
# (past a vector and a tile of 4 vectors), one image, more images than one group of 8
SHAPES = [(5, 32, 28, 28, 25), (3, 64, 14, 14, 800), (2, 7, 3, 5, 70), (1, 1, 1, 1, 1),
          (9, 13, 4, 4, 129), (17, 6, 2, 3, 64)]


def definition(cols, grad):
    """dw[c, k] = sum over images n and positions q of grad[n, c, q] cols[n Q + q, k]."""
    n, c = grad.shape[:2]
    g = grad.reshape(n, c, -1).astype(np.float64)
    q = g.shape[2]
    c64 = cols.astype(np.float64).reshape(n, q, -1)
    return np.einsum("ncq,nqk->ck", g, c64)


def operands(rng, shape, dtype):
    n, c, oh, ow, k = shape
    return (rng.standard_normal((n * oh * ow, k)).astype(dtype),
            rng.standard_normal((n, c, oh, ow)).astype(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_equals_the_definition(backend, dtype, shape):
    cols, grad = operands(np.random.default_rng(sum(shape)), shape, dtype)
    with _ext.use_backend(backend):
        got = _ext.conv_weight_grad(cols, grad)
    eps = np.finfo(dtype).eps
    rows = shape[0] * shape[2] * shape[3]
    np.testing.assert_allclose(got, definition(cols, grad), rtol=50 * eps,
                               atol=50 * eps * rows)
    assert got.dtype == dtype and got.shape == (shape[1], shape[4])


@pytest.mark.parametrize("backend", BACKENDS)
def test_writes_into_out_and_propagates_nan(backend):
    cols, grad = operands(np.random.default_rng(1), (2, 3, 2, 2, 5), np.float64)
    grad[1, 2, 0, 1] = np.nan
    out = np.zeros((3, 5))
    with _ext.use_backend(backend):
        assert _ext.conv_weight_grad(cols, grad, out=out) is out
    assert np.isnan(out[2]).all() and not np.isnan(out[:2]).any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batches_give_zeros(backend):
    with _ext.use_backend(backend):
        got = _ext.conv_weight_grad(np.zeros((0, 4), np.float32), np.zeros((0, 3, 2, 2), np.float32))
    np.testing.assert_array_equal(got, np.zeros((3, 4), np.float32))


C32 = np.zeros((8, 5), np.float32)
G32 = np.zeros((2, 3, 2, 2), np.float32)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: _ext.conv_weight_grad(C32, G32.astype(np.float64)), TypeError, "same dtype"),
    (lambda: _ext.conv_weight_grad(C32[:7], G32), ValueError, "8 output positions"),
    (lambda: _ext.conv_weight_grad(C32, G32[0]), ValueError, "grad must be 4-D"),
    (lambda: _ext.conv_weight_grad(C32[:, ::2], G32), ValueError, "not C-contiguous"),
    (lambda: _ext.conv_weight_grad(C32, G32, out=np.zeros((5, 3), np.float32)), ValueError,
     "out has shape"),
])
def test_bad_arguments_are_caught_before_the_kernel(call, exc, match):
    with pytest.raises(exc, match=f"^conv_weight_grad: .*{match}"):
        call()


# (x shape, (C_out, KH, KW), stride, padding): LeNet's conv2, strides, no padding,
# ragged filters (past a vector and a tile of 4 vectors) and patches (past a tile of 6)
OF_INPUT = [((3, 32, 14, 14), (64, 5, 5), (1, 1), (2, 2)), ((2, 3, 9, 8), (20, 3, 2), (2, 1), (1, 0)),
            ((1, 2, 7, 7), (70, 3, 3), (1, 1), (0, 0)), ((9, 1, 5, 5), (3, 1, 1), (1, 2), (0, 1))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", OF_INPUT)
def test_of_input_equals_the_columns_version_bit_for_bit(backend, dtype, geometry):
    # the kernel reads x where im2col would have copied from, summing in the same
    # order: the very same bits as conv_weight_grad on the column matrix
    x_shape, (c_out, kh, kw), stride, padding = geometry
    rng = np.random.default_rng(sum(x_shape))
    x = rng.standard_normal(x_shape).astype(dtype)
    oh, ow = _ext.conv_output_shape(x_shape[2], x_shape[3], (kh, kw), stride, padding)
    grad = rng.standard_normal((x_shape[0], c_out, oh, ow)).astype(dtype)
    with _ext.use_backend(backend):
        cols = _ext.im2col(x, (kh, kw), stride, padding)
        got = _ext.conv_weight_grad_of_input(x, grad, (kh, kw), stride, padding)
        expected = _ext.conv_weight_grad(cols, grad)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(got, definition(cols, grad), rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-3 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: _ext.conv_weight_grad_of_input(np.zeros((2, 3, 5, 5), np.float32),
                                            np.zeros((2, 4, 3, 3)), 3), TypeError, "same dtype"),
    (lambda: _ext.conv_weight_grad_of_input(np.zeros((2, 3, 5, 5)), np.zeros((2, 4, 4, 3)), 3),
     ValueError, r"gives \(N, C, OH, OW\) = \(2, C, 3, 3\)"),
    (lambda: _ext.conv_weight_grad_of_input(np.zeros((2, 3, 5, 5)), np.zeros((2, 4, 3, 3)), 3,
                                            out=np.zeros((4, 26))), ValueError, "out has shape"),
    (lambda: _ext.conv_weight_grad_of_input(np.zeros((2, 3, 5, 5)), np.zeros((2, 4, 3, 3)), 3,
                                            stride=0), ValueError, "stride"),
])
def test_bad_arguments_of_the_input_version(call, exc, match):
    with pytest.raises(exc, match=f"^conv_weight_grad_of_input: .*{match}"):
        call()
