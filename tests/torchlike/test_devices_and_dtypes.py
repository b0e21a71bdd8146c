"""Devices, dtypes and conversions (issue #20, items 1 and 5), each against PyTorch."""

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn

torch = pytest.importorskip("torch", reason="the oracle tests compare with PyTorch (pip install torch)")

X = np.array([[1.5, -2.5, 0.0], [3.7, -0.2, 9.0]], dtype=np.float32)


# ------------------------------------------------------------------ devices
def test_the_cpu_device_and_tensor_device():
    for spelling in ("cpu", "cpu:0"):
        ours, theirs = tm.device(spelling), torch.device(spelling)
        assert str(ours) == str(theirs) and ours.type == theirs.type and ours.index == theirs.index
    x = tm.tensor(X)
    assert x.device == tm.device("cpu") and x.device == "cpu" and str(x.device) == "cpu"
    assert x.device.type == torch.tensor(X).device.type
    assert repr(tm.device("cpu")) == repr(torch.device("cpu"))
    assert x.cpu() is x and x.to("cpu") is x and x.to(tm.device("cpu")) is x
    assert not x.is_cuda


def test_to_converts_dtypes_as_torch_does():
    x, t = tm.tensor(X), torch.tensor(X)
    for ours, theirs in [(x.to(tm.float64), t.to(torch.float64)),
                         (x.to("cpu", tm.int64), t.to("cpu", torch.int64)),
                         (x.to(dtype=tm.int32), t.to(dtype=torch.int32)),
                         (x.to(tm.device("cpu"), tm.float64), t.to(torch.device("cpu"), torch.float64)),
                         (x.to(tm.tensor([1], dtype=tm.long)), t.to(torch.tensor([1])))]:
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert x.to(tm.float32) is x and x.to(tm.float32, copy=True) is not x


def test_the_device_questions_answer_as_torch_on_a_cpu_machine():
    assert tm.cuda.is_available() is False and tm.cuda.device_count() == 0
    assert tm.backends.mps.is_available() is False and tm.accelerator.is_available() is False
    assert tm.accelerator.current_accelerator() is None
    tm.cuda.manual_seed(0)
    tm.cuda.manual_seed_all(0)  # nothing to seed, no error: as torch without CUDA
    tm.backends.cudnn.deterministic = True
    device = tm.device("cuda" if tm.cuda.is_available() else "cpu")  # the tutorials' line
    assert device.type == "cpu"


@pytest.mark.parametrize("ask", [
    lambda: tm.device("cuda"),
    lambda: tm.device("cuda:1"),
    lambda: tm.device("mps"),
    lambda: tm.ones(2).to("cuda"),
    lambda: tm.ones(2).to(0),
    lambda: tm.ones(2).to(device="cuda:0"),
    lambda: tm.ones(2).cuda(),
    lambda: tm.zeros(2, device="cuda"),
    lambda: tm.tensor([1.0], device="cuda"),
    lambda: nn.Linear(2, 2).to("cuda"),
    lambda: nn.Linear(2, 2).cuda(),
    lambda: nn.Conv2d(1, 2, 3, device="cuda"),
], ids=["device", "device-index", "mps", "to", "to-int", "to-keyword", "cuda()", "zeros", "tensor",
        "module.to", "module.cuda", "layer-device"])
def test_asking_for_a_gpu_names_the_torch_engine(ask):
    with pytest.raises(RuntimeError, match="--engine torch") as error:
        ask()
    assert "tinymin.torch" in str(error.value)


def test_module_to_and_cpu_return_the_module_and_convert_floats():
    torch.manual_seed(0)
    tm.manual_seed(0)
    model = nn.Linear(3, 2)
    assert model.to(tm.device("cpu")) is model and model.cpu() is model and model.to("cpu") is model
    assert model.to(tm.float64) is model and model.weight.dtype == np.float64
    assert model.to("cpu", tm.float32).weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        model.to(tm.int64)
    with pytest.raises(TypeError):
        torch.nn.Linear(3, 2).to(torch.int64)  # torch refuses it too


