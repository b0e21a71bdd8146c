"""MinConv2d / min_conv2d (Algorithm 1): forward against a direct loop of Eq. 13, the exact
backward, the running statistic, Table 2, other operators, conversion and tracing."""

import itertools

import numpy as np
import pytest

import tinymin as tm
import tinymin.nn.functional as F
from tinymin import nn, optim
from tinymin.minconv.operators import multiplexer
from tinymin.minconv.spec import MinConvSpec, MinConvState

# Every test here runs on both kernel backends (numpy twins and Cython; see conftest.py).
pytestmark = pytest.mark.usefixtures("backend")


def t64(array, requires_grad=True):
    return tm.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def selector(a, b, operator):
    if operator == "min":
        return np.sign(a) * np.sign(b) * min(abs(a), abs(b))
    if operator == "max":
        return np.sign(a) * np.sign(b) * max(abs(a), abs(b))
    return -abs(a - b)


def direct_min_conv(x, w, b, stride, padding, mu_x, clip_value, operator="min", per_channel=False):
    """Eq. 13 written out with scalar loops: clip, rescale, select, accumulate."""
    mu_w = np.abs(w).mean(axis=(1, 2, 3)) if per_channel else np.full(w.shape[0], np.abs(w).mean())
    T = np.inf if clip_value is None else clip_value
    x_c = np.clip(x, -T * mu_x, T * mu_x)
    xp = np.pad(x_c, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c_in, h, wd = xp.shape
    c_out, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    y = np.zeros((n, c_out, oh, ow))
    for img, c, i, j in itertools.product(range(n), range(c_out), range(oh), range(ow)):
        w_c = np.clip(w[c], -T * mu_w[c], T * mu_w[c])
        w_hat = w_c * mu_x / mu_w[c]
        patch = xp[img, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
        total = sum(selector(a, bb, operator) for a, bb in zip(patch.ravel(), w_hat.ravel()))
        y[img, c, i, j] = mu_w[c] * total + (0 if b is None else b[c])
    return y


CASES = [  # stride, padding, clip_value, training, operator, scale
    (1, 0, None, True, "min", "layer"),
    (1, 1, 2.0, True, "min", "layer"),
    (2, 1, 1.0, False, "min", "layer"),
    (1, 2, 0.5, False, "min", "channel"),
    (2, 0, 2.0, True, "max", "layer"),
    (1, 1, 2.0, True, "adder", "channel"),
]


@pytest.mark.parametrize("stride, padding, clip_value, training, operator, scale", CASES)
def test_forward_equals_direct_loop_of_eq13(stride, padding, clip_value, training, operator, scale):
    rng = np.random.default_rng(stride * 7 + padding)
    x = rng.normal(size=(2, 2, 5, 5))
    w, b = rng.normal(scale=0.3, size=(3, 2, 3, 3)), rng.normal(size=3)
    running = np.array([0.7])
    mu_x = np.abs(x).mean() if training else 0.7
    spec = MinConvSpec(stride=stride, padding=padding, clip_value=clip_value, scale=scale,
                       operator=operator)
    y = F.min_conv2d(t64(x), t64(w), t64(b), spec, MinConvState(running), training)
    expected = direct_min_conv(x, w, b, stride, padding, mu_x, clip_value, operator,
                               per_channel=scale == "channel")
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)


def test_float32_forward():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(4, 3, 3, 3))
    y = F.min_conv2d(tm.tensor(x.astype(np.float32)), tm.tensor(w.astype(np.float32)),
                     spec=MinConvSpec(padding=1))
    assert y.dtype == np.float32
    expected = direct_min_conv(x, w, None, 1, 1, np.abs(x).mean(), 4.0)  # the default T
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("clip_value", [None, 0.8])
def test_backward_is_exact_conv_gradient_at_clipped_operands_times_masks(clip_value):
    rng = np.random.default_rng(5)
    x_np, w_np = rng.normal(size=(2, 2, 6, 6)), rng.normal(size=(3, 2, 3, 3))
    x, w, b = t64(x_np), t64(w_np), t64(rng.normal(size=3))
    upstream = rng.normal(size=(2, 3, 3, 3))
    y = F.min_conv2d(x, w, b, MinConvSpec(stride=2, padding=1, clip_value=clip_value))
    y.backward(upstream)

    mu_x, mu_w = np.abs(x_np).mean(), np.abs(w_np).mean()
    T = np.inf if clip_value is None else clip_value
    x_c = t64(np.clip(x_np, -T * mu_x, T * mu_x))
    w_c = t64(np.clip(w_np, -T * mu_w, T * mu_w))
    F.conv2d(x_c, w_c, None, stride=2, padding=1).backward(upstream)
    np.testing.assert_allclose(x.grad, x_c.grad * (np.abs(x_np / mu_x) <= T))
    np.testing.assert_allclose(w.grad, w_c.grad * (np.abs(w_np / mu_w) <= T))
    np.testing.assert_allclose(b.grad, upstream.sum(axis=(0, 2, 3)))
    if clip_value is not None:
        assert (np.abs(x_np / mu_x) > T).any()  # the mask really cut something


