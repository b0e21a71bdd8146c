"""Tensor construction, dtypes, properties, repr, comparisons and shape errors."""

import numpy as np
import pytest

import tinymin as tm


def test_dtype_rules():
    assert tm.tensor([1.0, 2.0]).dtype == np.float32
    assert tm.tensor(np.zeros(2)).dtype == np.float64  # float64 kept from numpy
    assert tm.tensor([1.0], dtype=np.float64).dtype == np.float64
    assert tm.tensor([1, 2]).dtype == np.int64
    assert tm.tensor([True]).dtype == np.bool_
    assert tm.tensor(np.zeros(2, dtype=np.float16)).dtype == np.float32
    assert (tm.tensor([1.0]) * 2.5).dtype == np.float32  # python scalars do not upcast


def test_tensor_copies_but_from_numpy_shares():
    a = np.zeros(3)
    t = tm.tensor(a)
    a[0] = 1
    assert t.data[0] == 0
    s = tm.from_numpy(a)
    a[1] = 5
    assert s.data[1] == 5


def test_properties_and_conversions():
    t = tm.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert t.shape == (2, 2) and t.ndim == 2 and t.numel() == 4 and len(t) == 2
    assert isinstance(t.numpy(), np.ndarray)
    assert t.sum().item() == 10.0
    d = t.detach()
    assert not d.requires_grad and d.data is t.data
    with pytest.raises(ValueError, match="one-element"):
        t.item()


def test_repr_shows_the_op():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<MulBackward>" in repr(x * 2)
    assert repr(tm.tensor([1.0])) == "tensor([1.])"


def test_comparisons_return_bool_tensors_without_grad():
    x = tm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = x > 1.5
    assert mask.dtype == np.bool_ and not mask.requires_grad
    assert (x == 2.0).tolist() == [False, True, False]
    assert (x <= 2).tolist() == [True, True, False]
    assert (x != 1.0).data.sum() == 2 and (x >= 3).data.sum() == 1 and (x < 2).data.sum() == 1


def test_numpy_arrays_on_the_left_defer_to_tensor():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([2.0, 2.0], dtype=np.float32) * x
    assert isinstance(y, tm.Tensor) and y.requires_grad


def test_reductions_accept_torch_and_numpy_names():
    x = tm.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.sum(dim=1).data, x.sum(axis=1).data)
    assert x.mean(1, keepdim=True).shape == (2, 1)
    assert x.mean(axis=1, keepdims=True).shape == (2, 1)
    values, indices = x.max(dim=1)
    assert values.tolist() == [2.0, 5.0] and indices.tolist() == [2, 2]
    assert x.max(axis=0).tolist() == [3.0, 4.0, 5.0]
    assert x.min(0).indices.tolist() == [0, 0, 0]
    assert x.argmax(1).tolist() == [2, 2]
    with pytest.raises(TypeError, match="dim= or axis="):
        x.sum(dim=0, axis=1)
    with pytest.raises(ValueError, match="out of range"):
        x.sum(dim=2)


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda: tm.tensor(np.ones((2, 3))) @ tm.tensor(np.ones((2, 3))), r"matmul.*\(2, 3\).*\(2, 3\)"),
        (lambda: tm.tensor(np.ones(6)).reshape(4, 2), r"reshape.*\(6,\).*\(4, 2\)"),
        (lambda: tm.cat([tm.ones(2, 3), tm.ones(3, 2)], dim=0), r"cat.*\(2, 3\).*\(3, 2\)"),
        (lambda: tm.stack([tm.ones(2), tm.ones(3)]), r"stack.*\(2,\).*\(3,\)"),
        (lambda: tm.ones(2, 3).permute(0, 0), "permute"),
        (lambda: tm.ones(2).clip(), "clip"),
        (lambda: bool(tm.ones(2)), "ambiguous"),
        (lambda: tm.cat([]), "non-empty"),
    ],
)
def test_shape_errors_name_the_op_and_shapes(fn, message):
    with pytest.raises(ValueError, match=message):
        fn()


def test_constructors_and_seed():
    assert tm.zeros(2, 3).shape == (2, 3) and tm.ones((2,)).data.sum() == 2
    assert tm.zeros_like(tm.ones(2)).data.sum() == 0 and tm.ones_like(tm.zeros(3)).data.sum() == 3
    assert tm.arange(4).tolist() == [0, 1, 2, 3]
    tm.manual_seed(5)
    a = tm.randn(3).data.copy()
    tm.manual_seed(5)
    np.testing.assert_array_equal(a, tm.randn(3).data)
    assert 0 <= tm.rand(10).data.min() and tm.rand(10).data.max() < 1
    with pytest.raises(ValueError, match="seed"):
        tm.manual_seed(-1)


