"""Loss modules, as in ``torch.nn``: each holds its options and calls its function in
:mod:`tinymin.nn.functional` (where the equations are)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymin.nn import functional as F
from tinymin.nn.functional.loss import as_array, check_reduction, legacy_reduction
from tinymin.nn.module import Module
from tinymin.tensor import Tensor

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "NLLLoss"]


class _Loss(Module):
    """What every loss holds: ``reduction`` (``"mean"``, ``"sum"`` or ``"none"``).

    ``size_average`` and ``reduce`` are PyTorch's deprecated spellings of
    ``reduction``; given, they override it (with a warning), as in PyTorch.
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        reduction = legacy_reduction(type(self).__name__, size_average, reduce, reduction)
        check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """A loss with an optional per-class ``weight``, kept as a buffer (saved in the
    ``state_dict``, as PyTorch does)."""

    def __init__(self, weight: Any = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", None if weight is None else _float_array(weight))


class MSELoss(_Loss):
    """Mean squared error; see :func:`tinymin.nn.functional.mse_loss`."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002 (torch name)
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error; see :func:`tinymin.nn.functional.l1_loss`."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities; see
    :func:`tinymin.nn.functional.nll_loss`."""

    def __init__(self, weight: Any = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits; see :func:`tinymin.nn.functional.cross_entropy`.

    Takes logits (no softmax before it), and class indices or class probabilities.
    """

    def __init__(self, weight: Any = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities; see
    :func:`tinymin.nn.functional.binary_cross_entropy`. ``weight`` is per element
    (broadcast against the input), not per class."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, computed stably; see
    :func:`tinymin.nn.functional.binary_cross_entropy_with_logits`.

    ``pos_weight`` (one value per class, along the last axis) weighs the positive
    targets: above 1 it trades precision for recall.
    """

    def __init__(self, weight: Any = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean",
                 pos_weight: Any = None) -> None:
        super().__init__(size_average, reduce, reduction)
        for name, value in (("weight", weight), ("pos_weight", pos_weight)):
            self.register_buffer(name, None if value is None else _float_array(value))

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


def _float_array(values: Any) -> np.ndarray:
    """A copy of ``values`` as a float array, keeping float64 if given (the loss casts it
    to the input's dtype at each call)."""
    array = np.array(as_array(values))  # a copy
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float32)
