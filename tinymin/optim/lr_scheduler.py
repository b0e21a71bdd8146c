"""Learning-rate schedulers: change each group's ``"lr"`` once per epoch, as in PyTorch.

Call ``scheduler.step()`` once per epoch, after that epoch's ``optimizer.step()``
calls::

    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, optimizer)  # optimizer.step() inside
        scheduler.step()

Each scheduler computes the learning rate from the epoch number and the group's
``"initial_lr"``, never from the group's current ``"lr"``, so the schedule never
drifts and a restored scheduler continues exactly. ``StepLR``, ``CosineAnnealingLR``,
``LambdaLR`` and ``OneCycleLR`` use a closed form; ``MultiStepLR`` and
``ExponentialLR`` multiply one factor per epoch onto a product they keep
(:class:`~tinymin.optim.scheduler.ChainedFactorScheduler`), in PyTorch's order, so
their rates equal PyTorch's bit for bit. PyTorch's ``get_lr`` instead updates the
current ``"lr"`` step by step (so that two schedulers can be chained on one
optimizer); the values are the same as long as nothing else changes ``"lr"``.
``ReduceLROnPlateau`` (in :mod:`tinymin.optim.plateau`) is stepped with a metric
instead, and ``OneCycleLR`` (in :mod:`tinymin.optim.one_cycle`) once per batch.
The base classes are in :mod:`tinymin.optim.scheduler`.
"""

from __future__ import annotations

import copy
import math
import numbers
import types
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tinymin.optim._checks import check_int, check_number, is_int
from tinymin.optim.one_cycle import OneCycleLR
from tinymin.optim.optimizer import Optimizer
from tinymin.optim.plateau import ReduceLROnPlateau
from tinymin.optim.scheduler import ChainedFactorScheduler, LRScheduler

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR", "MultiStepLR",
           "OneCycleLR", "ReduceLROnPlateau", "StepLR"]


class StepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose learning rates are scheduled.
    step_size : int
        Epochs between decays, >= 1.
    gamma : float, default 0.1
        Factor applied at each decay: a finite number >= 0 (PyTorch checks neither;
        a negative one would make every other rate negative).
    last_epoch : int, default -1
        See :class:`LRScheduler`.

    Notes
    -----
    At epoch :math:`e`, with :math:`\eta_0` the group's ``"initial_lr"``:

    .. math::

        \eta_e = \eta_0\, \gamma^{\lfloor e / \text{step\_size} \rfloor}

    Examples
    --------
    >>> from tinymin.nn import Parameter
    >>> from tinymin.optim import SGD
    >>> from tinymin.optim.lr_scheduler import StepLR
    >>> scheduler = StepLR(SGD([Parameter([0.0])], lr=0.1), step_size=2)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(round(scheduler.get_last_lr()[0], 6))
    ...     scheduler.step()
    >>> lrs
    [0.1, 0.1, 0.01, 0.01, 0.001]
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral):
            raise TypeError(f"StepLR: step_size must be an int, got {step_size!r}")
        self._check_options({"step_size": step_size, "gamma": gamma}, "StepLR")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _check_options(self, options: Mapping[str, Any], where: str) -> None:
        check_int(options["step_size"], "step_size", where, minimum=1)
        check_number(options["gamma"], "gamma", where, low=0, finite=True)

    def get_lr(self) -> list[float]:
        decays = self.last_epoch // self.step_size
        return [base_lr * self.gamma**decays for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Anneal the learning rate from its initial value to ``eta_min`` along a cosine.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose learning rates are scheduled.
    T_max : int
        Epochs of one half-period: the learning rate reaches ``eta_min`` at epoch
        ``T_max``, then (if training goes on) rises again.
    eta_min : float, default 0
        The smallest learning rate, a finite number >= 0.
    last_epoch : int, default -1
        See :class:`LRScheduler`.

    Notes
    -----
    At epoch :math:`e`, with :math:`\eta_0` the group's ``"initial_lr"`` (PyTorch's
    closed form, from SGDR by Loshchilov & Hutter, 2017, without restarts):

    .. math::

        \eta_e = \eta_{\min} + \tfrac{1}{2}\,(\eta_0 - \eta_{\min})
                 \left(1 + \cos\frac{\pi e}{T_{\max}}\right)
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        self._check_options({"T_max": T_max, "eta_min": eta_min}, "CosineAnnealingLR")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def _check_options(self, options: Mapping[str, Any], where: str) -> None:
        check_number(options["T_max"], "T_max", where, low=0, closed="neither", finite=True)
        check_number(options["eta_min"], "eta_min", where, low=0, finite=True)

    def get_lr(self) -> list[float]:
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base_lr - self.eta_min) * cosine for base_lr in self.base_lrs]


