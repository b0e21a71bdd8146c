"""The layers of issue #20 (item 7) against PyTorch itself (their finite-difference
checks, which need no torch: tests/nn/test_functional.py)."""

import warnings

import numpy as np
import pytest

import tinymin as tm
import tinymin.nn as nn
import tinymin.nn.functional as F
from tinymin.optim import SGD

torch = pytest.importorskip("torch", reason="the PyTorch oracle tests need torch (the torch extra)")
tnn = torch.nn


def as_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def copy_parameters(ours, theirs):
    """Give the torch module our parameters (same names, as PyTorch names them)."""
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.copy_(torch.as_tensor(as_numpy(dict(ours.named_parameters())[name])))


def compare(ours, theirs, x, rtol=1e-10, atol=1e-12):
    """Same output and same input and parameter gradients, in float64."""
    xt = tm.tensor(x, requires_grad=True, dtype=np.float64)
    xp = torch.tensor(x, requires_grad=True)
    out, tout = ours(xt), theirs(xp)
    np.testing.assert_allclose(as_numpy(out), as_numpy(tout), rtol=rtol, atol=atol)
    weights = np.random.default_rng(7).normal(size=tout.shape)
    (out * weights).sum().backward()
    (tout * torch.as_tensor(weights)).sum().backward()
    np.testing.assert_allclose(as_numpy(xt.grad), as_numpy(xp.grad), rtol=rtol, atol=atol)
    ours_named = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(as_numpy(ours_named[name].grad), as_numpy(p.grad),
                                   rtol=rtol, atol=atol, err_msg=name)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_layers_match_torch(name, dim, rng):
    compare(getattr(nn, name)(dim=dim), getattr(tnn, name)(dim=dim), rng.normal(size=(3, 4, 2)))


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 3, 4, 5)])
def test_softmax_without_dim_guesses_like_torch(shape, rng):
    x = rng.normal(size=shape)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        ours = nn.Softmax()(tm.tensor(x))
    with pytest.warns(UserWarning):
        theirs = tnn.Softmax()(torch.tensor(x))
    np.testing.assert_allclose(as_numpy(ours), as_numpy(theirs), rtol=1e-12)


def test_logsigmoid_matches_torch(rng):
    compare(nn.LogSigmoid(), tnn.LogSigmoid(), rng.normal(scale=40, size=(4, 5)))


def test_identity_ignores_its_arguments_like_torch(rng):
    x = tm.tensor(rng.normal(size=(2, 3)))
    assert nn.Identity(54, unused="x")(x) is x
    assert list(nn.Identity().state_dict()) == list(tnn.Identity(54).state_dict()) == []


# ------------------------------------------------------------------ containers
def test_module_list_registers_and_renumbers_like_torch():
    def build(lib):
        layers = lib.ModuleList([lib.Linear(2, 3), lib.ReLU()])
        layers.append(lib.Linear(3, 4))
        layers.extend([lib.Tanh(), lib.Linear(4, 1)])
        layers.insert(1, lib.Linear(3, 3))
        del layers[2]
        layers[0] = lib.Linear(2, 3, bias=False)
        layers += [lib.Identity()]
        return layers

    ours, theirs = build(nn), build(tnn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(ours) == len(theirs) == 6
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs]
    assert isinstance(ours[1:3], nn.ModuleList) and len(ours[1:3]) == 2
    assert ours[-1] is list(ours)[-1]
    with pytest.raises(TypeError, match="not a Module"):
        ours.append(3)


def test_module_list_in_a_model_trains():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    net = Net()
    assert [n for n, _ in net.named_parameters()][:2] == ["layers.0.weight", "layers.0.bias"]
    assert len(list(net.parameters())) == 6
    net(tm.ones(1, 2)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_module_dict_behaves_like_torch():
    def build(lib):
        d = lib.ModuleDict({"conv": lib.Conv2d(1, 2, 3), "pool": lib.MaxPool2d(2)})
        d["act"] = lib.ReLU()
        d.update([("fc", lib.Linear(2, 2))])
        del d["pool"]
        popped = d.pop("act")
        return d, popped

    (ours, popped), (theirs, _) = build(nn), build(tnn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(ours) == list(theirs) == ours.keys() == ["conv", "fc"]
    assert "conv" in ours and "pool" not in ours and isinstance(popped, nn.ReLU)
    assert [type(v).__name__ for v in ours.values()] == ["Conv2d", "Linear"]
    ours.clear()
    assert len(ours) == 0 and list(ours.parameters()) == []


# ------------------------------------------------------------------ batch norm 1d
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5)])
def test_batchnorm1d_matches_torch(shape, rng):
    ours, theirs = nn.BatchNorm1d(3).double(), tnn.BatchNorm1d(3).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor([0.5, 2.0, -1.0]))
        theirs.bias.copy_(torch.tensor([0.1, 0.0, 0.3]))
    copy_parameters_back(ours, theirs)
    for _ in range(2):
        compare(ours, theirs, rng.normal(size=shape))
    np.testing.assert_allclose(ours.running_mean, as_numpy(theirs.running_mean), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, as_numpy(theirs.running_var), rtol=1e-12)
    ours.eval()
    theirs.eval()
    compare(ours, theirs, rng.normal(size=shape))


