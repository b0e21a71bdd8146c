"""The first six exercises: planted wrong answers fail with the case that names their
mistake. (Solutions, templates, the sandbox and the command line: tests/exercises/.)"""

from __future__ import annotations

import numpy as np
import pytest

from tinymin import _ext, exercises
from tinymin.autograd import sum_to as tinymin_sum_to
from tinymin.minconv import functional as minconv

pytest.importorskip("hypothesis")


def first_failure(name, functions):
    report = exercises.check(name, functions=functions)
    assert not report.passed, f"{name}: a wrong answer passed every case\n{report.format()}"
    return report.failures[0]


# --------------------------------------------------------------------- sum_to
def sum_to_without_keepdims(grad, shape):
    out = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    return out.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1 and out.shape[i] != 1))


def sum_to_without_leading_axes(grad, shape):
    extra = grad.ndim - len(shape)
    stretched = tuple(extra + i for i, n in enumerate(shape) if n == 1)
    return grad.sum(axis=stretched, keepdims=True)


def test_sum_to_wrong_answers():
    failure = first_failure("sum_to", {"sum_to": sum_to_without_keepdims})
    assert failure.case == "stretched axes"
    assert failure.inputs["shape"] == (2, 1, 4)
    assert failure.expected.shape == (2, 1, 4) and np.shape(failure.obtained) == (2, 4)
    assert failure.problem == "shape (2, 4), expected (2, 1, 4)"
    assert first_failure("sum_to", {"sum_to": sum_to_without_leading_axes}).case == "leading axes"


# ------------------------------------------------------------ matmul_backward
def matmul_backward_without_sum_to(a, b, grad):
    return grad @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ grad


def matmul_backward_with_dot_t(a, b, grad):
    return tuple(tinymin_sum_to(g, s.shape) for g, s in ((grad @ b.T, a), (a.T @ grad, b)))


def test_matmul_backward_wrong_answers():
    failure = first_failure("matmul_backward", {"matmul_backward": matmul_backward_without_sum_to})
    assert failure.case == "b broadcast over the batch"
    assert failure.problem == "grad_b: shape (5, 4, 2), expected (4, 2)"
    failure = first_failure("matmul_backward", {"matmul_backward": matmul_backward_with_dot_t})
    assert failure.case == "batched, same batch"
    assert failure.kind == "error"
    assert failure.problem.startswith("matmul_backward_with_dot_t raised ValueError")


# ----------------------------------------------------------------------- adam
def adam_without_bias_correction(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    return param - lr * m / (np.sqrt(v) + eps), m, v


def adam_without_moving_average(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = (1 - beta1) * grad  # forgets beta1 * m
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def test_adam_wrong_answers():
    failure = first_failure("adam", {"adam_step": adam_without_bias_correction})
    assert failure.case == "first step"
    assert failure.problem.startswith("param after step 1: wrong values")
    failure = first_failure("adam", {"adam_step": adam_without_moving_average})
    assert failure.case == "ten steps (bias correction still matters)"
    assert failure.problem.startswith("param after step 2: wrong values")


# --------------------------------------------------------------------- im2col
def im2col_without_padding(x, kernel_size, stride=1, padding=0):
    return _ext.im2col(np.ascontiguousarray(x), kernel_size, stride, 0)


def im2col_channel_last(x, kernel_size, stride=1, padding=0):
    n, c = x.shape[:2]
    cols = _ext.im2col(np.ascontiguousarray(x), kernel_size, stride, padding)
    k = kernel_size
    return cols.reshape(-1, c, k, k).transpose(0, 2, 3, 1).reshape(cols.shape)


def im2col_ignoring_stride(x, kernel_size, stride=1, padding=0):
    return _ext.im2col(np.ascontiguousarray(x), kernel_size, 1, padding)


def test_im2col_wrong_answers():
    failure = first_failure("im2col", {"im2col": im2col_without_padding})
    assert failure.case == "padding 1" and failure.inputs["padding"] == 1
    assert first_failure("im2col", {"im2col": im2col_channel_last}).case == "several images and channels"
    assert first_failure("im2col", {"im2col": im2col_ignoring_stride}).case == "stride 2"


# ------------------------------------------------------------------- min_gemm
def min_gemm_without_sign(cols, w_hat):
    return np.minimum(np.abs(cols)[:, None, :], np.abs(w_hat)[None, :, :]).sum(axis=2)


def min_gemm_transposed(cols, w_hat):
    a, b = cols[None, :, :], w_hat[:, None, :]
    return (np.sign(a) * np.sign(b) * np.minimum(np.abs(a), np.abs(b))).sum(axis=2)


def test_min_gemm_wrong_answers():
    failure = first_failure("min_gemm", {"min_gemm": min_gemm_without_sign})
    assert failure.case == "negative operands (the sign)"
    assert failure.expected.tolist() == [[-3.0]] and failure.obtained.tolist() == [[5.0]]
    assert first_failure("min_gemm", {"min_gemm": min_gemm_transposed}).case == "several rows and filters"


# ----------------------------------------------------------- clip_and_rescale
def clip_answers(**wrong):
    answers = {"step3_clip": minconv.step3_clip, "step4_rescale": minconv.step4_rescale,
               "step7_through_clip": minconv.step7_through_clip}
    answers.update(wrong)
    return answers


def test_clip_and_rescale_wrong_answers():
    def clip_in_raw_units(a, mu, clip_value):
        return np.clip(a, -clip_value, clip_value), np.abs(a) <= clip_value * mu

    def clip_strict_mask(a, mu, clip_value):
        return np.clip(a, -clip_value * mu, clip_value * mu), np.abs(a) < clip_value * mu

    failure = first_failure("clip_and_rescale", clip_answers(step3_clip=clip_in_raw_units))
    assert failure.case == "step 3: clip x" and failure.problem.startswith("a_c: wrong values")
    failure = first_failure("clip_and_rescale", clip_answers(step3_clip=clip_strict_mask))
    assert failure.case == "step 3: values exactly on the bound"
    assert failure.problem == "inside: wrong mask"
    inverted = clip_answers(step4_rescale=lambda w_c, mu_x, mu_w: w_c * mu_w / mu_x)
    failure = first_failure("clip_and_rescale", inverted)
    assert failure.case == "step 4: rescale"
    failure = first_failure("clip_and_rescale", clip_answers(step7_through_clip=lambda grad, inside: grad))
    assert failure.case == "step 7: through the clip"
