"""``tinymin.vision`` (issue #20, item 3) against torchvision's documented behaviour
(torchvision is not installed here): MNIST and Fashion-MNIST found where torchvision
puts their files, the transform handed what torchvision hands it, and ``ToTensor``,
``Normalize``, ``Compose``, ``Lambda``. The data are small IDX files written in the real
format; nothing is downloaded."""

import gzip
import struct
import sys

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


@pytest.mark.parametrize("cls, folder, gz", [
    (datasets.MNIST, "MNIST/raw", True), (datasets.MNIST, "MNIST/raw", False),
    (datasets.MNIST, "mnist", True), (datasets.MNIST, "", False),
    (datasets.FashionMNIST, "FashionMNIST/raw", True),
    (datasets.FashionMNIST, "fashion-mnist", False),
])
def test_files_are_found_where_torchvision_and_tinymin_put_them(tmp_path, cls, folder, gz):
    write_split(tmp_path / folder, gz=gz)
    dataset = cls(str(tmp_path), train=True, download=False)
    assert len(dataset) == 6 and dataset.source == tmp_path / folder
    np.testing.assert_array_equal(dataset.data, IMAGES)
    np.testing.assert_array_equal(dataset.targets, LABELS)
    assert dataset.targets.dtype == np.int64


def test_the_test_split_and_a_missing_split(tmp_path):
    write_split(tmp_path / "MNIST" / "raw", prefix="t10k", images=IMAGES[:2], labels=LABELS[:2])
    assert len(datasets.MNIST(tmp_path, train=False)) == 2
    with pytest.raises(datasets.tinymin_datasets.DatasetNotFoundError, match="MNIST/raw"):
        datasets.MNIST(tmp_path, train=True)


def test_the_transform_gets_a_pil_image_like_torchvision(tmp_path):
    pil = pytest.importorskip("PIL.Image", reason="Pillow hands the transform a PIL image")
    write_split(tmp_path / "MNIST" / "raw")
    seen = []
    dataset = datasets.MNIST(tmp_path, transform=lambda img: seen.append(img) or img,
                             target_transform=lambda y: y * 10)
    image, target = dataset[2]
    assert isinstance(seen[0], pil.Image) and seen[0].mode == "L" and seen[0].size == (28, 28)
    np.testing.assert_array_equal(np.array(image), IMAGES[2])
    assert target == 40 and type(dataset[0][1]) is int
    untransformed = datasets.MNIST(tmp_path)[0][0]
    assert isinstance(untransformed, pil.Image)  # torchvision: a PIL image without transform


def test_without_pillow_the_transform_gets_a_uint8_array(tmp_path, monkeypatch):
    write_split(tmp_path / "MNIST" / "raw")
    monkeypatch.setitem(sys.modules, "PIL", None)  # "import PIL" now fails
    image, _ = datasets.MNIST(tmp_path)[1]
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (28, 28)
    tensor = datasets.MNIST(tmp_path, transform=transforms.ToTensor())[1][0]
    np.testing.assert_array_equal(tensor.numpy(), IMAGES[1][None].astype(np.float32) / 255)


def test_download_puts_the_files_where_torchvision_does(tmp_path, monkeypatch):
    written = []

    def fake_download(cls, files, dest):  # no network in tests: write the files instead
        written.append(dest)
        write_split(dest)

    monkeypatch.setattr(datasets.MNIST, "_download", classmethod(fake_download))
    dataset = datasets.MNIST(tmp_path, download=True)
    assert written == [tmp_path / "MNIST" / "raw"] and len(dataset) == 6
    datasets.MNIST(tmp_path, download=True)  # found now: nothing downloaded again
    assert len(written) == 1


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


def test_embedded_mnist_takes_torchvisions_arguments():
    dataset = datasets.EmbeddedMNIST("../data", train=False, download=True,
                                     transform=transforms.ToTensor())
    image, label = dataset[0]
    assert len(dataset) == 10_000 and image.shape == (1, 28, 28) and isinstance(label, int)
    assert dataset.class_to_idx["7 - seven"] == 7


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


def test_to_tensor_refuses_what_torchvision_refuses():
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        transforms.ToTensor()(tm.zeros(1, 2, 2))
    with pytest.raises(TypeError):
        transforms.ToTensor()([[1, 2]])
    with pytest.raises(ValueError, match="2/3 dimensional"):
        transforms.ToTensor()(np.zeros((1, 2, 2, 2), dtype=np.uint8))


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
