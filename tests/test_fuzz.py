"""Random shapes, dtypes and argument values thrown at the public functional API and the
kernel wrappers, on both backends. Every call must either return a finite result of
the right shape or raise ValueError/TypeError whose message names the function: never
another exception, never a crash, never a silently wrong shape."""

from numbers import Integral

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import any_dtypes, sides, window_arguments

import tinymin as tm
import tinymin.nn.functional as F
from tinymin import _ext

# conftest.py's backend fixture (numpy, cython) holds for every example of a test, which is what we want
FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _pair(value, minimum):
    """The pair of ints ``value`` means, or None if it is not a valid one."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = (value, value)
    if (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, Integral) and not isinstance(v, bool) for v in value)
            and min(value) >= minimum):
        return tuple(int(v) for v in value)
    return None


def _out_side(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def _random(data, shape, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    return (rng.standard_normal(shape) * 2).astype(dtype)


def _call(name, fn, *args, **kwargs):
    """Run ``fn``; return its result, or None after an acceptable error."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError) as error:
        assert name in str(error), f"{type(error).__name__} without {name!r}: {error}"
        return None


def _assert_finite(result, shape):
    array = getattr(result, "data", result)
    assert array.shape == shape
    assert np.all(np.isfinite(array))


def _conv_case(data):
    n, c_in, c_out = (data.draw(st.integers(0, 3), label=k) for k in ("n", "c_in", "c_out"))
    h, w = data.draw(sides, label="h"), data.draw(sides, label="w")
    kh, kw = data.draw(st.integers(0, 4), label="kh"), data.draw(st.integers(0, 4), label="kw")
    x = tm.tensor(_random(data, (n, c_in, h, w), data.draw(any_dtypes, label="x dtype")))
    weight = tm.tensor(_random(data, (c_out, c_in, kh, kw), data.draw(any_dtypes, label="w dtype")))
    bias = data.draw(st.sampled_from([None, tm.tensor(_random(data, (c_out,), np.float32))]))
    stride = data.draw(window_arguments, label="stride")
    padding = data.draw(window_arguments, label="padding")
    return x, weight, bias, stride, padding


def _expected_conv_shape(x, weight, stride, padding):
    stride, padding = _pair(stride, 1), _pair(padding, 0)
    n, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    assert stride is not None and padding is not None, "accepted a bad stride or padding"
    return (n, c_out, _out_side(h, kh, stride[0], padding[0]), _out_side(w, kw, stride[1], padding[1]))


@FUZZ
@given(data=st.data())
def test_conv2d(backend, data):
    x, weight, bias, stride, padding = _conv_case(data)
    result = _call("conv2d", F.conv2d, x, weight, bias, stride=stride, padding=padding)
    if result is not None:
        _assert_finite(result, _expected_conv_shape(x, weight, stride, padding))


@FUZZ
@given(data=st.data())
def test_min_conv2d(backend, data):
    x, weight, bias, stride, padding = _conv_case(data)
    operator = data.draw(st.sampled_from(["min", "max", "adder", "mul"]), label="operator")
    clip_value = data.draw(st.sampled_from([None, 3.0, 0.0, -1.0]), label="clip_value")
    result = _call("min_conv2d", F.min_conv2d, x, weight, bias, stride=stride, padding=padding,
                   operator=operator, clip_value=clip_value)
    if result is not None:
        _assert_finite(result, _expected_conv_shape(x, weight, stride, padding))


@FUZZ
@given(data=st.data(), name=st.sampled_from(["max_pool2d", "avg_pool2d"]))
def test_pooling(backend, data, name):
    shape = tuple(data.draw(st.integers(0, 3), label="nc") for _ in range(2)) + (
        data.draw(sides, label="h"), data.draw(sides, label="w"))
    x = tm.tensor(_random(data, shape, data.draw(any_dtypes, label="dtype")))
    kernel = data.draw(window_arguments, label="kernel_size")
    stride = data.draw(st.one_of(st.none(), window_arguments), label="stride")
    padding = data.draw(window_arguments, label="padding")
    result = _call(name, getattr(F, name), x, kernel, stride=stride, padding=padding)
    if result is None:
        return
    kernel, padding = _pair(kernel, 1), _pair(padding, 0)
    stride = kernel if stride is None else _pair(stride, 1)
    assert None not in (kernel, stride, padding), "accepted a bad kernel, stride or padding"
    _assert_finite(result, shape[:2] + tuple(
        _out_side(shape[2 + i], kernel[i], stride[i], padding[i]) for i in range(2)))


