"""tinymin.nn.functional: values against numpy formulas, gradient checks, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinymin as tm
import tinymin.nn.functional as F


def t64(array, requires_grad=True):
    return tm.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def away_from_zero(x, margin=0.05):
    return np.where(np.abs(x) < margin, margin * 2, x)


@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), st.integers(0, 1000))
@pytest.mark.parametrize(
    "fn",
    [F.relu, lambda x: F.leaky_relu(x, 0.2), F.sigmoid, F.tanh,
     lambda x: F.softmax(x, dim=-1), lambda x: F.log_softmax(x, dim=0)],
)
def test_activation_gradients(fn, shape, seed):
    x = away_from_zero(np.random.default_rng(seed).normal(size=shape))
    assert tm.gradcheck(fn, [t64(x)])


def test_activation_values():
    x = np.array([-2.0, -0.5, 0.0, 1.5])
    np.testing.assert_allclose(F.relu(t64(x)).data, np.maximum(x, 0))
    np.testing.assert_allclose(F.leaky_relu(t64(x)).data, np.where(x > 0, x, 0.01 * x))
    np.testing.assert_allclose(F.sigmoid(t64(x)).data, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(F.tanh(t64(x)).data, np.tanh(x))


def test_softmax_is_stable_and_normalised():
    logits = t64([[1000.0, 1001.0, 999.0], [-1000.0, 0.0, 5.0]])
    p = F.softmax(logits, dim=1).data
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(1), 1.0)
    expected = np.exp([-1.0, 0.0, -2.0]) / np.exp([-1.0, 0.0, -2.0]).sum()
    np.testing.assert_allclose(p[0], expected)
    assert np.all(np.isfinite(F.log_softmax(logits, dim=1).data))
    assert np.all(np.isfinite(F.sigmoid(t64([-1000.0, 1000.0])).data))


def test_linear_matches_formula_and_gradcheck():
    rng = np.random.default_rng(0)
    x, w, b = t64(rng.normal(size=(5, 3))), t64(rng.normal(size=(2, 3))), t64(rng.normal(size=2))
    np.testing.assert_allclose(F.linear(x, w, b).data, x.data @ w.data.T + b.data)
    assert tm.gradcheck(F.linear, [x, w, b])
    assert tm.gradcheck(lambda a, c: F.linear(a, c), [x, w])


def test_linear_shape_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"linear.*\(5, 4\).*\(2, 3\)"):
        F.linear(tm.ones(5, 4), tm.ones(2, 3))


def test_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(1)
    logits = t64(rng.normal(size=(4, 3)))
    target = np.array([0, 2, 1, 2])
    z = logits.data
    expected = -np.mean(z[np.arange(4), target] - np.log(np.exp(z).sum(1)))
    np.testing.assert_allclose(F.cross_entropy(logits, target).item(), expected)
    assert tm.gradcheck(lambda a: F.cross_entropy(a, tm.tensor(target)), [logits])
    assert tm.gradcheck(lambda a: F.nll_loss(F.log_softmax(a, 1), target), [logits])


@pytest.mark.parametrize(
    "target, error, message",
    [
        (np.array([0.0, 1.0]), TypeError, "integer"),
        (np.array([0, 3]), ValueError, r"\[0, 3\)"),
        (np.array([-1, 0]), ValueError, "min -1"),
        (np.array([0, 1, 2]), ValueError, "target shape"),
    ],
)
def test_cross_entropy_rejects_bad_targets(target, error, message):
    with pytest.raises(error, match=message):
        F.cross_entropy(tm.zeros(2, 3), target)


def test_mse_loss():
    a, b = t64([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 1.0])
    assert F.mse_loss(a, b).item() == pytest.approx((0 + 4 + 9) / 3)
    assert tm.gradcheck(lambda x: F.mse_loss(x, b), [a])
    with pytest.raises(ValueError, match="mse_loss"):
        F.mse_loss(a, np.ones(2))


def test_float32_stays_float32_in_mse_loss_and_max_backward():
    x = tm.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]], requires_grad=True)
    loss = F.mse_loss(x, np.zeros((2, 3)))  # a float64 target must not upcast the graph
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    x.grad = None
    x.max(dim=1)[0].sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])  # ties share


def test_dropout_scaling_reproducibility_and_eval():
    x = tm.ones(1000, 100)
    tm.manual_seed(0)
    y = F.dropout(x, 0.3, training=True).data
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    tm.manual_seed(0)
    np.testing.assert_array_equal(F.dropout(x, 0.3, training=True).data, y)
    assert F.dropout(x, 0.3, training=False) is x
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(x, 1.5)


def test_dropout_gradient_uses_the_same_mask():
    x = t64(np.ones((3, 4)))
    tm.manual_seed(1)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, y.data)
