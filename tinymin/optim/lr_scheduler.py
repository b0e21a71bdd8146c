"""Learning-rate schedulers: change each group's ``"lr"`` once per epoch, as in PyTorch.

Call ``scheduler.step()`` once per epoch, after that epoch's ``optimizer.step()``
calls::

    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, optimizer)  # optimizer.step() inside
        scheduler.step()

Each scheduler computes the learning rate from the epoch number and the group's
``"initial_lr"`` (a closed form), so the schedule never drifts with rounding and a
restored scheduler continues exactly. PyTorch's ``get_lr`` instead updates the
current lr step by step (so that two schedulers can be chained on one optimizer);
the values are the same as long as nothing else changes ``"lr"``.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any

from tinymin.optim.optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR"]


class LRScheduler:
    """Base class: sets every group's ``"lr"`` from :meth:`get_lr` at each :meth:`step`.

    On construction it records each group's starting learning rate as
    ``group["initial_lr"]`` (kept if already there) and takes the first step, to epoch
    0, as PyTorch does. Subclasses set their own options, then call
    ``super().__init__``, and implement :meth:`get_lr`.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose learning rates are scheduled.
    last_epoch : int, default -1
        The index of the last epoch done; -1 starts a new schedule. Another value
        resumes one and needs ``"initial_lr"`` in every group.

    Attributes
    ----------
    base_lrs : list of float
        Each group's ``"initial_lr"``.
    last_epoch : int
        The epoch the current learning rates belong to (0 after construction).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {optimizer!r}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{index}] when "
                        f"resuming a schedule (last_epoch={last_epoch}); load the optimizer's "
                        "state_dict first, or start with last_epoch=-1"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each group at epoch ``self.last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_lr()")

    def step(self) -> None:
        """Move to the next epoch and set every group's ``"lr"`` for it."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last :meth:`step` set, one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state: every attribute except the optimizer (copied)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`.

        The learning rates themselves live in the optimizer's groups: load the
        optimizer's state_dict too.

        Raises
        ------
        ValueError
            If the keys differ from this scheduler's (another kind of scheduler), or the
            number of parameter groups differs.
        """
        expected = set(self.state_dict())
        if set(state_dict) != expected:
            missing = sorted(expected - set(state_dict))
            unexpected = sorted(set(state_dict) - expected)
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        if len(state_dict["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: state has "
                f"{len(state_dict['base_lrs'])} learning rates, but the optimizer has "
                f"{len(self.optimizer.param_groups)} parameter groups"
            )
        self.__dict__.update(copy.deepcopy(dict(state_dict)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class StepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose learning rates are scheduled.
    step_size : int
        Epochs between decays.
    gamma : float, default 0.1
        Factor applied at each decay.
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
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

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
        The smallest learning rate.
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
        if not isinstance(T_max, numbers.Real) or not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base_lr - self.eta_min) * cosine for base_lr in self.base_lrs]
