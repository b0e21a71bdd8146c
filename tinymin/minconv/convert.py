"""From an exact network to a min one: copy, re-estimate the scale, calibrate.

* :func:`convert_to_min`: the paper's transfer learning starts here: a copy of a model
  with every exact ``Conv2d`` replaced by a ``MinConv2d`` holding the same weights;
* :func:`recalibrate_running_statistics`: re-estimate each layer's
  :math:`\\hat\\mu_x` on a few batches, like recalibrating batch norm after a copy;
* :func:`calibrate_min`: tinymin's post-training calibration (below);
* :func:`convert_checkpoint`: the whole workflow on a checkpoint file, which
  ``python -m tinymin convert`` runs and prints.

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

Layers are calibrated in network order on the *min* network's own activations, so
each layer also corrects for the errors of the layers before it. Gain and offset are
frozen buffers: fine-tuning afterwards trains the weights only (the gain scales the
gradient). The chosen multiple is stored in ``input_scale_multiple``, so in training
the layer uses :math:`\\mu_x = c \\operatorname{mean}|x|` with the same ``c`` and the
moving average stays at the calibrated scale: fine-tuning can follow a calibration.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinymin.autograd import no_grad
from tinymin.minconv.functional import min_conv2d
from tinymin.minconv.layer import MinConv2d, min_layers, name_min_layers
from tinymin.nn import functional as F
from tinymin.nn.conv import Conv2d
from tinymin.nn.layers import Sequential
from tinymin.nn.module import Module
from tinymin.tensor import Tensor


# ------------------------------------------------------------ exact -> min copy
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
        if isinstance(child, Conv2d):  # exact only: MinConv2d is a sibling, not a subclass
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


# ------------------------------------------------------------------ calibration
#: Multiples of the measured mean ``|x|`` tried for ``mu_x_hat``.
DEFAULT_SCALE_GRID = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)


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

    def __str__(self) -> str:
        return (f"{self.layer:<8} mu_x_hat = {self.chosen_multiple:>5.2f} x mean|x| = "
                f"{self.running_abs_mean:.4f}   rel. sq. error {self.error_before:.4f} -> "
                f"{self.error_after:.4f}   corr {self.correlation_before:.4f} -> "
                f"{self.correlation_after:.4f}")


def fit_gain_offset(approx: np.ndarray, target: np.ndarray, per_channel: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``target ~ gain * approx + offset`` per channel (axis 1) of NCHW arrays.

    With ``per_channel=False`` one gain is shared by all channels (offsets stay per
    channel), which keeps the scale foldable into a following min layer.
    """
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


def approximate_output(layer: MinConv2d, x: np.ndarray, running: float) -> np.ndarray:
    """The layer's eval-mode output for a given mu_x_hat, before any calibration affine."""
    return min_conv2d(Tensor(x), layer.weight, layer.bias, np.array([running], np.float64),
                        None, layer.stride, layer.padding, layer.clip_value, False,
                        layer.momentum, layer.scale, layer.operator).data


def calibrate_layer(layer: MinConv2d, x: np.ndarray, name: str = "",
                    grid: Sequence[float] = DEFAULT_SCALE_GRID,
                    per_channel_gain: bool = True) -> LayerCalibration:
    """Calibrate one min layer on its input ``x`` (see the module docstring)."""
    with no_grad():
        target = F.conv2d(Tensor(x), layer.weight, layer.bias, layer.stride, layer.padding).data
        before = layer(Tensor(x)).data  # current state, whatever it is
        mean_abs = float(np.abs(x).mean())
        current = float(layer.running_abs_mean[0])
        candidates = [(m, m * mean_abs) for m in grid] + [(current / max(mean_abs, 1e-30), current)]
        best = None
        for multiple, running in candidates:
            approx = approximate_output(layer, x, running)
            gain, offset = fit_gain_offset(approx, target, per_channel_gain)
            fitted = approx * gain.reshape(1, -1, 1, 1) + offset.reshape(1, -1, 1, 1)
            error = relative_squared_error(fitted, target)
            if best is None or error < best[0]:
                best = (error, multiple, running, gain, offset, fitted)
    error, multiple, running, gain, offset, fitted = best
    layer.running_abs_mean[0] = running
    layer.input_scale_multiple[0] = multiple  # training keeps using the calibrated scale
    layer.output_gain[...] = gain
    layer.output_offset[...] = offset
    return LayerCalibration(name, mean_abs, multiple, running, relative_squared_error(before, target),
                            error, _correlation(before, target), _correlation(fitted, target))


