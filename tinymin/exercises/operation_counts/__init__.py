"""Exercise ``operation_counts``: the multiplications folded inference saves (chapter 10)."""

from pathlib import Path

from tinymin.exercises.exercise import Exercise
from tinymin.exercises.operation_counts.cases import cases, reference

EXERCISE = Exercise(
    name="operation_counts",
    summary="count the multiplications, comparisons and additions of each layer",
    chapter=10,
    functions=("operation_counts",),
    hints=(
        "Walk the layers in order and carry the shape of one image from each layer to the "
        "next: every count depends on the shape that reaches the layer.",
        "A convolution's cost is (number of outputs) x (size of one patch); its output shape "
        "follows from kernel, stride and padding as in chapter 5. isinstance tells a "
        "MinConv2d from a Conv2d (tinymin.nn has both).",
        "Turn a pooling layer's int into a pair, and a stride of None into the kernel size, "
        "before you compute its output size; Flatten only changes the shape.",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
