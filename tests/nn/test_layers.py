"""tinymin.nn.layers and tinymin.nn.lazy: what needs no PyTorch to check (the
comparisons with PyTorch: tests/torchlike/test_layers.py)."""

import numpy as np
import pytest

import tinymin as tm
import tinymin.nn as nn


def test_dropout2d_zeroes_whole_channels_and_scales():
    tm.manual_seed(0)
    x = tm.tensor(np.ones((64, 16, 3, 3)))
    layer = nn.Dropout2d(p=0.25)
    y = layer(x).numpy()
    per_channel = y.reshape(64, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 1 / 0.75).all(-1))
    assert 0.2 < (per_channel[..., 0] == 0).mean() < 0.3
    layer.eval()
    assert layer(x) is x


def test_lazy_layers_draw_nothing_before_their_first_call():
    tm.manual_seed(0)
    state = tm.get_rng_state()
    nn.LazyLinear(3), nn.LazyConv2d(2, 3)
    assert tm.get_rng_state() == state


def test_lazy_linear_takes_its_shape_from_the_first_batch():
    layer = nn.LazyLinear(2)
    assert layer.weight.shape == (2, 0) and nn.count_parameters(layer) == 2
    out = layer(tm.ones(4, 3))
    assert out.shape == (4, 2) and type(layer) is nn.Linear and layer.in_features == 3
    assert nn.count_parameters(layer) == 3 * 2 + 2


def test_padding_same_converts_to_min_only_with_an_odd_kernel():
    from tinymin.minconv import MinConv2d

    odd = MinConv2d.from_conv(nn.Conv2d(1, 2, 3, padding="same"))
    assert odd.padding == (1, 1)
    with pytest.raises(ValueError, match="pads unevenly"):
        MinConv2d.from_conv(nn.Conv2d(1, 2, 2, padding="same"))
    with pytest.raises(ValueError, match="does not support"):
        MinConv2d(1, 2, 4, padding="same")
