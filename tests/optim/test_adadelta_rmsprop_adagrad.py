"""Adadelta, RMSprop and Adagrad: one step against the equations of their docstrings,
checkpoints and checks (step by step against torch.optim: tests/torchlike/test_optim.py)."""

import numpy as np
import pytest

import tinymin as tm
from tinymin import optim
from tinymin.nn import Parameter


def as_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def set_gradient(w, grad):
    """Give ``w`` the gradient ``grad`` through autograd: d/dw sum(w * grad) = grad."""
    w.grad = None
    (w * tm.tensor(np.asarray(grad, dtype=w.dtype))).sum().backward()


def one_step(name, grad, **options):
    w = Parameter(np.array([1.0, -2.0, 0.5]))
    set_gradient(w, grad)
    getattr(optim, name)([w], **options).step()
    return as_numpy(w)


def test_first_steps_follow_the_equations():
    g = np.array([0.5, -1.0, 2.0])
    w0 = np.array([1.0, -2.0, 0.5])
    # Adadelta: v = (1 - rho) g^2, delta = sqrt(0 + eps) / sqrt(v + eps) * g
    v = 0.1 * g**2
    np.testing.assert_allclose(one_step("Adadelta", g), w0 - np.sqrt(1e-6) / np.sqrt(v + 1e-6) * g,
                               rtol=1e-12)
    # RMSprop: v = (1 - alpha) g^2, w -= lr g / (sqrt(v) + eps)
    v = 0.01 * g**2
    np.testing.assert_allclose(one_step("RMSprop", g), w0 - 0.01 * g / (np.sqrt(v) + 1e-8),
                               rtol=1e-12)
    # Adagrad: s = s0 + g^2, w -= lr g / (sqrt(s) + eps)
    s = 0.1 + g**2
    np.testing.assert_allclose(one_step("Adagrad", g, initial_accumulator_value=0.1),
                               w0 - 0.01 * g / (np.sqrt(s) + 1e-10), rtol=1e-12)


@pytest.mark.parametrize("name", ["Adadelta", "RMSprop", "Adagrad"])
def test_optimizer_state_dict_round_trip_continues_exactly(name):
    w = Parameter(np.ones(3, dtype=np.float32))
    opt = getattr(optim, name)([w], lr=0.1)
    for _ in range(3):
        set_gradient(w, np.full(3, 0.5))
        opt.step()
    saved, value = opt.state_dict(), as_numpy(w).copy()
    w2 = Parameter(value)
    opt2 = getattr(optim, name)([w2], lr=0.1)
    opt2.load_state_dict(saved)
    for p, o in ((w, opt), (w2, opt2)):
        set_gradient(p, np.full(3, -0.25))
        o.step()
    np.testing.assert_array_equal(as_numpy(w), as_numpy(w2))
    with pytest.raises(ValueError, match="saved by"):
        optim.SGD([Parameter(np.ones(3))], lr=0.1).load_state_dict(saved)


@pytest.mark.parametrize("name, options, key", [
    ("Adadelta", {}, "acc_delta"),
    ("Adagrad", {}, "sum"),
    ("RMSprop", {}, "square_avg"),
    ("RMSprop", {"momentum": 0.9}, "momentum_buffer"),
    ("RMSprop", {"centered": True}, "grad_avg"),
])
def test_a_state_missing_a_buffer_is_refused_on_loading_not_at_the_next_step(name, options,
                                                                             key):
    w = Parameter(np.ones(3))
    opt = getattr(optim, name)([w], lr=0.1, **options)
    set_gradient(w, np.full(3, 0.5))
    opt.step()
    saved = opt.state_dict()
    del saved["state"][0][key]
    fresh = getattr(optim, name)([Parameter(np.ones(3))], lr=0.1, **options)
    with pytest.raises(ValueError, match=rf"{name}.load_state_dict: parameter 0 .*"
                                         rf"state lacks \['{key}'\]"):
        fresh.load_state_dict(saved)
    assert fresh.state == {} or not any(fresh.state.values())  # nothing changed


def test_bad_hyperparameters_are_refused():
    w = [Parameter(np.ones(2))]
    with pytest.raises(ValueError, match="rho"):
        optim.Adadelta(w, rho=1.5)
    with pytest.raises(ValueError, match="alpha"):
        optim.RMSprop(w, alpha=-0.1)
    with pytest.raises(ValueError, match="lr_decay"):
        optim.Adagrad(w, lr_decay=-1)
