"""tinymin.vision.datasets: MNIST and Fashion-MNIST found where torchvision puts their
files (and where tinymin does), the transform handed what torchvision hands it, downloads
into torchvision's place. The data are small IDX files written in the real format in
tmp_path; nothing is downloaded."""

import gzip
import struct
import sys

import numpy as np
import pytest

from tinymin.vision import datasets, transforms

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


def test_embedded_mnist_takes_torchvisions_arguments():
    dataset = datasets.EmbeddedMNIST("../data", train=False, download=True,
                                     transform=transforms.ToTensor())
    image, label = dataset[0]
    assert len(dataset) == 10_000 and image.shape == (1, 28, 28) and isinstance(label, int)
    assert dataset.class_to_idx["7 - seven"] == 7