def copy_parameters_back(ours, theirs):
    for name, p in ours.named_parameters():
        as_numpy(p)[...] = as_numpy(dict(theirs.named_parameters())[name])


def test_batchnorm1d_refuses_what_torch_refuses():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(tm.ones(1, 3))
    with pytest.raises(ValueError, match=r"\(N, 3\) or \(N, 3, L\)"):
        nn.BatchNorm1d(3)(tm.ones(2, 4))
    with pytest.raises(ValueError):
        tnn.BatchNorm1d(3)(torch.ones(1, 3))


# ------------------------------------------------------------------ adaptive pooling
@pytest.mark.parametrize("size, output_size", [
    ((6, 6), (1, 1)), ((6, 8), (3, 4)), ((5, 7), (3, 2)), ((5, 7), (None, 3)), ((4, 4), 6),
    ((7, 5), 3),
])
def test_adaptive_avg_pool2d_matches_torch(size, output_size, rng):
    x = rng.normal(size=(2, 3, *size))
    compare(nn.AdaptiveAvgPool2d(output_size), tnn.AdaptiveAvgPool2d(output_size), x)
    compare(nn.AdaptiveAvgPool2d(output_size), tnn.AdaptiveAvgPool2d(output_size), x[0])


# ------------------------------------------------------------------ conv padding
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's note
@pytest.mark.parametrize("kernel", [1, 3, 4, (2, 5), (3, 2)])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv2d_text_padding_matches_torch(kernel, padding, rng):
    ours = nn.Conv2d(2, 3, kernel, padding=padding).double()
    theirs = tnn.Conv2d(2, 3, kernel, padding=padding).double()
    copy_parameters(ours, theirs)
    x = rng.normal(size=(2, 2, 6, 7))
    compare(ours, theirs, x)
    if padding == "same":
        assert ours(tm.tensor(x)).shape[-2:] == (6, 7)
    assert type(ours) is nn.Conv2d and repr(ours).count(f"padding={padding}") == 1


def test_conv2d_same_refuses_strides_like_torch():
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError):
        tnn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="'valid' or 'same'"):
        nn.Conv2d(1, 1, 3, padding="full")


# ------------------------------------------------------------------ lazy layers
def test_lazy_linear_infers_and_becomes_linear_like_torch(rng):
    ours, theirs = nn.LazyLinear(4), tnn.LazyLinear(4)
    weight = ours.weight
    optimizer = SGD(ours.parameters(), lr=0.1)  # built before the shape is known
    x = rng.normal(size=(2, 5))
    ours(tm.tensor(x, dtype=np.float32))
    theirs(torch.tensor(x, dtype=torch.float32))
    assert type(ours) is nn.Linear and type(theirs) is tnn.Linear
    assert ours.in_features == theirs.in_features == 5
    assert ours.weight is weight and ours.weight.shape == tuple(theirs.weight.shape)
    bound = 1 / np.sqrt(5)  # initialised as Linear(5, 4) is
    assert np.abs(as_numpy(ours.weight)).max() <= bound
    before = as_numpy(ours.weight).copy()
    ours(tm.tensor(x, dtype=np.float32)).sum().backward()
    optimizer.step()
    assert not np.allclose(as_numpy(ours.weight), before)
    copy_parameters(ours, theirs.double())
    compare(ours.double(), theirs, x)


def test_lazy_conv2d_infers_and_becomes_conv2d_like_torch(rng):
    ours, theirs = nn.LazyConv2d(3, 3, padding="same"), tnn.LazyConv2d(3, 3, padding="same")
    x = rng.normal(size=(2, 4, 5, 5))
    ours(tm.tensor(x, dtype=np.float32))
    theirs(torch.tensor(x, dtype=torch.float32))
    assert type(ours) is nn.Conv2d and type(theirs) is tnn.Conv2d
    assert ours.in_channels == 4 and ours.weight.shape == tuple(theirs.weight.shape)
    copy_parameters(ours, theirs.double())
    compare(ours.double(), theirs, x)


