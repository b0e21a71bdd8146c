"""``MinConv2d``: the convolution layer of MinConvNets, and turning exact models into min ones."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np

from tinymin.autograd import no_grad
from tinymin.nn.conv import Conv2d
from tinymin.nn.functional.min_conv import DEFAULT_CLIP_VALUE, OPERATORS, SCALES, min_conv2d
from tinymin.nn.module import Module
from tinymin.tensor import Tensor


class MinConv2d(Conv2d):
    """Convolution whose forward pass uses the signed min-selector instead of products.

    Same parameters as :class:`~tinymin.nn.Conv2d` (so exact weights load directly),
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
        :mod:`tinymin.nn.functional.min_conv`).
    momentum : float or None
        Moving-average momentum (PyTorch convention); None for a cumulative average.
    scale : {"layer", "channel"}
        One weight scale ``mu_w`` per layer (paper) or per output channel.
    operator : {"min", "max", "adder"}
        What replaces multiplication.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, clip_value: float | None = DEFAULT_CLIP_VALUE,
                 momentum: float | None = 0.1, scale: str = "layer", operator: str = "min") -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias)
        if scale not in SCALES:
            raise ValueError(f"MinConv2d: scale must be one of {SCALES}, got {scale!r}")
        if operator not in OPERATORS:
            raise ValueError(f"MinConv2d: operator must be one of {OPERATORS}, got {operator!r}")
        if clip_value is not None and not clip_value > 0:
            raise ValueError(f"MinConv2d: clip_value must be positive or None, got {clip_value}")
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

    def forward(self, x: Tensor) -> Tensor:
        return min_conv2d(x, self.weight, self.bias, self.running_abs_mean,
                          self.num_batches_tracked, self.stride, self.padding, self.clip_value,
                          self.training, self.momentum, self.scale, self.operator, self.name,
                          *self._affine(), float(self.input_scale_multiple[0]))

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
        return np.abs(self.weight.data).mean(axis=axes)

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


def convert_to_min(model: Module, **min_options) -> Module:
    """A copy of ``model`` with every :class:`~tinymin.nn.Conv2d` replaced by a
    :class:`MinConv2d` holding the same weights and bias (the paper's transfer learning).

    The original model is left untouched. ``min_options`` (``clip_value``, ``scale``,
    ``operator``, ``momentum``) go to every new layer. The new layers' ``mu_x_hat``
    starts at 1: call :func:`recalibrate_running_statistics` before evaluating.
    """
    converted = copy.deepcopy(model)
    _replace_convs(converted, min_options)
    name_min_layers(converted)
    return converted


def _replace_convs(module: Module, min_options: dict) -> None:
    for name, child in list(module.named_children()):
        if type(child) is Conv2d:
            setattr(module, name, _min_copy(child, min_options))
        else:
            _replace_convs(child, min_options)


def _min_copy(conv: Conv2d, min_options: dict) -> MinConv2d:
    layer = MinConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.bias is not None, **min_options)
    layer.weight.data[...] = conv.weight.data
    if conv.bias is not None:
        layer.bias.data[...] = conv.bias.data
    layer.train(conv.training)
    return layer


def recalibrate_running_statistics(model: Module, batches: Iterable, max_batches: int | None = None) -> int:
    """Re-estimate every MinConv2d's :math:`\\hat\\mu_x` as the plain average of the batch
    means over ``batches`` (like recalibrating batch norm after a weight copy).

    Only the min layers run in training mode (other layers such as dropout stay in eval
    mode); no graph is built and no weight changes. ``batches`` yields ``(x, y)`` pairs
    or bare inputs. Returns the number of batches used; the model is left in eval mode.
    """
    layers = [layer for _, layer in min_layers(model)]
    saved_momentum = [layer.momentum for layer in layers]
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the calibration batches
        layer.train()
    used = 0
    try:
        with no_grad():
            for batch in batches:
                if max_batches is not None and used >= max_batches:
                    break
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                model(x if isinstance(x, Tensor) else Tensor(x))
                used += 1
    finally:
        for layer, momentum in zip(layers, saved_momentum):
            layer.momentum = momentum
        model.eval()
    return used
