"""Exercise ``im2col``: unfold image patches into the rows of a matrix (chapter 5)."""

from pathlib import Path

from tinymin.exercises.exercise import Exercise
from tinymin.exercises.im2col.cases import cases, reference

EXERCISE = Exercise(
    name="im2col",
    summary="unfold image patches into the rows of a matrix",
    chapter=5,
    functions=("im2col",),
    hints=(
        "Every output position of the convolution sees one patch of the (padded) image; "
        "im2col copies each patch into one row, so that one matrix product does the "
        "whole convolution.",
        "Pad first (np.pad, zeros on H and W only), then work out OH and OW. The order "
        "matters twice: rows go image by image, then output row, then output column; "
        "inside a row, channel first, then kernel row, then kernel column.",
        "Loop over the kernel offsets (u, v) instead of the output positions: for a fixed "
        "(u, v), the entries of every patch form one strided slice of the padded image.",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
