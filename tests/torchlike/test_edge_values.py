"""Values at the edges that PyTorch handles and a naive formula does not: relu of -inf,
the gradient of x**0 at 0, and softmax without a dim (PyTorch's guess, not the last
axis)."""

import warnings

import numpy as np
import pytest

import tinymin as tm
import tinymin.nn.functional as F

torch = pytest.importorskip("torch", reason="the PyTorch oracle tests need torch (the torch extra)")


def test_relu_of_infinities_and_nan_is_torchs():
    x = np.array([-np.inf, -1.0, -0.0, 0.0, 2.0, np.inf, np.nan], np.float32)
    ours = F.relu(tm.tensor(x))
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours.numpy(), torch.relu(torch.tensor(x)).numpy())


def test_the_gradient_of_x_to_the_zero_is_zero_at_zero():
    base = np.array([0.0, 2.0, -3.0])
    exponent = np.array([0.0, 0.0, 2.0])
    ours, theirs = tm.tensor(base, requires_grad=True), torch.tensor(base, requires_grad=True)
    (ours ** tm.tensor(exponent)).sum().backward()
    (theirs ** torch.tensor(exponent)).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())  # [0, 0, -6]


@pytest.mark.parametrize("shape", [(5,), (2, 5), (3, 4, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_without_a_dim_takes_torchs_guess_with_its_warning(name, shape):
    x = np.random.default_rng(0).normal(size=shape)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = getattr(F, name)(tm.tensor(x))
    theirs = getattr(torch.nn.functional, name)(torch.tensor(x))  # warns too
    assert any("Implicit dimension choice" in str(w.message) for w in caught)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("values", [[1, 2, -3], [True, False]])
def test_sigmoid_of_integers_or_booleans_is_a_float_not_rounded_back(values):
    ours = tm.sigmoid(tm.tensor(values))
    theirs = torch.sigmoid(torch.tensor(values))  # float32, torch's default float type
    assert ours.dtype == np.float64  # numpy's promotion, as exp (coming_from_pytorch.rst)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_leaky_relu_of_integers_is_refused_like_torch():
    with pytest.raises(NotImplementedError):
        torch.nn.functional.leaky_relu(torch.tensor([1, -2]))
    with pytest.raises(TypeError, match="leaky_relu: needs a floating-point tensor, got int64"):
        F.leaky_relu(tm.tensor([1, -2]))


MIXED_KIND_OPS = {
    "a * i": lambda lib, a, i: a * i,
    "i + a": lambda lib, a, i: i + a,
    "a - i": lambda lib, a, i: a - i,
    "i / a": lambda lib, a, i: i / a,
    "a ** i": lambda lib, a, i: a ** i,
    "where": lambda lib, a, i: lib.where(a > 0, a, i),
    "cat": lambda lib, a, i: lib.cat([a, i]),
    "stack": lambda lib, a, i: lib.stack([i, a]),
    "maximum": lambda lib, a, i: lib.maximum(a, i),
    "clamp": lambda lib, a, i: a.clamp(min=-i, max=i),
    "matmul": lambda lib, a, i: a @ i.to(a.dtype) if lib is torch else a @ i,
}


@pytest.mark.parametrize("op", MIXED_KIND_OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_integer_tensor_met_by_a_float_one_takes_its_dtype_as_in_torch(op, dtype):
    a = np.array([0.5, -1.5, 2.0, 3.0], dtype)
    i = np.array([1, 2, 0, 3])
    ours = MIXED_KIND_OPS[op](tm, tm.tensor(a), tm.tensor(i))
    theirs = MIXED_KIND_OPS[op](torch, torch.tensor(a), torch.tensor(i))
    assert ours.dtype == dtype == theirs.numpy().dtype
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_the_float_operand_gets_its_gradient_in_its_own_dtype():
    a = tm.tensor(np.array([0.5, -1.5], np.float32), requires_grad=True)
    (a * tm.tensor([2, 3]) + tm.where(a > 0, a, tm.tensor([7, 7]))).sum().backward()
    assert a.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 3.0])