def calibrate_min(model: Module, inputs: Any, grid: Sequence[float] = DEFAULT_SCALE_GRID,
                  per_channel_gain: bool = True) -> list[LayerCalibration]:
    """Calibrate every :class:`MinConv2d` of a ``Sequential`` model, in network order.

    Parameters
    ----------
    model : nn.Sequential
        Holds MinConv2d layers, e.g. from :func:`tinymin.nn.convert_to_min` or a min
        model that loaded exact weights.
    inputs : array or Tensor
        A few hundred calibration images, shape ``(N, C, H, W)``.
    grid : sequence of float
        Multiples of the measured mean ``|x|`` tried for ``mu_x_hat``.
    per_channel_gain : bool
        One gain per output channel (best fit) or one per layer (keeps the folded
        network free of multiplications: see :func:`tinymin.minconv.fold.fold_min_model`).

    Returns
    -------
    list of LayerCalibration
        Chosen scale, error and correlation before/after, per layer. The model is left
        in eval mode.
    """
    if not isinstance(model, Sequential):
        raise ValueError(f"calibrate_min: expected a Sequential model, got {type(model).__name__}")
    x = np.asarray(getattr(inputs, "data", inputs))
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"calibrate_min: inputs must be a non-empty (N, C, H, W) batch, got {x.shape}")
    model.eval()
    report = []
    with no_grad():
        for index, layer in enumerate(model):
            if isinstance(layer, MinConv2d):
                report.append(calibrate_layer(layer, x, str(index), grid, per_channel_gain))
            x = layer(Tensor(x)).data
    if not report:
        raise ValueError("calibrate_min: the model holds no MinConv2d layer")
    return report


# ------------------------------------------------------- the checkpoint workflow
@dataclass
class ConversionReport:
    """What :func:`convert_checkpoint` did and measured (test accuracies in [0, 1])."""

    exact_accuracy: float
    copy_accuracy: float
    calibration_images: int
    layers: list[LayerCalibration] = field(default_factory=list)
    calibrated_accuracy: float | None = None
    seconds: float = 0.0
    written: Path | None = None


def convert_checkpoint(path: str | os.PathLike, calibrate: int = 256, clip_value: float | None = None,
                       shared_gain: bool = False, out: str | os.PathLike | None = None,
                       data_root: str | None = None, test_limit: int | None = None,
                       seed: int = 0) -> ConversionReport:
    """Exact checkpoint -> min model: copy, re-estimate :math:`\\hat\\mu_x`, calibrate,
    evaluate, save (what ``python -m tinymin convert`` runs).

    Parameters
    ----------
    path : path
        A checkpoint of an exact model (``conv="exact"`` in its config).
    calibrate : int
        Training images to calibrate on; 0 only re-estimates :math:`\\hat\\mu_x` on
        256 images (the paper's plain copy).
    clip_value : float, optional
        The min layers' clip bound (default: the layer's).
    shared_gain : bool
        One calibration gain per layer instead of per channel (fully foldable).
    out : path, optional
        Where to write the min model's checkpoint.
    data_root, test_limit, seed
        Where the dataset lives, how many test images to evaluate on (a seeded random
        subset) and the seed of the subsets.
    """
    # The training stack sits above this package (tinymin.nn re-exports calibrate_min),
    # so the workflow imports it when it runs.
    from tinymin.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from tinymin.data import DataLoader
    from tinymin.data.catalog import load_splits
    from tinymin.data.dataset import random_subset
    from tinymin.models import build_model
    from tinymin.train import evaluate

    checkpoint = load_checkpoint(path)
    config = dict(checkpoint.config.get("model", {}))
    if config.get("conv") != "exact":
        raise CheckpointError(f"{path}: convert needs an exact model, got conv={config.get('conv')!r}")
    exact = build_model(config.pop("name"), **config)
    exact.load_state_dict(checkpoint.model_state)
    data = checkpoint.config.get("data", "mnist-embedded")
    train_set, test_set, _ = load_splits(data, data_root, augment=False)
    test_loader = DataLoader(random_subset(test_set, test_limit, seed + 1), 256)
    options = {} if clip_value is None else {"clip_value": clip_value}
    model = convert_to_min(exact, **options)
    calibration = random_subset(train_set, calibrate or 256, seed)
    images = np.stack([calibration[i][0] for i in range(len(calibration))])
    recalibrate_running_statistics(model, [images])
    report = ConversionReport(evaluate(exact, test_loader)["accuracy"],
                              evaluate(model, test_loader)["accuracy"], len(images))
    if calibrate > 0:
        start = time.perf_counter()
        report.layers = calibrate_min(model, images, per_channel_gain=not shared_gain)
        report.seconds = time.perf_counter() - start
        report.calibrated_accuracy = evaluate(model, test_loader)["accuracy"]
    if out:
        model_config = {**checkpoint.config.get("model", {}), "conv": "min", **options}
        run_config = {**checkpoint.config, "model": model_config, "converted_from": str(path)}
        report.written = save_checkpoint(out, model, run_config, epoch=0)
    return report
