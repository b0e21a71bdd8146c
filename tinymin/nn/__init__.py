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

# The min-conv layer and its conversions live in tinymin.minconv (the paper's package);
# imported last, because that package builds on the layers above. The same objects.
from tinymin.minconv.convert import calibrate_min, convert_to_min, recalibrate_running_statistics  # noqa: E402
from tinymin.minconv.layer import MinConv2d, min_layers  # noqa: E402