class MultiStepLR(ChainedFactorScheduler):
    r"""Multiply the learning rate by ``gamma`` at each epoch listed in ``milestones``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose learning rates are scheduled.
    milestones : sequence of int
        Epochs at which to decay (a milestone listed twice decays twice).
    gamma : float, default 0.1
        Factor applied at each milestone, a finite number >= 0.
    last_epoch : int, default -1
        See :class:`LRScheduler`.

    Notes
    -----
    With :math:`\eta_0` the group's ``"initial_lr"`` and :math:`k(e)` the number of
    milestones equal to :math:`e`:

    .. math::

        \eta_e = \eta_{e-1}\, \gamma^{k(e)}
              = \eta_0\, \gamma^{\#\{m \in \text{milestones} : m \le e\}}
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if any(isinstance(m, bool) or not isinstance(m, numbers.Integral) for m in milestones):
            raise TypeError(f"MultiStepLR: milestones must be ints, got {list(milestones)!r}")
        milestones = Counter(int(m) for m in milestones)
        self._check_options({"milestones": milestones, "gamma": gamma}, "MultiStepLR")
        self.milestones = milestones
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _check_options(self, options: Mapping[str, Any], where: str) -> None:
        milestones = options["milestones"]  # {epoch: how many times it is listed}
        if not isinstance(milestones, Mapping) or not all(
                is_int(epoch) and is_int(count) and count >= 1
                for epoch, count in milestones.items()):
            raise ValueError(f"{where}: milestones must be a Counter of epochs (ints), "
                             f"got {milestones!r}")
        check_number(options["gamma"], "gamma", where, low=0, finite=True)

    def factor(self, epoch: int) -> float:
        return self.gamma ** self.milestones[epoch] if epoch in self.milestones else 1.0


class ExponentialLR(ChainedFactorScheduler):
    r"""Multiply the learning rate by ``gamma`` every epoch.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose learning rates are scheduled.
    gamma : float
        Factor applied at each epoch, a finite number >= 0.
    last_epoch : int, default -1
        See :class:`LRScheduler`.

    Notes
    -----
    .. math::

        \eta_e = \eta_{e-1}\, \gamma = \eta_0\, \gamma^e

    (multiplied out factor by factor, as PyTorch does, not by the power).
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self._check_options({"gamma": gamma}, "ExponentialLR")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _check_options(self, options: Mapping[str, Any], where: str) -> None:
        check_number(options["gamma"], "gamma", where, low=0, finite=True)

    def factor(self, epoch: int) -> float:
        return 1.0 if epoch == 0 else self.gamma  # the rate starts undecayed


class LambdaLR(LRScheduler):
    r"""The initial learning rate times a function of the epoch.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose learning rates are scheduled.
    lr_lambda : callable or list of callables
        :math:`\lambda(e)`, one for all groups or one per group.
    last_epoch : int, default -1
        See :class:`LRScheduler`.

    Notes
    -----
    .. math::

        \eta_e = \eta_0\, \lambda(e)

    As in PyTorch, the state_dict holds a ``lr_lambda`` only when it is a callable
    object (its attributes); a plain function or lambda is code, not state, and is
    stored as None (the scheduler you load into keeps its own).
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        groups = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != groups:
                raise ValueError(f"LambdaLR: expected {groups} lr_lambdas, one per parameter "
                                 f"group, got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * groups
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {fn!r}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        """As :meth:`LRScheduler.state_dict`, with each lambda as None (a function) or
        a copy of its attributes (a callable object), as PyTorch stores them."""
        state = {k: copy.deepcopy(v) for k, v in self.__dict__.items()
                 if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(vars(fn))
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`; the lambdas stay this scheduler's own,
        with the saved attributes of callable objects put back."""
        own = self.lr_lambdas
        lambdas = state_dict.get("lr_lambdas")  # checked first: nothing changes if wrong
        if not isinstance(lambdas, (list, tuple)) or len(lambdas) != len(own) or not all(
                entry is None or isinstance(entry, dict) for entry in lambdas):
            raise ValueError(f"LambdaLR.load_state_dict: lr_lambdas must be a list of "
                             f"{len(own)} entries (None, or a callable object's attributes), "
                             f"got {lambdas!r}")
        super().load_state_dict({**state_dict, "lr_lambdas": None})
        self.lr_lambdas = own
        for fn, saved in zip(own, state_dict["lr_lambdas"]):
            if saved is not None:
                vars(fn).update(copy.deepcopy(saved))
