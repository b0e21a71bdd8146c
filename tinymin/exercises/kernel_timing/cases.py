"""The cases of ``kernel_timing``, against ``tinymin._ext.twins.compare_to_twin``.

Timings are made exact with a virtual clock: the fake kernel and twin move it forward
by scripted durations, so the medians a correct answer returns are known.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from tinymin import _ext
from tinymin._ext import reference as numpy_twins
from tinymin._ext.twins import compare_to_twin
from tinymin.exercises.checker import Case, call, expect_close, fail
from tinymin.exercises.common import rng, strategies

HINTS = {
    "medians of the timed calls": "one slow outlier among the timed calls",
    "the warm-up call is not timed": "the first call of each is very slow",
    "rounds alternate kernel and twin": "the order of the calls: warm-up, then rounds",
    "disagreeing answers raise ValueError": "a twin that computes something else, or another shape",
    "tinymin's min_gemm against its twin": "the real Cython kernel and its numpy twin, real clock",
    "random timings (hypothesis)": "random durations and repeats",
}
KEYS = ("kernel_seconds", "twin_seconds", "speedup", "max_abs_difference")


class VirtualClock:
    """A clock that only the fake functions move: each call takes a scripted duration."""

    def __init__(self) -> None:
        self.now, self.calls = 0.0, []

    def __call__(self) -> float:
        return self.now

    def function(self, label: str, durations: list[float], answer: np.ndarray) -> Callable:
        pending = list(durations)

        def run(*args):
            self.calls.append(label)
            self.now += pending.pop(0) if pending else durations[-1]
            return answer.copy()
        run.__name__ = label
        return run


_ANSWER = rng(90).standard_normal((3, 2))
_FIXED = {  # durations of the kernel's and the twin's calls, warm-up first, and repeats
    "medians of the timed calls": ([0.5, 1.0, 2.0, 9.0, 1.0, 3.0], [0.7, 4.0, 4.0, 5.0, 100.0, 4.0], 5),
    "the warm-up call is not timed": ([1000.0, 1.0, 1.0, 1.0], [1000.0, 3.0, 3.0, 3.0], 3),
    "rounds alternate kernel and twin": ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], 2),
}


def _run(function: Callable, durations: tuple[list[float], list[float], int],
         twin_answer: np.ndarray = _ANSWER) -> tuple[Any, list[str]]:
    kernel_durations, twin_durations, repeats = durations
    clock = VirtualClock()
    kernel = clock.function("kernel", kernel_durations, _ANSWER)
    twin = clock.function("twin", twin_durations, twin_answer)
    return function(kernel, twin, (np.zeros(2),), repeats, clock), clock.calls


def _expect_row(case: str, inputs: dict, expected: dict, obtained: Any) -> None:
    if not isinstance(obtained, dict) or not set(KEYS) <= set(obtained):
        fail(case, inputs, f"a dict with keys {KEYS}", obtained, f"return a dict with keys {', '.join(KEYS)}",
             HINTS[case])
    for key in KEYS:
        expect_close(case, HINTS[case], inputs, expected[key], obtained[key], rtol=1e-9, atol=1e-12, what=key)


def _test(case: str):
    def test(functions, drawn=None):
        durations = drawn if drawn is not None else _FIXED[case]
        inputs = {"kernel durations": durations[0], "twin durations": durations[1], "repeats": durations[2]}
        expected, expected_calls = _run(compare_to_twin, durations)
        obtained, calls = _run(lambda *a: call(case, HINTS[case], inputs, functions["compare_to_twin"], *a),
                               durations)
        if calls != expected_calls:
            fail(case, inputs, expected_calls, calls, f"the calls went {' '.join(calls)}", HINTS[case])
        _expect_row(case, inputs, expected, obtained)
    return test


def _disagree(functions):
    case = "disagreeing answers raise ValueError"
    for what, answer in (("other values", _ANSWER + 0.5), ("another shape", _ANSWER.T.copy())):
        inputs = {"twin answer": what}
        try:
            obtained, _ = _run(functions["compare_to_twin"], ([1.0], [1.0], 2), twin_answer=answer)
        except ValueError:
            continue
        except Exception as err:  # noqa: BLE001 (a learner's error of another type)
            fail(case, inputs, "ValueError", f"{type(err).__name__}: {err}",
                 f"{what}: raised {type(err).__name__}, expected ValueError", HINTS[case], kind="error")
        fail(case, inputs, "ValueError", obtained, f"{what}: returned instead of raising ValueError",
             HINTS[case])


def _real_kernels(functions):
    case = "tinymin's min_gemm against its twin"
    cols, w_hat = rng(91).standard_normal((256, 75)), rng(92).standard_normal((6, 75))
    inputs = {"cols": cols, "w_hat": w_hat, "repeats": 3}
    row = call(case, HINTS[case], inputs, functions["compare_to_twin"], _ext.min_gemm, numpy_twins.min_gemm,
               (cols, w_hat), 3, time.perf_counter)
    if not isinstance(row, dict) or not set(KEYS) <= set(row):
        fail(case, inputs, f"a dict with keys {KEYS}", row, f"return a dict with keys {', '.join(KEYS)}",
             HINTS[case])
    if not (row["kernel_seconds"] > 0 and row["twin_seconds"] > 0):
        fail(case, inputs, "positive times", row, "the measured times are not positive", HINTS[case])
    expect_close(case, HINTS[case], inputs, row["twin_seconds"] / row["kernel_seconds"], row["speedup"],
                 what="speedup")
    if not 0 <= row["max_abs_difference"] < 1e-9:
        fail(case, inputs, "a difference below 1e-9", row["max_abs_difference"],
             "max_abs_difference: not the largest |kernel - twin|", HINTS[case])


def _timings(st, hnp):
    @st.composite
    def draw(data):
        repeats = data(st.integers(1, 6))
        duration = st.floats(0.0, 10.0, allow_nan=False)
        kernel = data(st.lists(duration, min_size=repeats + 1, max_size=repeats + 1))
        twin = data(st.lists(duration, min_size=repeats + 1, max_size=repeats + 1))
        return kernel, twin, repeats
    return draw()


def cases() -> list[Case]:
    """Scripted timings, disagreeing answers, the real kernel, then random timings."""
    st, hnp = strategies()
    found = [Case(name, _test(name), HINTS[name]) for name in _FIXED]
    found.append(Case("disagreeing answers raise ValueError", _disagree,
                      HINTS["disagreeing answers raise ValueError"]))
    found.append(Case("tinymin's min_gemm against its twin", _real_kernels,
                      HINTS["tinymin's min_gemm against its twin"]))
    found.append(Case("random timings (hypothesis)", _test("random timings (hypothesis)"),
                      HINTS["random timings (hypothesis)"], strategy=_timings(st, hnp), max_examples=40))
    return found


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {"compare_to_twin": compare_to_twin}


