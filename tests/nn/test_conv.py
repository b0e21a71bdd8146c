"""Exact convolution, pooling and batch norm: against direct loops, gradient checks, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import conv_cases

import tinymin as tm
import tinymin.nn.functional as F
from tinymin import nn
from tinymin.ops.conv import get_im2col_limit, set_im2col_limit

# Every test here runs on both kernel backends (numpy twins and Cython; see conftest.py).
pytestmark = pytest.mark.usefixtures("backend")


def t64(array, requires_grad=True):
    return tm.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def direct_conv2d(x, w, b, stride, padding):
    """Sliding-window definition (Eq. 1), one output element at a time."""
    sh, sw = stride
    ph, pw = padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, h, wd = xp.shape
    c_out, _, kh, kw = w.shape
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    y = np.zeros((n, c_out, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return y + (0 if b is None else b.reshape(1, -1, 1, 1))


@given(conv_cases, st.integers(0, 1000))
def test_conv2d_matches_direct_loop(case, seed):
    n, ci, co, kh, kw, sh, sw, ph, pw, eh, ew = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, ci, kh + eh, kw + ew))
    w, b = rng.normal(size=(co, ci, kh, kw)), rng.normal(size=co)
    y = F.conv2d(t64(x), t64(w), t64(b), stride=(sh, sw), padding=(ph, pw))
    np.testing.assert_allclose(y.numpy(), direct_conv2d(x, w, b, (sh, sw), (ph, pw)), atol=1e-10)


@given(conv_cases, st.integers(0, 1000))
def test_conv2d_gradcheck(case, seed):
    n, ci, co, kh, kw, sh, sw, ph, pw, eh, ew = case
    rng = np.random.default_rng(seed)
    x = t64(rng.normal(size=(n, ci, kh + eh, kw + ew)))
    w, b = t64(rng.normal(size=(co, ci, kh, kw))), t64(rng.normal(size=co))
    assert tm.gradcheck(lambda a, c, d: F.conv2d(a, c, d, (sh, sw), (ph, pw)), [x, w, b])


def test_conv2d_float32_close_to_float64():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(2, 3, 8, 8)), rng.normal(size=(4, 3, 3, 3))
    y32 = F.conv2d(tm.tensor(x.astype(np.float32)), tm.tensor(w.astype(np.float32)), padding=1)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.numpy(), direct_conv2d(x, w, None, (1, 1), (1, 1)), atol=1e-4)


def test_chunked_conv_equals_unchunked():
    rng = np.random.default_rng(1)
    x, w = t64(rng.normal(size=(5, 2, 6, 6))), t64(rng.normal(size=(3, 2, 3, 3)))
    full = F.conv2d(x, w, padding=1)
    full.sum().backward()
    gx, gw = x.grad.numpy().copy(), w.grad.numpy().copy()
    x.grad = w.grad = None
    previous = set_im2col_limit(36 * 18 * 8)  # bytes of about one image's columns
    try:
        chunked = F.conv2d(x, w, padding=1)
        chunked.sum().backward()
    finally:
        set_im2col_limit(previous)
    assert get_im2col_limit() == previous
    np.testing.assert_allclose(chunked.numpy(), full.numpy())
    np.testing.assert_allclose(x.grad, gx)
    np.testing.assert_allclose(w.grad, gw)


def _saved_cols(y):
    return y.grad_fn.saved_tensors[-1]


@pytest.mark.parametrize("conv", ["conv2d", "min_conv2d"])
def test_column_matrices_are_reused_after_backward_and_only_then(conv):
    # the forward's column matrix goes back to a pool when backward frees the graph,
    # and the next forward of that shape writes into it instead of allocating again
    from tinymin.minconv import MinConv2d

    rng = np.random.default_rng(5)
    x = t64(rng.normal(size=(3, 2, 6, 6)))
    layer = nn.Conv2d(2, 4, 3, padding=1).double() if conv == "conv2d" else \
        MinConv2d(2, 4, 3, padding=1).double()
    first = layer(x)
    cols = _saved_cols(first)
    second = layer(x)  # the first graph is alive: a different matrix
    assert _saved_cols(second) is not cols
    first.sum().backward(retain_graph=True)
    third = layer(x)  # retained: still not free
    assert _saved_cols(third) is not cols
    expected = x.grad.numpy().copy()
    x.grad = None
    first.sum().backward()  # now released: the matrix is free again
    np.testing.assert_allclose(x.grad, expected)
    fourth = layer(x)
    assert _saved_cols(fourth) is cols
    np.testing.assert_array_equal(_saved_cols(fourth), _saved_cols(second))


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs, message",
    [
        ((1, 3, 8, 8), (4, 2, 3, 3), {}, r"conv2d.*\(1, 3, 8, 8\).*\(4, 2, 3, 3\)"),
        ((8, 8), (4, 3, 3, 3), {}, r"conv2d: input must be \(N, C, H, W\), or \(C, H, W\).*\(8, 8\)"),
        ((1, 3, 2, 2), (4, 3, 3, 3), {}, r"larger than the padded input"),
        # an unbatched image is checked as a batch of one, but named as it was given
        ((2, 8, 8), (4, 3, 3, 3), {}, r"conv2d: input shape \(2, 8, 8\) has 2 channels"),
        ((3, 2, 2), (4, 3, 3, 3), {}, r"padded input \(2, 2\) \(input shape \(3, 2, 2\),"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"stride": 0}, r"stride must be positive"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"padding": -1}, r"padding"),
    ],
)
def test_conv2d_errors(x_shape, w_shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        F.conv2d(tm.zeros(*x_shape), tm.zeros(*w_shape), **kwargs)


def direct_pool(x, k, s, p, reduce, fill):
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    oh, ow = (xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1
    out = np.empty(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(xp[:, :, i * s : i * s + k, j * s : j * s + k], axis=(2, 3))
    return out


@pytest.mark.parametrize("k, s, p", [(2, None, 0), (3, 1, 1), (3, 2, 0), (2, 1, 1)])
def test_pooling_values_and_gradients(k, s, p):
    rng = np.random.default_rng(k * 10 + p)
    # Distinct values, so the arg-max is unique and finite differences are valid.
    x = rng.permutation(2 * 3 * 7 * 7).reshape(2, 3, 7, 7) * 0.1
    stride = s or k
    np.testing.assert_allclose(F.max_pool2d(t64(x), k, s, p).numpy(),
                               direct_pool(x, k, stride, p, np.max, -np.inf))
    np.testing.assert_allclose(F.avg_pool2d(t64(x), k, s, p).numpy(),
                               direct_pool(x, k, stride, p, np.mean, 0.0))
    assert tm.gradcheck(lambda a: F.max_pool2d(a, k, s, p), [t64(x)])
    assert tm.gradcheck(lambda a: F.avg_pool2d(a, k, s, p), [t64(x)])


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1), (2, 3, 1)])
def test_pooling_options_gradcheck(k, s, p):
    # a 6 x 7 input leaves windows hanging over the edges with ceil_mode
    x = np.random.default_rng(k + s + p).permutation(2 * 2 * 6 * 7).reshape(2, 2, 6, 7) * 0.1
    assert tm.gradcheck(lambda a: F.max_pool2d(a, k, s, p, ceil_mode=True), [t64(x)])
    for options in ({"ceil_mode": True}, {"count_include_pad": False},
                    {"ceil_mode": True, "count_include_pad": False}, {"divisor_override": 5}):
        assert tm.gradcheck(lambda a, o=options: F.avg_pool2d(a, k, s, p, **o), [t64(x)]), options


def test_pool_errors():
    with pytest.raises(ValueError, match="max_pool2d: padding"):
        F.max_pool2d(tm.zeros(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(ValueError, match="avg_pool2d: input must be NCHW"):
        F.avg_pool2d(tm.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="max_pool2d: dilation 2 is not supported"):
        F.max_pool2d(tm.zeros(1, 1, 4, 4), 2, dilation=2)
    with pytest.raises(ValueError, match="return_indices=True are not supported"):
        nn.MaxPool2d(2, return_indices=True)
    with pytest.raises(ValueError, match="max_pool2d: return_indices=True is not supported"):
        F.max_pool2d(tm.zeros(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match="divisor_override must be a positive int, got 0"):
        F.avg_pool2d(tm.zeros(1, 1, 4, 4), 2, divisor_override=0)


def test_batch_norm_training_eval_and_gradients():
    rng = np.random.default_rng(0)
    x = t64(rng.normal(2.0, 3.0, size=(4, 3, 5, 5)))
    gamma, beta = t64(rng.normal(size=3)), t64(rng.normal(size=3))
    running_mean, running_var = np.zeros(3), np.ones(3)
    y = F.batch_norm(x, running_mean, running_var, gamma, beta, training=True, momentum=0.1)
    normed = (y.numpy() - beta.numpy().reshape(1, 3, 1, 1)) / gamma.numpy().reshape(1, 3, 1, 1)
    np.testing.assert_allclose(normed.mean(axis=(0, 2, 3)), 0, atol=1e-10)
    np.testing.assert_allclose(normed.var(axis=(0, 2, 3)), 1, rtol=1e-3)
    np.testing.assert_allclose(running_mean, 0.1 * x.numpy().mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(running_var, 0.9 + 0.1 * x.numpy().var(axis=(0, 2, 3), ddof=1))
    assert tm.gradcheck(lambda a, g, b: F.batch_norm(a, None, None, g, b, training=True),
                        [x, gamma, beta])
    y_eval = F.batch_norm(x, running_mean, running_var, training=False)
    expected = ((x.numpy() - running_mean.reshape(1, 3, 1, 1))
                / np.sqrt(running_var.reshape(1, 3, 1, 1) + 1e-5))
    np.testing.assert_allclose(y_eval.numpy(), expected)


def test_layers_and_repr():
    tm.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert conv(tm.randn(2, 3, 6, 6)).shape == (2, 8, 6, 6)
    assert "kernel_size=(3, 3)" in repr(conv)
    assert nn.MaxPool2d(2)(tm.randn(1, 1, 6, 6)).shape == (1, 1, 3, 3)
    assert nn.AvgPool2d(3, 1, 1)(tm.randn(1, 1, 6, 6)).shape == (1, 1, 6, 6)
    bn = nn.BatchNorm2d(8)
    bn(conv(tm.randn(2, 3, 6, 6)))
    assert bn.running_mean.any()
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    bn.eval()
    with pytest.raises(ValueError, match="BatchNorm2d"):
        bn(tm.randn(2, 4, 3, 3))


def test_an_unbatched_numpy_image_goes_through_the_functional_forms():
    x = np.random.default_rng(0).normal(size=(3, 6, 6)).astype(np.float32)
    w = np.random.default_rng(1).normal(size=(2, 3, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(F.conv2d(x, w, padding=1).numpy(),
                                  F.conv2d(x[None], w, padding=1).numpy()[0])
    np.testing.assert_array_equal(F.max_pool2d(x, 2).numpy(), F.max_pool2d(x[None], 2).numpy()[0])
    np.testing.assert_array_equal(F.avg_pool2d(x, 2).numpy(), F.avg_pool2d(x[None], 2).numpy()[0])
