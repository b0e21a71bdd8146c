"""``MinConv2d`` as a ``torch.nn.Module``: the twin of :class:`tinymin.nn.MinConv2d`."""

from __future__ import annotations

import math

import torch
from torch import nn

from tinymin.minconv.spec import (
    DEFAULT_CLIP_VALUE,
    MinConvSpec,
    MinConvState,
    check_min_conv_options,
)
from tinymin.ops.checks import pair
from tinymin.torch.functional import min_conv2d


class MinConv2d(nn.Module):
    """Convolution whose forward pass uses the signed min-selector instead of products.

    The same constructor, defaults, parameters (``weight``, ``bias``) and buffers
    (``running_abs_mean``, ``num_batches_tracked``, ``output_gain``, ``output_offset``,
    ``input_scale_multiple``) as :class:`tinymin.nn.MinConv2d`, so the two state_dicts
    have the same keys, shapes and dtypes and load into each other. Weights start as in
    ``torch.nn.Conv2d`` (Kaiming uniform with :math:`a=\\sqrt5`).

    Set ``synchronise_input_scale = True`` (done by
    :func:`tinymin.torch.distributed.synchronise_input_scales`) to average step 1's batch
    statistic over all ranks in distributed training.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, clip_value: float | None = DEFAULT_CLIP_VALUE,
                 momentum: float | None = 0.1, scale: str = "layer", operator: str = "min") -> None:
        super().__init__()
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"MinConv2d: channels must be positive, got {in_channels}, {out_channels}")
        check_min_conv_options("MinConv2d", clip_value, scale, operator, momentum)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "MinConv2d: kernel_size", minimum=1)
        self.stride = pair(stride, "MinConv2d: stride", minimum=1)
        self.padding = pair(padding, "MinConv2d: padding")
        self.clip_value, self.momentum = clip_value, momentum
        self.scale, self.operator = scale, operator
        self.synchronise_input_scale = False
        self.name = "MinConv2d"  # the layer's name in the model (set by to_torch), for messages
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.register_buffer("running_abs_mean", torch.ones(1))
        self.register_buffer("num_batches_tracked", torch.zeros(1, dtype=torch.int64))
        self.register_buffer("output_gain", torch.ones(out_channels))
        self.register_buffer("output_offset", torch.zeros(out_channels))
        self.register_buffer("input_scale_multiple", torch.ones(1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def spec(self) -> MinConvSpec:
        """The layer's configuration, as :func:`~tinymin.torch.functional.min_conv2d` takes it."""
        return MinConvSpec(stride=self.stride, padding=self.padding, clip_value=self.clip_value,
                           momentum=self.momentum, scale=self.scale, operator=self.operator,
                           layer_name=self.name,
                           synchronise_input_scale=self.synchronise_input_scale)

    def state(self) -> MinConvState:
        """The layer's buffers (always passed: looking at them would make a GPU wait)."""
        return MinConvState(running_abs_mean=self.running_abs_mean,
                            num_batches_tracked=self.num_batches_tracked,
                            output_gain=self.output_gain, output_offset=self.output_offset,
                            input_scale_multiple=self.input_scale_multiple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return min_conv2d(x, self.weight, self.bias, spec=self.spec(), state=self.state(),
                          training=self.training)

    def reset_running_stats(self) -> None:
        self.running_abs_mean.fill_(1.0)
        self.num_batches_tracked.zero_()

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}, "
                f"clip_value={self.clip_value}, momentum={self.momentum}, scale={self.scale!r}, "
                f"operator={self.operator!r}")
