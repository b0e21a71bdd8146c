"""Post-training calibration of min layers (least-squares gain/offset, mu_x_hat search)."""

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn
from tinymin.minconv.calibrate import calibrate_layer, fit_gain_offset, relative_squared_error
from tinymin.minconv.fold import fold_min_model

# Every test here runs on both kernel backends (numpy twins and Cython; see conftest.py).
pytestmark = pytest.mark.usefixtures("backend")


def test_least_squares_recovers_a_known_gain_and_offset():
    rng = np.random.default_rng(0)
    approx = rng.normal(size=(50, 3, 4, 4))
    gain, offset = np.array([2.0, -0.5, 3.0]), np.array([0.1, 1.0, -2.0])
    target = approx * gain.reshape(1, 3, 1, 1) + offset.reshape(1, 3, 1, 1)
    g, o = fit_gain_offset(approx, target)
    np.testing.assert_allclose(g, gain, rtol=1e-10)
    np.testing.assert_allclose(o, offset, atol=1e-10)
    shared, _ = fit_gain_offset(approx, approx * 1.5 + 0.2, per_channel=False)
    np.testing.assert_allclose(shared, 1.5)


def test_least_squares_with_noise_is_unbiased_enough():
    rng = np.random.default_rng(1)
    approx = rng.normal(size=(400, 2, 5, 5))
    target = 0.7 * approx + 0.3 + rng.normal(scale=0.05, size=approx.shape)
    g, o = fit_gain_offset(approx, target)
    np.testing.assert_allclose(g, 0.7, atol=0.01)
    np.testing.assert_allclose(o, 0.3, atol=0.01)


@pytest.mark.parametrize("seed", range(4))
def test_calibration_never_makes_a_layer_worse(seed):
    tm.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layer = nn.MinConv2d(3, 5, 3, padding=1).eval()
    layer.running_abs_mean[0] = rng.uniform(0.1, 5)
    x = np.abs(rng.normal(size=(16, 3, 8, 8))).astype(np.float32) * rng.uniform(0.1, 3)
    # the exact output of the weights as they are now (stage 2 rewrites them)
    target = tm.nn.functional.conv2d(tm.tensor(x), layer.weight, layer.bias, 1, 1).data
    report = calibrate_layer(layer, x)
    assert report.error_after <= report.error_before + 1e-12
    assert relative_squared_error(layer(tm.tensor(x)).data, target) == pytest.approx(
        report.error_after, rel=1e-4)


def test_end_to_end_on_a_small_model_matches_the_exact_network_better():
    tm.manual_seed(0)
    exact = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.LeakyReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 8, 3, padding=1), nn.LeakyReLU(), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 4)).eval()
    x = np.random.default_rng(0).random((64, 1, 8, 8)).astype(np.float32)
    reference = exact(tm.tensor(x)).data
    converted = nn.convert_to_min(exact)
    nn.recalibrate_running_statistics(converted, [x])
    before = relative_squared_error(converted(tm.tensor(x)).data, reference)
    report = nn.calibrate_min(converted, x[:48])
    after = relative_squared_error(converted(tm.tensor(x)).data, reference)
    assert [r.layer for r in report] == ["0", "3"]
    assert all(r.error_after <= r.error_before for r in report)
    assert after < before
    assert not converted.training
    assert converted[0].is_calibrated
    # Calibrated gains still fold (with a per-channel rescale before the second min layer).
    np.testing.assert_allclose(fold_min_model(converted)(x), converted(tm.tensor(x)).data,
                               rtol=1e-4, atol=1e-4)


def test_calibration_gain_scales_the_backward():
    layer = nn.MinConv2d(1, 2, 3).double()
    layer.output_gain[...] = [2.0, 3.0]
    x = tm.tensor(np.random.default_rng(0).normal(size=(2, 1, 5, 5)), requires_grad=True)
    layer(x).sum().backward()
    plain = nn.MinConv2d(1, 2, 3).double()
    plain.load_state_dict({k: v for k, v in layer.state_dict().items()
                           if k not in ("output_gain",)}, strict=False)
    y = plain(tm.tensor(x.data))
    x2 = tm.tensor(x.data, requires_grad=True)
    plain(x2).backward(np.broadcast_to(np.array([2.0, 3.0]).reshape(1, 2, 1, 1), y.shape).copy())
    np.testing.assert_allclose(x.grad, x2.grad)


def test_bad_inputs():
    with pytest.raises(ValueError, match="no MinConv2d"):
        nn.calibrate_min(nn.Sequential(nn.Flatten()), np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="N, C, H, W"):
        nn.calibrate_min(nn.Sequential(nn.MinConv2d(1, 1, 1)), np.zeros((2, 2)))


def test_training_after_calibration_keeps_the_calibrated_scale():
    tm.manual_seed(0)
    layer = nn.MinConv2d(2, 3, 3).eval()
    x = np.abs(np.random.default_rng(0).normal(size=(8, 2, 6, 6))).astype(np.float32)
    report = calibrate_layer(layer, x, grid=(4.0,), fit_max_k=0)  # stage 1 only
    assert report.chosen_multiple == 4.0 and layer.input_scale_multiple[0] == 4.0
    layer.train()
    with tm.trace() as steps:
        layer(tm.tensor(x))
    assert steps[0].values["mu_x"]["value"] == pytest.approx(4.0 * np.abs(x).mean(), rel=1e-5)
    assert layer.running_abs_mean[0] == pytest.approx(4.0 * np.abs(x).mean(), rel=1e-5)
