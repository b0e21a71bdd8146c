"""Neural-network building blocks, shaped like ``torch.nn``."""

from tinymin.nn import functional, init
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

__all__ = [
    "Dropout", "Flatten", "Identity", "LeakyReLU", "Linear", "Module", "Parameter",
    "ReLU", "Sequential", "Sigmoid", "Tanh", "count_parameters", "functional", "init",
]
