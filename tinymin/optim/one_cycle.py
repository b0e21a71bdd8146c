"""The 1cycle learning-rate policy (Smith & Topin, 2017), stepped once per batch."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from tinymin.optim._checks import check_choice, check_flag, check_int, check_number
from tinymin.optim.optimizer import Optimizer
from tinymin.optim.scheduler import LRScheduler

__all__ = ["OneCycleLR"]


def anneal_cos(start: float, end: float, pct: float) -> float:
    r"""Cosine from ``start`` (``pct = 0``) to ``end`` (``pct = 1``):
    :math:`e + \tfrac12 (s - e)(1 + \cos \pi p)`."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def anneal_linear(start: float, end: float, pct: float) -> float:
    r"""Straight line from ``start`` to ``end``: :math:`s + (e - s)\,p`."""
    return (end - start) * pct + start


class OneCycleLR(LRScheduler):
    r"""Warm the learning rate up to ``max_lr``, then anneal it far below where it
    started, while the momentum moves the opposite way; call :meth:`step` after every
    batch.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose learning rates (and momenta) are scheduled.
    max_lr : float or list of float
        The peak learning rate, for all groups or one per group.
    total_steps : int, optional
        Steps in the cycle; else ``epochs * steps_per_epoch``.
    epochs, steps_per_epoch : int, optional
    pct_start : float, default 0.3
        Fraction of the cycle spent warming up.
    anneal_strategy : {"cos", "linear"}
    cycle_momentum : bool, default True
        Move ``"momentum"`` (SGD) or ``betas[0]`` (Adam) between ``max_momentum`` and
        ``base_momentum``, opposite to the learning rate.
    base_momentum, max_momentum : float or list of float
    div_factor : float, default 25
        The starting rate is ``max_lr / div_factor``.
    final_div_factor : float, default 1e4
        The final rate is ``max_lr / div_factor / final_div_factor``.
    three_phase : bool, default False
        Come back down to the starting rate symmetrically before the final annealing.
    last_epoch : int, default -1
        The index of the last batch done; see :class:`LRScheduler`.

    Notes
    -----
    With :math:`\eta_0 = \eta_{\max} / d` and :math:`T` = ``total_steps``, the two-phase
    schedule anneals (cosine :math:`a(s, e, p) = e + \frac{s - e}2 (1 + \cos \pi p)` by
    default) from :math:`\eta_0` to :math:`\eta_{\max}` over steps
    :math:`0 \dots p_s T - 1`, then to :math:`\eta_0 / d_f` at step :math:`T - 1`; step
    :math:`t` of a phase from step :math:`t_0` to :math:`t_1` uses
    :math:`p = (t - t_0) / (t_1 - t_0)`. Stepping past :math:`T` raises, as in PyTorch.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float],
                 total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85,
                 max_momentum: float | Sequence[float] = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"OneCycleLR: expected an Optimizer, got {optimizer!r}")
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        if not 0 <= pct_start <= 1 or isinstance(pct_start, bool):
            raise ValueError(f"OneCycleLR: pct_start must be a float in [0, 1], got {pct_start!r}")
        self._check_options({"total_steps": self.total_steps, "anneal_strategy": anneal_strategy,
                             "cycle_momentum": cycle_momentum}, "OneCycleLR")
        self.anneal_strategy = anneal_strategy
        self.phases = _phases(pct_start, self.total_steps, three_phase)
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group, peak in zip(groups, _per_group("max_lr", max_lr, len(groups))):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("OneCycleLR: optimizer must support momentum or beta1 with "
                                 "`cycle_momentum` enabled")
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                highs = _per_group("max_momentum", max_momentum, len(groups))
                lows = _per_group("base_momentum", base_momentum, len(groups))
                for group, high, low in zip(groups, highs, lows):
                    self._set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)

    def _check_options(self, options: Mapping[str, Any], where: str) -> None:
        check_int(options["total_steps"], "total_steps", where, minimum=1)
        check_choice(options["anneal_strategy"], "anneal_strategy", where, ("cos", "linear"))
        check_flag(options["cycle_momentum"], "cycle_momentum", where)

    def _check_state(self, state: Mapping[str, Any], where: str) -> None:
        """As :meth:`LRScheduler._check_state`, and the phases, which the constructor
        computes (so a loaded state is checked against their layout)."""
        super()._check_state(state, where)
        if state["cycle_momentum"]:  # then use_beta1 is a key (load_state_dict checked them)
            uses_betas = "betas" in self.optimizer.defaults
            check_flag(state["use_beta1"], "use_beta1", where)
            if bool(state["use_beta1"]) != uses_betas:
                raise ValueError(f"{where}: use_beta1 is {state['use_beta1']}, but "
                                 f"{type(self.optimizer).__name__} "
                                 f"{'has' if uses_betas else 'has no'} betas")
        _check_phases(state["phases"], state["total_steps"], where)
        if state["last_epoch"] > state["total_steps"]:
            raise ValueError(f"{where}: last_epoch {state['last_epoch']} is past the cycle's "
                             f"total_steps={state['total_steps']}")

    def _set_momentum(self, group: dict[str, Any], value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; the cycle has "
                             f"total_steps={self.total_steps}")
        anneal = anneal_cos if self.anneal_strategy == "cos" else anneal_linear
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for index, phase in enumerate(self.phases):
                end_step = phase["end_step"]
                if step <= end_step or index == len(self.phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, anneal(group[phase["start_momentum"]],
                                                         group[phase["end_momentum"]], pct))
                    break
                start_step = end_step
        return lrs


def _total_steps(total_steps: int | None, epochs: int | None,
                 steps_per_epoch: int | None) -> int:
    if total_steps is not None:
        if not isinstance(total_steps, numbers.Integral) or total_steps <= 0:
            raise ValueError(f"OneCycleLR: expected a positive int total_steps, got {total_steps!r}")
        return int(total_steps)
    if epochs is None or steps_per_epoch is None:
        raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"OneCycleLR: expected a positive int {name}, got {value!r}")
    return int(epochs) * int(steps_per_epoch)


def _phases(pct_start: float, total: int, three_phase: bool) -> list[dict[str, Any]]:
    """PyTorch's phases: where each ends and which group entries it anneals between."""
    if three_phase:
        return [
            dict(end_step=float(pct_start * total) - 1, start_lr="initial_lr", end_lr="max_lr",
                 start_momentum="max_momentum", end_momentum="base_momentum"),
            dict(end_step=float(2 * pct_start * total) - 2, start_lr="max_lr",
                 end_lr="initial_lr", start_momentum="base_momentum",
                 end_momentum="max_momentum"),
            dict(end_step=total - 1, start_lr="initial_lr", end_lr="min_lr",
                 start_momentum="max_momentum", end_momentum="max_momentum"),
        ]
    return [
        dict(end_step=float(pct_start * total) - 1, start_lr="initial_lr", end_lr="max_lr",
             start_momentum="max_momentum", end_momentum="base_momentum"),
        dict(end_step=total - 1, start_lr="max_lr", end_lr="min_lr",
             start_momentum="base_momentum", end_momentum="max_momentum"),
    ]


