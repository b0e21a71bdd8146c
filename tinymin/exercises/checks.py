"""The cases of every exercise: the learner's function against tinymin's own.

Each ``*_cases()`` returns the exercise's :class:`~tinymin.exercises.checker.Case` list:
hand-picked edge cases first (each one aimed at a classic mistake, so its name says
what went wrong), then random inputs drawn by hypothesis, then a gradient check where a
gradient is involved. Expected values always come from tinymin itself, through its
public entry points: ``tinymin.autograd.sum_to``, autograd on ``tinymin.matmul``,
``tinymin._ext.im2col``/``min_gemm`` and ``tinymin.nn.functional.conv2d``,
``tinymin.trace()`` of ``min_conv2d`` (Algorithm 1's recorded steps) and
``tinymin.optim.Adam``.

``reference_functions(name)`` wraps those entry points in each exercise's signature:
what a correct solution computes (the tests check that it passes every case).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import tinymin as tm
from tinymin import _ext
from tinymin.autograd import sum_to as tinymin_sum_to
from tinymin.exercises.checker import Case, call, expect_close, fail, numeric_gradient
from tinymin.minconv import functional as minconv
from tinymin.minconv.spec import MinConvSpec
from tinymin.nn import functional as F


def _strategies():
    """hypothesis and its numpy strategies, imported when a check runs (a test dependency)."""
    try:
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp
    except ImportError as err:
        raise ImportError('the exercise checker needs hypothesis: pip install "tinymin[exercises]"') from err

    return st, hnp


def _floats(st, bound: float = 10.0):
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=64)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _fixed_then_random(fixed: dict, make_test: Callable, hint: str, random_name: str,
                       strategy, **options) -> list[Case]:
    """The hand-picked cases of ``fixed`` (in order, by name), then the same test on
    inputs that hypothesis draws from ``strategy`` (``options``: e.g. max_examples)."""
    cases = [Case(name, make_test(name), hint) for name in fixed]
    cases.append(Case(random_name, make_test(random_name), hint, strategy=strategy, **options))
    return cases


# ===================================================================== sum_to
SUM_TO_HINT = ("sum away the axes broadcasting prepended, then sum the stretched size-1 axes "
               "with keepdims=True so they stay as 1")


def _sum_to_test(case: str):
    def test(functions, drawn=None):
        grad, shape = drawn if drawn is not None else _SUM_TO_FIXED[case]
        inputs = {"grad": grad, "shape": shape}
        obtained = call(case, SUM_TO_HINT, inputs, functions["sum_to"], grad.copy(), shape)
        expect_close(case, SUM_TO_HINT, inputs, tinymin_sum_to(grad, shape), obtained)
    return test


_SUM_TO_FIXED = {
    "same shape": (_rng(1).standard_normal((2, 3)), (2, 3)),
    "leading axes": (_rng(2).standard_normal((4, 2, 3)), (2, 3)),
    "stretched axes": (_rng(3).standard_normal((2, 3, 4)), (2, 1, 4)),
    "leading and stretched axes": (_rng(4).standard_normal((5, 2, 3)), (1, 3)),
    "down to a scalar": (_rng(5).standard_normal((2, 3)), ()),
}


def _sum_to_adjoint(functions, drawn):
    """Gradient check: sum_to is the adjoint of broadcasting, <bcast(a), g> = <a, sum_to(g)>."""
    case, hint = "gradient check: adjoint of broadcasting", SUM_TO_HINT
    grad, shape = drawn
    a = _rng(6).standard_normal(shape)
    inputs = {"grad": grad, "shape": shape, "a": a}
    obtained = call(case, hint, inputs, functions["sum_to"], grad.copy(), shape)
    expect_close(case, hint, inputs, tinymin_sum_to(grad, shape), obtained)
    lhs = float(np.sum(np.broadcast_to(a, grad.shape) * grad))
    expect_close(case, hint, inputs, lhs, float(np.sum(a * obtained)), what="<broadcast(a), grad>")


def _broadcast_pair(st, hnp):
    """A shape and a bigger shape it broadcasts to, then a gradient of the bigger shape."""
    @st.composite
    def draw(data):
        shape = data(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
        stretched = tuple(data(st.integers(1, 3)) if n == 1 else n for n in shape)
        leading = tuple(data(st.lists(st.integers(1, 3), max_size=2)))
        grad = data(hnp.arrays(np.float64, leading + stretched, elements=_floats(st)))
        return grad, shape
    return draw()


def sum_to_cases() -> list[Case]:
    """``sum_to``: fixed broadcasts, random ones, then the adjoint check."""
    st, hnp = _strategies()
    cases = _fixed_then_random(_SUM_TO_FIXED, _sum_to_test, SUM_TO_HINT,
                               "random broadcasts (hypothesis)", _broadcast_pair(st, hnp))
    cases.append(Case("gradient check: adjoint of broadcasting", _sum_to_adjoint, SUM_TO_HINT,
                      strategy=_broadcast_pair(st, hnp), max_examples=30))
    return cases


# ============================================================ matmul_backward
MATMUL_HINT = ("grad_a = grad @ swapaxes(b, -1, -2) and grad_b = swapaxes(a, -1, -2) @ grad, "
               "each then summed back to its operand's shape (sum_to)")


def _tinymin_matmul_grads(a: np.ndarray, b: np.ndarray, grad: np.ndarray) -> tuple:
    ta = tm.tensor(a, requires_grad=True, dtype=np.float64)
    tb = tm.tensor(b, requires_grad=True, dtype=np.float64)
    (ta @ tb).backward(grad)
    return ta.grad, tb.grad


def _matmul_test(case: str):
    def test(functions, drawn=None):
        a, b = drawn if drawn is not None else _MATMUL_FIXED[case]
        grad = _rng(7).standard_normal(np.matmul(a, b).shape)
        inputs = {"a": a, "b": b, "grad": grad}
        obtained = call(case, MATMUL_HINT, inputs, functions["matmul_backward"], a.copy(), b.copy(),
                        grad.copy())
        if not isinstance(obtained, tuple) or len(obtained) != 2:
            fail(case, inputs, "(grad_a, grad_b)", obtained, "return a pair (grad_a, grad_b)")
        expected = _tinymin_matmul_grads(a, b, grad)
        for what, exp, got in zip(("grad_a", "grad_b"), expected, obtained):
            expect_close(case, MATMUL_HINT, inputs, exp, got, what=what)
    return test


_MATMUL_FIXED = {
    "2-D": (_rng(8).standard_normal((3, 4)), _rng(9).standard_normal((4, 2))),
    "batched, same batch": (_rng(10).standard_normal((5, 3, 4)), _rng(11).standard_normal((5, 4, 2))),
    "b broadcast over the batch": (_rng(12).standard_normal((5, 3, 4)), _rng(13).standard_normal((4, 2))),
    "a broadcast from a batch of 1": (_rng(14).standard_normal((1, 3, 4)),
                                      _rng(15).standard_normal((6, 4, 2))),
}


def _matmul_operands(st, hnp):
    @st.composite
    def draw(data):
        m, k, n = (data(st.integers(1, 3)) for _ in range(3))
        batch = tuple(data(st.lists(st.integers(1, 3), max_size=2)))
        batch_a = tuple(data(st.sampled_from([s, 1])) for s in batch)
        batch_b = tuple(data(st.sampled_from([s, 1])) for s in batch)
        batch_b = batch_b[data(st.integers(0, len(batch_b))):]  # b may have fewer axes
        a = data(hnp.arrays(np.float64, batch_a + (m, k), elements=_floats(st)))
        b = data(hnp.arrays(np.float64, batch_b + (k, n), elements=_floats(st)))
        return a, b
    return draw()


def _matmul_gradcheck(functions, drawn):
    case = "gradient check: finite differences"
    a, b = drawn
    grad = _rng(16).standard_normal(np.matmul(a, b).shape)
    inputs = {"a": a, "b": b, "grad": grad}
    obtained = call(case, MATMUL_HINT, inputs, functions["matmul_backward"], a.copy(), b.copy(),
                    grad.copy())
    if not isinstance(obtained, tuple) or len(obtained) != 2:
        fail(case, inputs, "(grad_a, grad_b)", obtained, "return a pair (grad_a, grad_b)")
    numeric_a = numeric_gradient(lambda a_: float(np.sum(grad * (a_ @ b))), a)
    numeric_b = numeric_gradient(lambda b_: float(np.sum(grad * (a @ b_))), b)
    expect_close(case, MATMUL_HINT, inputs, numeric_a, obtained[0], rtol=1e-5, atol=1e-6, what="grad_a")
    expect_close(case, MATMUL_HINT, inputs, numeric_b, obtained[1], rtol=1e-5, atol=1e-6, what="grad_b")


def matmul_backward_cases() -> list[Case]:
    """``matmul_backward``: fixed shapes, random ones, then finite differences."""
    st, hnp = _strategies()
    cases = _fixed_then_random(_MATMUL_FIXED, _matmul_test, MATMUL_HINT,
                               "random shapes (hypothesis)", _matmul_operands(st, hnp))
    cases.append(Case("gradient check: finite differences", _matmul_gradcheck, MATMUL_HINT,
                      strategy=_matmul_operands(st, hnp), max_examples=20))
    return cases


# ===================================================================== im2col
IM2COL_HINT = ("row (n*OH + i)*OW + j holds the patch at output (i, j) of image n, flattened "
               "channel first: column (c*K + u)*K + v is x_padded[n, c, i*stride + u, j*stride + v]")

_IM2COL_FIXED = {
    "1x1 kernel": (_rng(17).standard_normal((1, 1, 3, 3)), 1, 1, 0),
    "3x3, no padding": (_rng(18).standard_normal((1, 1, 4, 5)), 3, 1, 0),
    "padding 1": (_rng(19).standard_normal((1, 1, 4, 4)), 3, 1, 1),
    "stride 2": (_rng(20).standard_normal((1, 1, 5, 5)), 3, 2, 0),
    "several images and channels": (_rng(21).standard_normal((2, 3, 4, 4)), 2, 1, 0),
}


def _im2col_test(case: str):
    def test(functions, drawn=None):
        x, k, stride, padding = drawn if drawn is not None else _IM2COL_FIXED[case]
        inputs = {"x": x, "kernel_size": k, "stride": stride, "padding": padding}
        obtained = call(case, IM2COL_HINT, inputs, functions["im2col"], x.copy(), k, stride, padding)
        expect_close(case, IM2COL_HINT, inputs, _ext.im2col(x, k, stride, padding), obtained)
    return test


def _im2col_geometry(st, hnp):
    @st.composite
    def draw(data):
        k, stride, padding = data(st.integers(1, 3)), data(st.integers(1, 2)), data(st.integers(0, 1))
        h, w = data(st.integers(max(1, k - 2 * padding), 5)), data(st.integers(max(1, k - 2 * padding), 5))
        n, c = data(st.integers(1, 2)), data(st.integers(1, 3))
        x = data(hnp.arrays(np.float64, (n, c, h, w), elements=_floats(st)))
        return x, k, stride, padding
    return draw()


def _im2col_is_conv(functions, drawn):
    """The point of im2col: one GEMM with the flattened filters is tinymin's conv2d."""
    case = "a GEMM with it is conv2d"
    x, k, stride, padding = drawn
    n, c, h, w = x.shape
    weight = _rng(22).standard_normal((2, c, k, k))
    inputs = {"x": x, "kernel_size": k, "stride": stride, "padding": padding, "weight": weight}
    cols = call(case, IM2COL_HINT, inputs, functions["im2col"], x.copy(), k, stride, padding)
    expected = F.conv2d(tm.tensor(x), tm.tensor(weight), stride=stride, padding=padding).data
    oh, ow = expected.shape[2:]
    if not isinstance(cols, np.ndarray) or cols.shape != (n * oh * ow, c * k * k):
        fail(case, inputs, f"cols of shape {(n * oh * ow, c * k * k)}",
             getattr(cols, "shape", cols), IM2COL_HINT)
    obtained = (cols @ weight.reshape(2, -1).T).reshape(n, oh, ow, 2).transpose(0, 3, 1, 2)
    expect_close(case, IM2COL_HINT, inputs, expected, obtained, rtol=1e-9, atol=1e-9,
                 what="conv2d through your cols")