# ------------------------------------------------------------------ apply and type
def test_apply_and_type_checks_work_like_torch():
    def build(lib):
        return lib.Sequential(lib.Conv2d(1, 2, 3), lib.ReLU(),
                              lib.Sequential(lib.Conv2d(2, 2, 3)), lib.Flatten(),
                              lib.LazyLinear(2))

    def init_weights(m):
        if type(m) == nn.Conv2d:  # noqa: E721 (the tutorials' spelling)
            m.weight.numpy()[...] = 1.0
            seen.append(m)

    seen = []
    model = build(nn)
    assert model.apply(init_weights) is model
    assert len(seen) == 2 and all(np.all(as_numpy(m.weight) == 1.0) for m in seen)
    names = []
    build(tnn).apply(lambda m: names.append(type(m).__name__))
    ours_names = []
    model.apply(lambda m: ours_names.append(type(m).__name__))
    assert ours_names == names


def test_dropout2d_drops_whole_channels_like_torch():
    tm.manual_seed(0)
    for out in (nn.Dropout2d(p=0.25)(tm.ones(64, 16, 3, 3)).numpy(),
                tnn.Dropout2d(p=0.25)(torch.ones(64, 16, 3, 3)).numpy()):
        per_channel = out.reshape(64, 16, 9)
        assert np.all((per_channel == 0).all(-1) | np.isclose(per_channel, 1 / 0.75).all(-1))


def test_dropout2d_reads_3d_input_as_torch_does():
    tm.manual_seed(1)
    with pytest.warns(UserWarning, match="3D input"):
        y = nn.Dropout2d(0.5)(tm.ones(8, 6, 5)).numpy()
    with pytest.warns(UserWarning, match="3D input"):
        ty = tnn.Dropout2d(0.5)(torch.ones(8, 6, 5)).numpy()
    for out in (y, ty):  # one draw per (n, c), shared along the last axis
        assert np.all((out == 0).all(-1) | (out == 2).all(-1))


