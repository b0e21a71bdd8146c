"""tinymin.nn.init: the fills PyTorch's ``torch.nn.init`` offers, in place, returning the
tensor, with the dtype kept; the random ones drawn from tinymin's seeded generator with the
scale their formula gives."""

import math

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fill, expected", [
    (nn.init.zeros_, 0.0),
    (nn.init.ones_, 1.0),
    (lambda t: nn.init.constant_(t, -2.5), -2.5),
])
def test_constant_fills_write_in_place_and_keep_the_dtype(fill, expected, dtype):
    t = tm.tensor(np.random.default_rng(0).normal(size=(3, 4, 2)).astype(dtype))
    storage = t.numpy()
    assert fill(t) is t
    assert t.numpy() is storage  # written into, not replaced
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.full((3, 4, 2), expected, dtype=dtype))


def test_fills_work_on_a_parameter_and_its_module_sees_them():
    layer = nn.Linear(3, 2)
    nn.init.zeros_(layer.bias)
    nn.init.constant_(layer.weight, 0.5)
    out = layer(tm.ones(1, 3))
    np.testing.assert_allclose(out.numpy(), [[1.5, 1.5]])


def test_constant_casts_the_value_to_the_tensor_dtype():
    t = tm.zeros(2, 2)  # float32
    nn.init.constant_(t, 1 / 3)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), np.float32(1 / 3))


@pytest.mark.parametrize("shape, gain", [((500, 300), 1.0), ((64, 32, 5, 5), 2.0)])
def test_xavier_normal_std_follows_the_glorot_formula(shape, gain):
    fan_in, fan_out = nn.init.fan_in_and_fan_out(tm.zeros(*shape))
    expected_std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    tm.manual_seed(0)
    w = nn.init.xavier_normal_(tm.zeros(*shape), gain=gain)
    n = w.numpy().size
    # The sample std of n normal draws has a relative standard error of 1/sqrt(2n) (0.2% and
    # 0.3% here): 2% is far outside what chance gives, well inside a wrong formula's error.
    assert w.numpy().std() == pytest.approx(expected_std, rel=0.02)
    assert abs(w.numpy().mean()) < 5 * expected_std / math.sqrt(n)
    # normal, not uniform: about 68.3% of the draws lie within one std
    assert np.mean(np.abs(w.numpy()) < expected_std) == pytest.approx(0.683, abs=0.01)


def test_xavier_normal_is_seeded_by_manual_seed():
    tm.manual_seed(3)
    a = nn.init.xavier_normal_(tm.zeros(20, 10)).numpy().copy()
    tm.manual_seed(3)
    np.testing.assert_array_equal(nn.init.xavier_normal_(tm.zeros(20, 10)).numpy(), a)


def test_uniform_and_normal_draw_from_the_distribution_they_name():
    tm.manual_seed(1)
    u = nn.init.uniform_(tm.zeros(400, 250), a=-3.0, b=5.0)
    assert u.numpy().min() >= -3.0 and u.numpy().max() < 5.0
    assert u.numpy().mean() == pytest.approx(1.0, abs=0.05)  # (a + b) / 2; its std error is 0.005
    assert u.numpy().std() == pytest.approx(8 / math.sqrt(12), rel=0.02)
    n = nn.init.normal_(tm.zeros(400, 250), mean=2.0, std=0.5)
    assert n.numpy().mean() == pytest.approx(2.0, abs=0.01)  # std error 0.001
    assert n.numpy().std() == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize("nonlinearity, a, gain", [("relu", 0.0, math.sqrt(2)),
                                                    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)),
                                                    ("linear", 0.0, 1.0)])
def test_kaiming_uniform_bound_follows_he_formula(nonlinearity, a, gain):
    w = tm.zeros(256, 64, 3, 3)  # fan_in 576, fan_out 2304
    tm.manual_seed(2)
    nn.init.kaiming_uniform_(w, a=a, nonlinearity=nonlinearity)
    bound = gain * math.sqrt(3 / 576)
    assert np.abs(w.numpy()).max() <= bound * (1 + 1e-6)
    assert np.abs(w.numpy()).max() > 0.99 * bound  # 147,456 draws reach the bound
    assert w.numpy().std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    nn.init.kaiming_uniform_(w, a=a, mode="fan_out", nonlinearity=nonlinearity)
    assert np.abs(w.numpy()).max() <= gain * math.sqrt(3 / 2304) * (1 + 1e-6)
    with pytest.raises(ValueError, match="mode"):
        nn.init.kaiming_uniform_(w, mode="fan_middle")


@pytest.mark.parametrize("name", ["uniform_", "normal_", "kaiming_uniform_", "kaiming_normal_",
                                  "xavier_uniform_", "xavier_normal_"])
def test_a_generator_draws_apart_from_the_global_one_and_repeats(name):
    def draw(seed):
        t = tm.zeros(8, 4)
        getattr(nn.init, name)(t, generator=tm.Generator().manual_seed(seed))
        return t.numpy().copy()

    tm.manual_seed(0)
    before = tm.rand(3).numpy()
    first = draw(7)
    tm.manual_seed(0)
    draw(7)
    np.testing.assert_array_equal(tm.rand(3).numpy(), before)  # the global stream untouched
    np.testing.assert_array_equal(draw(7), first)
    assert not np.array_equal(draw(8), first)


def test_constant_takes_torchs_keyword():
    assert nn.init.constant_(tm.zeros(2), val=1.5).numpy().tolist() == [1.5, 1.5]


def test_a_generator_of_another_library_is_named():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="generator must be a tinymin.Generator, got torch._C.Generator"):
        nn.init.uniform_(tm.zeros(2), generator=torch.Generator())
