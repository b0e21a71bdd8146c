"""tinymin: a small, readable deep-learning framework that runs MinConvNets.

>>> import tinymin as tm
>>> x = tm.tensor([2.0], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
array([4.], dtype=float32)
"""

# First of all: tinymin/_ext/threads.py sets the environment variables OpenBLAS and
# OpenMP read when they load (their idle threads must sleep, not spin), so this must
# run before numpy is imported. Yours win if set.
from tinymin._ext import threads as _threads  # noqa: F401  # isort: skip

import numpy as np  # noqa: E402 (after the setting above, on purpose)

# Subpackages, reachable as ``tm.nn``, ``tm.optim``, ... as in PyTorch.
from tinymin import _ext, data, models, nn, optim  # noqa: F401
from tinymin._version import __version__
from tinymin.autograd import Function, enable_grad, is_grad_enabled, no_grad
from tinymin.checkpoint.serialization import load, save
from tinymin.functions import (
    abs,
    arange,
    argmax,
    cat,
    clamp,
    clip,
    exp,
    eye,
    from_numpy,
    full,
    linspace,
    log,
    matmul,
    max,
    mean,
    ones,
    ones_like,
    permute,
    rand,
    randint,
    randn,
    randn_like,
    reshape,
    sqrt,
    stack,
    sum,
    tensor,
    transpose,
    where,
    zeros,
    zeros_like,
)
from tinymin.gradcheck import gradcheck
from tinymin.ops.activation import relu, sigmoid, softmax, tanh
from tinymin.ops.composite import (
    chunk,
    expand,
    flatten,
    logsumexp,
    maximum,
    minimum,
    repeat,
    split,
)
from tinymin.random import get_rng_state, manual_seed, set_rng_state
from tinymin.tensor import Tensor
from tinymin.trace import trace

float32 = np.float32
float64 = np.float64

__all__ = [
    "Function", "Tensor", "__version__", "data", "models", "nn", "optim",
    "abs", "arange", "argmax", "cat", "chunk", "clamp", "clip", "enable_grad", "exp",
    "expand", "eye", "flatten", "float32", "float64", "from_numpy", "full", "get_rng_state",
    "gradcheck", "is_grad_enabled", "linspace", "load", "log", "logsumexp", "manual_seed",
    "matmul", "max", "maximum", "mean", "minimum", "no_grad", "ones", "ones_like", "permute",
    "rand", "randint", "randn", "randn_like", "relu", "repeat", "reshape", "save",
    "set_rng_state", "sigmoid", "softmax", "split", "sqrt", "stack", "sum", "tanh", "tensor",
    "trace", "transpose", "where", "zeros", "zeros_like",
]
