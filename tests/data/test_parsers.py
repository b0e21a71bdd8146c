"""Dataset files that would crash or mislead the readers are refused with the file named:
an IDX file with zero images, IDX dimensions whose product overflows int64, and an
archive member sent outside the destination by an existing symlinked folder."""

import gzip
import io
import tarfile
import tracemalloc

import numpy as np
import pytest

from tinymin.data.download import safe_extract
from tinymin.data.errors import DatasetError
from tinymin.data.parsers import (
    CIFAR_RECORD_BYTES,
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    load_idx_pair,
    read_cifar_batch,
    read_idx,
)


def _idx(path, magic, dims, payload=b""):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    path.write_bytes(header + payload)
    return path


def test_an_idx_file_with_zero_images_is_refused(tmp_path):
    images = _idx(tmp_path / "images-idx3-ubyte", IDX_IMAGES_MAGIC, (0, 28, 28))
    labels = _idx(tmp_path / "labels-idx1-ubyte", IDX_LABELS_MAGIC, (0,))
    with pytest.raises(DatasetError, match=r"images-idx3-ubyte: the file holds no images"):
        load_idx_pair(images, labels)


def test_idx_dimensions_whose_product_overflows_int64_are_refused(tmp_path):
    # 2**31 * 2**31 * 4 == 2**64, which int64 arithmetic wraps around to 0 bytes
    bad = _idx(tmp_path / "huge-idx3-ubyte", IDX_IMAGES_MAGIC, (2**31, 2**31, 4))
    with pytest.raises(DatasetError, match=r"huge-idx3-ubyte: IDX payload is 0 bytes but the header's "
                                           r"dimensions \(2147483648, 2147483648, 4\) need "
                                           r"18446744073709551616"):
        read_idx(bad, IDX_IMAGES_MAGIC)


def _peak_bytes(call):
    """The largest Python allocation while ``call`` runs (tracemalloc)."""
    tracemalloc.start()
    try:
        call()
    except DatasetError as err:
        error = err
    else:
        error = None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, error


def test_a_gzip_bomb_is_refused_without_decompressing_it_whole(tmp_path):
    """A valid header for 3 labels, then 64 MiB of zeros (64 KiB compressed): the reader
    used to decompress all of it before looking at the header."""
    bomb = tmp_path / "labels-idx1-ubyte.gz"
    with gzip.open(bomb, "wb") as f:
        f.write(IDX_LABELS_MAGIC.to_bytes(4, "big") + (3).to_bytes(4, "big"))
        for _ in range(64):
            f.write(bytes(2**20))
    peak, error = _peak_bytes(lambda: read_idx(bomb, IDX_LABELS_MAGIC))
    assert error is not None and "labels-idx1-ubyte.gz: IDX payload is longer than the 3 bytes" in str(error)
    assert peak < 4 * 2**20, peak


def test_a_cifar_batch_of_more_than_10000_records_is_refused_after_reading_that_many(tmp_path):
    batch = tmp_path / "data_batch_1.bin.gz"
    with gzip.open(batch, "wb", compresslevel=1) as f:
        f.write(bytes(10_001 * CIFAR_RECORD_BYTES))
    with pytest.raises(DatasetError, match=r"data_batch_1.bin.gz: more than the 10,000 records"):
        read_cifar_batch(batch)
    exact = tmp_path / "test_batch.bin.gz"
    with gzip.open(exact, "wb", compresslevel=1) as f:
        f.write(bytes(10_000 * CIFAR_RECORD_BYTES))
    images, labels = read_cifar_batch(exact)
    assert images.shape == (10_000, 3, 32, 32) and labels.shape == (10_000,)


def test_safe_extract_refuses_a_member_sent_outside_by_a_symlinked_folder(tmp_path):
    outside, dest = tmp_path / "outside", tmp_path / "dest"
    outside.mkdir()
    dest.mkdir()
    (dest / "data").symlink_to(outside, target_is_directory=True)
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        for name in ("readme.txt", "data/batch.bin"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(DatasetError, match=r"a\.tar: member 'data/batch\.bin' would be written to "
                                           r".*outside.*through a symbolic link"):
        safe_extract(archive, dest)
    assert list(outside.iterdir()) == [] and not (dest / "readme.txt").exists()


def test_safe_extract_still_extracts_a_plain_archive(tmp_path):
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("folder/x.bin")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    written = safe_extract(archive, tmp_path / "dest")
    assert [p.read_bytes() for p in written] == [b"hi"]
    assert np.array_equal(written, [tmp_path / "dest" / "folder" / "x.bin"])


def _tar(path, names):
    with tarfile.open(path, "w") as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
    return path


@pytest.mark.parametrize("names, message", [
    (["ok.bin", "."], r"member '\.' names no file"),
    (["ok.bin", ""], r"member '' names no file"),
    (["ok.bin", "a", "a/b"], r"member 'a/b' lies inside the file member 'a'"),
    (["ok.bin", "sub"], r"member 'sub' would replace the folder .*dest/sub"),
    (["ok.bin", "plain/b"], r"member 'plain/b' lies inside .*dest/plain, which is a file"),
])
def test_safe_extract_refuses_members_that_cannot_all_be_written(tmp_path, names, message):
    dest = tmp_path / "dest"
    (dest / "sub").mkdir(parents=True)
    (dest / "plain").write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"a\.tar: " + message):
        safe_extract(_tar(tmp_path / "a.tar", names), dest)
    # nothing written, dest still a folder
    assert sorted(p.name for p in dest.iterdir()) == ["plain", "sub"]
