"""Neural-network building blocks, shaped like ``torch.nn``."""

from tinymin.nn import functional, init, utils
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
    "ReLU", "Sequential", "Sigmoid", "Tanh", "count_parameters", "functional", "init", "utils",
]

# THE one exception to the layering (listed as the only ignored import of the
# import-linter contract): the min-conv layer and its conversions live in
# tinymin.minconv (the paper's package), which builds on nn. They are re-exported here
# for code written against the PyTorch-shaped API, but imported lazily, on first
# access (PEP 562), so that importing nn never imports minconv. The same objects.
_FROM_MINCONV = {
    "MinConv2d": "tinymin.minconv.layer",
    "min_layers": "tinymin.minconv.layer",
    "convert_to_min": "tinymin.minconv.convert",
    "calibrate_min": "tinymin.minconv.calibrate",
    "recalibrate_running_statistics": "tinymin.minconv.calibrate",
}


def __getattr__(name: str):
    if name in _FROM_MINCONV:
        import importlib

        return getattr(importlib.import_module(_FROM_MINCONV[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
