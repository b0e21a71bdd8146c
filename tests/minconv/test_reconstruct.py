"""Layer-wise reconstruction of converted min layers (tinymin.minconv.reconstruct)."""

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn
from tinymin.minconv.reconstruct import layer_errors, reconstruct_min, threshold_gradient


def _exact_model(seed: int = 0) -> nn.Sequential:
    tm.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.LeakyReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 8, 3, padding=1), nn.LeakyReLU(), nn.Flatten(),
                         nn.Linear(8 * 4 * 4, 4)).eval()


def _images(n: int, seed: int) -> np.ndarray:
    """Sparse, blurred non-negative images: some structure, like pixels."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 8, 8)) * (rng.random((n, 1, 8, 8)) < 0.4)
    x = x + np.roll(x, 1, axis=2) + np.roll(x, 1, axis=3)
    return x.astype(np.float32)


def _converted(exact: nn.Sequential, images: np.ndarray) -> nn.Sequential:
    model = nn.convert_to_min(exact)
    nn.recalibrate_running_statistics(model, [images])
    return model


def test_each_layer_gets_closer_to_the_exact_network_on_held_out_images():
    exact = _exact_model()
    calibration, held_out = _images(96, seed=1), _images(96, seed=2)
    copy = _converted(exact, calibration)
    started = _converted(exact, calibration)  # step 3 alone: the best scale, gain and offset
    reconstruct_min(started, calibration, steps=0)
    model = _converted(exact, calibration)
    report = reconstruct_min(model, calibration, steps=60, rows=512, lr=0.05)
    assert [r.layer for r in report] == ["0", "3"]
    for r in report:  # on the calibration images, as the report says
        assert r.kept and r.error_after < r.error_start < r.error_copy
    before, start, after = (layer_errors(m, exact, held_out) for m in (copy, started, model))
    for name in ("0", "3"):  # and on images it never saw
        assert after[name] < 0.8 * start[name] < 0.8 * before[name], (name, before, start, after)


def test_same_seed_same_model():
    exact, images = _exact_model(), _images(32, seed=3)
    models = [_converted(exact, images) for _ in range(3)]
    for model, seed in zip(models, (5, 5, 6)):
        reconstruct_min(model, images, steps=10, rows=64, seed=seed)
    states = [m.state_dict() for m in models]
    for key in states[0]:
        np.testing.assert_array_equal(states[0][key], states[1][key], err_msg=key)
    assert any(not np.array_equal(states[0][k], states[2][k]) for k in states[0])


def test_a_model_without_min_layers_is_refused():
    with pytest.raises(ValueError, match="no MinConv2d layer"):
        reconstruct_min(_exact_model(), _images(4, seed=0))
    with pytest.raises(ValueError, match="no MinConv2d layer"):
        nn.calibrate_min(_exact_model(), _images(4, seed=0), method="reconstruct")


def test_bad_arguments_are_refused():
    exact, images = _exact_model(), _images(4, seed=0)
    with pytest.raises(ValueError, match="Sequential"):
        reconstruct_min(exact[0], images)
    with pytest.raises(ValueError, match="non-empty"):
        reconstruct_min(_converted(exact, images), images[0])
    with pytest.raises(ValueError, match="target"):
        reconstruct_min(_converted(exact, images), images, target="labels")
    with pytest.raises(ValueError, match="method"):
        nn.calibrate_min(_converted(exact, images), images, method="retrain")
    channel = nn.convert_to_min(exact, scale="channel")
    with pytest.raises(ValueError, match="scale='layer'"):
        reconstruct_min(channel, images)


def test_threshold_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    cols = rng.normal(size=(400, 5)).astype(np.float64)
    signs = np.sign(rng.normal(size=(3, 5)))
    tau = rng.uniform(0.3, 1.5, size=(3, 5))
    target = rng.normal(size=(400, 3))

    def error(t):
        s = np.stack([(signs[c] * np.clip(cols, -t[c], t[c])).sum(axis=1) for c in range(3)], axis=1)
        s0, t0 = s - s.mean(0), target - target.mean(0)
        left = (t0 * t0).sum(0) - (s0 * t0).sum(0) ** 2 / (s0 * s0).sum(0)
        return left.sum() / (t0 * t0).sum()

    grad = threshold_gradient(cols, target, tau, signs)
    h = 1e-6  # no input sits within h of a threshold, so the error is smooth there
    for c, k in [(0, 0), (1, 3), (2, 4)]:
        step = np.zeros_like(tau)
        step[c, k] = h
        numeric = (error(tau + step) - error(tau - step)) / (2 * h)
        assert grad[c, k] == pytest.approx(numeric, rel=1e-4, abs=1e-9)


def test_calibrate_min_method_reconstruct_is_reconstruct_min():
    exact, images = _exact_model(), _images(32, seed=4)
    a, b = _converted(exact, images), _converted(exact, images)
    nn.calibrate_min(a, images, method="reconstruct", seed=1)
    reconstruct_min(b, images, seed=1)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key], err_msg=key)
