"""The cases of ``selector_gemms``, against ``tinymin._ext.max_gemm`` and ``adder_gemm``."""

from __future__ import annotations

from typing import Callable

import numpy as np

from tinymin import _ext
from tinymin.exercises.checker import Case, call, expect_close
from tinymin.exercises.common import floats, rng, strategies

HINTS = {
    "max: one pair": "one row, one filter, K = 1: the larger magnitude",
    "max: signs and zeros": "the sign of each term is the product's sign; a zero operand gives 0",
    "max: several rows and filters": "out[p, c] pairs row p of cols with row c of w",
    "adder: one pair": "one row, one filter, K = 1: minus the distance",
    "adder: several rows and filters": "every row against every filter, summed over K",
    "max: random operands (hypothesis)": "any shapes and values",
    "adder: random operands (hypothesis)": "any shapes and values",
}

_FIXED = {
    "max: one pair": ("max_gemm", np.array([[2.0]]), np.array([[3.0]])),
    "max: signs and zeros": ("max_gemm", np.array([[-2.0, 3.0, 0.0, -1.0]]),
                             np.array([[1.0, -5.0, 4.0, 0.0]])),
    "max: several rows and filters": ("max_gemm", rng(42).standard_normal((4, 6)),
                                      rng(43).standard_normal((3, 6))),
    "adder: one pair": ("adder_gemm", np.array([[2.0]]), np.array([[-3.0]])),
    "adder: several rows and filters": ("adder_gemm", rng(44).standard_normal((4, 6)),
                                        rng(45).standard_normal((3, 6))),
}

_TINYMIN = {"max_gemm": _ext.max_gemm, "adder_gemm": _ext.adder_gemm}


def _compare(case: str, functions, which: str, cols: np.ndarray, w: np.ndarray) -> None:
    inputs = {"cols": cols, "w": w}
    obtained = call(case, HINTS[case], inputs, functions[which], cols.copy(), w.copy())
    expected = _TINYMIN[which](np.ascontiguousarray(cols), np.ascontiguousarray(w))
    expect_close(case, HINTS[case], inputs, expected, obtained, rtol=1e-9, atol=1e-9)


def _fixed(case: str):
    def test(functions):
        _compare(case, functions, *_FIXED[case])
    return test


def _random(case: str, which: str):
    def test(functions, drawn):
        _compare(case, functions, which, *drawn)
    return test


def _operands(st, hnp):
    @st.composite
    def draw(data):
        p, c, k = data(st.integers(1, 4)), data(st.integers(1, 3)), data(st.integers(1, 6))
        cols = data(hnp.arrays(np.float64, (p, k), elements=floats(st)))
        w = data(hnp.arrays(np.float64, (c, k), elements=floats(st)))
        return cols, w
    return draw()


def cases() -> list[Case]:
    """Fixed operands for each selector, then random ones."""
    st, hnp = strategies()
    found = [Case(name, _fixed(name), HINTS[name]) for name in _FIXED]
    for which, label in (("max_gemm", "max"), ("adder_gemm", "adder")):
        name = f"{label}: random operands (hypothesis)"
        found.append(Case(name, _random(name, which), HINTS[name], strategy=_operands(st, hnp),
                          max_examples=40))
    return found


def _contiguous(kernel: Callable) -> Callable:
    def run(cols, w):
        return kernel(np.ascontiguousarray(cols), np.ascontiguousarray(w))
    run.__name__ = kernel.__name__
    return run


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {name: _contiguous(kernel) for name, kernel in _TINYMIN.items()}
