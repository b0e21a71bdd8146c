"""``MinConv2d``: the convolution layer of MinConvNets, and finding it in a model."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymin.minconv.functional import clip_and_rescale, min_conv2d, step1_input_scale
from tinymin.minconv.spec import (
    DEFAULT_CLIP_VALUE,
    ClippedOperands,
    MinConvSpec,
    MinConvState,
    check_min_conv_options,
)
from tinymin.nn.conv import Conv2d, ConvLayer
from tinymin.nn.module import Module
from tinymin.tensor import Tensor


class MinConv2d(ConvLayer):
    """Convolution whose forward pass uses the signed min-selector instead of products.

    A sibling of :class:`~tinymin.nn.Conv2d` with the same parameters (so exact weights
    load directly),
    plus the buffers ``running_abs_mean`` (:math:`\\hat\\mu_x`, used in ``eval()``) and
    ``num_batches_tracked``. See :func:`tinymin.nn.functional.min_conv2d` for the
    algorithm (Algorithm 1 of the paper).

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding, bias
        As for :class:`~tinymin.nn.Conv2d`.
    clip_value : float or None
        Clip bound ``T`` in units of the mean magnitude; None disables the clip. The
        default, 4, was chosen by experiment (see ``DEFAULT_CLIP_VALUE`` in
        :mod:`tinymin.minconv.spec`).
    momentum : float or None
        Moving-average momentum (PyTorch convention); None for a cumulative average.
    scale : {"layer", "channel"}
        One weight scale ``mu_w`` per layer (paper) or per output channel.
    operator : {"min", "max", "adder"}
        What replaces multiplication.
    device, dtype : optional
        As for :class:`~tinymin.nn.Conv2d`, keyword only; the floating buffers take
        ``dtype`` too.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, clip_value: float | None = DEFAULT_CLIP_VALUE,
                 momentum: float | None = 0.1, scale: str = "layer", operator: str = "min",
                 *, device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias,
                         device=device, dtype=dtype)
        check_min_conv_options("MinConv2d", clip_value, scale, operator, momentum)
        self.clip_value, self.momentum = clip_value, momentum
        self.scale, self.operator = scale, operator
        self.register_buffer("running_abs_mean", np.ones(1, dtype=np.float32))
        self.register_buffer("num_batches_tracked", np.zeros(1, dtype=np.int64))
        # Identity until calibrate_min fits them (frozen buffers, not parameters).
        self.register_buffer("output_gain", np.ones(out_channels, dtype=np.float32))
        self.register_buffer("output_offset", np.zeros(out_channels, dtype=np.float32))
        # mu_x = multiple * mean|x| in training; 1 as in the paper, set by calibrate_min.
        self.register_buffer("input_scale_multiple", np.ones(1, dtype=np.float32))
        self.name = "MinConv2d"
        if self.weight.dtype != np.float32:  # dtype=float64: the floating buffers too
            self.astype(self.weight.dtype)

    @classmethod
    def from_conv(cls, conv: Conv2d, **options) -> MinConv2d:
        """A min layer holding a copy of an exact ``conv``'s weights and bias, in its mode
        (as ``torch.ao``'s ``from_float``). ``options``: ``clip_value``, ``momentum``,
        ``scale``, ``operator``. Its :math:`\\hat\\mu_x` starts at 1: re-estimate it
        (:func:`tinymin.minconv.calibrate.recalibrate_running_statistics`).
        """
        if any(conv.padding_extra):  # padding="same" with an even kernel
            raise ValueError(f"MinConv2d.from_conv: the layer pads unevenly (padding='same' "
                             f"with kernel_size {conv.kernel_size}), which MinConv2d does not "
                             "support; use an odd kernel_size")
        options.setdefault("dtype", conv.weight.dtype)  # a float64 layer stays float64
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                    conv.padding, conv.bias is not None, **options)
        layer.weight.numpy()[...] = conv.weight.numpy()
        if conv.bias is not None:
            layer.bias.numpy()[...] = conv.bias.numpy()
        layer.train(conv.training)
        return layer

    def spec(self) -> MinConvSpec:
        """The layer's configuration, as :func:`~tinymin.minconv.functional.min_conv2d` takes it."""
        return MinConvSpec(stride=self.stride, padding=self.padding, clip_value=self.clip_value,
                           momentum=self.momentum, scale=self.scale, operator=self.operator,
                           layer_name=self.name)

    def state(self) -> MinConvState:
        """The layer's buffers (the calibration affine as None while it is the identity)."""
        gain, offset = self._affine()
        return MinConvState(running_abs_mean=self.running_abs_mean,
                            num_batches_tracked=self.num_batches_tracked,
                            output_gain=gain, output_offset=offset,
                            input_scale_multiple=float(self.input_scale_multiple[0]))

    def forward(self, x: Tensor) -> Tensor:
        # an unbatched (C, H, W) image is min_conv2d's to take, as a batch of one
        return min_conv2d(x, self.weight, self.bias, spec=self.spec(), state=self.state(),
                          training=self.training)

    def _affine(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The calibration gain/offset, or None when they are the identity (skip the work)."""
        gain = None if np.all(self.output_gain == 1) else self.output_gain
        offset = None if not np.any(self.output_offset) else self.output_offset
        return gain, offset

    @property
    def is_calibrated(self) -> bool:
        gain, offset = self._affine()
        return gain is not None or offset is not None

    def weight_scale(self) -> np.ndarray:
        """Current :math:`\\mu_w` (scalar, or one per output channel)."""
        axes = None if self.scale == "layer" else (1, 2, 3)
        return np.abs(self.weight.numpy()).mean(axis=axes)

    def reset_running_stats(self) -> None:
        self.running_abs_mean[...] = 1.0
        self.num_batches_tracked[...] = 0

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", clip_value={self.clip_value}, momentum={self.momentum}, "
                f"scale={self.scale!r}, operator={self.operator!r}")


def min_layers(model: Module) -> list[tuple[str, MinConv2d]]:
    """``(name, layer)`` for every MinConv2d in ``model``, in network order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, MinConv2d)]


def name_min_layers(model: Module) -> None:
    """Label each MinConv2d with its name in the model, for ``tinymin.trace()`` records."""
    for name, layer in min_layers(model):
        layer.name = name or "MinConv2d"


def clipped_operands(layer: MinConv2d, x: np.ndarray | Tensor) -> ClippedOperands:
    """Steps 1-4 of Algorithm 1 as ``layer`` would run them on ``x`` now, changing nothing.

    In training mode :math:`\\mu_x = c\\,\\operatorname{mean}|x|` (``c`` the calibrated
    ``input_scale_multiple``), in evaluation mode :math:`\\hat\\mu_x`; the running
    statistics are read, never updated. For diagnostics, calibration and teaching.
    """
    x = np.asarray(x)
    mu_x = step1_input_scale(x, layer.running_abs_mean, layer.training,
                             float(layer.input_scale_multiple[0]))
    return clip_and_rescale(x, layer.weight.numpy(), mu_x, layer.clip_value, layer.scale)
