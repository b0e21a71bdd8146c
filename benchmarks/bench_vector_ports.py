"""The ceiling of the min tile on this core: a range and an FMA per pair against one FMA.

Run from the repository root (needs a C compiler and an AVX-512DQ CPU; tinymin itself
is not imported)::

    python benchmarks/bench_vector_ports.py
    python benchmarks/bench_vector_ports.py --repeats 15 --iterations 20000000

The AVX-512 min tile (``tinymin/_ext/_panel_tiles.h``) spends two vector instructions
on each pair, ``acc += sgn(x) * range(w, x)``, where the exact tile spends one,
``acc += x * w``. How close the min kernel can come to the exact one is set by how
many of those instructions the core runs per cycle: on a core whose VRANGE runs in
pipes of its own (Zen 4 and 5) a pair can cost about what a product costs; on a core
where range and FMA share the same vector ports, a pair costs two products' time and
the min kernel cannot come under about twice the exact one's time, whatever the tile.

This script measures that directly, without port counters: it compiles four loops of
the tile's own inner step (12 independent accumulators of one 512-bit vector, a new
broadcast ``x`` from L1 each step, weights in registers), times each on one thread,
and prints the time per vector instruction and the ratio of each loop to the FMA loop,
all measured in the same run, in interleaved rounds (medians):

* ``FMA`` (the exact tile's step): ``acc = fma(w, x, acc)``;
* ``range + FMA`` (the min tile's step): ``acc = fma(range(w, x), sgn(x), acc)``;
* ``range + add``: ``acc = range(w, x) + acc``, the same count of instructions with an
  add for the FMA (is it the FMA, or any second instruction?);
* ``range alone``: ``acc = range(acc, x)``, VRANGE's own throughput.

``pair / FMA`` near 1 means the pair's two instructions run side by side; near 2
means they queue for the same ports.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

ACCUMULATORS = 12  # independent chains: enough to cover a 4-cycle latency on 2 ports

C_SOURCE = r"""
#include <immintrin.h>

#define N_ACC 12
#define X_LEN 64   /* x values cycled through, so that no step can be hoisted */

static float fold(const __m512* acc) {
    __m512 s = acc[0];
    _Pragma("GCC unroll 16")
    for (int j = 1; j < N_ACC; ++j) s = _mm512_add_ps(s, acc[j]);
    return _mm512_reduce_add_ps(s);
}

#define LOOP(step)                                                                  \
    __m512 w[N_ACC], acc[N_ACC];                                                    \
    _Pragma("GCC unroll 16")                                                        \
    for (int j = 0; j < N_ACC; ++j) {                                               \
        w[j] = _mm512_set1_ps(0.25f * (float)(j + 1));                              \
        acc[j] = _mm512_setzero_ps();                                               \
    }                                                                               \
    for (long i = 0; i < n; ++i) {                                                  \
        __m512 xb = _mm512_set1_ps(x[i & (X_LEN - 1)]);                             \
        __m512 sx = _mm512_set1_ps(s[i & (X_LEN - 1)]);                             \
        (void)sx;                                                                   \
        _Pragma("GCC unroll 16")                                                    \
        for (int j = 0; j < N_ACC; ++j) acc[j] = (step);                            \
    }                                                                               \
    return fold(acc);

float loop_fma(long n, const float* x, const float* s) {
    LOOP(_mm512_fmadd_ps(w[j], xb, acc[j]))
}

float loop_range_fma(long n, const float* x, const float* s) {
    LOOP(_mm512_fmadd_ps(_mm512_range_ps(w[j], xb, 2), sx, acc[j]))
}

float loop_range_add(long n, const float* x, const float* s) {
    LOOP(_mm512_add_ps(_mm512_range_ps(w[j], xb, 2), acc[j]))
}

float loop_range_alone(long n, const float* x, const float* s) {
    LOOP(_mm512_range_ps(acc[j], xb, 2))
}
"""

# name -> (C function, vector instructions per accumulator and step)
LOOPS = {
    "FMA (exact tile's step)": ("loop_fma", 1),
    "range + FMA (min tile's step)": ("loop_range_fma", 2),
    "range + add": ("loop_range_add", 2),
    "range alone": ("loop_range_alone", 1),
}


def has_avx512dq() -> bool:
    """True where /proc/cpuinfo lists avx512dq (Linux); False where it cannot tell."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return " avx512dq" in f.read()
    except OSError:
        return False


def compile_loops(folder: str) -> ctypes.CDLL:
    """Compile C_SOURCE into a shared library in ``folder`` and load it."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        compiler = "cc"
    source = os.path.join(folder, "ports.c")
    library = os.path.join(folder, "ports.so")
    with open(source, "w", encoding="utf-8") as f:
        f.write(C_SOURCE)
    subprocess.run(
        [compiler, "-O2", "-mavx512f", "-mavx512dq", "-shared", "-fPIC", source, "-o", library],
        check=True,
    )
    lib = ctypes.CDLL(library)
    for function, _ in LOOPS.values():
        fn = getattr(lib, function)
        fn.restype = ctypes.c_float
        fn.argtypes = [ctypes.c_long, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
    return lib


def time_loops(lib: ctypes.CDLL, iterations: int, repeats: int) -> dict:
    """Median seconds of each loop over ``repeats`` interleaved rounds."""
    x = (ctypes.c_float * 64)(*[(-1.0) ** i * (0.1 + i / 64) for i in range(64)])
    s = (ctypes.c_float * 64)(*[(-1.0) ** i for i in range(64)])
    times: dict = {name: [] for name in LOOPS}
    for _ in range(repeats):
        for name, (function, _) in LOOPS.items():
            fn = getattr(lib, function)
            start = time.perf_counter()
            fn(iterations, x, s)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=10_000_000,
                    help="steps per loop; each step runs 12 accumulators (10,000,000)")
    ap.add_argument("--repeats", type=int, default=9, help="interleaved rounds (9)")
    args = ap.parse_args(argv)
    if args.iterations < 1 or args.repeats < 1:
        ap.error("--iterations and --repeats must be at least 1")
    if platform.machine() not in ("x86_64", "AMD64") or not has_avx512dq():
        print("This CPU has no AVX-512DQ: there is no VRANGE tile to measure.")
        return 0

    with tempfile.TemporaryDirectory() as folder:
        lib = compile_loops(folder)
        medians = time_loops(lib, args.iterations, args.repeats)

    fma_ns = medians["FMA (exact tile's step)"] / (args.iterations * ACCUMULATORS) * 1e9
    print(f"# {platform.processor() or platform.machine()}, Python {sys.version.split()[0]},"
          f" one thread, {args.iterations:,} steps x {ACCUMULATORS} accumulators,"
          f" median of {args.repeats}")
    print()
    print("| loop | ns per accumulator step | ns per vector instruction | time / FMA loop |")
    print("|---|---:|---:|---:|")
    for name, (_, instructions) in LOOPS.items():
        per_step = medians[name] / (args.iterations * ACCUMULATORS) * 1e9
        print(f"| {name} | {per_step:.3f} | {per_step / instructions:.3f} |"
              f" {per_step / fma_ns:.2f}x |")
    pair = medians["range + FMA (min tile's step)"] / medians["FMA (exact tile's step)"]
    print()
    print(f"pair / FMA = {pair:.2f}x: the least a min tile can take against an exact tile"
          " running at this core's FMA peak.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