@FUZZ
@given(data=st.data())
def test_linear(backend, data):
    n, k, m = (data.draw(st.integers(0, 4), label=a) for a in ("n", "k", "m"))
    x = tm.tensor(_random(data, (n, data.draw(st.sampled_from([k, k + 1]), label="x k")),
                          data.draw(any_dtypes, label="x dtype")))
    weight = tm.tensor(_random(data, (m, k), data.draw(any_dtypes, label="w dtype")))
    bias = data.draw(st.sampled_from([None, tm.tensor(_random(data, (m,), np.float32)),
                                      tm.tensor(_random(data, (m + 1,), np.float32))]))
    result = _call("linear", F.linear, x, weight, bias)
    if result is not None:
        _assert_finite(result, (n, m))


@FUZZ
@given(data=st.data(), name=st.sampled_from(["cross_entropy", "nll_loss", "mse_loss"]))
def test_losses(backend, data, name):
    n, c = data.draw(st.integers(0, 4), label="n"), data.draw(st.integers(0, 4), label="c")
    scores = tm.tensor(_random(data, data.draw(st.sampled_from([(n, c), (n,), (n, c, 2)])),
                               data.draw(any_dtypes, label="dtype")))
    if name == "nll_loss":
        if scores.size and scores.dtype.kind == "f":
            scores = scores.log_softmax(-1)
    target_shape = data.draw(st.sampled_from([(n,), (n + 1,), (n, c)]), label="target shape")
    target = data.draw(st.sampled_from([
        np.random.default_rng(0).integers(-1, max(c, 1) + 1, size=target_shape),
        np.zeros(target_shape, dtype=np.float32),
        np.zeros(target_shape, dtype=np.int64),
    ]), label="target")
    result = _call(name, getattr(F, name), scores, target)
    if result is not None:
        _assert_finite(result, ())


# -------------------------------------------------------------- kernel wrappers
@FUZZ
@given(data=st.data())
def test_im2col_and_col2im(backend, data):
    shape = tuple(data.draw(st.integers(0, 3)) for _ in range(2)) + (data.draw(sides), data.draw(sides))
    x = _random(data, shape, data.draw(any_dtypes, label="dtype"))
    if data.draw(st.booleans(), label="transposed"):
        x = x.transpose(0, 1, 3, 2)
    kernel, stride, padding = (data.draw(window_arguments, label=k) for k in ("kernel", "stride", "padding"))
    cols = _call("im2col", _ext.im2col, x, kernel, stride, padding)
    if cols is None:
        return
    kernel, stride, padding = _pair(kernel, 1), _pair(stride, 1), _pair(padding, 0)
    assert None not in (kernel, stride, padding), "im2col accepted a bad argument"
    oh, ow = (_out_side(x.shape[2 + i], kernel[i], stride[i], padding[i]) for i in range(2))
    _assert_finite(cols, (x.shape[0] * oh * ow, x.shape[1] * kernel[0] * kernel[1]))
    back = _call("col2im", _ext.col2im, cols, x.shape, kernel, stride, padding)
    _assert_finite(back, x.shape)


@FUZZ
@given(data=st.data(), name=st.sampled_from(["min_gemm", "max_gemm", "adder_gemm"]))
def test_selector_gemms(backend, data, name):
    m, k, n = (data.draw(st.integers(0, 5), label=a) for a in ("m", "k", "n"))
    cols = _random(data, (m, k), data.draw(any_dtypes, label="cols dtype"))
    w = _random(data, (n, data.draw(st.sampled_from([k, k + 1]), label="w k")),
                data.draw(any_dtypes, label="w dtype"))
    if data.draw(st.booleans(), label="3-D"):
        w = w[None]
    result = _call(name, getattr(_ext, name), cols, w)
    if result is not None:
        _assert_finite(result, (m, n))


@FUZZ
@given(h=st.integers(-2, 6), w=st.integers(-2, 6), kernel=window_arguments, stride=window_arguments,
       padding=window_arguments)
def test_conv_output_shape(h, w, kernel, stride, padding):
    result = _call("conv_output_shape", _ext.conv_output_shape, h, w, kernel, stride, padding)
    if result is not None:
        kernel, stride, padding = _pair(kernel, 1), _pair(stride, 1), _pair(padding, 0)
        assert None not in (kernel, stride, padding) and h >= 0 and w >= 0
        assert result == (_out_side(h, kernel[0], stride[0], padding[0]),
                          _out_side(w, kernel[1], stride[1], padding[1]))
