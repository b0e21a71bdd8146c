"""Tests for tinymin.data.datasets: real file formats built in tmp_path, no network."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinymin.data import datasets as ds
from tinymin.data import download, files
from tinymin.data.datasets import (
    CIFAR10,
    MNIST,
    DatasetError,
    DatasetNotFoundError,
    DownloadError,
    EmbeddedMNIST,
    FashionMNIST,
)
from tinymin.data.download import RemoteFile

REPO = Path(__file__).resolve().parents[2]
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------------------
# Isolation: no network, no user data roots
# ---------------------------------------------------------------------------

_real_urlopen = urllib.request.urlopen


def _local_only_urlopen(request, *args, **kwargs):
    url = getattr(request, "full_url", request)
    if not url.startswith("file:"):
        raise AssertionError(f"test tried to reach the network: {url}")
    return _real_urlopen(request, *args, **kwargs)


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path):
    """Block non-file URLs; point $HOME and $TINYMIN_DATA into tmp_path."""
    monkeypatch.setattr(urllib.request, "urlopen", _local_only_urlopen)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(files.ENV_VAR, raising=False)
    monkeypatch.setattr(FashionMNIST, "extra_dirs", (str(tmp_path / "system"),))


# ---------------------------------------------------------------------------
# Writers for the real formats
# ---------------------------------------------------------------------------


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file of unsigned bytes holding ``arr``."""
    magic = 0x00000800 | arr.ndim if magic is None else magic
    dims = b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return magic.to_bytes(4, "big") + dims + arr.astype(np.uint8).tobytes()


