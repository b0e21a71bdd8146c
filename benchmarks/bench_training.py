"""LeNet training in tinymin and in PyTorch (CPU), side by side: per layer, optimizer, epoch.

Three tables, each measured in one run with the repetitions interleaved (one tinymin
run, one PyTorch run, and again) and reported as medians, so that the ratios stay fair
on a shared machine whose load drifts:

1. **Per layer**, at batch 64: forward and backward of each layer of ``models.lenet()``
   on the activations a real step feeds it, the loss, the Adam step and loading one
   batch; the next gap is visible without a profiler.
2. **Optimizer steps** on LeNet's 3.3 M parameters: Adam, AdamW and SGD with momentum
   against ``torch.optim`` with ``foreach=True`` (target: <= 1.5x).
3. **One epoch** (``--images`` images, batch 64, Adam, data loading included): the exact
   LeNet, the min-conv LeNet and the same network in PyTorch (targets: exact / PyTorch
   <= 1.5, min / exact <= 1.1).

Usage::

    python benchmarks/bench_training.py                  # all cores, embedded MNIST
    python benchmarks/bench_training.py --threads 1 --repeats 5
    python benchmarks/bench_training.py --threads 1 --clock cpu   # on a busy machine
    python benchmarks/bench_training.py --skip-epochs    # tables 1 and 2 only (~1 min)
    python benchmarks/bench_training.py --plot scaling.png   # and draw the scaling figure
    python benchmarks/bench_training.py --threads 2 --import-torch-first   # torch's libgomp

``--import-torch-first`` imports torch before numpy and tinymin, as a script that uses
both often does: tinymin's kernels then run on torch's bundled libgomp, loaded before
tinymin could set its wait policy (``tinymin/_ext/threads.py``, step 4). The header says
which libgomp the process uses and how much CPU its idle workers burn after a kernel.

``--plot FILE`` draws three panels with matplotlib: exact and min-selector convolution
time (forward, im2col included) against K = C_in*kh*kw at fixed P and C_out, against
C_out at fixed P and K, and epoch time against batch size (tinymin exact, min-conv,
PyTorch).
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
if "--import-torch-first" in sys.argv:  # torch's libgomp loads before tinymin's (threads.py, step 4)
    import torch  # noqa: F401

import numpy as np  # noqa: E402

try:
    import tinymin  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinymin as tm  # noqa: E402
from tinymin import _ext, optim  # noqa: E402
from tinymin.analysis.figures import save_figure  # noqa: E402
from tinymin.data import DataLoader, TensorDataset  # noqa: E402
from tinymin.data.catalog import load_splits  # noqa: E402
from tinymin.models import lenet  # noqa: E402
from tinymin.nn import functional as F  # noqa: E402
from tinymin.train import train_epoch  # noqa: E402

BATCH = 64


# ----------------------------------------------------------------------- helpers
#: The clock: wall time (time.perf_counter), or with ``--clock cpu`` the CPU time of
#: this thread (time.thread_time: immune to other processes' load, valid for one thread).
CLOCK = time.perf_counter


def interleaved_ms(jobs: dict, repeats: int) -> dict:
    """Median milliseconds of each job, timed in rounds (one run of every job per round).

    Interleaving makes a drift of the machine's load (other processes) hit every job
    alike, so the ratios between jobs stay meaningful. One warm-up round first. A job
    that returns a number has timed itself (seconds, e.g. only its backward half).
    """
    for fn in jobs.values():
        fn()
    times: dict = {label: [] for label in jobs}
    for _ in range(repeats):
        for label, fn in jobs.items():
            start = CLOCK()
            own = fn()
            times[label].append(own if own is not None else CLOCK() - start)
    return {label: 1e3 * statistics.median(t) for label, t in times.items()}


def openmp_report() -> str:
    """Which libgomp this process uses, and the CPU its idle workers burn after a kernel.

    Runs im2col (one OpenMP region) and then sleeps 0.1 s, ten times, adding up the CPU
    time of every thread but this one meanwhile: near 0 ms when idle workers sleep, about
    10 ms per kernel when they spin. Linux only (reads /proc).
    """
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "libgomp" in line})
    except OSError:
        return "OpenMP runtime: unknown (no /proc)"

    def other_threads_cpu() -> float:
        ticks = 0
        for task in os.listdir("/proc/self/task"):
            if int(task) != os.getpid():
                with open(f"/proc/self/task/{task}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    x = np.zeros((64, 1, 28, 28), np.float32)
    burnt = 0.0
    for _ in range(10):
        _ext.im2col(x, 5, 1, 2)
        before = other_threads_cpu()
        time.sleep(0.1)
        burnt += other_threads_cpu() - before
    quieted = getattr(_ext.threads, "spinning_runtime_quieted", lambda: "n/a")()
    return (f"OpenMP runtime {', '.join(paths) or 'none'}; torch imported first: "
            f"{'--import-torch-first' in sys.argv}; threads.py step 4 in effect: {quieted}; "
            f"idle OpenMP/BLAS workers burnt {burnt * 100:.0f} ms of CPU per kernel call")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "-"


def load_images(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    train, _, _ = load_splits(name, augment=False)
    x, y = train.arrays()
    return x[:n], y[:n]


def torch_lenet(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.LeakyReLU(0.01), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.LeakyReLU(0.01), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 10))


def copy_weights(model, torch_model, torch) -> None:
    """Give the PyTorch network tinymin's weights (the same shapes, the same order)."""
    with torch.no_grad():
        for p, q in zip(model.parameters(), torch_model.parameters()):
            q.copy_(torch.from_numpy(p.numpy()))


