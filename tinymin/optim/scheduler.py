"""The base class of the learning-rate schedulers, :class:`LRScheduler`, and
:class:`ChainedFactorScheduler`, the base of those whose rate is a product of factors.

The schedulers themselves are in :mod:`tinymin.optim.lr_scheduler`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tinymin.optim._checks import check_int, check_numbers
from tinymin.optim.optimizer import Optimizer

__all__ = ["ChainedFactorScheduler", "LRScheduler"]


class LRScheduler:
    """Base class: sets every group's ``"lr"`` from :meth:`get_lr` at each :meth:`step`.

    On construction it records each group's starting learning rate as
    ``group["initial_lr"]`` (kept if already there) and takes the first step, to epoch
    0, as PyTorch does. Subclasses check their own options with
    :meth:`_check_options` (which :meth:`load_state_dict` runs on a loaded state too),
    set them, then call ``super().__init__``, and implement :meth:`get_lr`.

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
        check_int(last_epoch, "last_epoch", type(self).__name__, minimum=-1)
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

    def _check_options(self, options: Mapping[str, Any], where: str) -> None:
        """Raise ValueError for an invalid option of this scheduler; subclasses override.

        Run by the constructor on its arguments and by :meth:`load_state_dict` on the
        saved values, so a checkpoint cannot hold what the constructor refuses (a
        ``step_size`` of 0 that would divide by zero at the next step). ``where``
        starts the message.
        """

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
            If the keys differ from this scheduler's (another kind of scheduler), the
            number of parameter groups differs, or a value fails the constructor's
            checks (see :meth:`_check_state`). Nothing changes then.
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
        self._check_state(state_dict, f"{type(self).__name__}.load_state_dict")
        self.__dict__.update(copy.deepcopy(dict(state_dict)))

    def _check_state(self, state: Mapping[str, Any], where: str) -> None:
        """Refuse a loaded state this scheduler cannot step from: the epoch counter and
        learning rates every scheduler keeps, then the options (:meth:`_check_options`)."""
        groups = len(self.optimizer.param_groups)
        check_int(state["last_epoch"], "last_epoch", where, minimum=0)
        check_numbers(state["base_lrs"], "base_lrs", where, groups, low=0)
        check_numbers(state["_last_lr"], "_last_lr", where, groups, low=0)
        self._check_options(state, where)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class ChainedFactorScheduler(LRScheduler):
    r"""A scheduler whose rate is the previous one times a factor: PyTorch's chained form.

    .. math::

        \eta_0 = \eta_{\text{initial}}\, f(0), \qquad \eta_e = \eta_{e-1}\, f(e)

    Subclasses implement :meth:`factor`. The product is kept (``chain_lrs``, in the
    state_dict) and extended by one factor per step, multiplied in the order PyTorch
    multiplies, so the rates equal PyTorch's to the last bit; a jump to another epoch
    (resuming with ``last_epoch``) replays the product from epoch 0.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        self.chain_epoch: int | None = None  # the epoch chain_lrs belongs to
        self.chain_lrs: list[float] = []
        super().__init__(optimizer, last_epoch)

    def factor(self, epoch: int) -> float:
        """:math:`f(e)`: what epoch ``epoch``'s rate multiplies the previous one by."""
        raise NotImplementedError(f"{type(self).__name__} must implement factor()")

    def _check_state(self, state: Mapping[str, Any], where: str) -> None:
        """As :meth:`LRScheduler._check_state`, and the kept product: one rate per
        group for the epoch ``chain_epoch`` (None: not computed yet)."""
        super()._check_state(state, where)
        if state["chain_epoch"] is not None:
            check_int(state["chain_epoch"], "chain_epoch", where, minimum=0)
            check_numbers(state["chain_lrs"], "chain_lrs", where,
                          len(self.optimizer.param_groups), low=0)

    def get_lr(self) -> list[float]:
        if self.chain_epoch is None or self.chain_epoch != self.last_epoch - 1:
            # epoch 0 has its factor too (MultiStepLR's milestone 0), as in PyTorch
            self.chain_lrs = [lr * self.factor(0) for lr in self.base_lrs]
            self.chain_epoch = 0
            for epoch in range(1, self.last_epoch + 1):
                self.chain_lrs = [lr * self.factor(epoch) for lr in self.chain_lrs]
        elif self.last_epoch > 0:
            self.chain_lrs = [lr * self.factor(self.last_epoch) for lr in self.chain_lrs]
        self.chain_epoch = self.last_epoch
        return list(self.chain_lrs)
