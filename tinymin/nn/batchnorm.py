"""Batch normalisation layer for NCHW feature maps."""

from __future__ import annotations

import numpy as np

from tinymin.nn import functional as F
from tinymin.nn.module import Module
from tinymin.nn.parameter import Parameter
from tinymin.tensor import Tensor


class BatchNorm2d(Module):
    """Per-channel batch normalisation with learnable scale/shift and running statistics.

    See :func:`tinymin.nn.functional.batch_norm` for the equation and the momentum
    convention (PyTorch's: ``running = (1 - momentum) * running + momentum * batch``).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True) -> None:
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"BatchNorm2d: num_features must be positive, got {num_features}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features, dtype=np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=np.float32)) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
        self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d: expected input (N, {self.num_features}, H, W), got {x.shape}")
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training, self.momentum, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
