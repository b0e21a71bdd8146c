"""PyTorch's names that learners meet first (issue #20, item 6) and its autograd idioms
(item 9), each against PyTorch itself."""

import math

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn

torch = pytest.importorskip("torch", reason="the oracle tests compare with PyTorch (pip install torch)")

RNG = np.random.default_rng(0)
A = RNG.normal(size=(2, 3))


def same(ours, theirs, **tolerance):
    """Same shape, dtype and values (theirs a torch tensor)."""
    theirs = theirs.detach()
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), **(tolerance or {"rtol": 1e-12}))


# --------------------------------------------------------------------- item 6
def test_shape_and_dtype_of_another_tensor():
    x, t = tm.tensor(A), torch.tensor(A)
    other, t_other = tm.zeros(3, 2, dtype=tm.int64), torch.zeros(3, 2, dtype=torch.int64)
    same(x.view_as(other), t.view_as(t_other))
    same(x.reshape_as(other), t.reshape_as(t_other))
    same(x[:1].expand_as(tm.zeros(4, 2, 3)), t[:1].expand_as(torch.zeros(4, 2, 3)))
    same(x.type_as(other), t.type_as(t_other))


def test_new_tensors_take_this_ones_dtype():
    for dtype, t_dtype in [(tm.float64, torch.float64), (tm.int64, torch.int64)]:
        x, t = tm.zeros(2, dtype=dtype), torch.zeros(2, dtype=t_dtype)
        same(x.new_zeros(2, 3), t.new_zeros(2, 3))
        same(x.new_ones((3,)), t.new_ones((3,)))
        same(x.new_full((2, 2), 7), t.new_full((2, 2), 7))
        same(x.new_tensor([1, 2]), t.new_tensor([1, 2]))
        same(x.new_zeros(2, dtype=tm.float32), t.new_zeros(2, dtype=torch.float32))
    assert tm.zeros(1).new_ones(2, requires_grad=True).requires_grad


def test_unsqueeze_squeeze_functions():
    x, t = tm.tensor(A).reshape(2, 1, 3), torch.tensor(A).reshape(2, 1, 3)
    for dim in (0, 1, -1):
        same(tm.unsqueeze(x, dim), torch.unsqueeze(t, dim))
        same(x.unsqueeze(dim), t.unsqueeze(dim))
    for dim in (None, 0, 1, -2, (0, 1)):
        ours = tm.squeeze(x) if dim is None else tm.squeeze(x, dim)
        theirs = torch.squeeze(t) if dim is None else torch.squeeze(t, dim)
        same(ours, theirs)  # a dim that is not 1 is left alone, as in torch


def test_randperm_is_a_seeded_permutation():
    tm.manual_seed(3)
    first = tm.randperm(10)
    tm.manual_seed(3)
    assert tm.randperm(10).tolist() == first.tolist()
    assert sorted(first.tolist()) == list(range(10))
    assert first.dtype == np.int64 and str(torch.randperm(10).dtype) == "torch.int64"
    assert tm.randperm(0).shape == (0,)


def test_allclose_and_isnan():
    a, b = A, A + 1e-9
    assert tm.allclose(tm.tensor(a), tm.tensor(b)) == torch.allclose(torch.tensor(a), torch.tensor(b))
    assert tm.allclose(tm.tensor(a), tm.tensor(a + 1)) == torch.allclose(torch.tensor(a),
                                                                          torch.tensor(a + 1))
    with_nan = np.array([1.0, np.nan, np.inf])
    same(tm.isnan(tm.tensor(with_nan)), torch.isnan(torch.tensor(with_nan)))
    same(tm.tensor(with_nan).isnan(), torch.tensor(with_nan).isnan())
    assert tm.allclose(tm.tensor(with_nan), tm.tensor(with_nan), equal_nan=True)


