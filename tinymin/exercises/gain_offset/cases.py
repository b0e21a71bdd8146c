"""The cases of ``gain_offset``, against tinymin's ``fit_gain_offset``."""

from __future__ import annotations

from typing import Callable

import numpy as np

from tinymin.exercises.checker import Case, call, expect_close, fail
from tinymin.exercises.common import floats, rng, strategies
from tinymin.minconv.calibrate import fit_gain_offset

HINTS = {
    "an exact affine relation is recovered": "target = 2 * approx - 1 exactly: gain 2, offset -1",
    "one gain and offset per channel": "each channel has its own relation",
    "a constant channel": "approx is constant in channel 1: gain 1 there",
    "one shared gain (per_channel=False)": "one gain for all channels, offsets still per channel",
    "random layers (hypothesis)": "any outputs, both kinds of fit",
    "the residual is orthogonal (normal equations)": "at the least-squares optimum the residual "
                                                     "t - g s - o sums to 0 and is orthogonal to s",
}


def _affine() -> tuple[np.ndarray, np.ndarray, bool]:
    s = rng(50).standard_normal((3, 1, 2, 2))
    return s, 2.0 * s - 1.0, True


def _per_channel() -> tuple[np.ndarray, np.ndarray, bool]:
    s = rng(51).standard_normal((4, 3, 2, 2))
    return s, s * np.array([0.5, -1.0, 3.0])[None, :, None, None] + rng(52).standard_normal(s.shape), True


def _constant_channel() -> tuple[np.ndarray, np.ndarray, bool]:
    s, t, _ = _per_channel()
    s[:, 1] = 0.7
    return s, t, True


def _shared() -> tuple[np.ndarray, np.ndarray, bool]:
    s, t, _ = _per_channel()
    return s, t, False


_FIXED = {"an exact affine relation is recovered": _affine, "one gain and offset per channel": _per_channel,
          "a constant channel": _constant_channel, "one shared gain (per_channel=False)": _shared}


def _fit(case: str, functions, approx, target, per_channel):
    inputs = {"approx": approx, "target": target, "per_channel": per_channel}
    obtained = call(case, HINTS[case], inputs, functions["fit_gain_offset"], approx.copy(), target.copy(),
                    per_channel)
    if not isinstance(obtained, tuple) or len(obtained) != 2:
        fail(case, inputs, "(gain, offset)", obtained, "return a pair (gain, offset)", HINTS[case])
    return inputs, obtained


def _test(case: str):
    def test(functions, drawn=None):
        approx, target, per_channel = drawn if drawn is not None else _FIXED[case]()
        inputs, obtained = _fit(case, functions, approx, target, per_channel)
        for what, expected, got in zip(("gain", "offset"), fit_gain_offset(approx, target, per_channel),
                                       obtained):
            expect_close(case, HINTS[case], inputs, expected, got, rtol=1e-6, atol=1e-9, what=what)
    return test


def _normal_equations(functions):
    case = "the residual is orthogonal (normal equations)"
    approx, target, _ = _per_channel()
    inputs, (gain, offset) = _fit(case, functions, approx, target, True)
    gain, offset = np.asarray(gain, dtype=np.float64), np.asarray(offset, dtype=np.float64)
    if gain.shape != (3,) or offset.shape != (3,):
        fail(case, inputs, "shapes (3,) and (3,)", (gain.shape, offset.shape),
             f"gain of shape {gain.shape}, offset of shape {offset.shape}, expected (3,) each", HINTS[case])
    residual = target - gain[None, :, None, None] * approx - offset[None, :, None, None]
    expect_close(case, HINTS[case], inputs, np.zeros(3), residual.sum(axis=(0, 2, 3)), atol=1e-8,
                 what="sum of the residual per channel")
    expect_close(case, HINTS[case], inputs, np.zeros(3), (residual * approx).sum(axis=(0, 2, 3)), atol=1e-8,
                 what="sum of residual * approx per channel")


def _layers(st, hnp):
    @st.composite
    def draw(data):
        shape = (data(st.integers(1, 3)), data(st.integers(1, 3)), data(st.integers(1, 3)),
                 data(st.integers(1, 3)))
        approx = data(hnp.arrays(np.float64, shape, elements=floats(st, 5.0)))
        target = data(hnp.arrays(np.float64, shape, elements=floats(st, 5.0)))
        approx.flat[0] += 1.0  # not all constant in the common case; constant channels still occur
        return approx, target, data(st.booleans())
    return draw()


def cases() -> list[Case]:
    """Fixed fits, random ones, then the normal equations of least squares."""
    st, hnp = strategies()
    found = [Case(name, _test(name), HINTS[name]) for name in _FIXED]
    found.append(Case("random layers (hypothesis)", _test("random layers (hypothesis)"),
                      HINTS["random layers (hypothesis)"], strategy=_layers(st, hnp), max_examples=40))
    name = "the residual is orthogonal (normal equations)"
    found.append(Case(name, _normal_equations, HINTS[name]))
    return found


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {"fit_gain_offset": fit_gain_offset}
