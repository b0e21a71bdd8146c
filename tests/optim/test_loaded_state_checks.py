"""A saved optimizer, scheduler or random-generator state with a value the constructor
would refuse is refused by load_state_dict (set_rng_state), with a ValueError naming
the value, and nothing changes; before, such states loaded and then crashed (or
trained with a NaN learning rate) at a later step."""

import copy
import json
import math

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn, optim
from tinymin.nn import Parameter
from tinymin.optim import lr_scheduler


def sgd(lr=0.1, **options):
    return optim.SGD([Parameter(np.zeros(1))], lr=lr, **options)


def stepped(make, steps=2):
    """An optimizer over one float32 parameter of 3 values, after ``steps`` steps."""
    w = Parameter(np.ones(3, dtype=np.float32))
    opt = make([w])
    for _ in range(steps):
        w.grad = tm.tensor(np.array([0.5, -1.0, 2.0], dtype=np.float32))
        opt.step()
    return opt, w


# ---------------------------------------------------------------- schedulers
def test_step_lr_refuses_the_reviewers_states_and_keeps_its_own():
    scheduler = lr_scheduler.StepLR(sgd(), step_size=1)
    for key, value, message in [
        ("step_size", 0, "StepLR.load_state_dict: step_size must be >= 1, got 0"),
        ("step_size", -1, "StepLR.load_state_dict: step_size must be >= 1, got -1"),
        ("gamma", math.nan, "StepLR.load_state_dict: gamma must be >= 0, got nan"),
        ("last_epoch", "x", "StepLR.load_state_dict: last_epoch must be an int, got 'x'"),
    ]:
        state = {**scheduler.state_dict(), key: value}
        with pytest.raises(ValueError) as caught:
            scheduler.load_state_dict(state)
        assert str(caught.value) == message
    scheduler.step()  # unchanged: step_size 1, gamma 0.1
    assert scheduler.get_last_lr() == pytest.approx([0.01], rel=1e-15)


def bad_states():
    """(scheduler factory, key, bad value, message) for each scheduler's options."""
    one_cycle = lambda: lr_scheduler.OneCycleLR(sgd(momentum=0.9), max_lr=1.0, total_steps=10)  # noqa: E731
    plateau = lambda: lr_scheduler.ReduceLROnPlateau(sgd())  # noqa: E731
    return [
        (lambda: lr_scheduler.StepLR(sgd(), 2), "gamma", -0.5, "gamma must be >= 0, got -0.5"),
        (lambda: lr_scheduler.StepLR(sgd(), 2), "base_lrs", [math.nan],
         r"base_lrs\[0\] must be >= 0, got nan"),
        (lambda: lr_scheduler.MultiStepLR(sgd(), [2]), "gamma", math.inf,
         "gamma must be finite, got inf"),
        (lambda: lr_scheduler.MultiStepLR(sgd(), [2]), "milestones", {2: 0},
         r"milestones must be a Counter of epochs \(ints\), got \{2: 0\}"),
        (lambda: lr_scheduler.ExponentialLR(sgd(), 0.9), "gamma", "0.9",
         "gamma must be a number, got '0.9'"),
        (lambda: lr_scheduler.ExponentialLR(sgd(), 0.9), "chain_lrs", [0.1, 0.1],
         r"chain_lrs must be a list of 1 numbers \(one per parameter group\), got \[0.1, 0.1\]"),
        (lambda: lr_scheduler.CosineAnnealingLR(sgd(), T_max=10), "T_max", 0,
         "T_max must be > 0, got 0"),
        (lambda: lr_scheduler.CosineAnnealingLR(sgd(), T_max=10), "eta_min", -0.1,
         "eta_min must be >= 0, got -0.1"),
        (lambda: lr_scheduler.LambdaLR(sgd(), lambda e: 1.0), "last_epoch", -1,
         "last_epoch must be >= 0, got -1"),
        (one_cycle, "total_steps", 0, "total_steps must be >= 1, got 0"),
        (one_cycle, "anneal_strategy", "cubic",
         "anneal_strategy must be 'cos' or 'linear', got 'cubic'"),
        (one_cycle, "cycle_momentum", 2, "cycle_momentum must be True or False, got 2"),
        (one_cycle, "last_epoch", 11, "last_epoch 11 is past the cycle's total_steps=10"),
        (one_cycle, "use_beta1", True, "use_beta1 is True, but SGD has no betas"),
        (plateau, "factor", 1.5, "factor must be < 1, got 1.5"),
        (plateau, "mode", "median", "mode must be 'min' or 'max', got 'median'"),
        (plateau, "patience", -1, "patience must be >= 0, got -1"),
        (plateau, "threshold", math.nan, "threshold must be finite, got nan"),
        (plateau, "best", math.nan, "best must be a number, got nan"),
        (plateau, "min_lrs", [float("nan")], r"min_lrs\[0\] must be finite, got nan"),
        (plateau, "num_bad_epochs", 2.5, "num_bad_epochs must be an int, got 2.5"),
    ]


