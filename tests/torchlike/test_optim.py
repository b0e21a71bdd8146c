"""The optimizers and schedulers of issue #20 (item 8), step by step against
torch.optim: the same parameters, the same gradients, 20 steps; parameter values to
float32 tolerance and learning-rate trajectories exactly."""

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn, optim
from tinymin.nn import Parameter

torch = pytest.importorskip("torch", reason="the PyTorch oracle tests need torch (the torch extra)")

STEPS = 20


def as_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def quadratic_loss(lib, params, a, b):
    """:math:`\\sum a w + \\tfrac12 b w^2`: gradient :math:`a + b w`, through autograd."""
    total = 0
    for w, ai, bi in zip(params, a, b):
        ai, bi = lib.tensor(ai), lib.tensor(bi)
        total = total + (ai * w).sum() + (bi * w * w).sum() * 0.5
    return total


def run_side_by_side(make_ours, make_theirs, steps=STEPS, groups=False):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,)]
    start = [rng.normal(size=s).astype(np.float32) for s in shapes]
    ours = [Parameter(x) for x in start]
    theirs = [torch.nn.Parameter(torch.tensor(x)) for x in start]
    if groups:  # two groups, the second with its own learning rate
        ours_opt = make_ours([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.03}])
        theirs_opt = make_theirs([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.03}])
    else:
        ours_opt, theirs_opt = make_ours(ours), make_theirs(theirs)
    for _ in range(steps):
        a = [rng.normal(size=s).astype(np.float32) for s in shapes]
        b = [rng.uniform(0.5, 2, size=s).astype(np.float32) for s in shapes]
        for opt, params, lib in ((ours_opt, ours, tm), (theirs_opt, theirs, torch)):
            opt.zero_grad()
            quadratic_loss(lib, params, a, b).backward()
            opt.step()
        for mine, reference in zip(ours, theirs):
            np.testing.assert_allclose(as_numpy(mine), as_numpy(reference), rtol=2e-5, atol=2e-6)
    return ours_opt, theirs_opt


