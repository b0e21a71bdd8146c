"""tinymin's engine against the torch engine (``tinymin.torch``), in one run.

Two tables, each from the same run:

1. **Forward pass of one layer** on the torch engine: the min-conv
   (:func:`tinymin.torch.min_conv2d`, Algorithm 1 steps 1-5) against torch's exact
   ``conv2d`` on the same input, for the two layer shapes of ``bench_kernels.py``
   (LeNet conv2, a mini_cifar 3x3 layer), batch 64, float32; tinymin's Cython
   min-conv on the same shapes for reference.
2. **One LeNet training epoch** (batch 64, Adam 1e-3, ``--images`` images of
   embedded MNIST), exact and min, on tinymin and on the torch engine: the torch
   model is ``to_torch(lenet(conv=...))`` trained with ``torch.optim.Adam``.

Usage::

    python benchmarks/bench_engines.py                  # CPU, 2,000 images, median of 3
    python benchmarks/bench_engines.py --threads 1
    python benchmarks/bench_engines.py --device cuda    # the torch rows on a GPU

Medians; the ratios are the numbers to compare (other jobs on the machine move the
absolute times).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # tinymin's policy, before numpy loads

import numpy as np  # noqa: E402
import torch  # noqa: E402

import tinymin as tm  # noqa: E402
from tinymin import _ext, optim  # noqa: E402
from tinymin.data import DataLoader, TensorDataset  # noqa: E402
from tinymin.data.catalog import load_splits  # noqa: E402
from tinymin.minconv.spec import MinConvSpec, MinConvState  # noqa: E402
from tinymin.models import lenet  # noqa: E402
from tinymin.torch import to_torch  # noqa: E402
from tinymin.torch.functional import min_conv2d as torch_min_conv2d  # noqa: E402
from tinymin.train import train_epoch  # noqa: E402

#: (name, input shape, weight shape, padding), as in bench_kernels.py
SHAPES = [("LeNet conv2", (64, 32, 14, 14), (64, 32, 5, 5), 2),
          ("mini_cifar 3x3", (64, 64, 16, 16), (128, 64, 3, 3), 1)]


def median_seconds(fn, repeats: int, synchronise=lambda: None) -> float:
    fn()  # warm-up: allocations, kernel selection
    synchronise()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronise()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def layer_row(name: str, x: np.ndarray, w: np.ndarray, padding: int, device: str, repeats: int) -> str:
    """One row of the forward table: torch min-conv, torch exact conv2d, tinymin min-conv."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    xt, wt = torch.from_numpy(x).to(device), torch.from_numpy(w).to(device)
    running = torch.ones(1, device=device)
    with torch.no_grad():
        spec, state = MinConvSpec(padding=padding), MinConvState(running)
        t_min = median_seconds(lambda: torch_min_conv2d(xt, wt, None, spec, state, training=False),
                               repeats, sync)
        t_exact = median_seconds(lambda: torch.nn.functional.conv2d(xt, wt, None, 1, padding),
                                 repeats, sync)
    layer = tm.nn.MinConv2d(w.shape[1], w.shape[0], w.shape[2], padding=padding, bias=False).eval()
    layer.weight.data[...] = w
    with tm.no_grad():
        t_tinymin = median_seconds(lambda: layer(tm.Tensor(x)), repeats)
    return (f"| {name} | {t_min * 1e3:.1f} ms | {t_exact * 1e3:.1f} ms | {t_min / t_exact:.1f}x "
            f"| {t_tinymin * 1e3:.1f} ms |")


def layer_table(device: str, repeats: int) -> None:
    print(f"\nForward pass, batch 64, float32, torch on {device}, median of {repeats}")
    print("| shape | torch min-conv | torch exact conv2d | min / exact | tinymin min-conv (CPU) |")
    print("|---|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for name, x_shape, w_shape, padding in SHAPES:
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = (rng.standard_normal(w_shape) * 0.05).astype(np.float32)
        print(layer_row(name, x, w, padding, device, repeats))


def epoch_tinymin(x, y, conv: str, seed: int) -> float:
    tm.manual_seed(seed)
    model = lenet(conv=conv)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), 64, shuffle=True, seed=seed)
    start = time.perf_counter()
    train_epoch(model, opt, loader, progress=False)
    return time.perf_counter() - start


def epoch_torch(x, y, conv: str, seed: int, device: str) -> float:
    tm.manual_seed(seed)
    model = to_torch(lenet(conv=conv)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    start = time.perf_counter()
    xs, ys = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    order = torch.randperm(len(xs), generator=generator).to(device)
    for i in range(0, len(xs), 64):
        batch = order[i:i + 64]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xs[batch]), ys[batch]).backward()
        opt.step()
    sync()
    return time.perf_counter() - start


def epoch_table(n_images: int, device: str, repeats: int) -> None:
    train, _, _ = load_splits("mnist-embedded", augment=False)
    x, y = train.arrays()
    x, y = x[:n_images], y[:n_images]
    print(f"\nOne LeNet epoch, {len(x)} images, batch 64, Adam; torch engine on {device}, "
          f"median of {repeats}")
    rows = {}
    for conv in ("exact", "min"):
        rows[("tinymin", conv)] = statistics.median(epoch_tinymin(x, y, conv, r) for r in range(repeats))
        rows[("torch", conv)] = statistics.median(epoch_torch(x, y, conv, r, device)
                                                  for r in range(repeats))
    print("| engine | exact | min | min / exact |")
    print("|---|---:|---:|---:|")
    for engine in ("tinymin", "torch"):
        exact, minimum = rows[(engine, "exact")], rows[(engine, "min")]
        print(f"| {engine} | {exact:.2f} s | {minimum:.2f} s | {minimum / exact:.2f}x |")
    print(f"torch / tinymin: exact {rows[('torch', 'exact')] / rows[('tinymin', 'exact')]:.2f}x, "
          f"min {rows[('torch', 'min')] / rows[('tinymin', 'min')]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="device of the torch rows (cpu, cuda, cuda:N)")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    args = parser.parse_args()
    threads = args.threads or _ext.num_threads()
    _ext.set_num_threads(threads)
    torch.set_num_threads(threads)
    print(f"{threads} CPU thread(s), tinymin backend {_ext.backend()}, torch {torch.__version__}")
    layer_table(args.device, max(args.repeats, 5))
    epoch_table(args.images, args.device, args.repeats)


if __name__ == "__main__":
    main()
