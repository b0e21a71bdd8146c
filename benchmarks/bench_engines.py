"""tinymin's engine against the torch engine (``tinymin.torch``), in one run.

Two tables, each from the same run:

1. **Forward pass of one layer** on the torch engine: the min-conv
   (:func:`tinymin.torch.min_conv2d`, Algorithm 1 steps 1-5, whose step 5 is the
   registered op ``tinymin::selector_conv2d``: tinymin's Cython kernel on the CPU, the
   fused Triton kernel on CUDA) against torch's exact ``conv2d`` (cuDNN on a GPU) and
   against the same min-conv with step 5 forced onto the readable ``unfold`` reference,
   on LeNet's two layers, two mini_cifar layers and the 3x3 64->128 layer of
   ``bench_kernels.py``, batch 64, float32; tinymin's own min-conv (CPU) beside them.
2. **One training epoch** (batch 64, Adam 1e-3, ``--images`` images), exact and min, on
   tinymin and on the torch engine (``to_torch(model)`` trained with
   ``torch.optim.Adam``): LeNet on embedded MNIST, and mini_cifar on random 3x28x28
   images with random labels (what is timed does not depend on the pixels).

Usage::

    python benchmarks/bench_engines.py                  # CPU, 2,000 images, median of 3
    python benchmarks/bench_engines.py --threads 1
    python benchmarks/bench_engines.py --device cuda    # the torch rows on a GPU (one short check)

Medians; the ratios are the numbers to compare (other jobs on the machine move the
absolute times).
"""

from __future__ import annotations

import argparse
import contextlib
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
from tinymin.models import lenet, mini_cifar  # noqa: E402
from tinymin.torch import selector, to_torch  # noqa: E402
from tinymin.torch.functional import min_conv2d as torch_min_conv2d  # noqa: E402
from tinymin.train import train_epoch  # noqa: E402

#: (name, input shape, weight shape, padding); the last as in bench_kernels.py
SHAPES = [("LeNet conv1", (64, 1, 28, 28), (32, 1, 5, 5), 2),
          ("LeNet conv2", (64, 32, 14, 14), (64, 32, 5, 5), 2),
          ("mini_cifar conv3 (3x3, 16->64, 14x14)", (64, 16, 14, 14), (64, 16, 3, 3), 1),
          ("mini_cifar conv5 (3x3, 32->128, 7x7)", (64, 32, 7, 7), (128, 32, 3, 3), 1),
          ("3x3, 64->128, 16x16", (64, 64, 16, 16), (128, 64, 3, 3), 1)]
MODELS = {"lenet": lenet, "mini_cifar": mini_cifar}


#: The clock of the layer table: wall time, or with ``--clock cpu`` this thread's CPU
#: time (one thread only; immune to the time slices other processes take).
CLOCK = time.perf_counter


def interleaved_seconds(jobs: dict, synchronise=lambda: None) -> dict:
    """Median seconds of each job ``label: (function, repeats)``, timed in rounds (one run
    of every job per round, a job dropping out after its repeats), so that a drift of
    the machine's load hits every job alike. One warm-up round first."""
    for fn, _ in jobs.values():
        fn()
    synchronise()
    times: dict = {label: [] for label in jobs}
    for round_ in range(max(n for _, n in jobs.values())):
        for label, (fn, n) in jobs.items():
            if round_ < n:
                start = CLOCK()
                fn()
                synchronise()
                times[label].append(CLOCK() - start)
    return {label: statistics.median(t) for label, t in times.items()}


@contextlib.contextmanager
def unfold_reference():
    """Inside the block, step 5 runs the ``unfold`` reference on every device (the
    registered op's kernels are swapped out, then back)."""
    saved = selector.tinymin_selector_conv2d, selector.triton_kernels
    selector.tinymin_selector_conv2d = selector.unfolded_selector_conv2d
    selector.triton_kernels = lambda: None
    try:
        yield
    finally:
        selector.tinymin_selector_conv2d, selector.triton_kernels = saved


