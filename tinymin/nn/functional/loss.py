"""Loss functions: cross-entropy (via log-softmax), negative log-likelihood, MSE."""

from __future__ import annotations

import numpy as np

from tinymin.ops.activation import log_softmax
from tinymin.ops.checks import check_float
from tinymin.tensor import Tensor


def nll_loss(log_probs: Tensor, target) -> Tensor:
    """Mean negative log-likelihood :math:`-\\frac1N \\sum_n \\log p_{n, t_n}`.

    Parameters
    ----------
    log_probs : Tensor
        Shape ``(N, C)``: log-probabilities.
    target : Tensor or array of int
        Shape ``(N,)``: class indices in ``[0, C)``.
    """
    labels = _check_targets("nll_loss", log_probs, target)
    picked = log_probs[np.arange(len(labels)), labels]
    return -picked.mean()


def cross_entropy(logits: Tensor, target) -> Tensor:
    """Softmax cross-entropy with integer class targets, averaged over the batch.

    .. math::

        L = -\\frac{1}{N} \\sum_{n} \\Big( z_{n,t_n} - \\log \\sum_c e^{z_{n,c}} \\Big)
    """
    _check_targets("cross_entropy", logits, target)
    return nll_loss(log_softmax(logits, dim=1), target)


def mse_loss(input: Tensor, target) -> Tensor:  # noqa: A002 (torch name)
    """Mean squared error :math:`\\frac{1}{n} \\sum_i (x_i - y_i)^2`."""
    check_float("mse_loss", input=input)
    target_shape = np.shape(getattr(target, "data", target))
    if input.shape != target_shape:
        raise ValueError(f"mse_loss: input shape {input.shape} != target shape {target_shape}")
    if input.size == 0:
        raise ValueError(f"mse_loss: the mean of an empty input (shape {input.shape}) is undefined")
    if not isinstance(target, Tensor):
        # a plain array is a constant: use the input's dtype (float64 targets would
        # otherwise turn a float32 model's loss and gradients into float64)
        target = np.asarray(target, dtype=input.dtype)
    diff = input - target
    return (diff * diff).mean()


def _check_targets(op: str, scores: Tensor, target) -> np.ndarray:
    """Validate integer class targets against ``(N, C)`` scores; return them as int64."""
    labels = np.asarray(getattr(target, "data", target))
    check_float(op, input=scores)
    if scores.ndim != 2 or 0 in scores.shape:
        raise ValueError(f"{op}: expected input of shape (N, C) with N, C >= 1, got {scores.shape}")
    if labels.ndim != 1 or len(labels) != scores.shape[0]:
        raise ValueError(f"{op}: target shape {labels.shape} does not match input shape {scores.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(
            f"{op}: target values must be in [0, {scores.shape[1]}), "
            f"got min {labels.min()} and max {labels.max()}"
        )
    return labels.astype(np.int64, copy=False)