OPTIMIZERS = [
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.1}),
    ("Adadelta", {"maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.005, "alpha": 0.9, "momentum": 0.8}),
    ("RMSprop", {"centered": True, "weight_decay": 0.01}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator_value": 0.2}),
    ("Adagrad", {"weight_decay": 0.1, "eps": 1e-6, "maximize": True}),
]


@pytest.mark.parametrize("name, options", OPTIMIZERS)
def test_optimizer_matches_torch_step_by_step(name, options):
    ours, theirs = run_side_by_side(lambda p: getattr(optim, name)(p, **options),
                                    lambda p: getattr(torch.optim, name)(p, **options))
    defaults = {k: v for k, v in theirs.defaults.items() if k in ours.defaults}
    assert ours.defaults == defaults  # the same defaults, for every option tinymin has


@pytest.mark.parametrize("name", ["Adadelta", "RMSprop", "Adagrad"])
def test_optimizer_parameter_groups_match_torch(name):
    run_side_by_side(lambda p: getattr(optim, name)(p, lr=0.01),
                     lambda p: getattr(torch.optim, name)(p, lr=0.01), groups=True)


# ---------------------------------------------------------------- schedulers
def lr_trajectories(make_ours, make_theirs, optimizer="SGD", metrics=None, steps=30,
                    momentum_key=None, **optimizer_options):
    """The learning rates (and momenta) both schedulers set, step by step."""
    ours_opt = getattr(optim, optimizer)(
        [{"params": [Parameter(np.zeros(2))]}, {"params": [Parameter(np.zeros(2))], "lr": 0.5}],
        lr=0.1, **optimizer_options)
    theirs_opt = getattr(torch.optim, optimizer)(
        [{"params": [torch.nn.Parameter(torch.zeros(2))]},
         {"params": [torch.nn.Parameter(torch.zeros(2))], "lr": 0.5}],
        lr=0.1, **optimizer_options)
    ours, theirs = make_ours(ours_opt), make_theirs(theirs_opt)
    got, expected = [], []
    for step in range(steps):
        for opt, sched, out in ((ours_opt, ours, got), (theirs_opt, theirs, expected)):
            row = [g["lr"] for g in opt.param_groups] + list(sched.get_last_lr())
            if momentum_key:
                row += [g[momentum_key] for g in opt.param_groups]
            out.append(row)
            opt.step()
            if metrics is None:
                sched.step()
            else:
                sched.step(metrics[step])
    return got, expected


SCHEDULERS = [
    ("MultiStepLR", {"milestones": [3, 7, 7, 15], "gamma": 0.3}),
    ("MultiStepLR", {"milestones": [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("ExponentialLR", {"gamma": 0.77}),
    ("LambdaLR", {"lr_lambda": lambda e: 0.95 ** e}),
    ("LambdaLR", {"lr_lambda": [lambda e: 1 / (e + 1), lambda e: 0.5 * (e % 4)]}),
]


@pytest.mark.parametrize("name, options", SCHEDULERS)
def test_scheduler_lr_trajectory_equals_torch_exactly(name, options):
    got, expected = lr_trajectories(
        lambda o: getattr(optim.lr_scheduler, name)(o, **options),
        lambda o: getattr(torch.optim.lr_scheduler, name)(o, **options))
    assert got == expected


ONE_CYCLE = [
    ("SGD", "momentum", {"max_lr": 1.0, "total_steps": 30}),
    ("SGD", "momentum", {"max_lr": [1.0, 2.0], "epochs": 5, "steps_per_epoch": 6,
                         "pct_start": 0.25, "anneal_strategy": "linear"}),
    ("SGD", "momentum", {"max_lr": 0.3, "total_steps": 30, "three_phase": True,
                         "div_factor": 10, "final_div_factor": 100}),
    ("Adam", "betas", {"max_lr": 0.01, "total_steps": 30, "base_momentum": 0.8}),
    ("SGD", None, {"max_lr": 1.0, "total_steps": 30, "cycle_momentum": False}),
]


@pytest.mark.parametrize("optimizer, momentum_key, options", ONE_CYCLE)
def test_one_cycle_lr_and_momentum_equal_torch_exactly(optimizer, momentum_key, options):
    extra = {"momentum": 0.9} if optimizer == "SGD" else {}
    got, expected = lr_trajectories(
        lambda o: optim.lr_scheduler.OneCycleLR(o, **options),
        lambda o: torch.optim.lr_scheduler.OneCycleLR(o, **options),
        optimizer=optimizer, steps=30, momentum_key=momentum_key, **extra)
    assert got == expected


PLATEAU = [
    {},
    {"patience": 2, "factor": 0.5},
    {"mode": "max", "patience": 1, "threshold": 0.1, "threshold_mode": "abs"},
    {"patience": 0, "cooldown": 2, "min_lr": [0.01, 0.2]},
    {"mode": "max", "patience": 1, "factor": 0.2, "threshold_mode": "rel", "eps": 0.05},
]


@pytest.mark.parametrize("options", PLATEAU)
def test_reduce_lr_on_plateau_equals_torch_exactly(options):
    metrics = [1.0, 0.9, 0.9, 0.95, 0.899, 0.91, 0.92, 0.5, 0.5, 0.5, 0.6, 0.7, 0.4, 0.4,
               0.4, 0.41, 0.39, 0.39, 0.39, 0.39, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.1, 0.1,
               0.1, 0.1]
    got, expected = lr_trajectories(
        lambda o: optim.lr_scheduler.ReduceLROnPlateau(o, **options),
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **options), metrics=metrics)
    assert got == expected


def test_cosine_annealing_matches_torch_to_rounding():
    """tinymin's closed form vs PyTorch's recursive one: equal to the last few bits."""
    got, expected = lr_trajectories(
        lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_sgd_takes_pytorchs_default_learning_rate():
    import inspect

    w = tm.nn.Parameter(np.ones(2))
    expected = inspect.signature(torch.optim.SGD.__init__).parameters["lr"].default
    assert tm.optim.SGD([w]).param_groups[0]["lr"] == expected == 1e-3


@pytest.mark.parametrize("milestones", [[0, 1], [0], [0, 0, 3], [2, 2, 5]], ids=str)
def test_multistep_lr_counts_a_milestone_at_epoch_0_as_torch(milestones):
    ours_opt = optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)
    theirs_opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    ours = optim.lr_scheduler.MultiStepLR(ours_opt, milestones, gamma=0.5)
    theirs = torch.optim.lr_scheduler.MultiStepLR(theirs_opt, milestones, gamma=0.5)
    rates, their_rates = [], []
    for _ in range(7):
        rates.append(ours_opt.param_groups[0]["lr"])
        their_rates.append(theirs_opt.param_groups[0]["lr"])
        ours_opt.step()
        theirs_opt.step()
        ours.step()
        theirs.step()
    assert rates == their_rates


def test_optimizers_take_named_parameters_as_torch_2_does():
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.named_parameters(), lr=0.1)
    assert [p is q for p, q in zip(opt.param_groups[0]["params"], model.parameters())] == [True] * 2
    before = model.weight.numpy().copy()
    model(tm.ones(1, 2)).sum().backward()
    opt.step()
    np.testing.assert_allclose(model.weight.numpy(), before - 0.1)


def test_init_of_empty_tensors_and_every_gain_name_as_torch():
    for name in ("selu", "conv1d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "linear", "tanh", "relu"):
        assert nn.init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert nn.init.kaiming_uniform_(tm.zeros(3, 0)).shape == (3, 0)
    with pytest.warns(UserWarning, match="no-op"):
        nn.init.kaiming_normal_(tm.zeros(4, 3, 0, 0))
