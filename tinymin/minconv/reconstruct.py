"""Calibration by layer-wise reconstruction: ``calibrate_min(..., method="reconstruct")``.

Post-training quantization converts a trained network to integers without labels and
without retraining by fitting, layer after layer, the few things the conversion leaves
free so that each converted layer reproduces the exact layer's output on a few hundred
unlabeled images (AdaRound, Nagel et al. 2020; AdaQuant, Hubara et al. 2021; BRECQ,
Li et al. 2021). This module does the same for min layers.

What is free after training
---------------------------
For one weight the signed min-selector is a clip of the input
(docs/guides/minconv_math.rst, section 4):
:math:`m(x, \\hat w) = \\operatorname{sgn}(\\hat w)\\operatorname{clip}(x, -|\\hat w|, |\\hat w|)`.
So a min layer computes, per output channel :math:`c` and position :math:`p`,

.. math::

    y_{pc} = g_c \\sum_k \\operatorname{sgn}(w_{ck})\\,
             \\operatorname{clip}(x_{pk}, -\\tau_{ck}, \\tau_{ck}) + o_c,
    \\qquad \\tau_{ck} = |\\hat w_{ck}| = \\min(|w_{ck}|, T\\mu_w)\\,\\hat\\mu_x / \\mu_w,

with :math:`g_c, o_c` the calibration gain and offset (``mu_w`` and the bias folded
in). Everything Algorithm 1 leaves free after training (section 5) is in the
thresholds :math:`\\tau`: the input-scale multiple moves them all by one factor, the
clip bound :math:`T` caps the largest, a per-channel weight correction moves a
channel's row. Here every threshold is free (a per-weight correction of
:math:`|\\hat w|`, signs kept), which contains the three; the clip bound of the layer
stays a constraint, :math:`\\tau_{ck} \\le T \\operatorname{mean}(\\tau)`.

The fit, per min layer in network order
---------------------------------------
1. **inputs**: ``x``, the layer's input in the *converted* network (every layer before
   it already reconstructed), so errors do not pile up; ``x*``, its input in the exact
   network on the same images;
2. **target** (``target="network"``, the default): the exact network's output there,
   :math:`t = \\operatorname{conv}(x^*, w) + b`, so the layer also makes up for what
   the layers before it lost (AdaRound's asymmetric reconstruction);
   ``target="layer"``: :math:`t = \\operatorname{conv}(x, w) + b`, the exact layer on
   the converted input;
3. **start**: the best input-scale multiple of ``grid`` (with the least-squares
   :math:`g, o`), as in :func:`tinymin.minconv.calibrate.calibrate_layer`;
4. **optimise**: Adam on :math:`\\theta = \\log\\tau` (``C_out x K`` numbers, nothing
   else), ``steps`` steps, each on ``rows`` output positions drawn at random from the
   calibration images. The loss is the squared error left after the best per-channel
   gain and offset on those rows, divided by the target's variance, plus
   ``decay * mean((theta - theta_0)^2)`` to keep the correction small. Its gradient is
   that of the *approximate* forward (not Algorithm 1's straight-through backward):
   :math:`\\partial y_{pc} / \\partial \\tau_{ck} = g_c\\operatorname{sgn}(w_{ck})
   \\operatorname{sgn}(x_{pk})[|x_{pk}| > \\tau_{ck}]`;
5. **keep**: write the thresholds back as an ordinary layer state (weights with the
   same :math:`\\mu_w`, :math:`\\hat\\mu_x = \\operatorname{mean}\\tau`, Eq. 12 then gives
   :math:`\\hat w = \\tau`), refit :math:`g, o` on all calibration positions through the
   real layer, and keep the result only if its error there is lower than the start's.

No labels, no loss of the network, no backpropagation through other layers: each
optimisation sees one layer's input and its target. The cost is ``steps`` x ``rows``
x ``C_out`` x ``K`` comparisons per layer (numpy), reported per layer in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tinymin import _ext
from tinymin.autograd import no_grad
from tinymin.minconv.layer import MinConv2d
from tinymin.nn import functional as F
from tinymin.nn.layers import Sequential
from tinymin.nn.module import Module
from tinymin.ops.conv import conv_geometry, im2col, nchw_to_rows
from tinymin.tensor import Tensor

#: Adam steps per layer.
DEFAULT_STEPS = 300
#: Output positions drawn for each step.
DEFAULT_ROWS = 2048
#: Output positions (im2col rows) kept for the fit, drawn from all calibration images.
DEFAULT_POOL = 131_072
#: Adam's learning rate on the log-thresholds.
DEFAULT_LR = 0.02
#: Weight of ``mean((theta - theta_0)^2)`` in the loss.
DEFAULT_DECAY = 1e-3
#: Multiples of the measured mean ``|x|`` tried for the start (step 3).
START_GRID = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)
TARGETS = ("network", "layer")


@dataclass
class LayerReconstruction:
    """What :func:`reconstruct_min` did to one layer (relative squared errors of the
    layer's output against the target, on all calibration positions)."""

    layer: str
    error_copy: float  # the layer as it came (e.g. a fresh copy, mu_x_hat re-estimated)
    error_start: float  # step 3: best multiple, gain and offset
    error_after: float  # after the thresholds were fitted (or error_start if not kept)
    kept: bool
    steps: int
    seconds: float  # wall clock
    cpu_seconds: float  # this process's CPU time (the wall clock counts other jobs too)

    @property
    def error_before(self) -> float:
        return self.error_start

    def __str__(self) -> str:
        return (f"{self.layer:<8} rel. sq. error: copy {self.error_copy:.4f}, best scale "
                f"{self.error_start:.4f}, reconstructed {self.error_after:.4f}"
                f"{'' if self.kept else ' (not kept)'}   {self.steps} steps, {self.seconds:.1f} s "
                f"(CPU {self.cpu_seconds:.1f} s)")


# ------------------------------------------------------------------ the model loop
def reconstruct_min(model: Module, inputs, steps: int = DEFAULT_STEPS, rows: int = DEFAULT_ROWS,
                    lr: float = DEFAULT_LR, decay: float = DEFAULT_DECAY, target: str = "network",
                    grid: Sequence[float] = START_GRID, seed: int = 0) -> list[LayerReconstruction]:
    """Reconstruct every :class:`MinConv2d` of a ``Sequential`` model, in network order
    (see the module docstring).

    Call it on a model whose min layers still hold the exact network's weights (a fresh
    :func:`tinymin.minconv.convert.convert_to_min` copy): the exact network it matches
    is the same model with every min layer computed as an exact convolution.

    Parameters
    ----------
    model : nn.Sequential
        With at least one ``MinConv2d`` (``operator="min"``, ``scale="layer"``).
    inputs : array or Tensor, shape (N, C, H, W)
        Unlabeled calibration images.
    steps, rows, lr, decay
        Adam steps per layer, output positions per step, learning rate on
        :math:`\\log\\tau`, weight of the penalty that keeps :math:`\\log\\tau` near its start.
    target : {"network", "layer"}
        Match the exact network's output (default) or the exact layer on the converted
        input.
    grid : sequence of float
        Multiples of ``mean|x|`` tried for :math:`\\hat\\mu_x` before the fit.
    seed : int
        Seeds the positions drawn for each step: the same seed gives the same model.

    Returns
    -------
    list of LayerReconstruction
        One per min layer. The model is left in eval mode.
    """
    layers, x = _check(model, inputs, steps, rows, target)
    model.eval()
    rng = np.random.default_rng(seed)
    report = []
    x_exact = x  # the exact network's activations, on the same images
    with no_grad():
        for index, layer in enumerate(layers):
            if isinstance(layer, MinConv2d):
                exact_out = F.conv2d(Tensor(x_exact), layer.weight, layer.bias, layer.stride,
                                     layer.padding).numpy()  # before the fit changes anything
                wanted = exact_out if target == "network" else F.conv2d(
                    Tensor(x), layer.weight, layer.bias, layer.stride, layer.padding).numpy()
                report.append(reconstruct_layer(layer, x, wanted, str(index), steps, rows, lr,
                                                decay, grid, rng))
                x_exact = exact_out
            else:
                x_exact = layer(Tensor(x_exact)).numpy()
            x = layer(Tensor(x)).numpy()
    return report


def layer_errors(model: Module, exact: Module, inputs) -> dict[str, float]:
    """Each min layer's output error in ``model`` against the same layer's output in the
    ``exact`` network (same architecture, exact convolutions) on ``inputs``: the
    relative squared error :math:`\\lVert y - y^* \\rVert^2 / \\lVert y^* \\rVert^2`, by layer
    index. What the reconstruction lowers (``target="network"``); measure it on images
    it did not see to tell fitting from overfitting."""
    if not isinstance(model, Sequential) or not isinstance(exact, Sequential) or \
            len(model) != len(exact):
        raise ValueError("layer_errors: model and exact must be Sequential models of the same length")
    x = x_exact = np.asarray(getattr(inputs, "data", inputs))
    errors = {}
    model.eval()
    exact.eval()
    with no_grad():
        for index, (layer, reference) in enumerate(zip(model, exact)):
            x, x_exact = layer(Tensor(x)).numpy(), reference(Tensor(x_exact)).numpy()
            if isinstance(layer, MinConv2d):
                errors[str(index)] = relative_squared_error(x, x_exact)
    return errors


def _check(model: Module, inputs, steps: int, rows: int, target: str):
    if not isinstance(model, Sequential):
        raise ValueError(f"reconstruct_min: expected a Sequential model, got {type(model).__name__}")
    layers = list(model)
    found = [layer for layer in layers if isinstance(layer, MinConv2d)]
    if not found:
        raise ValueError("reconstruct_min: the model holds no MinConv2d layer, nothing to "
                         "reconstruct (convert it first: tinymin.nn.convert_to_min)")
    for layer in found:
        if layer.operator != "min" or layer.scale != "layer":
            raise ValueError("reconstruct_min: needs operator='min' and scale='layer' (Eq. 12 "
                             f"maps thresholds back to weights), got operator={layer.operator!r}, "
                             f"scale={layer.scale!r}")
    x = np.asarray(getattr(inputs, "data", inputs))
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"reconstruct_min: inputs must be a non-empty (N, C, H, W) batch, got {x.shape}")
    if steps < 0 or rows < 1:
        raise ValueError(f"reconstruct_min: steps must be >= 0 and rows >= 1, got {steps}, {rows}")
    if target not in TARGETS:
        raise ValueError(f"reconstruct_min: target must be one of {TARGETS}, got {target!r}")
    return layers, x