def im2col_cases() -> list[Case]:
    """``im2col``: fixed geometries, random ones, then a GEMM with the columns is conv2d."""
    st, hnp = _strategies()
    cases = _fixed_then_random(_IM2COL_FIXED, _im2col_test, IM2COL_HINT,
                               "random geometry (hypothesis)", _im2col_geometry(st, hnp))
    cases.append(Case("a GEMM with it is conv2d", _im2col_is_conv, IM2COL_HINT,
                      strategy=_im2col_geometry(st, hnp), max_examples=20))
    return cases


# =================================================================== min_gemm
MIN_GEMM_HINT = ("out[p, c] = sum over k of sign(cols[p, k]) * sign(w_hat[c, k]) * "
                 "min(|cols[p, k]|, |w_hat[c, k]|); broadcast (P, 1, K) against (1, C, K)")

_MIN_GEMM_FIXED = {
    "one positive pair": (np.array([[2.0]]), np.array([[3.0]])),
    "negative operands (the sign)": (np.array([[-2.0, 3.0, -1.0]]), np.array([[1.0, -5.0, -4.0]])),
    "several rows and filters": (_rng(23).standard_normal((4, 6)), _rng(24).standard_normal((3, 6))),
    "zeros": (np.array([[0.0, 2.0], [-3.0, 0.0]]), np.array([[5.0, 0.0]])),
}


