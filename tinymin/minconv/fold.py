"""Multiplication-free inference: fold the scales of a trained MinConvNet away.

See docs/guides/minconv_math.rst, section 4 (Eq. 12-13).

In evaluation a min-conv layer computes

.. math::

    y = \\mu_w \\sum_k m(x_k, \\hat w_k) + b, \\qquad \\hat w = w_c\\, \\hat\\mu_x / \\mu_w

The only product left is the factor :math:`\\mu_w > 0`. Every following layer up to the
next exact one commutes with a positive factor (leaky ReLU, ReLU, max-pool, flatten),
and so does the min-selector itself, :math:`m(s a, b) = s\\, m(a, b/s)`. So
:func:`fold_min_model` carries a running scale ``s`` forward (the network stores
``x / s`` instead of ``x``), divides it into the next min layer's precomputed weights and
biases, and multiplies it into the first exact Linear layer's weights, once, offline.
The convolution stack then runs with comparisons, sign flips and additions only.

:func:`operation_counts` counts multiplications, comparisons and additions per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinymin.minconv.functional import selector_conv
from tinymin.minconv.layer import MinConv2d
from tinymin.nn.conv import Conv2d, ConvLayer
from tinymin.nn.layers import Dropout, Flatten, Identity, LeakyReLU, Linear, ReLU, Sequential
from tinymin.nn.module import Module
from tinymin.nn.pooling import AvgPool2d, MaxPool2d
from tinymin.ops.conv import ConvGeometry, conv_geometry
from tinymin.tensor import Tensor


@dataclass
class FoldedMinConv:
    """A min-conv layer with every scale precomputed: ``y_s = sum_k m(x_s, w) + b``."""

    weight: np.ndarray          # (C_out, K): w_hat / s_in
    bias: np.ndarray            # (C_out,): b / s_out
    input_bound: float | None   # clip bound T * mu_x_hat / s_in (None: no clip)
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    operator: str

    def __call__(self, x: np.ndarray) -> np.ndarray:
        # For the min-selector the input clip changes nothing (|w| <= bound,
        # docs/guides/minconv_math.rst section 5), so it is skipped; the max and adder operators need it.
        x = np.ascontiguousarray(x, dtype=self.weight.dtype)  # the kernels need one dtype
        if self.input_bound is not None and self.operator != "min":
            x = np.clip(x, -self.input_bound, self.input_bound)
        w_shape = (self.weight.shape[0], x.shape[1], *self.kernel)
        geom: ConvGeometry = conv_geometry("folded min conv", x.shape, w_shape, self.stride,
                                           self.padding)
        # step 5 with the scales folded in (chunks of images: set_im2col_limit)
        out = selector_conv(x, self.weight, geom, self.operator)
        out += self.bias.reshape(1, -1, 1, 1)
        return out


@dataclass
class FoldedLinear:
    """An exact Linear layer that absorbed the incoming scale: ``W' = W diag(s)``."""

    weight: np.ndarray
    bias: np.ndarray | None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias


@dataclass
class ChannelRescale:
    """Multiply each channel by its pending scale (and add ``offset``, if any).

    The one multiplication per activation left when per-channel scales
    (``scale="channel"`` or a per-channel calibration gain) meet another min layer,
    which needs one scale for its whole receptive field; or when a calibration gain is
    not positive, so it cannot travel through leaky ReLU and max-pool.
    """

    scale: np.ndarray
    offset: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x * self.scale.reshape(1, -1, 1, 1).astype(x.dtype)
        return y if self.offset is None else y + self.offset.reshape(1, -1, 1, 1).astype(x.dtype)


@dataclass
class ScaleFreeStep:
    """A layer that commutes with a positive scale, applied to the stored values as is."""

    layer: Module

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.layer(Tensor(x)).data


@dataclass
class FoldedModel:
    """The exported network: a list of numpy steps, evaluated in order."""

    steps: list[Any] = field(default_factory=list)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = np.asarray(getattr(x, "data", x))
        for step in self.steps:
            out = step(out)
        return out

    def __repr__(self) -> str:
        names = ", ".join(type(s.layer if isinstance(s, ScaleFreeStep) else s).__name__
                          for s in self.steps)
        return f"FoldedModel([{names}])"


# Layers that commute with a positive per-channel factor: f(s x) = s f(x).
_SCALE_FREE = (LeakyReLU, ReLU, MaxPool2d, AvgPool2d, Flatten, Dropout, Identity)


