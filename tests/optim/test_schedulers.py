"""The schedulers of issue #20: their rates against the equations of their docstrings,
checkpoints and checks (their trajectories against torch.optim:
tests/torchlike/test_optim.py)."""

import math

import numpy as np
import pytest

from tinymin import optim
from tinymin.nn import Parameter


def rates(scheduler, steps):
    out = []
    for _ in range(steps):
        out.append(scheduler.get_last_lr()[0])
        scheduler.step()
    return out


def sgd(lr=1.0, **options):
    return optim.SGD([Parameter(np.zeros(1))], lr=lr, **options)


def test_multistep_exponential_and_lambda_follow_their_equations():
    got = rates(optim.lr_scheduler.MultiStepLR(sgd(), milestones=[2, 4, 4], gamma=0.5), 6)
    assert got == [1.0, 1.0, 0.5, 0.5, 0.125, 0.125]
    got = rates(optim.lr_scheduler.ExponentialLR(sgd(2.0), gamma=0.5), 4)
    assert got == [2.0, 1.0, 0.5, 0.25]
    got = rates(optim.lr_scheduler.LambdaLR(sgd(3.0), lambda e: 1 / (e + 1)), 3)
    assert got == pytest.approx([3.0, 1.5, 1.0], rel=1e-15)


def test_one_cycle_warms_up_then_anneals():
    scheduler = optim.lr_scheduler.OneCycleLR(sgd(momentum=0.9), max_lr=1.0, total_steps=10,
                                              pct_start=0.5, div_factor=10,
                                              final_div_factor=100)
    got = rates(scheduler, 10)
    peak = got.index(max(got))
    assert got[0] == pytest.approx(0.1) and max(got) == pytest.approx(1.0)
    assert peak == 0.5 * 10 - 1 and got[-1] == pytest.approx(0.1 / 100)
    assert all(a < b for a, b in zip(got[:peak], got[1:peak + 1]))
    # halfway through the warm-up the cosine is at the midpoint
    assert got[2] == pytest.approx(0.1 + (1.0 - 0.1) * (1 - math.cos(math.pi / 2)) / 2)


def test_reduce_lr_on_plateau_waits_for_patience_then_reduces():
    opt = sgd()
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5)
    for metric in [1.0, 1.0, 1.0]:  # two bad epochs: still patient
        scheduler.step(metric)
    assert opt.param_groups[0]["lr"] == 1.0
    scheduler.step(1.0)  # the third bad epoch
    assert scheduler.get_last_lr() == [0.5]
    with pytest.raises(ValueError, match="factor"):
        optim.lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    state = scheduler.state_dict()
    again = optim.lr_scheduler.ReduceLROnPlateau(sgd(), patience=2, factor=0.5)
    again.load_state_dict(state)
    assert again.num_bad_epochs == scheduler.num_bad_epochs and again.best == 1.0


def test_one_cycle_refuses_to_step_past_the_cycle():
    opt = optim.SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="total_steps=3"):
        sched.step()
    with pytest.raises(ValueError, match="momentum"):
        optim.lr_scheduler.OneCycleLR(optim.Adagrad([Parameter(np.zeros(1))]), max_lr=1.0,
                                      total_steps=3)


def test_chained_schedulers_resume_exactly_from_a_state_dict():
    def build():
        return optim.SGD([Parameter(np.zeros(1))], lr=0.1)

    opt = build()
    sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    for _ in range(5):
        sched.step()
    opt2 = build()
    sched2 = optim.lr_scheduler.ExponentialLR(opt2, gamma=0.9)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    for _ in range(5):
        sched.step()
        sched2.step()
    assert sched.get_last_lr() == sched2.get_last_lr()
    # resuming by last_epoch replays the product: the same bits as stepping there
    opt3 = build()
    opt3.param_groups[0]["initial_lr"] = 0.1
    resumed = optim.lr_scheduler.ExponentialLR(opt3, gamma=0.9, last_epoch=9)
    assert resumed.get_last_lr() == sched.get_last_lr()


def test_lambda_lr_state_dict_keeps_callable_objects_like_torch():
    class Warmup:
        def __init__(self):
            self.steps = 4

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.steps)

    fn = Warmup()
    sched = optim.lr_scheduler.LambdaLR(optim.SGD([Parameter(np.zeros(1))], lr=1.0), fn)
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"steps": 4}]
    plain = optim.lr_scheduler.LambdaLR(optim.SGD([Parameter(np.zeros(1))], lr=1.0),
                                        lambda e: 1.0)
    assert plain.state_dict()["lr_lambdas"] == [None]
    fn.steps = 10
    sched.load_state_dict(state)
    assert fn.steps == 4 and sched.lr_lambdas == [fn]