def _min_gemm_test(case: str):
    def test(functions, drawn=None):
        cols, w_hat = drawn if drawn is not None else _MIN_GEMM_FIXED[case]
        inputs = {"cols": cols, "w_hat": w_hat}
        obtained = call(case, MIN_GEMM_HINT, inputs, functions["min_gemm"], cols.copy(), w_hat.copy())
        expected = _ext.min_gemm(np.ascontiguousarray(cols), np.ascontiguousarray(w_hat))
        expect_close(case, MIN_GEMM_HINT, inputs, expected, obtained, rtol=1e-9, atol=1e-9)
    return test


def _min_gemm_operands(st, hnp):
    @st.composite
    def draw(data):
        p, c, k = data(st.integers(1, 4)), data(st.integers(1, 3)), data(st.integers(1, 6))
        cols = data(hnp.arrays(np.float64, (p, k), elements=_floats(st)))
        w_hat = data(hnp.arrays(np.float64, (c, k), elements=_floats(st)))
        return cols, w_hat
    return draw()


def min_gemm_cases() -> list[Case]:
    """``min_gemm``: fixed operands (signs, zeros), then random ones."""
    st, hnp = _strategies()
    return _fixed_then_random(_MIN_GEMM_FIXED, _min_gemm_test, MIN_GEMM_HINT,
                              "random operands (hypothesis)", _min_gemm_operands(st, hnp))


