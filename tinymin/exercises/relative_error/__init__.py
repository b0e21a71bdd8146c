"""Exercise ``relative_error``: the signed minimum against the product, Eq. 6 (chapter 6)."""

from pathlib import Path

from tinymin.exercises.exercise import Exercise
from tinymin.exercises.relative_error.cases import cases, reference

EXERCISE = Exercise(
    name="relative_error",
    summary="the relative error of the signed minimum against the product (Eq. 6)",
    chapter=6,
    functions=("elementwise_relative_error",),
    hints=(
        "Compute both numbers the equation compares, the product m and the signed minimum s, "
        "then their difference relative to |m|.",
        "Turn the inputs into float64 arrays and broadcast them against each other first; "
        "lists and plain numbers must work too.",
        "Where m = 0 the division must not happen at all (so no warning): numpy's divide "
        "takes an `out` array to start from and a `where` mask.",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
