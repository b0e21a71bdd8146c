"""The cases of ``relative_error``, against
``tinymin.analysis.approximation.elementwise_relative_error``."""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from tinymin.analysis.approximation import elementwise_relative_error
from tinymin.exercises.checker import Case, call, expect_close, fail
from tinymin.exercises.common import fixed_then_random, floats, rng, strategies

HINTS = {
    "positive pairs": "x and w positive, some below 1 and some above",
    "negative operands": "the signs: the signed minimum keeps the product's sign",
    "a zero operand: NaN, no warning": "x * w = 0: the error is undefined there",
    "broadcasting": "a column of x against a row of w",
    "lists and numbers": "array_like inputs: lists and plain numbers",
    "random operands (hypothesis)": "any values, any broadcastable shapes",
}

_FIXED = {
    "positive pairs": (np.array([2.0, 0.5, 1.0, 3.0]), np.array([3.0, 0.25, 1.0, 0.1])),
    "negative operands": (np.array([-2.0, 0.5, -1.5]), np.array([3.0, -4.0, -0.5])),
    "a zero operand: NaN, no warning": (np.array([0.0, 2.0, 0.0, -1.0]), np.array([1.0, 0.0, 0.0, 2.0])),
    "broadcasting": (rng(40).standard_normal((3, 1)), rng(41).standard_normal(4)),
    "lists and numbers": ([2.0, -0.5, 4.0], 3.0),
}


def _test(case: str):
    def test(functions, drawn=None):
        x, w = drawn if drawn is not None else _FIXED[case]
        inputs = {"x": x, "w": w}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            obtained = call(case, HINTS[case], inputs, functions["elementwise_relative_error"],
                            _copy(x), _copy(w))
        expect_close(case, HINTS[case], inputs, elementwise_relative_error(x, w), obtained)
        if caught:
            fail(case, inputs, "no warning", str(caught[0].message),
                 f"it warned: {caught[0].category.__name__}: {caught[0].message}", HINTS[case])
    return test


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _operands(st, hnp):
    @st.composite
    def draw(data):
        shapes = data(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=4))
        # |v| >= 1e-150: a product of two stays a normal float, where the definition and
        # the closed form agree to rounding (an underflowed product has lost its digits)
        values = floats(st, 5.0).filter(lambda v: abs(v) >= 1e-150) | st.sampled_from([0.0, 1.0, -1.0])
        x = data(hnp.arrays(np.float64, shapes.input_shapes[0], elements=values))
        w = data(hnp.arrays(np.float64, shapes.input_shapes[1], elements=values))
        return x, w
    return draw()


def cases() -> list[Case]:
    """Fixed pairs (signs, zeros, broadcasting, lists), then random ones."""
    st, hnp = strategies()
    return fixed_then_random(_FIXED, _test, HINTS, "random operands (hypothesis)", _operands(st, hnp))


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {"elementwise_relative_error": elementwise_relative_error}
