"""The engine: accumulation, deep graphs, no_grad, errors, sum_to."""

import numpy as np
import pytest

import tinymin as tm
from tinymin.autograd import sum_to


def test_scalar_example_by_hand():
    # y = (a * b + a) ** 2 at a=2, b=3: dy/da = 2(ab + a)(b + 1) = 64, dy/db = 2(ab + a)a = 32
    a = tm.tensor(2.0, requires_grad=True)
    b = tm.tensor(3.0, requires_grad=True)
    y = (a * b + a) ** 2
    y.backward()
    assert y.item() == 64.0
    assert a.grad == 64.0 and b.grad == 32.0


def test_gradients_accumulate_like_pytorch():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])


def test_shared_subexpression_gets_the_sum_of_its_uses():
    x = tm.tensor(3.0, requires_grad=True)
    y = x * x
    z = y + y * 2  # dz/dx = 3 * 2x
    z.backward()
    assert x.grad == 18.0


def test_deep_graph_has_no_recursion_limit():
    x = tm.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y + 1.0
    y.backward()
    assert x.grad == 1.0


def test_no_grad_builds_no_graph():
    w = tm.tensor([1.0], requires_grad=True)
    with tm.no_grad():
        y = w * 2
    assert not y.requires_grad and y.grad_fn is None
    assert tm.is_grad_enabled()
    with tm.no_grad():
        with tm.enable_grad():
            z = w * 2
    assert z.requires_grad


def test_backward_errors():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tm.tensor([1.0]).backward()
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (x * 2).backward()
    with pytest.raises(ValueError, match="gradient shape"):
        (x * 2).backward(np.ones(3))
    (x * 2).backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating"):
        tm.tensor([1, 2], requires_grad=True)


def test_only_leaves_keep_grad_unless_retained():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.retain_grad()
    g = h * 3
    g.sum().backward()
    np.testing.assert_array_equal(h.grad, [3.0, 3.0])
    assert g.grad is None


def test_grad_does_not_alias_graph_arrays():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = x + 0.0
    y.sum().backward()
    x.grad[0] = 100.0
    x2 = tm.tensor([1.0, 2.0], requires_grad=True)
    (x2 + 0.0).sum().backward()
    assert x2.grad[0] == 1.0


def test_inplace_update_of_a_leaf_requires_no_grad():
    w = tm.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w -= 0.1
    with tm.no_grad():
        w -= 0.5
    assert w.data[0] == 0.5


@pytest.mark.parametrize(
    "grad_shape, shape, expected",
    [((2, 3), (3,), [2, 2, 2]), ((2, 3), (2, 1), [[3], [3]]), ((4, 2, 3), (1, 3), [[8, 8, 8]]),
     ((2, 3), (), 6), ((2, 3), (2, 3), np.ones((2, 3)))],
)
def test_sum_to(grad_shape, shape, expected):
    np.testing.assert_array_equal(sum_to(np.ones(grad_shape), shape), expected)


def test_sum_to_rejects_larger_shape():
    with pytest.raises(ValueError, match="sum_to"):
        sum_to(np.ones(3), (2, 3))


def test_custom_function_with_context():
    class Cube(tm.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return (grad * 3 * x**2,)

    x = tm.tensor([2.0], requires_grad=True)
    y = Cube.apply(x)
    assert repr(y.grad_fn) == "<CubeBackward>"
    y.sum().backward()
    assert x.grad[0] == 12.0
