"""Folding the scales of a min model: same logits, no multiplication in the conv stack."""

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn
from tinymin.minconv.fold import fold_min_model, format_operation_table, operation_counts
from tinymin.models import lenet, mini_cifar

# Every test here runs on both kernel backends (numpy twins and Cython; see conftest.py).
pytestmark = pytest.mark.usefixtures("backend")


def calibrated(model, shape, seed=0):
    rng = np.random.default_rng(seed)
    batches = [rng.random((8, *shape)).astype(np.float32) for _ in range(2)]
    nn.recalibrate_running_statistics(model, batches)
    return model, rng.random((4, *shape)).astype(np.float32)


@pytest.mark.parametrize("clip_value", [None, 3.0])
def test_folded_lenet_gives_the_eval_logits(clip_value):
    tm.manual_seed(0)
    model, x = calibrated(lenet(conv="min", clip_value=clip_value), (1, 28, 28))
    expected = model(tm.tensor(x)).data
    folded = fold_min_model(model)
    np.testing.assert_allclose(folded(x), expected, rtol=1e-4, atol=1e-4)


def test_folded_mini_cifar_and_other_operators():
    tm.manual_seed(1)
    model, x = calibrated(mini_cifar(conv="min"), (3, 28, 28))
    np.testing.assert_allclose(fold_min_model(model)(x), model(tm.tensor(x)).data, rtol=1e-4,
                               atol=1e-4)
    model, x = calibrated(lenet(conv="min", operator="adder"), (1, 28, 28))
    np.testing.assert_allclose(fold_min_model(model)(x), model(tm.tensor(x)).data, rtol=1e-4,
                               atol=1e-4)


def test_channel_scale_into_a_linear_folds_and_into_a_min_layer_costs_a_rescale():
    tm.manual_seed(2)
    single = nn.Sequential(nn.MinConv2d(1, 3, 3, padding=1, scale="channel"), nn.LeakyReLU(),
                           nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    single, x = calibrated(single, (1, 8, 8))
    np.testing.assert_allclose(fold_min_model(single)(x), single(tm.tensor(x)).data, rtol=1e-4,
                               atol=1e-5)
    model, x = calibrated(lenet(conv="min", scale="channel"), (1, 28, 28))
    folded = fold_min_model(model)
    assert "ChannelRescale" in repr(folded)
    np.testing.assert_allclose(folded(x), model(tm.tensor(x)).data, rtol=1e-4, atol=1e-4)
    rows = {r["layer"]: r for r in operation_counts(model, (1, 28, 28))}
    assert rows["0: MinConv2d"]["multiplications"] == 0
    assert rows["3: MinConv2d"]["multiplications"] == 32 * 14 * 14  # rescale of its input
    assert rows["7: Linear"]["multiplications"] == 3136 * 1024  # conv2's scale folds in here


def test_operation_counts_for_lenet():
    exact = {r["layer"]: r for r in operation_counts(lenet(), (1, 28, 28))}
    mins = {r["layer"]: r for r in operation_counts(lenet(conv="min"), (1, 28, 28))}
    conv1_pairs = 28 * 28 * 25 * 32
    conv2_pairs = 14 * 14 * 800 * 64
    assert exact["0: Conv2d"]["multiplications"] == conv1_pairs
    assert mins["0: MinConv2d"]["multiplications"] == 0
    assert mins["0: MinConv2d"]["comparisons"] == conv1_pairs
    assert mins["3: MinConv2d"]["additions"] == conv2_pairs == exact["3: Conv2d"]["additions"]
    unfolded = {r["layer"]: r for r in operation_counts(lenet(conv="min"), (1, 28, 28), folded=False)}
    assert unfolded["3: MinConv2d"]["multiplications"] == 14 * 14 * 64
    assert exact["7: Linear"]["multiplications"] == 3136 * 1024
    text = format_operation_table(operation_counts(lenet(conv="min"), (1, 28, 28)))
    assert "total" in text and "MinConv2d" in text


def test_non_positive_calibration_gains_fold_exactly_with_an_affine_step():
    tm.manual_seed(3)
    model, x = calibrated(lenet(conv="min"), (1, 28, 28))
    conv1 = model[0]
    gain = np.linspace(0.5, 1.5, conv1.out_channels).astype(conv1.output_gain.dtype)
    gain[[1, 4]] = [0.0, -0.7]  # a dead channel and an anti-correlated one
    conv1.output_gain[...] = gain
    conv1.output_offset[...] = np.linspace(-0.1, 0.1, conv1.out_channels)
    folded = fold_min_model(model)
    np.testing.assert_allclose(folded(x), model(tm.tensor(x)).data, rtol=1e-4, atol=1e-4)
    assert np.all(np.isfinite(folded.steps[0].bias))
    rows = {r["layer"]: r for r in operation_counts(model, (1, 28, 28))}
    assert rows["0: MinConv2d"]["multiplications"] == 32 * 28 * 28  # the affine after it
    assert rows["3: MinConv2d"]["multiplications"] == 0  # the scale reaching it is 1 again


def test_folded_model_accepts_float64_input():
    tm.manual_seed(4)
    model, x = calibrated(lenet(conv="min"), (1, 28, 28))
    folded = fold_min_model(model)
    np.testing.assert_allclose(folded(x.astype(np.float64)), folded(x), rtol=1e-5, atol=1e-6)


def test_average_pooling_folds_and_counts_as_additions():
    tm.manual_seed(5)
    model = nn.Sequential(nn.MinConv2d(1, 4, 3, padding=1), nn.LeakyReLU(), nn.AvgPool2d(2),
                          nn.MinConv2d(4, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(6 * 2 * 2, 3))
    model, x = calibrated(model, (1, 8, 8))
    np.testing.assert_allclose(fold_min_model(model)(x), model(tm.tensor(x)).data, rtol=1e-4,
                               atol=1e-5)
    rows = {r["layer"]: r for r in operation_counts(model, (1, 8, 8))}
    assert rows["2: AvgPool2d"] == {"layer": "2: AvgPool2d", "multiplications": 4 * 4 * 4,
                                    "comparisons": 0, "sign_flips": 0, "additions": 4 * 4 * 4 * 3}
    assert rows["1: LeakyReLU"]["comparisons"] == 4 * 8 * 8


def test_folded_model_walks_a_large_batch_in_chunks_of_images(monkeypatch):
    # the folded convolutions bound their column matrix as conv2d does (10,000 LeNet
    # images at once used to build a 6 GB matrix); chunked output == one-piece output
    from tinymin import _ext
    from tinymin.ops.conv import set_im2col_limit

    tm.manual_seed(2)
    model, _ = calibrated(lenet(conv="min"), (1, 28, 28))
    x = np.random.default_rng(3).random((7, 1, 28, 28)).astype(np.float32)
    folded = fold_min_model(model)
    whole = folded(x)
    conv2_batches = []
    im2col = _ext.im2col

    def recording_im2col(images, *args, **kwargs):
        if images.shape[1] == 32:  # conv2's input
            conv2_batches.append(images.shape[0])
        return im2col(images, *args, **kwargs)

    monkeypatch.setattr(_ext, "im2col", recording_im2col)
    previous = set_im2col_limit(196 * 800 * 4 * 2)  # conv2's columns of two images
    try:
        chunked = folded(x)
    finally:
        set_im2col_limit(previous)
    assert conv2_batches == [2, 2, 2, 1]
    np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=1e-6)
