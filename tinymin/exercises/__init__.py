"""Exercises: rebuild the key pieces of tinymin and have a checker grade them.

Each exercise is a small Python file in ``tinymin/exercises/templates/``: the signature,
a docstring with the equation, and a body to write. Copy one, write the body, and run
the checker on your file::

    python -m tinymin exercise list
    cp "$(python -m tinymin exercise path sum_to)" my_sum_to.py
    python -m tinymin exercise check sum_to --file my_sum_to.py

The checker runs your function against tinymin's own on hand-picked edge cases, then on
random inputs drawn by hypothesis (shrunk to a small example when one fails), plus a
gradient check where a gradient is involved. For every failed case it prints the case,
the inputs, the expected and the obtained values and a one-line hint; the exit status
is 0 when every case passes. (The checker needs hypothesis: ``pip install "tinymin[exercises]"``.)
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tinymin.exercises import checks
from tinymin.exercises.checker import Case, Report, load_functions, run_cases
from tinymin.exercises.swap import use

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Exercise:
    """One exercise: the ``functions`` a learner writes in its template, the chapter that
    teaches them, and ``cases()``, the checks :func:`check` runs on them."""

    name: str
    summary: str
    chapter: str
    functions: tuple[str, ...]
    cases: Callable[[], list[Case]]

    @property
    def template(self) -> Path:
        return TEMPLATES / f"{self.name}.py"


#: The exercises, in the order of the learning path.
EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    Exercise("sum_to", "the backward of broadcasting", "01 tensors and autograd", ("sum_to",),
             checks.sum_to_cases),
    Exercise("matmul_backward", "gradients of a batched matrix product, with broadcasting",
             "02 layers, losses, training loop", ("matmul_backward",), checks.matmul_backward_cases),
    Exercise("adam", "one Adam update with bias correction", "03 optimizers", ("adam_step",),
             checks.adam_cases),
    Exercise("im2col", "unfold image patches into the rows of a matrix", "05 convolution by im2col",
             ("im2col",), checks.im2col_cases),
    Exercise("min_gemm", "the signed min-selector GEMM (Eq. 13) in numpy", "06 why min works",
             ("min_gemm",), checks.min_gemm_cases),
    Exercise("clip_and_rescale", "Algorithm 1's clip, rescale and straight-through mask (steps 3, 4, 7)",
             "07 min-conv, Algorithm 1", ("clip", "rescale", "through_clip"),
             checks.clip_and_rescale_cases),
)}


def get_exercise(name: str) -> Exercise:
    """The exercise called ``name``; a KeyError that lists them all if there is none."""
    if name not in EXERCISES:
        raise KeyError(f"exercise: no exercise {name!r}; the exercises are {', '.join(EXERCISES)}")
    return EXERCISES[name]


def check(name: str, file: str | os.PathLike | None = None,
          functions: Mapping[str, Callable] | None = None) -> Report:
    """Grade exercise ``name``: the functions in ``file`` (default: its template), or
    ``functions`` given directly (a mapping name -> callable)."""
    exercise = get_exercise(name)
    if functions is None:
        path = Path(file) if file is not None else exercise.template
        functions, source = load_functions(path, exercise.functions), str(path)
    else:
        source = "the given functions"
    return run_cases(name, source, exercise.cases(), functions)


def format_list() -> str:
    """The text of ``python -m tinymin exercise list``: one line per exercise, in order."""
    width = max(len(name) for name in EXERCISES)
    lines = [f"{e.name:<{width}}  {e.summary}  [chapter {e.chapter}]" for e in EXERCISES.values()]
    lines.append("")
    lines.append(f"templates: {TEMPLATES}")
    lines.append("copy one, write its body, then: python -m tinymin exercise check NAME --file YOUR_FILE.py")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``exercise`` sub-command's arguments: ``list``, ``path NAME``,
    ``check NAME [--file PATH]`` (the CLI calls this, then :func:`run`)."""
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the exercises, in order")
    path_parser = actions.add_parser("path", help="where an exercise's template is")
    path_parser.add_argument("name", choices=list(EXERCISES))
    check_parser = actions.add_parser("check", help="grade your solution of one exercise")
    check_parser.add_argument("name", choices=list(EXERCISES))
    check_parser.add_argument("--file", help="your solution (default: the template itself)")


def run(args: argparse.Namespace) -> int:
    """Carry out the parsed ``exercise`` sub-command; returns the exit status (0: all
    cases pass; 1: a case failed; 2: the file could not be loaded)."""
    if args.action == "list":
        print(format_list())
        return 0
    if args.action == "path":
        print(get_exercise(args.name).template)
        return 0
    try:
        report = check(args.name, args.file)
    except (OSError, ImportError, AttributeError, SyntaxError) as err:
        print(f"exercise check {args.name}: {err}")
        return 2
    print(report.format())
    return 0 if report.passed else 1


def main(argv: Sequence[str]) -> int:
    """``python -m tinymin exercise ...`` without the rest of the command line."""
    parser = argparse.ArgumentParser(prog="python -m tinymin exercise",
                                     description="Exercises that a checker grades.")
    add_arguments(parser)
    return run(parser.parse_args(list(argv)))


__all__ = ["EXERCISES", "Exercise", "add_arguments", "check", "format_list", "get_exercise", "main", "use",
           "run"]
