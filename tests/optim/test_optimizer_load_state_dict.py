"""Optimizer.load_state_dict refuses another optimizer's state, naming both, and
changes nothing when it refuses."""

import copy

import numpy as np
import pytest

from tinymin import optim
from tinymin.nn import Parameter


def _stepped(optimizer_class, **options):
    p = Parameter(np.array([1.0, 2.0], dtype=np.float32))
    optimizer = optimizer_class([p], lr=0.1, **options)
    p.grad = np.array([0.5, -0.5], dtype=np.float32)
    optimizer.step()
    return optimizer


@pytest.mark.parametrize("saved, target", [
    (optim.Adam, optim.SGD), (optim.SGD, optim.Adam), (optim.Adam, optim.AdamW),
])
def test_another_optimizers_state_is_refused_naming_both(saved, target):
    state = _stepped(saved).state_dict()
    optimizer = _stepped(target, **({"momentum": 0.9} if target is optim.SGD else {}))
    before = copy.deepcopy(optimizer.state_dict())
    with pytest.raises(ValueError, match=rf"{target.__name__}\.load_state_dict: the state was "
                                         rf"saved by {saved.__name__}, not {target.__name__}"):
        optimizer.load_state_dict(state)
    after = optimizer.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for index, values in before["state"].items():
        for key, value in values.items():
            np.testing.assert_array_equal(after["state"][index][key], value)


def test_a_state_saved_without_its_name_is_judged_by_its_options():
    state = _stepped(optim.Adam).state_dict()
    del state["optimizer"]  # as in checkpoints written before the name was recorded
    with pytest.raises(ValueError, match=r"SGD\.load_state_dict: parameter group 0 lacks SGD's "
                                         r"options \['dampening', 'momentum', 'nesterov'\]"):
        _stepped(optim.SGD).load_state_dict(state)
    optimizer = _stepped(optim.Adam)
    optimizer.load_state_dict(state)  # the same optimizer's state still loads
    assert optimizer.state_dict()["state"][0]["step"] == 1
