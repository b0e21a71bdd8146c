"""Calibration stage 2 (thresholds fitted one by one) and the linear correction."""

import copy

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn
from tinymin.minconv.calibrate import (
    LinearCorrection,
    calibrate_layer,
    correct_linear,
    fit_gain_offset,
    relative_squared_error,
)
from tinymin.minconv.layer import clipped_operands
from tinymin.minconv.thresholds import (
    candidate_thresholds,
    channel_errors,
    fit_layer_thresholds,
    fit_thresholds,
)


def _clip_sums(cols, w_hat):
    """sum_k m(x_pk, w_hat_ck) written as sgn(w) clip(x, |w|): (rows, C_out)."""
    return np.stack([(np.sign(w) * np.clip(cols, -np.abs(w), np.abs(w))).sum(axis=1)
                     for w in w_hat], axis=1)


def test_channel_errors_is_the_least_squares_residual():
    rng = np.random.default_rng(0)
    sums, target = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    target[:, 1] = 2 * sums[:, 1] - 1  # explained exactly
    gain, offset = fit_gain_offset(sums.T.reshape(1, 3, 200, 1), target.T.reshape(1, 3, 200, 1))
    residual = ((target - gain * sums - offset) ** 2).sum(axis=0)
    np.testing.assert_allclose(channel_errors(sums, target), residual, rtol=1e-9, atol=1e-9)
    assert channel_errors(sums, target)[1] == pytest.approx(0, abs=1e-9)


def test_min_selector_is_a_signed_clip_of_the_input():
    """The identity the module docstring rests on, against the real kernel."""
    rng = np.random.default_rng(1)
    cols = rng.normal(size=(50, 7)).astype(np.float32)
    w_hat = rng.normal(size=(3, 7)).astype(np.float32)
    np.testing.assert_allclose(tm._ext.min_gemm(cols, w_hat), _clip_sums(cols, w_hat),
                               rtol=1e-5, atol=1e-5)


