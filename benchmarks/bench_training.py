"""Time one training epoch of LeNet (batch 64) in tinymin and in PyTorch on the same data.

Prints a table of median epoch times (exact tinymin, min-conv tinymin, PyTorch CPU when
it is installed) measured in the same run, and the ratios the issues target:

* tinymin exact / PyTorch  (target: <= 2)
* tinymin min / tinymin exact  (target: <= 1.3)

Usage::

    python benchmarks/bench_training.py                 # embedded MNIST, 4,000 images
    python benchmarks/bench_training.py --images 60000 --data fashion-mnist --repeats 1
    python benchmarks/bench_training.py --threads 1     # one BLAS/OpenMP thread

An "epoch" here is one pass over ``--images`` training images, data loading included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

# tinymin's threading policy (tinymin/_ext/threads.py): OpenBLAS workers must sleep right
# after a GEMM; OpenBLAS reads this when numpy loads it, so set it before numpy.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402

import tinymin as tm
from tinymin import _ext, optim
from tinymin.data import DataLoader
from tinymin.data.catalog import load_splits
from tinymin.models import lenet
from tinymin.train import train_epoch


def load_images(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    train, _, _ = load_splits(name, augment=False)
    x, y = train.arrays()
    return x[:n], y[:n]


def time_tinymin(x, y, conv: str, repeats: int) -> list[float]:
    from tinymin.data import TensorDataset

    times = []
    for r in range(repeats):
        tm.manual_seed(r)
        model = lenet(conv=conv)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        loader = DataLoader(TensorDataset(x, y), 64, shuffle=True, seed=r)
        start = time.perf_counter()
        train_epoch(model, opt, loader, progress=False)
        times.append(time.perf_counter() - start)
    return times


def torch_lenet(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.LeakyReLU(0.01), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.LeakyReLU(0.01), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 10))


def time_torch(x, y, repeats: int, threads: int) -> list[float] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    times = []
    for r in range(repeats):
        torch.manual_seed(r)
        model = torch_lenet(torch)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xs, ys = torch.from_numpy(x), torch.from_numpy(y)
        start = time.perf_counter()
        order = torch.randperm(len(xs))
        for i in range(0, len(xs), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="mnist-embedded")
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    args = parser.parse_args()
    threads = args.threads or _ext.num_threads()
    _ext.set_num_threads(threads)
    x, y = load_images(args.data, args.images)
    print(f"LeNet, batch 64, {len(x)} images of {args.data}, {threads} thread(s), "
          f"backend {_ext.backend()}, median of {args.repeats}")
    results = {"tinymin exact": time_tinymin(x, y, "exact", args.repeats),
               "tinymin min": time_tinymin(x, y, "min", args.repeats),
               "pytorch cpu": time_torch(x, y, args.repeats, threads)}
    medians = {k: statistics.median(v) for k, v in results.items() if v}
    print(f"{'implementation':<16}{'epoch (s)':>12}{'per 60k images (s)':>22}")
    for name, seconds in medians.items():
        print(f"{name:<16}{seconds:>12.2f}{seconds * 60000 / len(x):>22.1f}")
    if "pytorch cpu" in medians:
        ratio = medians["tinymin exact"] / medians["pytorch cpu"]
        print(f"tinymin exact / pytorch: {ratio:.2f}x  (target <= 2)")
    else:
        print("pytorch not installed: pip install torch (CPU) to compare")
    print(f"tinymin min / tinymin exact: {medians['tinymin min'] / medians['tinymin exact']:.2f}x "
          "(target <= 1.3)")


if __name__ == "__main__":
    main()
