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
