"""Arguments that once ended in an internal error (issue 21) now get a message naming
the argument: graph parameters, a torch model's dtype, convolution geometries whose
arrays could never be allocated, class labels out of range, strings as tensors."""

import numpy as np
import pytest

import tinymin as tm
from tinymin import _ext
from tinymin.nn import functional as F
from tinymin.viz import to_dot


@pytest.mark.parametrize("params, message", [
    (5, "params must be a Module, a mapping .* got a int"),
    ("ab", "got a str"),
    ([1, 2], r"params must hold \(name, Tensor\) pairs, got 1"),
    ([("a", 3)], r"params\['a'\] is a int, not a Tensor"),
])
def test_to_dot_names_a_bad_params_argument(params, message):
    x = tm.randn(2, requires_grad=True)
    with pytest.raises(TypeError, match=message):
        to_dot((x * 2).sum(), params=params)


HUGE = [("padding", 2**62), ("padding", 10**6), ("kernel_size", 2**40)]


@pytest.mark.parametrize("name, value", HUGE)
def test_im2col_refuses_arrays_larger_than_memory_before_allocating(backend, name, value):
    x = np.zeros((1, 1, 4, 4), np.float32)
    kwargs = {"kernel_size": 3, "padding": 0, **{name: value}}
    if name == "kernel_size":
        kwargs["padding"] = value
    with pytest.raises(ValueError, match=rf"im2col: .*{name.split('_')[0]}.* needs a column "
                                         r"matrix .* more than this machine's"):
        _ext.im2col(x, **kwargs)


def test_col2im_refuses_an_output_larger_than_memory(backend):
    cols = np.zeros((1, 9), np.float32)  # one output position: a stride as large as the input
    with pytest.raises(ValueError, match="col2im: x_shape .* more than this machine's"):
        _ext.col2im(cols, (1, 1, 2**40, 2**40), 3, stride=2**40, padding=0)


@pytest.mark.parametrize("padding", [2**62, 2**20])
@pytest.mark.parametrize("layer", ["conv", "min"])
def test_a_convolution_layer_with_a_huge_padding_names_it(backend, padding, layer):
    make = tm.nn.Conv2d if layer == "conv" else tm.nn.MinConv2d
    x = tm.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match=rf"conv2d: .*padding \({padding}, {padding}\).* more "
                                         "than this machine's"):
        make(1, 1, 3, padding=padding)(x)


def test_a_reasonable_geometry_still_runs(backend):
    x = np.ones((1, 1, 4, 4), np.float32)
    assert _ext.im2col(x, 3, stride=2**62, padding=1).shape == (1, 9)


@pytest.mark.parametrize("target, error, message", [
    ([0, 2**70], ValueError, r"target values must be in \[0, 3\), got min 0 and max 2**70"),
    ([0, -(2**70)], ValueError, r"target values must be in \[0, 3\)"),
    ([0, 3], ValueError, r"target values must be in \[0, 3\)"),
    (np.array([0.0, 1.0]), TypeError, "integer class indices, got dtype float64"),
    (np.array(["0", "1"]), TypeError, "integer class indices"),
])
@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_a_label_out_of_range_or_not_an_integer_is_named(target, error, message, loss):
    with pytest.raises(error, match=message.replace("2**70", str(2**70))):
        loss(tm.randn(2, 3), target)


@pytest.mark.parametrize("data", [np.array(["a"]), ["a", "b"], np.array([b"x"]), [object()],
                                  np.zeros(1, dtype=[("a", "i4")])])
def test_a_tensor_holds_numbers_only(data):
    with pytest.raises(TypeError, match="tensor: cannot build a tensor from .* data of dtype"):
        tm.Tensor(data)


def test_from_torch_names_a_dtype_tinymin_does_not_hold():
    torch = pytest.importorskip("torch")
    from tinymin.torch import from_torch

    for dtype in (torch.bfloat16, torch.float16):
        model = torch.nn.Sequential(torch.nn.Linear(2, 2)).to(dtype)
        with pytest.raises(TypeError, match=rf"from_torch: '0.weight' is {dtype}; .*module.float"):
            from_torch(model)
    assert from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2)).double())[0].weight.dtype == np.float64
