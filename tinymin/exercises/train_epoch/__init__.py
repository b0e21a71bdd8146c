"""Exercise ``train_epoch``: one epoch of the training loop (chapter 8)."""

from pathlib import Path

from tinymin.exercises.exercise import Exercise
from tinymin.exercises.train_epoch.cases import cases, reference

EXERCISE = Exercise(
    name="train_epoch",
    summary="one epoch of the training loop: forward, loss, backward, step, metrics",
    chapter=8,
    functions=("train_epoch",),
    hints=(
        "Four things happen for every batch, always in the same order, and two numbers are "
        "accumulated on the side for the epoch's report.",
        "Gradients accumulate in tinymin as in PyTorch: the optimizer has a method that clears "
        "them, and it must run before each backward. Modules have a method that switches "
        "dropout on.",
        "Accumulate loss * batch size and the count of correct predictions, and divide by the "
        "number of samples at the end; `loss.item()` gives a float, `logits.data.argmax(axis=1)` "
        "the predicted classes.",
    ),
    cases=cases,
    reference=reference,
    folder=Path(__file__).resolve().parent,
)