@pytest.mark.parametrize("make, key, value, message", bad_states(),
                         ids=[f"{key}={value!r}" for _, key, value, _ in bad_states()])
def test_every_scheduler_refuses_a_loaded_value_and_changes_nothing(make, key, value, message):
    scheduler = make()
    before = scheduler.state_dict()
    with pytest.raises(ValueError, match=rf"^{type(scheduler).__name__}\.load_state_dict: "
                                         rf"{message}$"):
        scheduler.load_state_dict({**copy.deepcopy(before), key: value})
    assert scheduler.state_dict() == before


def test_one_cycle_refuses_phases_its_constructor_cannot_make():
    scheduler = lr_scheduler.OneCycleLR(sgd(momentum=0.9), max_lr=1.0, total_steps=10)
    state = scheduler.state_dict()
    state["phases"][1]["end_lr"] = "lr"
    with pytest.raises(ValueError, match=r"phases\[1\]\['end_lr'\] must be 'initial_lr' or "
                                         r"'max_lr' or 'min_lr', got 'lr'"):
        scheduler.load_state_dict(state)
    state = scheduler.state_dict()
    state["phases"][-1]["end_step"] = 20.0
    with pytest.raises(ValueError, match="last phase must end at step total_steps - 1 = 9, "
                                         "got 20.0"):
        scheduler.load_state_dict(state)


def test_lambda_lr_refuses_saved_lambdas_that_do_not_fit():
    scheduler = lr_scheduler.LambdaLR(sgd(), lambda e: 1.0)
    state = {**scheduler.state_dict(), "lr_lambdas": ["steps"]}
    with pytest.raises(ValueError, match=r"LambdaLR\.load_state_dict: lr_lambdas must be a list "
                                         r"of 1 entries .* got \['steps'\]"):
        scheduler.load_state_dict(state)


@pytest.mark.parametrize("make, message", [
    (lambda: lr_scheduler.StepLR(sgd(), 2, gamma=math.nan), "StepLR: gamma must be >= 0, got nan"),
    (lambda: lr_scheduler.ExponentialLR(sgd(), gamma=-1.0), "ExponentialLR: gamma must be >= 0"),
    (lambda: lr_scheduler.MultiStepLR(sgd(), [1], gamma=math.inf), "MultiStepLR: gamma must be finite"),
    (lambda: lr_scheduler.CosineAnnealingLR(sgd(), 10, eta_min=-1.0),
     "CosineAnnealingLR: eta_min must be >= 0"),
    (lambda: lr_scheduler.StepLR(sgd(), 2, last_epoch="3"), "StepLR: last_epoch must be an int"),
    (lambda: lr_scheduler.ReduceLROnPlateau(sgd(), patience=-1),
     "ReduceLROnPlateau: patience must be >= 0, got -1"),
    (lambda: lr_scheduler.ReduceLROnPlateau(sgd(), factor=math.nan),
     "ReduceLROnPlateau: factor must be < 1, got nan"),
    (lambda: lr_scheduler.OneCycleLR(sgd(momentum=0.9), 1.0, total_steps=5, cycle_momentum="no"),
     "OneCycleLR: cycle_momentum must be True or False, got 'no'"),
], ids=["StepLR.gamma", "ExponentialLR.gamma", "MultiStepLR.gamma", "CosineAnnealingLR.eta_min",
        "StepLR.last_epoch", "ReduceLROnPlateau.patience", "ReduceLROnPlateau.factor",
        "OneCycleLR.cycle_momentum"])