def write(path: Path, payload: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


def make_mnist(folder: Path, prefix: str = "train", n: int = 6, gz: bool = False, seed: int = 0):
    """Write an images/labels IDX pair into ``folder``; return the arrays."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    write(folder / f"{prefix}-images-idx3-ubyte", idx_bytes(images), gz)
    write(folder / f"{prefix}-labels-idx1-ubyte", idx_bytes(labels), gz)
    return images, labels


def cifar_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    records = np.concatenate([labels[:, None], images.reshape(len(images), -1)], axis=1)
    return records.astype(np.uint8).tobytes()


def make_cifar(folder: Path, n: int = 3, seed: int = 0):
    """Write five train batches and a test batch of ``n`` records each."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in CIFAR10.train_files + CIFAR10.test_files:
        images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write(folder / name, cifar_bytes(images, labels))
        out[name] = (images, labels)
    return out


# ---------------------------------------------------------------------------
# IDX / MNIST
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_mnist_round_trip(tmp_path, gz, train):
    prefix = "train" if train else "t10k"
    images, labels = make_mnist(tmp_path / "mnist", prefix, gz=gz)
    data = MNIST(root=tmp_path, train=train)
    assert data.data.dtype == np.uint8 and np.array_equal(data.data, images)
    assert data.targets.dtype == np.int64 and np.array_equal(data.targets, labels)
    assert len(data) == len(images) and len(data.classes) == 10
    x, y = data[2]
    assert x.dtype == np.float32 and x.shape == (1, 28, 28)
    np.testing.assert_allclose(x[0], images[2] / 255.0, rtol=1e-6)
    assert type(y) is int and y == labels[2]
    xs, ys = data.arrays()
    assert xs.shape == (len(images), 1, 28, 28) and xs.dtype == np.float32
    assert ys.dtype == np.int64 and np.array_equal(xs[2], x)
    assert data.source == tmp_path / "mnist"


@pytest.mark.parametrize("layout", ["mnist", "", "MNIST/raw"])
def test_mnist_layouts(tmp_path, layout):
    images, _ = make_mnist(tmp_path / layout if layout else tmp_path)
    assert np.array_equal(MNIST(root=tmp_path).data, images)


def test_transforms_are_applied_per_sample(tmp_path):
    make_mnist(tmp_path)
    data = MNIST(root=tmp_path, transform=lambda x: x * 2, target_transform=lambda y: y + 100)
    x, y = data[0]
    np.testing.assert_allclose(x, 2 * data.arrays()[0][0])
    assert y == data.targets[0] + 100
    assert "Transform" in repr(data)


def _write_pair(folder: Path, images: bytes, labels: bytes, gz: bool = False) -> tuple[Path, Path]:
    return (
        write(folder / "train-images-idx3-ubyte", images, gz),
        write(folder / "train-labels-idx1-ubyte", labels, gz),
    )


GOOD_IMAGES = np.zeros((4, 28, 28), np.uint8)
GOOD_LABELS = np.arange(4, dtype=np.uint8)


@pytest.mark.parametrize(
    "images, labels, bad, pattern",
    [
        (idx_bytes(GOOD_IMAGES, 0x00000801), idx_bytes(GOOD_LABELS), 0, "magic number"),
        (idx_bytes(GOOD_IMAGES), idx_bytes(GOOD_LABELS, 0x00000803), 1, "magic number"),
        (idx_bytes(GOOD_IMAGES)[:-5], idx_bytes(GOOD_LABELS), 0, "truncated"),
        (idx_bytes(GOOD_IMAGES) + b"\0", idx_bytes(GOOD_LABELS), 0, "trailing bytes"),
        (idx_bytes(GOOD_IMAGES)[:9], idx_bytes(GOOD_LABELS), 0, "truncated IDX header"),
        (b"\0\0", idx_bytes(GOOD_LABELS), 0, "shorter than 4 bytes"),
        (idx_bytes(GOOD_IMAGES), idx_bytes(GOOD_LABELS[:3]), 0, "holds 4 images"),
        (idx_bytes(GOOD_IMAGES), idx_bytes(np.array([0, 1, 10, 2])), 1, "label 10"),
        (idx_bytes(np.zeros((4, 28, 27))), idx_bytes(GOOD_LABELS), 0, "28x27"),
    ],
    ids=[
        "magic-img",
        "magic-lbl",
        "truncated",
        "extra",
        "header",
        "tiny",
        "count",
        "label",
        "shape",
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_corrupt_idx_names_the_file(tmp_path, images, labels, bad, pattern, gz):
    paths = _write_pair(tmp_path, images, labels, gz)
    with pytest.raises(DatasetError, match=pattern) as info:
        MNIST(root=tmp_path)
    assert str(paths[bad]) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_gzip_without_gz_suffix_gets_a_hint(tmp_path):
    _write_pair(tmp_path, gzip.compress(idx_bytes(GOOD_IMAGES)), idx_bytes(GOOD_LABELS))
    with pytest.raises(DatasetError, match="gzip-compressed"):
        MNIST(root=tmp_path)


def test_broken_gzip_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(GOOD_IMAGES))[:-20])
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(GOOD_LABELS))
    with pytest.raises(DatasetError, match=str(path)):
        MNIST(root=tmp_path)


