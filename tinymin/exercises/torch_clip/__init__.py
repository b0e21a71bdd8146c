"""Exercise ``torch_clip``: the torch twin of Algorithm 1's step 3 (chapter 13)."""

from pathlib import Path

from tinymin.exercises.exercise import Exercise
from tinymin.exercises.torch_clip.cases import cases

EXERCISE = Exercise(
    name="torch_clip",
    summary="the PyTorch twin of Algorithm 1's step 3 (the clip and its mask)",
    chapter=13,
    functions=("step3_clip",),
    hints=(
        "It is the clip of the clip_and_rescale exercise again, in torch instead of numpy: "
        "the same numbers, the same mask.",
        "Stay in torch so that autograd records the clip and the tensor may live on a GPU: "
        "build the bound from mu as a tensor, of a's dtype, and compare with it.",
        "torch.clamp takes numbers only in old versions; torch.minimum and torch.maximum take "
        "tensors. Return a itself when clip_value is None.",
    ),
    cases=cases,
    reference=None,  # tinymin.torch.functional.step3_clip: the exercises do not import tinymin.torch
    folder=Path(__file__).resolve().parent,
)
