"""Exercise ``collate``: a list of samples becomes one batch (chapter 4)."""

from pathlib import Path

from tinymin.exercises.collate.cases import cases, reference
from tinymin.exercises.exercise import Exercise

EXERCISE = Exercise(
    name="collate",
    summary="the DataLoader's collate: a list of samples becomes one batch",
    chapter=4,
    functions=("default_collate",),
    hints=(
        "A batch has the shape of one sample: look at sample 0 to decide what to build, "
        "then build each part from the same part of every sample.",
        "Recursion does the nesting: for a tuple, collate the list of first fields, the list "
        "of second fields, ...; for a dict, the list of values of each key. Only the leaves "
        "(arrays, Tensors, numbers) are stacked.",
        "In Python a bool is an int, and an int is a number: test for bools first. Check "
        "every sample against sample 0 before you build anything, so a bad batch raises "
        "ValueError and not a numpy error.",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
