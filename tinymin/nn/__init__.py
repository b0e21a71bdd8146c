"""Neural-network building blocks, shaped like ``torch.nn``."""

from tinymin.nn import functional, init
from tinymin.nn.batchnorm import BatchNorm2d
from tinymin.nn.conv import Conv2d, ConvLayer
from tinymin.nn.layers import (
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from tinymin.nn.module import Module, count_parameters
from tinymin.nn.parameter import Parameter
from tinymin.nn.pooling import AvgPool2d, MaxPool2d

__all__ = [
    "AvgPool2d", "BatchNorm2d", "Conv2d", "ConvLayer", "MaxPool2d", "MinConv2d", "calibrate_min",
    "convert_to_min", "min_layers",
    "recalibrate_running_statistics",
    "Dropout", "Flatten", "Identity", "LeakyReLU", "Linear", "Module", "Parameter",
    "ReLU", "Sequential", "Sigmoid", "Tanh", "count_parameters", "functional", "init",
]

# THE one exception to the layering (the import-linter contract in pyproject.toml
# ignores exactly the imports inside this __getattr__ and nn.functional's): the
# min-conv layer and its conversions live in tinymin.minconv (the paper's package),
# which builds on nn. They are re-exported here for code written against the
# PyTorch-shaped API, but imported lazily, on first access (PEP 562), so that
# importing nn never imports minconv. The same objects.
_FROM_MINCONV_LAYER = ("MinConv2d", "min_layers")
_FROM_MINCONV_CONVERSION = ("convert_to_min", "calibrate_min", "recalibrate_running_statistics")


def __getattr__(name: str):
    if name in _FROM_MINCONV_LAYER:
        from tinymin.minconv import layer

        return getattr(layer, name)
    if name in _FROM_MINCONV_CONVERSION:
        from tinymin.minconv import calibrate, convert

        return getattr(convert if name == "convert_to_min" else calibrate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