def test_set_grad_enabled_as_function_and_context_and_inference_mode():
    w = tm.tensor([1.0], requires_grad=True)
    with tm.set_grad_enabled(False):
        assert not (w * 2).requires_grad
    assert (w * 2).requires_grad
    tm.set_grad_enabled(False)
    try:
        assert not tm.is_grad_enabled() and not (w * 2).requires_grad
    finally:
        tm.set_grad_enabled(True)
    assert tm.is_grad_enabled()
    with tm.inference_mode():
        assert not (w * 2).requires_grad
    with tm.inference_mode(False):
        assert (w * 2).requires_grad

    @tm.no_grad()
    def evaluate():
        return w * 2

    assert not evaluate().requires_grad


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    grads = [RNG.normal(size=s).astype(np.float32) for s in [(3, 4), (4,), (2, 2, 2)]]
    ours = [nn.Parameter(np.zeros_like(g)) for g in grads]
    theirs = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads]
    for p, t, g in zip(ours, theirs, grads):
        p.grad, t.grad = tm.tensor(g), torch.tensor(g)
    ours.append(nn.Parameter(np.zeros(2)))  # no grad: skipped
    kind = math.inf if norm_type == "inf" else norm_type
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=kind)
    same(total, t_total, rtol=1e-6)
    for p, t in zip(ours, theirs):
        same(p.grad, t.grad, rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_refuses_a_nonfinite_norm_when_asked():
    p = nn.Parameter(np.zeros(2, dtype=np.float32))
    p.grad = tm.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="inf"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    t = torch.nn.Parameter(torch.zeros(2))
    t.grad = torch.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(t, 1.0, error_if_nonfinite=True)


# --------------------------------------------------------------------- item 9
def test_grad_is_a_tensor_with_zero_and_norm():
    x, t = tm.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    (x * x).sum().backward()
    (t * t).sum().backward()
    assert isinstance(x.grad, tm.Tensor) and not x.grad.requires_grad
    same(x.grad, t.grad)
    same(x.grad.norm(), t.grad.norm())
    same(x.grad.norm(1), t.grad.norm(1))
    assert isinstance(x.grad.numpy(), np.ndarray)  # the learner's array, one call away
    x.grad.zero_()
    t.grad.zero_()
    same(x.grad, t.grad)
    (x * 3).sum().backward()  # accumulates into the zeroed gradient
    (t * 3).sum().backward()
    same(x.grad, t.grad)
    with pytest.raises(TypeError, match="Tensor or None"):
        x.grad = np.zeros((2, 3))
    with pytest.raises(ValueError, match="shape"):
        x.grad = tm.zeros(3)


def test_data_shares_memory_without_history():
    w = tm.tensor(A, requires_grad=True)
    tm.manual_seed(0)
    assert w.data.normal_(0, 0.01) is not None  # no no_grad needed, as in torch
    assert float(w.abs().max()) < 0.1 and w.requires_grad and not w.data.requires_grad
    b = tm.ones(3, requires_grad=True)
    b.data.fill_(0)
    assert b.tolist() == [0.0, 0.0, 0.0]
    t = torch.ones(3, requires_grad=True)
    t.data.fill_(0)
    assert t.tolist() == b.tolist()
    w.data = tm.ones(2, 2, dtype=tm.float64)  # replaces the numbers, as in torch
    assert w.shape == (2, 2)


def _linreg_data():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(40, 2)).astype(np.float32)
    labels = (features @ np.array([2.0, -3.4], dtype=np.float32) + 4.2).reshape(-1, 1)
    return features, labels.astype(np.float32)


def _d2l_sgd(lib, w0):
    """d2l's linear regression from scratch, in the library ``lib`` (tinymin or torch)."""
    features, labels = _linreg_data()
    features, labels = lib.tensor(features), lib.tensor(labels)
    w = lib.tensor(w0, requires_grad=True)
    b = lib.zeros(1, requires_grad=True)
    lr, batch_size = 0.03, 10

    def sgd(params, lr, batch_size):
        with lib.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
                param.grad.zero_()

    for _ in range(3):
        for i in range(0, 40, batch_size):
            X, y = features[i:i + batch_size], labels[i:i + batch_size]
            y_hat = lib.matmul(X, w) + b
            loss = (y_hat - y.reshape(y_hat.shape)) ** 2 / 2
            loss.sum().backward()
            sgd([w, b], lr, batch_size)
    return w, b


def test_d2l_sgd_from_scratch_matches_torch():
    w0 = np.random.default_rng(2).normal(0, 0.01, size=(2, 1)).astype(np.float32)
    (w, b), (tw, tb) = _d2l_sgd(tm, w0), _d2l_sgd(torch, w0)
    same(w, tw, rtol=1e-5)
    same(b, tb, rtol=1e-5)


