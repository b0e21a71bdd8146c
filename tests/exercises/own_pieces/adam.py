"""tinymin's own Adam update (its fused kernel) as a learner's pure function."""

import math

from tinymin import _ext


def adam_step(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    param, m, v = param.copy(), m.copy(), v.copy()
    _ext.adam_update(param, grad, m, v, beta1=beta1, beta2=beta2, step_size=lr / (1 - beta1**step),
                     sqrt_bias_correction2=math.sqrt(1 - beta2**step), eps=eps)
    return param, m, v
