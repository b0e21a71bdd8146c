"""The cases of ``torch_clip``, against the numpy twin of the torch step,
``tinymin.minconv.functional.step3_clip`` (the exercises sit beside ``tinymin.torch`` in
the layers and do not import it; the tests check that ``tinymin.torch``'s own
``step3_clip`` passes these cases). Skipped where torch is missing."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tinymin.exercises.checker import Case, CaseSkipped, call, expect_close, fail
from tinymin.exercises.common import floats, rng, strategies
from tinymin.minconv import functional as minconv

HINTS = {
    "clip a batch": "float64 inputs, some far beyond the bound",
    "values exactly on the bound": "an entry exactly on T * mu counts as inside",
    "float32 stays float32": "a float32 tensor: the answer keeps a's dtype",
    "per-channel mu": "mu of shape (C, 1, 1, 1), one scale per filter",
    "no clip (clip_value None)": "clip_value None: a itself and no mask",
    "autograd sees the clip": "the gradient of sum(a_c * g) with respect to a is g * inside",
    "random tensors (hypothesis)": "any tensor, mu and bound: the numbers of tinymin's numpy step 3",
}


def _torch():
    try:
        import torch
    except ImportError:
        raise CaseSkipped('torch is not installed (pip install -e ".[torch]")') from None
    return torch


def _on_the_bound() -> tuple[np.ndarray, float, float]:
    a = np.array([[2.0, -2.0, 1.0, -3.0, 0.5]])
    return a, 1.0, 2.0  # |2| = T * mu exactly


_FIXED: dict[str, Callable[[], tuple[Any, Any, Any, Any]]] = {
    "clip a batch": lambda: (rng(100).standard_normal((2, 3, 4, 4)) * 3, 1.2, 1.5, np.float64),
    "values exactly on the bound": lambda: (*_on_the_bound(), np.float64),
    "float32 stays float32": lambda: (rng(101).standard_normal((2, 3)) * 4, 0.9, 2.0, np.float32),
    "per-channel mu": lambda: (rng(102).standard_normal((3, 2, 2, 2)) * 3,
                               np.array([0.5, 1.0, 2.0]).reshape(3, 1, 1, 1), 1.0, np.float64),
    "no clip (clip_value None)": lambda: (rng(103).standard_normal((2, 2)), 1.0, None, np.float64),
}


def _expect(case: str, inputs: dict, expected: tuple, obtained: Any, a) -> None:
    """``expected``: numpy's (a_c, inside); ``a``: the tensor the learner was given."""
    torch = _torch()
    hint = HINTS[case]
    if not isinstance(obtained, tuple) or len(obtained) != 2:
        fail(case, inputs, "(a_c, inside)", obtained, "return a pair (a_c, inside)", hint)
    a_c, inside = obtained
    if not isinstance(a_c, torch.Tensor):
        fail(case, inputs, "a torch.Tensor", a_c, f"a_c is a {type(a_c).__name__}, not a torch.Tensor", hint)
    if a_c.dtype != a.dtype:
        fail(case, inputs, a.dtype, a_c.dtype, f"a_c: dtype {a_c.dtype}, expected {a.dtype}", hint)
    expect_close(case, hint, inputs, expected[0], a_c.detach().numpy(), rtol=1e-6, what="a_c")
    if expected[1] is None:
        if inside is not None:
            fail(case, inputs, None, inside, "inside: expected None when clip_value is None", hint)
        if a_c is not a:
            fail(case, inputs, "a itself", "a new tensor", "a_c: return a itself when nothing is clipped",
                 hint)
        return
    if not isinstance(inside, torch.Tensor) or inside.dtype != torch.bool:
        fail(case, inputs, "a bool tensor", inside, "inside: not a bool torch.Tensor", hint)
    if inside.shape != expected[1].shape or not np.array_equal(inside.numpy(), expected[1]):
        fail(case, inputs, expected[1], inside.numpy(), "inside: wrong mask", hint)


def _test(case: str):
    def test(functions, drawn=None):
        torch = _torch()
        a, mu, clip_value, dtype = drawn if drawn is not None else _FIXED[case]()
        a = np.array(a, dtype=dtype)
        inputs = {"a": a, "mu": mu, "clip_value": clip_value}
        expected = minconv.step3_clip(a.copy(), mu, clip_value)  # tinymin's numpy step 3
        ta = torch.from_numpy(a.copy())
        tmu = torch.tensor(mu, dtype=ta.dtype)  # mu in a's dtype, as tinymin.torch keeps it
        obtained = call(case, HINTS[case], inputs, functions["step3_clip"], ta, tmu, clip_value)
        _expect(case, inputs, expected, obtained, ta)
    return test


def _autograd(functions):
    case = "autograd sees the clip"
    torch = _torch()
    a = torch.tensor(rng(104).standard_normal((3, 4)) * 3, requires_grad=True)
    g = torch.tensor(rng(105).standard_normal((3, 4)))
    inputs = {"a": a.detach().numpy(), "mu": 1.0, "clip_value": 1.5, "g": g.numpy()}
    obtained = call(case, HINTS[case], inputs, functions["step3_clip"], a, torch.tensor(1.0), 1.5)
    if not isinstance(obtained, tuple) or len(obtained) != 2 or not isinstance(obtained[0], torch.Tensor):
        fail(case, inputs, "(a_c, inside)", obtained, "return a pair (a_c, inside) of tensors", HINTS[case])
    if not obtained[0].requires_grad:
        fail(case, inputs, "a_c in the autograd graph", "a detached tensor",
             "a_c does not require grad: autograd cannot see the clip", HINTS[case])
    (obtained[0] * g).sum().backward()
    expected = (g * (a.detach().abs() <= 1.5)).numpy()
    expect_close(case, HINTS[case], inputs, expected, a.grad.numpy(), what="the gradient of a")


def _tensors(st, hnp):
    @st.composite
    def draw(data):
        a = data(hnp.arrays(np.float64, data(hnp.array_shapes(max_dims=3, max_side=4)), elements=floats(st)))
        return a, data(st.sampled_from([0.5, 1.0, 2.5])), data(st.sampled_from([0.5, 1.0, 4.0])), np.float64
    return draw()


def cases() -> list[Case]:
    """Fixed tensors, autograd, then random tensors against the numpy step."""
    st, hnp = strategies()
    try:  # import torch now, while the cases are built: not within the first case's time limit
        _torch()
    except CaseSkipped:
        pass  # each case says it is skipped
    found = [Case(name, _test(name), HINTS[name]) for name in _FIXED]
    found.append(Case("autograd sees the clip", _autograd, HINTS["autograd sees the clip"]))
    name = "random tensors (hypothesis)"
    found.append(Case(name, _test(name), HINTS[name], strategy=_tensors(st, hnp), max_examples=30))
    return found


