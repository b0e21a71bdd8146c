"""Speed of the min-selector convolution against its baselines (forward pass only).

Run from the repository root, after ``pip install -e .``::

    python benchmarks/bench_kernels.py              # both shapes, 1 and 2 threads
    python benchmarks/bench_kernels.py --quick      # fewer repeats
    python benchmarks/bench_kernels.py --threads 1 --repeats 15
    python benchmarks/bench_kernels.py --threads 1 --clock cpu   # a loaded machine

For two layer shapes (batch 64, float32) it prints one table per thread count.
Every convolution row includes its own im2col, so they compare whole layers:

* ``min-conv, Cython``: Cython im2col + Cython ``min_gemm`` (the tuned kernel);
* ``min-conv, Cython fused``: ``_ext.im2col_min_gemm``, the two fused (each block of
  rows unfolded into a cached buffer and used at once: what ``min_conv2d`` runs when
  it keeps no column matrix for a weight gradient);
* ``min-conv, numpy twin``: ``reference.im2col`` + ``reference.min_gemm`` (the
  clip identity, one clip and one matrix-vector product per filter);
* ``min-conv, naive numpy``: numpy im2col + the naive broadcast
  ``(sign*sign*minimum).sum(-1)`` timed on a subset of the rows and scaled to all
  rows (marked "scaled": it is linear in the rows, and too slow to run whole);
* ``min-conv, PyTorch broadcast`` (only if torch is importable), also scaled;
* ``exact, Cython im2col + BLAS`` and ``exact, numpy im2col + BLAS``:
  ``cols @ W.T`` through numpy's BLAS;
* ``exact, Cython fused (im2col_gemm)``: the exact layer's own kernel where the build
  has it (AVX-512DQ): the min kernel's tile with one FMA per pair, reading the input
  itself (what ``conv2d`` runs there);
* ``min-conv, Cython fused, tile form ...``: the fused min kernel with the
  other form of its AVX-512DQ tile (``tinymin._ext.tiles``;
  ``tinymin/_ext/_panel_tiles.h``, point 4), so that both forms are timed in the same
  run; the row above it runs this CPU's default form, named in the header.

A last line compares the two layers as a user calls them, ``min_conv2d`` against
``conv2d`` (``tinymin.nn.functional``), forward under ``no_grad`` with a bias: each
runs its fastest path.

Columns: median milliseconds over the repeats, then the ratio to the exact BLAS
convolution with the same (Cython) im2col, and the speed-up over the naive numpy
broadcast, both measured in the same run. The implementations are timed in
interleaved rounds, so that changes in the machine's load hit all rows alike. A
second table gives im2col (and col2im) alone, Cython against numpy, writing into a
reused buffer.

Thread counts go through ``tinymin._ext.set_num_threads``, which sets both the
OpenMP kernels and BLAS (see ``tinymin/_ext/threads.py``).
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

import tinymin as tm  # noqa: E402
import tinymin.nn.functional as F  # noqa: E402
from tinymin import _ext  # noqa: E402
from tinymin._ext import reference, tiles  # noqa: E402
from tinymin.minconv import MinConvSpec, MinConvState, min_conv2d  # noqa: E402

SHAPES = {
    # name: (x shape, weight shape, stride, padding)
    "LeNet conv2 (x 64x32x14x14, w 64x32x5x5, pad 2)": ((64, 32, 14, 14), (64, 32, 5, 5), 1, 2),
    "mini_cifar 3x3 (x 64x64x16x16, w 128x64x3x3, pad 1)": (
        (64, 64, 16, 16),
        (128, 64, 3, 3),
        1,
        1,
    ),
}


#: What the rounds are timed with: wall time, or this thread's CPU time (``--clock cpu``,
#: one thread only: on a loaded machine other processes' time slices do not count)
CLOCK = time.perf_counter


def round_robin_ms(jobs: dict) -> dict:
    """Median ms of each job, timed in rounds (one run of every job per round).

    Interleaving makes a slow drift of the machine's load (other processes) hit all
    jobs alike, so the ratios between rows stay meaningful on a shared machine.
    """
    for fn, _ in jobs.values():  # warm-up: caches, thread pools, page faults
        fn()
    times = {label: [] for label in jobs}
    for r in range(max(n for _, n in jobs.values())):
        for label, (fn, n) in jobs.items():
            if r < n:
                t0 = CLOCK()
                fn()
                times[label].append(CLOCK() - t0)
    return {label: 1e3 * statistics.median(t) for label, t in times.items()}


def torch_broadcast_min(torch, cols, w, rows):
    """The same naive broadcast in PyTorch, on the first ``rows`` rows."""
    x = torch.from_numpy(cols[:rows])
    wt = torch.from_numpy(w)
    chunk = max(1, (4 << 20) // (w.shape[0] * w.shape[1] * 4))
    out = torch.empty(rows, w.shape[0])
    for r in range(0, rows, chunk):
        xc = x[r : r + chunk, None, :]
        out[r : r + chunk] = (
            torch.sign(xc) * torch.sign(wt)[None] * torch.minimum(xc.abs(), wt.abs()[None])
        ).sum(-1)
    return out


def bench_shape(name, spec, n_threads, repeats, naive_fraction, torch):
    x_shape, w_shape, stride, padding = spec
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    w2 = np.ascontiguousarray(w.reshape(w.shape[0], -1))
    k = w_shape[2:]
    oh, ow = _ext.conv_output_shape(x_shape[2], x_shape[3], k, stride, padding)
    p, kk, c = x_shape[0] * oh * ow, w2.shape[1], w2.shape[0]
    cols_buf = np.empty((p, kk), np.float32)
    out_buf = np.empty((p, c), np.float32)
    sub = max(8, int(p * naive_fraction))
    scale = p / sub

    def cy_im2col():
        with _ext.use_backend("cython"):
            return _ext.im2col(x, k, stride, padding, out=cols_buf)

    def np_im2col():
        with _ext.use_backend("numpy"):
            return _ext.im2col(x, k, stride, padding, out=cols_buf)

    def cy_min():
        with _ext.use_backend("cython"):
            _ext.min_gemm(_ext.im2col(x, k, stride, padding, out=cols_buf), w2, out=out_buf)

    def cy_fused():
        with _ext.use_backend("cython"):
            _ext.im2col_min_gemm(x, w2, k, stride, padding, out=out_buf)

    def np_min():
        with _ext.use_backend("numpy"):
            _ext.min_gemm(_ext.im2col(x, k, stride, padding, out=cols_buf), w2, out=out_buf)

    def exact_cy():
        np.matmul(cy_im2col(), w2.T, out=out_buf)

    def exact_np():
        np.matmul(np_im2col(), w2.T, out=out_buf)

    def exact_fused():
        with _ext.use_backend("cython"):
            _ext.im2col_gemm(x, w2, k, stride, padding, out=out_buf)

    default_form = tiles.min_tile_broadcasts()
    other_form = {"registers": "operands", "operands": "registers"}.get(default_form)

    def cy_fused_other_form():
        tiles.set_min_tile_broadcasts(other_form)
        try:
            cy_fused()
        finally:
            tiles.set_min_tile_broadcasts(default_form)

    xt, wt, bt = tm.tensor(x), tm.tensor(w), tm.tensor(rng.standard_normal(c).astype(np.float32))
    spec, state = MinConvSpec(stride=stride, padding=padding), MinConvState(np.ones(1, np.float32))

    def layer_min():
        with tm.no_grad():
            min_conv2d(xt, wt, bt, spec, state, training=False)

    def layer_exact():
        with tm.no_grad():
            F.conv2d(xt, wt, bt, stride, padding)

    cols = np_im2col().copy()
    slow = max(2, repeats // 3)  # repeats for the slow rows
    naive_label = f"min-conv, naive numpy (scaled from {sub} rows)"
    torch_label = f"min-conv, PyTorch broadcast (scaled from {sub} rows)"
    jobs = {  # label: (function, repeats)
        "min-conv, Cython": (cy_min, repeats),
        "min-conv, Cython fused (im2col_min_gemm)": (cy_fused, repeats),
        "min-conv, numpy twin": (np_min, slow),
        "numpy im2col": (np_im2col, repeats),
        naive_label: (lambda: reference.naive_min_gemm(cols[:sub], w2), slow),
        "exact, Cython im2col + BLAS": (exact_cy, repeats),
        "exact, numpy im2col + BLAS": (exact_np, repeats),
        "layer min_conv2d": (layer_min, repeats),
        "layer conv2d": (layer_exact, repeats),
    }
    other_label = f"min-conv, Cython fused, tile form {other_form!r}"
    if other_form is not None:
        jobs[other_label] = (cy_fused_other_form, repeats)
    if _ext.has_fused_gemm():
        jobs["exact, Cython fused (im2col_gemm)"] = (exact_fused, repeats)
    if torch is not None:
        torch.set_num_threads(n_threads)
        jobs[torch_label] = (lambda: torch_broadcast_min(torch, cols, w2, sub), slow)
    times = round_robin_ms(jobs)

    rows = {
        "min-conv, Cython": times["min-conv, Cython"],
        "min-conv, Cython fused (im2col_min_gemm)": times["min-conv, Cython fused (im2col_min_gemm)"],
    }
    if other_form is not None:
        rows[other_label] = times[other_label]
    rows |= {
        "min-conv, numpy twin": times["min-conv, numpy twin"],
        naive_label: times["numpy im2col"] + scale * times[naive_label],
    }
    if torch is not None:
        rows[torch_label] = times["numpy im2col"] + scale * times[torch_label]
    rows["exact, Cython im2col + BLAS"] = times["exact, Cython im2col + BLAS"]
    rows["exact, numpy im2col + BLAS"] = times["exact, numpy im2col + BLAS"]
    if _ext.has_fused_gemm():
        rows["exact, Cython fused (im2col_gemm)"] = times["exact, Cython fused (im2col_gemm)"]

    exact = rows["exact, Cython im2col + BLAS"]
    naive = rows[naive_label]
    print(f"\n### {name}: P={p}, K={kk}, C={c}, {n_threads} thread(s)\n")
    print("| implementation | median ms | vs exact | speed-up vs naive |")
    print("|---|---:|---:|---:|")
    for label, t in rows.items():
        print(f"| {label} | {t:.1f} | {t / exact:.2f}x | {naive / t:.1f}x |")
    if torch is None:
        print("| min-conv, PyTorch broadcast | skipped (torch not importable) | | |")
    lm, le = times["layer min_conv2d"], times["layer conv2d"]
    print(f"\nlayers, forward under no_grad with a bias: min_conv2d {lm:.1f} ms, conv2d "
          f"{le:.1f} ms: **min_conv2d / conv2d {lm / le:.2f}x**")

    # im2col / col2im alone; col2im of row-major cols, and of column-major cols (what
    # conv backward passes it: (W^T G^T)^T)
    dcols = rng.standard_normal((p, kk)).astype(np.float32)
    dcols_f = np.asfortranarray(dcols)
    ops = ("im2col", "col2im", "col2im, column-major cols")

    def kernel(op, b):
        def run():
            with _ext.use_backend(b):
                if op == "im2col":
                    _ext.im2col(x, k, stride, padding, out=cols_buf)
                else:
                    _ext.col2im(dcols if op == "col2im" else dcols_f, x_shape, k, stride, padding)

        return run

    t = round_robin_ms({(op, b): (kernel(op, b), repeats) for op in ops for b in ("cython", "numpy")})
    print(f"\n| kernel ({p * kk * 4 / 2**20:.0f} MB of columns) | Cython ms | numpy ms | numpy / Cython |")
    print("|---|---:|---:|---:|")
    for op in ops:
        cy, nu = t[(op, "cython")], t[(op, "numpy")]
        print(f"| {op} | {cy:.1f} | {nu:.1f} | {nu / cy:.1f}x |")
    return rows


def cpu_family() -> str:
    """`` (AuthenticAMD family 0x19)`` from /proc/cpuinfo, or nothing where it is not
    there: which core ran the rows matters (the min tile's form is chosen by it)."""
    try:
        with open("/proc/cpuinfo") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return ""
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    if "vendor_id" not in fields or "cpu family" not in fields:
        return ""
    return f" ({fields['vendor_id']} family {int(fields['cpu family']):#x})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (1,2)")
    ap.add_argument("--repeats", type=int, default=9, help="timed runs per entry (9)")
    ap.add_argument("--quick", action="store_true", help="3 repeats, smaller naive subset")
    ap.add_argument(
        "--naive-fraction",
        type=float,
        default=1 / 16,
        help="fraction of rows the naive broadcasts run on, then scaled (1/16)",
    )
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time, or the thread's CPU time (one thread only; a loaded machine)")
    args = ap.parse_args(argv)
    global CLOCK
    if args.clock == "cpu":
        if args.threads != "1":
            ap.error("--clock cpu measures one thread: use it with --threads 1")
        CLOCK = time.thread_time
    if args.quick:
        args.repeats, args.naive_fraction = 3, 1 / 64
    if not _ext.HAVE_CYTHON:
        print("The Cython extension is not built: run `pip install -e .` first.")
        return 1
    try:
        import torch
    except ImportError:
        torch = None
    thread_counts = [int(t) for t in args.threads.split(",")]
    print(
        f"# bench_kernels: {platform.processor() or platform.machine()}{cpu_family()}, "
        f"{os.cpu_count()} CPUs, numpy {np.__version__}, float32, "
        f"median of {args.repeats} runs, {args.clock} clock"
    )
    form = tiles.min_tile_broadcasts()
    if form is not None:
        print(f"# the fused min kernel's tile runs in form {form!r} (this CPU's default: "
              f"'registers' or 'operands', tinymin/_ext/_panel_tiles.h, point 4)")
    before = _ext.num_threads()
    try:
        for n in thread_counts:
            _ext.set_num_threads(n)
            print(f"\n## {n} thread(s)")
            for name, spec in SHAPES.items():
                bench_shape(name, spec, n, args.repeats, args.naive_fraction, torch)
    finally:
        _ext.set_num_threads(before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
