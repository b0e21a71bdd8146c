"""Adam and AdamW, with PyTorch's update rules (bias correction, AMSGrad)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from tinymin import _ext, overrides
from tinymin.optim._checks import check_flag, check_number
from tinymin.optim.optimizer import Optimizer, gradient_with_weight_decay

__all__ = ["Adam", "AdamW"]


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
    >>> import tinymin as tm
    >>> from tinymin.nn import Parameter
    >>> w = Parameter(np.array([1.0, 2.0]))
    >>> w.grad = tm.tensor([0.5, -4.0], dtype=tm.float64)
    >>> Adam([w], lr=0.1).step()  # the first step moves each entry by about lr
    >>> w.data
    tensor([0.9, 2.1], dtype=float64)
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

    def _check_hyperparameters(self, group: dict[str, Any], where: str) -> None:
        for key in ("lr", "eps", "weight_decay"):
            check_number(group[key], key, where, low=0)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
        for index, beta in enumerate(betas):
            check_number(beta, f"betas[{index}]", where, low=0, high=1)
        for key in ("amsgrad", "maximize", "decoupled_weight_decay"):
            check_flag(group[key], key, where)

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        """What :meth:`update_parameter` reads after the first step."""
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def update_parameter(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        """One Adam/AdamW step for one parameter, in place (equations in the class Notes).

        The moments and the parameter are updated by :func:`tinymin._ext.adam_update`:
        a fused Cython kernel (one pass over memory), or its numpy twin
        :func:`tinymin._ext.reference.adam_update`, the same lines written to be read.
        """
        beta1, beta2 = group["betas"]
        lr, weight_decay = group["lr"], group["weight_decay"]
        if not state:  # first step: zero moments, in the parameter's dtype
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        t = state["step"]

        if group["decoupled_weight_decay"]:
            if weight_decay != 0:
                param *= 1 - lr * weight_decay  # AdamW: shrink the weights directly
            weight_decay = 0.0  # ... and not through the gradient
        g = gradient_with_weight_decay(
            grad, param, weight_decay, group["maximize"], out=self.scratch(param)
        )
        mine = overrides.lookup("adam_step")
        if mine is not None:  # the learner's adam_step (tinymin.exercises.use): new arrays back
            if group["amsgrad"]:
                raise ValueError(f"{type(self).__name__}: amsgrad=True, but the learner's adam_step "
                                 "has no AMSGrad; train without it or with tinymin's own Adam")
            param[...], state["exp_avg"][...], state["exp_avg_sq"][...] = mine(
                param, g, state["exp_avg"], state["exp_avg_sq"], t, lr=lr, beta1=beta1,
                beta2=beta2, eps=group["eps"])
            return
        # the fused kernel wants one dtype and C order (no copy when g has them already)
        kernels = _ext if param.flags.c_contiguous else _ext.reference
        kernels.adam_update(
            param,
            np.ascontiguousarray(g, dtype=param.dtype) if kernels is _ext else g,
            state["exp_avg"],
            state["exp_avg_sq"],
            state.get("max_exp_avg_sq") if group["amsgrad"] else None,
            beta1=beta1,
            beta2=beta2,
            step_size=lr / (1 - beta1**t),
            sqrt_bias_correction2=math.sqrt(1 - beta2**t),
            eps=group["eps"],
        )


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

