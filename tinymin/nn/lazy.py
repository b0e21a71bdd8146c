"""Lazy layers: ``LazyLinear`` and ``LazyConv2d`` learn their input size from the first
batch they see, as in PyTorch.

Until that first call the weight is a placeholder Parameter with no input axis
(``(out_features, 0)``, ``(out_channels, 0, kh, kw)``). The first call gives it its
real shape in place (the same Parameter object, so an optimizer built before the call
still holds it), initialises it as the eager layer would, and turns the module into
that eager layer: afterwards ``type(layer) is Linear`` (or ``Conv2d``), exactly as
PyTorch's ``cls_to_become``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymin.nn.conv import Conv2d
from tinymin.nn.layers import Linear
from tinymin.nn.module import Module
from tinymin.nn.parameter import Parameter, factory_dtype
from tinymin.tensor import Tensor

__all__ = ["LazyConv2d", "LazyLinear"]


def _materialize(param: Parameter, shape: tuple[int, ...]) -> None:
    """Give the placeholder ``param`` its real ``shape`` in place (values set later by
    the layer's ``reset_parameters``)."""
    array = np.empty(shape, dtype=param.dtype)
    # .data holds the array itself, or (as in PyTorch) a Tensor that shares it
    param.data = array if isinstance(param.data, np.ndarray) else Tensor(array)
    param.grad = None


class LazyLinear(Linear):
    """A :class:`~tinymin.nn.Linear` whose ``in_features`` is the last axis of the first
    input it is called on.

    Parameters
    ----------
    out_features : int
    bias : bool
    device, dtype : optional
        As for :class:`~tinymin.nn.Linear`.
    """

    def __init__(self, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        Module.__init__(self)
        if out_features <= 0:
            raise ValueError(f"LazyLinear: out_features must be positive, got {out_features}")
        dt = factory_dtype("LazyLinear", device, dtype)
        self.in_features, self.out_features = 0, out_features
        self.weight = Parameter(np.empty((out_features, 0), dtype=dt))
        self.bias = Parameter(np.empty(out_features, dtype=dt)) if bias else None

    def reset_parameters(self) -> None:
        """Nothing to initialise before the shape is known (and no random draws, as in
        PyTorch); the first call initialises the weights as ``Linear`` does."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 1 or x.shape[-1] == 0:
            raise ValueError(f"LazyLinear: cannot infer in_features from input shape {x.shape}")
        self.in_features = x.shape[-1]
        _materialize(self.weight, (self.out_features, self.in_features))
        self.__class__ = Linear  # from now on an ordinary Linear layer
        self.reset_parameters()
        return self.forward(x)


class LazyConv2d(Conv2d):
    """A :class:`~tinymin.nn.Conv2d` whose ``in_channels`` is axis 1 of the first input
    it is called on (``(N, C, H, W)``).

    Parameters
    ----------
    out_channels : int
    kernel_size, stride, padding, bias, device, dtype
        As for :class:`~tinymin.nn.Conv2d`.
    """

    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, *, device: Any = None, dtype: Any = None) -> None:
        # the eager constructor checks every argument and builds the layer for one input
        # channel; the weight's input axis is then emptied until the first call
        super().__init__(1, out_channels, kernel_size, stride, padding, bias, device=device,
                         dtype=dtype)
        self.in_channels = 0
        _materialize(self.weight, (out_channels, 0, *self.kernel_size))

    def reset_parameters(self) -> None:
        """Nothing to initialise before the shape is known (and no random draws, as in
        PyTorch); the first call initialises the weights as ``Conv2d`` does."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] == 0:
            raise ValueError(f"LazyConv2d: expected input (N, C, H, W) with C >= 1 to infer "
                             f"in_channels, got {x.shape}")
        self.in_channels = x.shape[1]
        _materialize(self.weight, (self.out_channels, self.in_channels, *self.kernel_size))
        self.__class__ = Conv2d  # from now on an ordinary Conv2d layer
        self.reset_parameters()
        return self.forward(x)