def test_inplace_is_accepted_with_torchs_repr_and_returns_a_new_tensor():
    x = np.array([[-1.0, 2.0], [3.0, -4.0]]).reshape(1, 2, 1, 2)  # NCHW, for Dropout2d
    pairs = [(nn.ReLU(inplace=True), tnn.ReLU(inplace=True)),
             (nn.LeakyReLU(0.2, True), tnn.LeakyReLU(0.2, True)),
             (nn.Dropout(0.0, inplace=True), tnn.Dropout(0.0, inplace=True)),
             (nn.Dropout2d(0.0), tnn.Dropout2d(0.0))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        mine = tm.tensor(x)
        np.testing.assert_array_equal(ours(mine).numpy(), theirs(torch.tensor(x)).numpy())
        np.testing.assert_array_equal(mine.numpy(), x)  # tinymin leaves the input as it was
    mine = tm.tensor(x)
    np.testing.assert_array_equal(F.relu(mine, inplace=True).numpy(), np.maximum(x, 0))
    assert F.leaky_relu(mine, 0.1, inplace=True).shape == (1, 2, 1, 2)
    assert F.dropout(mine, 0.5, False, inplace=True) is mine  # eval: the identity


@pytest.mark.parametrize("layer", ["Conv2d", "MaxPool2d", "AvgPool2d"])
def test_an_unbatched_image_goes_through_as_in_torch(layer, rng):
    build = {"Conv2d": lambda lib: lib.nn.Conv2d(3, 4, 3, padding=1),
             "MaxPool2d": lambda lib: lib.nn.MaxPool2d(2),
             "AvgPool2d": lambda lib: lib.nn.AvgPool2d(2)}[layer]
    ours, theirs = build(tm), build(torch)
    if layer == "Conv2d":
        theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = rng.normal(size=(3, 6, 6))
    mine, their_x = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if layer == "Conv2d":
        ours.double(), theirs.double()
    y, their_y = ours(mine), theirs(their_x)
    assert y.shape == tuple(their_y.shape)
    np.testing.assert_allclose(y.numpy(), their_y.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.sum().backward()
    their_y.sum().backward()
    np.testing.assert_allclose(mine.grad.numpy(), their_x.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_an_unbatched_image_through_the_min_layer_is_the_batch_of_one():
    layer = nn.MinConv2d(2, 3, 3, padding=1).eval()
    x = tm.tensor(np.random.default_rng(1).normal(size=(2, 5, 5)).astype(np.float32))
    np.testing.assert_array_equal(layer(x).numpy(), layer(x.unsqueeze(0)).numpy()[0])


def test_the_functional_min_conv_takes_an_unbatched_image_and_names_its_shape():
    from tinymin.minconv import MinConvSpec, MinConvState, min_conv2d

    rng = np.random.default_rng(2)
    x = tm.tensor(rng.normal(size=(2, 5, 5)), requires_grad=True)
    w = tm.tensor(rng.normal(size=(3, 2, 3, 3)))
    state = MinConvState(np.ones(1))
    y = min_conv2d(x, w, None, MinConvSpec(padding=1), state, training=False)
    batched = min_conv2d(x.detach().unsqueeze(0), w, None, MinConvSpec(padding=1), state,
                         training=False)
    assert y.shape == (3, 5, 5)
    np.testing.assert_array_equal(y.numpy(), batched.numpy()[0])
    y.sum().backward()
    assert x.grad.shape == (2, 5, 5)
    with pytest.raises(ValueError, match=r"min_conv2d: input shape \(4, 5, 5\) has 4 channels"):
        min_conv2d(tm.zeros(4, 5, 5), w)


POOL_OPTIONS = [("MaxPool2d", {"ceil_mode": True}), ("AvgPool2d", {"ceil_mode": True}),
                ("AvgPool2d", {"count_include_pad": False}),
                ("AvgPool2d", {"ceil_mode": True, "count_include_pad": False}),
                ("AvgPool2d", {"divisor_override": 3})]


@pytest.mark.parametrize("layer, options", POOL_OPTIONS)
@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1), (2, 3, 1), (3, 1, 1)])
@pytest.mark.parametrize("size", [(5, 7), (6, 6)])
def test_pooling_options_match_torch(layer, options, k, s, p, size, rng):
    x = rng.normal(size=(2, 3, *size))
    ours, theirs = getattr(nn, layer)(k, s, p, **options), getattr(tnn, layer)(k, s, p, **options)
    mine, their_x = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, their_y = ours(mine), theirs(their_x)
    assert y.shape == tuple(their_y.shape)
    np.testing.assert_allclose(y.numpy(), their_y.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.normal(size=y.shape)
    (y * tm.tensor(g)).sum().backward()
    (their_y * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(mine.grad.numpy(), their_x.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layer", ["MaxPool2d", "AvgPool2d"])
@pytest.mark.parametrize("size, k, s, p", [((2, 2), 3, 2, 0), ((1, 3), 3, 2, 1), ((2, 5), 4, 3, 1),
                                           ((1, 1), 2, 2, 0)])
def test_ceil_mode_takes_a_kernel_larger_than_the_input_as_torch(layer, size, k, s, p):
    """With ceil_mode, a window that starts inside the input counts even where the
    kernel is larger than the padded input; it was refused before."""
    x = np.arange(np.prod(size), dtype=np.float64).reshape(1, 1, *size) + 1.0
    ours, theirs = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = getattr(nn, layer)(k, s, p, ceil_mode=True)(ours)
    their_y = getattr(tnn, layer)(k, s, p, ceil_mode=True)(theirs)
    np.testing.assert_allclose(y.numpy(), their_y.detach().numpy())
    y.sum().backward()
    their_y.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())


@pytest.mark.parametrize("kernel, padding", [(3, "same"), (2, "same"), ((2, 3), "same"),
                                             (3, "valid"), (3, (1,))], ids=str)
def test_functional_conv2d_takes_text_and_one_element_padding_as_torch(kernel, padding):
    rng = np.random.default_rng(6)
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    x, w = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, *k))
    ours, theirs = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = tm.nn.functional.conv2d(ours, tm.tensor(w), padding=padding)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on even kernels with "same"
        their_y = torch.nn.functional.conv2d(theirs, torch.tensor(w), padding=padding)
    np.testing.assert_allclose(y.numpy(), their_y.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.sum().backward()
    their_y.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sequential_edits_in_place_as_torchs():
    def names_and_types(model):
        return [(name, type(m).__name__) for name, m in model._modules.items()]

    ours = nn.Sequential(nn.ReLU(), nn.Tanh())
    theirs = tnn.Sequential(tnn.ReLU(), tnn.Tanh())
    for model, lib in ((ours, nn), (theirs, tnn)):
        model.append(lib.Sigmoid())
        model.insert(1, lib.LeakyReLU())
        assert type(model.pop(0)).__name__ == "ReLU"
        model[0] = lib.ReLU()
        del model[1]
        model.extend([lib.Tanh()])
    assert names_and_types(ours) == names_and_types(theirs)


def test_get_submodule_and_requires_grad_as_torchs():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    assert model.get_submodule("1.1") is model[1][1] and model.get_submodule("") is model
    with pytest.raises(AttributeError, match="no sub-module '5'"):
        model.get_submodule("1.5")
    assert model[0].requires_grad_(False) is model[0]
    model(tm.ones(1, 2)).sum().backward()
    assert model[0].weight.grad is None and model[1][1].weight.grad is not None
