"""The losses of issue #20 (item 4) against PyTorch itself: values and input gradients
for every reduction and option (their finite-difference checks and errors, which need
no torch: tests/nn/test_loss.py)."""

import numpy as np
import pytest

import tinymin as tm
import tinymin.nn as nn
import tinymin.nn.functional as F

torch = pytest.importorskip("torch", reason="the PyTorch oracle tests need torch (the torch extra)")
tnn = torch.nn

REDUCTIONS = ["mean", "sum", "none"]


def as_numpy(x):
    """A tinymin Tensor, its ``.grad`` (an array or a Tensor) or a torch tensor, as numpy."""
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def run_both(tm_loss, torch_loss, x, *targets):
    """The loss and d loss / d x from tinymin and from torch, for the same float64 input."""
    xt = tm.tensor(x, requires_grad=True, dtype=np.float64)
    xp = torch.tensor(x, requires_grad=True)
    ours = tm_loss(xt, *targets)
    theirs = torch_loss(xp, *(torch.as_tensor(t) for t in targets))
    weights = np.random.default_rng(1).random(np.shape(as_numpy(theirs)))  # for "none"
    (ours * weights).sum().backward()
    (theirs * torch.as_tensor(weights)).sum().backward()
    return (as_numpy(ours), as_numpy(xt.grad)), (as_numpy(theirs), as_numpy(xp.grad))


def assert_same(pair, rtol=1e-10, atol=1e-12):
    (v, g), (tv, tg) = pair
    np.testing.assert_allclose(v, tv, rtol=rtol, atol=atol)
    np.testing.assert_allclose(g, tg, rtol=rtol, atol=atol)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss"])
def test_regression_losses_match_torch(name, reduction, rng):
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    assert_same(run_both(getattr(nn, name)(reduction=reduction),
                         getattr(tnn, name)(reduction=reduction), x, y))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_functional_forms_take_reduction(reduction, rng):
    x, y = rng.normal(size=(5,)), rng.normal(size=(5,))
    tf = torch.nn.functional
    assert_same(run_both(lambda a, b: F.mse_loss(a, b, reduction=reduction),
                         lambda a, b: tf.mse_loss(a, b, reduction=reduction), x, y))
    assert_same(run_both(lambda a, b: F.l1_loss(a, b, reduction=reduction),
                         lambda a, b: tf.l1_loss(a, b, reduction=reduction), x, y))


CE_OPTIONS = [
    {},
    {"weight": [0.2, 1.0, 3.0, 0.5]},
    {"ignore_index": 2},
    {"weight": [0.2, 1.0, 3.0, 0.5], "ignore_index": 1},
    {"label_smoothing": 0.1},
    {"label_smoothing": 0.2, "weight": [0.2, 1.0, 3.0, 0.5], "ignore_index": 0},
]


def _torch_options(options):
    return {k: torch.tensor(v, dtype=torch.float64) if k == "weight" else v
            for k, v in options.items()}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", CE_OPTIONS)
def test_cross_entropy_matches_torch(options, reduction, rng):
    x, t = rng.normal(size=(6, 4)), np.array([0, 1, 2, 3, 2, 1])
    assert_same(run_both(nn.CrossEntropyLoss(**options, reduction=reduction),
                         tnn.CrossEntropyLoss(**_torch_options(options), reduction=reduction),
                         x, t))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_on_spatial_input_and_probability_targets(reduction, rng):
    x, t = rng.normal(size=(2, 3, 4, 5)), rng.integers(0, 3, size=(2, 4, 5))
    assert_same(run_both(nn.CrossEntropyLoss(reduction=reduction, ignore_index=1),
                         tnn.CrossEntropyLoss(reduction=reduction, ignore_index=1), x, t))
    probs = rng.dirichlet(np.ones(4), size=5)
    opts = {"weight": [1.0, 2.0, 0.5, 1.5], "label_smoothing": 0.1}
    assert_same(run_both(nn.CrossEntropyLoss(**opts, reduction=reduction),
                         tnn.CrossEntropyLoss(**_torch_options(opts), reduction=reduction),
                         rng.normal(size=(5, 4)), probs))
    # probabilities over the class axis of a spatial input: "mean" is over N * H * W
    spatial_probs = rng.dirichlet(np.ones(3), size=(2, 4, 5)).transpose(0, 3, 1, 2)
    assert_same(run_both(nn.CrossEntropyLoss(reduction=reduction),
                         tnn.CrossEntropyLoss(reduction=reduction), x, spatial_probs))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", CE_OPTIONS[:4])
