"""``ReduceLROnPlateau``: lower the learning rate when a metric stops improving."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tinymin.optim._checks import check_choice, check_int, check_number, check_numbers
from tinymin.optim.optimizer import Optimizer

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau:
    r"""Multiply the learning rates by ``factor`` when a metric has not improved for
    ``patience`` epochs; PyTorch's rules.

    Call ``scheduler.step(metric)`` once per epoch with the value watched (a validation
    loss with ``mode="min"``, an accuracy with ``mode="max"``).

    Parameters
    ----------
    optimizer : Optimizer
    mode : {"min", "max"}
        Whether lower or higher values are better.
    factor : float, default 0.1
        :math:`f < 1`: ``new_lr = max(lr * factor, min_lr)``.
    patience : int, default 10
        Epochs without improvement tolerated (>= 0); the next one reduces the rate.
    threshold : float, default 1e-4
        :math:`\tau`, the smallest change that counts as an improvement (finite).
    threshold_mode : {"rel", "abs"}
        For ``mode="min"``, improving means :math:`m < b (1 - \tau)` ("rel") or
        :math:`m < b - \tau` ("abs"), :math:`b` the best so far (mirrored for "max").
    cooldown : int, default 0
        Epochs after a reduction during which bad epochs are not counted (>= 0).
    min_lr : float or list of float, default 0
        A floor (>= 0), for all groups or one per group.
    eps : float, default 1e-8
        A reduction smaller than this is skipped (finite).

    Notes
    -----
    PyTorch checks ``factor``, ``mode``, ``threshold_mode`` and the number of
    ``min_lr``; tinymin also refuses NaN and infinite numbers and negative counts,
    here and in :meth:`load_state_dict`.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0.0,
                 eps: float = 1e-8) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau: expected an Optimizer, got {optimizer!r}")
        self.optimizer = optimizer
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(f"ReduceLROnPlateau: expected {groups} min_lrs, got {len(min_lr)}")
            min_lrs = list(min_lr)
        else:
            min_lrs = [min_lr] * groups
        self._check_options(dict(mode=mode, factor=factor, patience=patience, threshold=threshold,
                                 threshold_mode=threshold_mode, cooldown=cooldown, eps=eps,
                                 min_lrs=min_lrs), "ReduceLROnPlateau")
        self.min_lrs = min_lrs
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _check_options(self, options: Mapping[str, Any], where: str) -> None:
        """Raise ValueError for an invalid option: run by the constructor on its
        arguments and by :meth:`load_state_dict` on the saved values."""
        check_choice(options["mode"], "mode", where, ("min", "max"))
        check_number(options["factor"], "factor", where, high=1, finite=True)
        # numbers, not only ints: torch compares them with counts, and so does tinymin
        check_number(options["patience"], "patience", where, low=0, finite=True)
        check_number(options["threshold"], "threshold", where, finite=True)
        check_choice(options["threshold_mode"], "threshold_mode", where, ("rel", "abs"))
        check_number(options["cooldown"], "cooldown", where, low=0, finite=True)
        check_number(options["eps"], "eps", where, finite=True)
        # any floor, as in torch: one below 0 is simply never reached
        check_numbers(options["min_lrs"], "min_lrs", where, len(self.optimizer.param_groups))

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` by more than the threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return current < best * (1.0 - self.threshold)
        if self.mode == "min":
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (self.threshold + 1.0)
        return current > best + self.threshold

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metrics: Any) -> None:
        """Record one epoch's metric; reduce the rates after ``patience`` bad epochs."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def get_last_lr(self) -> list[float]:
        """The learning rates after the last :meth:`step`, one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer (copied)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (load the optimizer's too: the rates
        live in its groups).

        Raises
        ------
        ValueError
            If the keys differ from this scheduler's, or a value fails the
            constructor's checks or is not a count or rate it could have kept.
            Nothing changes then.
        """
        where = "ReduceLROnPlateau.load_state_dict"
        expected = set(self.state_dict())
        if set(state_dict) != expected:
            raise ValueError(f"{where}: expected the keys {sorted(expected)}, "
                             f"got {sorted(state_dict)}")
        self._check_options(state_dict, where)
        check_number(state_dict["best"], "best", where)  # +-inf before the first step
        for key in ("num_bad_epochs", "last_epoch"):
            check_int(state_dict[key], key, where, minimum=0)
        check_number(state_dict["cooldown_counter"], "cooldown_counter", where, low=0,
                     finite=True)  # counts down from cooldown, which may be a float
        check_numbers(state_dict["_last_lr"], "_last_lr", where,
                      len(self.optimizer.param_groups), low=0)
        self.__dict__.update(copy.deepcopy(dict(state_dict)))

    def __repr__(self) -> str:
        return (f"ReduceLROnPlateau(mode={self.mode!r}, factor={self.factor}, "
                f"patience={self.patience}, lr={self._last_lr})")
