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
    :math:`y_{c,i,j} = \\max_{(u,v) \\in \\text{window}(i,j)} x_{c,u,v}`.

    PyTorch's arguments in its order; ``ceil_mode`` rounds the output size up, and
    ``dilation`` other than 1 and ``return_indices=True`` are refused (not supported).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__(kernel_size, stride, padding)
        if dilation not in (1, (1, 1)) or return_indices:
            raise ValueError("MaxPool2d: dilation other than 1 and return_indices=True are not "
                             f"supported, got dilation={dilation}, return_indices={return_indices}")
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding,
                            ceil_mode=self.ceil_mode)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", ceil_mode=True" if self.ceil_mode else "")


class AvgPool2d(_Pool2d):
    """Mean over each ``kernel_size`` window (``stride`` defaults to ``kernel_size``):
    :math:`y_{c,i,j} = \\frac{1}{d} \\sum_{(u,v) \\in \\text{window}(i,j)} x_{c,u,v}`,
    :math:`d = k_h k_w` unless PyTorch's ``ceil_mode``, ``count_include_pad`` or
    ``divisor_override`` change it (:func:`tinymin.nn.functional.avg_pool2d`)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


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
