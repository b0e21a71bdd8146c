"""Check a kernel against its numpy twin, then time both: the measurement that must
follow every change to a Cython kernel (chapter 9).

Speed is measured, not guessed: the two are first compared on the same inputs (a fast
kernel that computes something else is worth nothing), then timed in interleaved
rounds (a drift in the machine's load hits both alike), and the medians are quoted
(one slow outlier does not move them).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np


def compare_to_twin(kernel: Callable, twin: Callable, args: Sequence[Any], repeats: int = 5,
                    clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Check that ``kernel(*args)`` and ``twin(*args)`` agree, then time both.

    1. One untimed call of each, kernel first: the warm-up, and the two answers, which
       must have one shape and agree as ``numpy.allclose`` decides.
    2. ``repeats`` rounds; each times one call of the kernel, then one of the twin, as
       ``clock()`` after the call minus ``clock()`` before it.
    3. The medians of each, and the speedup :math:`t_\\mathrm{twin} / t_\\mathrm{kernel}`.

    Parameters
    ----------
    kernel, twin : callable
        The fast kernel and its readable twin, with the same signature.
    args : sequence
        The arguments both are called with.
    repeats : int
        Timed rounds (at least 1).
    clock : callable
        Seconds, as :func:`time.perf_counter` gives them.

    Returns
    -------
    dict
        ``kernel_seconds`` and ``twin_seconds`` (medians), ``speedup`` (infinite when the
        kernel's median is 0) and ``max_abs_difference`` between the two answers.

    Raises
    ------
    ValueError
        When ``repeats`` is below 1, or the answers differ in shape or value.

    Examples
    --------
    >>> from tinymin import _ext
    >>> from tinymin._ext import reference
    >>> from tinymin._ext.twins import compare_to_twin
    >>> cols, w = np.ones((8, 4)), np.ones((2, 4))
    >>> row = compare_to_twin(_ext.min_gemm, reference.min_gemm, (cols, w), repeats=3)
    >>> sorted(row), row["max_abs_difference"]
    (['kernel_seconds', 'max_abs_difference', 'speedup', 'twin_seconds'], 0.0)
    """
    if repeats < 1:
        raise ValueError(f"compare_to_twin: repeats must be at least 1, got {repeats}")
    fast, slow = np.asarray(kernel(*args)), np.asarray(twin(*args))
    if fast.shape != slow.shape:
        raise ValueError(f"compare_to_twin: the kernel's answer has shape {fast.shape}, "
                         f"the twin's {slow.shape}")
    # NaN where both have NaN is agreement (a NaN input or filter must give NaN); the
    # largest difference is over the other entries
    finite = ~(np.isnan(fast) & np.isnan(slow))
    difference = float(np.max(np.abs(fast - slow)[finite])) if finite.any() else 0.0
    if not np.allclose(fast, slow, equal_nan=True):
        raise ValueError(f"compare_to_twin: the kernel and its twin disagree (largest difference "
                         f"{difference:.3g})")
    kernel_times: list[float] = []
    twin_times: list[float] = []
    for _ in range(repeats):
        for function, times in ((kernel, kernel_times), (twin, twin_times)):
            start = clock()
            function(*args)
            times.append(clock() - start)
    kernel_seconds, twin_seconds = statistics.median(kernel_times), statistics.median(twin_times)
    speedup = twin_seconds / kernel_seconds if kernel_seconds > 0 else math.inf
    return {"kernel_seconds": kernel_seconds, "twin_seconds": twin_seconds, "speedup": speedup,
            "max_abs_difference": difference}
