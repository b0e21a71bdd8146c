"""Exercise ``sum_to``: the backward of broadcasting (chapter 1)."""

from pathlib import Path

from tinymin.exercises.exercise import Exercise
from tinymin.exercises.sum_to.cases import cases, reference

EXERCISE = Exercise(
    name="sum_to",
    summary="the backward of broadcasting",
    chapter=1,
    functions=("sum_to",),
    hints=(
        "Broadcasting uses each element of the operand at many places; its gradient adds "
        "up the gradients of all those places.",
        "Broadcasting copies in two ways: it prepends axes on the left, and it stretches "
        "axes of size 1. The gradient has to undo both: which axes of grad were prepended, "
        "and where does `shape` hold a 1 that grad does not?",
        "numpy's sum takes a tuple of axes, and a flag that keeps a summed axis with size 1. "
        "Compare the shape of your answer with `shape` in the case 'stretched axes'.",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
