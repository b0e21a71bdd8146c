"""The grading machinery shared by every exercise: cases, comparisons, gradient checks.

An exercise's check is a list of :class:`Case`: a name, a test that calls the learner's
function and compares it with tinymin's own, optionally a hypothesis strategy that
draws the test's inputs, and a one-line hint that says what the case is about (never
the answer). :func:`run_case` runs one case and returns a :class:`Failure` or None. A
test signals a wrong answer by raising :class:`CaseFailed` (through :func:`expect_close`,
:func:`call` or :func:`fail`); hypothesis then shrinks the inputs to a small example.

This module grades functions in the current process. Learner files are graded in a
child process (:mod:`tinymin.exercises.sandbox`), which calls :func:`run_case` there.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

#: Failure kinds: a wrong answer, an error raised by the learner's code, a body still to
#: write, a case over its time limit, a process that died, a case that cannot run here.
KINDS = ("wrong", "error", "not_written", "timeout", "crash", "skipped")


@dataclass
class Failure:
    """What the learner sees for one failed (or skipped) case.

    ``problem`` is one line saying what went wrong; ``hint`` what the case is about.
    """

    case: str
    inputs: dict[str, Any]
    expected: Any
    obtained: Any
    problem: str
    hint: str
    kind: str = "wrong"


class CaseFailed(AssertionError):
    """Raised inside a case's test when the learner's answer is wrong."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.case}: {failure.problem}")
        self.failure = failure


class LoadError(ValueError):
    """A learner's file that cannot be graded: missing, not Python, a function missing."""


class CaseSkipped(Exception):
    """Raised inside a case's test when it cannot run here (say, torch is missing)."""


@dataclass
class Case:
    """One named check. ``test(functions, *drawn)`` raises :class:`CaseFailed` when wrong;
    ``strategy`` (a hypothesis strategy) draws ``drawn``, or None for a fixed case."""

    name: str
    test: Callable[..., None]
    hint: str
    strategy: Any = None
    max_examples: int = 60
    shrink: bool = True  # False where each example is costly (shrinking would run for long)


# --------------------------------------------------------------- what a test calls
def fail(case: str, inputs: dict[str, Any], expected: Any, obtained: Any, problem: str,
         hint: str = "", kind: str = "wrong") -> None:
    """Fail ``case``: raise :class:`CaseFailed` with what went in, was expected and came out."""
    raise CaseFailed(Failure(case, inputs, expected, obtained, problem, hint, kind))


