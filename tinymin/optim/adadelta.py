"""Adadelta, with PyTorch's update rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tinymin.optim._checks import check_flag, check_number
from tinymin.optim.optimizer import Optimizer, gradient_with_weight_decay

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012): step sizes from running averages of squared gradients
    and squared updates; PyTorch's update rule.

    Parameters
    ----------
    params : iterable of parameters, or iterable of dicts
        The parameters to optimize, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1.0
        :math:`\gamma`, which scales the update (1 is the paper's method).
    rho : float, default 0.9
        Decay :math:`\rho` of both running averages.
    eps : float, default 1e-6
        :math:`\epsilon`, inside both square roots.
    weight_decay : float, default 0
        L2 penalty :math:`\lambda`, added to the gradient.
    maximize : bool, default False
        Climb the objective instead of descending it.

    Notes
    -----
    With :math:`v_0 = u_0 = 0` (``state[p]["square_avg"]``, ``["acc_delta"]``), at each
    step with gradient :math:`\nabla_t` (negated when ``maximize``):

    .. math::

        g_t &= \nabla_t + \lambda\,\theta_{t-1} \\
        v_t &= \rho\, v_{t-1} + (1 - \rho)\, g_t^2 \\
        \Delta_t &= \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t \\
        u_t &= \rho\, u_{t-1} + (1 - \rho)\, \Delta_t^2 \\
        \theta_t &= \theta_{t-1} - \gamma\, \Delta_t

    The ratio of the two root-mean-squares gives each coordinate a step in the units
    of the parameter, without a hand-tuned learning rate.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0.0, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any], where: str) -> None:
        for key in ("lr", "eps", "weight_decay"):
            check_number(group[key], key, where, low=0)
        check_number(group["rho"], "rho", where, low=0, high=1, closed="both")
        check_flag(group["maximize"], "maximize", where)

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        """What :meth:`update_parameter` reads after the first step."""
        return ("step", "square_avg", "acc_delta")

    def update_parameter(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                         group: dict[str, Any]) -> None:
        """One Adadelta step for one parameter, in place (equations in the class Notes)."""
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param)
            state["acc_delta"] = np.zeros_like(param)
        state["step"] += 1
        g = gradient_with_weight_decay(grad, param, group["weight_decay"], group["maximize"],
                                       out=self.scratch(param, 0))
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= rho
        square_avg += (1 - rho) * g * g
        delta = np.sqrt(acc_delta + eps, out=self.scratch(param, 1))
        delta /= np.sqrt(square_avg + eps)
        delta *= g
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        param -= group["lr"] * delta
