"""How good is each min-conv layer's approximation, and are the paper's constraints kept?

:func:`layer_diagnostics` runs a batch through a model and, at every
:class:`~tinymin.nn.MinConv2d`, compares the approximate output with the exact
convolution of the same clipped operands, ``conv2d(x_c, w_c) + b``:

.. math::

    \\rho = \\operatorname{corr}(y_{\\min}, y_{\\text{exact}}), \\qquad
    e = \\frac{\\lVert y_{\\min} - y_{\\text{exact}} \\rVert}{\\lVert y_{\\text{exact}} \\rVert}

together with the scales :math:`\\mu_x` (or :math:`\\hat\\mu_x`) and :math:`\\mu_w`, and
:math:`E|\\hat w|`, which Eq. 12 makes equal to :math:`\\mu_x` (the similarity constraint).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymin.autograd import no_grad
from tinymin.minconv.layer import MinConv2d, clipped_operands, min_layers
from tinymin.nn import functional as F
from tinymin.nn.layers import Sequential
from tinymin.nn.module import Module
from tinymin.tensor import Tensor


def compare_with_exact(layer: MinConv2d, x: np.ndarray) -> dict[str, Any]:
    """Approximate vs exact output of one min layer on input ``x`` (layer's current mode)."""
    ops = clipped_operands(layer, x)  # steps 1-4 as the layer is about to run them
    running = layer.running_abs_mean.copy()  # measuring must not move mu_x_hat
    counted = layer.num_batches_tracked.copy()
    with no_grad():
        approx = layer(Tensor(x)).numpy().astype(np.float64)
        exact = F.conv2d(Tensor(ops.x_c), Tensor(ops.w_c), layer.bias, layer.stride, layer.padding)
    layer.running_abs_mean[...] = running
    layer.num_batches_tracked[...] = counted
    exact = exact.numpy().astype(np.float64)
    return {
        "correlation": float(np.corrcoef(approx.ravel(), exact.ravel())[0, 1]),
        "relative_error": float(np.linalg.norm(approx - exact) / max(np.linalg.norm(exact), 1e-30)),
        "mu_x": ops.mu_x,
        "mu_w": float(np.mean(ops.mu_w)),
        "mean_abs_w_hat": float(np.abs(ops.w_hat).mean()),
        "output": approx,
    }


def layer_diagnostics(model: Module, x: np.ndarray | Tensor) -> list[dict[str, Any]]:
    """Per min layer, in network order: correlation, relative error, scales.

    ``model`` must be a sequence of layers (``nn.Sequential``) so the min network's own
    activations can be fed forward; each layer is measured in its current mode.
    """
    if not isinstance(model, Sequential):
        raise ValueError(f"layer_diagnostics: expected a Sequential, got {type(model).__name__}")
    names = {id(layer): name for name, layer in min_layers(model)}
    out = np.asarray(x)
    rows = []
    with no_grad():
        for layer in model:
            if isinstance(layer, MinConv2d):
                result = compare_with_exact(layer, out)
                out = result.pop("output").astype(out.dtype)
                rows.append({"layer": names[id(layer)], **result})
            else:
                out = layer(Tensor(out)).numpy()
    return rows


def scale_snapshot(model: Module) -> dict[str, float]:
    """``{"<layer>.mu_x_hat": ..., "<layer>.mu_w": ...}`` for every min layer (for logging)."""
    snapshot = {}
    for name, layer in min_layers(model):
        snapshot[f"{name}.mu_x_hat"] = float(layer.running_abs_mean[0])
        snapshot[f"{name}.mu_w"] = float(np.mean(layer.weight_scale()))
    return snapshot


def format_diagnostics(rows: list[dict[str, Any]]) -> str:
    """A small aligned table of :func:`layer_diagnostics`."""
    lines = [f"{'layer':<8}{'corr':>8}{'rel.err':>9}{'mu_x':>10}{'mu_w':>10}{'E|w_hat|':>10}"]
    for r in rows:
        lines.append(f"{r['layer']:<8}{r['correlation']:>8.3f}{r['relative_error']:>9.3f}"
                     f"{r['mu_x']:>10.4f}{r['mu_w']:>10.4f}{r['mean_abs_w_hat']:>10.4f}")
    return "\n".join(lines)
