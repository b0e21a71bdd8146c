"""Convolution layers: the shared base :class:`ConvLayer` and the exact ``Conv2d``.

``Conv2d`` and :class:`~tinymin.minconv.layer.MinConv2d` are siblings: both hold what
:class:`ConvLayer` defines (weight, bias, stride, padding, the output geometry) and
differ only in ``forward``. So an exact layer is never mistaken for a min one, and
``isinstance(layer, ConvLayer)`` asks "any convolution?".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinymin.nn import functional as F
from tinymin.nn import init
from tinymin.nn.functional.conv import pad_bottom_right
from tinymin.nn.module import Module
from tinymin.nn.parameter import Parameter, factory_dtype
from tinymin.ops.checks import pair
from tinymin.ops.conv import ConvGeometry, conv_geometry, same_padding
from tinymin.tensor import Tensor


class ConvLayer(Module):
    """What every 2-D convolution layer over NCHW input holds; subclasses add ``forward``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or pair
    stride : int or pair
    padding : int, pair, ``"valid"`` or ``"same"``
        ``"valid"`` is no padding; ``"same"`` pads so that the output has the input's
        size (stride 1 only, as in PyTorch). An even kernel needs one more row and
        column of zeros at the bottom and right than at the top and left: only layers
        that set ``supports_uneven_padding`` (``Conv2d``) accept that.
    bias : bool
    device, dtype : optional
        PyTorch's factory arguments, keyword only: the CPU, and float32 (the default)
        or float64 for the weight and bias.

    Weights are initialised like PyTorch's (Kaiming uniform with :math:`a=\\sqrt5`).

    Attributes
    ----------
    padding : pair of int
        The zeros added on both sides of each axis.
    padding_extra : pair of int
        The zeros added after that at the bottom and at the right (``"same"`` with an
        even kernel), else ``(0, 0)``.
    padding_mode_text : str or None
        ``"same"`` or ``"valid"`` when padding was given as text.
    """

    supports_uneven_padding = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, *, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"{type(self).__name__}: channels must be positive, "
                             f"got {in_channels}, {out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        name = type(self).__name__
        dt = factory_dtype(name, device, dtype)
        self.kernel_size = pair(kernel_size, f"{name}: kernel_size", minimum=1)
        self.stride = pair(stride, f"{name}: stride", minimum=1)
        self.padding_mode_text = padding if isinstance(padding, str) else None
        self.padding, self.padding_extra = self._resolve_padding(padding)
        shape = (out_channels, in_channels, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dtype=dt))
        self.bias = Parameter(np.empty(out_channels, dtype=dt)) if bias else None
        self.reset_parameters()

    def _resolve_padding(self, padding) -> tuple[tuple[int, int], tuple[int, int]]:
        """``padding`` as (both sides, extra at the bottom/right), per axis (see Parameters)."""
        name = type(self).__name__
        if not isinstance(padding, str):
            return pair(padding, f"{name}: padding"), (0, 0)
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"{name}: padding must be an int, a pair, 'valid' or 'same', "
                             f"got {padding!r}")
        both, extra = same_padding(name, self.kernel_size, self.stride)
        if any(extra) and not self.supports_uneven_padding:
            raise ValueError(f"{name}: padding='same' with the even kernel_size "
                             f"{self.kernel_size} needs uneven padding, which {name} does not "
                             "support; use an odd kernel_size")
        return both, extra  # type: ignore[return-value]

    def pad_uneven(self, x: Tensor) -> Tensor:
        """``x`` with :attr:`padding_extra` zero rows at the bottom and columns at the right."""
        return pad_bottom_right(x, self.padding_extra)

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
        padding = self.padding_mode_text or self.padding
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={padding}, bias={self.bias is not None}")


class Conv2d(ConvLayer):
    """2-D convolution layer over NCHW input, by im2col + GEMM (see :func:`F.conv2d`).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or pair
    stride : int or pair
    padding : int, pair, ``"valid"`` or ``"same"``
        See :class:`ConvLayer`.
    bias : bool
    device, dtype : optional
        As for :class:`ConvLayer`.

    Weights are initialised like PyTorch's (Kaiming uniform with :math:`a=\\sqrt5`).
    """

    supports_uneven_padding = True

    def forward(self, x: Tensor) -> Tensor:
        if any(self.padding_extra):  # "same" with an even kernel: pad one side more
            x = self.pad_uneven(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
