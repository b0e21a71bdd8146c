"""Calibration, stage 2: fit each weight's threshold instead of scaling them all at once.

For one weight the signed min-selector is a clip of the input (docs/guides/minconv_math.rst,
section 4):

.. math::

    m(x, \\hat w) = \\operatorname{sgn}(x)\\operatorname{sgn}(\\hat w)\\min(|x|, |\\hat w|)
                  = \\operatorname{sgn}(\\hat w)\\,\\operatorname{clip}(x, -|\\hat w|, |\\hat w|),

so :math:`|\\hat w|` is a *threshold* and only its sign is a weight: every term has
slope 1 up to its threshold and is flat beyond it. Eq. 12 sets all thresholds of a
layer in proportion to the weights, :math:`\\hat w = w_c \\hat\\mu_x / \\mu_w`, with one
free factor (:math:`\\hat\\mu_x`, chosen by :func:`tinymin.minconv.calibrate.calibrate_layer`).
That keeps the order of the weights but not the product's shape: a term with a small
weight clips early and still has slope 1, a large one never clips.

:func:`fit_thresholds` chooses every threshold :math:`\\tau_{ck} = |\\hat w_{ck}|` on its
own (signs kept) to minimise the least-squares error left after the per-channel gain
and offset of stage 1,

.. math::

    E_c(\\tau_c) = \\min_{g, o} \\sum_p \\Big(t_{pc} - g \\sum_k \\operatorname{sgn}(\\hat w_{ck})
                   \\operatorname{clip}(x_{pk}, -\\tau_{ck}, \\tau_{ck}) - o\\Big)^2
                 = \\sum_p (t_{pc} - \\bar t_c)^2 - \\frac{\\operatorname{cov}(s_c, t_c)^2}
                   {\\operatorname{var}(s_c)}\\cdot P,

by coordinate descent: one threshold at a time, each tried at the quantiles of its
input column's magnitudes (and its current value, so the error never grows), the
others held fixed. Here :math:`x_{pk}` is the im2col matrix of the layer's (clipped)
input, :math:`t_{pc}` the exact convolution's output. A sweep costs about
:math:`C_{out} K \\cdot \\text{rows} \\cdot \\text{candidates}` operations, so it is meant for
layers with a short receptive field :math:`K` such as the first one, which sees raw
pixels whose neighbours are strongly correlated: there the shared factor of Eq. 12
fits worst (on Fashion-MNIST it leaves 3.6% of the first layer's output unexplained,
the fitted thresholds 1.4%; see docs/guides/results.rst).

The fitted thresholds are ordinary min-layer weights again: with
:math:`w' = \\tau \\operatorname{sgn}(\\hat w)\\, \\mu_w / \\operatorname{mean}|\\tau|` and
:math:`\\hat\\mu_x = \\operatorname{mean}|\\tau|`, Eq. 12 gives back :math:`\\hat w = \\tau`
(while no threshold exceeds the clip bound :math:`T\\hat\\mu_x`), so the layer, its
folded multiplication-free form and its checkpoint need nothing new.
"""

from __future__ import annotations

import numpy as np

#: Rows (output positions) of the im2col matrix a threshold fit looks at.
DEFAULT_FIT_ROWS = 50_000
#: Coordinate-descent sweeps over all thresholds.
DEFAULT_SWEEPS = 2
#: Quantile levels of ``|x|`` tried for each threshold (from the median to the maximum).
DEFAULT_CANDIDATES = 32


