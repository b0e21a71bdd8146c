"""Stateless neural-network operations, imported as ``F`` like ``torch.nn.functional``.

>>> import tinymin.nn.functional as F
"""

from tinymin.nn.functional.activation import (
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from tinymin.nn.functional.dropout import dropout
from tinymin.nn.functional.linear import linear
from tinymin.nn.functional.loss import cross_entropy, mse_loss, nll_loss

__all__ = [
    "cross_entropy", "dropout", "leaky_relu", "linear", "log_softmax", "mse_loss",
    "nll_loss", "relu", "sigmoid", "softmax", "tanh",
]
