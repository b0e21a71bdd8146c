"""Losses over class scores and regression losses, with PyTorch's ``reduction`` argument.

Every loss first computes one value per element (or per sample), :math:`\\ell_n`, then
reduces them as ``reduction`` says: ``"none"`` keeps them, ``"sum"`` adds them,
``"mean"`` averages them (over the weights of the targets, for the weighted class
losses). The binary losses are in :mod:`tinymin.nn.functional.binary_loss`.
All are written from Tensor operations, so autograd derives their backward.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tinymin.ops.activation import log_softmax
from tinymin.ops.checks import check_float
from tinymin.tensor import Tensor

REDUCTIONS = ("none", "mean", "sum")

__all__ = ["REDUCTIONS", "as_array", "cross_entropy", "l1_loss", "legacy_reduction", "mse_loss",
           "nll_loss", "reduce_loss"]


def legacy_reduction(op: str, size_average: bool | None, reduce: bool | None,
                     reduction: str) -> str:
    """PyTorch's mapping of the deprecated ``size_average``/``reduce`` onto ``reduction``.

    Both None keeps ``reduction``; otherwise ``reduce=False`` gives ``"none"``,
    ``size_average=False`` ``"sum"``, and the rest ``"mean"`` (with a warning, as PyTorch).
    """
    if size_average is None and reduce is None:
        return reduction
    warnings.warn(f"{op}: size_average and reduce are deprecated, use reduction= instead",
                  UserWarning, stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def reduce_loss(op: str, losses: Tensor, reduction: str) -> Tensor:
    """``losses`` as they are (``"none"``), summed (``"sum"``) or averaged (``"mean"``).

    .. math::

        L_{\\text{sum}} = \\sum_n \\ell_n, \\qquad L_{\\text{mean}} = \\frac1N \\sum_n \\ell_n
    """
    check_reduction(op, reduction)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if losses.numel() == 0:  # PyTorch gives nan; numpy would warn about the empty mean
        return losses.sum() * 0.0 + np.nan
    return losses.mean()


def as_array(value: Any) -> np.ndarray:
    """A Tensor's numpy array (shared), or anything else as an array."""
    return value.numpy() if isinstance(value, Tensor) else np.asarray(value)


