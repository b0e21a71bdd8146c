"""After the copy: re-estimate the input scale, and calibrate a min network.

* :func:`recalibrate_running_statistics`: re-estimate each layer's
  :math:`\\hat\\mu_x` on a few batches, like recalibrating batch norm after a copy
  (the paper's transfer learning, section 4.3);
* :func:`calibrate_min`: tinymin's post-training calibration (below), with its steps
  :func:`calibrate_layer`, :func:`fit_gain_offset` and :func:`correct_linear`.

Calibration
-----------
The paper recovers the exact network's accuracy by hundreds of epochs of transfer
learning. Its own first idea was to fit a linear map ``a * s + b`` from the
approximate output ``s`` to the exact one; :func:`calibrate_min` does that once, at
conversion, layer by layer, on a few hundred images
(docs/guides/minconv_math.rst, section 6):

1. the **target** of a min layer is the exact convolution of its input with the
   layer's own weights and bias: :math:`t = \\operatorname{conv2d}(x, w) + b`;
2. the **scale** :math:`\\hat\\mu_x` is chosen from multiples of the measured
   :math:`\\operatorname{mean}|x|` (and the current value) to minimise the relative
   squared error left after step 3. It matters because :math:`\\hat\\mu_x` sets
   :math:`\\hat w = w_c \\hat\\mu_x/\\mu_w`: a larger one lets the minimum select the
   input more often, where the product's shape is better kept;
3. a per-output-channel **gain and offset** are fitted by least squares,

   .. math::

       (g_c, o_c) = \\arg\\min_{g, o} \\sum_{n,i,j} \\big(t_{n,c,i,j} - g\\, s_{n,c,i,j} - o\\big)^2,
       \\qquad g_c = \\frac{\\operatorname{cov}(s_c, t_c)}{\\operatorname{var}(s_c)},
       \\quad o_c = \\bar t_c - g_c \\bar s_c

   and stored in the layer's ``output_gain`` / ``output_offset`` buffers.

4. **stage 2**, for layers with a short receptive field (``fit_max_k``, default the
   first layer): every threshold :math:`|\\hat w_{ck}|` is fitted on its own by
   coordinate descent, :mod:`tinymin.minconv.thresholds`; kept only if the layer's
   real output gets closer to the target. It rewrites the layer's weights and
   :math:`\\hat\\mu_x` (Eq. 12 maps the thresholds back to them);
5. optionally (``linear_correction=True``), the first exact ``Linear`` after the
   last min layer gets a least-squares gain and offset per output unit that map its
   pre-activations in the min network to those of the exact network on the same
   images (:func:`correct_linear`).

Layers are calibrated in network order on the *min* network's own activations, so
each layer also corrects for the errors of the layers before it. What steps 4 and 5
buy, measured on Fashion-MNIST and MNIST, is on docs/guides/results.rst
("Conversion without retraining"); ``fit_max_k=0`` gives steps 1-3 alone, the
calibration before them. Gain and offset are
frozen buffers: fine-tuning afterwards trains the weights only (the gain scales the
gradient). The chosen multiple is stored in ``input_scale_multiple``, so in training
the layer uses :math:`\\mu_x = c \\operatorname{mean}|x|` with the same ``c`` and the
moving average stays at the calibrated scale: fine-tuning can follow a calibration.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinymin import overrides
from tinymin.autograd import no_grad
from tinymin.minconv.functional import min_conv2d
from tinymin.minconv.layer import MinConv2d, min_layers
from tinymin.minconv.reconstruct import LayerReconstruction, reconstruct_min
from tinymin.minconv.spec import MinConvSpec, MinConvState
from tinymin.minconv.thresholds import fit_layer_thresholds
from tinymin.nn import functional as F
from tinymin.nn.layers import Linear, Sequential
from tinymin.nn.module import Module
from tinymin.tensor import Tensor


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


# ------------------------------------------------------------------ calibration
#: Multiples of the measured mean ``|x|`` tried for ``mu_x_hat``.
DEFAULT_SCALE_GRID = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)


#: Stage 2 (thresholds fitted one by one) runs on min layers whose receptive field
#: K = C_in * k_h * k_w is at most this: LeNet's and mini_cifar's first layer.
DEFAULT_FIT_MAX_K = 100


@dataclass
class LayerCalibration:
    """What :func:`calibrate_min` did to one layer."""

    layer: str
    mean_abs_input: float
    chosen_multiple: float
    running_abs_mean: float
    error_before: float
    error_after: float
    correlation_before: float
    correlation_after: float
    thresholds_fitted: bool = False

    def __str__(self) -> str:
        return (f"{self.layer:<8} mu_x_hat = {self.chosen_multiple:>5.2f} x mean|x| = "
                f"{self.running_abs_mean:.4f}   rel. sq. error {self.error_before:.4f} -> "
                f"{self.error_after:.4f}   corr {self.correlation_before:.4f} -> "
                f"{self.correlation_after:.4f}" + ("   (thresholds fitted)" if self.thresholds_fitted
                                                   else ""))


@dataclass
class LinearCorrection:
    """What :func:`correct_linear` did to the first exact layer after the min layers."""

    layer: str
    error_before: float
    error_after: float

    def __str__(self) -> str:
        return (f"{self.layer:<8} linear layer: per-unit gain and offset, rel. sq. error "
                f"{self.error_before:.4f} -> {self.error_after:.4f}")


def fit_gain_offset(approx: np.ndarray, target: np.ndarray, per_channel: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``target ~ gain * approx + offset`` per channel (axis 1) of NCHW arrays.

    With ``per_channel=False`` one gain is shared by all channels (offsets stay per
    channel), which keeps the scale foldable into a following min layer.
    """
    mine = overrides.lookup("fit_gain_offset")
    if mine is not None:  # the learner's fit_gain_offset (tinymin.exercises.use)
        return mine(approx, target, per_channel)
    s = np.moveaxis(approx, 1, 0).reshape(approx.shape[1], -1).astype(np.float64)
    t = np.moveaxis(target, 1, 0).reshape(target.shape[1], -1).astype(np.float64)
    s_mean, t_mean = s.mean(axis=1, keepdims=True), t.mean(axis=1, keepdims=True)
    cov = ((s - s_mean) * (t - t_mean)).sum(axis=1)
    var = ((s - s_mean) ** 2).sum(axis=1)
    if per_channel:
        gain = np.where(var > 0, cov / np.where(var > 0, var, 1), 1.0)
    else:
        gain = np.full(s.shape[0], cov.sum() / var.sum() if var.sum() > 0 else 1.0)
    offset = t_mean[:, 0] - gain * s_mean[:, 0]
    return gain, offset