def test_in_place_on_a_graph_tensor_records_as_torch():
    values = {}
    for lib in (tm, torch):
        a = lib.tensor([1.5, -2.0], requires_grad=True)
        b = lib.tensor([0.5, 3.0], requires_grad=True)
        c = a * b
        d = c * 2  # recorded before c changes: its edge goes to the old c
        c += c + 1
        c *= b
        c.sub_(a, alpha=2)
        c /= 4
        c.add_(1)
        (c.sum() + d.sum()).backward()
        values[lib] = (c.detach().numpy(), a.grad.numpy(), b.grad.numpy())
    for ours, theirs in zip(values[tm], values[torch]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_in_place_on_a_leaf_that_requires_grad_is_refused_as_in_torch():
    w = tm.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w += 1
    with pytest.raises(RuntimeError):
        torch_w = torch.tensor([1.0], requires_grad=True)
        torch_w += 1
    with pytest.raises(RuntimeError, match="view"):
        y = w * 2
        y[0:1].mul_(3)


def test_a_saved_tensor_changed_in_place_is_caught_as_in_torch():
    for lib in (tm, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        y = a.exp()  # saves its output
        y += 1
        with pytest.raises(RuntimeError, match="modified by an in-?place operation"):
            y.sum().backward()


@pytest.mark.parametrize("kwargs", [{}, {"unbiased": True}, {"unbiased": False}, {"correction": 0},
                                    {"correction": 2}, {"dim": 1}, {"dim": 0, "keepdim": True},
                                    {"dim": 1, "correction": 0, "keepdim": True}])
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_and_std_follow_torch(name, kwargs):
    data = np.random.default_rng(6).normal(size=(4, 5))
    x, t = tm.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    ours, theirs = getattr(x, name)(**kwargs), getattr(t, name)(**kwargs)
    same(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    same(x.grad, t.grad, rtol=1e-10)
    same(getattr(tm, name)(x, **kwargs), getattr(torch, name)(t, **kwargs))
    if "dim" in kwargs and "correction" not in kwargs and "keepdim" not in kwargs:
        same(getattr(x, name)(kwargs["dim"], True), getattr(t, name)(kwargs["dim"], True))


@pytest.mark.parametrize("name", ["no_grad", "enable_grad", "inference_mode"])
def test_grad_mode_switches_decorate_with_or_without_parentheses_like_torch(name):
    def run(lib):
        switch = getattr(lib, name)
        w = lib.ones(2, requires_grad=True)

        def double(x):
            return x * 2

        bare, called = switch(double), switch()(double)
        with lib.no_grad():
            inside = (bare(w).requires_grad, called(w).requires_grad)
        return bare(w).requires_grad, called(w).requires_grad, inside, lib.is_grad_enabled()

    assert run(tm) == run(torch)


def test_a_parameter_copies_the_tensor_it_is_made_from_as_documented():
    t, their_t = tm.zeros(2), torch.zeros(2)
    mine, theirs = nn.Parameter(t), torch.nn.Parameter(their_t)
    t[0], their_t[0] = 5.0, 5.0
    assert mine.numpy().tolist() == [0.0, 0.0]  # coming_from_pytorch.rst: it copies
    assert theirs.data.tolist() == [5.0, 0.0]  # PyTorch's shares the storage


def test_set_grad_enabled_as_a_decorator_switches_inside_the_calls_only_like_torch():
    def run(lib):
        w = lib.ones(2, requires_grad=True)

        @lib.set_grad_enabled(False)
        def double(x):
            return x * 2

        return lib.is_grad_enabled(), double(w).requires_grad, (w * 2).requires_grad

    assert run(tm) == run(torch) == (True, False, True)


@pytest.mark.parametrize("call", [
    lambda lib: lib.zeros(size=(2, 3)), lambda lib: lib.ones(size=[4]),
    lambda lib: lib.zeros((2, 3)), lambda lib: lib.ones(2, 3),
    lambda lib: lib.arange(5), lambda lib: lib.arange(1, 5), lambda lib: lib.arange(1, 8, 3),
    lambda lib: lib.arange(end=4), lambda lib: lib.arange(start=2, end=5),
    lambda lib: lib.arange(0, 1, 0.25), lambda lib: lib.arange(start=1.0, end=3.0, step=0.5),
    lambda lib: lib.arange(0, end=5), lambda lib: lib.arange(0, 5, step=2),
])
def test_factories_take_torchs_keywords(call):
    ours, theirs = call(tm), call(torch)
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert tm.rand(size=(2, 1)).shape == (2, 1) and tm.randn(size=3).shape == (3,)


def test_factories_refuse_a_shape_given_twice():
    with pytest.raises(TypeError, match="zeros: give the shape either as arguments or as size="):
        tm.zeros(2, size=(2,))


@pytest.mark.parametrize("call, message", [
    (lambda lib: lib.arange(), "missing the end"),
    (lambda lib: lib.arange(start=2), "missing the end"),
    (lambda lib: lib.arange(1, None), "missing the end"),
    (lambda lib: lib.arange(None), "missing the end"),
    (lambda lib: lib.arange(5, step=2), "a step needs a start"),
    (lambda lib: lib.arange(end=5, step=2), "a step needs a start"),
    (lambda lib: lib.arange(1, 5, end=3), "got end twice"),
])
def test_arange_refuses_what_torch_refuses(call, message):
    with pytest.raises(TypeError, match=f"arange: {message}"):
        call(tm)
    with pytest.raises(TypeError):
        call(torch)


@pytest.mark.parametrize("values, dtype", [
    ([True, False, True], "bool"), ([200, 100, 3], "uint8"), ([7, -2, 5], "int32"),
    ([1.5, -2.0, 4.0], "float32"),
])
def test_sum_and_prod_types_follow_torch_with_or_without_dtype(values, dtype):
    ours = tm.tensor(np.array(values, dtype=dtype))
    theirs = torch.tensor(np.array(values, dtype=dtype))
    for op in ("sum", "prod"):
        for kwargs in ({}, {"dtype": "float64"}, {"dtype": "int32"}, {"dtype": "uint8"}):
            torch_kwargs = {k: getattr(torch, v) for k, v in kwargs.items()}
            a, b = getattr(ours, op)(**kwargs), getattr(theirs, op)(**torch_kwargs)
            assert str(a.dtype) == str(b.dtype).removeprefix("torch."), (op, kwargs)
            assert a.item() == b.item(), (op, kwargs)
    mean = ours.mean(dtype="float64")
    assert mean.dtype == np.float64
    assert mean.item() == pytest.approx(theirs.mean(dtype=torch.float64).item())
    with pytest.raises(TypeError, match="mean: dtype must be a floating dtype, got int64"):
        ours.mean(dtype="int64")
    with pytest.raises(RuntimeError):  # the same refusal in torch
        theirs.mean(dtype=torch.int64)


def test_sum_with_dtype_stays_in_the_graph():
    x = tm.ones(2, 3, requires_grad=True)
    y = tm.sum(x, 1, dtype=tm.float64)
    assert y.dtype == np.float64 and y.tolist() == [3.0, 3.0]
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [[1.0] * 3] * 2


INDEXES_WITH_INTS_AND_ARRAYS = [
    (0, slice(None), [0, 1]), (1, [0, 2]), ([0, 1], 0), (0, slice(None), [True, False, True, False]),
    (Ellipsis, 1, [0, 1]), (0, None, slice(None), [0, 1]), (0, [[0], [1]], slice(1, 3), 2),
    ([0, 1], slice(None), 1, [1, 2]), (slice(None), 0, [1, 2], slice(None)),
]


@pytest.mark.parametrize("index", INDEXES_WITH_INTS_AND_ARRAYS, ids=str)
def test_ints_beside_index_arrays_select_reverse_and_assign_as_in_torch(index):
    """numpy counts such an int as one more index array and moves the dims; torch does
    not. Values, gradient and assignment must all follow torch."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 4, 5))
    ours, theirs = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, their_y = ours[index], theirs[index]
    assert y.shape == tuple(their_y.shape)
    np.testing.assert_array_equal(y.numpy(), their_y.detach().numpy())
    weights = rng.normal(size=y.shape)
    (y * tm.tensor(weights)).sum().backward()
    (their_y * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    target, their_target = tm.tensor(x.copy()), torch.tensor(x.copy())
    values = rng.normal(size=y.shape)
    target[index] = tm.tensor(values)
    their_target[index] = torch.tensor(values)
    np.testing.assert_array_equal(target.numpy(), their_target.numpy())


@pytest.mark.parametrize("values", [np.array([3, 0, 2], np.uint8), np.array([-2**63, 0, 5]),
                                    np.array([True, False, True]),
                                    np.array([[3, 0], [1, 5]], np.int32)], ids=str)
def test_min_of_integers_and_bools_is_torchs(values):
    """min was -max(-x): wrong for unsigned types and the most negative int64, and a
    TypeError for bools."""
    ours, theirs = tm.tensor(values), torch.tensor(values)
    assert ours.min().item() == theirs.min().item()
    values_0, indices_0 = ours.min(0)
    assert values_0.tolist() == theirs.min(0).values.tolist()
    assert indices_0.tolist() == theirs.min(0).indices.tolist()
    other = values[::-1].copy()
    assert tm.minimum(ours, tm.tensor(other)).tolist() == torch.minimum(
        theirs, torch.tensor(other)).tolist()


ZERO_D_CALLS = {
    "sum(0)": lambda x, F: x.sum(0), "sum(-1)": lambda x, F: x.sum(-1),
    "mean(0)": lambda x, F: x.mean(0), "prod(-1)": lambda x, F: x.prod(-1),
    "logsumexp(0)": lambda x, F: x.logsumexp(0), "norm(dim=0)": lambda x, F: x.norm(dim=0),
    "softmax(0)": lambda x, F: F.softmax(x, 0), "log_softmax(-1)": lambda x, F: F.log_softmax(x, -1),
    "transpose(0, -1)": lambda x, F: x.transpose(0, -1), "leaky_relu": lambda x, F: F.leaky_relu(x),
}


@pytest.mark.parametrize("name", ZERO_D_CALLS)
def test_a_0d_tensor_takes_dim_0_and_minus_1_as_in_torch(name):
    call = ZERO_D_CALLS[name]
    for value in (2.0, -1.5):
        ours = tm.tensor(value, requires_grad=True)
        theirs = torch.tensor(value, dtype=torch.float32, requires_grad=True)
        y, their_y = call(ours, tm.nn.functional), call(theirs, torch.nn.functional)
        assert y.shape == () and y.item() == pytest.approx(their_y.item())
        y.backward()
        their_y.backward()
        assert ours.grad.shape == () and ours.grad.item() == pytest.approx(theirs.grad.item())


def test_empty_reductions_dims_and_norms_follow_torch():
    empty = tm.tensor(np.zeros((2, 0)), requires_grad=True)
    empty.prod(1).sum().backward()
    assert empty.grad.shape == (2, 0)
    assert tm.tensor(np.zeros((2, 0))).logsumexp(1).tolist() == [-np.inf, -np.inf]
    assert tm.nn.functional.softmax(tm.tensor(np.zeros((2, 0))), 1).shape == (2, 0)
    m = np.array([[1.0, 3.0], [2.0, 0.0]])
    for reduce in ("sum", "mean", "amax"):
        assert getattr(tm.tensor(m), reduce)(dim=()).item() == getattr(torch.tensor(m), reduce)(
            dim=()).item()
    v = np.array([[0.5, -3.0], [0.0, 1.0]])
    for p in (float("-inf"), 0, float("inf")):
        np.testing.assert_allclose(tm.tensor(v).norm(p, dim=1).numpy(),
                                   torch.tensor(v).norm(p, dim=1).numpy())
        assert tm.tensor(v).norm(p).item() == torch.tensor(v).norm(p).item()


def test_std_of_a_constant_row_nan_maxima_amin_and_empty_chunks_follow_torch():
    x = np.array([[1.0, 1.0], [1.0, 2.0]])
    ours, theirs = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours.std(1).sum().backward()
    theirs.std(1).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())  # 0, not nan
    v = np.array([1.0, np.nan, 0.5])
    ours, theirs = tm.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    ours.max().backward()
    theirs.max().backward()
    assert ours.grad.tolist() == theirs.grad.tolist() == [0.0, 1.0, 0.0]
    m = np.array([[1.0, -3.0], [2.0, 0.0]])
    ours, theirs = tm.tensor(m, requires_grad=True), torch.tensor(m, requires_grad=True)
    tm.amin(ours, 1).sum().backward()
    torch.amin(theirs, 1).sum().backward()
    assert ours.grad.tolist() == theirs.grad.tolist()
    assert tm.amax(tm.tensor(m)).item() == torch.amax(torch.tensor(m)).item()
    assert [p.shape for p in tm.zeros(0, 2).chunk(3)] == [tuple(p.shape) for p in
                                                          torch.zeros(0, 2).chunk(3)]
    assert tm.gradcheck(lambda a: a.amin(0), [tm.tensor(m, requires_grad=True)])
