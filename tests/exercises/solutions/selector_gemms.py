"""Solution of the selector_gemms exercise."""

import numpy as np


def max_gemm(cols, w):
    a, b = cols[:, None, :], w[None, :, :]
    return (np.sign(a) * np.sign(b) * np.maximum(np.abs(a), np.abs(b))).sum(axis=2)


def adder_gemm(cols, w):
    return -np.abs(cols[:, None, :] - w[None, :, :]).sum(axis=2)