# ------------------------------------------------------------------- dtypes
def test_dtype_names_are_torchs():
    pairs = {"long": "int64", "int64": "int64", "int32": "int32", "int": "int32", "bool": "bool",
             "float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
             "int16": "int16", "short": "int16",
             "int8": "int8", "uint8": "uint8"}
    for name, expected in pairs.items():
        assert str(getattr(torch, name)) == f"torch.{expected}"
        assert np.dtype(getattr(tm, name)) == np.dtype(expected), name
        assert tm.zeros(2, dtype=getattr(tm, name)).dtype == np.dtype(expected)


@pytest.mark.parametrize("method", ["long", "int", "float", "double", "bool"])
def test_conversion_methods_match_torch(method):
    x, t = tm.tensor(X), torch.tensor(X)
    ours, theirs = getattr(x, method)(), getattr(t, method)()
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    i, ti = tm.tensor([0, 3, -2]), torch.tensor([0, 3, -2])
    np.testing.assert_array_equal(getattr(i, method)().numpy(), getattr(ti, method)().numpy())


def test_type_and_type_as():
    x, t = tm.tensor(X), torch.tensor(X)
    assert x.type() == t.type().replace("torch.", "tinymin.")
    assert x.long().type() == t.long().type().replace("torch.", "tinymin.")
    for ours, theirs in [(x.type(tm.int64), t.type(torch.int64)),
                         (x.type("torch.DoubleTensor"), t.type("torch.DoubleTensor")),
                         (x.type_as(tm.tensor([1])), t.type_as(torch.tensor([1])))]:
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_a_float_conversion_stays_in_the_graph_an_integer_one_does_not():
    x = tm.tensor(X, requires_grad=True)
    t = torch.tensor(X, requires_grad=True)
    (x.double() * 2).sum().backward()
    (t.double() * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    assert x.grad.dtype == np.float32
    assert x.long().requires_grad == t.long().requires_grad == False  # noqa: E712


def test_python_numbers_from_one_element_tensors():
    for value in [2.75, -3.0, 0.0]:
        x, t = tm.tensor([value]), torch.tensor([value])
        assert float(x) == float(t) and int(x) == int(t) and bool(x) == bool(t)
    assert int(tm.tensor(-2.5)) == int(torch.tensor(-2.5)) == -2
    with pytest.raises(ValueError, match="ambiguous"):
        bool(tm.ones(2))
    with pytest.raises(ValueError, match="one-element"):
        float(tm.ones(2))


def test_tensor_indices_as_torch():
    x, t = tm.tensor(X), torch.tensor(X)
    for index in [1, [1], [0, 1, 1]]:
        ours, theirs = x[tm.tensor(index)], t[torch.tensor(index)]
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    mask = x > 0
    np.testing.assert_array_equal(x[mask].numpy(), t[t > 0].numpy())
    np.testing.assert_array_equal(x[0, tm.tensor(2)].numpy(), t[0, torch.tensor(2)].numpy())
    assert [10, 20, 30][tm.tensor(2)] == [10, 20, 30][torch.tensor(2)]  # __index__
    assert list(range(tm.tensor(3))) == list(range(torch.tensor(3)))


def test_size_and_numel():
    x, t = tm.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert x.size() == t.size() == (2, 3, 4) and isinstance(x.size(), tuple)
    assert isinstance(x.size(), tm.Size) and repr(x.size()) == "tinymin.Size([2, 3, 4])"
    assert [x.size(d) for d in (0, 1, 2, -1)] == [t.size(d) for d in (0, 1, 2, -1)]
    assert x.numel() == t.numel() == tm.numel(x) == x.size().numel() == 24
    with pytest.raises(IndexError):
        x.size(3)


# -------------------------------------------- reductions: dim= and axis= alike
REDUCTIONS = ["sum", "mean", "var", "std", "prod", "logsumexp", "max", "min", "argmax",
              "argmin", "all", "any", "softmax", "log_softmax"]


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_every_reduction_takes_dim_and_axis_and_keepdim(name, dim, keepdim):
    data = np.random.default_rng(3).normal(size=(3, 4))
    if name in ("all", "any"):
        data = data > 0
    keep = {} if name in ("softmax", "log_softmax") else {"keepdim": keepdim}
    theirs = getattr(torch.tensor(data), name)(dim=dim, **keep)
    theirs = theirs.values if name in ("max", "min") else theirs
    for spelling in ({"dim": dim}, {"axis": dim}):
        for source in ("method", "function"):
            x = tm.tensor(data)
            if source == "method":
                ours = getattr(x, name)(**spelling, **keep)
            elif hasattr(tm, name):
                ours = getattr(tm, name)(x, **spelling, **keep)
            else:
                continue
            ours = ours.values if name in ("max", "min") else ours
            assert ours.shape == tuple(theirs.shape), (name, spelling, source)
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "prod", "logsumexp", "max", "min"])
def test_reductions_over_everything_and_their_gradients(name):
    data = np.random.default_rng(4).normal(size=(3, 4))
    x, t = tm.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    if name == "logsumexp":
        ours, theirs = x.logsumexp(dim=(0, 1)), t.logsumexp(dim=(0, 1))
    else:
        ours, theirs = getattr(x, name)(), getattr(t, name)()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_max_and_min_with_a_dim_return_values_and_indices():
    data = np.random.default_rng(5).normal(size=(3, 4))
    x, t = tm.tensor(data), torch.tensor(data)
    for name in ("max", "min"):
        for dim in (0, 1):
            ours, theirs = getattr(tm, name)(x, dim), getattr(torch, name)(t, dim)
            np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
            np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
            values, indices = getattr(x, name)(axis=dim, keepdim=True)
            assert values.shape == indices.shape == tuple(getattr(t, name)(dim, keepdim=True)[0].shape)
        other = tm.tensor(data[::-1].copy())
        np.testing.assert_array_equal(getattr(tm, name)(x, other).numpy(),
                                      getattr(torch, name)(t, torch.tensor(data[::-1].copy())).numpy())
    assert x.argmax(keepdim=True).shape == tuple(t.argmax(keepdim=True).shape)


