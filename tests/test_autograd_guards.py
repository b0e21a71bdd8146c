"""Autograd refuses the silent mistakes PyTorch refuses: a second backward through a
freed graph, a backward returning the wrong number of gradients, and a saved tensor
changed in place between forward and backward."""

import re

import numpy as np
import pytest

import tinymin as tm


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
