"""fit and evaluate refuse a loader that yields no batches, instead of reporting a
loss of 0 and an accuracy of 0% for work that never happened."""

import numpy as np
import pytest

from tinymin import nn, optim
from tinymin.data import DataLoader, TensorDataset
from tinymin.train import evaluate, fit

EMPTY = TensorDataset(np.zeros((0, 4), dtype=np.float32), np.zeros(0, dtype=np.int64))
SMALL = TensorDataset(np.zeros((3, 4), dtype=np.float32), np.zeros(3, dtype=np.int64))


def test_evaluate_on_an_empty_loader_raises():
    with pytest.raises(ValueError, match="evaluate: the loader yields no batches"):
        evaluate(nn.Linear(4, 2), DataLoader(EMPTY, 8))


@pytest.mark.parametrize("train, test, name", [
    (DataLoader(EMPTY, 8), None, "loader"),
    (DataLoader(SMALL, 8, drop_last=True), None, "loader"),
    (DataLoader(SMALL, 8), DataLoader(EMPTY, 8), "test loader"),
])
def test_fit_on_an_empty_loader_raises(train, test, name):
    model = nn.Linear(4, 2)
    with pytest.raises(ValueError, match=f"fit: the {name} yields no batches"):
        fit(model, optim.SGD(model.parameters(), lr=0.1), train, 1, test, progress=False, log=None)