LAYERS_WITH_FACTORY_ARGUMENTS = {
    "Linear": lambda lib, **kw: lib.nn.Linear(3, 2, **kw),
    "Conv2d": lambda lib, **kw: lib.nn.Conv2d(2, 4, 3, padding=1, **kw),
    "BatchNorm2d": lambda lib, **kw: lib.nn.BatchNorm2d(3, **kw),
    "BatchNorm1d": lambda lib, **kw: lib.nn.BatchNorm1d(3, **kw),
    "LazyLinear": lambda lib, **kw: lib.nn.LazyLinear(2, **kw),
    "LazyConv2d": lambda lib, **kw: lib.nn.LazyConv2d(4, 3, **kw),
}


@pytest.mark.parametrize("layer", LAYERS_WITH_FACTORY_ARGUMENTS)
def test_layers_take_torchs_device_and_dtype(layer):
    build = LAYERS_WITH_FACTORY_ARGUMENTS[layer]
    ours = build(tm, device="cpu", dtype=tm.float64)
    theirs = build(torch, device="cpu", dtype=torch.float64)
    assert {k: str(v.dtype) for k, v in ours.state_dict().items()} == \
        {k: str(v.dtype).removeprefix("torch.") for k, v in theirs.state_dict().items()
         if k != "num_batches_tracked"}  # tinymin's batch norm has no counter
    assert build(tm, device=tm.device("cpu")).state_dict() is not None
    with pytest.raises(TypeError, match=f"{layer}: dtype must be float32 or float64, got int64"):
        build(tm, dtype=tm.int64)


def test_a_float64_min_layer_keeps_float64_buffers_and_from_conv_keeps_the_dtype():
    layer = nn.MinConv2d(1, 2, 3, dtype=tm.float64)
    assert {str(v.dtype) for k, v in layer.state_dict().items() if k != "num_batches_tracked"} \
        == {"float64"}
    assert nn.MinConv2d.from_conv(nn.Conv2d(1, 2, 3).double()).weight.dtype == np.float64