def test_constructors_apply_the_same_checks(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---------------------------------------------------------------- optimizer options
@pytest.mark.parametrize("make, key, value, message", [
    (lambda p: optim.Adam(p), "lr", "fast", "lr must be a number, got 'fast'"),
    (lambda p: optim.Adam(p), "betas", ("0.9", 0.999), r"betas\[0\] must be a number, got '0.9'"),
    (lambda p: optim.Adam(p), "amsgrad", 7, "amsgrad must be True or False, got 7"),
    (lambda p: optim.AdamW(p), "weight_decay", None, "weight_decay must be a number, got None"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), "momentum", "high",
     "momentum must be a number, got 'high'"),
    (lambda p: optim.SGD(p, lr=0.1), "dampening", math.nan, "dampening must be a number, got nan"),
    (lambda p: optim.Adadelta(p), "rho", 2.0, r"rho must be in \[0, 1\], got 2.0"),
    (lambda p: optim.Adagrad(p), "lr_decay", True, "lr_decay must be a number, got True"),
    (lambda p: optim.RMSprop(p), "centered", "yes", "centered must be True or False, got 'yes'"),
], ids=["Adam.lr", "Adam.betas", "Adam.amsgrad", "AdamW.weight_decay", "SGD.momentum",
        "SGD.dampening", "Adadelta.rho", "Adagrad.lr_decay", "RMSprop.centered"])
def test_a_loaded_option_the_constructor_refuses_is_a_value_error(make, key, value, message):
    opt, _ = stepped(make)
    before = opt.state_dict()
    state = copy.deepcopy(before)
    state["param_groups"][0][key] = value
    name = type(opt).__name__
    with pytest.raises(ValueError, match=rf"^{name}\.load_state_dict: parameter group 0: "
                                         rf"{message}$"):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    with pytest.raises(ValueError, match=rf"^{name}: {message}$"):  # as the constructor says
        make([{"params": [Parameter(np.ones(1))], key: value}])


def test_param_indices_must_be_ints():
    opt, _ = stepped(optim.Adam)
    state = opt.state_dict()
    state["param_groups"][0]["params"] = [0.0]
    with pytest.raises(ValueError, match=r"Adam\.load_state_dict: parameter group 0: 'params' "
                                         r"must be a list of parameter indices \(ints\), got \[0.0\]"):
        opt.load_state_dict(state)


# ---------------------------------------------------------------- optimizer state arrays
@pytest.mark.parametrize("dtype", [bool, np.int64, np.complex128])
def test_a_state_array_that_is_not_floating_point_is_refused(dtype):
    opt, w = stepped(optim.Adam)
    state = opt.state_dict()
    state["state"][0]["exp_avg"] = np.zeros(3, dtype=dtype)
    with pytest.raises(ValueError) as caught:
        opt.load_state_dict(state)
    assert str(caught.value) == (
        f"Adam.load_state_dict: parameter 0 (group 0, position 0): state 'exp_avg' has dtype "
        f"{np.dtype(dtype)}, but optimizer state must be floating point (the parameter is "
        f"float32)")
    w.grad = tm.tensor(np.ones(3, dtype=np.float32))
    opt.step()  # the optimizer kept its own state, and still steps
    assert opt.state[w]["step"] == 3


