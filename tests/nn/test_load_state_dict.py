"""Module.load_state_dict is all or nothing: keys, shapes and dtypes are checked before
anything is copied, so a bad state dict leaves the model as it was."""

import numpy as np
import pytest

from tinymin import nn


class Counted(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.register_buffer("steps", np.zeros(1, dtype=np.int64))

    def forward(self, x):
        return self.fc(x)


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("key, value, message", [
    ("fc.bias", np.zeros(2, dtype=np.complex128), "fc.bias: checkpoint dtype complex128"),
    ("steps", np.array([2.5]), "steps: checkpoint dtype float64 cannot be cast.*int64"),
    ("fc.bias", np.array(["a", "b"]), "fc.bias: checkpoint dtype <U1"),
])
def test_a_value_that_cannot_be_cast_is_refused_and_nothing_is_copied(key, value, message):
    model = Counted()
    before = _snapshot(model)
    state = {k: v + 1 for k, v in model.state_dict().items()}  # every value differs
    state[key] = value
    with pytest.raises(RuntimeError, match=message):
        model.load_state_dict(state)
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, before[name])


def test_a_value_that_casts_is_loaded():
    model = Counted()
    state = model.state_dict()
    state["fc.weight"] = np.full((2, 2), 0.5)  # float64 into float32: same kind
    state["steps"] = np.array([3], dtype=np.int32)
    model.load_state_dict(state)
    assert model.fc.weight.data.dtype == np.float32 and model.fc.weight.data[0, 0] == 0.5
    assert model.steps.dtype == np.int64 and model.steps[0] == 3
