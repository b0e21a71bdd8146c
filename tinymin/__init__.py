"""tinymin: a small, readable deep-learning framework that runs MinConvNets.

>>> import tinymin as tm
>>> x = tm.tensor([2.0], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
tensor([4.])
"""

# First of all: tinymin/_ext/threads.py sets the environment variables OpenBLAS and
# OpenMP read when they load (their idle threads must sleep, not spin), so this must
# run before numpy is imported. Yours win if set.
from tinymin._ext import threads as _threads  # noqa: F401  # isort: skip

import numpy as np  # noqa: E402 (after the setting above, on purpose)

# Subpackages, reachable as ``tm.nn``, ``tm.optim``, ``tm.cuda`` ... as in PyTorch.
from tinymin import _ext, accelerator, backends, cuda, data, models, nn, optim, utils  # noqa: F401
from tinymin._version import __version__
from tinymin.autograd import (
    Function,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from tinymin.checkpoint.serialization import load, save
from tinymin.device import device
from tinymin.dtypes import (  # PyTorch's dtype names; float, int and bool below
    double,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from tinymin.functions import (
    abs,
    allclose,
    amax,
    amin,
    arange,
    argmax,
    argmin,
    cat,
    clamp,
    clip,
    exp,
    eye,
    from_numpy,
    full,
    isnan,
    linspace,
    log,
    matmul,
    max,
    mean,
    min,
    numel,
    ones,
    ones_like,
    permute,
    prod,
    rand,
    randint,
    randn,
    randn_like,
    randperm,
    reshape,
    sqrt,
    squeeze,
    stack,
    sum,
    tensor,
    transpose,
    unsqueeze,
    where,
    zeros,
    zeros_like,
)
from tinymin.gradcheck import gradcheck
from tinymin.ops.activation import log_softmax, relu, sigmoid, softmax, tanh
from tinymin.ops.composite import (
    chunk,
    expand,
    flatten,
    logsumexp,
    maximum,
    minimum,
    repeat,
    split,
    std,
    var,
)
from tinymin.random import Generator, get_rng_state, initial_seed, manual_seed, set_rng_state
from tinymin.tensor import Tensor
from tinymin.tensor_torchlike import Size
from tinymin.trace import trace

# PyTorch spells these with Python's names: tinymin.float is float32, tinymin.int is
# int32, tinymin.bool is numpy's bool (last, so nothing above sees the builtins hidden).
float = np.float32  # noqa: A001
int = np.int32  # noqa: A001
bool = np.bool_  # noqa: A001

__all__ = [
    "Function", "Generator", "Size", "Tensor", "__version__", "accelerator", "backends",
    "cuda", "data", "device", "models", "nn", "optim", "utils",
    "bool", "double", "float", "float32", "float64", "int", "int8", "int16",
    "int32", "int64", "long", "short", "uint8",
    "abs", "allclose", "amax", "amin", "arange", "argmax", "argmin", "cat", "chunk", "clamp", "clip",
    "enable_grad", "exp", "expand", "eye", "flatten", "from_numpy", "full", "get_rng_state",
    "gradcheck", "inference_mode", "initial_seed", "is_grad_enabled", "isnan", "linspace", "load", "log",
    "log_softmax", "logsumexp", "manual_seed", "matmul", "max", "maximum", "mean", "min",
    "minimum", "no_grad", "numel", "ones", "ones_like", "permute", "prod", "rand", "randint",
    "randn", "randn_like", "randperm", "relu", "repeat", "reshape", "save", "set_grad_enabled",
    "set_rng_state", "sigmoid", "softmax", "split", "sqrt", "squeeze", "stack", "std", "sum",
    "tanh", "tensor", "trace", "transpose", "unsqueeze", "var", "where", "zeros", "zeros_like",
]