# ------------------------------------------------------------------ one layer
def reconstruct_layer(layer: MinConv2d, x: np.ndarray, target: np.ndarray, name: str = "",
                      steps: int = DEFAULT_STEPS, rows: int = DEFAULT_ROWS, lr: float = DEFAULT_LR,
                      decay: float = DEFAULT_DECAY, grid: Sequence[float] = START_GRID,
                      rng: np.random.Generator | None = None, pool: int = DEFAULT_POOL
                      ) -> LayerReconstruction:
    """Steps 3-5 of the module docstring for one layer, on its input ``x`` and the
    NCHW ``target``; the layer is changed in place."""
    rng = np.random.default_rng(0) if rng is None else rng
    start_time, start_cpu = time.perf_counter(), time.process_time()
    error_copy = relative_squared_error(layer(Tensor(x)).numpy(), target)
    geom = conv_geometry("reconstruct_layer", x.shape, layer.weight.shape, layer.stride,
                         layer.padding)
    cols, t = sampled_rows(x, target, geom, pool, rng)
    signs = np.sign(layer.weight.numpy().reshape(layer.out_channels, -1)).astype(np.float32)
    start = start_thresholds(layer, x, cols, t, signs, grid, rng)
    set_thresholds(layer, start, signs, float(np.abs(x).mean()))
    error_start = refit_affine(layer, x, target)
    start_state = _state(layer)
    tau = fit_log_thresholds(cols, t, signs, start, steps, rows, lr, decay,
                             layer.clip_value, rng)
    set_thresholds(layer, tau, signs, float(np.abs(x).mean()))
    error_after = refit_affine(layer, x, target)
    kept = error_after < error_start
    if not kept:
        _restore(layer, start_state)
        error_after = error_start
    return LayerReconstruction(name, error_copy, error_start, error_after, kept, steps,
                               time.perf_counter() - start_time, time.process_time() - start_cpu)


