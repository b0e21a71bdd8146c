"""Adam and AdamW, with PyTorch's update rules (bias correction, AMSGrad)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from tinymin.optim.optimizer import Optimizer, checked_grad

__all__ = ["Adam", "AdamW", "adam_update"]


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015) with L2 weight decay; PyTorch's update rule.

    Parameters
    ----------
    params : iterable of parameters, or iterable of dicts
        The parameters to optimize, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1e-3
        Learning rate :math:`\gamma`.
    betas : tuple of float, default (0.9, 0.999)
        Decay rates :math:`(\beta_1, \beta_2)` of the first and second moments.
    eps : float, default 1e-8
        :math:`\epsilon`, added to the denominator.
    weight_decay : float, default 0
        L2 penalty :math:`\lambda`, added to the gradient (see :class:`AdamW` for the
        decoupled form).
    amsgrad : bool, default False
        Divide by the largest second moment seen so far (Reddi et al., 2018).
    maximize : bool, default False
        Climb the objective instead of descending it.
    decoupled_weight_decay : bool, default False
        Decay the weights directly, as :class:`AdamW` does.

    Notes
    -----
    Each parameter keeps its own step counter :math:`t` (``state[p]["step"]``), and
    moments :math:`m_0 = v_0 = 0` (``"exp_avg"``, ``"exp_avg_sq"``). At each step,
    with gradient :math:`\nabla_t` (negated when ``maximize``):

    .. math::

        g_t &= \nabla_t + \lambda\,\theta_{t-1} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \theta_t &= \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\,
                    \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    The factors :math:`1 - \beta^t` correct the bias of moments that start at zero.
    The last line is the paper's
    :math:`\theta_t = \theta_{t-1} - \gamma\,\hat m_t / (\sqrt{\hat v_t} + \epsilon)` with
    :math:`\hat m_t = m_t / (1 - \beta_1^t)` and :math:`\hat v_t = v_t / (1 - \beta_2^t)`,
    computed as PyTorch does. With ``amsgrad``, :math:`v_t` in the last line is replaced
    by :math:`\max(v_1, \dots, v_t)`, kept as ``"max_exp_avg_sq"``.

    Examples
    --------
    >>> import numpy as np
    >>> from tinymin.nn import Parameter
    >>> w = Parameter(np.array([1.0, 2.0]))
    >>> w.grad = np.array([0.5, -4.0])
    >>> Adam([w], lr=0.1).step()  # the first step moves each entry by about lr
    >>> w.data
    array([0.9, 2.1])
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        if not group["lr"] >= 0.0:
            raise ValueError(f"{name}: learning rate lr must be >= 0, got {group['lr']}")
        if not group["eps"] >= 0.0:
            raise ValueError(f"{name}: eps must be >= 0, got {group['eps']}")
        if not group["weight_decay"] >= 0.0:
            raise ValueError(f"{name}: weight_decay must be >= 0, got {group['weight_decay']}")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        for index, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: betas[{index}] must be in [0, 1), got {beta}")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place (see the class Notes).

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss.

        Returns
        -------
        loss : object or None
            What the closure returned, or None without a closure.
        """
        loss = None if closure is None else closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue  # no gradient reached it: leave the parameter alone
                adam_update(
                    p.data,
                    checked_grad(p),
                    self.state[p],
                    lr=group["lr"],
                    beta1=beta1,
                    beta2=beta2,
                    eps=group["eps"],
                    weight_decay=group["weight_decay"],
                    amsgrad=group["amsgrad"],
                    maximize=group["maximize"],
                    decoupled_weight_decay=group["decoupled_weight_decay"],
                )
        return loss


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019); PyTorch's rule.

    Parameters
    ----------
    params : iterable of parameters, or iterable of dicts
        The parameters to optimize, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1e-3
        Learning rate :math:`\gamma`.
    betas : tuple of float, default (0.9, 0.999)
        Decay rates :math:`(\beta_1, \beta_2)` of the first and second moments.
    eps : float, default 1e-8
        :math:`\epsilon`, added to the denominator.
    weight_decay : float, default 1e-2
        Decoupled decay :math:`\lambda`: the weights shrink by :math:`\gamma\lambda`.
    amsgrad : bool, default False
        Divide by the largest second moment seen so far.
    maximize : bool, default False
        Climb the objective instead of descending it.

    Notes
    -----
    The weights decay directly, before the Adam step, instead of the decay being added
    to the gradient, so it is not rescaled by Adam's per-entry denominator:

    .. math::

        \theta' &= (1 - \gamma\lambda)\, \theta_{t-1} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, \nabla_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, \nabla_t^2 \\
        \theta_t &= \theta' - \frac{\gamma}{1 - \beta_1^t}\,
                    \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    Everything else (state, bias correction, ``amsgrad``) is as in :class:`Adam`.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: dict[str, Any],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """One Adam/AdamW step for one parameter: update ``param`` and ``state`` in place.

    The equations are in :class:`Adam` and :class:`AdamW`. ``grad`` is only read.
    """
    g = -grad if maximize else grad
    if not state:  # first step: zero moments, in the parameter's dtype
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(param)
        state["exp_avg_sq"] = np.zeros_like(param)
        if amsgrad:
            state["max_exp_avg_sq"] = np.zeros_like(param)
    state["step"] += 1
    t = state["step"]

    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay  # AdamW: shrink the weights directly
        else:
            g = g + weight_decay * param  # Adam: L2 penalty in the gradient

    m, v = state["exp_avg"], state["exp_avg_sq"]
    m *= beta1
    m += (1 - beta1) * g  # m_t = beta1 m_{t-1} + (1 - beta1) g_t
    v *= beta2
    v += (1 - beta2) * g * g  # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    if amsgrad:
        np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        v = state["max_exp_avg_sq"]

    bias_correction1 = 1 - beta1**t
    bias_correction2 = 1 - beta2**t
    step_size = lr / bias_correction1
    denom = np.sqrt(v) / math.sqrt(bias_correction2) + eps
    param -= step_size * (m / denom)
