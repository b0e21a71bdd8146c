"""``tinymin.nn.utils``: gradient clipping, as ``torch.nn.utils``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from tinymin.tensor import Tensor


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float | str = 2.0, error_if_nonfinite: bool = False,
                    foreach: Any = None) -> Tensor:
    """Scale the gradients in place so that their joint norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of all gradients taken as one vector,

    .. math::

        \\|g\\|_p = \\Big(\\sum_{\\text{params}} \\sum_i |g_i|^p\\Big)^{1/p}
        \\quad (\\max_i |g_i| \\text{ for } p = \\infty),

    and every gradient is multiplied by :math:`\\min(1, \\text{max\\_norm} /
    (\\|g\\|_p + 10^{-6}))`, as in PyTorch. Parameters without a gradient are skipped.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
    max_norm : float
    norm_type : float or "inf"
    error_if_nonfinite : bool
        Raise RuntimeError if the total norm is nan or inf (else the gradients are
        scaled by a nan or zero factor, as PyTorch does).
    foreach : ignored
        PyTorch's choice of kernel; tinymin has one.

    Returns
    -------
    Tensor
        The total norm of the gradients before clipping (a 0-d tensor).
    """
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    p = math.inf if norm_type in ("inf", math.inf) else float(norm_type)
    if not grads:
        return Tensor(np.array(0.0, dtype=np.float32))
    dtype = grads[0].dtype
    arrays = [g.numpy() for g in grads]
    if p == math.inf:
        total = max(float(np.abs(a).max(initial=0.0)) for a in arrays)
    else:
        norms = np.array([np.linalg.norm(a.reshape(-1), ord=p) for a in arrays], dtype=np.float64)
        total = float(np.linalg.norm(norms, ord=p))
    total_norm = np.asarray(total, dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total_norm):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"{float(total_norm)}, so they cannot be clipped; set error_if_nonfinite=False "
            f"to scale them anyway"
        )
    scale = min(float(max_norm) / (float(total_norm) + 1e-6), 1.0)
    for array in arrays:
        array *= np.asarray(scale, dtype=array.dtype)
    return Tensor(total_norm, dtype=dtype)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: Any = None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for param in parameters:
        if param.grad is not None:
            np.clip(param.grad.numpy(), -clip_value, clip_value, out=param.grad.numpy())
