"""Stochastic gradient descent, with PyTorch's momentum, dampening and Nesterov rules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tinymin.optim._checks import check_flag, check_number
from tinymin.optim.optimizer import Optimizer, gradient_with_weight_decay

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum; PyTorch's update rule.

    Parameters
    ----------
    params : iterable of parameters, or iterable of dicts
        The parameters to optimize, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1e-3
        Learning rate :math:`\gamma` (PyTorch's default too).
    momentum : float, default 0
        Momentum factor :math:`\mu`; 0 turns momentum off.
    dampening : float, default 0
        Dampening :math:`\tau` of the gradient added to the momentum buffer.
    weight_decay : float, default 0
        L2 penalty :math:`\lambda`, added to the gradient.
    nesterov : bool, default False
        Use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
    maximize : bool, default False
        Climb the objective instead of descending it.

    Notes
    -----
    At step :math:`t`, for each parameter :math:`\theta` with gradient :math:`\nabla_t`
    (negated when ``maximize``):

    .. math::

        g_t &= \nabla_t + \lambda\,\theta_{t-1} \\
        b_t &= \begin{cases} g_t & t = 1 \\
                             \mu\, b_{t-1} + (1 - \tau)\, g_t & t > 1 \end{cases} \\
        d_t &= \begin{cases} g_t + \mu\, b_t & \text{nesterov} \\
                             b_t & \text{otherwise} \end{cases} \\
        \theta_t &= \theta_{t-1} - \gamma\, d_t

    Without momentum (:math:`\mu = 0`), :math:`d_t = g_t`. The first buffer is the
    gradient itself, undamped; the buffer is kept as ``state[p]["momentum_buffer"]``.
    This is PyTorch's form, in which the learning rate multiplies the buffer rather
    than entering it (Sutskever et al. put :math:`\gamma` inside the buffer); the two
    agree while :math:`\gamma` is constant.

    Examples
    --------
    >>> import numpy as np
    >>> import tinymin as tm
    >>> from tinymin.nn import Parameter
    >>> w = Parameter(np.array([1.0, 2.0]))
    >>> w.grad = tm.tensor([0.5, -1.0], dtype=tm.float64)  # as backward() would leave it
    >>> SGD([w], lr=0.1).step()  # w.data -= 0.1 * w.grad
    >>> w.data
    tensor([0.95, 2.1 ], dtype=float64)
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any], where: str) -> None:
        for key in ("lr", "momentum", "weight_decay"):
            check_number(group[key], key, where, low=0)
        check_number(group["dampening"], "dampening", where)
        for key in ("nesterov", "maximize"):
            check_flag(group[key], key, where)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{where}: nesterov=True needs momentum > 0 and dampening == 0, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        """What :meth:`update_parameter` reads after the first step (with momentum)."""
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def update_parameter(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        """One SGD step for one parameter, in place (the equations are in the class Notes)."""
        momentum = group["momentum"]
        g = gradient_with_weight_decay(
            grad, param, group["weight_decay"], group["maximize"], out=self.scratch(param, 0)
        )
        direction = g
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # first step: b_1 = g_1
                buf = state["momentum_buffer"] = g.astype(param.dtype, copy=True)
            else:  # b_t = mu b_{t-1} + (1 - dampening) g_t
                buf *= momentum
                if group["dampening"] == 0:
                    buf += g
                else:
                    buf += np.multiply(g, 1 - group["dampening"], out=self.scratch(param, 1))
            if group["nesterov"]:  # d_t = g_t + mu b_t
                direction = np.multiply(buf, momentum, out=self.scratch(param, 1))
                direction += g
            else:
                direction = buf
        param -= np.multiply(direction, group["lr"], out=self.scratch(param, 1))
