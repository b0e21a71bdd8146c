"""Exercise ``selector_gemms``: the max-selector and the adder in place of the product (chapter 11)."""

from pathlib import Path

from tinymin.exercises.exercise import Exercise
from tinymin.exercises.selector_gemms.cases import cases, reference

EXERCISE = Exercise(
    name="selector_gemms",
    summary="the max-selector and adder GEMMs that chapter 11 compares with the minimum",
    chapter=11,
    functions=("max_gemm", "adder_gemm"),
    hints=(
        "Both are the min_gemm exercise with another operation in place of m(a, b): same "
        "shapes, same sum over k.",
        "The max-selector keeps the product's sign, like the minimum, but takes the larger "
        "magnitude; the adder has no sign logic at all, only a distance.",
        "Broadcast cols to (P, 1, K) and w to (1, C, K), apply the operation, sum over the "
        "last axis.",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