def test_not_found_says_what_and_where(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        MNIST(root=tmp_path / "nowhere", train=False)
    msg = str(info.value)
    assert "t10k-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg
    assert str(tmp_path / "nowhere" / "mnist") in msg and "download=True" in msg


def test_an_incomplete_folder_stops_the_search_naming_what_is_missing(tmp_path):
    """A folder with only the images is not passed over for a later one holding both
    files: those could be another data set's (Fashion-MNIST's have the same names)."""
    write(tmp_path / "mnist" / "train-images-idx3-ubyte", idx_bytes(GOOD_IMAGES))
    make_mnist(tmp_path)
    with pytest.raises(DatasetNotFoundError) as error:
        MNIST(root=tmp_path)
    assert str(error.value).startswith(
        f"mnist: {tmp_path / 'mnist'} holds train-images-idx3-ubyte but not "
        "train-labels-idx1-ubyte (each raw or .gz)")
    assert "download=True" in str(error.value)
    write(tmp_path / "mnist" / "train-labels-idx1-ubyte", idx_bytes(GOOD_LABELS))
    assert MNIST(root=tmp_path).source == tmp_path / "mnist"


# ---------------------------------------------------------------------------
# Root lookup
# ---------------------------------------------------------------------------


def test_root_order_default_env_explicit(tmp_path, monkeypatch):
    home_cache = tmp_path / "home" / ".cache" / "tinymin"
    assert files.data_root() == home_cache
    assert files.candidate_dirs("x", extra_dirs=["/sys/x"]) == [
        home_cache / "x", home_cache, Path("/sys/x/x"), Path("/sys/x")
    ]  # fmt: skip
    monkeypatch.setenv(files.ENV_VAR, str(tmp_path / "env"))
    assert files.data_root() == tmp_path / "env"
    assert files.candidate_dirs("x")[0] == tmp_path / "env" / "x"
    explicit = files.candidate_dirs("x", root=tmp_path / "r", extra_dirs=["/sys/x"])
    assert explicit == [tmp_path / "r" / "x", tmp_path / "r"]


def test_fashion_lookup_prefers_env_then_system_dir(tmp_path, monkeypatch):
    system, env = tmp_path / "system", tmp_path / "env"
    sys_images, _ = make_mnist(system, gz=True, seed=1)  # Debian layout: flat .gz files
    monkeypatch.setenv(files.ENV_VAR, str(env))
    assert FashionMNIST().source == system
    assert np.array_equal(FashionMNIST().data, sys_images)
    env_images, _ = make_mnist(env / "fashion-mnist", seed=2)
    assert FashionMNIST().source == env / "fashion-mnist"
    assert np.array_equal(FashionMNIST().data, env_images)
    with pytest.raises(DatasetNotFoundError):  # explicit root: no fallback
        FashionMNIST(root=tmp_path / "empty")


def test_cache_dir_used_without_env(tmp_path):
    images, _ = make_mnist(tmp_path / "home" / ".cache" / "tinymin" / "mnist", "t10k")
    assert np.array_equal(MNIST(train=False).data, images)


@pytest.mark.skipif(
    not (DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_debian_fashion_mnist_test_split(monkeypatch):
    monkeypatch.setattr(FashionMNIST, "extra_dirs", (str(DEBIAN_FASHION),))
    data = FashionMNIST(train=False)
    assert data.source == DEBIAN_FASHION
    assert data.data.shape == (10000, 28, 28)
    assert np.bincount(data.targets).tolist() == [1000] * 10
    assert data.classes[9] == "Ankle boot"


# ---------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["cifar-10/cifar-10-batches-bin", "cifar-10-batches-bin", ""])
def test_cifar_round_trip(tmp_path, layout):
    written = make_cifar(tmp_path / layout if layout else tmp_path)
    train = CIFAR10(root=tmp_path)
    expected = np.concatenate([written[f][0] for f in CIFAR10.train_files])
    assert train.data.shape == (15, 3, 32, 32) and np.array_equal(train.data, expected)
    labels = np.concatenate([written[f][1] for f in CIFAR10.train_files])
    assert np.array_equal(train.targets, labels) and train.targets.dtype == np.int64
    x, y = train[4]
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and 0 <= x.min() <= x.max() <= 1
    np.testing.assert_allclose(x, expected[4] / 255.0, rtol=1e-6)
    assert y == labels[4]
    test = CIFAR10(root=tmp_path, train=False)
    assert np.array_equal(test.data, written["test_batch.bin"][0])
    assert test.arrays()[0].shape == (3, 3, 32, 32)


def test_cifar_channel_planes(tmp_path):
    """Bytes 1..1024 are the red plane, row-major; then green; then blue."""
    record = np.zeros(3073, np.uint8)
    record[0] = 7
    record[1 + 32 + 5] = 11  # red, row 1, column 5
    record[1 + 2 * 1024] = 99  # blue, row 0, column 0
    write(tmp_path / "test_batch.bin", record.tobytes())
    data = CIFAR10(root=tmp_path, train=False)
    assert data.targets[0] == 7 and data.data[0, 0, 1, 5] == 11 and data.data[0, 2, 0, 0] == 99
    assert data.classes[7] == "horse"


@pytest.mark.parametrize(
    "payload, pattern",
    [
        (b"\0" * (3073 * 2 - 1), "not a positive multiple of the 3073"),
        (b"", "not a positive multiple"),
        (bytes([10]) + b"\0" * 3072, "label 10"),
    ],
)
def test_cifar_corrupt_names_the_file(tmp_path, payload, pattern):
    path = write(tmp_path / "test_batch.bin", payload)
    with pytest.raises(DatasetError, match=pattern) as info:
        CIFAR10(root=tmp_path, train=False)
    assert str(path) in str(info.value)


def test_cifar_not_found(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="data_batch_5.bin"):
        CIFAR10(root=tmp_path)


# ---------------------------------------------------------------------------
# Downloads (file:// mirrors and fake openers only)
# ---------------------------------------------------------------------------


def _serve(folder: Path, files: dict[str, bytes]) -> dict[str, RemoteFile]:
    """Write ``files`` into ``folder`` (a fake mirror); return their RemoteFile records."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, payload in files.items():
        (folder / name).write_bytes(payload)
        out[name] = RemoteFile(name, hashlib.sha256(payload).hexdigest(), len(payload))
    return out


def _mnist_mirror(folder: Path, prefix: str = "train"):
    images = np.full((3, 28, 28), 200, np.uint8)
    labels = np.array([1, 2, 3], np.uint8)
    files = {
        f"{prefix}-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)),
        f"{prefix}-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels)),
    }
    return _serve(folder, files), images


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_with_fallback_mirror(tmp_path, monkeypatch):
    resources, images = _mnist_mirror(tmp_path / "mirror")
    dead = (tmp_path / "dead").as_uri() + "/"
    monkeypatch.setattr(MNIST, "resources", resources)
    monkeypatch.setattr(MNIST, "mirrors", (dead, (tmp_path / "mirror").as_uri() + "/"))
    data = MNIST(root=tmp_path / "root", download=True)
    assert np.array_equal(data.data, images) and data.source == tmp_path / "root" / "mnist"
    assert _leftovers(tmp_path / "root" / "mnist") == sorted(resources)
    assert oct((tmp_path / "root" / "mnist" / next(iter(resources))).stat().st_mode)[-3:] == "644"
    # present now: a second call must not touch the network at all
    monkeypatch.setattr(MNIST, "mirrors", ("https://example.invalid/",))
    assert np.array_equal(MNIST(root=tmp_path / "root", download=True).data, images)


def test_download_completes_an_incomplete_folder_fetching_only_what_is_missing(tmp_path,
                                                                              monkeypatch):
    resources, images = _mnist_mirror(tmp_path / "mirror")
    monkeypatch.setattr(MNIST, "resources", resources)
    monkeypatch.setattr(MNIST, "mirrors", ((tmp_path / "mirror").as_uri() + "/",))
    folder = tmp_path / "root" / "mnist"
    write(folder / "train-images-idx3-ubyte.gz",
          (tmp_path / "mirror" / "train-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "mirror" / "train-images-idx3-ubyte.gz").unlink()  # only the labels can come
    data = MNIST(root=tmp_path / "root", download=True)
    assert np.array_equal(data.data, images) and data.source == folder
    assert _leftovers(folder) == sorted(resources)


def test_download_hash_mismatch_leaves_nothing(tmp_path, monkeypatch):
    resources, _ = _mnist_mirror(tmp_path / "mirror")
    name = "train-images-idx3-ubyte.gz"
    resources[name] = RemoteFile(name, "0" * 64, resources[name].size)
    monkeypatch.setattr(MNIST, "resources", resources)
    monkeypatch.setattr(MNIST, "mirrors", ((tmp_path / "mirror").as_uri(),))
    with pytest.raises(DownloadError, match="SHA-256 mismatch") as info:
        MNIST(root=tmp_path / "root", download=True)
    dest = tmp_path / "root" / "mnist"
    assert name not in _leftovers(dest) and not any(n.endswith(".tmp") for n in _leftovers(dest))
    msg = str(info.value)
    assert str(dest) in msg and "train-labels-idx1-ubyte.gz" in msg
    assert isinstance(info.value, FileNotFoundError)


def test_offline_download_error_names_files_and_dir(tmp_path, monkeypatch):
    calls = []

    def offline(request, timeout=None):
        calls.append(request.full_url)
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DownloadError) as info:
        FashionMNIST(root=tmp_path, train=False, download=True)
    msg = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path / "fashion-mnist") in msg and "unreachable" in msg
    assert calls == [FashionMNIST.mirrors[0] + "t10k-images-idx3-ubyte.gz"]
    assert _leftovers(tmp_path / "fashion-mnist") == []


def test_interrupted_download_removes_temp_file(tmp_path):
    class Response(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > 0:
                raise KeyboardInterrupt
            return super().read(4)

    remote = RemoteFile("f.bin", "0" * 64, 100)
    with pytest.raises(KeyboardInterrupt):
        download.download_file(
            remote, ["https://x/"], tmp_path, opener=lambda r, timeout: Response(b"a" * 100)
        )
    assert _leftovers(tmp_path) == []


def test_download_error_lists_every_mirror(tmp_path):
    remote = RemoteFile("f.bin", "0" * 64, 1)
    mirrors = [(tmp_path / "a").as_uri(), (tmp_path / "b").as_uri()]
    with pytest.raises(DownloadError) as info:
        download.download_file(remote, mirrors, tmp_path / "dest")
    assert all(m + "/f.bin" in str(info.value) for m in mirrors)


def _tar_gz(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return buf.getvalue()


def test_cifar_download_and_extract(tmp_path, monkeypatch):
    written = make_cifar(tmp_path / "src", n=2)
    members = {
        f"cifar-10-batches-bin/{name}": (tmp_path / "src" / name).read_bytes() for name in written
    }
    archive = _serve(tmp_path / "mirror", {"cifar-10-binary.tar.gz": _tar_gz(members)})
    monkeypatch.setattr(CIFAR10, "archive", archive["cifar-10-binary.tar.gz"])
    monkeypatch.setattr(CIFAR10, "mirrors", ((tmp_path / "mirror").as_uri(),))
    data = CIFAR10(root=tmp_path / "root", train=False, download=True)
    assert data.source == tmp_path / "root" / "cifar-10" / "cifar-10-batches-bin"
    assert np.array_equal(data.data, written["test_batch.bin"][0])
    assert len(CIFAR10(root=tmp_path / "root")) == 10  # train batches were extracted too


def test_cifar_archive_with_wrong_hash_is_refused(tmp_path, monkeypatch):
    dest = tmp_path / "cifar-10"
    write(dest / "cifar-10-binary.tar.gz", b"not the archive")
    with pytest.raises(DatasetError, match="SHA-256"):
        CIFAR10(root=tmp_path, download=True)


@pytest.mark.parametrize(
    "members, symlink",
    [
        ({"cifar-10-batches-bin/a.bin": b"x", "../evil.bin": b"x"}, None),
        ({"/tmp/evil.bin": b"x"}, None),
        ({"cifar-10-batches-bin/a.bin": b"x"}, "cifar-10-batches-bin/link"),
    ],
    ids=["dotdot", "absolute", "symlink"],
)
def test_safe_extract_rejects_unsafe_members(tmp_path, members, symlink):
    archive = write(tmp_path / "a.tar.gz", _tar_gz(members, symlink))
    dest = tmp_path / "out" / "dest"
    with pytest.raises(DatasetError, match="a.tar.gz"):
        download.safe_extract(archive, dest)
    assert not (tmp_path / "out").exists()  # nothing was extracted, not even partly


def test_safe_extract_corrupt_archive(tmp_path):
    archive = write(tmp_path / "a.tar.gz", _tar_gz({"a": b"x" * 1000})[:30])
    with pytest.raises(DatasetError, match="cannot extract"):
        download.safe_extract(archive, tmp_path / "out")


# ---------------------------------------------------------------------------
# Embedded MNIST and the tool that builds it
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded():
    return EmbeddedMNIST(train=True), EmbeddedMNIST(train=False)


def test_embedded_shapes_dtypes_ranges(embedded):
    for data, n in zip(embedded, (5000, 10000)):
        assert data.data.shape == (n, 28, 28) and data.data.dtype == np.uint8
        assert data.targets.shape == (n,) and data.targets.dtype == np.int64
        x, y = data[0]
        assert x.shape == (1, 28, 28) and x.dtype == np.float32 and isinstance(y, int)
        xs, ys = data.arrays()
        assert xs.shape == (n, 1, 28, 28) and xs.dtype == np.float32 and ys.dtype == np.int64
        assert xs.min() == 0.0 and xs.max() == 1.0
        np.testing.assert_array_equal(xs[0], x)
        assert data.classes[3] == "3 - three"


def test_embedded_train_is_balanced_and_shuffled(embedded):
    train = embedded[0].targets
    assert np.bincount(train, minlength=10).tolist() == [500] * 10
    assert (np.diff(train) != 0).mean() > 0.5  # classes are interleaved, not sorted


def test_embedded_test_is_the_official_mnist_test_set(embedded):
    test = embedded[1]
    assert test.targets[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # published class sizes
    assert np.bincount(test.targets, minlength=10).tolist() == counts
    assert "mnist_t10k.npz" in repr(test)


def test_embedded_train_and_test_do_not_overlap(embedded):
    digests = [{hashlib.sha1(img.tobytes()).hexdigest() for img in d.data} for d in embedded]
    assert len(digests[0]) == 5000 and len(digests[1]) == 10000
    assert not digests[0] & digests[1]


def test_embedded_recorded_checksums_match_the_arrays(embedded):
    tool = _load_tool()
    for data, split in zip(embedded, ("train", "test")):
        recorded = ds.EMBEDDED_MNIST[split]
        assert len(data) == recorded.count
        assert tool.array_sha256(data.data, data.targets.astype(np.uint8)) == recorded.sha256


@pytest.mark.parametrize(
    "arrays, pattern",
    [
        ({"x": np.zeros((2, 28, 28), np.uint8)}, "missing arrays"),
        ({"x": np.zeros((2, 28, 28), np.float32), "y": np.zeros(2, np.uint8)}, "x is float32"),
        ({"x": np.zeros((2, 28, 28), np.uint8), "y": np.zeros(3, np.uint8)}, "y is uint8"),
        ({"x": np.zeros((2, 28, 28), np.uint8), "y": np.array([1, 10], np.uint8)},
         "label 10 at index 1"),
    ],
)
def test_embedded_corrupt_file_names_the_path(tmp_path, arrays, pattern):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=pattern) as info:
        EmbeddedMNIST(path=path)
    assert str(path) in str(info.value)


def test_embedded_other_file_with_the_same_layout(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez_compressed(path, x=np.full((3, 28, 28), 255, np.uint8), y=np.array([0, 9, 4], np.uint8))
    data = EmbeddedMNIST(train=False, path=path)
    assert len(data) == 3 and data.targets.tolist() == [0, 9, 4] and data[0][0].max() == 1.0


PACKAGED_DIR = ds.EMBEDDED_DIR


def _tampered_copy(tmp_path, monkeypatch, split, change):
    """A copy of the packaged ``split`` file with ``change(x, y)`` applied, made the packaged one."""
    recorded = ds.EMBEDDED_MNIST[split]
    x, y = ds.load_embedded_mnist(path=PACKAGED_DIR / recorded.filename)
    x, y = change(x.copy(), y.copy())
    np.savez_compressed(tmp_path / recorded.filename, x=x, y=y)
    monkeypatch.setattr("tinymin.data.embedded.EMBEDDED_DIR", tmp_path)
    return tmp_path / recorded.filename


@pytest.mark.parametrize("split", ["train", "test"])
def test_embedded_detects_a_changed_pixel(tmp_path, monkeypatch, split):
    def flip_one_pixel(x, y):
        x[7, 14, 14] ^= 1
        return x, y

    path = _tampered_copy(tmp_path, monkeypatch, split, flip_one_pixel)
    with pytest.raises(DatasetError, match="SHA-256") as info:
        EmbeddedMNIST(train=split == "train")
    assert str(path) in str(info.value)


def test_embedded_detects_a_changed_label_and_a_wrong_count(tmp_path, monkeypatch):
    path = _tampered_copy(tmp_path, monkeypatch, "test", lambda x, y: (x, (y + 1) % 10))
    with pytest.raises(DatasetError, match="SHA-256"):
        EmbeddedMNIST(train=False)
    _tampered_copy(tmp_path, monkeypatch, "test", lambda x, y: (x[:-1], y[:-1]))
    with pytest.raises(DatasetError, match="holds 9999 images, expected 10000") as info:
        EmbeddedMNIST(train=False)
    assert str(path) in str(info.value)


def test_embedded_missing_file_names_it(tmp_path, monkeypatch):
    monkeypatch.setattr("tinymin.data.embedded.EMBEDDED_DIR", tmp_path)
    with pytest.raises(DatasetError, match="mnist_t10k.npz"):
        EmbeddedMNIST(train=False)


def test_embedded_unreadable_file(tmp_path):
    path = write(tmp_path / "bad.npz", b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetError, match="not a readable .npz embedded MNIST file") as info:
        EmbeddedMNIST(path=path)
    assert str(path) in str(info.value)


def _npz_of_entries(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _npy_bytes(array=None, header=None):
    buffer = io.BytesIO()
    if header is not None:
        np.lib.format.write_array_header_1_0(buffer, header)
    else:
        np.save(buffer, array)
    return buffer.getvalue()


def _entries_with_a_huge_header():
    huge = {"descr": "|u1", "fortran_order": False, "shape": (10**9, 28, 28)}
    return {"x.npy": _npy_bytes(header=huge) + bytes(64),
            "y.npy": _npy_bytes(np.zeros(2, np.uint8))}


@pytest.mark.parametrize("entries, pattern", [
    (_entries_with_a_huge_header(), r"entry 'x' claims shape \(1000000000, 28, 28\)"),
    ({"x.npy": b"hello", "y.npy": b"world"}, "entry 'x' has no valid .npy header"),
    ({"x.npy": _npy_bytes(np.array([None, 1], dtype=object)),
      "y.npy": _npy_bytes(np.zeros(2, np.uint8))}, "entry 'x' is an object array"),
])
def test_embedded_malformed_entries_are_refused_before_numpy_reads_them(tmp_path, entries,
                                                                         pattern):
    path = _npz_of_entries(tmp_path / "bad.npz", entries)
    with pytest.raises(DatasetError, match=pattern) as info:
        EmbeddedMNIST(path=path)
    assert str(path) in str(info.value)


def test_embedded_damaged_or_unsupported_compression_is_refused(tmp_path):
    x, y = _npy_bytes(np.zeros((2, 28, 28), np.uint8)), _npy_bytes(np.zeros(2, np.uint8))
    path = _npz_of_entries(tmp_path / "lzma.npz", {"x.npy": x, "y.npy": y}, zipfile.ZIP_LZMA)
    data = bytearray(path.read_bytes())
    start = data.find(b"x.npy") + len("x.npy") + 40  # inside x's compressed stream
    data[start:start + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="not a readable .npz embedded MNIST file"):
        EmbeddedMNIST(path=path)
    path = _npz_of_entries(tmp_path / "method99.npz", {"x.npy": x, "y.npy": y})
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # method: 99 (AES)
        at = data.find(signature)
        while at != -1:
            data[at + offset:at + offset + 2] = (99).to_bytes(2, "little")
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="compression method is not supported"):
        EmbeddedMNIST(path=path)


def test_embedded_a_single_npy_file_is_refused(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match="a single .npy array, not an .npz embedded MNIST"):
        EmbeddedMNIST(path=path)


def test_embedded_refuses_pickles(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, x=np.array([object()], dtype=object))
    with pytest.raises(DatasetError, match=str(path)):
        EmbeddedMNIST(path=path)


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "make_embedded_mnist", REPO / "tools" / "make_embedded_mnist.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "row, pattern",
    [
        ("0," * 783 + "5", "has 784 values"),
        ("0," * 783 + "256,5", "pixel outside 0..255"),
        ("0," * 784 + "10", "label outside 0..9"),
        ("0," * 784 + "x", "non-integer"),
    ],
)
def test_tool_validates_csv(tmp_path, row, pattern):
    tool = _load_tool()
    good = "0," * 784 + "1"
    path = tmp_path / "m.csv.gz"
    path.write_bytes(gzip.compress(f"{good}\n{row}\n".encode()))
    with pytest.raises(ValueError, match=pattern) as info:
        tool.read_csv(path)
    assert str(path) in str(info.value) and "row 2" in str(info.value)


def test_tool_train_order_is_seeded_and_checks_balance():
    tool = _load_tool()
    labels = np.repeat(np.arange(10, dtype=np.uint8), 500)
    images = np.arange(5000, dtype=np.uint32).view(np.uint8).reshape(5000, 2, 2)
    x, y = tool.shuffled_train(images, labels)
    again = tool.shuffled_train(images, labels)
    assert np.array_equal(x, again[0]) and np.array_equal(y, again[1])
    assert sorted(x.reshape(5000, -1).view(np.uint32).ravel()) == list(range(5000))
    assert np.bincount(y).tolist() == [500] * 10 and (np.diff(y) != 0).mean() > 0.5
    with pytest.raises(ValueError, match="500 images per class"):
        tool.shuffled_train(images[1:], labels[1:])


def test_tool_rejects_a_wrong_test_file(tmp_path):
    tool = _load_tool()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x03"))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: decompressed SHA-256"):
        tool.read_t10k(tmp_path)
    with pytest.raises(ValueError, match="neither t10k-images"):
        tool.read_t10k(tmp_path / "nowhere")


def test_tool_rejects_overlapping_splits():
    tool = _load_tool()
    images = np.arange(3 * 4, dtype=np.uint8).reshape(3, 2, 2)
    tool.check_disjoint(images[:2], images[2:])
    with pytest.raises(ValueError, match="1 test images are also among the training digits"):
        tool.check_disjoint(images[:2], images[1:])


#: Where the original sources are, for the rebuild test: a folder holding mnist_5k.csv.gz
#: and the official t10k files (see docs/guides/data.rst). Unset: the test is skipped.
SOURCES = os.environ.get("TINYMIN_MNIST_SOURCES")


@pytest.mark.skipif(not SOURCES, reason="set TINYMIN_MNIST_SOURCES to the source files' folder")
def test_tool_rebuilds_the_committed_files_byte_for_byte(tmp_path):
    tool = _load_tool()
    sources = Path(SOURCES)
    t10k = sources / "mnist-t10k" if (sources / "mnist-t10k").is_dir() else sources
    tool.main(["--csv", str(sources / "mnist_5k.csv.gz"), "--t10k", str(t10k),
               "--out-dir", str(tmp_path)])
    for recorded in ds.EMBEDDED_MNIST.values():
        shipped = ds.EMBEDDED_DIR / recorded.filename
        assert (tmp_path / recorded.filename).read_bytes() == shipped.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist_5k.npz", "mnist_t10k.npz"]


def test_embedded_files_are_small_and_readable():
    for recorded in ds.EMBEDDED_MNIST.values():
        path = ds.EMBEDDED_DIR / recorded.filename
        assert path.stat().st_size < 2e6 and os.access(path, os.R_OK)