def test_version():
    assert tm.__version__.count(".") == 2


# ------------------------------------------------------------------------------------------------
# The Tensor methods and tinymin.* functions PyTorch users type without thinking: values against
# numpy, and a float64 gradient check for each differentiable one.


def t64(array, requires_grad=True):
    return tm.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


RNG = np.random.default_rng(0)
X = RNG.uniform(-2, 2, size=(3, 4))
POSITIVE = RNG.uniform(0.5, 2, size=(3, 4))

DIFFERENTIABLE = {
    "relu": (lambda x: x.relu(), X + 0.05),  # away from the kink at 0
    "tm.relu": (lambda x: tm.relu(x), X + 0.05),
    "tanh": (lambda x: x.tanh(), X),
    "tm.tanh": (lambda x: tm.tanh(x), X),
    "sigmoid": (lambda x: x.sigmoid(), X),
    "tm.sigmoid": (lambda x: tm.sigmoid(x), X),
    "softmax": (lambda x: x.softmax(0), X),
    "tm.softmax": (lambda x: tm.softmax(x, dim=1), X),
    "log_softmax": (lambda x: x.log_softmax(dim=-1), X),
    "std": (lambda x: x.std(1), X),
    "std_unbiased": (lambda x: x.std(unbiased=True), X),
    "expand": (lambda x: x[:, :1].expand(2, 3, -1), X),
    "tm.expand": (lambda x: tm.expand(x[0], (3, 4)), X),
    "repeat": (lambda x: x.repeat(2, 1, 3), X),
    "t": (lambda x: x.t(), X),
    "pow": (lambda x: x.pow(3), X),
    "pow_tensor": (lambda x: x.pow(x), POSITIVE),
    "square": (lambda x: x.square(), X),
    "maximum": (lambda x: x.maximum(x.t().t()[::-1]), X),
    "tm.maximum_scalar": (lambda x: tm.maximum(x, 0.3), X),
    "minimum": (lambda x: x.minimum(x[:1]), X),
    "tm.minimum": (lambda x: tm.minimum(x[:, 1:2], x), X),
    "clone": (lambda x: x.clone() * x, X),
    "contiguous": (lambda x: x.t().contiguous() * 2, X),
    "chunk": (lambda x: x.chunk(2, dim=1)[1] * 3, X),
    "tm.chunk": (lambda x: tm.chunk(x, 2)[0], X),
    "split": (lambda x: x.split([1, 3], dim=1)[1], X),
    "tm.split": (lambda x: tm.cat(tm.split(x, 2), 0) * 2, X),
    "logsumexp": (lambda x: x.logsumexp(1), X),
    "logsumexp_all": (lambda x: tm.logsumexp(x * 300), X),
}


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradcheck(name):
    fn, data = DIFFERENTIABLE[name]
    assert tm.gradcheck(fn, [t64(data)])


def test_gradcheck_maximum_of_two_inputs_that_broadcast():
    assert tm.gradcheck(tm.maximum, [t64(X), t64(X[1])])
    assert tm.gradcheck(tm.minimum, [t64(X[:, :1]), t64(X)])


def test_maximum_and_minimum_share_the_gradient_where_they_tie():
    a, b = tm.tensor([1.0, 2.0], requires_grad=True), tm.tensor([1.0, 3.0], requires_grad=True)
    tm.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 0.0] and b.grad.tolist() == [0.5, 1.0]
    assert tm.minimum(a, b).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"maximum.*\(2,\).*\(3,\)"):
        tm.maximum(a, tm.ones(3))


