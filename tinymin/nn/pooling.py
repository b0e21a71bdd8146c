"""Pooling layers: max and average over sliding windows, and adaptive average pooling."""

from __future__ import annotations

from tinymin.nn import functional as F
from tinymin.nn.functional.pooling import pool_window
from tinymin.nn.module import Module
from tinymin.tensor import Tensor


class _Pool2d(Module):
    """What both pooling layers share: the window geometry (not a layer on its own)."""

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        pool_window(type(self).__name__, kernel_size, stride, padding)  # raises if invalid
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max over each ``kernel_size`` window (``stride`` defaults to ``kernel_size``):
    :math:`y_{c,i,j} = \\max_{(u,v) \\in \\text{window}(i,j)} x_{c,u,v}`."""

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """Mean over each ``kernel_size`` window (``stride`` defaults to ``kernel_size``):
    :math:`y_{c,i,j} = \\frac{1}{k_h k_w} \\sum_{(u,v) \\in \\text{window}(i,j)} x_{c,u,v}`."""

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` whatever the input's size; ``(1, 1)``
    is global average pooling. See :func:`tinymin.nn.functional.adaptive_avg_pool2d`.

    Parameters
    ----------
    output_size : int or pair of (int or None)
        ``(h_o, w_o)``; None keeps that input size.
    """

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
