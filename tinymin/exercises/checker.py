"""The grading machinery shared by every exercise: cases, comparisons, gradient checks.

An exercise's check is a list of :class:`Case`: a name, a test that calls the learner's
function and compares it with tinymin's own, optionally a hypothesis strategy that
draws the test's inputs, and a one-line hint. :func:`run_cases` runs them in order and
returns a :class:`Report`. A test signals a wrong answer by raising :class:`CaseFailed`
(through :func:`expect_close`, :func:`call` or :func:`fail`); hypothesis then shrinks the
inputs to a small example before the report shows it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

NOT_WRITTEN = "NotImplementedError: the body is not written yet"


@dataclass
class Failure:
    """What the learner sees for one failed case."""

    case: str
    inputs: dict[str, Any]
    expected: Any
    obtained: Any
    hint: str


class CaseFailed(AssertionError):
    """Raised inside a case's test when the learner's answer is wrong."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.case}: expected {failure.expected!r}, obtained {failure.obtained!r}")
        self.failure = failure


@dataclass
class Case:
    """One named check. ``test(functions, *drawn)`` raises :class:`CaseFailed` when wrong;
    ``strategy`` (a hypothesis strategy) draws ``drawn``, or None for a fixed case."""

    name: str
    test: Callable[..., None]
    hint: str
    strategy: Any = None
    max_examples: int = 60


@dataclass
class CaseResult:
    """How one case went: ``failure`` is None when it passed."""

    name: str
    failure: Failure | None

    @property
    def passed(self) -> bool:
        return self.failure is None


@dataclass
class Report:
    """The result of checking one exercise: one :class:`CaseResult` per case, in order."""

    exercise: str
    source: str
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[Failure]:
        return [r.failure for r in self.results if r.failure is not None]

    def format(self) -> str:
        lines = [f"exercise {self.exercise}: checking {self.source}"]
        for result in self.results:
            lines.append(f"  {'ok  ' if result.passed else 'FAIL'}  {result.name}")
            if result.failure is not None:
                lines += _format_failure(result.failure)
        failed = len(self.failures)
        if not failed:
            lines.append(f"all {len(self.results)} cases pass")
        elif str(self.failures[0].obtained).startswith(NOT_WRITTEN):
            lines.append("not written yet: the other cases were not run")
        else:
            lines.append(f"{failed} of {len(self.results)} cases failed")
        return "\n".join(lines)


# --------------------------------------------------------------- what a test calls
def fail(case: str, inputs: dict[str, Any], expected: Any, obtained: Any, hint: str) -> None:
    """Fail ``case``: raise :class:`CaseFailed` with what went in, was expected and came out."""
    raise CaseFailed(Failure(case, inputs, expected, obtained, hint))


def call(case: str, hint: str, inputs: dict[str, Any], function: Callable, *args: Any) -> Any:
    """``function(*args)``; an exception in the learner's code becomes a failed case."""
    try:
        return function(*args)
    except CaseFailed:
        raise
    except NotImplementedError:
        fail(case, inputs, "an answer", NOT_WRITTEN,
             f"write the body of {getattr(function, '__name__', 'the function')} (replace the raise)")
    except Exception as err:  # noqa: BLE001 (any error in the learner's code is reported)
        fail(case, inputs, "an answer", f"raised {type(err).__name__}: {err}", hint)
    return None  # unreachable: fail() raises


