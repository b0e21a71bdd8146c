"""Adagrad, with PyTorch's update rule (learning-rate decay, initial accumulator)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tinymin.optim._checks import check_flag, check_number
from tinymin.optim.optimizer import Optimizer, gradient_with_weight_decay

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011): divide each coordinate's step by the root of the
    sum of all its squared gradients so far; PyTorch's update rule.

    Parameters
    ----------
    params : iterable of parameters, or iterable of dicts
        The parameters to optimize, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1e-2
        Learning rate :math:`\gamma`.
    lr_decay : float, default 0
        :math:`\eta`: the step ``t`` uses :math:`\gamma / (1 + (t - 1)\eta)`.
    weight_decay : float, default 0
        L2 penalty :math:`\lambda`, added to the gradient.
    initial_accumulator_value : float, default 0
        :math:`s_0`, the starting value of the sum.
    eps : float, default 1e-10
        :math:`\epsilon`, added to the root.
    maximize : bool, default False
        Climb the objective instead of descending it.

    Notes
    -----
    With :math:`s_0` everywhere (``state[p]["sum"]``), at step :math:`t` with gradient
    :math:`\nabla_t` (negated when ``maximize``):

    .. math::

        g_t &= \nabla_t + \lambda\,\theta_{t-1} \\
        \tilde\gamma_t &= \frac{\gamma}{1 + (t - 1)\,\eta} \\
        s_t &= s_{t-1} + g_t^2 \\
        \theta_t &= \theta_{t-1} - \tilde\gamma_t\, \frac{g_t}{\sqrt{s_t} + \epsilon}

    Rarely updated coordinates keep large steps; the steps of all shrink over time.
    PyTorch fills the state when the optimizer is built; tinymin at the first step
    (the values are the same).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any], where: str) -> None:
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_number(group[key], key, where, low=0)
        check_flag(group["maximize"], "maximize", where)

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        """What :meth:`update_parameter` reads after the first step."""
        return ("step", "sum")

    def update_parameter(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                         group: dict[str, Any]) -> None:
        """One Adagrad step for one parameter, in place (equations in the class Notes)."""
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(param, group["initial_accumulator_value"])
        state["step"] += 1
        g = gradient_with_weight_decay(grad, param, group["weight_decay"], group["maximize"],
                                       out=self.scratch(param, 0))
        lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        scale = np.sqrt(state["sum"], out=self.scratch(param, 1))
        scale += group["eps"]
        param -= lr * (g / scale)
