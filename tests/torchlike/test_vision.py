"""``tinymin.vision`` (issue #20, item 3) against torchvision's documented behaviour,
written with torch (torchvision itself is not installed here): ``ToTensor`` of arrays
and PIL images, ``Normalize``, and a whole MNIST pipeline's batches. The datasets' own
tests, which need no torch, are in tests/vision."""

import gzip
import struct

import numpy as np
import pytest

import tinymin as tm
from tinymin.utils.data import DataLoader
from tinymin.vision import datasets, transforms

torch = pytest.importorskip("torch", reason="the PyTorch oracle tests need torch (the torch extra)")

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
LABELS = np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)


def idx_bytes(array):
    """The IDX format: zero bytes, the dtype code 0x08 (ubyte), the number of dims,
    each dim as a big-endian int32, then the data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_split(folder, prefix="train", gz=True, images=IMAGES, labels=LABELS):
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in ((f"{prefix}-images-idx3-ubyte", images),
                        (f"{prefix}-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def test_a_torchvision_pipeline_batches_like_torch(tmp_path):
    write_split(tmp_path / "MNIST" / "raw")
    transform = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize((0.1307,), (0.3081,))])
    loader = DataLoader(datasets.MNIST(tmp_path, transform=transform), batch_size=4)
    x, y = next(iter(loader))
    assert x.shape == (4, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    reference = (torch.from_numpy(IMAGES[:4, None]).float().div(255) - 0.1307) / 0.3081
    np.testing.assert_allclose(x.numpy(), reference.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(y.numpy(), LABELS[:4])


# ------------------------------------------------------------------ transforms
def torchvision_to_tensor(array):
    """torchvision's documented ToTensor of an ndarray, written with torch."""
    if array.ndim == 2:
        array = array[:, :, None]
    img = torch.from_numpy(array.transpose((2, 0, 1))).contiguous()
    return img.to(torch.float32).div(255) if img.dtype == torch.uint8 else img


@pytest.mark.parametrize("array", [
    RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8),
    RNG.integers(0, 256, size=(5, 7), dtype=np.uint8),
    RNG.integers(0, 256, size=(4, 4, 1), dtype=np.uint8),
    RNG.normal(size=(3, 4, 2)),                       # not uint8: only transposed
    RNG.integers(0, 1000, size=(3, 4, 2)).astype(np.int32),
])
def test_to_tensor_of_arrays_follows_torchvision(array):
    ours = transforms.ToTensor()(array)
    theirs = torchvision_to_tensor(array).numpy()
    assert isinstance(ours, tm.Tensor) and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours.numpy(), theirs)


def test_to_tensor_of_pil_images_follows_torchvision():
    pil = pytest.importorskip("PIL.Image", reason="needs Pillow")
    rgb = RNG.integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    for image, expected in (
        (pil.fromarray(rgb), torchvision_to_tensor(rgb)),
        (pil.fromarray(rgb[..., 0]), torchvision_to_tensor(rgb[..., 0])),
        (pil.fromarray(rgb[..., 0] > 128), torchvision_to_tensor(
            (rgb[..., 0] > 128).astype(np.uint8) * 255)),  # mode "1": 0 or 1.0
    ):
        np.testing.assert_array_equal(transforms.ToTensor()(image).numpy(), expected.numpy())


@pytest.mark.parametrize("shape, mean, std", [
    ((3, 4, 5), (0.5, 0.4, 0.3), (0.2, 0.3, 0.4)),
    ((1, 4, 4), (0.1307,), (0.3081,)),
    ((2, 3, 4, 4), (0.5,), (0.25,)),                   # a batch, one value for all channels
])
def test_normalize_tensors_like_torchvision(shape, mean, std):
    x = RNG.random(shape).astype(np.float32)
    ours = transforms.Normalize(mean, std)(tm.tensor(x))
    m = torch.tensor(mean).view(-1, 1, 1)
    s = torch.tensor(std).view(-1, 1, 1)
    theirs = (torch.from_numpy(x) - m) / s  # torchvision's F.normalize
    assert isinstance(ours, tm.Tensor) and ours.dtype == np.float32
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)