def fold_min_model(model: Sequential) -> FoldedModel:
    """Export an eval-mode min model (a ``Sequential``) to a multiplication-free conv stack.

    Per-channel scales (``scale="channel"``, or per-channel calibration gains) cannot
    pass into the *next* min layer, since :math:`m(s a, b) = s\\, m(a, b/s)` needs one
    ``s`` for the whole receptive field: there a :class:`ChannelRescale` step applies
    them, one multiplication per activation (counted by :func:`operation_counts`). The
    same happens right after a layer whose calibration gain is zero or negative for
    some channel: such a factor does not commute with leaky ReLU or max-pool.

    Raises
    ------
    ValueError
        For layers the scale cannot pass through exactly (an exact convolution after a
        min one), or when the model ends with a pending scale.
    """
    if not isinstance(model, Sequential):
        raise ValueError(f"fold_min_model: expected a Sequential, got {type(model).__name__}")
    steps: list[Any] = []
    scale: Any = 1.0  # the network below stores activation / scale
    for index, layer in enumerate(model):
        if isinstance(layer, MinConv2d):
            if np.ndim(scale) == 1 and np.ptp(scale) == 0:
                scale = float(scale[0])
            if np.ndim(scale) == 1:
                steps.append(ChannelRescale(np.asarray(scale)))
                scale = 1.0
            folded, scale = _fold_min_conv(layer, scale)
            steps.extend(folded)
        elif isinstance(layer, _SCALE_FREE):
            steps.append(ScaleFreeStep(layer))
            if isinstance(layer, Flatten) and np.ndim(scale) == 1:
                scale = _flattened_scale(scale, model, index)
        elif isinstance(layer, Linear):
            steps.append(_fold_linear(layer, scale))
            scale = 1.0
        elif isinstance(layer, Conv2d) and np.all(np.asarray(scale) == 1.0):
            steps.append(ScaleFreeStep(layer))
        else:
            raise ValueError(f"fold_min_model: layer {index} ({type(layer).__name__}) cannot "
                             f"absorb the pending scale")
    if not np.all(np.asarray(scale) == 1.0):
        raise ValueError("fold_min_model: the model ends with an unfolded scale")
    return FoldedModel(steps)


def _fold_min_conv(layer: MinConv2d, scale: float) -> tuple[list[Any], Any]:
    """The folded steps of one min layer, and the scale its stored output carries."""
    mu_x = float(layer.running_abs_mean[0])
    w = layer.weight.data.astype(np.float64)
    mu_w = np.abs(w).mean(axis=None if layer.scale == "layer" else (1, 2, 3), keepdims=True)
    T = layer.clip_value
    w_c = w if T is None else np.clip(w, -T * mu_w, T * mu_w)
    w_hat = w_c * mu_x / mu_w                                   # Eq. 12, precomputed
    gain = layer.output_gain.astype(np.float64)
    offset = layer.output_offset.astype(np.float64)
    bias = layer.bias.data.astype(np.float64) if layer.bias is not None else np.zeros(layer.out_channels)
    # y = gain * (base * sum_k m(x_s, w_hat / scale) + b) + offset,  base = mu_w * scale > 0
    base = np.broadcast_to(mu_w.reshape(-1) * scale, gain.shape)
    affine_after = not np.all(gain > 0)
    if affine_after:
        # store y / base, then one multiply-add per output restores y exactly
        out_scale, folded_bias = base, bias / base
    else:
        out_scale = gain * base
        folded_bias = (gain * bias + offset) / out_scale
    dtype = layer.weight.dtype
    steps: list[Any] = [FoldedMinConv(
        weight=np.ascontiguousarray((w_hat / scale).reshape(layer.out_channels, -1), dtype=dtype),
        bias=folded_bias.astype(dtype),
        input_bound=None if T is None else T * mu_x / scale,
        kernel=layer.kernel_size, stride=layer.stride, padding=layer.padding,
        operator=layer.operator)]
    if affine_after:
        steps.append(ChannelRescale(gain * base, offset))
        return steps, 1.0
    return steps, float(out_scale[0]) if np.ptp(out_scale) == 0 else out_scale


def _flattened_scale(scale: np.ndarray, model: Sequential, index: int) -> np.ndarray:
    """A per-channel scale becomes per-feature after Flatten (channel-major order)."""
    following = model[index + 1] if index + 1 < len(model) else None
    if not isinstance(following, Linear):
        raise ValueError("fold_min_model: a per-channel scale must be flattened into a Linear")
    per_channel = following.in_features // len(scale)
    return np.repeat(scale, per_channel)


def _fold_linear(layer: Linear, scale: Any) -> FoldedLinear:
    weight = (layer.weight.data * np.asarray(scale, dtype=np.float64)).astype(layer.weight.dtype)
    return FoldedLinear(weight, None if layer.bias is None else layer.bias.data.copy())


