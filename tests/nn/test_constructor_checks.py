"""Layers check their window arguments when they are built, not at the first forward
pass; the functional ops name the argument that is wrong."""

import numpy as np
import pytest

import tinymin as tm
import tinymin.nn.functional as F
from tinymin import nn

CONV_LAYERS = [nn.Conv2d, nn.MinConv2d]
POOL_LAYERS = [nn.MaxPool2d, nn.AvgPool2d]


@pytest.mark.parametrize("layer", CONV_LAYERS)
@pytest.mark.parametrize("option, value, message", [
    ("stride", 0, "stride must be positive"),
    ("stride", -1, "stride must be positive"),
    ("stride", (1, 0), "stride must be positive"),
    ("kernel_size", 0, "kernel_size must be positive"),
    ("kernel_size", -2, "kernel_size must be positive"),
    ("padding", -1, "padding must be >= 0"),
    ("stride", 1.5, "stride must be an int or a pair of ints"),
])
def test_conv_layers_check_their_arguments_at_construction(layer, option, value, message):
    arguments = {"kernel_size": 3, option: value}
    with pytest.raises(ValueError, match=f"{layer.__name__}: {message}"):
        layer(1, 2, **arguments)


@pytest.mark.parametrize("layer", POOL_LAYERS)
@pytest.mark.parametrize("arguments, message", [
    ({"kernel_size": 2, "stride": 0}, "stride must be positive"),
    ({"kernel_size": 2, "stride": -1}, "stride must be positive"),
    ({"kernel_size": 0}, "kernel_size must be positive"),
    ({"kernel_size": -1}, "kernel_size must be positive"),
    ({"kernel_size": 2, "padding": -1}, "padding must be >= 0"),
    ({"kernel_size": 2, "padding": 2}, "padding .* at most half of kernel_size"),
])
def test_pool_layers_check_their_arguments_at_construction(layer, arguments, message):
    with pytest.raises(ValueError, match=f"{layer.__name__}: {message}"):
        layer(**arguments)


def test_conv2d_says_stride_must_be_an_int_or_a_pair():
    x, w = tm.ones(1, 1, 4, 4), tm.ones(1, 1, 3, 3)
    with pytest.raises(ValueError, match="conv2d: stride must be an int or a pair of ints, got 1.5"):
        F.conv2d(x, w, stride=1.5)


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_with_a_zero_kernel_names_the_kernel(pool):
    with pytest.raises(ValueError, match=f"{pool.__name__}: kernel_size must be positive"):
        pool(tm.ones(1, 1, 4, 4), kernel_size=0)


def test_min_conv2d_on_an_empty_batch_returns_an_empty_output_as_conv2d_does():
    layer = nn.MinConv2d(2, 3, 3, padding=1)
    before = layer.running_abs_mean.copy()
    x = tm.zeros(0, 2, 5, 5)
    out = layer(x)
    assert out.shape == F.conv2d(x, layer.weight, layer.bias, padding=1).shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(layer.running_abs_mean, before)  # nothing to average
