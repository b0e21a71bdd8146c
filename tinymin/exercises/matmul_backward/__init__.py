"""Exercise ``matmul_backward``: the gradients of a batched matrix product (chapter 2)."""

from pathlib import Path

from tinymin.exercises.exercise import Exercise
from tinymin.exercises.matmul_backward.cases import cases, reference

EXERCISE = Exercise(
    name="matmul_backward",
    summary="gradients of a batched matrix product, with broadcasting",
    chapter=2,
    functions=("matmul_backward",),
    hints=(
        "Each output entry y[i, j] is a dot product of a row of a and a column of b; "
        "differentiate one entry, then collect all of them as one product of matrices.",
        "Check the shapes first: grad_a must have a's shape (m, k) from grad (m, n) and b "
        "(k, n), so exactly one arrangement of those two works. `.T` reverses all axes; in a "
        "batch only the last two may swap.",
        "When a was broadcast over the batch axes of b, its gradient has more axes than a: "
        "this is the sum_to exercise again (tinymin.autograd.sum_to may be used).",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
