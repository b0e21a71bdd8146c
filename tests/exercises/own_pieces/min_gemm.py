"""tinymin's own min-selector GEMM as a learner's file."""

import numpy as np

from tinymin import _ext


def min_gemm(cols, w_hat):
    return _ext.min_gemm(np.ascontiguousarray(cols), np.ascontiguousarray(w_hat))
