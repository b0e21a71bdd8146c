"""What a check says: per-case results, a score, short or verbose text, and JSON.

The short text (the default) is one line per case, then the first failure explained in
a few lines; ``verbose`` adds the arrays of every failure. :meth:`Report.to_dict` is
the machine-readable form (``--json``) a teacher can collect; :func:`encode_failure`
and :func:`decode_failure` carry a failure from the checking process to the parent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinymin.exercises.checker import Failure


@dataclass
class CaseResult:
    """How one case went: ``failure`` is None when it passed."""

    name: str
    failure: Failure | None

    @property
    def passed(self) -> bool:
        return self.failure is None

    @property
    def status(self) -> str:
        if self.failure is None:
            return "ok"
        return "skip" if self.failure.kind == "skipped" else "FAIL"


@dataclass
class Report:
    """The result of checking one exercise.

    ``results`` holds one :class:`CaseResult` per case that ran, in order; ``total`` is
    the number of cases of the exercise (those not run count as not passed).
    ``load_error`` says why the learner's file could not be graded at all, and
    ``tampered`` names the installed files the learner's code changed.
    """

    exercise: str
    source: str
    total: int
    results: list[CaseResult] = field(default_factory=list)
    load_error: str | None = None
    tampered: list[str] = field(default_factory=list)

    @property
    def score(self) -> int:
        """Cases passed."""
        return sum(r.passed for r in self.results)

    @property
    def skipped(self) -> int:
        return sum(r.status == "skip" for r in self.results)

    @property
    def passed(self) -> bool:
        """Every case that can run here passed (and at least one ran), nothing tampered."""
        ran = self.total - self.skipped
        return (self.load_error is None and not self.tampered and ran > 0
                and self.score == ran and len(self.results) == self.total)

    @property
    def failures(self) -> list[Failure]:
        return [r.failure for r in self.results if r.failure is not None and r.status == "FAIL"]

    @property
    def verdict(self) -> str:
        """One line: the score and what it means."""
        if self.tampered:
            return (f"FAILED: your code changed installed files ({'; '.join(self.tampered)}); "
                    "restored")
        if self.load_error is not None:
            return f"FAILED: {self.load_error}"
        score = f"score {self.score}/{self.total - self.skipped}"
        skipped = f" ({self.skipped} skipped)" if self.skipped else ""
        if self.passed:
            return f"{score}{skipped}: all cases pass"
        if self.failures and self.failures[0].kind == "not_written":
            return f"{score}: not written yet (the other cases were not run)"
        if self.results and self.skipped == len(self.results) == self.total:
            return f"skipped: {self.results[0].failure.problem[len('skipped: '):]}"
        stopped = " (the cases after it were not run)" if len(self.results) < self.total else ""
        return f"{score}{skipped}: {len(self.failures)} case(s) failed{stopped}"

    def format(self, verbose: bool = False) -> str:
        """The report as text: short by default, every failure's arrays when ``verbose``."""
        lines = [f"exercise {self.exercise}: checking {self.source}"]
        for result in self.results:
            problem = f": {result.failure.problem}" if result.failure is not None else ""
            lines.append(f"  {result.status:<4}  {result.name}{problem}")
        lines.append(self.verdict)
        shown = self.failures if verbose else self.failures[:1]
        for failure in shown:
            if failure.kind == "not_written":
                continue
            lines += [f"{'failure' if verbose else 'first failure'}, {failure.case!r}:",
                      *_explain(failure, verbose)]
        if self.failures and not verbose and self.failures[0].kind != "not_written":
            lines.append(f"(--verbose shows the arrays; python -m tinymin exercise hint {self.exercise} "
                         "gives a hint)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (``--json``)."""
        return {
            "exercise": self.exercise, "source": self.source, "passed": self.passed,
            "score": self.score, "total": self.total, "skipped": self.skipped,
            "load_error": self.load_error, "tampered": list(self.tampered),
            "cases": [{"name": r.name, "status": r.status,
                       "kind": None if r.failure is None else r.failure.kind,
                       "problem": None if r.failure is None else r.failure.problem}
                      for r in self.results],
        }


# ------------------------------------------------------------------ explaining a failure
def _explain(failure: Failure, verbose: bool) -> list[str]:
    pad = "    "
    lines = []
    if failure.inputs:
        if verbose:
            lines.append(f"{pad}inputs:")
            lines += [f"{pad}  {name} = {_show(value, pad + '    ')}"
                      for name, value in failure.inputs.items()]
        else:
            lines.append(pad + "inputs: " + ", ".join(f"{name} = {_brief(value)}"
                                                      for name, value in failure.inputs.items()))
    if failure.kind == "wrong":
        if verbose:
            lines.append(f"{pad}expected: {_show(failure.expected, pad + '          ')}")
            lines.append(f"{pad}obtained: {_show(failure.obtained, pad + '          ')}")
        else:
            lines.append(f"{pad}expected {_brief(failure.expected)}, obtained {_brief(failure.obtained)}")
    lines.append(f"{pad}{failure.problem}")
    if failure.hint:
        lines.append(f"{pad}this case: {failure.hint}")
    return lines


def _brief(value: Any) -> str:
    """A value in a few characters: small arrays in full, big ones by shape and dtype."""
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return np.array2string(value, precision=4, separator=", ").replace("\n", "")
        return f"array{value.shape} {value.dtype}"
    if isinstance(value, (tuple, list)) and any(isinstance(v, np.ndarray) for v in value):
        return "(" + ", ".join(_brief(v) for v in value) + ")"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _show(value: Any, indent: str) -> str:
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=5, threshold=80, edgeitems=3, max_line_width=100)
        if value.ndim <= 1:
            return f"array{value.shape} {value.dtype} {text}"
        body = "\n".join((indent + line).rstrip() for line in text.splitlines())
        return f"array{value.shape} {value.dtype}\n{body}"
    if isinstance(value, (tuple, list)) and any(isinstance(v, np.ndarray) for v in value):
        return "(" + ", ".join(_show(v, indent) for v in value) + ")"
    return repr(value)


