"""The learner's progress: which exercises pass, kept in a small JSON file.

The file is ``$TINYMIN_EXERCISE_STATE`` if set, else ``exercises.json`` under
``$XDG_CACHE_HOME/tinymin`` (``~/.cache/tinymin``). Every check of a file records its
latest score there, written atomically (a check killed halfway leaves the old file),
and the last check that passed is kept beside it (``"passed_once"``): checking an
unfilled template afterwards does not undo a pass.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tinymin.checkpoint.atomic import atomic_file
from tinymin.exercises.report import Report

FORMAT = "tinymin-exercise-progress/1"


class ProgressError(ValueError):
    """A progress file that is not one: its path and the reason."""


def state_path() -> Path:
    """Where the progress is kept."""
    if os.environ.get("TINYMIN_EXERCISE_STATE"):
        return Path(os.environ["TINYMIN_EXERCISE_STATE"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "tinymin" / "exercises.json"


def load(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The recorded results by exercise name (empty when nothing was recorded yet)."""
    path = state_path() if path is None else path
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    # ValueError: not JSON, or not UTF-8; RecursionError: absurdly nested JSON
    except (OSError, ValueError, RecursionError) as err:
        raise ProgressError(f"{path}: not a progress file ({err!r:.200}); delete it to start "
                            "afresh") from None
    if (not isinstance(data, dict) or data.get("format") != FORMAT
            or not isinstance(data.get("exercises"), dict)):
        raise ProgressError(f"{path}: not a progress file (no format {FORMAT!r}); delete it to start afresh")
    for name, entry in data["exercises"].items():
        _check_entry(path, name, entry)
    return data["exercises"]


#: The fields of a recorded check (and of its "passed_once" copy) and their types.
_RESULT_FIELDS = {"score": (int, float), "total": (int, float), "file": str, "checked": str}


def _check_entry(path: Path, name: str, entry: Any) -> None:
    """Raise :class:`ProgressError` unless ``entry`` is a record that :func:`record` writes."""
    problem = _result_problem(entry, {"passed": bool, **_RESULT_FIELDS})
    if problem is None and "passed_once" in entry:
        problem = _result_problem(entry["passed_once"], _RESULT_FIELDS)
        problem = problem and f"its 'passed_once' {problem}"
    if problem is not None:
        raise ProgressError(f"{path}: the record of {name!r} {problem}; delete the file to start "
                            "afresh")


def _result_problem(entry: Any, fields: dict[str, Any]) -> str | None:
    """What is wrong with one record (None: nothing)."""
    if not isinstance(entry, dict):
        return f"is a {type(entry).__name__}, not a JSON object"
    for field, kind in fields.items():
        if field not in entry:
            return f"has no {field!r}"
        value = entry[field]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            return f"has {field!r} = {value!r:.40}"
    return None


def record(report: Report, path: Path | None = None) -> Path:
    """Record ``report`` as the latest result of its exercise, and as the last pass if it
    passed (an earlier pass is kept otherwise); returns the file written."""
    path = state_path() if path is None else path
    exercises = load(path)
    entry = {
        "passed": report.passed, "score": report.score, "total": report.total - report.skipped,
        "file": str(Path(report.source).resolve()), "checked": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    earlier = exercises.get(report.exercise, {})
    if report.passed:
        entry["passed_once"] = {k: entry[k] for k in ("score", "total", "file", "checked")}
    elif earlier.get("passed_once") or earlier.get("passed"):
        entry["passed_once"] = earlier.get("passed_once") or {
            k: earlier[k] for k in ("score", "total", "file", "checked")}
    exercises[report.exercise] = entry
    with atomic_file(path) as f:
        f.write(json.dumps({"format": FORMAT, "exercises": exercises}, indent=1, sort_keys=True).encode())
    return path


def has_passed(entry: dict[str, Any] | None) -> bool:
    """Whether an exercise's record holds a pass, now or at an earlier check."""
    return bool(entry) and bool(entry.get("passed") or entry.get("passed_once"))
