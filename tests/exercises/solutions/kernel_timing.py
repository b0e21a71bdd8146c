"""Solution of the kernel_timing exercise."""

import math
import statistics
import time

import numpy as np


def compare_to_twin(kernel, twin, args, repeats=5, clock=time.perf_counter):
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    fast, slow = np.asarray(kernel(*args)), np.asarray(twin(*args))
    if fast.shape != slow.shape:
        raise ValueError(f"shapes differ: {fast.shape} and {slow.shape}")
    difference = float(np.max(np.abs(fast - slow))) if fast.size else 0.0
    if not np.allclose(fast, slow):
        raise ValueError(f"the answers differ by up to {difference}")
    times = {kernel: [], twin: []}
    for _ in range(repeats):
        for function in (kernel, twin):
            start = clock()
            function(*args)
            times[function].append(clock() - start)
    kernel_s, twin_s = statistics.median(times[kernel]), statistics.median(times[twin])
    return {"kernel_seconds": kernel_s, "twin_seconds": twin_s,
            "speedup": twin_s / kernel_s if kernel_s > 0 else math.inf, "max_abs_difference": difference}