def call(case: str, hint: str, inputs: dict[str, Any], function: Callable, *args: Any,
         **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``; whatever the learner's code raises, even
    ``SystemExit`` or ``KeyboardInterrupt``, becomes a failed case."""
    name = getattr(function, "__name__", "the function")
    try:
        return function(*args, **kwargs)
    except CaseFailed:
        raise
    except NotImplementedError:
        fail(case, inputs, "an answer", "NotImplementedError", f"the body of {name} is not written yet",
             f"write the body of {name} (replace the raise)", kind="not_written")
    except SystemExit as err:
        fail(case, inputs, "an answer", f"SystemExit({err.code!r})",
             f"{name} called sys.exit({err.code!r}): return the answer instead", hint, kind="error")
    except KeyboardInterrupt:
        fail(case, inputs, "an answer", "KeyboardInterrupt", f"{name} raised KeyboardInterrupt", hint,
             kind="error")
    except RecursionError:
        fail(case, inputs, "an answer", "RecursionError",
             f"{name} raised RecursionError: it calls itself without end", hint, kind="error")
    except Exception as err:  # noqa: BLE001 (any error in the learner's code is reported)
        fail(case, inputs, "an answer", f"{type(err).__name__}: {err}",
             f"{name} raised {type(err).__name__}: {_first_line(err)}", hint, kind="error")
    return None  # unreachable: fail() raises


def expect_close(case: str, hint: str, inputs: dict[str, Any], expected: Any, obtained: Any,
                 rtol: float = 1e-7, atol: float = 1e-10, what: str = "") -> None:
    """Fail unless ``obtained`` is an array of ``expected``'s shape and close values
    (NaN where ``expected`` has NaN)."""
    label = f"{what}: " if what else ""
    if not isinstance(obtained, (np.ndarray, np.generic, float, int)) or isinstance(obtained, bool):
        fail(case, inputs, expected, obtained, f"{label}returned a {type(obtained).__name__}, "
             "not a numpy array or number", hint)
    obtained_array = np.asarray(obtained)
    expected_array = np.asarray(expected)
    if obtained_array.shape != expected_array.shape:
        fail(case, inputs, expected, obtained,
             f"{label}shape {obtained_array.shape}, expected {expected_array.shape}", hint)
    if not np.issubdtype(obtained_array.dtype, np.number) and obtained_array.dtype != bool:
        fail(case, inputs, expected, obtained, f"{label}dtype {obtained_array.dtype} is not numeric", hint)
    if not np.allclose(obtained_array, expected_array, rtol=rtol, atol=atol, equal_nan=True):
        fail(case, inputs, expected, obtained,
             f"{label}wrong values{_worst_difference(expected_array, obtained_array)}", hint)


def _worst_difference(expected: np.ndarray, obtained: np.ndarray) -> str:
    """Where the two differ most, with both values in full precision and the absolute
    and relative difference: printed arrays round to 4 digits, which can hide an error
    of 1e-6 that the tolerance does not."""
    difference = np.abs(obtained.astype(np.result_type(obtained.dtype, np.float64)) - expected)
    worst = np.unravel_index(np.argmax(np.nan_to_num(difference, nan=np.inf)), expected.shape) \
        if expected.ndim else ()
    want, got = expected[worst].item(), obtained[worst].item()  # Python numbers, complex kept
    size = float(difference[worst])
    relative = size / abs(want) if want != 0 else float("inf")
    at = f" at index {tuple(int(i) for i in worst)}" if worst else ""
    return (f" (largest difference{at}: expected {want!r}, obtained {got!r}, "
            f"off by {size:.3g}, {relative:.3g} relative)")


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


# --------------------------------------------------------------- running one case
def run_case(case: Case, functions: Mapping[str, Callable]) -> Failure | None:
    """Run ``case`` against ``functions`` (the learner's, by name): None if it passed.

    Whatever escapes the test (hypothesis' FlakyFailure when the learner's function
    answers differently for the same input, an error in the check itself) becomes a
    failure too: a case never ends in a traceback.
    """
    try:
        if case.strategy is None:
            case.test(functions)
        else:
            _hypothesis_test(case, functions)()
    except CaseFailed as err:
        return err.failure
    except CaseSkipped as err:
        return Failure(case.name, {}, None, None, f"skipped: {err}", case.hint, kind="skipped")
    except (Exception, SystemExit, KeyboardInterrupt) as err:  # noqa: BLE001
        inner = _case_failed_inside(err)
        if inner is not None:
            return inner
        return Failure(case.name, {}, "an answer", f"{type(err).__name__}: {err}",
                       f"the check stopped with {type(err).__name__}: {_first_line(err)}", case.hint,
                       kind="error")
    return None


def _case_failed_inside(err: BaseException) -> Failure | None:
    """The first :class:`CaseFailed` inside an exception group (hypothesis' FlakyFailure)."""
    for inner in getattr(err, "exceptions", ()):
        if isinstance(inner, CaseFailed):
            inner.failure.problem += " (and not on every run: does your function keep state?)"
            return inner.failure
        found = _case_failed_inside(inner)
        if found is not None:
            return found
    return None


def _hypothesis_test(case: Case, functions: Mapping[str, Callable]) -> Callable[[], None]:
    """The case's test under ``@given``: random inputs, and the smallest failing one kept.

    Derandomised (the same examples on every run) and without the example database, so
    a check never depends on what an earlier run found.
    """
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings

    phases = (Phase.explicit, Phase.generate) + ((Phase.shrink,) if case.shrink else ())
    @settings(max_examples=case.max_examples, derandomize=True, database=None, deadline=None,
              verbosity=Verbosity.quiet, print_blob=False, report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck), phases=phases)
    @given(case.strategy)
    def test(drawn):
        case.test(functions, drawn)

    return test


def run_cases(cases: Sequence[Case], functions: Mapping[str, Callable]) -> list[Failure | None]:
    """Run every case in order (in this process); stop after a body not yet written."""
    failures: list[Failure | None] = []
    for case in cases:
        failures.append(run_case(case, functions))
        if failures[-1] is not None and failures[-1].kind == "not_written":
            break  # every other case would say the same
    return failures


# --------------------------------------------------------------- the learner's file
def load_functions(path: str | os.PathLike, names: Sequence[str]) -> dict[str, Callable]:
    """Import the file at ``path`` (its folder first on ``sys.path``, as when run as a
    script) and return its functions called ``names``."""
    path = Path(path)
    if not path.is_file():
        raise LoadError(f"no file {path}")
    module_name = f"_tinymin_exercise_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {path} (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(module_name, None)
        sys.path.remove(str(path.resolve().parent))
    missing = [name for name in names if not callable(getattr(module, name, None))]
    if missing:
        raise LoadError(f"{path} defines no function {', '.join(missing)}")
    return {name: getattr(module, name) for name in names}


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else "(no message)"
