"""The leaky ReLU's backward (tinymin._ext.leaky_relu_backward): Cython kernel, numpy
twin, checks."""

from __future__ import annotations

import numpy as np
import pytest
from backends import BACKENDS

from tinymin import _ext

DTYPES = [np.float32, np.float64]


def definition(y, grad, alpha):
    """One entry at a time: grad where y > 0, else alpha * grad (0 * inf is NaN)."""
    with np.errstate(invalid="ignore"):
        return np.array([g if v > 0 else alpha * g for v, g in zip(y.ravel(), grad.ravel())],
                        dtype=grad.dtype).reshape(grad.shape)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (7,), (3, 5, 2), (32768 + 5,), (2, 32768)])
@pytest.mark.parametrize("alpha", [0.0, 0.01, 1.0])
def test_equals_the_definition(backend, dtype, shape, alpha):
    # sizes around the kernel's chunk of 32,768 entries, and special values
    rng = np.random.default_rng(sum(shape))
    y = rng.standard_normal(shape).astype(dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype)
    y.ravel()[: min(y.size, 5)] = specials[: min(y.size, 5)]
    grad.ravel()[5:10] = specials[: max(0, min(y.size - 5, 5))]
    with _ext.use_backend(backend):
        got = _ext.leaky_relu_backward(y, grad, alpha)
    np.testing.assert_array_equal(got, definition(y, grad, dtype(alpha)))
    assert got.dtype == dtype and got.shape == y.shape


@pytest.mark.parametrize("backend", BACKENDS)
def test_writes_into_out(backend):
    y, grad = np.array([1.0, -1.0]), np.array([2.0, 2.0])
    out = np.empty(2)
    with _ext.use_backend(backend):
        assert _ext.leaky_relu_backward(y, grad, 0.5, out=out) is out
    np.testing.assert_array_equal(out, [2.0, 1.0])


Y = np.zeros((2, 3), np.float32)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: _ext.leaky_relu_backward(Y, Y.astype(np.float64), 0.1), ValueError, "dtype float64"),
    (lambda: _ext.leaky_relu_backward(Y, Y[:, :2].copy(), 0.1), ValueError, r"shape \(2, 2\)"),
    (lambda: _ext.leaky_relu_backward(Y, Y.T, 0.1), ValueError, "grad must be 2-D|not C-contiguous"),
    (lambda: _ext.leaky_relu_backward(Y, Y, 1.5), ValueError, r"in \[0, 1\]"),
    (lambda: _ext.leaky_relu_backward(Y, Y, 0.1, out=np.zeros(6, np.float32)), ValueError,
     "out has shape"),
    (lambda: _ext.leaky_relu_backward(Y.astype(int), Y, 0.1), TypeError, "float32 or float64"),
])
def test_bad_arguments_are_caught_before_the_kernel(call, exc, match):
    with pytest.raises(exc, match=f"^leaky_relu_backward: .*({match})"):
        call()