def test_fit_recovers_thresholds_that_generated_the_target():
    rng = np.random.default_rng(2)
    cols = rng.uniform(-1, 1, size=(4000, 4))
    grid = candidate_thresholds(cols)
    true = np.array([[grid[k][i] for k, i in enumerate(row)] for row in ([5, 20, 31, 10],
                                                                          [25, 3, 14, 28])])
    true *= np.array([[1, -1, 1, 1], [-1, 1, 1, -1]])
    target = 0.7 * _clip_sums(cols, true) + 0.2
    start = np.sign(true) * 0.5  # every threshold at 0.5, signs right
    fitted, before, after = fit_thresholds(cols, target, start, sweeps=5)
    assert before > 0.01
    assert after < 1e-10
    np.testing.assert_allclose(fitted, true, atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_fit_never_increases_the_error(seed):
    rng = np.random.default_rng(seed)
    cols = np.abs(rng.normal(size=(500, 9)))
    target = cols @ rng.normal(size=(9, 4)) + rng.normal(scale=0.1, size=(500, 4))
    start = rng.normal(size=(4, 9))
    fitted, before, after = fit_thresholds(cols, target, start, sweeps=1)
    assert after <= before
    assert np.array_equal(np.sign(fitted), np.where(start < 0, -1, 1))
    # the reported error is the real one
    total = ((target - target.mean(axis=0)) ** 2).sum()
    assert channel_errors(_clip_sums(cols, fitted), target).sum() / total == pytest.approx(
        after, rel=1e-4)


def test_fit_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same rows"):
        fit_thresholds(np.zeros((5, 3)), np.zeros((4, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(C_out, K\)"):
        fit_thresholds(np.zeros((5, 3)), np.zeros((5, 2)), np.zeros((3, 2)))


def test_fitted_thresholds_are_an_ordinary_layer_state():
    """Eq. 12 maps the proposed (mu_x_hat, weight) back to the fitted w_hat."""
    tm.manual_seed(0)
    layer = nn.MinConv2d(1, 4, 3, padding=1).eval()
    x = np.random.default_rng(0).random((6, 1, 8, 8)).astype(np.float32)
    target = tm.nn.functional.conv2d(tm.tensor(x), layer.weight, layer.bias, 1, 1).data
    layer.running_abs_mean[0] = 2 * np.abs(x).mean()
    running, weight = fit_layer_thresholds(layer, x, target)
    assert np.abs(weight).mean() == pytest.approx(np.abs(layer.weight.data).mean(), rel=1e-5)
    fitted_layer = copy.deepcopy(layer)
    fitted_layer.weight.data[...] = weight
    fitted_layer.running_abs_mean[0] = running
    w_hat = clipped_operands(fitted_layer, x).w_hat
    assert np.abs(w_hat).mean() == pytest.approx(running, rel=1e-5)
    assert np.array_equal(np.sign(w_hat), np.sign(layer.weight.data))
    # the proposal fits the target better than the layer it started from
    def error(lay):
        out = lay(tm.tensor(x)).data
        g, o = fit_gain_offset(out, target)
        return relative_squared_error(out * g.reshape(1, -1, 1, 1) + o.reshape(1, -1, 1, 1), target)
    assert error(fitted_layer) < error(layer)


@pytest.mark.parametrize("seed", range(3))
def test_stage_two_only_ever_improves_a_layer(seed):
    tm.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layer = nn.MinConv2d(1, 6, 5, padding=2).eval()
    x = rng.random((12, 1, 12, 12)).astype(np.float32)
    x[x < 0.4] = 0  # sparse, like pixels of a digit
    stage1 = copy.deepcopy(layer)
    only_scale = calibrate_layer(stage1, x, fit_max_k=0)
    both = calibrate_layer(layer, x)
    assert not only_scale.thresholds_fitted
    assert both.error_after <= only_scale.error_after
    target = tm.nn.functional.conv2d(tm.tensor(x), stage1.weight, stage1.bias, 1, 2).data
    assert relative_squared_error(layer(tm.tensor(x)).data, target) == pytest.approx(
        both.error_after, rel=1e-4)
    if both.thresholds_fitted:  # training afterwards uses the fitted scale
        assert layer.input_scale_multiple[0] * np.abs(x).mean() == pytest.approx(
            layer.running_abs_mean[0], rel=1e-5)


def test_stage_two_skips_long_receptive_fields_and_other_operators():
    x = np.random.default_rng(0).random((4, 8, 6, 6)).astype(np.float32)
    long_k = nn.MinConv2d(8, 2, 5, padding=2).eval()  # K = 200 > 100
    assert not calibrate_layer(long_k, x).thresholds_fitted
    adder = nn.MinConv2d(8, 2, 3, padding=1, operator="adder").eval()
    assert not calibrate_layer(adder, x).thresholds_fitted


def test_linear_correction_undoes_a_known_affine_distortion():
    tm.manual_seed(0)
    layer = nn.Linear(6, 3)
    rng = np.random.default_rng(0)
    x_exact = rng.normal(size=(40, 6)).astype(np.float32)
    x = 0.5 * x_exact  # min features at half the scale: z = 0.5 W x* + b
    z_exact = layer(tm.tensor(x_exact)).data
    report = correct_linear(layer, x, x_exact, "6")
    assert isinstance(report, LinearCorrection) and report.layer == "6"
    np.testing.assert_allclose(layer(tm.tensor(x)).data, z_exact, rtol=1e-4, atol=1e-5)
    assert report.error_before > 0.05 and report.error_after < 1e-8


def test_calibrate_min_reports_the_linear_correction_last_when_asked():
    tm.manual_seed(0)
    exact = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 5), nn.ReLU(), nn.Linear(5, 3)).eval()
    x = np.random.default_rng(0).random((32, 1, 8, 8)).astype(np.float32)
    with tm.no_grad():
        features = exact[4](tm.tensor(list(exact)[3](list(exact)[2](list(exact)[1](
            exact[0](tm.tensor(x))))).data)).data
    converted = nn.convert_to_min(exact)
    plain = copy.deepcopy(converted)
    report = nn.calibrate_min(converted, x, linear_correction=True)
    assert [r.layer for r in report] == ["0", "4"]
    assert isinstance(report[-1], LinearCorrection)
    assert report[-1].error_after <= report[-1].error_before
    assert np.array_equal(converted[6].weight.data, exact[6].weight.data)  # only the first
    with tm.no_grad():
        z = converted[4](tm.tensor(list(converted)[3](list(converted)[2](list(converted)[1](
            converted[0](tm.tensor(x))))).data)).data
    assert relative_squared_error(z, features) == pytest.approx(report[-1].error_after, rel=1e-4)
    skipped = nn.calibrate_min(plain, x, fit_max_k=0)  # no correction by default
    assert [r.layer for r in skipped] == ["0"] and not skipped[0].thresholds_fitted
    np.testing.assert_array_equal(plain[4].weight.data, exact[4].weight.data)
