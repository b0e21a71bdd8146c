"""Solution of the min_gemm exercise."""

import numpy as np


def min_gemm(cols, w_hat):
    a, b = cols[:, None, :], w_hat[None, :, :]
    return (np.sign(a) * np.sign(b) * np.minimum(np.abs(a), np.abs(b))).sum(axis=2)