def layer_row(name: str, x: np.ndarray, w: np.ndarray, padding: int, device: str, repeats: int) -> str:
    """One row of the forward table: torch min-conv (kernel, unfold), torch exact conv2d,
    tinymin min-conv, timed in interleaved rounds."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    xt, wt = torch.from_numpy(x).to(device), torch.from_numpy(w).to(device)
    spec, state = MinConvSpec(padding=padding), MinConvState(torch.ones(1, device=device))
    layer = tm.nn.MinConv2d(w.shape[1], w.shape[0], w.shape[2], padding=padding, bias=False).eval()
    layer.weight.numpy()[...] = w

    def minconv():
        with torch.no_grad():
            return torch_min_conv2d(xt, wt, None, spec, state, training=False)

    def unfold():
        with unfold_reference():
            return minconv()

    def exact():
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt, None, 1, padding)

    def tinymin_minconv():
        with tm.no_grad():
            return layer(tm.Tensor(x))

    slow = max(3, repeats // 3) if device == "cpu" else repeats  # the unfold path on a CPU
    t = interleaved_seconds({"min": (minconv, repeats), "unfold": (unfold, slow),
                             "exact": (exact, repeats), "tinymin": (tinymin_minconv, repeats)}, sync)
    return (f"| {name} | {t['min'] * 1e3:.2f} ms | {t['unfold'] * 1e3:.2f} ms | {t['exact'] * 1e3:.2f} ms "
            f"| **{t['min'] / t['exact']:.2f}x** | {t['unfold'] / t['min']:.1f}x "
            f"| {t['tinymin'] * 1e3:.2f} ms |")


def layer_table(device: str, repeats: int) -> None:
    exact = "cuDNN" if device.startswith("cuda") else "oneDNN"
    clock = "wall" if CLOCK is time.perf_counter else "this thread's CPU"
    print(f"\nForward pass, batch 64, float32, torch on {device}, median of {repeats} "
          f"(interleaved rounds), {clock} time")
    if device.startswith("cuda"):
        print(f"cuDNN TF32 allowed: {torch.backends.cudnn.allow_tf32}; Triton kernel: "
              f"{selector.triton_kernels() is not None}")
    print(f"| shape | torch min-conv | torch min-conv, unfold reference | torch exact conv2d ({exact}) "
          "| min / exact | unfold / min | tinymin min-conv (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for name, x_shape, w_shape, padding in SHAPES:
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = (rng.standard_normal(w_shape) * 0.05).astype(np.float32)
        print(layer_row(name, x, w, padding, device, repeats))


def epoch_tinymin(model_name: str, x, y, conv: str, seed: int) -> float:
    tm.manual_seed(seed)
    model = MODELS[model_name](conv=conv)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), 64, shuffle=True, seed=seed)
    start = time.perf_counter()
    train_epoch(model, opt, loader, progress=False)
    return time.perf_counter() - start


def epoch_torch(model_name: str, x, y, conv: str, seed: int, device: str) -> float:
    tm.manual_seed(seed)
    model = to_torch(MODELS[model_name](conv=conv)).to(device).train()
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


def epoch_data(model_name: str, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    if model_name == "lenet":
        train, _, _ = load_splits("mnist-embedded", augment=False)
        x, y = train.arrays()
        return x[:n_images], y[:n_images]
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n_images, 3, 28, 28)).astype(np.float32),
            rng.integers(0, 10, n_images).astype(np.int64))


def epoch_table(model_names: list, n_images: int, device: str, repeats: int,
                with_unfold: bool = False) -> None:
    for model_name in model_names:
        x, y = epoch_data(model_name, n_images)
        print(f"\nOne {model_name} epoch, {len(x)} images, batch 64, Adam; torch engine on "
              f"{device}, median of {repeats}")
        rows = {}
        for conv in ("exact", "min"):
            if device.startswith("cuda"):  # untimed: Triton's compile, cuDNN's first calls
                epoch_torch(model_name, x[:512], y[:512], conv, 0, device)
            rows[("tinymin", conv)] = statistics.median(
                epoch_tinymin(model_name, x, y, conv, r) for r in range(repeats))
            rows[("torch", conv)] = statistics.median(
                epoch_torch(model_name, x, y, conv, r, device) for r in range(repeats))
        engines = ["tinymin", "torch"]
        if with_unfold:  # the torch engine before issue 23: step 5 by unfold everywhere
            with unfold_reference():
                rows[("torch, step 5 by unfold", "min")] = statistics.median(
                    epoch_torch(model_name, x, y, "min", r, device) for r in range(repeats))
            rows[("torch, step 5 by unfold", "exact")] = rows[("torch", "exact")]
            engines.append("torch, step 5 by unfold")
        print("| engine | exact | min | min / exact |")
        print("|---|---:|---:|---:|")
        for engine in engines:
            exact, minimum = rows[(engine, "exact")], rows[(engine, "min")]
            print(f"| {engine} | {exact:.2f} s | {minimum:.2f} s | **{minimum / exact:.2f}x** |")
        print(f"torch / tinymin: exact {rows[('torch', 'exact')] / rows[('tinymin', 'exact')]:.2f}x, "
              f"min {rows[('torch', 'min')] / rows[('tinymin', 'min')]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="device of the torch rows (cpu, cuda, cuda:N)")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--models", default="lenet,mini_cifar", help="epochs of these models")
    parser.add_argument("--layer-repeats", type=int, default=9, help="repeats of the layer table")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="layer table: cpu = this thread's CPU time (needs --threads 1, CPU)")
    parser.add_argument("--skip-layers", action="store_true", help="the epoch tables only")
    parser.add_argument("--skip-epochs", action="store_true", help="the layer table only")
    parser.add_argument("--with-unfold-epoch", action="store_true",
                        help="also a torch min epoch with step 5 by the unfold reference")
    args = parser.parse_args()
    global CLOCK
    threads = args.threads or _ext.num_threads()
    if args.clock == "cpu":
        if threads != 1 or args.device != "cpu":
            parser.error("--clock cpu measures one thread on the CPU: add --threads 1")
        CLOCK = time.thread_time
    _ext.set_num_threads(threads)
    torch.set_num_threads(threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{threads} CPU thread(s), tinymin backend {_ext.backend()}, torch {torch.__version__}, "
          f"load average {load:.1f} at start")
    if args.device.startswith("cuda"):
        if torch.device(args.device).index is not None:
            # the one the kernels launch on and torch.cuda.synchronize() waits for
            torch.cuda.set_device(torch.device(args.device))
        print(f"GPU: {torch.cuda.get_device_name(args.device)}")
    if not args.skip_layers:
        layer_table(args.device, args.layer_repeats)
    if not args.skip_epochs:
        epoch_table(args.models.split(","), args.images, args.device, args.repeats,
                    args.with_unfold_epoch)


if __name__ == "__main__":
    main()
