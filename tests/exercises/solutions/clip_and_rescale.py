"""Solution of the clip_and_rescale exercise."""

import numpy as np


def step3_clip(a, mu, clip_value):
    if clip_value is None:
        return a, None
    bound = clip_value * mu
    return np.clip(a, -bound, bound), np.abs(a) <= bound


def step4_rescale(w_c, mu_x, mu_w):
    return w_c * (mu_x / mu_w)


def step7_through_clip(grad, inside):
    if inside is None:
        return grad
    return np.where(inside, grad, 0.0)