def relative_squared_error(approx: np.ndarray, target: np.ndarray) -> float:
    """:math:`\\lVert s - t \\rVert^2 / \\lVert t \\rVert^2`."""
    return float(np.sum((approx - target) ** 2) / max(np.sum(target.astype(np.float64) ** 2), 1e-30))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def approximate_output(layer: MinConv2d, x: np.ndarray, running: float,
                       weight: np.ndarray | None = None) -> np.ndarray:
    """The layer's eval-mode output for a given mu_x_hat (and, optionally, other
    weights), before any calibration affine."""
    w = layer.weight if weight is None else Tensor(weight)
    spec = MinConvSpec(stride=layer.stride, padding=layer.padding, clip_value=layer.clip_value,
                       momentum=layer.momentum, scale=layer.scale, operator=layer.operator)
    state = MinConvState(running_abs_mean=np.array([running], np.float64))
    return min_conv2d(Tensor(x), w, layer.bias, spec, state, training=False).numpy()


def receptive_field(layer: MinConv2d) -> int:
    """:math:`K = C_{in} k_h k_w`, the length of one im2col row."""
    return int(np.prod(layer.weight.shape[1:]))


def calibrate_layer(layer: MinConv2d, x: np.ndarray, name: str = "",
                    grid: Sequence[float] = DEFAULT_SCALE_GRID,
                    per_channel_gain: bool = True, fit_max_k: int = DEFAULT_FIT_MAX_K,
                    seed: int = 0) -> LayerCalibration:
    """Calibrate one min layer on its input ``x`` (see the module docstring): stage 1
    always, stage 2 (:mod:`tinymin.minconv.thresholds`) when the layer's receptive
    field is at most ``fit_max_k`` and it lowers the error."""
    with no_grad():
        target = F.conv2d(Tensor(x), layer.weight, layer.bias, layer.stride, layer.padding).numpy()
        before = layer(Tensor(x)).numpy()  # current state, whatever it is
        mean_abs = max(float(np.abs(x).mean()), 1e-30)
        current = float(layer.running_abs_mean[0])
        candidates = [(m, m * mean_abs, None) for m in grid] + [(current / mean_abs, current, None)]
        best = _best_candidate(layer, x, target, candidates, per_channel_gain)
        _apply(layer, best)
        fitted = False
        if _can_fit_thresholds(layer, fit_max_k):
            running, weight = fit_layer_thresholds(layer, x, target, seed=seed)
            proposal = (running / mean_abs, running, weight)
            refined = _best_candidate(layer, x, target, [proposal], per_channel_gain)
            if refined[0] < best[0]:  # through the real layer, clip included
                best, fitted = refined, True
                _apply(layer, best)
    error, multiple, running, _, _, _, output = best
    return LayerCalibration(layer=name, mean_abs_input=mean_abs, chosen_multiple=multiple,
                            running_abs_mean=running,
                            error_before=relative_squared_error(before, target), error_after=error,
                            correlation_before=_correlation(before, target),
                            correlation_after=_correlation(output, target),
                            thresholds_fitted=fitted)


