"""The engine: accumulation, deep graphs, no_grad, errors, sum_to."""

import re

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
    assert w.numpy()[0] == 0.5


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


# ------------------------------------------------------------------------------------------------
# Autograd refuses the silent mistakes PyTorch refuses: a second backward through a freed graph, a
# backward returning the wrong number of gradients, and a saved tensor changed in place between
# forward and backward.


def test_second_backward_raises_with_pytorchs_hint_and_gradients_are_not_doubled():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        loss.backward()
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])


def test_backward_frees_what_the_graph_saved():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    y = w * w
    y.sum().backward()
    assert y.grad_fn.released
    with pytest.raises(RuntimeError, match="MulBackward.*second time"):
        _ = y.grad_fn.saved_tensors


def test_retain_graph_keeps_the_graph_for_a_second_backward():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(w.grad, [4.0, 8.0])


def test_release_callbacks_run_once_when_backward_frees_the_graph():
    calls = []
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    y = w * w
    y.grad_fn.call_on_release(lambda: calls.append("freed"))
    y.sum().backward(retain_graph=True)
    assert calls == []  # a second backward may still read what was saved
    y.sum().backward()
    assert calls == ["freed"]
    y.grad_fn.release()
    assert calls == ["freed"]


def test_a_graph_shared_by_two_losses_needs_retain_graph_like_pytorch():
    w = tm.tensor([3.0], requires_grad=True)
    hidden = w.exp()
    hidden.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (hidden * 2).sum().backward()


def _function_returning(gradients):
    class Scale(tm.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, grad):
            return gradients(grad)

    return Scale


@pytest.mark.parametrize("gradients, count", [
    (lambda g: (g,), 1),
    (lambda g: (g, g, None), 3),
])
def test_backward_returning_the_wrong_number_of_gradients_names_function_and_counts(gradients,
                                                                                   count):
    a = tm.tensor([1.0], requires_grad=True)
    b = tm.tensor([2.0], requires_grad=True)
    out = _function_returning(gradients).apply(a, b)
    with pytest.raises(RuntimeError, match=rf"Scale\.backward returned {count} gradients for 2 inputs"):
        out.sum().backward()


INPLACE = {
    "add_": lambda t: t.add_(1.0),
    "sub_": lambda t: t.sub_(1.0, alpha=2),
    "mul_": lambda t: t.mul_(2.0),
    "zero_": lambda t: t.zero_(),
    "fill_": lambda t: t.fill_(7.0),
    "copy_": lambda t: t.copy_(tm.tensor([5.0, 6.0])),
    "clamp_": lambda t: t.clamp_(max=1.5),
    "__setitem__": lambda t: t.__setitem__(0, 9.0),
    "+=": lambda t: t.__iadd__(1.0),
}


@pytest.mark.parametrize("op", INPLACE)
def test_changing_a_saved_input_in_place_makes_backward_raise_naming_the_op(op):
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    x = tm.tensor([3.0, 4.0])  # saved by the product for w's gradient
    loss = (w * x).sum()
    version = x._version
    INPLACE[op](x)
    assert x._version == version + 1
    with pytest.raises(RuntimeError, match=r"MulFunction.*in-place operation \(" + re.escape(op)):
        loss.backward()


def test_changing_a_saved_output_in_place_makes_backward_raise():
    w = tm.tensor([0.5], requires_grad=True)
    y = w.exp()  # ExpFunction saves its output
    with tm.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError, match="ExpFunction.*the output"):
        y.sum().backward()


def test_a_view_shares_the_version_counter_of_its_base():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    x = tm.tensor([[3.0, 4.0]])
    loss = (w * x).sum()
    x.detach()[0].zero_()  # writes x's memory through a view
    with pytest.raises(RuntimeError, match="MulFunction"):
        loss.backward()


def test_in_place_change_of_a_tensor_the_backward_does_not_need_is_fine():
    w = tm.tensor([1.0, 2.0], requires_grad=True)
    x = tm.tensor([3.0, 4.0])
    loss = (w + x).sum()  # addition saves only shapes
    x.add_(1.0)
    loss.backward()
    np.testing.assert_array_equal(w.grad, [1.0, 1.0])


def test_in_place_methods_compute_the_right_values():
    t = tm.tensor([1.0, -2.0, 3.0])
    assert t.add_(tm.tensor([1.0, 1.0, 1.0]), alpha=2).tolist() == [3.0, 0.0, 5.0]
    assert t.sub_(1.0).tolist() == [2.0, -1.0, 4.0]
    assert t.clamp_(min=0.0).tolist() == [2.0, 0.0, 4.0]
    t[1:] = tm.tensor([7.0, 8.0])
    assert t.tolist() == [2.0, 7.0, 8.0]
    assert t.copy_(np.array(1.5)).tolist() == [1.5, 1.5, 1.5]
    assert t._version == 5
    with pytest.raises(ValueError, match=r"copy_.*\(2,\).*\(3,\)"):
        t.copy_(tm.tensor([1.0, 2.0]))


def test_in_place_methods_refuse_a_tensor_that_requires_grad_outside_no_grad():
    w = tm.tensor([1.0], requires_grad=True)
    for op, fn in INPLACE.items():
        if op == "copy_":
            continue
        with pytest.raises(RuntimeError, match="no_grad"):
            fn(w)
    with tm.no_grad():
        w.zero_()
    assert w.tolist() == [0.0]


def test_an_in_place_op_on_a_tensor_whose_view_is_in_the_graph_is_refused():
    # PyTorch rebases v onto the new x (w.grad = [2, 2, 0]); tinymin cannot, and
    # computing v's gradient from the old graph ([1, 1, 0]) would be silently wrong
    w = tm.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x = w * 1
    v = x[:2]
    with pytest.raises(RuntimeError, match="^mul_: in-place change of a tensor that shares its "
                                           "memory with another one still in use"):
        x.mul_(2)
    assert v.sum().item() == 3.0  # nothing was written


def test_an_in_place_op_through_a_view_of_a_tensor_outside_the_graph_is_refused():
    # PyTorch puts x into the graph; tinymin would leave x's new values without one
    x = tm.zeros(3, dtype=np.float64)
    v = x[0:1]
    w = tm.tensor(np.array([1.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="shares its memory"):
        v += w


def test_views_that_are_gone_or_out_of_the_graph_do_not_block_in_place_ops():
    w = tm.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x = w * 1
    x[:2].sum()  # a view, gone at once
    kept = x.detach()  # a view outside the graph: PyTorch lets it see the change too
    x.mul_(2)
    x.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(kept.numpy(), [2.0, 4.0, 6.0])
