"""RMSprop, with PyTorch's update rule (optional momentum and centering)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tinymin.optim._checks import check_flag, check_number
from tinymin.optim.optimizer import Optimizer, gradient_with_weight_decay

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture 6e): divide the gradient by a running root mean
    square of recent gradients; PyTorch's update rule.

    Parameters
    ----------
    params : iterable of parameters, or iterable of dicts
        The parameters to optimize, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1e-2
        Learning rate :math:`\gamma`.
    alpha : float, default 0.99
        Smoothing constant :math:`\alpha` of the running average.
    eps : float, default 1e-8
        :math:`\epsilon`, added to the root mean square (outside the root).
    weight_decay : float, default 0
        L2 penalty :math:`\lambda`, added to the gradient.
    momentum : float, default 0
        Momentum factor :math:`\mu` (0: no momentum buffer).
    centered : bool, default False
        Divide by an estimate of the gradient's standard deviation instead
        (Graves, 2013): subtract the square of a running mean gradient.
    maximize : bool, default False
        Climb the objective instead of descending it.

    Notes
    -----
    With :math:`v_0 = 0` (``state[p]["square_avg"]``), :math:`\bar g_0 = 0`
    (``"grad_avg"``, centered only) and :math:`b_0 = 0` (``"momentum_buffer"``), at each
    step with gradient :math:`\nabla_t` (negated when ``maximize``):

    .. math::

        g_t &= \nabla_t + \lambda\,\theta_{t-1} \\
        v_t &= \alpha\, v_{t-1} + (1 - \alpha)\, g_t^2 \\
        \bar g_t &= \alpha\, \bar g_{t-1} + (1 - \alpha)\, g_t
                   \quad\text{and}\quad s_t = \sqrt{v_t - \bar g_t^2} + \epsilon
                   \quad\text{(centered)}, \qquad s_t = \sqrt{v_t} + \epsilon
                   \quad\text{(otherwise)} \\
        b_t &= \mu\, b_{t-1} + g_t / s_t, \qquad
        \theta_t = \theta_{t-1} - \gamma\, b_t \quad (\mu > 0), \qquad
        \theta_t = \theta_{t-1} - \gamma\, g_t / s_t \quad (\mu = 0)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any], where: str) -> None:
        for key in ("lr", "eps", "momentum", "weight_decay", "alpha"):
            check_number(group[key], key, where, low=0)
        for key in ("centered", "maximize"):
            check_flag(group[key], key, where)

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        """What :meth:`update_parameter` reads after the first step."""
        return (("step", "square_avg")
                + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def update_parameter(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                         group: dict[str, Any]) -> None:
        """One RMSprop step for one parameter, in place (equations in the class Notes)."""
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(param)
        state["step"] += 1
        g = gradient_with_weight_decay(grad, param, group["weight_decay"], group["maximize"],
                                       out=self.scratch(param, 0))
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * g * g
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (g - grad_avg)  # PyTorch's lerp
            scale = np.sqrt(square_avg - grad_avg * grad_avg, out=self.scratch(param, 1))
        else:
            scale = np.sqrt(square_avg, out=self.scratch(param, 1))
        scale += group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += g / scale
            param -= group["lr"] * buf
        else:
            param -= group["lr"] * (g / scale)
