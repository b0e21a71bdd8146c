"""Convolution layers: the shared base :class:`ConvLayer` and the exact ``Conv2d``.

``Conv2d`` and :class:`~tinymin.minconv.layer.MinConv2d` are siblings: both hold what
:class:`ConvLayer` defines (weight, bias, stride, padding, the output geometry) and
differ only in ``forward``. So an exact layer is never mistaken for a min one, and
``isinstance(layer, ConvLayer)`` asks "any convolution?".
"""

from __future__ import annotations

import math

import numpy as np

from tinymin.nn import functional as F
from tinymin.nn import init
from tinymin.nn.module import Module
from tinymin.nn.parameter import Parameter
from tinymin.ops.checks import pair
from tinymin.ops.conv import ConvGeometry, conv_geometry
from tinymin.tensor import Tensor


class ConvLayer(Module):
    """What every 2-D convolution layer over NCHW input holds; subclasses add ``forward``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or pair
    stride, padding : int or pair
    bias : bool

    Weights are initialised like PyTorch's (Kaiming uniform with :math:`a=\\sqrt5`).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True) -> None:
        super().__init__()
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"{type(self).__name__}: channels must be positive, "
                             f"got {in_channels}, {out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, f"{name}: kernel_size", minimum=1)
        self.stride = pair(stride, f"{name}: stride", minimum=1)
        self.padding = pair(padding, f"{name}: padding")
        shape = (out_channels, in_channels, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dtype=np.float32))
        self.bias = Parameter(np.empty(out_channels, dtype=np.float32)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def geometry(self, input_shape: tuple[int, ...]) -> ConvGeometry:
        """Shapes of this layer applied to an NCHW input of ``input_shape`` (checked)."""
        return conv_geometry(type(self).__name__, input_shape, self.weight.shape, self.stride,
                             self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class Conv2d(ConvLayer):
    """2-D convolution layer over NCHW input, by im2col + GEMM (see :func:`F.conv2d`).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or pair
    stride, padding : int or pair
    bias : bool

    Weights are initialised like PyTorch's (Kaiming uniform with :math:`a=\\sqrt5`).
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