def _best_candidate(layer: MinConv2d, x: np.ndarray, target: np.ndarray,
                    candidates: Sequence[tuple[float, float, np.ndarray | None]],
                    per_channel_gain: bool):
    """Of ``(multiple, mu_x_hat, weight or None)`` candidates, the one whose output is
    closest to ``target`` after the least-squares gain and offset:
    ``(error, multiple, mu_x_hat, weight, gain, offset, fitted output)``."""
    best = None
    for multiple, running, weight in candidates:
        approx = approximate_output(layer, x, running, weight)
        gain, offset = fit_gain_offset(approx, target, per_channel_gain)
        fitted = approx * gain.reshape(1, -1, 1, 1) + offset.reshape(1, -1, 1, 1)
        error = relative_squared_error(fitted, target)
        if best is None or error < best[0]:
            best = (error, multiple, running, weight, gain, offset, fitted)
    return best


def _apply(layer: MinConv2d, best) -> None:
    _, multiple, running, weight, gain, offset, _ = best
    if weight is not None:
        layer.weight.numpy()[...] = weight
    layer.running_abs_mean[0] = running
    layer.input_scale_multiple[0] = multiple  # training keeps using the calibrated scale
    layer.output_gain[...] = gain
    layer.output_offset[...] = offset


def _can_fit_thresholds(layer: MinConv2d, fit_max_k: int) -> bool:
    """Stage 2 needs the min operator and one weight scale per layer (Eq. 12 then maps
    any thresholds back to weights), and a short enough receptive field."""
    return (0 < receptive_field(layer) <= fit_max_k and layer.operator == "min"
            and layer.scale == "layer")


def correct_linear(layer: Linear, x: np.ndarray, x_exact: np.ndarray, name: str = ""
                   ) -> LinearCorrection:
    """Bias and scale correction of an exact ``Linear`` layer fed by min layers.

    ``x`` is what the layer receives in the min network, ``x_exact`` what it receives
    in the exact one, on the same images. Each output unit :math:`j` gets the
    least-squares gain and offset that map its pre-activation in the min network,
    :math:`z_j`, to the exact network's, :math:`z^*_j`,

    .. math::

        (a_j, c_j) = \\arg\\min_{a, c} \\sum_n \\big(z^*_{nj} - a\\, z_{nj} - c\\big)^2,
        \\qquad W_j \\leftarrow a_j W_j, \\quad b_j \\leftarrow a_j b_j + c_j,

    so the correction lives in the layer's own weights (it stays an ordinary exact
    layer). The offset alone is the *bias correction* of post-training quantization.
    """
    if layer.bias is None:
        raise ValueError("correct_linear: the layer has no bias to hold the offset")
    z_exact = layer(Tensor(x_exact)).numpy()
    z = layer(Tensor(x)).numpy()
    n, units = z.shape
    gain, offset = fit_gain_offset(z.reshape(n, units, 1, 1), z_exact.reshape(n, units, 1, 1))
    layer.weight.numpy()[...] = layer.weight.numpy() * gain.reshape(-1, 1).astype(np.float32)
    layer.bias.numpy()[...] = (gain * layer.bias.numpy() + offset).astype(np.float32)
    return LinearCorrection(name, relative_squared_error(z, z_exact),
                            relative_squared_error(layer(Tensor(x)).numpy(), z_exact))