def test_running_abs_mean_follows_pytorch_momentum():
    layer = nn.MinConv2d(1, 2, 3, momentum=0.25)
    rng = np.random.default_rng(0)
    expected = 1.0
    for _ in range(3):
        x = rng.normal(scale=2.0, size=(2, 1, 5, 5)).astype(np.float32)
        layer(tm.tensor(x))
        expected = 0.75 * expected + 0.25 * np.abs(x).mean()
    assert layer.running_abs_mean[0] == pytest.approx(expected, rel=1e-6)
    assert layer.num_batches_tracked[0] == 3
    layer.eval()
    before = layer.running_abs_mean.copy()
    layer(tm.tensor(rng.normal(size=(1, 1, 5, 5))))
    np.testing.assert_array_equal(layer.running_abs_mean, before)


def test_eval_uses_the_running_statistic():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(1, 1, 4, 4)), rng.normal(size=(1, 1, 3, 3))
    a = F.min_conv2d(t64(x), t64(w), state=MinConvState(np.array([3.0])), training=False)
    b = F.min_conv2d(t64(x), t64(w), state=MinConvState(np.array([0.1])), training=False)
    assert not np.allclose(a.numpy(), b.numpy())


def test_table2_multiplexer_equals_formula_on_every_case():
    values = [-2.0, -0.5, -0.0, 0.0, 0.5, 2.0, 3.0]
    for a, b in itertools.product(values, values):
        assert multiplexer(a, b) == np.sign(a) * np.sign(b) * min(abs(a), abs(b)), (a, b)


def test_input_clip_does_not_change_the_min_forward():
    # docs/guides/minconv_math.rst section 5: |w_hat| <= T mu_x, so an input beyond T mu_x is never the
    # selected minimum and its sign survives the clip: clipping x changes nothing.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 2, 5, 5)) * 5
    w = rng.normal(size=(2, 2, 3, 3))
    clipped = direct_min_conv(x, w, None, 1, 0, np.abs(x).mean(), 1.0)
    mu_x, mu_w = np.abs(x).mean(), np.abs(w).mean()
    w_hat = np.clip(w, -mu_w, mu_w) * mu_x / mu_w
    xp = x  # no padding; the same sum without clipping x
    unclipped = np.zeros_like(clipped)
    for c, i, j in itertools.product(range(2), range(3), range(3)):
        patch = xp[0, :, i : i + 3, j : j + 3]
        unclipped[0, c, i, j] = mu_w * np.sum(np.sign(patch) * np.sign(w_hat[c])
                                              * np.minimum(np.abs(patch), np.abs(w_hat[c])))
    assert (np.abs(x) > mu_x).any()
    np.testing.assert_allclose(clipped, unclipped, rtol=1e-12)
    np.testing.assert_allclose(F.min_conv2d(t64(x), t64(w), spec=MinConvSpec(clip_value=1.0)).numpy(),
                               clipped, rtol=1e-10)


def test_bad_arguments():
    x, w = tm.zeros(1, 2, 5, 5), tm.zeros(3, 2, 3, 3)
    with pytest.raises(ValueError, match="operator"):
        F.min_conv2d(x, w, spec=MinConvSpec(operator="xor"))
    with pytest.raises(ValueError, match="scale"):
        F.min_conv2d(x, w, spec=MinConvSpec(scale="pixel"))
    with pytest.raises(ValueError, match="clip_value"):
        F.min_conv2d(x, w, spec=MinConvSpec(clip_value=0))
    with pytest.raises(ValueError, match=r"min_conv2d.*\(1, 2, 5, 5\).*\(3, 1, 3, 3\)"):
        F.min_conv2d(x, tm.zeros(3, 1, 3, 3))
    with pytest.raises(ValueError, match="running_abs_mean"):
        F.min_conv2d(x, w, training=False)
    with pytest.raises(ValueError, match="MinConv2d: operator"):
        nn.MinConv2d(1, 1, 3, operator="xor")


def test_convert_to_min_copies_weights_and_leaves_the_original():
    tm.manual_seed(0)
    exact = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(),
                          nn.Sequential(nn.Conv2d(4, 2, 3)))
    converted = nn.convert_to_min(exact, clip_value=None)
    assert isinstance(exact[0], nn.Conv2d) and not isinstance(exact[0], nn.MinConv2d)
    layers = nn.min_layers(converted)
    assert [name for name, _ in layers] == ["0", "2.0"]
    np.testing.assert_array_equal(layers[1][1].weight.numpy(), exact[2][0].weight.numpy())
    assert layers[0][1].clip_value is None
    state = exact.state_dict()
    result = nn.MinConv2d(1, 4, 3).load_state_dict({"weight": state["0.weight"],
                                                    "bias": state["0.bias"]}, strict=False)
    assert result.missing_keys == ["running_abs_mean", "num_batches_tracked", "output_gain",
                                   "output_offset", "input_scale_multiple"]


