"""The cases of ``sum_to``, against ``tinymin.autograd.sum_to``."""

from __future__ import annotations

from typing import Callable

import numpy as np

from tinymin.autograd import sum_to as tinymin_sum_to
from tinymin.exercises.checker import Case, call, expect_close
from tinymin.exercises.common import fixed_then_random, floats, rng, strategies

HINTS = {
    "same shape": "nothing was broadcast: the gradient comes back as it is",
    "leading axes": "broadcasting prepended axes on the left: they are not in `shape`",
    "stretched axes": "an axis of size 1 in `shape` was stretched; the answer has exactly `shape`",
    "leading and stretched axes": "both kinds of broadcasting at once",
    "down to a scalar": "`shape` is (): one number, of shape ()",
    "random broadcasts (hypothesis)": "any broadcast numpy allows",
    "gradient check: adjoint of broadcasting": "sum_to is the adjoint of broadcasting: "
                                               "<broadcast(a), g> = <a, sum_to(g)>",
}

_FIXED = {
    "same shape": (rng(1).standard_normal((2, 3)), (2, 3)),
    "leading axes": (rng(2).standard_normal((4, 2, 3)), (2, 3)),
    "stretched axes": (rng(3).standard_normal((2, 3, 4)), (2, 1, 4)),
    "leading and stretched axes": (rng(4).standard_normal((5, 2, 3)), (1, 3)),
    "down to a scalar": (rng(5).standard_normal((2, 3)), ()),
}


def _test(case: str):
    def test(functions, drawn=None):
        grad, shape = drawn if drawn is not None else _FIXED[case]
        inputs = {"grad": grad, "shape": shape}
        obtained = call(case, HINTS[case], inputs, functions["sum_to"], grad.copy(), shape)
        expect_close(case, HINTS[case], inputs, tinymin_sum_to(grad, shape), obtained)
    return test


def _adjoint(functions, drawn):
    case = "gradient check: adjoint of broadcasting"
    grad, shape = drawn
    a = rng(6).standard_normal(shape)
    inputs = {"grad": grad, "shape": shape, "a": a}
    obtained = call(case, HINTS[case], inputs, functions["sum_to"], grad.copy(), shape)
    expect_close(case, HINTS[case], inputs, tinymin_sum_to(grad, shape), obtained)
    lhs = float(np.sum(np.broadcast_to(a, grad.shape) * grad))
    expect_close(case, HINTS[case], inputs, lhs, float(np.sum(a * obtained)), what="<a, sum_to(grad)>")


def _broadcast_pair(st, hnp):
    """A shape and a bigger shape it broadcasts to, then a gradient of the bigger shape."""
    @st.composite
    def draw(data):
        shape = data(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
        stretched = tuple(data(st.integers(1, 3)) if n == 1 else n for n in shape)
        leading = tuple(data(st.lists(st.integers(1, 3), max_size=2)))
        grad = data(hnp.arrays(np.float64, leading + stretched, elements=floats(st)))
        return grad, shape
    return draw()


def cases() -> list[Case]:
    """Fixed broadcasts, random ones, then the adjoint check."""
    st, hnp = strategies()
    found = fixed_then_random(_FIXED, _test, HINTS, "random broadcasts (hypothesis)",
                              _broadcast_pair(st, hnp))
    found.append(Case("gradient check: adjoint of broadcasting", _adjoint,
                      HINTS["gradient check: adjoint of broadcasting"], strategy=_broadcast_pair(st, hnp),
                      max_examples=30))
    return found


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {"sum_to": tinymin_sum_to}