def sampled_rows(x: np.ndarray, target: np.ndarray, geom, pool: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """im2col rows of ``x`` (float32) and the matching target rows (float64) at ``pool``
    output positions drawn at random (all of them if there are fewer), built a few
    images at a time so the whole column matrix never exists."""
    per_image = geom.out_h * geom.out_w
    keep = _sample(len(x) * per_image, pool, rng)
    t = nchw_to_rows(target)[keep].astype(np.float64)
    cols = np.empty((len(keep), geom.patch_size), dtype=np.float32)
    chunk = max(1, 4096 // per_image)
    for start in range(0, len(x), chunk):
        lo, hi = np.searchsorted(keep, [start * per_image, (start + chunk) * per_image])
        if hi > lo:
            block = im2col(np.ascontiguousarray(x[start:start + chunk], dtype=np.float32), geom)
            cols[lo:hi] = block[keep[lo:hi] - start * per_image]
    return cols, t


def start_thresholds(layer: MinConv2d, x: np.ndarray, cols: np.ndarray, t: np.ndarray,
                     signs: np.ndarray, grid: Sequence[float], rng: np.random.Generator,
                     sample: int = 20_000) -> np.ndarray:
    """Eq. 12's thresholds for the multiple of ``mean|x|`` in ``grid`` whose output, after
    the least-squares gain and offset, is closest to the target (on ``sample`` positions)."""
    keep = _sample(len(cols), sample, rng)
    w = layer.weight.numpy().reshape(len(signs), -1).astype(np.float64)
    mu_w = float(np.abs(w).mean())
    bound = np.inf if layer.clip_value is None else layer.clip_value * mu_w
    base = np.minimum(np.abs(w), bound) / mu_w  # tau / mu_x_hat
    mean_abs = max(float(np.abs(x).mean()), 1e-30)
    best, best_error = None, np.inf
    for multiple in grid:
        tau = base * multiple * mean_abs
        error = _fit_error(selector_sums(cols[keep], tau, signs), t[keep])
        if error < best_error:
            best, best_error = tau, error
    return best


def fit_log_thresholds(cols: np.ndarray, t: np.ndarray, signs: np.ndarray, tau: np.ndarray,
                       steps: int, rows: int, lr: float, decay: float, clip_value: float | None,
                       rng: np.random.Generator, beta1: float = 0.9, beta2: float = 0.999,
                       eps: float = 1e-8) -> np.ndarray:
    """Adam on :math:`\\theta = \\log\\tau` (step 4 of the module docstring); returns the
    fitted thresholds, ``(C_out, K)``."""
    alive = (signs != 0) & (tau > 0)
    theta0 = np.log(np.where(alive, tau, 1.0))
    theta, m, v = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0)
    for step in range(1, steps + 1):
        keep = _sample(len(cols), rows, rng)
        tau_now = np.exp(theta)
        grad = threshold_gradient(cols[keep], t[keep], tau_now, signs) * tau_now
        grad += 2 * decay * (theta - theta0) / theta.size
        grad[~alive] = 0.0
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        theta -= lr * (m / (1 - beta1 ** step)) / (np.sqrt(v / (1 - beta2 ** step)) + eps)
        if clip_value is not None:  # the layer's clip bound: tau <= T * mean(tau)
            theta = np.minimum(theta, np.log(clip_value * (np.exp(theta) * alive).mean()))
    return np.where(alive, np.exp(theta), 0.0)


def threshold_gradient(cols: np.ndarray, t: np.ndarray, tau: np.ndarray,
                       signs: np.ndarray) -> np.ndarray:
    """Gradient of the relative error left after the best per-channel gain and offset
    with respect to every threshold :math:`\\tau_{ck}`.

    With :math:`s_{pc} = \\sum_k \\operatorname{sgn}(w_{ck})\\operatorname{clip}(x_{pk},
    \\pm\\tau_{ck})` and the residual :math:`r = t - g s - o` at the optimal
    :math:`g, o` (which then need no derivative: envelope theorem),

    .. math::

        \\frac{\\partial E}{\\partial \\tau_{ck}} = -\\frac{2 g_c}{\\sum (t - \\bar t)^2}
            \\sum_p r_{pc}\\operatorname{sgn}(w_{ck})\\operatorname{sgn}(x_{pk})
            [|x_{pk}| > \\tau_{ck}].
    """
    s = selector_sums(cols, tau, signs)
    gain, offset = _gain_offset(s, t)
    residual = t - gain * s - offset
    scale = -2.0 * gain / max(float(((t - t.mean(axis=0)) ** 2).sum()), 1e-30)
    weighted = np.ascontiguousarray((residual * scale).T, dtype=cols.dtype)  # dE/ds, (C_out, rows)
    x_sign, x_abs = np.sign(cols), np.abs(cols)
    thresholds = tau.astype(cols.dtype)
    beyond, clipped = np.empty(cols.shape, dtype=bool), np.empty_like(cols)
    grad = np.empty(tau.shape)
    for c in range(len(tau)):  # one output channel at a time bounds the memory
        np.greater(x_abs, thresholds[c], out=beyond)  # where the input is clipped
        np.multiply(x_sign, beyond, out=clipped)
        grad[c] = weighted[c] @ clipped
    return grad * signs


# ------------------------------------------------------------------ helpers
def selector_sums(cols: np.ndarray, tau: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """:math:`\\sum_k m(x_{pk}, \\operatorname{sgn}(w_{ck})\\tau_{ck})` by the min-selector
    GEMM, ``(rows, C_out)`` in float64."""
    w_hat = np.ascontiguousarray(signs * tau, dtype=cols.dtype)
    return _ext.min_gemm(np.ascontiguousarray(cols), w_hat).astype(np.float64)


def _gain_offset(s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s_mean, t_mean = s.mean(axis=0), t.mean(axis=0)
    ds, dt = s - s_mean, t - t_mean
    var, cov = (ds * ds).sum(axis=0), (ds * dt).sum(axis=0)
    gain = np.where(var > 0, cov / np.where(var > 0, var, 1.0), 0.0)
    return gain, t_mean - gain * s_mean


def _fit_error(s: np.ndarray, t: np.ndarray) -> float:
    gain, offset = _gain_offset(s, t)
    return float(((t - gain * s - offset) ** 2).sum() / max(((t - t.mean(axis=0)) ** 2).sum(), 1e-30))


def relative_squared_error(approx: np.ndarray, target: np.ndarray) -> float:
    """:math:`\\lVert s - t \\rVert^2 / \\lVert t \\rVert^2`, as in
    :func:`tinymin.minconv.calibrate.relative_squared_error`."""
    return float(np.sum((approx.astype(np.float64) - target) ** 2)
                 / max(np.sum(target.astype(np.float64) ** 2), 1e-30))


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= size else np.sort(rng.choice(n, size, replace=False))


def set_thresholds(layer: MinConv2d, tau: np.ndarray, signs: np.ndarray, mean_abs: float) -> None:
    """Write thresholds as a layer state: weights :math:`\\operatorname{sgn}(w)\\,\\tau\\,
    \\mu_w / \\operatorname{mean}\\tau` (same :math:`\\mu_w`) and
    :math:`\\hat\\mu_x = \\operatorname{mean}\\tau`, so Eq. 12 gives :math:`\\hat w = \\tau`."""
    mean_tau = float(tau.mean())
    if mean_tau <= 0:
        return
    mu_w = float(np.abs(layer.weight.numpy()).mean())
    weight = signs * tau * (mu_w / mean_tau)
    layer.weight.numpy()[...] = weight.reshape(layer.weight.shape).astype(layer.weight.numpy().dtype)
    layer.running_abs_mean[0] = mean_tau
    layer.input_scale_multiple[0] = mean_tau / max(mean_abs, 1e-30)  # training keeps the scale


def refit_affine(layer: MinConv2d, x: np.ndarray, target: np.ndarray) -> float:
    """Least-squares gain and offset per channel through the real layer (clip included)
    on all of ``x``; returns the relative squared error left."""
    layer.output_gain[...] = 1.0
    layer.output_offset[...] = 0.0
    raw = nchw_to_rows(layer(Tensor(x)).numpy()).astype(np.float64)
    t = nchw_to_rows(target).astype(np.float64)
    gain, offset = _gain_offset(raw, t)
    layer.output_gain[...] = gain
    layer.output_offset[...] = offset
    return relative_squared_error(raw * gain + offset, t)


def _state(layer: MinConv2d) -> dict[str, np.ndarray]:
    return {"weight": layer.weight.numpy().copy(), "running_abs_mean": layer.running_abs_mean.copy(),
            "input_scale_multiple": layer.input_scale_multiple.copy(),
            "output_gain": layer.output_gain.copy(), "output_offset": layer.output_offset.copy()}


def _restore(layer: MinConv2d, state: dict[str, np.ndarray]) -> None:
    layer.weight.numpy()[...] = state["weight"]
    for name in ("running_abs_mean", "input_scale_multiple", "output_gain", "output_offset"):
        getattr(layer, name)[...] = state[name]
