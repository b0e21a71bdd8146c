"""nn.Module mechanics, layers, init, state_dict."""

from collections import OrderedDict

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.LeakyReLU(0.1)
        self.fc2 = nn.Linear(8, 3, bias=False)
        self.register_buffer("steps", np.zeros(1))

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_parameters_in_definition_order():
    model = TwoLayer()
    assert [n for n, _ in model.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert [type(c).__name__ for c in model.children()] == ["Linear", "LeakyReLU", "Linear"]
    assert nn.count_parameters(model) == 4 * 8 + 8 + 8 * 3


def test_sequential_keys_like_pytorch_and_repr():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Dropout(0.5), nn.Linear(3, 1))
    assert list(model.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    text = repr(model)
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "(2): Dropout(p=0.5, inplace=False)" in text  # as torch prints it
    assert len(model) == 4 and isinstance(model[1], nn.ReLU)
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["enc.weight", "enc.bias"]


def test_train_eval_propagates():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout()))
    model.eval()
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_both_modes():
    model = TwoLayer()
    model(tm.randn(2, 4)).sum().backward()
    assert model.fc1.weight.grad is not None
    model.zero_grad(set_to_none=False)
    assert (model.fc1.weight.grad == 0).all()
    model.zero_grad()
    assert model.fc1.weight.grad is None


def test_state_dict_round_trip_includes_buffers():
    a, b = TwoLayer(), TwoLayer()
    a.steps = np.array([7.0])
    state = a.state_dict()
    assert list(state) == ["steps", "fc1.weight", "fc1.bias", "fc2.weight"]
    weight_object = b.fc1.weight
    b.load_state_dict(state)
    assert b.fc1.weight is weight_object  # loaded in place: optimizers keep their references
    np.testing.assert_array_equal(b.fc1.weight.numpy(), a.fc1.weight.numpy())
    assert b.steps[0] == 7.0
    state["fc1.weight"][0, 0] = 99  # the state dict holds copies
    assert a.fc1.weight.numpy()[0, 0] != 99


def test_load_state_dict_errors_name_the_keys():
    model = TwoLayer()
    state = model.state_dict()
    del state["fc1.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(RuntimeError, match=r"missing keys: \['fc1.bias'\].*unexpected keys: \['extra'\]"):
        model.load_state_dict(state)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["fc1.bias"] and result.unexpected_keys == ["extra"]
    bad = model.state_dict()
    bad["fc2.weight"] = np.zeros((2, 2))
    with pytest.raises(RuntimeError, match=r"fc2.weight: checkpoint shape \(2, 2\) != model shape \(3, 8\)"):
        model.load_state_dict(bad, strict=False)


def test_load_state_dict_accepts_tensors():
    model = nn.Linear(2, 2)
    model.load_state_dict({"weight": tm.ones(2, 2), "bias": np.zeros(2)})
    assert model.weight.numpy().sum() == 4


def test_shared_parameter_listed_once():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, layer)
    assert len(list(model.parameters())) == 2


def test_module_without_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_init_is_seeded_and_scaled():
    tm.manual_seed(0)
    a = nn.Linear(100, 50).weight.numpy().copy()
    tm.manual_seed(0)
    np.testing.assert_array_equal(a, nn.Linear(100, 50).weight.numpy())
    w = tm.zeros(400, 300)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(np.sqrt(2 / 300), rel=0.05)
    nn.init.xavier_uniform_(w)
    assert np.abs(w.numpy()).max() <= np.sqrt(6 / 700) + 1e-6
    conv_w = tm.zeros(8, 4, 3, 3)
    assert nn.init.fan_in_and_fan_out(conv_w) == (36, 72)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.init.calculate_gain("swish")


def test_double_converts_parameters_for_gradcheck():
    model = TwoLayer().double()
    x = tm.tensor(np.random.default_rng(0).normal(size=(3, 4)))
    assert model.fc1.weight.dtype == np.float64
    assert tm.gradcheck(lambda w: model(x), [model.fc1.weight])


def test_flatten_layer():
    assert nn.Flatten()(tm.ones(2, 3, 4)).shape == (2, 12)
    assert "start_dim=1" in repr(nn.Flatten())


def test_replacing_a_child_keeps_its_place():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    model.add_module("0", nn.Linear(2, 2))
    assert [name for name, _ in model.named_children()] == ["0", "1", "2"]


# ------------------------------------------------------------------------------------------------
# Module.load_state_dict is all or nothing: keys, shapes and dtypes are checked before anything is
# copied, so a bad state dict leaves the model as it was.


