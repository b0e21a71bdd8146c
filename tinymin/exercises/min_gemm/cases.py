"""The cases of ``min_gemm``, against ``tinymin._ext.min_gemm``."""

from __future__ import annotations

from typing import Callable

import numpy as np

from tinymin import _ext
from tinymin.exercises.checker import Case, call, expect_close
from tinymin.exercises.common import fixed_then_random, floats, rng, strategies

HINTS = {
    "one positive pair": "one row, one filter, K = 1: the smaller magnitude",
    "negative operands (the sign)": "negative entries: the sign of each term is the product's sign",
    "several rows and filters": "out[p, c] pairs row p of cols with row c of w_hat",
    "zeros": "a zero in either operand contributes nothing",
    "random operands (hypothesis)": "any shapes and values",
}

_FIXED = {
    "one positive pair": (np.array([[2.0]]), np.array([[3.0]])),
    "negative operands (the sign)": (np.array([[-2.0, 3.0, -1.0]]), np.array([[1.0, -5.0, -4.0]])),
    "several rows and filters": (rng(23).standard_normal((4, 6)), rng(24).standard_normal((3, 6))),
    "zeros": (np.array([[0.0, 2.0], [-3.0, 0.0]]), np.array([[5.0, 0.0]])),
}


def _tinymin_min_gemm(cols: np.ndarray, w_hat: np.ndarray) -> np.ndarray:
    return _ext.min_gemm(np.ascontiguousarray(cols), np.ascontiguousarray(w_hat))


def _test(case: str):
    def test(functions, drawn=None):
        cols, w_hat = drawn if drawn is not None else _FIXED[case]
        inputs = {"cols": cols, "w_hat": w_hat}
        obtained = call(case, HINTS[case], inputs, functions["min_gemm"], cols.copy(), w_hat.copy())
        expect_close(case, HINTS[case], inputs, _tinymin_min_gemm(cols, w_hat), obtained,
                     rtol=1e-9, atol=1e-9)
    return test


def _operands(st, hnp):
    @st.composite
    def draw(data):
        p, c, k = data(st.integers(1, 4)), data(st.integers(1, 3)), data(st.integers(1, 6))
        cols = data(hnp.arrays(np.float64, (p, k), elements=floats(st)))
        w_hat = data(hnp.arrays(np.float64, (c, k), elements=floats(st)))
        return cols, w_hat
    return draw()


def cases() -> list[Case]:
    """Fixed operands (signs, zeros), then random ones."""
    st, hnp = strategies()
    return fixed_then_random(_FIXED, _test, HINTS, "random operands (hypothesis)", _operands(st, hnp))


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {"min_gemm": _tinymin_min_gemm}