# ------------------------------------------------------------- 1. per layer
def layer_table(x: np.ndarray, y: np.ndarray, repeats: int, torch) -> list[tuple]:
    """Rows (name, tinymin fwd, tinymin bwd, torch fwd, torch bwd) in milliseconds."""
    tm.manual_seed(0)
    model = lenet()
    model.train()
    layers = list(model)
    xb, yb = x[:BATCH], y[:BATCH]
    acts = [xb]  # the input of every layer, from one real forward pass
    with tm.no_grad():
        for layer in layers:
            acts.append(layer(tm.tensor(acts[-1])).numpy())
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(a.shape).astype(np.float32) for a in acts[1:]]
    if torch is not None:
        torch_model = torch_lenet(torch)
        copy_weights(model, torch_model, torch)
        torch_layers = list(torch_model)

    def tm_run(i, backward):
        def run():
            for p in layers[i].parameters():
                p.grad = None
            inp = tm.tensor(acts[i], requires_grad=i > 0)  # the images need no gradient
            start = CLOCK()
            out = layers[i](inp)
            if not backward:
                return CLOCK() - start
            start = CLOCK()
            out.backward(grads[i])
            return CLOCK() - start
        return run

    def torch_run(i, backward):
        def run():
            torch_layers[i].zero_grad(set_to_none=True)
            inp = torch.from_numpy(acts[i]).requires_grad_(i > 0)
            start = CLOCK()
            out = torch_layers[i](inp)
            if not backward:
                return CLOCK() - start
            start = CLOCK()
            out.backward(torch.from_numpy(grads[i]))
            return CLOCK() - start
        return run

    jobs = {}
    for i in range(len(layers)):
        jobs[("tm", i, "fwd")] = tm_run(i, False)
        jobs[("tm", i, "bwd")] = tm_run(i, True)
        if torch is not None:
            jobs[("pt", i, "fwd")] = torch_run(i, False)
            jobs[("pt", i, "bwd")] = torch_run(i, True)
    logits = acts[-1]

    def tm_loss():
        z = tm.tensor(logits, requires_grad=True)
        F.cross_entropy(z, yb).backward()

    jobs[("tm", "loss", "both")] = tm_loss
    if torch is not None:
        def torch_loss():
            z = torch.from_numpy(logits).requires_grad_(True)
            torch.nn.functional.cross_entropy(z, torch.from_numpy(yb)).backward()

        jobs[("pt", "loss", "both")] = torch_loss
    ms = interleaved_ms(jobs, repeats)

    rows = []
    for i, layer in enumerate(layers):
        name = f"{i} {type(layer).__name__}"
        rows.append((name, ms[("tm", i, "fwd")], ms[("tm", i, "bwd")],
                     ms.get(("pt", i, "fwd"), float("nan")), ms.get(("pt", i, "bwd"), float("nan"))))
    rows.append(("loss (fwd + bwd)", ms[("tm", "loss", "both")], 0.0,
                 ms.get(("pt", "loss", "both"), float("nan")), 0.0))
    return rows


