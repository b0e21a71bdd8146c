"""The cases of ``clip_and_rescale``, against steps 3, 4 and 7 of a ``MinConv2d`` layer
as ``tinymin.trace()`` records them."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import tinymin as tm
from tinymin import nn
from tinymin.exercises.checker import Case, call, expect_close, fail, numeric_gradient
from tinymin.exercises.common import floats, rng, strategies
from tinymin.minconv import functional as minconv

HINTS = {
    "step 3: clip x": "the inputs, some far beyond the bound",
    "step 3: values exactly on the bound": "one entry sits exactly on the bound T * mu",
    "step 3: clip w": "the weights, with their own mean magnitude",
    "step 4: rescale": "after step 4 the weights have the inputs' mean magnitude",
    "step 7: through the clip": "the gradient of the clipped operand, back to the operand",
    "random layers (hypothesis)": "steps 3, 4 and 7 of random layers and bounds",
    "gradient check: step 7 is the derivative of step 3": "the mask against central differences of the clip",
    "no clip (clip_value None)": "clip_value None clips nothing: step 3 gives (a, None), step 7 the "
                                 "gradient as it is",
}


def _algorithm1_steps(x: np.ndarray, w: np.ndarray, clip_value: float) -> dict[str, Any]:
    """Steps 1-7 of one min_conv2d call, forward and backward, read from ``tinymin.trace()``."""
    layer = nn.MinConv2d(w.shape[1], w.shape[0], w.shape[2:], bias=False, clip_value=clip_value)
    layer.weight = nn.Parameter(np.array(w, dtype=np.float64))  # float64, as the learner's arrays
    layer.train()  # mu_x is the batch's own mean |x|
    tx = tm.tensor(x, requires_grad=True, dtype=np.float64)
    with tm.trace(keep_arrays=True) as steps:
        y = layer(tx)
        y.backward(rng(25).standard_normal(y.shape))
    values: dict[str, Any] = {}
    for record in steps:
        for name, summary in record.values.items():
            values[name] = summary["array"] if "array" in summary else summary["value"]
    return values


def _operands(seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = rng(seed)
    x = generator.standard_normal((2, 2, 4, 4))
    w = generator.standard_normal((3, 2, 3, 3))
    x.flat[:3] = [9.0, -12.0, 7.5]  # far beyond T * mean|x|: clipped
    w.flat[:2] = [6.0, -8.0]
    return x, w


def _operands_on_the_bound() -> tuple[np.ndarray, np.ndarray]:
    """x with mean|x| = 1 exactly and one entry exactly on the bound T * mu = 2 (T = 2)."""
    x = rng(30).choice([-0.5, 0.5], size=(2, 2, 4, 4))  # 64 entries, exact in binary
    x.flat[:3] = [9.0, -12.0, 11.0]  # clipped; with 60 x 0.5 and the 2 below: sum |x| = 64
    x.flat[3] = 2.0  # = T * mean|x|, as 9 + 12 + 11 + 2 + 60 * 0.5 = 64 = 64 entries * 1
    return x, _operands(31)[1]


def _expect_clip(case: str, inputs: dict, a_c: np.ndarray, inside: np.ndarray, obtained: Any) -> None:
    hint = HINTS[case]
    if not isinstance(obtained, tuple) or len(obtained) != 2:
        fail(case, inputs, "(a_c, inside)", obtained, "return a pair (a_c, inside)", hint)
    expect_close(case, hint, inputs, a_c, obtained[0], what="a_c")
    got_inside = np.asarray(obtained[1])
    if got_inside.shape != inside.shape or not np.array_equal(got_inside.astype(bool), inside):
        fail(case, inputs, inside, got_inside, "inside: wrong mask", hint)


def _test(case: str, what: str):
    def test(functions, drawn=None):
        if drawn is None:
            x, w, clip_value = (*_operands_on_the_bound(), 2.0) if what == "bound" else (*_operands(26), 1.5)
        else:
            x, w, clip_value = drawn
        steps = _algorithm1_steps(x, w, clip_value)
        hint = HINTS[case]
        if what in ("x", "bound", "all"):
            inputs = {"a": x, "mu": steps["mu_x"], "clip_value": clip_value}
            obtained = call(case, hint, inputs, functions["step3_clip"], x.copy(), steps["mu_x"], clip_value)
            _expect_clip(case, inputs, steps["x_c"], steps["x_inside"], obtained)
        if what in ("w", "all"):
            inputs = {"a": w, "mu": steps["mu_w"], "clip_value": clip_value}
            obtained = call(case, hint, inputs, functions["step3_clip"], w.copy(), steps["mu_w"], clip_value)
            _expect_clip(case, inputs, steps["w_c"], steps["w_inside"], obtained)
        if what in ("rescale", "all"):
            inputs = {"w_c": steps["w_c"], "mu_x": steps["mu_x"], "mu_w": steps["mu_w"]}
            obtained = call(case, hint, inputs, functions["step4_rescale"], steps["w_c"].copy(),
                            steps["mu_x"], steps["mu_w"])
            expect_close(case, hint, inputs, steps["w_hat"], obtained)
        if what in ("through", "all"):
            for grad, inside, expected in (("dx_c", "x_inside", "dx"), ("dw_c", "w_inside", "dw")):
                inputs = {"grad": steps[grad], "inside": steps[inside]}
                obtained = call(case, hint, inputs, functions["step7_through_clip"], steps[grad].copy(),
                                steps[inside].copy())
                expect_close(case, hint, inputs, steps[expected], obtained)
    return test


def _derivative(functions, drawn):
    """Gradient check: step 7's mask is the derivative of step 3's clip (away from the bound)."""
    case = "gradient check: step 7 is the derivative of step 3"
    hint = HINTS[case]
    a, mu, clip_value = drawn
    grad = rng(27).standard_normal(a.shape)
    inputs = {"a": a, "mu": mu, "clip_value": clip_value, "grad": grad}
    clipped = call(case, hint, inputs, functions["step3_clip"], a.copy(), mu, clip_value)
    if not isinstance(clipped, tuple) or len(clipped) != 2:
        fail(case, inputs, "(a_c, inside)", clipped, "return a pair (a_c, inside)", hint)
    obtained = call(case, hint, inputs, functions["step7_through_clip"], grad.copy(),
                    np.asarray(clipped[1]).copy())

    def loss(a_):
        out = call(case, hint, inputs, functions["step3_clip"], a_.copy(), mu, clip_value)
        return float(np.sum(grad * out[0]))

    expect_close(case, hint, inputs, numeric_gradient(loss, a), obtained, rtol=1e-5, atol=1e-6,
                 what="d/da sum(grad * clip(a))")


def _no_clip(functions):
    case = "no clip (clip_value None)"
    hint = HINTS[case]
    a, grad = rng(32).standard_normal((2, 3)), rng(33).standard_normal((2, 3))
    inputs = {"a": a, "mu": 0.8, "clip_value": None}
    obtained = call(case, hint, inputs, functions["step3_clip"], a.copy(), 0.8, None)
    if not isinstance(obtained, tuple) or len(obtained) != 2 or obtained[1] is not None:
        fail(case, inputs, "(a, None)", obtained, "step 3 with clip_value None: return (a, None)", hint)
    expect_close(case, hint, inputs, a, obtained[0], what="a_c")
    inputs = {"grad": grad, "inside": None}
    obtained = call(case, hint, inputs, functions["step7_through_clip"], grad.copy(), None)
    expect_close(case, hint, inputs, grad, obtained, what="step 7 with inside None")


def _layers(st, hnp):
    @st.composite
    def draw(data):
        x = data(hnp.arrays(np.float64, (1, 2, 3, 3), elements=floats(st)))
        w = data(hnp.arrays(np.float64, (2, 2, 2, 2), elements=floats(st)))
        x.flat[0], w.flat[0] = 1.0, 1.0  # mean magnitudes above zero
        return x, w, data(st.sampled_from([0.5, 1.0, 2.0, 4.0]))
    return draw()


def _away_from_bound(st, hnp):
    """(a, mu, T) with no entry within 1e-3 of the bound, where the clip has no derivative."""
    @st.composite
    def draw(data):
        mu, clip_value = data(st.sampled_from([0.5, 1.0, 2.0])), data(st.sampled_from([0.5, 1.0, 2.0]))
        a = data(hnp.arrays(np.float64, data(hnp.array_shapes(max_dims=2, max_side=4)),
                            elements=floats(st, 5.0).filter(lambda v: abs(abs(v) - mu * clip_value) > 1e-3)))
        return a, mu, clip_value
    return draw()


def cases() -> list[Case]:
    """Steps 3, 4 and 7 on fixed layers, random ones, then step 7 against the derivative of step 3."""
    st, hnp = strategies()
    fixed = [("step 3: clip x", "x"), ("step 3: values exactly on the bound", "bound"),
             ("step 3: clip w", "w"),
             ("step 4: rescale", "rescale"), ("step 7: through the clip", "through")]
    found = [Case(name, _test(name, what), HINTS[name]) for name, what in fixed]
    found.append(Case("no clip (clip_value None)", _no_clip, HINTS["no clip (clip_value None)"]))
    found.append(Case("random layers (hypothesis)", _test("random layers (hypothesis)", "all"),
                      HINTS["random layers (hypothesis)"], strategy=_layers(st, hnp), max_examples=25))
    name = "gradient check: step 7 is the derivative of step 3"
    found.append(Case(name, _derivative, HINTS[name], strategy=_away_from_bound(st, hnp), max_examples=25))
    return found


def reference() -> dict[str, Callable]:
    """tinymin's own answer: the named steps of ``tinymin/minconv/functional.py``."""
    return {"step3_clip": minconv.step3_clip, "step4_rescale": minconv.step4_rescale,
            "step7_through_clip": minconv.step7_through_clip}
