"""The cases of ``im2col``, against ``tinymin._ext.im2col`` and ``conv2d``."""

from __future__ import annotations

from typing import Callable

import numpy as np

import tinymin as tm
from tinymin import _ext
from tinymin.exercises.checker import Case, call, expect_close, fail
from tinymin.exercises.common import fixed_then_random, floats, rng, strategies
from tinymin.nn import functional as F

HINTS = {
    "1x1 kernel": "a 1x1 kernel: each row is one pixel",
    "3x3, no padding": "a 3x3 kernel that fits OH x OW times",
    "padding 1": "padding adds zeros on every side of H and W before the patches are taken",
    "stride 2": "the patches start every `stride` pixels",
    "several images and channels": "rows image by image; inside a row, channel first",
    "random geometry (hypothesis)": "any kernel, stride and padding",
    "a GEMM with it is conv2d": "cols @ weight.reshape(C_out, -1).T must be tinymin's conv2d",
}

_FIXED = {
    "1x1 kernel": (rng(17).standard_normal((1, 1, 3, 3)), 1, 1, 0),
    "3x3, no padding": (rng(18).standard_normal((1, 1, 4, 5)), 3, 1, 0),
    "padding 1": (rng(19).standard_normal((1, 1, 4, 4)), 3, 1, 1),
    "stride 2": (rng(20).standard_normal((1, 1, 5, 5)), 3, 2, 0),
    "several images and channels": (rng(21).standard_normal((2, 3, 4, 4)), 2, 1, 0),
}


def _tinymin_im2col(x, kernel_size, stride=1, padding=0):
    return _ext.im2col(np.ascontiguousarray(x), kernel_size, stride, padding)


def _test(case: str):
    def test(functions, drawn=None):
        x, k, stride, padding = drawn if drawn is not None else _FIXED[case]
        inputs = {"x": x, "kernel_size": k, "stride": stride, "padding": padding}
        obtained = call(case, HINTS[case], inputs, functions["im2col"], x.copy(), k, stride, padding)
        expect_close(case, HINTS[case], inputs, _tinymin_im2col(x, k, stride, padding), obtained)
    return test


def _geometry(st, hnp):
    @st.composite
    def draw(data):
        k, stride, padding = data(st.integers(1, 3)), data(st.integers(1, 2)), data(st.integers(0, 1))
        h, w = data(st.integers(max(1, k - 2 * padding), 5)), data(st.integers(max(1, k - 2 * padding), 5))
        n, c = data(st.integers(1, 2)), data(st.integers(1, 3))
        x = data(hnp.arrays(np.float64, (n, c, h, w), elements=floats(st)))
        return x, k, stride, padding
    return draw()


def _is_conv(functions, drawn):
    """The point of im2col: one GEMM with the flattened filters is tinymin's conv2d."""
    case = "a GEMM with it is conv2d"
    hint = HINTS[case]
    x, k, stride, padding = drawn
    n, c, h, w = x.shape
    weight = rng(22).standard_normal((2, c, k, k))
    inputs = {"x": x, "kernel_size": k, "stride": stride, "padding": padding, "weight": weight}
    cols = call(case, hint, inputs, functions["im2col"], x.copy(), k, stride, padding)
    expected = F.conv2d(tm.tensor(x), tm.tensor(weight), stride=stride, padding=padding).data
    oh, ow = expected.shape[2:]
    if not isinstance(cols, np.ndarray) or cols.shape != (n * oh * ow, c * k * k):
        fail(case, inputs, f"cols of shape {(n * oh * ow, c * k * k)}", getattr(cols, "shape", cols),
             f"cols of shape {getattr(cols, 'shape', type(cols).__name__)}, "
             f"expected {(n * oh * ow, c * k * k)}",
             hint)
    obtained = (cols @ weight.reshape(2, -1).T).reshape(n, oh, ow, 2).transpose(0, 3, 1, 2)
    expect_close(case, hint, inputs, expected, obtained, rtol=1e-9, atol=1e-9,
                 what="conv2d through your cols")


def cases() -> list[Case]:
    """Fixed geometries, random ones, then a GEMM with the columns is conv2d."""
    st, hnp = strategies()
    found = fixed_then_random(_FIXED, _test, HINTS, "random geometry (hypothesis)", _geometry(st, hnp))
    found.append(Case("a GEMM with it is conv2d", _is_conv, HINTS["a GEMM with it is conv2d"],
                      strategy=_geometry(st, hnp), max_examples=20))
    return found


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {"im2col": _tinymin_im2col}
