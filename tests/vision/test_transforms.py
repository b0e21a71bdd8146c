"""tinymin.vision.transforms: what torchvision documents and needs no torch to check
(ToTensor, Normalize and a pipeline against torch: tests/torchlike/test_vision.py)."""

import numpy as np
import pytest

import tinymin as tm
from tinymin.vision import transforms

IMAGES = np.random.default_rng(0).integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
RNG = np.random.default_rng(1)


def test_to_tensor_refuses_what_torchvision_refuses():
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        transforms.ToTensor()(tm.zeros(1, 2, 2))
    with pytest.raises(TypeError):
        transforms.ToTensor()([[1, 2]])
    with pytest.raises(ValueError, match="2/3 dimensional"):
        transforms.ToTensor()(np.zeros((1, 2, 2, 2), dtype=np.uint8))


def test_normalize_keeps_float64_and_is_differentiable():
    x = tm.tensor(RNG.random((2, 3, 3)), requires_grad=True, dtype=np.float64)
    y = transforms.Normalize((0.5, 0.1), (2.0, 4.0))(x)
    assert y.dtype == np.float64
    assert tm.gradcheck(lambda a: transforms.Normalize((0.5, 0.1), (2.0, 4.0))(a), [x])
    with pytest.raises(ValueError, match="channels"):
        transforms.Normalize((0.5, 0.1, 0.2), (1.0, 1.0, 1.0))(x)


def test_compose_and_lambda_like_torchvision():
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda t: t * 2)])
    out = pipeline(np.full((2, 2), 255, dtype=np.uint8))
    np.testing.assert_array_equal(out.numpy(), np.full((1, 2, 2), 2.0, dtype=np.float32))
    with pytest.raises(TypeError):
        transforms.Lambda(3)


def test_crops_and_flips_go_after_to_tensor_and_keep_tensors():
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.RandomCrop(28, padding=2),
                                   transforms.RandomHorizontalFlip(p=1.0),
                                   transforms.CenterCrop(24)])
    out = pipeline(IMAGES[0])
    assert isinstance(out, tm.Tensor) and out.shape == (1, 24, 24)
    flipped = transforms.RandomHorizontalFlip(p=1.0)(transforms.ToTensor()(IMAGES[0]))
    np.testing.assert_array_equal(flipped.numpy()[0], IMAGES[0][:, ::-1] / np.float32(255))
