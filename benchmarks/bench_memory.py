"""Peak memory of training mini_cifar on a batch of 256 CIFAR-sized images (issue target: < 2 GiB).

Runs a few optimisation steps on random 3x28x28 crops (the paper's CIFAR input) and
prints the process's peak resident set size (``resource.getrusage``), for the default
im2col bound and for a smaller one. Usage: ``python benchmarks/bench_memory.py [--conv min]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

try:
    import tinymin  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinymin as tm  # noqa: E402
from tinymin import optim  # noqa: E402
from tinymin.models import mini_cifar  # noqa: E402
from tinymin.nn import functional as F  # noqa: E402
from tinymin.ops.conv import get_im2col_limit, set_im2col_limit  # noqa: E402


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conv", choices=["exact", "min"], default="exact")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--im2col-limit-mib", type=int, default=None)
    args = parser.parse_args()
    if args.im2col_limit_mib:
        set_im2col_limit(args.im2col_limit_mib * 2**20)
    tm.manual_seed(0)
    model = mini_cifar(conv=args.conv)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = tm.tensor(rng.random((args.batch, 3, 28, 28), dtype=np.float32))
    y = rng.integers(0, 10, args.batch)
    start = time.perf_counter()
    for _ in range(args.steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    seconds = (time.perf_counter() - start) / args.steps
    print(f"mini_cifar ({args.conv}), batch {args.batch}, im2col bound "
          f"{get_im2col_limit() / 2**20:.0f} MiB: {seconds:.2f} s/step, "
          f"peak RSS {peak_rss_mib():.0f} MiB (target < 2048)")


if __name__ == "__main__":
    main()