def check_reduction(op: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


# ---------------------------------------------------------------- regression
def mse_loss(input: Tensor, target: Any, size_average: bool | None = None,  # noqa: A002
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Squared error :math:`\\ell_i = (x_i - y_i)^2`, reduced by ``reduction``.

    Parameters
    ----------
    input : Tensor
        Any shape, float.
    target : Tensor or array
        The same shape as ``input`` (a plain array is a constant of the input's dtype).
    reduction : {"mean", "sum", "none"}
    """
    reduction = legacy_reduction("mse_loss", size_average, reduce, reduction)
    diff = _difference("mse_loss", input, target)
    return reduce_loss("mse_loss", diff * diff, reduction)


def l1_loss(input: Tensor, target: Any, size_average: bool | None = None,  # noqa: A002
            reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Absolute error :math:`\\ell_i = |x_i - y_i|`, reduced by ``reduction``.

    Its gradient at :math:`x_i = y_i` is 0 (the sign of 0), as in PyTorch.
    """
    reduction = legacy_reduction("l1_loss", size_average, reduce, reduction)
    return reduce_loss("l1_loss", _difference("l1_loss", input, target).abs(), reduction)


def _difference(op: str, input: Tensor, target: Any) -> Tensor:  # noqa: A002
    check_float(op, input=input)
    target_shape = np.shape(as_array(target))
    if input.shape != target_shape:
        # PyTorch broadcasts with a warning; a shape mismatch here is almost always a bug
        raise ValueError(f"{op}: input shape {input.shape} != target shape {target_shape}")
    if not isinstance(target, Tensor):
        # a plain array is a constant: use the input's dtype (float64 targets would
        # otherwise turn a float32 model's loss and gradients into float64)
        target = np.asarray(target, dtype=input.dtype)
    return input - target


# ---------------------------------------------------------------- classification
def nll_loss(input: Tensor, target: Any, weight: Any = None,  # noqa: A002 (torch name)
             size_average: bool | None = None, ignore_index: int = -100,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target classes, weighted, with ignored targets.

    .. math::

        \\ell_n = -w_{t_n}\\, x_{n, t_n}, \\qquad
        L_{\\text{mean}} = \\frac{\\sum_n \\ell_n}{\\sum_n w_{t_n}}

    where :math:`w_c = 1` without ``weight`` and :math:`w_{t_n} = 0` for a target equal
    to ``ignore_index`` (so ignored samples count neither in the sum nor in the mean).

    Parameters
    ----------
    input : Tensor
        Log-probabilities, shape ``(N, C)`` or ``(N, C, d1, ...)``, or unbatched ``(C,)``.
    target : Tensor or array of int
        Class indices in ``[0, C)``, shape ``(N,)`` or ``(N, d1, ...)`` (0-d for
        unbatched input).
    weight : array of shape (C,), optional
        A weight per class.
    ignore_index : int, default -100
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns :math:`\\ell` of the target's shape.
    """
    reduction = legacy_reduction("nll_loss", size_average, reduce, reduction)
    check_reduction("nll_loss", reduction)
    if input.ndim == 1:  # unbatched (C,) with a 0-d target, as PyTorch: a batch of one
        loss = _negative_log_likelihood("nll_loss", input[None], _batch_of_one(target),
                                        weight, ignore_index, reduction)
        return loss[0] if reduction == "none" else loss
    return _negative_log_likelihood("nll_loss", input, target, weight, ignore_index, reduction)


def _batch_of_one(target: Any) -> Any:
    """An unbatched target (a 0-d class index, or (C,) probabilities) with a batch axis."""
    return target[None] if isinstance(target, Tensor) else np.asarray(target)[None]


def _negative_log_likelihood(op: str, input: Tensor, target: Any, weight: Any,  # noqa: A002
                             ignore_index: int, reduction: str) -> Tensor:
    """:func:`nll_loss`'s maths; ``op`` names the public function in error messages."""
    scores, labels, out_shape = _flatten_classes(op, input, target, ignore_index)
    sample_weight = _sample_weights(op, weight, labels, ignore_index, scores)
    picked = scores[np.arange(len(labels)), np.where(labels == ignore_index, 0, labels)]
    losses = -(picked * sample_weight)
    if reduction == "none":
        return losses.reshape(out_shape)
    if reduction == "sum":
        return losses.sum()
    return _weighted_mean(losses.sum(), sample_weight.sum())


def cross_entropy(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                  size_average: bool | None = None, ignore_index: int = -100,
                  reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits, against class indices or class probabilities.

    With class indices :math:`t_n` it is :func:`nll_loss` of
    :math:`\\log\\operatorname{softmax}(z)` over the class axis 1:

    .. math::

        \\ell_n = -w_{t_n} \\Big( z_{n,t_n} - \\log \\sum_c e^{z_{n,c}} \\Big)

    With ``label_smoothing`` :math:`\\varepsilon`, PyTorch's mixture of that loss with
    the uniform one: :math:`(1-\\varepsilon)\\,\\ell_n + \\frac{\\varepsilon}{C}
    \\sum_c -w_c \\log p_{n,c}` (the second part reduced like the first).
    With a float ``target`` of the input's shape (class probabilities :math:`y`), it is
    :math:`\\ell_n = -\\sum_c w_c\\, y_{n,c} \\log p_{n,c}` with :math:`y` smoothed to
    :math:`(1-\\varepsilon) y + \\varepsilon / C`, and ``"mean"`` divides by :math:`N`.

    Parameters
    ----------
    input : Tensor
        Logits, shape ``(N, C)`` or ``(N, C, d1, ...)``, or unbatched ``(C,)``.
    target : Tensor or array
        Class indices (int; 0-d for unbatched input) or probabilities (float, the
        input's shape).
    weight : array of shape (C,), optional
    ignore_index : int, default -100
        Only for class indices.
    reduction : {"mean", "sum", "none"}
    label_smoothing : float in [0, 1]
    """
    reduction = legacy_reduction("cross_entropy", size_average, reduce, reduction)
    check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    check_float("cross_entropy", input=input)
    if input.ndim == 1:  # unbatched (C,), as PyTorch: a batch of one
        loss = cross_entropy(input[None], _batch_of_one(target), weight,
                             ignore_index=ignore_index, reduction=reduction,
                             label_smoothing=label_smoothing)
        return loss[0] if reduction == "none" else loss
    if input.ndim < 2 or input.shape[1] == 0:
        raise ValueError(f"cross_entropy: expected input of shape (N, C, ...) with C >= 1, "
                         f"got {input.shape}")
    log_probs = log_softmax(input, dim=1)
    target_array = np.asarray(as_array(target))
    if np.issubdtype(target_array.dtype, np.floating):
        if ignore_index != -100:  # no class index to ignore among probabilities
            raise ValueError("cross_entropy: ignore_index is not supported for class "
                             "probability (floating point) targets, as in PyTorch")
        return _soft_cross_entropy(log_probs, target, weight, reduction, label_smoothing)
    loss = _negative_log_likelihood("cross_entropy", log_probs, target, weight, ignore_index,
                                    reduction)
    if label_smoothing == 0.0:
        return loss
    return (1 - label_smoothing) * loss + _smoothing_term(
        log_probs, target_array, weight, ignore_index, reduction) * (
        label_smoothing / input.shape[1])


def _smoothing_term(log_probs: Tensor, labels: np.ndarray, weight: Any, ignore_index: int,
                    reduction: str) -> Tensor:
    """PyTorch's uniform part of label smoothing: :math:`-\\sum_c w_c \\log p_{n,c}`,
    zero for ignored targets, reduced like the NLL part (over the same weights)."""
    class_weight = _class_weights("cross_entropy", weight, log_probs)
    shape = (1, -1) + (1,) * (log_probs.ndim - 2)
    weighted = log_probs if class_weight is None else log_probs * class_weight.reshape(shape)
    keep = (labels != ignore_index).astype(log_probs.dtype)
    smooth = -weighted.sum(1) * keep
    if reduction == "none":
        return smooth
    if reduction == "sum":
        return smooth.sum()
    if class_weight is None:
        return _weighted_mean(smooth.sum(), keep.sum())
    safe = np.where(labels == ignore_index, 0, labels)
    return _weighted_mean(smooth.sum(), (class_weight[safe] * keep).sum())


def _soft_cross_entropy(log_probs: Tensor, target: Any, weight: Any, reduction: str,
                        label_smoothing: float) -> Tensor:
    target_array = np.asarray(as_array(target))
    if target_array.shape != log_probs.shape:
        raise TypeError(f"cross_entropy: target must hold integer class indices, got dtype "
                        f"{target_array.dtype}; a float target holds class probabilities and "
                        f"needs the input's shape {log_probs.shape}, got {target_array.shape}")
    if not isinstance(target, Tensor):
        target = np.asarray(target, dtype=log_probs.dtype)
    classes = log_probs.shape[1]
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    class_weight = _class_weights("cross_entropy", weight, log_probs)
    terms = log_probs * target
    if class_weight is not None:
        terms = terms * class_weight.reshape((1, -1) + (1,) * (log_probs.ndim - 2))
    losses = -terms.sum(1)
    if reduction == "mean":  # PyTorch: over the N * d1 * ... losses, not the weights
        return _weighted_mean(losses.sum(), losses.numel())
    return reduce_loss("cross_entropy", losses, reduction)


def _flatten_classes(op: str, scores: Tensor, target: Any,
                     ignore_index: int) -> tuple[Tensor, np.ndarray, tuple[int, ...]]:
    """Scores as ``(M, C)`` and labels as ``(M,)`` (class axis 1 moved last), with checks."""
    labels = np.asarray(as_array(target))
    check_float(op, input=scores)
    if scores.ndim < 2 or 0 in scores.shape[1:2]:
        raise ValueError(f"{op}: expected input of shape (N, C, ...) with C >= 1, got {scores.shape}")
    expected = (scores.shape[0],) + scores.shape[2:]
    if labels.shape != expected:
        raise ValueError(f"{op}: target shape {labels.shape} does not match input shape "
                         f"{scores.shape} (expected {expected})")
    if labels.dtype == object and all(isinstance(v, (int, np.integer)) for v in labels.flat):
        # Python ints too large for int64 (2**70): out of range, not of the wrong kind
        raise ValueError(f"{op}: target values must be in [0, {scores.shape[1]}), got "
                         f"min {min(labels.flat)} and max {max(labels.flat)}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {labels.dtype}")
    classes = scores.shape[1]
    valid = labels[labels != ignore_index]
    if valid.size and (valid.min() < 0 or valid.max() >= classes):
        raise ValueError(f"{op}: target values must be in [0, {classes}) or ignore_index "
                         f"({ignore_index}), got min {valid.min()} and max {valid.max()}")
    if scores.ndim > 2:  # (N, C, d1, ...) -> (N * d1 * ..., C)
        order = (0, *range(2, scores.ndim), 1)
        scores = scores.permute(*order).reshape(-1, classes)
    return scores, labels.reshape(-1).astype(np.int64), expected


def _class_weights(op: str, weight: Any, scores: Tensor) -> np.ndarray | None:
    if weight is None:
        return None
    w = np.asarray(as_array(weight), dtype=scores.dtype)
    if w.shape != (scores.shape[1],):
        raise ValueError(f"{op}: weight must have one value per class, shape "
                         f"({scores.shape[1]},), got {w.shape}")
    return w


def _sample_weights(op: str, weight: Any, labels: np.ndarray, ignore_index: int,
                    scores: Tensor) -> np.ndarray:
    """:math:`w_{t_n}` for each sample: the class weight, 0 where the target is ignored."""
    class_weight = _class_weights(op, weight, scores)
    ignored = labels == ignore_index
    if class_weight is None:
        return (~ignored).astype(scores.dtype)
    return np.where(ignored, 0, class_weight[np.where(ignored, 0, labels)]).astype(scores.dtype)


def _weighted_mean(total: Tensor, weight_sum: Any) -> Tensor:
    """``total / weight_sum``; nan when every target is ignored, as in PyTorch, with a
    zero gradient (``total * 0 + nan``: one batch of padding must not turn every
    parameter into nan)."""
    weight_sum = float(weight_sum)
    if weight_sum == 0.0:
        return total * 0.0 + np.nan
    return total / weight_sum