def step_rows(x, y, repeats: int, torch) -> list[tuple]:
    """The Adam step and loading one batch, as rows of the per-layer table."""
    tm.manual_seed(0)
    model = lenet()
    params = list(model.parameters())
    rng = np.random.default_rng(1)
    grads = [tm.from_numpy(rng.standard_normal(p.shape).astype(np.float32)) for p in params]
    opt = optim.Adam(params, lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), BATCH, shuffle=True, seed=0)

    def tm_step():
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()

    def tm_batch():
        for _ in loader:
            pass

    jobs = {"tm step": tm_step, "tm data": tm_batch}
    if torch is not None:
        tparams = [torch.nn.Parameter(torch.from_numpy(p.numpy().copy())) for p in params]
        topt = torch.optim.Adam(tparams, lr=1e-3)
        xs, ys = torch.from_numpy(x), torch.from_numpy(y)

        def torch_step():
            for q, g in zip(tparams, grads):
                q.grad = torch.from_numpy(g.numpy())
            topt.step()

        def torch_batch():
            order = torch.randperm(len(xs))
            for i in range(0, len(xs), BATCH):
                idx = order[i:i + BATCH]
                xs[idx], ys[idx]

        jobs.update({"pt step": torch_step, "pt data": torch_batch})
    ms = interleaved_ms(jobs, repeats)
    n_batches = -(-len(x) // BATCH)
    return [("Adam step", ms["tm step"], 0.0, ms.get("pt step", float("nan")), 0.0),
            ("data, one batch", ms["tm data"] / n_batches, 0.0,
             ms.get("pt data", float("nan")) / n_batches, 0.0)]


def print_layer_table(rows) -> None:
    print("\n### Per layer, batch 64 (milliseconds, medians)\n")
    print("| layer | tinymin fwd | tinymin bwd | PyTorch fwd | PyTorch bwd | tinymin / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|")
    tot = [0.0, 0.0, 0.0, 0.0]
    for name, a, b, c, d in rows:
        print(f"| {name} | {a:.2f} | {b:.2f} | {c:.2f} | {d:.2f} | {ratio(a + b, c + d)} |")
        tot = [t + v for t, v in zip(tot, (a, b, c, d))]
    a, b, c, d = tot
    print(f"| **sum (one step)** | {a:.2f} | {b:.2f} | {c:.2f} | {d:.2f} | {ratio(a + b, c + d)} |")


# --------------------------------------------------------- 2. optimizer steps
def optimizer_table(repeats: int, torch) -> None:
    tm.manual_seed(0)
    params = list(lenet().parameters())
    rng = np.random.default_rng(2)
    for p in params:
        p.grad = tm.from_numpy(rng.standard_normal(p.shape).astype(np.float32))
    settings = {"Adam": ("Adam", dict(lr=1e-3)), "AdamW": ("AdamW", dict(lr=1e-3)),
                "SGD momentum 0.9": ("SGD", dict(lr=0.01, momentum=0.9))}
    jobs = {}
    for label, (name, options) in settings.items():
        jobs[("tm", label)] = getattr(optim, name)(params, **options).step
        if torch is not None:
            tparams = [torch.nn.Parameter(torch.from_numpy(p.numpy().copy())) for p in params]
            for q, p in zip(tparams, params):
                q.grad = torch.from_numpy(p.grad.numpy().copy())
            jobs[("pt", label)] = getattr(torch.optim, name)(tparams, foreach=True, **options).step
    ms = interleaved_ms(jobs, repeats)
    n = sum(p.numel() for p in params)
    print(f"\n### Optimizer step on LeNet's {n / 1e6:.2f} M parameters (ms, medians)\n")
    print("| optimizer | tinymin | torch.optim (foreach) | tinymin / PyTorch (target <= 1.5) |")
    print("|---|---:|---:|---:|")
    for label in settings:
        a, b = ms[("tm", label)], ms.get(("pt", label), float("nan"))
        print(f"| {label} | {a:.2f} | {b:.2f} | {ratio(a, b)} |")


# ------------------------------------------------------------------ 3. epochs
def tinymin_epoch(x, y, conv: str, batch: int = BATCH):
    def run():
        tm.manual_seed(0)
        model = lenet(conv=conv)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        loader = DataLoader(TensorDataset(x, y), batch, shuffle=True, seed=0)
        train_epoch(model, opt, loader, progress=False)
    return run


def torch_epoch(x, y, torch, batch: int = BATCH):
    def run():
        torch.manual_seed(0)
        model = torch_lenet(torch)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xs, ys = torch.from_numpy(x), torch.from_numpy(y)
        order = torch.randperm(len(xs))
        for i in range(0, len(xs), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            loss.backward()
            opt.step()
    return run


def epoch_table(x, y, repeats: int, torch) -> None:
    jobs = {"tinymin exact": tinymin_epoch(x, y, "exact"), "tinymin min": tinymin_epoch(x, y, "min")}
    if torch is not None:
        jobs["pytorch cpu"] = torch_epoch(x, y, torch)
    s = {k: v / 1e3 for k, v in interleaved_ms(jobs, repeats).items()}
    print(f"\n### One epoch of {len(x)} images, batch {BATCH}, Adam (seconds, medians)\n")
    print("| tinymin exact | tinymin min | PyTorch | exact / PyTorch (target <= 1.5) "
          "| min / exact (target <= 1.1) |")
    print("|---:|---:|---:|---:|---:|")
    t = s.get("pytorch cpu", float("nan"))
    print(f"| {s['tinymin exact']:.2f} | {s['tinymin min']:.2f} | {t:.2f} "
          f"| {ratio(s['tinymin exact'], t)} | {ratio(s['tinymin min'], s['tinymin exact'])} |")


# ------------------------------------------------------------------ --plot
def conv_forward_jobs(c_in: int, c_out: int, n_images: int, kernel: int = 5):
    """im2col + min_gemm and im2col + BLAS for one layer shape (14x14 maps, padding 2)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n_images, c_in, 14, 14)).astype(np.float32)
    w = rng.standard_normal((c_out, c_in * kernel * kernel)).astype(np.float32)

    def exact():
        _ext.im2col(x, kernel, 1, kernel // 2) @ w.T

    def minconv():
        _ext.min_gemm(_ext.im2col(x, kernel, 1, kernel // 2), w)
    return exact, minconv


def draw_scaling(path: str, x, y, repeats: int, torch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_images = 16  # P = 16 * 14 * 14 = 3136 output positions
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    c_ins = [4, 8, 16, 32, 64]
    timings = [interleaved_ms(dict(zip(("exact", "min"), conv_forward_jobs(c, 64, n_images))),
                              repeats) for c in c_ins]
    ks = [c * 25 for c in c_ins]
    for label in ("exact", "min"):
        axes[0].plot(ks, [t[label] for t in timings], "o-", label=f"{label} (im2col + GEMM)")
    axes[0].set(xlabel="K = C_in x 5 x 5", ylabel="ms", title="conv forward vs K (P = 3136, C_out = 64)")
    c_outs = [16, 32, 64, 128, 256]
    timings = [interleaved_ms(dict(zip(("exact", "min"), conv_forward_jobs(32, c, n_images))),
                              repeats) for c in c_outs]
    for label in ("exact", "min"):
        axes[1].plot(c_outs, [t[label] for t in timings], "o-", label=label)
    axes[1].set(xlabel="C_out", ylabel="ms", title="conv forward vs C_out (P = 3136, K = 800)")
    batches = [16, 32, 64, 128, 256]
    sub_x, sub_y = x[:1024], y[:1024]
    curves: dict = {"tinymin exact": [], "tinymin min": [], "pytorch cpu": []}
    for b in batches:
        jobs = {"tinymin exact": tinymin_epoch(sub_x, sub_y, "exact", b),
                "tinymin min": tinymin_epoch(sub_x, sub_y, "min", b)}
        if torch is not None:
            jobs["pytorch cpu"] = torch_epoch(sub_x, sub_y, torch, b)
        for label, ms in interleaved_ms(jobs, max(1, repeats // 2)).items():
            curves[label].append(ms / 1e3)
    for label, seconds in curves.items():
        if seconds:
            axes[2].plot(batches, seconds, "o-", label=label)
    axes[2].set(xlabel="batch size", ylabel="s", xscale="log", ylim=(0, None),
                title=f"LeNet epoch of {len(sub_x)} images vs batch size")
    axes[2].set_xticks(batches, [str(b) for b in batches])
    axes[2].minorticks_off()
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{_ext.num_threads()} thread(s), medians of {repeats}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)  # atomic: a reader never sees half an image
    print(f"\nscaling figure written to {path}")


def main(argv=None) -> None:
    global CLOCK
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="mnist-embedded")
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3, help="epochs per implementation")
    parser.add_argument("--layer-repeats", type=int, default=21,
                        help="repetitions of the per-layer and optimizer timings")
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: this thread's CPU time, immune to other processes' load "
                             "(needs --threads 1; epochs are always wall time)")
    parser.add_argument("--skip-epochs", action="store_true")
    parser.add_argument("--plot", metavar="FILE", help="also draw the scaling figure")
    parser.add_argument("--import-torch-first", action="store_true",
                        help="import torch before tinymin (read at the top of this file)")
    args = parser.parse_args(argv)
    threads = args.threads or _ext.num_threads()
    if args.clock == "cpu":
        if threads != 1:
            parser.error("--clock cpu measures one thread: add --threads 1")
        CLOCK = time.thread_time
    _ext.set_num_threads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError as err:
        torch = None
        print(f"pytorch not importable ({err}; pip install torch, CPU): tinymin columns only")
    x, y = load_images(args.data, args.images)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"LeNet, batch {BATCH}, {len(x)} images of {args.data}; {threads} thread(s); "
          f"backend {_ext.backend()}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at start; {args.clock} clock; "
          f"torch {getattr(torch, '__version__', '-')}")
    print(openmp_report())
    rows = layer_table(x, y, args.layer_repeats, torch) + step_rows(x, y, args.layer_repeats, torch)
    print_layer_table(rows)
    optimizer_table(args.layer_repeats, torch)
    if not args.skip_epochs:
        CLOCK = time.perf_counter  # an epoch includes data loading and Python: wall time
        epoch_table(x, y, args.repeats, torch)
    if args.plot:
        draw_scaling(args.plot, x, y, args.repeats, torch)


if __name__ == "__main__":
    main()