def test_nll_loss_matches_torch(options, reduction, rng):
    x, t = rng.normal(size=(6, 4)), np.array([3, 1, 2, 0, 2, 1])
    assert_same(run_both(nn.NLLLoss(**options, reduction=reduction),
                         tnn.NLLLoss(**_torch_options(options), reduction=reduction), x, t))


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_every_target_ignored_gives_nan_and_a_zero_gradient_like_torch(label_smoothing):
    # a batch of padding only: the loss is nan, but no parameter may become nan
    x, t = np.random.default_rng(2).normal(size=(2, 3)), np.array([1, 1])
    xt, xp = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours = F.cross_entropy(xt, t, ignore_index=1, label_smoothing=label_smoothing)
    theirs = torch.nn.functional.cross_entropy(xp, torch.tensor(t), ignore_index=1,
                                               label_smoothing=label_smoothing)
    assert np.isnan(as_numpy(ours)) and torch.isnan(theirs)
    ours.backward()
    theirs.backward()
    np.testing.assert_array_equal(as_numpy(xt.grad), as_numpy(xp.grad))
    assert not np.isnan(as_numpy(xt.grad)).any()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_weight", [False, True])
def test_bce_matches_torch(reduction, with_weight, rng):
    x, y = rng.uniform(0.05, 0.95, size=(4, 3)), rng.integers(0, 2, size=(4, 3)).astype(float)
    w = rng.uniform(0.5, 2, size=(4, 3)) if with_weight else None
    assert_same(run_both(nn.BCELoss(weight=w, reduction=reduction),
                         tnn.BCELoss(weight=None if w is None else torch.tensor(w),
                                     reduction=reduction), x, y))


def test_bce_at_saturated_probabilities_is_finite_like_torch():
    """Probabilities of exactly 0 and 1 (a saturated sigmoid): the logs are clamped at
    -100 and the gradient is PyTorch's finite one."""
    x, y = np.array([0.0, 1.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0, 1.0])
    assert_same(run_both(nn.BCELoss(reduction="none"), tnn.BCELoss(reduction="none"), x, y),
                rtol=1e-8)  # gradients of 1e11: the order of the products shows at 1e-9


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, [0.5, 2.0, 4.0]])
def test_bce_with_logits_matches_torch(reduction, pos_weight, rng):
    x = rng.normal(scale=30, size=(5, 3))  # large logits: the stable form matters
    y = rng.integers(0, 2, size=(5, 3)).astype(float)
    w = rng.uniform(0.5, 2, size=(5, 3))
    tpw = None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float64)
    assert_same(run_both(nn.BCEWithLogitsLoss(weight=w, reduction=reduction, pos_weight=pos_weight),
                         tnn.BCEWithLogitsLoss(weight=torch.tensor(w), reduction=reduction,
                                               pos_weight=tpw), x, y))


def test_loss_weight_is_a_buffer_like_torch():
    loss = nn.CrossEntropyLoss(weight=[1.0, 2.0])
    assert list(loss.state_dict()) == list(tnn.CrossEntropyLoss(
        weight=torch.tensor([1.0, 2.0])).state_dict()) == ["weight"]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target", [2, np.array([0.2, 0.3, 0.5])], ids=["index", "probabilities"])
def test_unbatched_logits_take_an_unbatched_target_as_in_torch(reduction, target):
    z = np.array([0.5, -1.0, 2.0])
    mine = tm.tensor(z, requires_grad=True)
    theirs = torch.tensor(z, requires_grad=True)
    ours = F.cross_entropy(mine, tm.tensor(target), reduction=reduction, label_smoothing=0.1)
    their = torch.nn.functional.cross_entropy(theirs, torch.tensor(target), reduction=reduction,
                                              label_smoothing=0.1)
    assert ours.shape == tuple(their.shape) == ()
    np.testing.assert_allclose(ours.numpy(), their.detach().numpy(), rtol=1e-12)
    ours.backward()
    their.backward()
    np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    if not isinstance(target, int):
        return
    nll = F.nll_loss(tm.tensor(z), tm.tensor(target), reduction=reduction)
    their_nll = torch.nn.functional.nll_loss(torch.tensor(z), torch.tensor(target),
                                             reduction=reduction)
    assert nll.shape == tuple(their_nll.shape)
    np.testing.assert_allclose(nll.numpy(), their_nll.numpy(), rtol=1e-12)


def test_what_torch_refuses_is_refused():
    """Each of these gave a number silently; PyTorch raises."""
    probabilities = tm.tensor(np.full((2, 3), 1 / 3, np.float32))
    with pytest.raises(ValueError, match="ignore_index is not supported for class probability"):
        F.cross_entropy(tm.randn(2, 3), probabilities, ignore_index=1)
    with pytest.raises(ValueError, match="every target value must be in \\[0, 1\\]"):
        F.binary_cross_entropy(tm.tensor([0.5]), tm.tensor([1.5]))
    with pytest.raises(ValueError, match="dim 3 is out of range for a tensor with 2 dims"):
        tm.nn.Flatten(3)(tm.zeros(2, 3))