class Counted(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.register_buffer("steps", np.zeros(1, dtype=np.int64))

    def forward(self, x):
        return self.fc(x)


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("key, value, message", [
    ("fc.bias", np.zeros(2, dtype=np.complex128), "fc.bias: checkpoint dtype complex128"),
    ("steps", np.array([2.5]), "steps: checkpoint dtype float64 cannot be cast.*int64"),
    ("fc.bias", np.array(["a", "b"]), "fc.bias: checkpoint dtype <U1"),
])
def test_a_value_that_cannot_be_cast_is_refused_and_nothing_is_copied(key, value, message):
    model = Counted()
    before = _snapshot(model)
    state = {k: v + 1 for k, v in model.state_dict().items()}  # every value differs
    state[key] = value
    with pytest.raises(RuntimeError, match=message):
        model.load_state_dict(state)
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, before[name])


def test_a_value_that_casts_is_loaded():
    model = Counted()
    state = model.state_dict()
    state["fc.weight"] = np.full((2, 2), 0.5)  # float64 into float32: same kind
    state["steps"] = np.array([3], dtype=np.int32)
    model.load_state_dict(state)
    assert model.fc.weight.numpy().dtype == np.float32 and model.fc.weight.numpy()[0, 0] == 0.5
    assert model.steps.dtype == np.int64 and model.steps[0] == 3


# ------------------------------------------------------------------------------------------------
# register_parameter: PyTorch's checks and order.


class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_parameter("gain", nn.Parameter(np.ones(2, dtype=np.float32)))
        self.register_parameter("offset", None)
        self.register_parameter("shift", nn.Parameter(np.zeros(2, dtype=np.float32)))


def test_register_parameter_registers_in_order_and_skips_none():
    model = Scale()
    assert [name for name, _ in model.named_parameters()] == ["gain", "shift"]
    assert list(model.state_dict()) == ["gain", "shift"]
    assert model.offset is None
    assert model.gain is model._parameters["gain"]


def test_a_parameter_registered_as_none_can_be_given_later():
    model = Scale()
    model.register_parameter("offset", nn.Parameter(np.full(2, 3.0, dtype=np.float32)))
    assert "offset" in dict(model.named_parameters())
    np.testing.assert_array_equal(model.state_dict()["offset"], [3.0, 3.0])


def test_register_parameter_refuses_what_pytorch_refuses():
    model = Scale()
    with pytest.raises(TypeError, match="cannot assign 'ndarray' object to parameter 'w'"):
        model.register_parameter("w", np.ones(2))
    with pytest.raises(TypeError, match="cannot assign 'Tensor' object to parameter 'w'"):
        model.register_parameter("w", tm.ones(2))
    with pytest.raises(KeyError, match=r'contain "\."'):
        model.register_parameter("a.b", nn.Parameter(np.ones(2)))
    with pytest.raises(KeyError, match="empty string"):
        model.register_parameter("", nn.Parameter(np.ones(2)))
    with pytest.raises(TypeError, match="should be a string"):
        model.register_parameter(3, nn.Parameter(np.ones(2)))
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        model.register_parameter("training", nn.Parameter(np.ones(2)))
    assert [name for name, _ in model.named_parameters()] == ["gain", "shift"]  # nothing changed


def test_a_tensor_buffer_stays_a_tensor_after_loading_and_converting():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", tm.ones(3))

        def forward(self, x):
            return x * self.scale.view(1, 3)

    module = Scaled()
    module.load_state_dict(Scaled().state_dict())
    assert isinstance(module.scale, tm.Tensor)
    assert module(tm.ones(2, 3)).shape == (2, 3)
    module.double()
    assert isinstance(module.scale, tm.Tensor) and module.scale.dtype == np.float64


def test_assigning_a_plain_tensor_over_a_parameter_or_module_is_refused_like_torch():
    lin = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight' "
                                        r"\(tinymin.nn.Parameter or None expected\)"):
        lin.weight = tm.ones(3, 2)
    assert "weight" in dict(lin.named_parameters())
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="as module '0'"):
        setattr(model, "0", tm.ones(1))


def test_a_slice_of_a_sequential_is_a_sequential_with_the_same_names():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    head = model[:-1]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["0", "1"]
    assert head(tm.ones(5, 4)).shape == (5, 3)
    assert list(model[1:]._modules) == ["1", "2"]
    assert isinstance(model[-1], nn.Linear)


