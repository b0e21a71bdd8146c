"""tinymin.nn.loss and the losses of tinymin.nn.functional: float64 gradient checks of
every loss under every reduction, dtypes, and the errors (their values against PyTorch:
tests/torchlike/test_losses.py)."""

import numpy as np
import pytest

import tinymin as tm
import tinymin.nn as nn
import tinymin.nn.functional as F

REDUCTIONS = ["mean", "sum", "none"]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_float32_losses_stay_float32(rng):
    x = tm.tensor(rng.normal(size=(3, 4)).astype(np.float32), requires_grad=True)
    for loss in (F.cross_entropy(x, [0, 1, 2], label_smoothing=0.1),
                 F.binary_cross_entropy_with_logits(x, np.ones((3, 4))),
                 F.mse_loss(x, np.zeros((3, 4))), F.l1_loss(x, np.zeros((3, 4)))):
        assert loss.dtype == np.float32


def test_bad_arguments_are_refused():
    x = tm.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss(reduction="average")
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        F.binary_cross_entropy(x + 2, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="target values must be in"):
        F.cross_entropy(x, [0, 3])
    with pytest.raises(ValueError, match="one value per class"):
        F.cross_entropy(x, [0, 1], weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="target shape"):
        F.binary_cross_entropy_with_logits(x, np.zeros(3))


def test_legacy_size_average_and_reduce_map_onto_reduction():
    with pytest.warns(UserWarning, match="deprecated"):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.CrossEntropyLoss(reduce=False).reduction == "none"


def t64(rng, *shape, low=None, high=None):
    data = rng.normal(size=shape) if low is None else rng.uniform(low, high, size=shape)
    return tm.tensor(data, requires_grad=True, dtype=np.float64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_every_loss(reduction, rng):
    labels = np.array([0, 2, 1, 2])
    w = np.array([0.5, 1.0, 2.0])
    cases = [
        (lambda a, b: F.mse_loss(a, b, reduction=reduction), [t64(rng, 4, 3), t64(rng, 4, 3)]),
        (lambda a, b: F.l1_loss(a, b, reduction=reduction), [t64(rng, 4, 3), t64(rng, 4, 3)]),
        (lambda a: F.cross_entropy(a, labels, w, ignore_index=1, reduction=reduction,
                                   label_smoothing=0.1), [t64(rng, 4, 3)]),
        (lambda a, p: F.cross_entropy(a, p.softmax(1), reduction=reduction),
         [t64(rng, 4, 3), t64(rng, 4, 3)]),
        (lambda a: F.nll_loss(a, labels, w, reduction=reduction), [t64(rng, 4, 3)]),
        (lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
         [t64(rng, 4, 3, low=0.1, high=0.9), t64(rng, 4, 3, low=0.0, high=1.0)]),
        (lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction,
                                                         pos_weight=[1.0, 2.0, 0.5]),
         [t64(rng, 4, 3), t64(rng, 4, 3, low=0.0, high=1.0)]),
    ]
    for fn, inputs in cases:
        assert tm.gradcheck(fn, inputs)
