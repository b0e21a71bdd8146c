"""Solution of the im2col exercise."""

import numpy as np


def im2col(x, kernel_size, stride=1, padding=0):
    n, c, h, w = x.shape
    k = kernel_size
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - k) // stride + 1
    ow = (w + 2 * padding - k) // stride + 1
    cols = np.empty((n, oh, ow, c, k, k), dtype=x.dtype)
    for u in range(k):
        for v in range(k):
            patch = padded[:, :, u:u + stride * oh:stride, v:v + stride * ow:stride]
            cols[:, :, :, :, u, v] = patch.transpose(0, 2, 3, 1)
    return cols.reshape(n * oh * ow, c * k * k)
