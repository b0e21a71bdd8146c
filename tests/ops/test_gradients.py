"""Finite-difference gradient checks (float64) for every differentiable Tensor op,
on hypothesis-generated shapes that broadcast."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import broadcast_pair, seeds

import tinymin as tm
from tinymin.gradcheck import GradcheckError

# Every test here runs on both kernel backends (numpy twins and Cython; see conftest.py).
pytestmark = pytest.mark.usefixtures("backend")


def t64(array, requires_grad=True):
    return tm.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def rand(rng, shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape)




@given(broadcast_pair, seeds)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
def test_binary_ops_broadcast(op, shapes, seed):
    rng = np.random.default_rng(seed)
    shape_a, shape_b = shapes.input_shapes
    a = t64(rand(rng, shape_a, 0.5, 2.0))
    b = t64(rand(rng, shape_b, 0.5, 2.0))
    fns = {
        "add": lambda x, y: x + y,
        "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y,
        "div": lambda x, y: x / y,
        "pow": lambda x, y: x**y,
    }
    assert tm.gradcheck(fns[op], [a, b])


@given(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), seeds)
@pytest.mark.parametrize(
    "name, fn, low, high",
    [
        ("neg", lambda x: -x, -2, 2),
        ("exp", lambda x: x.exp(), -2, 2),
        ("exp_fn", lambda x: tm.exp(x), -2, 2),
        ("log", lambda x: x.log(), 0.5, 3),
        ("sqrt", lambda x: tm.sqrt(x), 0.5, 3),
        ("abs", lambda x: x.abs(), 0.1, 2),  # away from the kink at 0
        ("abs_neg", lambda x: tm.abs(-x), 0.1, 2),
        ("clip", lambda x: x.clip(-0.5, 0.7), -2, 2),
        ("clip_lower", lambda x: tm.clip(x, min=0.1), -2, 2),
        ("scalar_pow", lambda x: x**3, -2, 2),
        ("rpow", lambda x: 2.0**x, -2, 2),
        ("scalar_mix", lambda x: 3.0 - x / 2.0 + 1.0 / (x * x + 1.0), -2, 2),
    ],
)
def test_unary_ops(name, fn, low, high, shape, seed):
    x = rand(np.random.default_rng(seed), shape, low, high)
    if name == "clip":  # keep finite differences away from the clip boundaries
        x = np.where(np.abs(np.abs(x) - 0.6) < 0.15, 0.0, x)
    if name == "clip_lower":
        x = np.where(np.abs(x - 0.1) < 0.05, 1.0, x)
    assert tm.gradcheck(fn, [t64(x)])


@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seeds, st.data())
def test_reductions(shape, seed, data):
    x = t64(np.random.default_rng(seed).permutation(np.prod(shape)).reshape(shape) * 0.37)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keep = data.draw(st.booleans())
    assert tm.gradcheck(lambda a: a.sum(), [x])
    assert tm.gradcheck(lambda a: a.sum(dim=dim, keepdim=keep), [x])
    assert tm.gradcheck(lambda a: a.mean(axis=dim, keepdims=keep), [x])
    assert tm.gradcheck(lambda a: tm.mean(a, dim), [x])
    assert tm.gradcheck(lambda a: a.max(dim=dim, keepdim=keep).values, [x])
    assert tm.gradcheck(lambda a: a.max(), [x])
    assert tm.gradcheck(lambda a: a.min(dim).values, [x])
    assert tm.gradcheck(lambda a: a.var(dim, correction=0), [x])
    if shape[dim] > 1:  # n - 1 = 0 would divide by zero (nan, as in PyTorch)
        assert tm.gradcheck(lambda a: a.var(dim), [x])
        assert tm.gradcheck(lambda a: a.std(axis=dim, keepdims=keep), [x])
    assert tm.gradcheck(lambda a: a.prod(dim, keep), [x])
    assert tm.gradcheck(lambda a: a.logsumexp(axis=dim), [x])


def test_max_shares_gradient_between_ties():
    x = t64([1.0, 3.0, 3.0])
    x.max().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 0.5])


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), seeds)
def test_matmul_batched(batch, n, k, m, seed):
    rng = np.random.default_rng(seed)
    a = t64(rand(rng, (batch, n, k)))
    b = t64(rand(rng, (k, m)))
    assert tm.gradcheck(lambda x, y: x @ y, [a, b])
    assert tm.gradcheck(lambda x, y: tm.matmul(x, y), [a, t64(rand(rng, (batch, k, m)))])


@pytest.mark.parametrize("shape_a, shape_b", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)),
                                              ((4, 2, 3), (3,))])
def test_matmul_vector_cases(shape_a, shape_b):
    rng = np.random.default_rng(0)
    a, b = t64(rand(rng, shape_a)), t64(rand(rng, shape_b))
    out = a @ b
    np.testing.assert_allclose(out.numpy(), a.numpy() @ b.numpy())
    assert tm.gradcheck(lambda x, y: x @ y, [a, b])


def test_shape_ops():
    rng = np.random.default_rng(1)
    x = t64(rand(rng, (2, 3, 4)))
    assert tm.gradcheck(lambda a: a.reshape(6, 4) * 2, [x])
    assert tm.gradcheck(lambda a: a.view((4, 6)), [x])
    assert tm.gradcheck(lambda a: a.transpose(0, 2), [x])
    assert tm.gradcheck(lambda a: a.permute(2, 0, 1), [x])
    assert tm.gradcheck(lambda a: tm.flatten(a, 1), [x])
    assert tm.gradcheck(lambda a: a.T, [x])
    assert tm.gradcheck(lambda a: a.unsqueeze(1).squeeze(1), [x])


def test_indexing():
    rng = np.random.default_rng(2)
    x = t64(rand(rng, (4, 5)))
    assert tm.gradcheck(lambda a: a[1:3, ::2], [x])
    assert tm.gradcheck(lambda a: a[..., 1], [x])
    assert tm.gradcheck(lambda a: a[np.array([0, 2, 2, 3]), np.array([1, 1, 1, 4])], [x])
    assert tm.gradcheck(lambda a: a[tm.tensor(np.array([3, 3, 0]))], [x])
    assert tm.gradcheck(lambda a: a[a.numpy() > 0], [x])


def test_indexing_with_ints_beside_index_arrays():
    rng = np.random.default_rng(3)
    x = t64(rand(rng, (2, 3, 4)))
    assert tm.gradcheck(lambda a: a[0, :, [0, 1, 1]], [x])  # torch's two steps, repeated
    assert tm.gradcheck(lambda a: a[1, [2, 0], 3], [x])


def test_clamp_with_tensor_bounds_that_broadcast():
    rng = np.random.default_rng(4)
    x = t64(rand(rng, (4, 5)))
    lo = t64(rand(rng, (5,), -1.5, -0.2))
    hi = t64(rand(rng, (4, 1), 0.2, 1.5))
    # keep finite differences away from the kinks: no element within 0.05 of a bound
    data = x.numpy()
    data[np.abs(data - lo.numpy()) < 0.05] += 0.1
    data[np.abs(data - hi.numpy()) < 0.05] += 0.1
    assert tm.gradcheck(lambda a, low, high: a.clamp(low, high), [x, lo, hi])
    wide = t64(rand(rng, (3, 1), -0.5, 0.5))  # a bound of a larger shape than the input
    assert tm.gradcheck(lambda a, low: tm.clamp(a[0], min=low), [x, wide])


def test_repeated_advanced_index_accumulates():
    x = t64([1.0, 2.0])
    x[np.array([0, 0, 1])].sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 1.0])


def test_cat_stack_where():
    rng = np.random.default_rng(3)
    a, b = t64(rand(rng, (2, 3))), t64(rand(rng, (2, 1)))
    assert tm.gradcheck(lambda x, y: tm.cat([x, y, x], dim=1), [a, b])
    c = t64(rand(rng, (2, 3)))
    assert tm.gradcheck(lambda x, y: tm.stack([x, y], dim=1), [a, c])
    condition = a.numpy() > 0
    assert tm.gradcheck(lambda x, y: tm.where(condition, x, y), [a, b])
    assert tm.gradcheck(lambda x: tm.where(condition, x, 0.0), [a])


def test_astype_roundtrip_gradient():
    x = t64([1.0, 2.0])
    y = x.float() * 3
    y.sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


def test_gradcheck_detects_a_wrong_backward():
    class WrongSquare(tm.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved_tensors
            return (grad * a,)  # should be 2 * a

    with pytest.raises(GradcheckError, match="input 0"):
        tm.gradcheck(WrongSquare.apply, [t64([1.0, 2.0])])


def test_gradcheck_wants_float64():
    with pytest.raises(TypeError, match="float64"):
        tm.gradcheck(lambda a: a * 2, [tm.tensor([1.0], requires_grad=True)])
