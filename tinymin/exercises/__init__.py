"""Exercises: rebuild the key pieces of tinymin and have a checker grade them.

Every tutorial chapter ends with at least one exercise. Each lives in its own folder,
``tinymin/exercises/<name>/``: a template (the signature of the tinymin function it
mirrors, a docstring with the equation, a body to write), its cases and its staged
hints. Start one, write the body, and check it::

    python -m tinymin exercise list
    python -m tinymin exercise start sum_to          # writes my_sum_to.py
    python -m tinymin exercise check sum_to --file my_sum_to.py
    python -m tinymin exercise hint sum_to 1         # stuck? the idea; 2, 3: more
    python -m tinymin exercise status                # which ones pass

The checker imports your file in a child process and runs each case there with a time
limit (:mod:`tinymin.exercises.sandbox`): hand-picked edge cases first, then random
inputs drawn by hypothesis (shrunk to a small example when one fails), against
tinymin's own function. An endless loop, ``sys.exit``, an exception or a crash becomes
one clear failed case. (The checker needs hypothesis: ``pip install -e ".[exercises]"``.)

Then run your code inside tinymin: :func:`use` swaps your functions in for tinymin's
own (:mod:`tinymin.exercises.swap`), ``train --mine DIR`` trains on them, and
``python -m tinymin milestone`` trains the MinConv LeNet on your pieces against
tinymin's own (:mod:`tinymin.exercises.milestone`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from tinymin.exercises.checker import run_cases
from tinymin.exercises.exercise import Exercise
from tinymin.exercises.registry import EXERCISES, by_chapter, get_exercise
from tinymin.exercises.report import CaseResult, Report
from tinymin.exercises.sandbox import Limits, check_file
from tinymin.exercises.swap import use


def check(name: str, file: str | os.PathLike | None = None, functions: Mapping[str, Callable] | None = None,
          limits: Limits | None = None) -> Report:
    """Grade exercise ``name``: the file ``file`` (default: its template) in a child
    process, or ``functions`` given directly (a mapping name -> callable) in this one."""
    exercise = get_exercise(name)
    if functions is None:
        return check_file(name, file if file is not None else exercise.template, limits)
    cases = exercise.cases()
    report = Report(name, "the given functions", total=len(cases))
    for case, failure in zip(cases, run_cases(cases, functions)):
        report.results.append(CaseResult(case.name, failure))
    return report


def main(argv: Sequence[str]) -> int:
    """``python -m tinymin exercise ...`` without the rest of the command line."""
    from tinymin.exercises.cli import main as cli_main

    return cli_main(argv)


__all__ = ["EXERCISES", "Exercise", "Limits", "Report", "by_chapter", "check", "get_exercise", "main", "use"]