def test_recalibration_sets_mu_x_hat_to_the_average_batch_mean():
    tm.manual_seed(0)
    model = nn.Sequential(nn.MinConv2d(1, 2, 3), nn.Dropout(0.5))
    rng = np.random.default_rng(0)
    batches = [rng.normal(scale=s, size=(4, 1, 6, 6)).astype(np.float32) for s in (1.0, 3.0)]
    used = nn.recalibrate_running_statistics(model, batches)
    assert used == 2
    expected = np.mean([np.abs(b).mean() for b in batches])
    assert model[0].running_abs_mean[0] == pytest.approx(expected, rel=1e-6)
    assert model[0].momentum == 0.1 and not model[0].training and not model[1].training


def test_trace_records_every_step_of_algorithm1():
    layer = nn.MinConv2d(1, 2, 3, padding=1)
    x = tm.randn(2, 1, 5, 5, requires_grad=True)
    with tm.trace() as steps:
        layer(x).sum().backward()
    names = steps.steps()
    assert [n.split(".")[0] for n in names] == ["1", "2", "3", "4", "5", "6", "7"]
    assert "mu_x" in str(steps)
    assert steps[0].values["mu_x"]["value"] == pytest.approx(float(np.abs(x.numpy()).mean()), rel=1e-6)


@pytest.mark.parametrize("x_grad,w_grad,no_grad", [
    (True, True, False), (False, True, False), (True, False, False), (True, True, True)])
def test_step3_makes_a_mask_only_where_a_gradient_flows_back(x_grad, w_grad, no_grad):
    # step 7 reads the mask of an operand only if its gradient is needed; the others
    # are not computed (the trace shows which), and the gradients that are stay exact
    layer = nn.MinConv2d(1, 2, 3, padding=1, clip_value=0.5)
    layer.weight.requires_grad = w_grad
    x = tm.randn(2, 1, 5, 5, requires_grad=x_grad)
    with tm.trace() as steps:
        if no_grad:
            with tm.no_grad():
                layer(x)
        else:
            layer(x).sum().backward()
    clip = next(record for record in steps if record.step.startswith("3."))
    want_x, want_w = x_grad and not no_grad, w_grad and not no_grad
    assert ("x_inside" in clip.values) == want_x
    assert ("w_inside" in clip.values) == want_w
    if want_x:  # some inputs are clipped (T = 0.5), so the mask matters
        inside = np.abs(x.numpy()) <= 0.5 * np.abs(x.numpy()).mean()
        assert not inside.all()
        np.testing.assert_array_equal(x.grad.numpy() == 0, ~inside)


def test_min_conv_layer_learns():
    # A min-conv layer + linear read-out separates two stripe orientations.
    tm.manual_seed(0)
    rng = np.random.default_rng(0)
    x = np.zeros((64, 1, 6, 6), np.float32)
    y = rng.integers(0, 2, 64)
    for i, label in enumerate(y):
        pos = rng.integers(0, 6)
        if label:
            x[i, 0, :, pos] = 1
        else:
            x[i, 0, pos, :] = 1
    x += rng.normal(scale=0.1, size=x.shape).astype(np.float32)
    model = nn.Sequential(nn.MinConv2d(1, 4, 3, padding=1), nn.LeakyReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(36, 2))
    opt = optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(model(tm.tensor(x)), y)
        loss.backward()
        opt.step()
    model.eval()
    accuracy = (model(tm.tensor(x)).numpy().argmax(1) == y).mean()
    assert accuracy > 0.9


def test_layer_diagnostics_report_correlation_and_constraint():
    from tinymin.minconv.diagnostics import layer_diagnostics, scale_snapshot
    from tinymin.models import lenet

    tm.manual_seed(0)
    model = lenet(conv="min").eval()
    x = np.random.default_rng(0).random((8, 1, 28, 28)).astype(np.float32)
    rows = layer_diagnostics(model, x)
    assert [r["layer"] for r in rows] == ["0", "3"]
    for r in rows:
        assert 0.5 < r["correlation"] <= 1.0 and r["relative_error"] >= 0
        assert r["mean_abs_w_hat"] == pytest.approx(r["mu_x"], rel=1e-5)  # Eq. 12's constraint
    assert model[0].num_batches_tracked[0] == 0  # measuring did not move the statistics
    assert set(scale_snapshot(model)) == {"0.mu_x_hat", "0.mu_w", "3.mu_x_hat", "3.mu_w"}