# ------------------------------------------------------------------- operation counts
def operation_counts(model: Sequential, input_shape: tuple[int, int, int],
                     folded: bool = True) -> list[dict[str, Any]]:
    """Multiplications, comparisons and additions per image, layer by layer.

    Exact conv: one multiply and one add per (output, k) pair, plus the bias. Min conv
    (Table 2): one magnitude comparison, one sign selection and one add per pair, plus
    the bias; ``folded=False`` adds the ``mu_w`` multiply per output, and so does a
    per-channel scale that meets another min layer (see :func:`fold_min_model`), and
    a layer with a zero or negative calibration gain adds one multiply and one add per
    output (the affine step after it). Max-pool: ``k*k - 1`` comparisons per output;
    average pool: ``k*k - 1`` additions and one multiply per output; (leaky) ReLU: one
    comparison per element, and leaky ReLU multiplies negative inputs by its slope
    (counted as multiplications, an upper bound: every element).
    """
    rows: list[dict[str, Any]] = []
    shape = tuple(input_shape)
    channel_scale_pending = False  # a per-channel scale is riding on the activations
    for index, layer in enumerate(model):
        rescale = folded and channel_scale_pending and isinstance(layer, MinConv2d)
        input_size = int(np.prod(shape))
        row, shape = _count_layer(layer, shape, folded)
        if row is None:
            continue
        if rescale:
            row["multiplications"] += input_size  # the ChannelRescale step before it
        affine_after = folded and isinstance(layer, MinConv2d) and _non_positive_gain(layer)
        if affine_after:  # the ChannelRescale(gain, offset) step right after it
            row["multiplications"] += int(np.prod(shape))
            row["additions"] += int(np.prod(shape))
        if isinstance(layer, (ConvLayer, Linear)):
            channel_scale_pending = (isinstance(layer, MinConv2d) and not affine_after
                                     and _per_channel_scale(layer))
        rows.append({"layer": f"{index}: {type(layer).__name__}", **row})
    return rows


def _non_positive_gain(layer: MinConv2d) -> bool:
    return not bool(np.all(layer.output_gain > 0))  # as fold_min_model decides (NaN too)


def _per_channel_scale(layer: MinConv2d) -> bool:
    return layer.scale == "channel" or bool(np.ptp(layer.output_gain) > 0)


def _count_layer(layer: Module, shape: tuple, folded: bool) -> tuple[dict | None, tuple]:
    zero = {"multiplications": 0, "comparisons": 0, "sign_flips": 0, "additions": 0}
    if isinstance(layer, ConvLayer):
        geom = conv_geometry("count", (1, *shape), (layer.out_channels, shape[0], *layer.kernel_size),
                             layer.stride, layer.padding)
        pairs = geom.rows_per_image * geom.patch_size * layer.out_channels
        outputs = geom.rows_per_image * layer.out_channels
        row = dict(zero, additions=pairs)  # K-1 accumulations + 1 bias add per output
        if isinstance(layer, MinConv2d):
            row.update(comparisons=pairs, sign_flips=pairs,
                       multiplications=0 if folded else outputs)
            if layer.operator != "min" and layer.clip_value is not None:
                row["comparisons"] += 2 * int(np.prod(shape))  # the input clip
        else:
            row.update(multiplications=pairs)
        return row, (layer.out_channels, geom.out_h, geom.out_w)
    if isinstance(layer, (MaxPool2d, AvgPool2d)):
        from tinymin.nn.functional.pooling import _pool_geometry

        geom, _ = _pool_geometry("count", (1, *shape), layer.kernel_size, layer.stride,
                                 layer.padding)
        outputs = shape[0] * geom.out_h * geom.out_w
        window = geom.kernel[0] * geom.kernel[1]
        if isinstance(layer, MaxPool2d):
            return dict(zero, comparisons=outputs * (window - 1)), (shape[0], geom.out_h, geom.out_w)
        return (dict(zero, additions=outputs * (window - 1), multiplications=outputs),
                (shape[0], geom.out_h, geom.out_w))
    if isinstance(layer, (LeakyReLU, ReLU)):
        n = int(np.prod(shape))
        return dict(zero, comparisons=n, multiplications=n if isinstance(layer, LeakyReLU) else 0), shape
    if isinstance(layer, Flatten):
        return None, (int(np.prod(shape)),)
    if isinstance(layer, Linear):
        pairs = layer.in_features * layer.out_features
        return dict(zero, multiplications=pairs, additions=pairs), (layer.out_features,)
    return None, shape


def format_operation_table(rows: list[dict[str, Any]]) -> str:
    """A readable table of :func:`operation_counts`, with totals."""
    keys = ["multiplications", "comparisons", "sign_flips", "additions"]
    header = f"{'layer':<22}" + "".join(f"{k:>17}" for k in keys)
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row['layer']:<22}" + "".join(f"{row[k]:>17,}" for k in keys))
    totals = {k: sum(r[k] for r in rows) for k in keys}
    lines += ["-" * len(header), f"{'total':<22}" + "".join(f"{totals[k]:>17,}" for k in keys)]
    return "\n".join(lines)
