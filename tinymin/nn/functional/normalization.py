"""Batch normalisation, written from Tensor ops so autograd derives its backward."""

from __future__ import annotations

import numpy as np

from tinymin.tensor import Tensor


def batch_norm(
    x: Tensor,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel with batch statistics (training) or running ones (eval).

    .. math::

        y = \\gamma \\, \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta

    In training, :math:`\\mu, \\sigma^2` are the batch mean and (biased) variance over
    every axis but the channel axis 1, and the running statistics are updated in place
    with PyTorch's convention (unbiased variance):
    ``running = (1 - momentum) * running + momentum * batch``.
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input needs a channel axis, got shape {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    stat_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        mean = x.mean(axes, keepdim=True)
        var = ((x - mean) * (x - mean)).mean(axes, keepdim=True)
        if running_mean is not None and running_var is not None:
            _update_running(running_mean, running_var, mean.data, var.data, x.shape, axes=axes,
                            momentum=momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
        mean = Tensor(running_mean.reshape(stat_shape).astype(x.dtype))
        var = Tensor(running_var.reshape(stat_shape).astype(x.dtype))
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(stat_shape)
    if bias is not None:
        y = y + bias.reshape(stat_shape)
    return y


def _update_running(running_mean, running_var, mean, var, x_shape, *, axes, momentum) -> None:
    count = int(np.prod([x_shape[a] for a in axes]))
    unbiased = var.reshape(-1) * count / max(count - 1, 1)
    running_mean *= 1 - momentum
    running_mean += momentum * mean.reshape(-1)
    running_var *= 1 - momentum
    running_var += momentum * unbiased
