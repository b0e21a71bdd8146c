"""Exercise ``min_gemm``: the signed min-selector GEMM, Eq. 13 (chapter 6)."""

from pathlib import Path

from tinymin.exercises.exercise import Exercise
from tinymin.exercises.min_gemm.cases import cases, reference

EXERCISE = Exercise(
    name="min_gemm",
    summary="the signed min-selector GEMM (Eq. 13) in numpy",
    chapter=6,
    functions=("min_gemm",),
    hints=(
        "It is a matrix product in which each product a*b becomes the signed minimum "
        "m(a, b): same loops, another operation.",
        "The sign of m(a, b) is the sign the product would have; the magnitude is the "
        "smaller of the two magnitudes. A zero in either operand gives 0.",
        "Without a Python loop: give cols an axis for the filters and w_hat an axis for the "
        "rows, so that numpy broadcasts every (row, filter) pair, then sum over k.",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
