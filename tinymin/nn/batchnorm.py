"""Batch normalisation layers: ``BatchNorm1d`` for ``(N, C)`` / ``(N, C, L)`` input and
``BatchNorm2d`` for NCHW feature maps."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymin.nn import functional as F
from tinymin.nn.module import Module
from tinymin.nn.parameter import Parameter, factory_dtype
from tinymin.tensor import Tensor


class _BatchNorm(Module):
    """Per-channel batch normalisation with learnable scale/shift and running statistics.

    See :func:`tinymin.nn.functional.batch_norm` for the equation and the momentum
    convention (PyTorch's: ``running = (1 - momentum) * running + momentum * batch``).
    Subclasses name the input ranks they accept (``input_ranks``).
    """

    input_ranks: tuple[int, ...] = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, *, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        if num_features <= 0:
            raise ValueError(f"{name}: num_features must be positive, got {num_features}")
        dt = factory_dtype(name, device, dtype)  # PyTorch's factory arguments
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features, dtype=dt)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dt)) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dt))
        self.register_buffer("running_var", np.ones(num_features, dtype=dt))

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        if x.ndim not in self.input_ranks or x.shape[1] != self.num_features:
            expected = self.layout.format(C=self.num_features)
            raise ValueError(f"{name}: expected input {expected}, got {x.shape}")
        if self.training and x.numel() // x.shape[1] == 1:
            raise ValueError(f"{name}: expected more than 1 value per channel when training, "
                             f"got input of shape {x.shape}")
        return F.batch_norm(x, self.running_mean, self.running_var, weight=self.weight,
                            bias=self.bias, training=self.training, momentum=self.momentum,
                            eps=self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` features or ``(N, C, L)`` sequences: statistics
    per channel ``C`` over the batch (and length) axes."""

    input_ranks = (2, 3)
    layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` feature maps: statistics per channel over
    the batch and both spatial axes."""

    input_ranks = (4,)
    layout = "(N, {C}, H, W)"
