"""The cases of ``matmul_backward``, against autograd on ``tinymin``'s ``@``."""

from __future__ import annotations

from typing import Callable

import numpy as np

import tinymin as tm
from tinymin.exercises.checker import Case, call, expect_close, fail, numeric_gradient
from tinymin.exercises.common import fixed_then_random, floats, rng, strategies

HINTS = {
    "2-D": "a plain (m, k) @ (k, n) product",
    "batched, same batch": "a batch of products: only the last two axes are matrices",
    "b broadcast over the batch": "b has no batch axes: it was used by every product of the batch",
    "a broadcast from a batch of 1": "a's batch axis of size 1 was stretched",
    "random shapes (hypothesis)": "any batch shapes that broadcast",
    "gradient check: finite differences": "your gradients against central differences of sum(grad * (a @ b))",
}

_FIXED = {
    "2-D": (rng(8).standard_normal((3, 4)), rng(9).standard_normal((4, 2))),
    "batched, same batch": (rng(10).standard_normal((5, 3, 4)), rng(11).standard_normal((5, 4, 2))),
    "b broadcast over the batch": (rng(12).standard_normal((5, 3, 4)), rng(13).standard_normal((4, 2))),
    "a broadcast from a batch of 1": (rng(14).standard_normal((1, 3, 4)), rng(15).standard_normal((6, 4, 2))),
}


def tinymin_matmul_grads(a: np.ndarray, b: np.ndarray, grad: np.ndarray) -> tuple:
    """The gradients of ``a @ b`` that tinymin's autograd computes."""
    ta = tm.tensor(a, requires_grad=True, dtype=np.float64)
    tb = tm.tensor(b, requires_grad=True, dtype=np.float64)
    (ta @ tb).backward(grad)
    return ta.grad, tb.grad


def _pair(case, inputs, obtained):
    if not isinstance(obtained, tuple) or len(obtained) != 2:
        fail(case, inputs, "(grad_a, grad_b)", obtained, "return a pair (grad_a, grad_b)", HINTS[case])
    return obtained


def _test(case: str):
    def test(functions, drawn=None):
        a, b = drawn if drawn is not None else _FIXED[case]
        grad = rng(7).standard_normal(np.matmul(a, b).shape)
        inputs = {"a": a, "b": b, "grad": grad}
        obtained = _pair(case, inputs, call(case, HINTS[case], inputs, functions["matmul_backward"],
                                            a.copy(), b.copy(), grad.copy()))
        for what, exp, got in zip(("grad_a", "grad_b"), tinymin_matmul_grads(a, b, grad), obtained):
            expect_close(case, HINTS[case], inputs, exp, got, what=what)
    return test


def _operands(st, hnp):
    @st.composite
    def draw(data):
        m, k, n = (data(st.integers(1, 3)) for _ in range(3))
        batch = tuple(data(st.lists(st.integers(1, 3), max_size=2)))
        batch_a = tuple(data(st.sampled_from([s, 1])) for s in batch)
        batch_b = tuple(data(st.sampled_from([s, 1])) for s in batch)
        batch_b = batch_b[data(st.integers(0, len(batch_b))):]  # b may have fewer axes
        a = data(hnp.arrays(np.float64, batch_a + (m, k), elements=floats(st)))
        b = data(hnp.arrays(np.float64, batch_b + (k, n), elements=floats(st)))
        return a, b
    return draw()


def _gradcheck(functions, drawn):
    case = "gradient check: finite differences"
    a, b = drawn
    grad = rng(16).standard_normal(np.matmul(a, b).shape)
    inputs = {"a": a, "b": b, "grad": grad}
    obtained = _pair(case, inputs, call(case, HINTS[case], inputs, functions["matmul_backward"],
                                        a.copy(), b.copy(), grad.copy()))
    numeric_a = numeric_gradient(lambda a_: float(np.sum(grad * (a_ @ b))), a)
    numeric_b = numeric_gradient(lambda b_: float(np.sum(grad * (a @ b_))), b)
    expect_close(case, HINTS[case], inputs, numeric_a, obtained[0], rtol=1e-5, atol=1e-6, what="grad_a")
    expect_close(case, HINTS[case], inputs, numeric_b, obtained[1], rtol=1e-5, atol=1e-6, what="grad_b")


def cases() -> list[Case]:
    """Fixed shapes, random ones, then finite differences."""
    st, hnp = strategies()
    found = fixed_then_random(_FIXED, _test, HINTS, "random shapes (hypothesis)", _operands(st, hnp))
    found.append(Case("gradient check: finite differences", _gradcheck,
                      HINTS["gradient check: finite differences"], strategy=_operands(st, hnp),
                      max_examples=20))
    return found


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {"matmul_backward": tinymin_matmul_grads}