# =========================================================== clip_and_rescale
CLIP_HINT = "a_c = mu * clip(a / mu, -T, T), and inside = |a| <= T * mu (the bound counts as inside)"
RESCALE_HINT = "w_hat = w_c * mu_x / mu_w: the weights take the inputs' mean magnitude"
THROUGH_HINT = "the gradient passes where inside is True and is 0 where the clip cut"


def _algorithm1_steps(x: np.ndarray, w: np.ndarray, clip_value: float) -> dict[str, Any]:
    """Steps 1-7 of one min_conv2d call, forward and backward, read from ``tinymin.trace()``."""
    tx = tm.tensor(x, requires_grad=True, dtype=np.float64)
    tw = tm.tensor(w, requires_grad=True, dtype=np.float64)
    with tm.trace(keep_arrays=True) as steps:
        y = F.min_conv2d(tx, tw, spec=MinConvSpec(clip_value=clip_value), training=True)
        y.backward(_rng(25).standard_normal(y.shape))
    values: dict[str, Any] = {}
    for record in steps:
        for name, summary in record.values.items():
            values[name] = summary["array"] if "array" in summary else summary["value"]
    return values


def _clip_operands(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(seed)
    x = rng.standard_normal((2, 2, 4, 4))
    w = rng.standard_normal((3, 2, 3, 3))
    x.flat[:3] = [9.0, -12.0, 7.5]  # far beyond T * mean|x|: clipped
    w.flat[:2] = [6.0, -8.0]
    return x, w


def _operands_on_the_bound() -> tuple[np.ndarray, np.ndarray]:
    """x with mean|x| = 1 exactly and one entry exactly on the bound T * mu = 2 (T = 2)."""
    x = _rng(30).choice([-0.5, 0.5], size=(2, 2, 4, 4))  # 64 entries, exact in binary
    x.flat[:3] = [9.0, -12.0, 11.0]  # clipped; with 60 x 0.5 and the 2 below: sum |x| = 64
    x.flat[3] = 2.0  # = T * mean|x|, as 9 + 12 + 11 + 2 + 60 * 0.5 = 64 = 64 entries * 1
    return x, _clip_operands(31)[1]


def _clip_test(case: str, what: str):
    def test(functions, drawn=None):
        if drawn is None:
            x, w, clip_value = (*_operands_on_the_bound(), 2.0) if what == "bound" \
                else (*_clip_operands(26), 1.5)
        else:
            x, w, clip_value = drawn
        steps = _algorithm1_steps(x, w, clip_value)
        inputs = {"a": x, "mu": steps["mu_x"], "clip_value": clip_value}
        if what in ("x", "bound", "all"):
            obtained = call(case, CLIP_HINT, inputs, functions["clip"], x.copy(), steps["mu_x"], clip_value)
            _expect_clip(case, inputs, steps["x_c"], steps["x_inside"], obtained)
        if what in ("w", "all"):
            inputs = {"a": w, "mu": steps["mu_w"], "clip_value": clip_value}
            obtained = call(case, CLIP_HINT, inputs, functions["clip"], w.copy(), steps["mu_w"], clip_value)
            _expect_clip(case, inputs, steps["w_c"], steps["w_inside"], obtained)
        if what in ("rescale", "all"):
            inputs = {"w_c": steps["w_c"], "mu_x": steps["mu_x"], "mu_w": steps["mu_w"]}
            obtained = call(case, RESCALE_HINT, inputs, functions["rescale"], steps["w_c"].copy(),
                            steps["mu_x"], steps["mu_w"])
            expect_close(case, RESCALE_HINT, inputs, steps["w_hat"], obtained)
        if what in ("through", "all"):
            for grad, inside, expected in (("dx_c", "x_inside", "dx"), ("dw_c", "w_inside", "dw")):
                inputs = {"grad": steps[grad], "inside": steps[inside]}
                obtained = call(case, THROUGH_HINT, inputs, functions["through_clip"], steps[grad].copy(),
                                steps[inside].copy())
                expect_close(case, THROUGH_HINT, inputs, steps[expected], obtained)
    return test


def _expect_clip(case: str, inputs: dict, a_c: np.ndarray, inside: np.ndarray, obtained: Any) -> None:
    if not isinstance(obtained, tuple) or len(obtained) != 2:
        fail(case, inputs, "(a_c, inside)", obtained, "return a pair (a_c, inside)")
    expect_close(case, CLIP_HINT, inputs, a_c, obtained[0], what="a_c")
    got_inside = np.asarray(obtained[1])
    if got_inside.shape != inside.shape or not np.array_equal(got_inside.astype(bool), inside):
        fail(case, inputs, inside, got_inside, f"inside: {CLIP_HINT}")


def _clip_derivative(functions, drawn):
    """Gradient check: step 7's mask is the derivative of step 3's clip (away from the bound)."""
    case = "gradient check: step 7 is the derivative of step 3"
    a, mu, clip_value = drawn
    grad = _rng(27).standard_normal(a.shape)
    inputs = {"a": a, "mu": mu, "clip_value": clip_value, "grad": grad}
    clipped = call(case, CLIP_HINT, inputs, functions["clip"], a.copy(), mu, clip_value)
    if not isinstance(clipped, tuple) or len(clipped) != 2:
        fail(case, inputs, "(a_c, inside)", clipped, "return a pair (a_c, inside)")
    obtained = call(case, THROUGH_HINT, inputs, functions["through_clip"], grad.copy(),
                    np.asarray(clipped[1]).copy())

    def loss(a_):
        out = call(case, CLIP_HINT, inputs, functions["clip"], a_.copy(), mu, clip_value)
        return float(np.sum(grad * out[0]))

    expect_close(case, THROUGH_HINT, inputs, numeric_gradient(loss, a), obtained, rtol=1e-5, atol=1e-6,
                 what="d/da sum(grad * clip(a))")


def _clip_inputs(st, hnp):
    @st.composite
    def draw(data):
        x = data(hnp.arrays(np.float64, (1, 2, 3, 3), elements=_floats(st)))
        w = data(hnp.arrays(np.float64, (2, 2, 2, 2), elements=_floats(st)))
        x.flat[0], w.flat[0] = 1.0, 1.0  # mean magnitudes above zero
        return x, w, data(st.sampled_from([0.5, 1.0, 2.0, 4.0]))
    return draw()


def _away_from_bound(st, hnp):
    """(a, mu, T) with no entry within 1e-3 of the bound, where the clip has no derivative."""
    @st.composite
    def draw(data):
        mu, clip_value = data(st.sampled_from([0.5, 1.0, 2.0])), data(st.sampled_from([0.5, 1.0, 2.0]))
        a = data(hnp.arrays(np.float64, data(hnp.array_shapes(max_dims=2, max_side=4)),
                            elements=_floats(st, 5.0).filter(
                                lambda v: abs(abs(v) - mu * clip_value) > 1e-3)))
        return a, mu, clip_value
    return draw()


def clip_and_rescale_cases() -> list[Case]:
    """``clip_and_rescale``: steps 3, 4 and 7 on fixed layers, random ones, then step 7
    against the derivative of step 3."""
    st, hnp = _strategies()
    return [
        Case("step 3: clip x", _clip_test("step 3: clip x", "x"), CLIP_HINT),
        Case("step 3: values exactly on the bound", _clip_test("step 3: values exactly on the bound",
                                                               "bound"), CLIP_HINT),
        Case("step 3: clip w", _clip_test("step 3: clip w", "w"), CLIP_HINT),
        Case("step 4: rescale", _clip_test("step 4: rescale", "rescale"), RESCALE_HINT),
        Case("step 7: through the clip", _clip_test("step 7: through the clip", "through"), THROUGH_HINT),
        Case("random layers (hypothesis)", _clip_test("random layers (hypothesis)", "all"), CLIP_HINT,
             strategy=_clip_inputs(st, hnp), max_examples=25),
        Case("gradient check: step 7 is the derivative of step 3", _clip_derivative, THROUGH_HINT,
             strategy=_away_from_bound(st, hnp), max_examples=25),
    ]


# ======================================================================= adam
ADAM_HINT = ("m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2, then "
             "param - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)")


def _tinymin_adam(param: np.ndarray, grads: list[np.ndarray], hyper: dict[str, float]) -> list[np.ndarray]:
    """The parameter after each step of ``tinymin.optim.Adam`` fed ``grads``."""
    weight = tm.nn.Parameter(np.array(param, dtype=np.float64))
    optimizer = tm.optim.Adam([weight], lr=hyper["lr"], betas=(hyper["beta1"], hyper["beta2"]),
                              eps=hyper["eps"])
    history = []
    for grad in grads:
        weight.grad = np.array(grad, dtype=np.float64)
        optimizer.step()
        history.append(weight.data.copy())
    return history


DEFAULTS = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
_ADAM_FIXED = {
    "first step": (np.array([1.0, -2.0, 0.5]), [np.array([0.3, -4.0, 1e-3])], DEFAULTS),
    "ten steps (bias correction still matters)": (
        np.array([1.0, 2.0]), [_rng(28).standard_normal(2) for _ in range(10)], DEFAULTS),
    "a zero gradient": (np.array([1.0, 2.0]), [np.array([1.0, -1.0]), np.zeros(2)], DEFAULTS),
    "other hyperparameters (lr, betas, eps)": (
        np.array([0.5, -0.5, 2.0]), [_rng(29).standard_normal(3) for _ in range(4)],
        {"lr": 0.1, "beta1": 0.5, "beta2": 0.9, "eps": 0.1}),
}


def _adam_test(case: str):
    def test(functions, drawn=None):
        param, grads, hyper = drawn if drawn is not None else _ADAM_FIXED[case]
        expected = _tinymin_adam(param, grads, hyper)
        theta, m, v = param.copy(), np.zeros_like(param), np.zeros_like(param)
        for step, (grad, want) in enumerate(zip(grads, expected), start=1):
            inputs = {"param": theta, "grad": grad, "m": m, "v": v, "step": step, **hyper}
            obtained = call(case, ADAM_HINT, inputs, functions["adam_step"], theta.copy(), grad.copy(),
                            m.copy(), v.copy(), step, hyper["lr"], hyper["beta1"], hyper["beta2"],
                            hyper["eps"])
            if not isinstance(obtained, tuple) or len(obtained) != 3:
                fail(case, inputs, "(param, m, v)", obtained, "return a triple (param, m, v)")
            expect_close(case, ADAM_HINT, inputs, want, obtained[0], rtol=1e-9, atol=1e-12,
                         what=f"param after step {step}")
            theta, m, v = (np.asarray(a, dtype=np.float64) for a in obtained)
    return test


def _adam_runs(st, hnp):
    @st.composite
    def draw(data):
        size, steps = data(st.integers(1, 4)), data(st.integers(1, 6))
        param = data(hnp.arrays(np.float64, size, elements=_floats(st)))
        grads = [data(hnp.arrays(np.float64, size, elements=_floats(st))) for _ in range(steps)]
        hyper = {"lr": data(st.sampled_from([1e-3, 0.01, 0.1])),
                 "beta1": data(st.sampled_from([0.0, 0.5, 0.9])),
                 "beta2": data(st.sampled_from([0.9, 0.99, 0.999])),
                 "eps": data(st.sampled_from([1e-8, 1e-3]))}
        return param, grads, hyper
    return draw()


def adam_cases() -> list[Case]:
    """``adam``: fixed runs, then random ones."""
    st, hnp = _strategies()
    return _fixed_then_random(_ADAM_FIXED, _adam_test, ADAM_HINT, "random runs (hypothesis)",
                              _adam_runs(st, hnp), max_examples=40)


# ============================================================ tinymin's own answers
def _reference_im2col(x, kernel_size, stride=1, padding=0):
    return _ext.im2col(np.ascontiguousarray(x), kernel_size, stride, padding)


def _reference_min_gemm(cols, w_hat):
    return _ext.min_gemm(np.ascontiguousarray(cols), np.ascontiguousarray(w_hat))


def _reference_adam_step(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """``tinymin.optim.Adam.step`` from a given state (PyTorch's state names)."""
    weight = tm.nn.Parameter(np.array(param, dtype=np.float64))
    optimizer = tm.optim.Adam([weight], lr=lr, betas=(beta1, beta2), eps=eps)
    optimizer.state[weight].update(step=step - 1, exp_avg=np.array(m, dtype=np.float64),
                                   exp_avg_sq=np.array(v, dtype=np.float64))
    weight.grad = np.array(grad, dtype=np.float64)
    optimizer.step()
    state = optimizer.state[weight]
    return weight.data.copy(), state["exp_avg"].copy(), state["exp_avg_sq"].copy()


def reference_functions(name: str) -> dict[str, Callable]:
    """tinymin's own answer to exercise ``name``, in the exercise's signature."""
    answers: dict[str, dict[str, Callable]] = {
        "sum_to": {"sum_to": tinymin_sum_to},
        "matmul_backward": {"matmul_backward": _tinymin_matmul_grads},
        "im2col": {"im2col": _reference_im2col},
        "min_gemm": {"min_gemm": _reference_min_gemm},
        "clip_and_rescale": {"clip": minconv.step3_clip, "rescale": minconv.step4_rescale,
                             "through_clip": minconv.step7_through_clip},
        "adam": {"adam_step": _reference_adam_step},
    }
    return answers[name]
