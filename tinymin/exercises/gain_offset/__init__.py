"""Exercise ``gain_offset``: conversion's least-squares gain and offset (chapter 12)."""

from pathlib import Path

from tinymin.exercises.exercise import Exercise
from tinymin.exercises.gain_offset.cases import cases, reference

EXERCISE = Exercise(
    name="gain_offset",
    summary="the least-squares gain and offset that calibrate a converted min layer",
    chapter=12,
    functions=("fit_gain_offset",),
    hints=(
        "It is a straight-line fit, one line per channel: the slope is the gain and the "
        "intercept the offset. Chapter 12 derives both from the two derivatives of E.",
        "Gather each channel's values into one row first: move axis 1 to the front and "
        "flatten the rest, so that every reduction is over axis 1 of a (C, M) array.",
        "For the shared gain, set the derivatives to zero again: the offsets come out as "
        "before, and the gain's numerator and denominator become sums over the channels. "
        "Guard the division where the denominator is 0.",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
