"""to_torch / from_torch: identical state_dicts, bit-identical round trips, clear errors;
and torch stays optional."""

import subprocess
import sys

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn
from tinymin.models import build_model
from tinymin.random import manual_seed


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_tinymin_never_imports_torch():
    result = run_python("import sys, tinymin, tinymin.nn, tinymin.cli, tinymin.models\n"
                        "assert 'torch' not in sys.modules, 'tinymin imported torch'")
    assert result.returncode == 0, result.stderr


def test_without_torch_the_engine_names_the_extra_to_install():
    # sys.modules["torch"] = None makes "import torch" fail as if torch were not installed
    result = run_python("import sys; sys.modules['torch'] = None\nimport tinymin.torch")
    assert result.returncode != 0
    assert 'ImportError: tinymin.torch needs PyTorch, the optional "torch" extra: pip install -e ".[torch]"' \
        in result.stderr


torch = pytest.importorskip("torch", reason="the torch engine needs the optional extra: "
                            'pip install -e ".[torch]"')

from tinymin.torch import MinConv2d, from_torch, to_torch  # noqa: E402


def assert_bit_identical(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert a[key].shape == b[key].shape, key
        assert a[key].tobytes() == b[key].tobytes(), key


def calibrated(name: str):
    manual_seed(0)
    model = nn.convert_to_min(build_model(name, conv="exact"))
    channels = 1 if name == "lenet" else 3
    nn.calibrate_min(model, np.random.default_rng(0).random((8, channels, 28, 28)))
    return model


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name,conv", [("lenet", "exact"), ("lenet", "min"), ("mini_cifar", "min"),
                                       ("mlp", "exact"), ("mini_cifar", "calibrated")])
def test_round_trip_gives_a_bit_identical_state_dict(name, conv, dtype):
    manual_seed(0)
    model = calibrated(name) if conv == "calibrated" else build_model(name, conv=conv)
    model.astype(dtype)
    module = to_torch(model)
    torch_state = {k: v.numpy() for k, v in module.state_dict().items()}
    assert_bit_identical(torch_state, model.state_dict())  # same keys, dtypes and values in torch
    assert_bit_identical(from_torch(module).state_dict(), model.state_dict())


def test_conversion_keeps_settings_and_mode():
    layer = nn.MinConv2d(2, 3, (3, 5), stride=2, padding=(1, 2), bias=False, clip_value=None,
                         momentum=None, scale="channel", operator="adder")
    model = nn.Sequential(layer, nn.Dropout(0.3), nn.Flatten(0, -1)).eval()
    model[1].train()
    module = to_torch(model)
    twin = module[0]
    assert isinstance(twin, MinConv2d)
    settings = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "clip_value",
                "momentum", "scale", "operator")
    assert all(getattr(twin, s) == getattr(layer, s) for s in settings)
    assert twin.bias is None and module[1].p == 0.3 and module[2].start_dim == 0
    assert not module.training and not twin.training and module[1].training
    back = from_torch(module)
    assert all(getattr(back[0], s) == getattr(layer, s) for s in settings)
    assert [m.training for _, m in back.named_modules()] == [False, False, True, False]


def test_the_torch_layer_has_tinymin_s_constructor_and_state_dict_keys():
    ours, theirs = nn.MinConv2d(3, 4, 3), MinConv2d(3, 4, 3)
    assert list(theirs.state_dict()) == list(ours.state_dict()) == [
        "weight", "bias", "running_abs_mean", "num_batches_tracked", "output_gain", "output_offset",
        "input_scale_multiple"]
    for key, value in theirs.state_dict().items():
        assert value.numpy().dtype == ours.state_dict()[key].dtype, key
        assert value.numpy().shape == ours.state_dict()[key].shape, key


def test_a_plain_torch_sequential_comes_to_tinymin():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(18, 3))
    module.train()
    module(torch.randn(4, 1, 8, 8))  # move the batch-norm statistics
    model = from_torch(module)
    assert "1.num_batches_tracked" not in model.state_dict()  # tinymin's batch norm has no counter
    x = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    module.eval()
    model.eval()
    from tinymin.tensor import Tensor

    expected = module(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model(Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


class Unsupported(nn.Module):
    def forward(self, x):
        return x


def test_an_unsupported_tinymin_layer_is_named_with_its_path():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), Unsupported()))
    with pytest.raises(TypeError, match=r"to_torch: layer '1\.1' is a Unsupported, which has no "
                                        r"torch equivalent"):
        to_torch(model)
    with pytest.raises(TypeError, match="layer '\\(the model itself\\)' is a Unsupported"):
        to_torch(Unsupported())


def test_an_unknown_torch_layer_is_named_with_its_path():
    module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sequential(torch.nn.GELU()))
    with pytest.raises(TypeError, match=r"from_torch: layer '1\.0' is a GELU, which has no tinymin"):
        from_torch(module)
    with pytest.raises(ValueError, match=r"from_torch: layer '0': tinymin supports only Conv2d with "
                                         r"groups=1, dilation=1"):
        from_torch(torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3, dilation=2)))
    with pytest.raises(ValueError, match="layer '0': tinymin supports only MaxPool2d"):
        from_torch(torch.nn.Sequential(torch.nn.MaxPool2d(2, dilation=2)))


def test_pooling_options_convert_both_ways_and_compute_the_same():
    theirs = torch.nn.Sequential(torch.nn.MaxPool2d(2, ceil_mode=True),
                                 torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
                                 torch.nn.AvgPool2d(2, divisor_override=3))
    ours = from_torch(theirs)
    x = np.random.default_rng(0).normal(size=(1, 2, 9, 11))
    np.testing.assert_allclose(ours(tm.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(),
                               rtol=1e-12)
    back = to_torch(ours)
    assert [repr(m) for m in back] == [repr(m) for m in theirs]