def calibrate_min(model: Module, inputs: Any, grid: Sequence[float] = DEFAULT_SCALE_GRID,
                  per_channel_gain: bool = True, fit_max_k: int = DEFAULT_FIT_MAX_K,
                  linear_correction: bool = False, seed: int = 0, method: str = "fit",
                  **reconstruct_options) -> list[LayerCalibration | LinearCorrection | LayerReconstruction]:
    """Calibrate every :class:`MinConv2d` of a ``Sequential`` model, in network order
    (and, if asked, correct the first ``Linear`` after them).

    Call it once, on a model whose min layers still hold the exact network's weights
    (a fresh :func:`convert_to_min` copy): the exact network it matches is the same
    model with every min layer computed as an exact convolution.

    Parameters
    ----------
    model : nn.Sequential
        Holds MinConv2d layers, e.g. from :func:`tinymin.nn.convert_to_min` or a min
        model that loaded exact weights.
    inputs : array or Tensor
        A few hundred calibration images, shape ``(N, C, H, W)``.
    grid : sequence of float
        Multiples of the measured mean ``|x|`` tried for ``mu_x_hat`` (stage 1).
    per_channel_gain : bool
        One gain per output channel (best fit) or one per layer (keeps the folded
        network free of multiplications: see :func:`tinymin.minconv.fold.fold_min_model`).
    fit_max_k : int
        Stage 2, :mod:`tinymin.minconv.thresholds`: fit the thresholds one by one in
        every min layer whose receptive field :math:`K = C_{in} k_h k_w` is at most
        this (default 100: the first layer of LeNet and of mini_cifar; its cost grows
        with :math:`C_{out} K`). 0 turns it off.
    linear_correction : bool
        Fit a gain and offset per output unit of the first ``Linear`` layer after the
        last min layer (:func:`correct_linear`), to the exact network's pre-activations.
        Off by default: after stage 2 it gained nothing measurable (Fashion-MNIST
        90.58% with it, 90.63% without; MNIST 97.04% and 97.11%).
    seed : int
        Seeds the sample of output positions that stage 2 fits on.
    method : {"fit", "reconstruct"}
        ``"fit"``: the steps above. ``"reconstruct"``: every threshold of every min
        layer fitted by Adam to the exact network's output, layer by layer
        (:func:`tinymin.minconv.reconstruct.reconstruct_min`; ``grid``, ``seed`` and
        ``reconstruct_options`` such as ``steps`` are passed on, the other options do
        not apply).

    Returns
    -------
    list of LayerCalibration, then a LinearCorrection if one was made
        Chosen scale, error and correlation before/after, per layer (a
        LayerReconstruction per min layer for ``method="reconstruct"``). The model is
        left in eval mode.
    """
    if method == "reconstruct":
        if not per_channel_gain or linear_correction:
            raise ValueError("calibrate_min: method='reconstruct' fits a gain per channel and "
                             "no linear correction")
        return reconstruct_min(model, inputs, grid=grid, seed=seed, **reconstruct_options)
    if method != "fit":
        raise ValueError(f"calibrate_min: method must be 'fit' or 'reconstruct', got {method!r}")
    if reconstruct_options:
        raise ValueError(f"calibrate_min: {sorted(reconstruct_options)} need method='reconstruct'")
    if not isinstance(model, Sequential):
        raise ValueError(f"calibrate_min: expected a Sequential model, got {type(model).__name__}")
    x = np.asarray(inputs)
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"calibrate_min: inputs must be a non-empty (N, C, H, W) batch, got {x.shape}")
    layers = list(model)
    min_indices = [i for i, layer in enumerate(layers) if isinstance(layer, MinConv2d)]
    if not min_indices:
        raise ValueError("calibrate_min: the model holds no MinConv2d layer")
    to_correct = next((i for i in range(min_indices[-1], len(layers))
                       if isinstance(layers[i], Linear) and layers[i].bias is not None), None)
    model.eval()
    report: list[LayerCalibration | LinearCorrection] = []
    x_exact = x  # the exact network's activations, on the same images
    with no_grad():
        for index, layer in enumerate(layers):
            if isinstance(layer, MinConv2d):
                x_exact = F.conv2d(Tensor(x_exact), layer.weight, layer.bias, layer.stride,
                                   layer.padding).numpy()  # before calibration changes anything
                report.append(calibrate_layer(layer, x, str(index), grid,
                                              per_channel_gain=per_channel_gain,
                                              fit_max_k=fit_max_k, seed=seed))
            elif index == to_correct and linear_correction:
                report.append(correct_linear(layer, x, x_exact, str(index)))
                break
            else:
                x_exact = layer(Tensor(x_exact)).numpy()
            x = layer(Tensor(x)).numpy()
    return report