class WithCache(nn.Module):
    """A persistent buffer, a non-persistent one and one declared without a value."""

    def __init__(self):
        super().__init__()
        self.register_buffer("count", np.zeros(1, dtype=np.int64))
        self.register_buffer("cache", np.ones(3, dtype=np.float32), persistent=False)
        self.register_buffer("mask", None)


def test_a_non_persistent_buffer_is_a_buffer_but_not_saved_or_loaded_like_torch():
    torch = pytest.importorskip("torch")

    class TheirWithCache(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", torch.zeros(1, dtype=torch.int64))
            self.register_buffer("cache", torch.ones(3), persistent=False)
            self.register_buffer("mask", None)

    mine, theirs = WithCache(), TheirWithCache()
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in theirs.named_buffers()] \
        == ["count", "cache"]
    assert list(mine.state_dict()) == list(theirs.state_dict()) == ["count"]
    fresh = WithCache()
    fresh.cache[...] = 7.0
    assert fresh.load_state_dict({"count": np.array([3])}) == ([], [])  # strict: cache not asked
    assert fresh.count.tolist() == [3] and fresh.cache.tolist() == [7.0, 7.0, 7.0]
    with pytest.raises(RuntimeError, match=r"unexpected keys: \['cache'\]"):
        fresh.load_state_dict({"count": np.array([3]), "cache": np.zeros(3)})
    assert mine.double().cache.dtype == np.float64  # converted with the module all the same


def test_a_buffer_declared_as_none_is_saved_once_it_has_a_value():
    model = WithCache()
    model.mask = np.array([True, False])  # assigning keeps the name a buffer
    assert list(model.state_dict()) == ["count", "mask"]
    del model.cache
    model.register_buffer("cache", np.zeros(2))  # registered again: persistent this time
    assert list(model.state_dict()) == ["count", "mask", "cache"]


def test_register_buffer_refuses_what_pytorch_refuses():
    model = WithCache()
    with pytest.raises(TypeError, match="cannot assign 'list' object to buffer 'b'"):
        model.register_buffer("b", [1.0, 2.0])
    with pytest.raises(KeyError, match=r'contain "\."'):
        model.register_buffer("a.b", np.ones(2))
    with pytest.raises(KeyError, match="empty string"):
        model.register_buffer("", np.ones(2))
    with pytest.raises(TypeError, match="should be a string"):
        model.register_buffer(3, np.ones(2))
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        model.register_buffer("training", np.ones(2))
    assert [n for n, _ in model.named_buffers()] == ["count", "cache"]  # nothing changed


def test_a_tied_layer_is_saved_under_each_name_like_torch():
    torch = pytest.importorskip("torch")
    shared = nn.Linear(2, 2)
    mine = nn.Sequential(shared, nn.ReLU(), shared)
    theirs_shared = torch.nn.Linear(2, 2)
    theirs = torch.nn.Sequential(theirs_shared, torch.nn.ReLU(), theirs_shared)
    assert list(mine.state_dict()) == list(theirs.state_dict()) \
        == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [n for n, _ in mine.named_modules()] == ["", "0", "1"]  # once, as torch's
    assert [n for n, _ in mine.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(shared.weight.numpy(), theirs_shared.weight.detach().numpy())
    assert len(list(mine.parameters())) == 2  # the optimizer still sees each once


def test_a_state_dict_with_one_name_of_a_tied_layer_still_loads():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    old_style = {"0.weight": np.full((2, 2), 3.0), "0.bias": np.zeros(2)}  # first name only
    assert model.load_state_dict(old_style) == ([], [])
    assert shared.weight.numpy().tolist() == [[3.0, 3.0], [3.0, 3.0]]
    with pytest.raises(RuntimeError, match=r"missing keys: \['0.bias', '2.bias'\]"):
        model.load_state_dict({"0.weight": np.zeros((2, 2))})  # no name of the bias at all


def test_assigning_over_a_buffer_follows_torch():
    torch = pytest.importorskip("torch")

    def run(lib, make_parameter):
        module = lib.nn.Module()
        module.register_buffer("b", lib.zeros(2))
        module.b = make_parameter()  # a Parameter replaces the buffer
        names = ([n for n, _ in module.named_parameters()], [n for n, _ in module.named_buffers()])
        module.register_buffer("c", lib.zeros(2))
        with pytest.raises(TypeError, match="cannot assign 'float' as buffer 'c'"):
            module.c = 1.5
        return names, list(module.state_dict())

    assert run(tm, lambda: nn.Parameter(np.ones(2))) == \
        run(torch, lambda: torch.nn.Parameter(torch.ones(2))) == ((["b"], []), ["b", "c"])
