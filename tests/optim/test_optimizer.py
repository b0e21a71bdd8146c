"""Tests for tinymin.optim: update rules against hand-computed values, state, schedulers.

Parameters are a tiny stand-in (a numpy ``.data``, and the ``numpy()``, ``shape`` and
``grad`` an optimizer reads), so the update rules are tested on plain arrays. Every
expected number is written out from the equations in the class docstrings; the comments
show the intermediate values.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from tinymin import from_numpy, optim
from tinymin.checkpoint.state_codec import flatten_state_dict, unflatten_state_dict
from tinymin.nn import Parameter
from tinymin.optim import (
    SGD,
    Adam,
    AdamW,
    CosineAnnealingLR,
    Optimizer,
    StepLR,
    lr_scheduler,
)

RTOL = 1e-12


class P:
    """Stand-in parameter: a numpy ``data`` array, and a ``grad`` that is None or a Tensor
    (an array assigned to it is wrapped, as backward() would leave it)."""

    def __init__(self, data, grad=None, dtype=np.float64):
        self.data = np.array(data, dtype=dtype)
        self.grad = None if grad is None else np.array(grad, dtype=dtype)

    def numpy(self):
        return self.data

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = None if value is None else from_numpy(np.asarray(value))


def run(optimizer, param, grads):
    """Set each gradient in turn, step, and return the parameter after every step."""
    trajectory = []
    for g in grads:
        param.grad = np.array(g, dtype=param.data.dtype)
        optimizer.step()
        trajectory.append(param.data.copy())
    return trajectory


# ---------------------------------------------------------------------- SGD
def test_sgd_plain():
    p = P([1.0, -2.0])
    traj = run(SGD([p], lr=0.1), p, [[0.5, 1.0], [-1.0, 2.0]])
    # theta -= 0.1 * g
    assert_allclose(traj[0], [0.95, -2.1], rtol=RTOL)
    assert_allclose(traj[1], [1.05, -2.3], rtol=RTOL)


def test_sgd_momentum():
    p = P([1.0, 0.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    traj = run(opt, p, [[1.0, 0.5], [2.0, -0.5], [-1.0, 1.0]])
    # entry 0: b = 1            -> 0.9;  b = 0.9*1 + 2 = 2.9    -> 0.61
    #          b = 0.9*2.9 - 1 = 1.61 -> 0.449
    # entry 1: b = 0.5          -> -0.05; b = 0.45 - 0.5 = -0.05 -> -0.045
    #          b = -0.045 + 1 = 0.955 -> -0.1405
    assert_allclose(traj[0], [0.9, -0.05], rtol=RTOL)
    assert_allclose(traj[1], [0.61, -0.045], rtol=RTOL)
    assert_allclose(traj[2], [0.449, -0.1405], rtol=RTOL)
    assert_allclose(opt.state[p]["momentum_buffer"], [1.61, 0.955], rtol=RTOL)


def test_sgd_dampening_skips_first_step():
    p = P([1.0])
    traj = run(SGD([p], lr=0.1, momentum=0.9, dampening=0.5), p, [[1.0], [2.0], [-1.0]])
    # b1 = g1 = 1 (undamped)               -> 0.9
    # b2 = 0.9*1 + 0.5*2 = 1.9             -> 0.9 - 0.19 = 0.71
    # b3 = 0.9*1.9 + 0.5*(-1) = 1.21       -> 0.71 - 0.121 = 0.589
    assert_allclose(np.concatenate(traj), [0.9, 0.71, 0.589], rtol=RTOL)


def test_sgd_nesterov():
    p = P([1.0])
    traj = run(SGD([p], lr=0.1, momentum=0.9, nesterov=True), p, [[1.0], [2.0], [-1.0]])
    # b1 = 1,    d1 = 1 + 0.9*1 = 1.9       -> 1 - 0.19 = 0.81
    # b2 = 2.9,  d2 = 2 + 0.9*2.9 = 4.61    -> 0.81 - 0.461 = 0.349
    # b3 = 1.61, d3 = -1 + 0.9*1.61 = 0.449 -> 0.349 - 0.0449 = 0.3041
    assert_allclose(np.concatenate(traj), [0.81, 0.349, 0.3041], rtol=RTOL)


def test_sgd_weight_decay_leaves_grad_untouched():
    p = P([1.0, -2.0])
    opt = SGD([p], lr=0.1, weight_decay=0.1)
    traj = run(opt, p, [[0.5, 1.0], [0.5, 1.0]])
    # g' = g + 0.1*theta: [0.6, 0.8] -> [0.94, -2.08]; [0.594, 0.792] -> [0.8806, -2.1592]
    assert_allclose(traj[0], [0.94, -2.08], rtol=RTOL)
    assert_allclose(traj[1], [0.8806, -2.1592], rtol=RTOL)
    assert_array_equal(p.grad, [0.5, 1.0])


def test_sgd_weight_decay_with_momentum():
    p = P([1.0])
    traj = run(SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1), p, [[1.0], [1.0]])
    # g'1 = 1 + 0.1 = 1.1,   b1 = 1.1                 -> 1 - 0.11 = 0.89
    # g'2 = 1 + 0.089 = 1.089, b2 = 0.99 + 1.089 = 2.079 -> 0.89 - 0.2079 = 0.6821
    assert_allclose(np.concatenate(traj), [0.89, 0.6821], rtol=RTOL)


def test_sgd_maximize():
    p = P([1.0])
    run(SGD([p], lr=0.1, maximize=True, weight_decay=0.1), p, [[0.5]])
    # g' = -0.5 + 0.1*1 = -0.4 -> 1 + 0.04
    assert_allclose(p.data, [1.04], rtol=RTOL)


def test_sgd_minimises_a_quadratic():
    # f(x) = 1/2 x^T A x - b^T x, grad = A x - b, minimum at A^{-1} b = [0.2, 0.4]
    # (A^{-1} = [[2, -1], [-1, 3]] / 5).
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, 1.0])
    for kwargs in (dict(lr=0.2), dict(lr=0.05, momentum=0.9, nesterov=True)):
        x = P([5.0, -3.0])
        opt = SGD([x], **kwargs)
        for _ in range(300):
            opt.zero_grad()
            x.grad = A @ x.data - b
            opt.step()
        assert_allclose(x.data, [0.2, 0.4], atol=1e-8)


# ---------------------------------------------------------------------- Adam
def test_adam_bias_correction_three_steps():
    p = P([1.0, 1.0])
    opt = Adam([p], lr=0.1)  # betas (0.9, 0.999), eps 1e-8
    traj = run(opt, p, [[1.0, 2.0], [-1.0, 0.0], [1.0, 1.0]])
    # bias corrections: 1 - 0.9^t = 0.1, 0.19, 0.271; 1 - 0.999^t = 0.001, 0.001999, 0.002997001
    # entry 0 (|g| = 1): m = 0.1, -0.01, 0.091; v/(1-0.999^t) = 1 every step
    # entry 1: m = 0.2, 0.18, 0.262; v = 0.004, 0.003996, 0.004992004
    eps = 1e-8
    e0 = 1.0
    e1 = 1.0
    expected = []
    for m0, m1, v1, bc1, bc2 in [
        (0.1, 0.2, 0.004, 0.1, 0.001),
        (-0.01, 0.18, 0.003996, 0.19, 0.001999),
        (0.091, 0.262, 0.004992004, 0.271, 0.002997001),
    ]:
        e0 -= 0.1 * (m0 / bc1) / (1.0 + eps)
        e1 -= 0.1 * (m1 / bc1) / (math.sqrt(v1 / bc2) + eps)
        expected.append([e0, e1])
    assert_allclose(traj, expected, rtol=RTOL)
    # the update at step 1 is lr * sign(g): the whole point of the bias correction
    assert_allclose(traj[0], [0.9, 0.9], rtol=1e-7)
    state = opt.state[p]
    assert state["step"] == 3
    assert_allclose(state["exp_avg"], [0.091, 0.262], rtol=RTOL)
    assert_allclose(state["exp_avg_sq"], [0.002997001, 0.004992004], rtol=RTOL)


def test_adam_amsgrad_keeps_the_largest_second_moment():
    p = P([1.0])
    opt = Adam([p], lr=0.1, amsgrad=True)
    traj = run(opt, p, [[2.0], [0.0]])
    # v = 0.004, then 0.003996 < 0.004, so step 2 divides by sqrt(0.004 / 0.001999)
    p1 = 1.0 - 0.1 * (0.2 / 0.1) / (math.sqrt(0.004 / 0.001) + 1e-8)
    p2 = p1 - 0.1 * (0.18 / 0.19) / (math.sqrt(0.004 / 0.001999) + 1e-8)
    assert_allclose(np.concatenate(traj), [p1, p2], rtol=RTOL)
    assert_allclose(opt.state[p]["max_exp_avg_sq"], [0.004], rtol=RTOL)


def test_adam_l2_weight_decay():
    p = P([2.0])
    traj = run(Adam([p], lr=0.1, weight_decay=0.5), p, [[0.0], [0.0]])
    # step 1: g' = 0 + 0.5*2 = 1, m = 0.1, v = 0.001 -> m_hat = 1, v_hat = 1
    p1 = 2.0 - 0.1 * 1.0 / (1.0 + 1e-8)
    # step 2: g' = 0.5*p1, m = 0.09 + 0.1*g', v = 0.000999 + 0.001*g'^2
    g2 = 0.5 * p1
    m2, v2 = 0.09 + 0.1 * g2, 0.000999 + 0.001 * g2**2
    p2 = p1 - 0.1 * (m2 / 0.19) / (math.sqrt(v2 / 0.001999) + 1e-8)
    assert_allclose(np.concatenate(traj), [p1, p2], rtol=RTOL)


def test_adamw_decoupled_weight_decay():
    p = P([2.0])
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    traj = run(opt, p, [[1.0], [1.0]])
    # theta *= 1 - 0.1*0.5 = 0.95 first; then the Adam step, with m_hat = v_hat = 1
    p1 = 0.95 * 2.0 - 0.1 / (1.0 + 1e-8)
    p2 = 0.95 * p1 - 0.1 / (1.0 + 1e-8)
    assert_allclose(np.concatenate(traj), [p1, p2], rtol=RTOL)
    assert AdamW([P([0.0])]).defaults["weight_decay"] == 1e-2
    assert opt.param_groups[0]["decoupled_weight_decay"] is True


# ---------------------------------------------------------------------- shared behaviour
OPTIMIZERS = [
    lambda params: SGD(params, lr=0.1),
    lambda params: SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda params: Adam(params, lr=0.1, amsgrad=True, weight_decay=0.01),
    lambda params: AdamW(params, lr=0.1),
]
OPTIMIZER_IDS = ["sgd", "sgd-nesterov", "adam-amsgrad", "adamw"]


@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_float32_stays_float32_and_updates_in_place(make):
    p = P([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    data, view = p.data, p.data[0]
    opt = make([p])
    for g in ([0.5, -1.0], [0.25, 2.0]):
        p.grad = np.array([g, g], dtype=np.float64)  # even a float64 grad
        opt.step()
    assert p.data is data and p.data.dtype == np.float32
    assert_array_equal(view, p.data[0])  # views see the update
    assert not np.array_equal(p.data, [[1.0, 2.0], [3.0, 4.0]])
    for value in opt.state[p].values():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32


@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_grad_none_is_skipped(make):
    a, b = P([1.0, 2.0], grad=[1.0, 1.0]), P([3.0, 4.0])
    opt = make([a, b])
    opt.step()
    assert_array_equal(b.data, [3.0, 4.0])
    assert b not in opt.state
    assert not np.array_equal(a.data, [1.0, 2.0])


def test_zero_grad_set_to_none_and_in_place():
    a, b = P([1.0], grad=[2.0]), P([1.0])
    opt = SGD([a, b], lr=0.1)
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and grad[0] == 0.0 and b.grad is None
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_grad_with_the_wrong_shape_raises():
    p = P([1.0, 2.0, 3.0], grad=[1.0])
    with pytest.raises(ValueError, match=r"gradient of shape \(1,\).*shape \(3,\)"):
        SGD([p], lr=0.1).step()


def test_closure_loss_is_returned():
    p = P([1.0], grad=[1.0])
    assert SGD([p], lr=0.1).step(lambda: 42.0) == 42.0


def test_param_groups_fill_defaults_and_keep_their_own_options():
    a, b = P([1.0], grad=[1.0]), P([1.0], grad=[1.0])
    opt = SGD([{"params": [a]}, {"params": b, "lr": 0.01}], lr=0.1, momentum=0.5)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [g["momentum"] for g in opt.param_groups] == [0.5, 0.5]
    assert opt.param_groups[1]["params"] == [b]
    opt.step()
    assert_allclose([a.data[0], b.data[0]], [0.9, 0.99], rtol=RTOL)
    c = P([1.0])
    opt.add_param_group({"params": (x for x in [c]), "momentum": 0.0})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["params"] == [c]


def test_repr_lists_the_groups():
    text = repr(SGD([P([1.0])], lr=0.1))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "lr: 0.1" in text


# ---------------------------------------------------------------------- state_dict
def _two_group_model():
    return [P([1.0, -2.0, 0.5]), P([[0.3, 0.2], [0.1, -0.4]]), P([7.0])]


def _grads(step):
    """A deterministic gradient for each parameter; the last one gets none on odd steps."""
    rng = np.random.default_rng(step)
    shapes = [(3,), (2, 2), (1,)]
    grads = [rng.standard_normal(s) for s in shapes]
    if step % 2:
        grads[2] = None
    return grads


def _make(params, kind):
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": 0.05}]
    if kind == "sgd":
        return SGD(groups, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)
    if kind == "adam":
        return Adam(groups, lr=0.1, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.01)
    return AdamW(groups, lr=0.1)


def _steps(opt, params, first, count):
    for step in range(first, first + count):
        for p, g in zip(params, _grads(step)):
            p.grad = g
        opt.step()


@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw"])
def test_state_dict_round_trip_through_npz_continues_the_same_trajectory(kind, tmp_path):
    params = _two_group_model()
    opt = _make(params, kind)
    StepLR(opt, step_size=2)  # adds 'initial_lr' to the groups: saved too
    _steps(opt, params, 0, 3)
    saved = opt.state_dict()
    path = tmp_path / "optim.npz"
    np.savez(path, **flatten_state_dict(saved, prefix="optimizer/"))

    clones = [P(p.data.copy()) for p in params]
    restored = _make(clones, kind)
    with np.load(path, allow_pickle=False) as npz:
        restored.load_state_dict(unflatten_state_dict(npz, prefix="optimizer/"))
    assert restored.param_groups[0]["initial_lr"] == 0.1

    _steps(opt, params, 3, 4)
    _steps(restored, clones, 3, 4)
    for p, clone in zip(params, clones):
        assert_array_equal(p.data, clone.data)  # exactly the same numbers


def test_state_dict_layout_and_copies():
    a, b = P([1.0, 2.0], grad=[1.0, 1.0]), P([3.0])
    opt = Adam([{"params": [a]}, {"params": [b], "lr": 0.5}])
    opt.step()
    sd = opt.state_dict()
    assert list(sd) == ["state", "param_groups", "optimizer"] and sd["optimizer"] == "Adam"
    assert list(sd["state"]) == [0]  # b got no gradient, so it has no state
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    before = sd["state"][0]["exp_avg"].copy()
    opt.step()  # a later step must not change a state_dict already taken
    assert_array_equal(sd["state"][0]["exp_avg"], before)


def test_flatten_round_trip_keeps_python_types():
    sd = {
        "state": {0: {"step": 3, "exp_avg": np.arange(3.0)}, 2: {"buf": np.zeros((2, 2))}},
        "param_groups": [
            {"lr": 0.1, "betas": (0.9, 0.999), "amsgrad": False, "params": [0, 1]},
            {"lr": 1e-3, "name": "head", "extra": None, "params": [2]},
        ],
    }
    flat = flatten_state_dict(sd)
    assert all(isinstance(v, np.ndarray) for v in flat.values())
    assert "state/0/exp_avg" in flat and "param_groups/0/betas:tuple" in flat
    back = unflatten_state_dict(flat)
    assert back.keys() == sd.keys() and back["param_groups"] == sd["param_groups"]
    assert type(back["param_groups"][0]["betas"]) is tuple
    assert type(back["state"][0]["step"]) is int
    assert list(back["state"]) == [0, 2]
    assert_array_equal(back["state"][0]["exp_avg"], np.arange(3.0))
    empty = {"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    assert unflatten_state_dict(flatten_state_dict(empty)) == empty


def test_flatten_rejects_what_npz_cannot_hold_without_pickle():
    with pytest.raises(TypeError, match="cannot store"):
        flatten_state_dict({"state": {}, "param_groups": [{"fn": print, "params": [0]}]})
    with pytest.raises(ValueError, match="'/' or ':'"):
        flatten_state_dict({"a/b": 1.0})


def test_load_state_dict_mismatches_raise_and_change_nothing():
    params = [P([1.0, 2.0], grad=[1.0, 1.0]), P([3.0], grad=[1.0])]
    opt = SGD(params, lr=0.1, momentum=0.9)
    opt.step()
    sd = opt.state_dict()

    two_groups = SGD([{"params": [P([1.0, 2.0])]}, {"params": [P([3.0])]}], lr=0.1)
    with pytest.raises(ValueError, match="1 parameter groups, but this optimizer has 2"):
        two_groups.load_state_dict(sd)

    three = SGD([P([1.0, 2.0]), P([3.0]), P([4.0])], lr=0.1)
    with pytest.raises(ValueError, match="group 0: loaded state dict has 2 parameters.* has 3"):
        three.load_state_dict(sd)

    swapped = [P([3.0]), P([1.0, 2.0])]
    target = SGD(swapped, lr=0.5, momentum=0.9)
    with pytest.raises(
        ValueError, match=r"parameter 0 .*'momentum_buffer' has shape \(2,\).*shape \(1,\)"
    ):
        target.load_state_dict(sd)
    assert target.param_groups[0]["lr"] == 0.5 and len(target.state) == 0  # untouched

    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        target.load_state_dict({"param_groups": sd["param_groups"]})


def test_load_state_dict_casts_to_the_parameter_dtype():
    p64 = P([1.0, 2.0], grad=[1.0, 1.0])
    opt = Adam([p64])
    opt.step()
    p32 = P([1.0, 2.0], dtype=np.float32)
    opt32 = Adam([p32])
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[p32]["exp_avg"].dtype == np.float32
    assert opt32.state[p32]["step"] == 1


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: SGD(p, lr=-0.1), "lr must be >= 0"),
        (lambda p: SGD(p, lr=0.1, momentum=-0.5), "momentum must be >= 0"),
        (lambda p: SGD(p, lr=0.1, weight_decay=-1.0), "weight_decay must be >= 0"),
        (lambda p: SGD(p, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (
            lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
            "dampening == 0",
        ),
        (lambda p: SGD([{"params": p, "lr": -1.0}], lr=0.1), "lr must be >= 0"),
        (lambda p: Adam(p, lr=-1e-3), "lr must be >= 0"),
        (lambda p: Adam(p, betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\)"),
        (lambda p: Adam(p, betas=(0.9, -0.1)), r"betas\[1\] must be in \[0, 1\)"),
        (lambda p: Adam(p, betas=(0.9,)), "betas must be a pair"),
        (lambda p: Adam(p, eps=-1e-8), "eps must be >= 0"),
        (lambda p: AdamW(p, weight_decay=-0.1), "weight_decay must be >= 0"),
        (lambda p: SGD(p + p, lr=0.1), "same parameter twice"),
        (
            lambda p: SGD([{"params": p}, {"params": p[:1]}], lr=0.1),
            "already in parameter group 0",
        ),
    ],
)
def test_invalid_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make([P([1.0]), P([2.0])])


def test_empty_parameter_list():
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        Adam(iter([]))


def test_sets_are_rejected_because_their_order_is_undefined():
    with pytest.raises(TypeError, match="ordered collection.*set's iteration order"):
        SGD({P([1.0])}, lr=0.1)
    with pytest.raises(TypeError, match="ordered collection"):
        SGD([{"params": {P([1.0])}}], lr=0.1)


def test_things_that_are_not_parameters_raise_type_error():
    p = P([1.0])
    with pytest.raises(TypeError, match="single parameter; wrap it in a list"):
        SGD(p, lr=0.1)
    assert SGD([("weight", p)], lr=0.1).param_groups[0]["params"][0] is p  # as in torch 2
    with pytest.raises(TypeError, match="position 1 is a ndarray"):
        SGD([p, np.zeros(1)], lr=0.1)


def test_base_optimizer_step_is_abstract():
    with pytest.raises(NotImplementedError, match="update_parameter"):
        Optimizer([P([1.0], grad=[0.5])], {}).step()


# ---------------------------------------------------------------------- schedulers
def _lrs(scheduler, epochs):
    """The lr of group 0 at epochs 0, 1, ..., epochs - 1."""
    out = []
    for _ in range(epochs):
        out.append(scheduler.get_last_lr()[0])
        assert scheduler.optimizer.param_groups[0]["lr"] == out[-1]
        scheduler.optimizer.step()
        scheduler.step()
    return out


def test_step_lr_sequence():
    opt = SGD([{"params": [P([1.0])]}, {"params": [P([1.0])], "lr": 1.0}], lr=0.1)
    scheduler = StepLR(opt, step_size=3)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 1.0]
    assert scheduler.last_epoch == 0
    assert_allclose(_lrs(scheduler, 8), [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001], rtol=RTOL)
    assert scheduler.last_epoch == 8
    assert_allclose(scheduler.get_last_lr(), [0.001, 0.01], rtol=RTOL)


def test_cosine_annealing_closed_form():
    opt = SGD([P([1.0])], lr=0.1)
    lrs = _lrs(CosineAnnealingLR(opt, T_max=10), 21)
    # 0.05 * (1 + cos(pi e / 10)); cos(pi/5) = (1 + sqrt 5) / 4 = 0.8090169943749475
    assert_allclose(lrs[0], 0.1, rtol=RTOL)
    assert_allclose(lrs[2], 0.05 * 1.8090169943749475, rtol=RTOL)
    assert_allclose(lrs[5], 0.05, rtol=RTOL)
    assert_allclose(lrs[8], 0.05 * (1 - 0.8090169943749475), rtol=RTOL)
    assert_allclose(lrs[10], 0.0, atol=1e-17)
    assert_allclose(lrs[15], 0.05, rtol=RTOL)  # past T_max it rises again
    assert_allclose(lrs[20], 0.1, rtol=RTOL)

    opt = SGD([P([1.0])], lr=0.1)
    lrs = _lrs(CosineAnnealingLR(opt, T_max=4, eta_min=0.01), 5)
    # 0.01 + 0.045 * (1 + cos(pi e / 4)); cos(pi/4) = 0.7071067811865476
    expected = [0.1, 0.01 + 0.045 * 1.7071067811865476, 0.055, 0.01 + 0.045 * 0.2928932188134524]
    assert_allclose(lrs[:4], expected, rtol=RTOL)
    assert_allclose(lrs[4], 0.01, rtol=RTOL)


def test_scheduler_state_dict_round_trip(tmp_path):
    opt = SGD([P([1.0])], lr=0.1)
    scheduler = CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    _lrs(scheduler, 3)
    path = tmp_path / "sched.npz"
    np.savez(path, **flatten_state_dict(opt.state_dict(), prefix="optimizer/"))
    with np.load(path, allow_pickle=False) as npz:
        np.savez(path, **dict(npz), **flatten_state_dict(scheduler.state_dict(), "scheduler/"))

    opt2 = SGD([P([1.0])], lr=0.1)
    scheduler2 = CosineAnnealingLR(opt2, T_max=10, eta_min=0.001)
    with np.load(path, allow_pickle=False) as npz:
        opt2.load_state_dict(unflatten_state_dict(npz, prefix="optimizer/"))
        scheduler2.load_state_dict(unflatten_state_dict(npz, prefix="scheduler/"))
    assert scheduler2.last_epoch == 3
    assert _lrs(scheduler2, 5) == _lrs(scheduler, 5)

    with pytest.raises(ValueError, match="missing keys.*step_size"):
        StepLR(SGD([P([1.0])], lr=0.1), step_size=2).load_state_dict(scheduler.state_dict())


def test_scheduler_resume_needs_initial_lr_and_validates_arguments():
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(SGD([P([1.0])], lr=0.1), step_size=2, last_epoch=4)
    with pytest.raises(ValueError, match="step_size must be >= 1"):
        StepLR(SGD([P([1.0])], lr=0.1), step_size=0)
    with pytest.raises(ValueError, match="T_max must be > 0"):
        CosineAnnealingLR(SGD([P([1.0])], lr=0.1), T_max=0)
    assert lr_scheduler.StepLR is StepLR and issubclass(StepLR, lr_scheduler.LRScheduler)


# ---------------------------------------------------------------------- against PyTorch
TORCH_CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01, maximize=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("name,options", TORCH_CASES, ids=lambda c: str(c))
def test_trajectory_matches_torch_optim(backend, name, options):
    torch = pytest.importorskip("torch")
    from tinymin import _ext, optim

    if backend == "cython" and not _ext.HAVE_CYTHON:
        pytest.skip("Cython extension not built")
    rng = np.random.default_rng(0)
    shapes = [(64, 32, 5, 5), (10,), (3, 7)]
    ours = [P(rng.standard_normal(s), dtype=np.float32) for s in shapes]
    theirs = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ours]
    opt = getattr(optim, name)(ours, **options)
    reference = getattr(torch.optim, name)(theirs, foreach=True, **options)
    with _ext.use_backend(backend):
        for _ in range(5):
            for p, t in zip(ours, theirs):
                p.grad = rng.standard_normal(p.data.shape).astype(np.float32)
                t.grad = torch.from_numpy(p.grad.numpy().copy())
            opt.step()
            reference.step()
    for p, t in zip(ours, theirs):
        assert_allclose(p.data, t.detach().numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# Optimizer.load_state_dict refuses another optimizer's state, naming both, and changes nothing
# when it refuses.


def _stepped(optimizer_class, **options):
    p = Parameter(np.array([1.0, 2.0], dtype=np.float32))
    optimizer = optimizer_class([p], lr=0.1, **options)
    p.grad = from_numpy(np.array([0.5, -0.5], dtype=np.float32))
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