_PHASE_NAMES = {"start_lr": ("initial_lr", "max_lr"), "end_lr": ("initial_lr", "max_lr", "min_lr"),
                "start_momentum": ("max_momentum", "base_momentum"),
                "end_momentum": ("max_momentum", "base_momentum")}


def _check_phases(phases: Any, total_steps: int, where: str) -> None:
    """Refuse phases that :func:`_phases` cannot have made: get_lr reads group entries
    by the names they hold, and the last phase ends at step ``total_steps - 1``."""
    if not isinstance(phases, list) or len(phases) not in (2, 3):
        raise ValueError(f"{where}: phases must be a list of 2 or 3 phases, got {phases!r}")
    for index, phase in enumerate(phases):
        if not isinstance(phase, dict) or set(phase) != {"end_step", *_PHASE_NAMES}:
            raise ValueError(f"{where}: phases[{index}] must be a dict with the keys "
                             f"{sorted({'end_step', *_PHASE_NAMES})}, got {phase!r}")
        check_number(phase["end_step"], f"phases[{index}]['end_step']", where, finite=True)
        for key, allowed in _PHASE_NAMES.items():
            check_choice(phase[key], f"phases[{index}][{key!r}]", where, allowed)
    if phases[-1]["end_step"] != total_steps - 1:
        raise ValueError(f"{where}: the last phase must end at step total_steps - 1 = "
                         f"{total_steps - 1}, got {phases[-1]['end_step']}")


def _per_group(name: str, value: float | Sequence[float], groups: int) -> list[float]:
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"OneCycleLR: expected {groups} values for {name}, one per "
                             f"parameter group, got {len(value)}")
        return list(value)
    return [value] * groups
