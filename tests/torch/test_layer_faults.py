"""What the torch engine's MinConv2d refuses or handles, as tinymin's own engine does:
mixed dtypes, empty batches, a call refused after step 1 would have moved the running
statistics, zero strides; and ``torch.compile`` of a model with it (fake tensors and
the real op must agree on shape, dtype and strides)."""

import copy

import pytest

torch = pytest.importorskip("torch", reason="the torch engine needs the optional extra: "
                            'pip install -e ".[torch]"')

from tinymin.torch import MinConv2d  # noqa: E402


def layer(**kwargs) -> MinConv2d:
    torch.manual_seed(0)
    return MinConv2d(3, 4, 3, padding=1, **kwargs)


def statistics(module: MinConv2d) -> tuple[float, int]:
    return float(module.running_abs_mean), int(module.num_batches_tracked)


@pytest.mark.parametrize("x_dtype, layer_dtype", [
    (torch.float64, torch.float32),  # would crash deep in the op (or promote silently)
    (torch.float32, torch.float64),  # would return float64 where the fake op says float32
    (torch.int64, torch.float32),
])
def test_mixed_or_integer_dtypes_are_refused_naming_both(x_dtype, layer_dtype):
    module = layer().to(layer_dtype)
    x = torch.ones(2, 3, 5, 5, dtype=x_dtype)
    with pytest.raises(TypeError, match=r"^min_conv2d: input, weight and bias must share one "
                                        r"floating dtype, got input torch\.\w+ \(2, 3, 5, 5\), "
                                        r"weight torch\.\w+ \(4, 3, 3, 3\), bias"):
        module(x)
    assert statistics(module) == (1.0, 0)  # refused before step 1


def test_a_bias_of_another_dtype_is_refused():
    module = layer()
    module.bias.data = module.bias.data.double()
    with pytest.raises(TypeError, match="bias torch.float64"):
        module(torch.ones(1, 3, 5, 5))


def test_an_empty_training_batch_moves_no_statistic_and_gives_an_empty_output():
    module = layer().train()
    y = module(torch.randn(0, 3, 6, 6))
    assert y.shape == (0, 4, 6, 6)
    assert statistics(module) == (1.0, 0)  # not NaN: the next eval output stays finite
    module.eval()
    assert torch.isfinite(module(torch.randn(2, 3, 6, 6))).all()


def test_a_refused_call_leaves_the_running_statistics_alone():
    module = layer()
    module.padding = (0, 0)
    with pytest.raises(ValueError, match="larger than the padded input"):
        module(torch.randn(1, 3, 2, 2) * 10)  # a 3x3 kernel on 2x2 pixels, no padding
    assert statistics(module) == (1.0, 0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(stride=0), "MinConv2d: stride must be positive"),
    (dict(kernel_size=0), "MinConv2d: kernel_size must be positive"),
    (dict(padding=-1), "MinConv2d: padding must be >= 0"),
])
def test_the_constructor_refuses_what_nn_minconv2d_refuses(kwargs, message):
    arguments = {"in_channels": 3, "out_channels": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        MinConv2d(**arguments)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16],
                         ids=["float32 (tinymin's kernel)", "bfloat16 (the unfold reference)"])
def test_torch_compile_gives_what_eager_gives(dtype):
    eager = torch.nn.Sequential(layer(), torch.nn.LeakyReLU()).to(dtype).train()
    compiled_module = copy.deepcopy(eager)
    compiled = torch.compile(compiled_module, fullgraph=True)
    x = torch.randn(2, 3, 6, 5, generator=torch.Generator().manual_seed(1)).to(dtype)
    expected, got = eager(x), compiled(x)
    expected.square().sum().backward()
    got.square().sum().backward()
    # inductor fuses steps 2-4's pointwise operations, which may round differently
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(got, expected, **tol)
    torch.testing.assert_close(compiled_module[0].weight.grad, eager[0].weight.grad, **tol)
    torch.testing.assert_close(compiled_module[0].running_abs_mean, eager[0].running_abs_mean,
                               **tol)
    assert compiled_module[0].num_batches_tracked == eager[0].num_batches_tracked == 1
