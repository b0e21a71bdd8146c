"""Exercise ``kernel_timing``: check a rebuilt kernel against its numpy twin, then time it
(chapter 9)."""

from pathlib import Path

from tinymin.exercises.exercise import Exercise
from tinymin.exercises.kernel_timing.cases import cases, reference

EXERCISE = Exercise(
    name="kernel_timing",
    summary="check a (rebuilt) kernel against its numpy twin, then time both",
    chapter=9,
    functions=("compare_to_twin",),
    hints=(
        "Correctness before speed: compare the two answers first, and only then time "
        "anything. Time with the clock you are given, never time.time() directly.",
        "A timing is two clock readings around one call. Keep one list of timings for the "
        "kernel and one for the twin, filled in the same rounds, one call of each per round.",
        "The statistics module has a median; numpy's allclose and an absolute difference give "
        "the agreement. Look at the order the case 'rounds alternate kernel and twin' expects.",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
