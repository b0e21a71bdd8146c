"""Every exercise: its reference solution (tests/exercises/solutions/NAME.py, kept out
of the installed package) and tinymin's own function pass every case; its unfilled
template fails cleanly, as "not written yet"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinymin import exercises
from tinymin.exercises import EXERCISES
from tinymin.exercises.checker import load_functions

pytest.importorskip("hypothesis")

SOLUTIONS = Path(__file__).parent / "solutions"
NEEDS = {"torch_clip": "torch"}


def skip_without_dependency(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_solution_passes_every_case(name):
    skip_without_dependency(name)
    functions = load_functions(SOLUTIONS / f"{name}.py", EXERCISES[name].functions)
    report = exercises.check(name, functions=functions)
    assert report.passed, report.format()
    assert report.total >= 5 and report.score == report.total


def tinymin_own(name):
    """tinymin's answer: the exercise's reference, or for torch_clip the torch engine's step
    (the exercises may not import tinymin.torch; the tests may)."""
    if EXERCISES[name].reference is not None:
        return EXERCISES[name].reference()
    assert name == "torch_clip"
    from tinymin.torch.functional import step3_clip

    return {"step3_clip": step3_clip}


@pytest.mark.parametrize("name", list(EXERCISES))
def test_tinymin_own_function_passes_every_case(name):
    skip_without_dependency(name)
    report = exercises.check(name, functions=tinymin_own(name))
    assert report.passed, report.format()


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_unfilled_template_fails_cleanly(name):
    skip_without_dependency(name)
    functions = load_functions(EXERCISES[name].template, EXERCISES[name].functions)
    report = exercises.check(name, functions=functions)
    assert [r.passed for r in report.results] == [False]  # stops after the first case
    assert report.failures[0].kind == "not_written"
    assert report.verdict == f"score 0/{report.total}: not written yet (the other cases were not run)"


def test_every_exercise_has_a_solution_a_template_and_staged_hints():
    assert sorted(p.stem for p in SOLUTIONS.glob("*.py")) == sorted(EXERCISES)
    for e in EXERCISES.values():
        assert e.template.is_file() and e.folder.name == e.name
        assert len(e.hints) >= 3, e.name
        source = e.template.read_text()
        assert all(f"def {f}(" in source for f in e.functions), e.name
        assert f"exercise check {e.name} --file" in source, e.name


def test_no_solution_ships_in_the_package():
    package = Path(exercises.__file__).parent
    for e in EXERCISES.values():
        assert "raise NotImplementedError" in e.template.read_text()
    assert not list(package.rglob("solution*"))


def test_the_sandbox_grades_a_solution_and_a_template(tmp_path):
    passed = exercises.check("min_gemm", SOLUTIONS / "min_gemm.py")
    assert passed.passed, passed.format()
    template = exercises.check("min_gemm")
    assert not template.passed and template.failures[0].kind == "not_written"
