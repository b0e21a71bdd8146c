"""Exercise ``adam``: one Adam update with bias correction (chapter 3)."""

from pathlib import Path

from tinymin.exercises.adam.cases import cases, reference
from tinymin.exercises.exercise import Exercise

EXERCISE = Exercise(
    name="adam",
    summary="one Adam update with bias correction",
    chapter=3,
    functions=("adam_step",),
    hints=(
        "Adam keeps two running averages per parameter, of the gradient and of its square, "
        "and steps along the first divided by the square root of the second.",
        "Both averages start at zero, so early on they are too small: the bias correction "
        "divides each by (1 - beta^t). Which one does `step` count from, 0 or 1?",
        "eps is added after the square root, not under it. The answer is three new arrays, "
        "param, m and v (the next call gets your m and v back).",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
