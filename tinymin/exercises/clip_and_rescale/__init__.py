"""Exercise ``clip_and_rescale``: Algorithm 1's steps 3, 4 and 7 (chapter 7)."""

from pathlib import Path

from tinymin.exercises.clip_and_rescale.cases import cases, reference
from tinymin.exercises.exercise import Exercise

EXERCISE = Exercise(
    name="clip_and_rescale",
    summary="Algorithm 1's clip, rescale and straight-through mask (steps 3, 4, 7)",
    chapter=7,
    functions=("step3_clip", "step4_rescale", "step7_through_clip"),
    hints=(
        "The clip bound is not T itself: it is measured in units of the operand's mean "
        "magnitude mu. The rescaling gives the weights the inputs' mean magnitude.",
        "Clipping is flat outside the bound, so its derivative there is 0; inside it is 1. "
        "The mask step 3 gives back is that derivative, and step 7 applies it.",
        "An entry exactly on the bound counts as inside (compare with <=, as the case "
        "'step 3: values exactly on the bound' checks). np.clip and np.where do the rest.",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
