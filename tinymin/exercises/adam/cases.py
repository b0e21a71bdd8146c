"""The cases of ``adam``, against ``tinymin.optim.Adam``."""

from __future__ import annotations

from typing import Callable

import numpy as np

import tinymin as tm
from tinymin.exercises.checker import Case, call, expect_close, fail
from tinymin.exercises.common import fixed_then_random, floats, rng, strategies

HINTS = {
    "first step": "step 1 from m = v = 0: the bias correction matters most here",
    "ten steps (bias correction still matters)": "your m and v are fed back: the averages must carry over",
    "a zero gradient": "a zero gradient still moves the parameter (the averages remember)",
    "other hyperparameters (lr, betas, eps)": "lr, beta1, beta2 and eps all come from the arguments",
    "random runs (hypothesis)": "any run of a few steps",
}

DEFAULTS = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
_FIXED = {
    "first step": (np.array([1.0, -2.0, 0.5]), [np.array([0.3, -4.0, 1e-3])], DEFAULTS),
    "ten steps (bias correction still matters)": (
        np.array([1.0, 2.0]), [rng(28).standard_normal(2) for _ in range(10)], DEFAULTS),
    "a zero gradient": (np.array([1.0, 2.0]), [np.array([1.0, -1.0]), np.zeros(2)], DEFAULTS),
    "other hyperparameters (lr, betas, eps)": (
        np.array([0.5, -0.5, 2.0]), [rng(29).standard_normal(3) for _ in range(4)],
        {"lr": 0.1, "beta1": 0.5, "beta2": 0.9, "eps": 0.1}),
}


def _tinymin_adam(param: np.ndarray, grads: list[np.ndarray], hyper: dict[str, float]) -> list[np.ndarray]:
    """The parameter after each step of ``tinymin.optim.Adam`` fed ``grads``."""
    weight = tm.nn.Parameter(np.array(param, dtype=np.float64))
    optimizer = tm.optim.Adam([weight], lr=hyper["lr"], betas=(hyper["beta1"], hyper["beta2"]),
                              eps=hyper["eps"])
    history = []
    for grad in grads:
        weight.grad = tm.tensor(grad, dtype=np.float64)
        optimizer.step()
        history.append(weight.numpy().copy())
    return history


def _test(case: str):
    def test(functions, drawn=None):
        param, grads, hyper = drawn if drawn is not None else _FIXED[case]
        expected = _tinymin_adam(param, grads, hyper)
        theta, m, v = param.copy(), np.zeros_like(param), np.zeros_like(param)
        for step, (grad, want) in enumerate(zip(grads, expected), start=1):
            inputs = {"param": theta, "grad": grad, "m": m, "v": v, "step": step, **hyper}
            given = {"param": theta.copy(), "grad": grad.copy(), "m": m.copy(), "v": v.copy()}
            obtained = call(case, HINTS[case], inputs, functions["adam_step"], *given.values(), step,
                            hyper["lr"], hyper["beta1"], hyper["beta2"], hyper["eps"])
            _expect_inputs_unchanged(case, inputs, given)
            if not isinstance(obtained, tuple) or len(obtained) != 3:
                fail(case, inputs, "(param, m, v)", obtained, "return a triple (param, m, v)", HINTS[case])
            expect_close(case, HINTS[case], inputs, want, obtained[0], rtol=1e-9, atol=1e-12,
                         what=f"param after step {step}")
            theta, m, v = (np.asarray(a, dtype=np.float64) for a in obtained)
    return test


def _expect_inputs_unchanged(case: str, inputs: dict, given: dict) -> None:
    """The docstring's promise: new arrays returned, the arguments left as they were (a
    caller such as the milestone's optimizer still holds them)."""
    for name, array in given.items():
        if not np.array_equal(array, inputs[name], equal_nan=True):
            fail(case, inputs, f"{name} unchanged", f"{name} changed in place",
                 f"adam_step changed its argument {name} in place: compute new arrays "
                 "(m = beta1 * m + ..., not m *= beta1) and leave the inputs unchanged",
                 HINTS[case])


def _runs(st, hnp):
    @st.composite
    def draw(data):
        size, steps = data(st.integers(1, 4)), data(st.integers(1, 6))
        param = data(hnp.arrays(np.float64, size, elements=floats(st)))
        grads = [data(hnp.arrays(np.float64, size, elements=floats(st))) for _ in range(steps)]
        hyper = {"lr": data(st.sampled_from([1e-3, 0.01, 0.1])),
                 "beta1": data(st.sampled_from([0.0, 0.5, 0.9])),
                 "beta2": data(st.sampled_from([0.9, 0.99, 0.999])),
                 "eps": data(st.sampled_from([1e-8, 1e-3]))}
        return param, grads, hyper
    return draw()


def cases() -> list[Case]:
    """Fixed runs, then random ones."""
    st, hnp = strategies()
    return fixed_then_random(_FIXED, _test, HINTS, "random runs (hypothesis)", _runs(st, hnp),
                             max_examples=40)


def _tinymin_adam_step(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """``tinymin.optim.Adam.step`` from a given state (PyTorch's state names)."""
    weight = tm.nn.Parameter(np.array(param, dtype=np.float64))
    optimizer = tm.optim.Adam([weight], lr=lr, betas=(beta1, beta2), eps=eps)
    optimizer.state[weight].update(step=step - 1, exp_avg=np.array(m, dtype=np.float64),
                                   exp_avg_sq=np.array(v, dtype=np.float64))
    weight.grad = tm.tensor(grad, dtype=np.float64)
    optimizer.step()
    state = optimizer.state[weight]
    return weight.numpy().copy(), state["exp_avg"].copy(), state["exp_avg_sq"].copy()


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {"adam_step": _tinymin_adam_step}