def channel_errors(sums: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Squared error left per column after the best gain and offset,
    :math:`\\sum (t - \\bar t)^2 - \\operatorname{cov}(s, t)^2 / \\operatorname{var}(s)`
    (sums over rows; ``sums`` and ``target`` are ``(rows, n)``)."""
    s = sums - sums.mean(axis=0)
    t = target - target.mean(axis=0)
    var, cov = (s * s).sum(axis=0), (s * t).sum(axis=0)
    explained = np.where(var > 0, cov * cov / np.where(var > 0, var, 1.0), 0.0)
    return (t * t).sum(axis=0) - explained


def candidate_thresholds(cols: np.ndarray, n: int = DEFAULT_CANDIDATES) -> list[np.ndarray]:
    """For each column ``k``: the quantiles of ``|cols[:, k]|`` from the median to the
    maximum, plus one just above the maximum (a term that never clips)."""
    levels = np.linspace(0.5, 1.0, n)
    out = []
    for column in np.abs(cols).T:
        top = float(column.max())
        out.append(np.unique(np.append(np.quantile(column, levels), top * 1.01 + 1e-12)))
    return out


def fit_thresholds(cols: np.ndarray, target: np.ndarray, w_hat: np.ndarray,
                   sweeps: int = DEFAULT_SWEEPS, n_candidates: int = DEFAULT_CANDIDATES
                   ) -> tuple[np.ndarray, float, float]:
    """Coordinate descent on the thresholds :math:`|\\hat w_{ck}|` (see the module docstring).

    Parameters
    ----------
    cols : ndarray, shape (rows, K)
        im2col rows of the layer's clipped input (a sample of output positions).
    target : ndarray, shape (rows, C_out)
        What each row's output should be (the exact convolution).
    w_hat : ndarray, shape (C_out, K)
        The starting rescaled weights; their signs are kept.
    sweeps, n_candidates : int
        Passes over all thresholds; quantile levels tried per threshold.

    Returns
    -------
    w_hat : ndarray, shape (C_out, K)
        The fitted rescaled weights (same signs, new magnitudes), ``float32``.
    error_before, error_after : float
        Relative squared error :math:`\\sum_c E_c / \\sum (t - \\bar t)^2` after the best
        gain and offset, with the starting and with the fitted thresholds.
    """
    if cols.ndim != 2 or target.ndim != 2 or len(cols) != len(target):
        raise ValueError(f"fit_thresholds: cols {cols.shape} and target {target.shape} must be "
                         "(rows, K) and (rows, C_out) with the same rows")
    if w_hat.shape != (target.shape[1], cols.shape[1]):
        raise ValueError(f"fit_thresholds: w_hat {w_hat.shape} must be (C_out, K) = "
                         f"{(target.shape[1], cols.shape[1])}")
    x = cols.astype(np.float64)
    t = target.astype(np.float64)
    signs = np.where(w_hat < 0, -1.0, 1.0)
    tau = np.abs(w_hat).astype(np.float64)
    sums = np.stack([(signs[c] * np.clip(x, -tau[c], tau[c])).sum(axis=1)
                     for c in range(len(tau))], axis=1)
    total = max(float(((t - t.mean(axis=0)) ** 2).sum()), 1e-30)
    before = float(channel_errors(sums, t).sum()) / total
    candidates = candidate_thresholds(x, n_candidates)
    for _ in range(sweeps):
        for c in range(len(tau)):
            for k in range(x.shape[1]):
                _best_threshold(x[:, k], t[:, c:c + 1], sums[:, c], tau[c], signs[c, k], k=k,
                                candidates=candidates[k])
    after = float(channel_errors(sums, t).sum()) / total
    return (signs * tau).astype(np.float32), before, after


def _best_threshold(column: np.ndarray, target: np.ndarray, channel_sum: np.ndarray,
                    tau: np.ndarray, sign: float, k: int, candidates: np.ndarray) -> None:
    """Move ``tau[k]`` to the candidate with the least error; update ``channel_sum`` in place."""
    old = sign * np.clip(column, -tau[k], tau[k])
    tried = np.append(candidates, tau[k])  # the current value: the error never grows
    trial = (channel_sum - old)[:, None] + sign * np.clip(column[:, None], -tried, tried)
    best = int(channel_errors(trial, target).argmin())
    tau[k] = tried[best]
    channel_sum[...] = trial[:, best]


def fit_layer_thresholds(layer, x: np.ndarray, target: np.ndarray, rows: int = DEFAULT_FIT_ROWS,
                         sweeps: int = DEFAULT_SWEEPS, seed: int = 0) -> tuple[float, np.ndarray]:
    """Stage 2 for one :class:`~tinymin.minconv.layer.MinConv2d` (``scale="layer"``,
    ``operator="min"``) in its current state: fit its thresholds on ``x`` against the
    exact output ``target`` (NCHW) and express them as a layer state.

    Returns ``(mu_x_hat, weight)``: with these, Eq. 12 gives the fitted
    :math:`\\hat w` (the weights keep their mean magnitude :math:`\\mu_w`). The layer is
    not changed; :func:`tinymin.minconv.calibrate.calibrate_layer` keeps the proposal
    only if the layer's real output, clip included, is closer to ``target``.
    """
    from tinymin.minconv.layer import clipped_operands
    from tinymin.ops.conv import conv_geometry, im2col, nchw_to_rows

    was_training = layer.training
    layer.eval()
    try:
        operands = clipped_operands(layer, x)
    finally:
        layer.train(was_training)
    geom = conv_geometry("fit_layer_thresholds", operands.x_c.shape, layer.weight.shape,
                         layer.stride, layer.padding)
    cols = im2col(operands.x_c, geom)
    wanted = nchw_to_rows(target)
    if len(cols) > rows:  # a seeded sample of output positions
        keep = np.sort(np.random.default_rng(seed).choice(len(cols), rows, replace=False))
        cols, wanted = cols[keep], wanted[keep]
    w_hat = operands.w_hat.reshape(len(operands.w_hat), -1)
    fitted, _, _ = fit_thresholds(cols, wanted, w_hat, sweeps)
    mean_tau = float(np.abs(fitted).mean())
    if mean_tau == 0:
        return float(layer.running_abs_mean[0]), layer.weight.data.copy()
    mu_w = float(np.abs(layer.weight.data).mean())
    weight = (fitted * (mu_w / mean_tau)).reshape(layer.weight.shape).astype(layer.weight.data.dtype)
    return mean_tau, weight