# ------------------------------------------------------------------ to and from JSON
def _encode_value(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"array": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, (np.generic,)) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, (tuple, list)):
        return {"tuple": [_encode_value(v) for v in value]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:  # whatever the learner's function returned, even an object whose repr fails
        return {"repr": repr(value)[:2000]}
    except Exception as err:  # noqa: BLE001
        return {"repr": f"<a {type(value).__name__} whose repr raised {type(err).__name__}>"}


class _Shown:
    """A value that came back as its repr: shows as the text itself."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "array" in value:
            return np.array(value["array"], dtype=value["dtype"]).reshape(value["shape"])
        if "tuple" in value:
            return tuple(_decode_value(v) for v in value["tuple"])
        if "repr" in value:
            return _Shown(str(value["repr"]))
    return value


def encode_failure(failure: Failure | None) -> dict[str, Any] | None:
    """A failure as JSON-ready data (arrays as nested lists with their dtype)."""
    if failure is None:
        return None
    return {"case": failure.case, "inputs": {k: _encode_value(v) for k, v in failure.inputs.items()},
            "expected": _encode_value(failure.expected), "obtained": _encode_value(failure.obtained),
            "problem": failure.problem, "hint": failure.hint, "kind": failure.kind}


def decode_failure(data: dict[str, Any] | None) -> Failure | None:
    """The inverse of :func:`encode_failure`."""
    if data is None:
        return None
    return Failure(str(data["case"]), {str(k): _decode_value(v) for k, v in data["inputs"].items()},
                   _decode_value(data["expected"]), _decode_value(data["obtained"]),
                   str(data["problem"]), str(data["hint"]), str(data["kind"]))