def test_a_state_buffer_that_is_not_an_array_is_refused():
    opt, _ = stepped(lambda p: optim.SGD(p, lr=0.1, momentum=0.9))
    state = opt.state_dict()
    state["state"][0]["momentum_buffer"] = 0.5
    with pytest.raises(ValueError, match=r"SGD\.load_state_dict: parameter 0 .*: state "
                                         r"'momentum_buffer' must be an array of the "
                                         r"parameter's shape, got float 0.5"):
        opt.load_state_dict(state)


def test_floating_state_is_cast_to_the_parameter_dtype_as_torch_does():
    torch = pytest.importorskip("torch", reason="torch is the oracle for the cast")
    opt, w = stepped(optim.Adam)
    state = opt.state_dict()
    state["state"][0]["exp_avg"] = state["state"][0]["exp_avg"].astype(np.float16)
    opt.load_state_dict(state)
    assert opt.state[w]["exp_avg"].dtype == np.float32

    tw = torch.nn.Parameter(torch.ones(3, dtype=torch.float32))
    theirs = torch.optim.Adam([tw])
    tw.grad = torch.ones(3)
    theirs.step()
    saved = theirs.state_dict()
    saved["state"][0]["exp_avg"] = saved["state"][0]["exp_avg"].to(torch.float16)
    theirs.load_state_dict(saved)
    assert theirs.state[tw]["exp_avg"].dtype == torch.float32


# ---------------------------------------------------------------- random generator state
def test_set_rng_state_refuses_a_negative_number_naming_it_and_keeps_the_generator():
    tm.manual_seed(0)
    saved = tm.random.get_rng_state()
    state = json.loads(saved)
    state["state"] = {"state": -5, "inc": 1}
    with pytest.raises(ValueError) as caught:
        tm.random.set_rng_state(json.dumps(state))
    assert str(caught.value) == ("not a random generator state: state['state']['state'] must "
                                 "be a non-negative int, got -5")
    assert tm.random.get_rng_state() == saved  # unchanged


@pytest.mark.parametrize("change, message", [
    (lambda s: {**s, "state": {**s["state"], "extra": 1}},
     r"state\['state'\] must hold the keys \['inc', 'state'\], got \['extra', 'inc', 'state'\]"),
    (lambda s: {**s, "uinteger": -1}, r"state\['uinteger'\] must be a non-negative int, got -1"),
    (lambda s: {**s, "state": {**s["state"], "inc": 2**200}}, "a number in it is too large"),
    (lambda s: [s], "expected a JSON object, got list"),
], ids=["extra key", "negative uinteger", "too large", "not an object"])
def test_set_rng_state_refuses_states_that_do_not_fit(change, message):
    state = json.loads(tm.random.get_rng_state())
    with pytest.raises(ValueError, match=rf"^not a random generator state: {message}"):
        tm.random.set_rng_state(json.dumps(change(state)))


def test_the_checks_take_what_torch_and_earlier_tinymin_took():
    """A 0-d array lr, float patience and cooldown, and a negative min_lr (a floor never
    reached) are accepted, as torch accepts them; a tinymin tensor lr is refused when
    the optimizer is built (numpy's updates cannot use it), not at the first step."""
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=np.array(0.1))
    model(tm.ones(1, 2)).sum().backward()
    opt.step()
    plateau_ = lr_scheduler.ReduceLROnPlateau(optim.SGD(model.parameters(), lr=0.1),
                                              patience=2.0, cooldown=1.0, min_lr=-1)
    for loss in (1.0, 2.0, 3.0, 4.0):
        plateau_.step(loss)
    state = plateau_.state_dict()
    assert state["cooldown_counter"] == 1.0
    plateau_.load_state_dict(state)
    with pytest.raises(ValueError, match=r"SGD: lr must be a number, got tensor\(0.1\)"):
        optim.SGD(model.parameters(), lr=tm.tensor(0.1))
