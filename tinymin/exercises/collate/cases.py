"""The cases of ``collate``, against ``tinymin.data.dataloader.default_collate``."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tinymin import Tensor
from tinymin.data.dataloader import default_collate
from tinymin.exercises.checker import Case, call, expect_close, fail
from tinymin.exercises.common import rng, strategies

HINTS = {
    "(image, label) pairs": "the usual sample: an image array and an int label",
    "dict samples": "dict samples give a dict of batches, key by key",
    "nested structure": "a tuple inside a tuple, a dict inside a tuple",
    "file names": "strings cannot be stacked: the batch keeps a list of them",
    "numbers: bool, int, float": "Python numbers: the dtype that fits them all",
    "Tensor samples": "samples that are already tinymin Tensors",
    "samples that differ raise ValueError": "samples with another structure cannot be batched",
    "random samples (hypothesis)": "random shapes, dtypes and batch sizes",
}


def _images(n: int, seed: int) -> list[np.ndarray]:
    return [rng(seed + i).standard_normal((1, 3, 3)).astype(np.float32) for i in range(n)]


_FIXED: dict[str, list[Any]] = {
    "(image, label) pairs": [(image, label) for image, label in zip(_images(4, 60), [3, 1, 4, 1])],
    "dict samples": [{"image": image, "label": label} for image, label in zip(_images(3, 70), [0, 2, 1])],
    "nested structure": [((image, label), {"id": i, "weight": 0.5 * i})
                         for i, (image, label) in enumerate(zip(_images(3, 80), [1, 0, 1]))],
    "numbers: bool, int, float": [(True, 1, 1), (False, 2, 2.5), (True, 3, 3)],
    "Tensor samples": [(Tensor(image), label) for image, label in zip(_images(2, 90), [5, 6])],
    "file names": [(image, f"digit_{i}.png") for i, image in enumerate(_images(3, 95))],
}

_DIFFERING = {
    "a tuple of 2 and a tuple of 1": [(np.zeros(2), 1), (np.zeros(2),)],
    "arrays of two shapes": [np.zeros((2, 2)), np.zeros((2, 3))],
    "dicts with other keys": [{"x": 1}, {"y": 1}],
    "a number and an array": [1.0, np.zeros(2)],
}


def expect_batch(case: str, inputs: dict, expected: Any, obtained: Any, where: str = "batch") -> None:
    """Fail unless ``obtained`` has ``expected``'s structure, Tensors of its dtypes and values."""
    if isinstance(expected, list) and all(isinstance(e, str) for e in expected):
        if obtained != expected:
            fail(case, inputs, expected, obtained, f"{where}: {obtained!r}, expected the list "
                 f"{expected!r}", HINTS[case])
    elif isinstance(expected, list):
        if not isinstance(obtained, list) or len(obtained) != len(expected):
            fail(case, inputs, f"a list of {len(expected)}", _describe(obtained),
                 f"{where}: {_describe(obtained)}, expected a list of {len(expected)}", HINTS[case])
        for i, (e, o) in enumerate(zip(expected, obtained)):
            expect_batch(case, inputs, e, o, f"{where}[{i}]")
    elif isinstance(expected, dict):
        if not isinstance(obtained, dict) or sorted(obtained) != sorted(expected):
            fail(case, inputs, f"a dict with keys {sorted(expected)}", _describe(obtained),
                 f"{where}: {_describe(obtained)}, expected a dict with keys {sorted(expected)}", HINTS[case])
        for key in expected:
            expect_batch(case, inputs, expected[key], obtained[key], f"{where}[{key!r}]")
    else:
        if not isinstance(obtained, Tensor):
            fail(case, inputs, "a Tensor", _describe(obtained),
                 f"{where}: {_describe(obtained)}, expected a tinymin Tensor", HINTS[case])
        if obtained.dtype != expected.dtype:
            fail(case, inputs, expected.dtype, obtained.dtype,
                 f"{where}: dtype {obtained.dtype}, expected {expected.dtype}", HINTS[case])
        expect_close(case, HINTS[case], inputs, expected.numpy(), obtained.numpy(), rtol=0, atol=0,
                     what=where)


def _describe(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    if isinstance(value, Tensor):
        return f"a Tensor of shape {value.shape}"
    return f"a {type(value).__name__}"


def _test(case: str):
    def test(functions, drawn=None):
        samples = drawn if drawn is not None else _FIXED[case]
        inputs = {"samples": samples}
        obtained = call(case, HINTS[case], inputs, functions["default_collate"], list(samples))
        expect_batch(case, inputs, default_collate(samples), obtained)
    return test


def _differing(functions):
    case = "samples that differ raise ValueError"
    for what, samples in _DIFFERING.items():
        inputs = {"samples": samples}
        try:
            obtained = functions["default_collate"](list(samples))
        except ValueError:
            continue
        except Exception as err:  # noqa: BLE001 (a learner's error of another type)
            fail(case, inputs, "ValueError", f"{type(err).__name__}: {err}",
                 f"{what}: raised {type(err).__name__}, expected ValueError", HINTS[case], kind="error")
        fail(case, inputs, "ValueError", _describe(obtained),
             f"{what}: returned {_describe(obtained)} instead of raising ValueError", HINTS[case])


def _samples(st, hnp):
    @st.composite
    def draw(data):
        batch = data(st.integers(1, 4))
        shape = data(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
        dtype = data(st.sampled_from([np.float32, np.float64, np.int64, np.uint8]))
        images = [data(hnp.arrays(dtype, shape)) for _ in range(batch)]
        label = st.integers(-5, 5) | st.floats(-5, 5, width=32) | st.booleans()
        labels = [data(label) for _ in range(batch)]
        return [(image, y) for image, y in zip(images, labels)]
    return draw()


def cases() -> list[Case]:
    """Fixed batches, differing samples, then random ones."""
    st, hnp = strategies()
    found = [Case(name, _test(name), HINTS[name]) for name in _FIXED]
    found.append(Case("samples that differ raise ValueError", _differing,
                      HINTS["samples that differ raise ValueError"]))
    found.append(Case("random samples (hypothesis)", _test("random samples (hypothesis)"),
                      HINTS["random samples (hypothesis)"], strategy=_samples(st, hnp), max_examples=40))
    return found


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {"default_collate": default_collate}