def test_diagnostics_use_the_calibrated_input_scale_in_training_mode():
    from tinymin.minconv.diagnostics import compare_with_exact

    tm.manual_seed(0)
    layer = nn.MinConv2d(2, 3, 3, padding=1)
    layer.input_scale_multiple[0] = 3.0
    x = np.random.default_rng(1).normal(size=(4, 2, 6, 6)).astype(np.float32)
    result = compare_with_exact(layer, x)
    assert result["mu_x"] == pytest.approx(3.0 * np.abs(x).mean(), rel=1e-6)
    assert result["mean_abs_w_hat"] == pytest.approx(result["mu_x"], rel=1e-5)


def test_chunked_min_conv_equals_unchunked_forward_and_backward():
    from tinymin.ops.conv import set_im2col_limit

    results = []
    for limit in (None, 36 * 18 * 8):  # the default bound, then about one image per chunk
        previous = set_im2col_limit(limit) if limit is not None else None
        try:
            x = tm.tensor(np.random.default_rng(4).normal(size=(5, 2, 6, 6)), requires_grad=True)
            w = tm.tensor(np.random.default_rng(3).normal(size=(3, 2, 3, 3)), requires_grad=True)
            y = F.min_conv2d(x, w, None, MinConvSpec(padding=1, clip_value=2.0), MinConvState(np.ones(1)))
            (y * y).sum().backward()
            results.append((y.numpy(), x.grad.numpy().copy(), w.grad.numpy().copy()))
        finally:
            if previous is not None:
                set_im2col_limit(previous)
    for full, chunked in zip(results[0], results[1]):
        np.testing.assert_allclose(chunked, full, rtol=1e-12)


def test_column_matrix_is_kept_for_backward_only_when_the_weight_needs_a_gradient():
    x = tm.tensor(np.random.default_rng(0).normal(size=(2, 2, 5, 5)), requires_grad=True)
    for needs_w in (True, False):
        w = tm.tensor(np.random.default_rng(1).normal(size=(3, 2, 3, 3)), requires_grad=needs_w)
        exact = F.conv2d(x, w, padding=1)
        approx = F.min_conv2d(x, w, None, MinConvSpec(padding=1), MinConvState(np.ones(1)))
        assert (exact.grad_fn.saved_tensors[-1] is not None) == needs_w
        assert (approx.grad_fn.saved_tensors[-1] is not None) == needs_w
        approx.sum().backward()  # and the input gradient still works without it
        assert x.grad is not None
        x.grad = None


def test_from_conv_copies_an_exact_layer():
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1).eval()
    layer = nn.MinConv2d.from_conv(conv, clip_value=2.0, operator="max")
    assert (layer.stride, layer.padding, layer.clip_value, layer.operator) == ((2, 2), (1, 1), 2.0, "max")
    np.testing.assert_array_equal(layer.weight.numpy(), conv.weight.numpy())
    np.testing.assert_array_equal(layer.bias.numpy(), conv.bias.numpy())
    assert not layer.training
    layer.weight.numpy()[...] = 0  # a copy, not a view
    assert np.any(conv.weight.numpy())


def test_nn_reexports_minconv_lazily():
    import subprocess
    import sys

    code = ("import sys, tinymin.nn as nn, tinymin.nn.functional as F\n"
            "assert 'tinymin.minconv' not in sys.modules, 'importing nn imported minconv'\n"
            "from tinymin import minconv\n"
            "assert nn.MinConv2d is minconv.MinConv2d and F.min_conv2d is minconv.min_conv2d\n"
            "assert nn.calibrate_min is minconv.calibrate_min\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_grad_forward_fuses_im2col_and_gives_the_same_output(monkeypatch):
    # with gradients off no column matrix is kept: step 5 runs im2col fused with the
    # min-selector (tinymin._ext.im2col_min_gemm), and must give what the kept path gives
    from tinymin import _ext

    rng = np.random.default_rng(5)
    x = tm.tensor(rng.normal(size=(3, 4, 7, 7)).astype(np.float32))
    w = tm.tensor(rng.normal(size=(5, 4, 3, 3)).astype(np.float32), requires_grad=True)
    spec, state = MinConvSpec(padding=1), MinConvState(np.ones(1))
    kept = F.min_conv2d(x, w, None, spec, state, training=False)
    calls = []
    fused = _ext.im2col_min_gemm
    monkeypatch.setattr(_ext, "im2col", lambda *a, **k: pytest.fail("no column matrix expected"))
    monkeypatch.setattr(_ext, "im2col_min_gemm", lambda *a, **k: calls.append(1) or fused(*a, **k))
    with tm.no_grad():
        y = F.min_conv2d(x, w, None, spec, state, training=False)
    assert calls and y.grad_fn is None
    np.testing.assert_allclose(y.data, kept.data, rtol=1e-6, atol=1e-5)
