"""DataLoader's arguments: PyTorch's order, each checked, so a positional argument of the
wrong type is refused (issues #20 and #21); the ValueErrors for contradictory ones are
compared with torch's in tests/torchlike/test_data.py."""

import numpy as np
import pytest

from tinymin.utils.data import DataLoader, TensorDataset


def arrays(n=23):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return x, np.arange(n) % 4


@pytest.mark.parametrize("arguments, keywords", [
    ((True,), {}),                      # DataLoader(ds, True): batch_size=True
    ((4, 1), {}),                       # shuffle=1
    ((), {"batch_size": 2.0}),
    ((), {"num_workers": "2"}),
    ((), {"collate_fn": 3}),
    ((), {"generator": 0}),
    ((), {"drop_last": "yes"}),
    ((), {"sampler": 5}),
])
def test_wrong_types_are_refused_with_a_type_error(arguments, keywords):
    x, y = arrays()
    with pytest.raises(TypeError, match="DataLoader: "):
        DataLoader(TensorDataset(x, y), *arguments, **keywords)


def test_the_misplaced_shuffle_gets_a_hint():
    x, y = arrays()
    with pytest.raises(TypeError, match="did you mean shuffle=True"):
        DataLoader(TensorDataset(x, y), True)
