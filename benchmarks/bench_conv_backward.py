"""Speed of the exact convolution's input gradient, the two routes side by side.

Run from the repository root, after ``pip install -e .``::

    python benchmarks/bench_conv_backward.py                 # 1 and 2 threads
    python benchmarks/bench_conv_backward.py --threads 1 --repeats 21

For stride-1 layers of batch 64 (float32) with 1 to 128 input channels it times
:func:`tinymin.ops.conv.conv_backward` computing the input gradient only, once by
each route (docs/guides/im2col.rst, "The input gradient as a convolution"):

* ``col2im``: the gradient's columns :math:`G W` by BLAS, then col2im;
* ``convolution``: one convolution of the gradient with the turned filters, by the
  fused kernel (:func:`tinymin.ops.conv.input_grad_by_convolution`), no columns;
* ``PyTorch``: ``torch.nn.grad.conv2d_input`` (oneDNN), if torch is importable.

Columns: median milliseconds, timed in interleaved rounds, then convolution /
col2im and convolution / PyTorch from the same run, and the route ``conv_backward``
takes by default (``TRANSPOSED_MIN_CHANNELS``: the convolution from that many input
channels up). Needs the fused kernels (an AVX-512DQ build).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

# tinymin's threading policy (tinymin/_ext/threads.py): OpenBLAS workers must sleep right
# after a GEMM; OpenBLAS reads this when numpy loads it, so set it before numpy.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402

try:
    import tinymin  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinymin import _ext  # noqa: E402
from tinymin.ops import conv  # noqa: E402

#: (x shape, w shape, padding): LeNet's conv2 with fewer and fewer input channels,
#: mini_cifar-like 3x3 layers, the 3x3 64 -> 128 layer of bench_kernels, and a layer
#: with fewer filters than channels
SHAPES = [
    ((64, 1, 28, 28), (32, 1, 5, 5), 2),
    ((64, 4, 14, 14), (32, 4, 5, 5), 2),
    ((64, 8, 14, 14), (64, 8, 5, 5), 2),
    ((64, 16, 14, 14), (64, 16, 5, 5), 2),
    ((64, 32, 14, 14), (64, 32, 5, 5), 2),
    ((64, 16, 32, 32), (32, 16, 3, 3), 1),
    ((64, 32, 16, 16), (64, 32, 3, 3), 1),
    ((64, 64, 8, 8), (64, 64, 3, 3), 1),
    ((32, 64, 16, 16), (128, 64, 3, 3), 1),
    ((64, 128, 8, 8), (128, 128, 3, 3), 1),
    ((64, 64, 8, 8), (16, 64, 3, 3), 1),
]


def round_robin_ms(jobs: dict, repeats: int) -> dict:
    """Median ms of each job over ``repeats`` rounds (one run of every job per round),
    after a warm-up round: a drift of the machine's load hits all jobs alike."""
    for fn in jobs.values():
        fn()
    times = {label: [] for label in jobs}
    for _ in range(repeats):
        for label, fn in jobs.items():
            t0 = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t0)
    return {label: 1e3 * statistics.median(t) for label, t in times.items()}


def input_grad_by(route: str, grad, x, w, geom) -> None:
    """conv_backward's input gradient, forced to take ``route``."""
    previous = conv.TRANSPOSED_MIN_CHANNELS
    conv.TRANSPOSED_MIN_CHANNELS = 0 if route == "convolution" else 10**9
    try:
        conv.conv_backward(grad, x, w, geom, None, need_x=True, need_w=False)
    finally:
        conv.TRANSPOSED_MIN_CHANNELS = previous


def shape_row(x_shape, w_shape, padding, repeats, torch) -> str:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
    geom = conv.conv_geometry("conv2d", x.shape, w.shape, (1, 1), (padding, padding))
    grad = rng.standard_normal((x.shape[0], w.shape[0], geom.out_h, geom.out_w)).astype(np.float32)
    jobs = {route: (lambda route=route: input_grad_by(route, grad, x, w, geom))
            for route in ("col2im", "convolution")}
    if torch is not None:
        wt, gt = torch.from_numpy(w), torch.from_numpy(grad)
        jobs["PyTorch"] = lambda: torch.nn.grad.conv2d_input(x.shape, wt, gt, 1, padding)
    t = round_robin_ms(jobs, repeats)
    default = "convolution" if conv.input_grad_by_convolution_applies(grad, w, geom) else "col2im"
    vs_torch = f"{t['convolution'] / t['PyTorch']:.2f}x" if torch is not None else "-"
    torch_ms = f"{t['PyTorch']:.2f}" if torch is not None else "-"
    return (f"| x {x_shape}, w {w_shape} | {t['col2im']:.2f} | {t['convolution']:.2f} | "
            f"{torch_ms} | **{t['convolution'] / t['col2im']:.2f}x** | {vs_torch} | {default} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (1,2)")
    ap.add_argument("--repeats", type=int, default=11, help="timed rounds per row (11)")
    args = ap.parse_args(argv)
    if not (_ext.HAVE_CYTHON and _ext.has_fused_gemm()):
        print("The fused kernels are not built here (an AVX-512DQ Cython build): only "
              "the col2im route exists.")
        return 1
    try:
        import torch
    except ImportError:
        torch = None
    print(f"# bench_conv_backward: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, numpy {np.__version__}, float32, median of "
          f"{args.repeats} rounds, wall clock; TRANSPOSED_MIN_CHANNELS = "
          f"{conv.TRANSPOSED_MIN_CHANNELS}")
    before = _ext.num_threads()
    try:
        for n in (int(t) for t in args.threads.split(",")):
            _ext.set_num_threads(n)
            if torch is not None:
                torch.set_num_threads(n)
            print(f"\n## {n} thread(s): input gradient of a stride-1 conv, batch 64 (ms)\n")
            print("| layer | col2im | convolution | PyTorch | convolution / col2im "
                  "| convolution / PyTorch | default route |")
            print("|---|---:|---:|---:|---:|---:|---|")
            for x_shape, w_shape, padding in SHAPES:
                print(shape_row(x_shape, w_shape, padding, args.repeats, torch))
    finally:
        _ext.set_num_threads(before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
