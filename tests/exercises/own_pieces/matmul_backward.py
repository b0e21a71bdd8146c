"""tinymin's matrix-product backward as a learner's file (grad_b as nn.Linear forms it)."""

import numpy as np

from tinymin.autograd import sum_to


def matmul_backward(a, b, grad):
    grad_a = sum_to(grad @ np.swapaxes(b, -1, -2), a.shape)
    grad_b = sum_to(np.swapaxes(np.swapaxes(grad, -1, -2) @ a, -1, -2), b.shape)
    return grad_a, grad_b
