"""Solution of the gain_offset exercise."""

import numpy as np


def fit_gain_offset(approx, target, per_channel=True):
    channels = approx.shape[1]
    s = np.moveaxis(approx, 1, 0).reshape(channels, -1).astype(np.float64)
    t = np.moveaxis(target, 1, 0).reshape(channels, -1).astype(np.float64)
    s_centred = s - s.mean(axis=1, keepdims=True)
    t_centred = t - t.mean(axis=1, keepdims=True)
    cov = (s_centred * t_centred).sum(axis=1)
    var = (s_centred**2).sum(axis=1)
    if per_channel:
        gain = np.ones(channels)
        gain[var > 0] = cov[var > 0] / var[var > 0]
    else:
        gain = np.full(channels, cov.sum() / var.sum() if var.sum() > 0 else 1.0)
    return gain, t.mean(axis=1) - gain * s.mean(axis=1)