def test_values_match_numpy():
    x = tm.tensor(X)
    np.testing.assert_allclose(x.relu().data, np.maximum(X, 0))
    np.testing.assert_allclose(x.softmax(1).data.sum(1), 1.0)
    np.testing.assert_allclose(x.std(1).data, X.std(1))
    np.testing.assert_allclose(x.std(1, unbiased=True).data, X.std(1, ddof=1))
    np.testing.assert_allclose(x.logsumexp(0).data, np.log(np.exp(X).sum(0)))
    assert x.logsumexp(1, keepdim=True).shape == (3, 1)
    np.testing.assert_array_equal(x[:, :1].expand(2, -1, 4).data, np.broadcast_to(X[:, :1], (2, 3, 4)))
    np.testing.assert_array_equal(x.repeat(2, 1, 3).data, np.tile(X, (2, 1, 3)))
    assert x.repeat(0, 1).shape == (0, 4)
    np.testing.assert_array_equal(x.t().data, X.T)
    np.testing.assert_array_equal(x.square().data, X**2)
    np.testing.assert_array_equal(x.pow(2).data, X**2)
    np.testing.assert_array_equal(x.sign().data, np.sign(X))
    np.testing.assert_array_equal(x.argmin(1).data, X.argmin(1))
    assert x.argmin().item() == X.argmin() and tm.argmax(x, 0, keepdim=True).shape == (1, 4)
    np.testing.assert_array_equal(tm.maximum(x, 0.0).data, np.maximum(X, 0))
    np.testing.assert_array_equal(x.minimum(tm.zeros(4)).data, np.minimum(X, 0))
    assert [c.shape for c in x.chunk(3, dim=1)] == [(3, 2), (3, 2)]
    assert [c.shape for c in x.split(3, dim=1)] == [(3, 3), (3, 1)]
    np.testing.assert_array_equal(tm.cat(x.split([1, 2]), 0).data, X)


def test_logsumexp_does_not_overflow():
    x = tm.tensor([1000.0, 1000.0])
    assert x.logsumexp().item() == pytest.approx(1000 + np.log(2))
    assert tm.tensor([-np.inf, -np.inf]).logsumexp().item() == -np.inf


def test_clone_and_contiguous():
    x = tm.tensor(X, requires_grad=True)
    copy = x.clone()
    assert copy.data is not x.data and copy.grad_fn is not None
    assert x.contiguous() is x
    transposed = x.t()
    assert not transposed.data.flags.c_contiguous
    assert transposed.contiguous().data.flags.c_contiguous


def test_comparisons_all_any_have_method_names():
    x = tm.tensor([1.0, 2.0, 3.0])
    assert x.eq(2.0).tolist() == [False, True, False] and x.ne(2.0).tolist() == [True, False, True]
    assert x.lt(2).tolist() == [True, False, False] and x.le(2).tolist() == [True, True, False]
    assert x.gt(2).tolist() == [False, False, True] and x.ge(2).tolist() == [False, True, True]
    assert x.gt(0).all().item() and not x.gt(1).all().item() and x.gt(2).any().item()
    assert tm.tensor([[True, False]]).any(dim=1, keepdim=True).shape == (1, 1)


def test_constructors():
    full = tm.full((2, 3), 1.5)
    assert full.dtype == np.float32 and full.data.tolist() == [[1.5] * 3] * 2
    assert tm.full(2, 7).dtype == np.int64 and tm.full((1,), True).dtype == np.bool_
    np.testing.assert_array_equal(tm.eye(3).data, np.eye(3))
    assert tm.eye(2, 3, dtype=np.float64).shape == (2, 3)
    np.testing.assert_allclose(tm.linspace(0, 1, 5).data, [0, 0.25, 0.5, 0.75, 1])
    tm.manual_seed(0)
    r = tm.randint(3, 5, (100,))
    assert r.dtype == np.int64 and set(r.tolist()) == {3, 4}
    assert tm.randint(4, size=(2, 2)).data.max() < 4 and tm.randint(2, 10).shape == (10,)
    like = tm.randn_like(tm.zeros(2, 3, dtype=np.float64))
    assert like.shape == (2, 3) and like.dtype == np.float64


@pytest.mark.parametrize("fn, error, message", [
    (lambda: tm.ones(2, 3, 4).t(), ValueError, r"t: .*\(2, 3, 4\)"),
    (lambda: tm.ones(2, 3).expand(4, 3, 2), ValueError, r"expand.*\(2, 3\)"),
    (lambda: tm.ones(2).expand(-1, 2), ValueError, "expand"),
    (lambda: tm.ones(2, 3).repeat(2), ValueError, "repeat"),
    (lambda: tm.ones(4).split(0), ValueError, "split"),
    (lambda: tm.ones(4).split([1, 2]), ValueError, r"split.*\[1, 2\].*4"),
    (lambda: tm.ones(4).chunk(0), ValueError, "chunk"),
    (lambda: tm.linspace(0, 1, -1), ValueError, "linspace"),
    (lambda: tm.randint(5, 5, (2,)), ValueError, "randint"),
    (lambda: tm.randn_like(tm.zeros(2, dtype=np.int64)), TypeError, "randn_like"),
])
def test_bad_arguments_name_the_function(fn, error, message):
    with pytest.raises(error, match=message):
        fn()
