"""Tests for tinymin.data.transforms: maths, shapes, batches and seeded randomness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinymin.data.transforms import (
    CenterCrop,
    Compose,
    Lambda,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    ToFloat,
)
from tinymin.random import manual_seed


def images(n: int | None = None, c: int = 3, h: int = 8, w: int = 8, seed: int = 0) -> np.ndarray:
    shape = (c, h, w) if n is None else (n, c, h, w)
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


# ---------------------------------------------------------------------------
# Normalize
# ---------------------------------------------------------------------------


def test_normalize_per_channel_math():
    x = images(c=3)
    mean, std = (0.1, 0.5, 0.9), (0.2, 1.0, 4.0)
    y = Normalize(mean, std)(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    for c in range(3):
        np.testing.assert_allclose(y[c], (x[c] - mean[c]) / std[c], rtol=1e-6)


def test_normalize_batch_matches_single_images():
    x = images(5, c=2)
    norm = Normalize((0.3, 0.7), (0.5, 0.25))
    np.testing.assert_allclose(norm(x), np.stack([norm(img) for img in x]), rtol=1e-6)


def test_normalize_single_value_applies_to_every_channel():
    x = images(c=3)
    np.testing.assert_allclose(Normalize((0.5,), (2.0,))(x), (x - 0.5) / 2.0, rtol=1e-6)


@pytest.mark.parametrize(
    "mean, std, pattern",
    [
        ((0.1, 0.2), (0.3,), "same length"),
        ((0.1,), (0.0,), "positive"),
        ([[0.1]], [[1.0]], "one value"),
    ],
)
def test_normalize_validates_arguments(mean, std, pattern):
    with pytest.raises(ValueError, match=pattern):
        Normalize(mean, std)


def test_normalize_rejects_channel_mismatch_and_bad_rank():
    with pytest.raises(ValueError, match="3 channels"):
        Normalize((0.1, 0.2), (1.0, 1.0))(images(c=3))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        Normalize((0.1,), (1.0,))(np.zeros((28, 28)))


@given(st.floats(-2, 2), st.floats(0.1, 3))
def test_normalize_is_invertible(mean, std):
    x = images(4, c=1)
    y = Normalize((mean,), (std,))(x)
    np.testing.assert_allclose(y * np.float32(std) + np.float32(mean), x, atol=1e-5)


# ---------------------------------------------------------------------------
# Crops
# ---------------------------------------------------------------------------


def test_center_crop_cifar_32_to_28():
    x = images(4, c=3, h=32, w=32)
    y = CenterCrop(28)(x)
    assert y.shape == (4, 3, 28, 28)
    np.testing.assert_array_equal(y, x[..., 2:30, 2:30])
    np.testing.assert_array_equal(CenterCrop((28, 30))(x[0]), x[0, :, 2:30, 1:31])


def test_center_crop_too_large():
    with pytest.raises(ValueError, match="larger"):
        CenterCrop(9)(images())


@pytest.mark.parametrize("size", [0, -1, (3,), (3, 4, 5), 2.5])
def test_crop_size_validated(size):
    with pytest.raises(ValueError, match="size"):
        RandomCrop(size)


def test_random_crop_shapes_single_and_batch():
    crop = RandomCrop(6, padding=2, rng=np.random.default_rng(0))
    assert crop(images()).shape == (3, 6, 6)
    assert crop(images(5)).shape == (5, 3, 6, 6)
    assert RandomCrop((4, 8))(images(2)).shape == (2, 3, 4, 8)


def test_random_crop_is_a_window_of_the_padded_image():
    x = images(1, c=2)[0]
    padded = np.pad(x, ((0, 0), (3, 3), (3, 3)))
    y = RandomCrop(8, padding=3, rng=np.random.default_rng(1))(x)
    windows = [padded[:, t : t + 8, l : l + 8] for t in range(7) for l in range(7)]
    assert any(np.array_equal(y, wnd) for wnd in windows)


def test_random_crop_draws_per_image_in_a_batch():
    x = np.repeat(images(1), 32, axis=0)  # 32 copies of one image
    y = RandomCrop(8, padding=4, rng=np.random.default_rng(0))(x)
    assert len({img.tobytes() for img in y}) > 1


def test_random_crop_without_padding_at_full_size_is_identity():
    x = images(3)
    np.testing.assert_array_equal(RandomCrop(8)(x), x)


def test_random_crop_reproducible_under_manual_seed():
    crop = RandomCrop(6, padding=2)
    x = images(8)
    manual_seed(123)
    first = crop(x)
    manual_seed(123)
    np.testing.assert_array_equal(crop(x), first)
    assert not np.array_equal(crop(x), first)  # the stream moves on


def test_random_crop_rng_argument():
    x = images(8)
    a = RandomCrop(6, 2, rng=np.random.default_rng(5))(x)
    b = RandomCrop(6, 2, rng=np.random.default_rng(5))(x)
    np.testing.assert_array_equal(a, b)


def test_random_crop_invalid_padding_and_too_large():
    with pytest.raises(ValueError, match="padding"):
        RandomCrop(4, padding=-1)
    with pytest.raises(ValueError, match="larger"):
        RandomCrop(11, padding=1)(images())


# ---------------------------------------------------------------------------
# Flip
# ---------------------------------------------------------------------------


def test_flip_really_mirrors():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    y = RandomHorizontalFlip(p=1.0)(x)
    np.testing.assert_array_equal(y, x[:, :, ::-1])
    assert y[0, 0].tolist() == [3, 2, 1, 0]
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(x), x)


def test_flip_batch_is_per_image_and_seeded():
    x = images(64)
    manual_seed(7)
    y = RandomHorizontalFlip()(x)
    flipped = [np.array_equal(b, a[..., ::-1]) for a, b in zip(x, y)]
    kept = [np.array_equal(b, a) for a, b in zip(x, y)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54
    manual_seed(7)
    np.testing.assert_array_equal(RandomHorizontalFlip()(x), y)


def test_flip_validates_p():
    with pytest.raises(ValueError, match="p must be"):
        RandomHorizontalFlip(p=1.5)


@pytest.mark.parametrize(
    "transform",
    [
        RandomHorizontalFlip(p=1.0),
        RandomCrop(8, padding=2),
        CenterCrop(6),
        Normalize((0.5,), (0.5,)),
    ],
)
def test_input_is_never_modified(transform):
    x = images(3)
    before = x.copy()
    y = transform(x)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(x, y)


# ---------------------------------------------------------------------------
# Compose, Lambda, ToFloat, repr
# ---------------------------------------------------------------------------


def test_compose_applies_in_order():
    t = Compose([Lambda(lambda x: x + 1), Lambda(lambda x: x * 10)])
    assert t(np.float32(1)) == 20


def test_to_float_scales_integers_only():
    u8 = np.array([[[0, 255]]], dtype=np.uint8)
    np.testing.assert_array_equal(ToFloat()(u8), [[[0.0, 1.0]]])
    assert ToFloat()(u8).dtype == np.float32
    np.testing.assert_array_equal(ToFloat()(np.array([2.5])), [2.5])


def test_lambda_requires_callable():
    with pytest.raises(TypeError):
        Lambda(3)


def test_readable_repr():
    t = Compose(
        [
            RandomCrop(32, padding=4),
            RandomHorizontalFlip(),
            CenterCrop(28),
            Normalize((0.5,), (0.25,)),
        ]
    )
    assert repr(t) == (
        "Compose(\n"
        "    RandomCrop(size=(32, 32), padding=4)\n"
        "    RandomHorizontalFlip(p=0.5)\n"
        "    CenterCrop(size=(28, 28))\n"
        "    Normalize(mean=(0.5,), std=(0.25,))\n"
        ")"
    )
    assert repr(Lambda(abs)) == "Lambda(abs)" and repr(ToFloat()) == "ToFloat()"