def expect_close(case: str, hint: str, inputs: dict[str, Any], expected: Any, obtained: Any,
                 rtol: float = 1e-7, atol: float = 1e-10, what: str = "") -> None:
    """Fail unless ``obtained`` is an array of ``expected``'s shape and close values."""
    label = f"{what}: " if what else ""
    if not isinstance(obtained, (np.ndarray, np.generic, float, int)):
        fail(case, inputs, expected, obtained,
             f"{label}return a numpy array, not a {type(obtained).__name__}")
    obtained_array = np.asarray(obtained)
    expected_array = np.asarray(expected)
    if obtained_array.shape != expected_array.shape:
        fail(case, inputs, expected, obtained,
             f"{label}shape {obtained_array.shape}, expected {expected_array.shape}: {hint}")
    if not np.allclose(obtained_array, expected_array, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(obtained_array - expected_array)),
                                 expected_array.shape) if expected_array.ndim else ()
        where = f" (largest difference at index {tuple(int(i) for i in worst)})" if worst else ""
        fail(case, inputs, expected, obtained, f"{label}wrong values{where}: {hint}")


def numeric_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences :math:`(f(x + \\epsilon e_i) - f(x - \\epsilon e_i)) / 2\\epsilon`,
    in float64: the gradient check of :func:`tinymin.gradcheck`, for plain numpy."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        plus = f(x)
        x[index] = saved - eps
        minus = f(x)
        x[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


# --------------------------------------------------------------- running the cases
def run_cases(exercise: str, source: str, cases: Sequence[Case],
              functions: Mapping[str, Callable]) -> Report:
    """Run every case against ``functions`` (the learner's, by name) and report."""
    report = Report(exercise, source)
    for case in cases:
        failure = _run_case(case, functions)
        report.results.append(CaseResult(case.name, failure))
        if failure is not None and str(failure.obtained).startswith(NOT_WRITTEN):
            break  # every other case would say the same
    return report


def _run_case(case: Case, functions: Mapping[str, Callable]) -> Failure | None:
    try:
        if case.strategy is None:
            case.test(functions)
        else:
            _hypothesis_test(case, functions)()
    except CaseFailed as err:
        return err.failure
    return None


def _hypothesis_test(case: Case, functions: Mapping[str, Callable]) -> Callable[[], None]:
    """The case's test under ``@given``: random inputs, and the smallest failing one kept.

    Derandomised (the same examples on every run) and without the example database, so
    a check never depends on what an earlier run found.
    """
    from hypothesis import HealthCheck, Verbosity, given, settings

    @settings(max_examples=case.max_examples, derandomize=True, database=None, deadline=None,
              verbosity=Verbosity.quiet, print_blob=False, report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck))
    @given(case.strategy)
    def test(drawn):
        case.test(functions, drawn)

    return test


# --------------------------------------------------------------- the learner's file
def load_functions(path: str | os.PathLike, names: Sequence[str]) -> dict[str, Callable]:
    """Import the file at ``path`` and return its functions called ``names``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exercise: no file {path}")
    module_name = f"_tinymin_exercise_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"exercise: cannot import {path} (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(module_name, None)
    missing = [name for name in names if not callable(getattr(module, name, None))]
    if missing:
        raise AttributeError(f"exercise: {path} defines no function {', '.join(missing)}")
    return {name: getattr(module, name) for name in names}


# --------------------------------------------------------------- the report
def _format_failure(failure: Failure) -> list[str]:
    pad = " " * 8
    lines = [f"{pad}inputs:"]
    lines += [f"{pad}  {name} = {_show(value, pad + '    ')}" for name, value in failure.inputs.items()]
    lines.append(f"{pad}expected: {_show(failure.expected, pad + '          ')}")
    lines.append(f"{pad}obtained: {_show(failure.obtained, pad + '          ')}")
    lines.append(f"{pad}hint:     {failure.hint}")
    return lines


def _show(value: Any, indent: str) -> str:
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=5, threshold=80, edgeitems=3, max_line_width=100)
        if value.ndim <= 1:
            return f"array{value.shape} {value.dtype} {text}"
        body = "\n".join((indent + line).rstrip() for line in text.splitlines())
        return f"array{value.shape} {value.dtype}\n{body}"
    if isinstance(value, tuple) and any(isinstance(v, np.ndarray) for v in value):
        return "(" + ", ".join(_show(v, indent) for v in value) + ")"
    return repr(value)
