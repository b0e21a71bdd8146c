"""Stateless neural-network operations, imported as ``F`` like ``torch.nn.functional``.

>>> import tinymin.nn.functional as F
"""

from tinymin.nn.functional.conv import conv2d
from tinymin.nn.functional.dropout import dropout
from tinymin.nn.functional.linear import linear
from tinymin.nn.functional.loss import cross_entropy, mse_loss, nll_loss
from tinymin.nn.functional.normalization import batch_norm
from tinymin.nn.functional.pooling import avg_pool2d, max_pool2d

# The activations belong to the engine (Tensor.relu uses them); F re-exports them.
from tinymin.ops.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh

__all__ = [
    "avg_pool2d", "batch_norm", "conv2d", "max_pool2d", "min_conv2d",
    "cross_entropy", "dropout", "leaky_relu", "linear", "log_softmax", "mse_loss",
    "nll_loss", "relu", "sigmoid", "softmax", "tanh",
]


# THE one exception to the layering (the import-linter contract in pyproject.toml
# ignores exactly the imports inside this __getattr__ and tinymin.nn's): Algorithm 1
# lives in tinymin.minconv (the paper's package), which builds on the operations above.
# ``F.min_conv2d`` is re-exported for the PyTorch-shaped API but imported lazily, on
# first access (PEP 562), so importing F never imports minconv.
def __getattr__(name: str):
    if name == "min_conv2d":
        from tinymin.minconv.functional import min_conv2d

        return min_conv2d
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
