"""
Chapter 9: Inside the min-selector kernel
=========================================

Step 5 of Algorithm 1 is a GEMM-shaped reduction: with the im2col matrix
``cols`` (:math:`P \\times K`, one receptive field per row) and the rescaled
weights ``w_hat`` (:math:`C \\times K`),

.. math::

    \\mathrm{out}[p, c] = \\sum_{k<K} m(\\mathrm{cols}[p, k],\\ \\hat w[c, k]),
    \\qquad m(a, b) = \\operatorname{sgn}(a)\\operatorname{sgn}(b)\\min(|a|, |b|).

It costs :math:`P \\cdot C \\cdot K` selections, exactly as many as the
multiply-adds of the exact layer's GEMM ``cols @ W.T``. This chapter opens
``tinymin._ext``: the readable numpy twin, the obvious (slow) broadcast, the Cython
kernel that training actually uses, and how fast each one is next to the BLAS GEMM
of the exact convolution.
"""

# %%
# The clip identity
# -----------------
# The numpy twin :func:`tinymin._ext.reference.min_gemm` does not compute signs and
# minima; it uses
#
# .. math::
#
#     m(x, w) = \operatorname{sgn}(w)\ \operatorname{clip}(x, -|w|, |w|).
#
# *Proof.* If :math:`w = 0` both sides are 0. If :math:`|x| \le |w|` the clip
# returns :math:`x`, and :math:`\operatorname{sgn}(w)\,x = \operatorname{sgn}(w)
# \operatorname{sgn}(x)\,|x|`, the left side since :math:`\min = |x|`. If
# :math:`|x| > |w|` the clip returns :math:`\operatorname{sgn}(x)\,|w|`, and the right
# side is :math:`\operatorname{sgn}(w)\operatorname{sgn}(x)\,|w|`, again the left side
# (:math:`\min = |w|`). :math:`\square`
#
# For one filter, :math:`|w|` and :math:`\operatorname{sgn}(w)` are fixed, so a
# whole column of the output is *one clip* (a max and a min, no product) and *one
# signed sum*. We check the identity on random numbers, zeros and ties included.
import inspect
import os
import re
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from tinymin import _ext
from tinymin._ext import reference, tiles
from tinymin.minconv.operators import multiplexer

QUICK = os.environ.get("TINYMIN_QUICK") == "1"
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
rng = np.random.default_rng(0)

x = rng.standard_normal(100_000)
w = rng.standard_normal(100_000)
x[:100], w[100:200] = 0.0, 0.0          # zeros in either operand
w[200:300] = -x[200:300]                # ties |x| = |w|
signed_min = np.sign(x) * np.sign(w) * np.minimum(np.abs(x), np.abs(w))
clip_form = np.sign(w) * np.clip(x, -np.abs(w), np.abs(w))
print("max |sgn(x)sgn(w)min(|x|,|w|) - sgn(w)clip(x,-|w|,|w|)| =", np.abs(signed_min - clip_form).max())
print("and the multiplexer of Table 2 agrees:",
      all(multiplexer(a, b) == s for a, b, s in zip(x[:2000], w[:2000], signed_min[:2000])))

# %%
# The numpy twin, in full
# -----------------------
# Rows go in chunks so the temporary clipped block stays near 1 MB; the signed sum
# is written as a matrix-vector product with :math:`\operatorname{sgn}(w) \in
# \{-1, 0, 1\}` because numpy has no faster way to add with signs.
print(inspect.getsource(reference.min_gemm).split('"""')[-1])

# %%
# The obvious version: broadcast everything
# -----------------------------------------
# ``reference.naive_min_gemm`` builds the :math:`(\text{rows}, C, K)` tensor of
# signed minima and sums over :math:`K`. It is the definition, word for word, and
# our yardstick. The three versions must agree (up to float32 rounding of sums).
P, K, C = 300, 800, 64
cols = rng.standard_normal((P, K)).astype(np.float32)
w_hat = rng.standard_normal((C, K)).astype(np.float32)
naive = reference.naive_min_gemm(cols, w_hat)
twin = reference.min_gemm(cols, w_hat)
print("max |naive - numpy twin| =", np.abs(naive - twin).max(),
      " (out magnitude ~", float(np.abs(naive).mean()), ")")

# %%
# The Cython kernel
# -----------------
# The compiled kernel lives next to the Python package: its entry points in
# ``_min_gemm.pyx``, its tiles in ``_min_tiles.pxd``. The innermost piece is a
# *micro-kernel*: a tile of output whose accumulators stay in CPU registers for the
# whole :math:`k` loop. There are two in Cython, and ``min_gemm`` picks one by
# :math:`K`:
#
# * ``_min_tile`` (8 rows x 1 filter) is vectorised over :math:`k`: one vector
#   register holds consecutive :math:`k` (8 float32 with AVX2; lane :math:`l` sums
#   the :math:`k` with :math:`k \bmod 8 = l`, and the lanes are added up at the
#   end). Per vector of :math:`k` it loads the filter's :math:`|w|` and
#   :math:`\operatorname{sgn}(w)` once (precomputed per call), forms :math:`-|w|`,
#   and applies the clip identity to the 8 rows.
# * ``_min_panel_tile`` (8 rows x one vector of filters) is vectorised over the
#   filters: each input value is broadcast to every lane and meets 8 or 16 filters at
#   once, and no lanes need adding up at the end. With AVX-512's 32 registers it is
#   the faster one at every :math:`K`; with AVX2's 16 it runs out of registers, so
#   there it is used only for short rows (:math:`K \le 64`, LeNet's first layer),
#   where the lane sums of ``_min_tile`` would dominate.
#
# A CPU with AVX-512DQ gets a third, written in C with intrinsics
# (``_panel_tiles.h``): the panel tile again, but the clip is **one** instruction,
# ``VRANGEPS`` with immediate 2, which returns the operand of smaller magnitude with
# the sign of the first. It uses the clip identity with the roles swapped:
# ``range(w, x)`` is :math:`\operatorname{sgn}(w)\min(|w|, |x|) =
# \operatorname{clip}(w, -|x|, |x|)`, and a fused multiply-add by
# :math:`\operatorname{sgn}(x)` adds :math:`m(x, w)` to the sum. That way the tile
# reads the weights :math:`w` alone (one stream of panels, as an ordinary product
# does) and the signs of the inputs, which sit beside them in the cache; with
# :math:`|w|` and :math:`\operatorname{sgn}(w)` as two streams it was slower. The
# tile is 6 rows x 4 panels, so that each loaded weight vector serves 6 rows and
# each broadcast input 64 filters. The same tile with one fused multiply-add per
# pair is the exact layer's kernel, and both can read the input itself instead of a
# column matrix (``_fused.pyx``).
#
# How :math:`x` and :math:`\operatorname{sgn}(x)` reach the instructions depends on
# the core. Broadcast into registers once per row and :math:`k`, each serves 4
# instructions; but on AMD's Zen 4 a broadcast occupies the same execution pipes as
# ``VRANGEPS``, so there the tile lets each ``VRANGEPS`` read :math:`x` from memory
# with an *embedded broadcast* (``{1to16}``) and loads the vector
# :math:`\operatorname{sgn}(x)` whole from a table of eight (:math:`\pm 1`,
# :math:`\pm 0`, NaN): no broadcast instruction at all, and faster there. On Zen 5
# the register form was measured faster. Both forms give the same bits;
# ``tinymin._ext.tiles`` says which one this CPU runs, the speed table below times
# both on yours, and ``_panel_tiles.h`` (point 4) has the measurements.
#
# Here is the clip and the k-vectorised tile:
pyx = Path(_ext.__file__).parent / "_min_tiles.pxd"


def cdef_function(source: str, name: str) -> str:
    """The text of one ``cdef`` function: from its header to the next top-level line."""
    match = re.search(rf"^cdef[^\n]*\b{name}\(.*?(?=^\S)", source, flags=re.S | re.M)
    return match.group(0).rstrip() if match else f"({name} not found)"


if pyx.exists():
    source = pyx.read_text()
    print(cdef_function(source, "_clip"))
    print()
    print(cdef_function(source, "_min_tile"))
else:
    print(f"{pyx} is not shipped with this installation; see tinymin/_ext/_min_tiles.pxd")

# %%
# Which one runs here depends on the vector width this build was compiled for:
if _ext.HAVE_CYTHON:
    from tinymin._ext import _min_gemm

    lanes = _min_gemm.vector_lanes(np.float32)
    tile = ("the VRANGE tile of _panel_tiles.h" if _min_gemm.HAS_VRANGE and K <= _min_gemm.PANEL_MAX_K
            else "_min_panel_tile" if K <= _min_gemm.PANEL_MAX_K else "_min_tile")
    print(f"{lanes} float32 lanes per vector; filter panels up to K = "
          f"{_min_gemm.PANEL_MAX_K if lanes < 16 else 'any'}; LeNet conv2 (K = {K}) uses {tile}")
    if tiles.min_tile_broadcasts() is not None:
        print(f"the VRANGE tile runs in the form {tiles.min_tile_broadcasts()!r} on this CPU")

# %%
# What makes it fast (``benchmarks/README.md`` and the kernel's docstring hold the
# measurements):
#
# * the inner loop runs over a **contiguous** axis (consecutive :math:`k` of a row
#   and of a filter, or consecutive filters of a panel), so gcc turns
#   ``for l in range(nl)`` into single vector instructions on 8 or 16 floats;
# * nothing in the loop is loop-invariant, so the compiler keeps every value in
#   registers (with 16 AVX2 registers the panel tile makes gcc hoist 8 broadcasts
#   and spill: about 1.4x slower at K = 800, which is why AVX2 builds keep
#   ``_min_tile`` for long rows);
# * :math:`|w|`, :math:`\operatorname{sgn}(w)` are computed **once per call**, not
#   once per row, zero-padded to a multiple of 8 and 64-byte aligned, and each thread
#   copies its block of rows into an aligned buffer (a vector load that splits two
#   cache lines costs two);
# * a **register tile** of 8 rows reuses each loaded weight vector 8 times (the same
#   trick that makes BLAS fast);
# * blocks of 64 rows are spread over the cores with OpenMP ``prange``;
# * the micro-kernel sits in a ``cdef inline ... noexcept nogil`` function: written
#   directly inside the ``prange`` body, gcc did not vectorise it (4-7x slower).
#
# Is it right? The Cython kernel must match the numpy twin.
if _ext.HAVE_CYTHON:
    with _ext.use_backend("cython"):
        fast = _ext.min_gemm(cols, w_hat)
    print("max |Cython - numpy twin| =", np.abs(fast - twin).max())
else:
    fast = None
    print("the Cython kernels are not built (pip install -e .): only numpy timings below")

# %%
# A speed table
# -------------
# The shape of LeNet's second convolution (input 14x14x32, 64 filters of 5x5,
# padding 2): :math:`K = 800`, :math:`C = 64`, :math:`P = 196` rows per image. We time
# a batch of images, take the median of a few repeats, and compare with the exact
# layer's GEMM ``cols @ W.T`` (numpy's BLAS). The naive broadcast is so slow that we
# time it on a subset of rows and scale up.
#
# First on **one thread** for everyone (``_ext.set_num_threads(1)`` limits both the
# OpenMP kernels and BLAS): that compares the instruction streams, core against
# core. Then the Cython kernel and BLAS again with all the threads tinymin uses.
n_images = 16 if QUICK else 64
repeats = 5 if QUICK else 9
P = 196 * n_images
cols = rng.standard_normal((P, K)).astype(np.float32)
w_hat = rng.standard_normal((C, K)).astype(np.float32)
w_t = np.ascontiguousarray(w_hat.T)


def median_time(fn, repeats=repeats):
    fn()  # warm up (first call allocates, loads code)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def cython_min_gemm():
    with _ext.use_backend("cython"):
        return _ext.min_gemm(cols, w_hat)


threads = _ext.num_threads()
subset = P // 16
timings = {}
_ext.set_num_threads(1)
if _ext.HAVE_CYTHON:
    timings["Cython min_gemm, 1 thread"] = median_time(cython_min_gemm)
form = tiles.min_tile_broadcasts()
if form is not None:  # the VRANGE tile's other form, for comparison (same bits)
    other = "operands" if form == "registers" else "registers"
    tiles.set_min_tile_broadcasts(other)
    timings[f"Cython, 1 thread, tile form {other}"] = median_time(cython_min_gemm)
    tiles.set_min_tile_broadcasts(form)
timings["numpy twin, 1 thread"] = median_time(lambda: reference.min_gemm(cols, w_hat), repeats=2)
timings["naive broadcast (scaled), 1 thread"] = median_time(
    lambda: reference.naive_min_gemm(cols[:subset], w_hat), repeats=1) * (P / subset)
timings["BLAS GEMM cols @ W.T, 1 thread"] = median_time(lambda: cols @ w_t)
_ext.set_num_threads(threads)
if threads > 1:
    if _ext.HAVE_CYTHON:
        timings[f"Cython min_gemm, {threads} threads"] = median_time(cython_min_gemm)
    timings[f"BLAS GEMM cols @ W.T, {threads} threads"] = median_time(lambda: cols @ w_t)

blas = timings["BLAS GEMM cols @ W.T, 1 thread"]
print(f"P = {P} rows (batch of {n_images}), K = {K}, C = {C}")
print(f"{'implementation':<38}{'time (ms)':>11}{'vs 1-thread BLAS':>18}{'G pairs/s':>11}")
for name, seconds in timings.items():
    print(f"{name:<38}{1e3 * seconds:>11.2f}{seconds / blas:>17.1f}x"
          f"{P * K * C / seconds / 1e9:>11.2f}")

# %%
# A bar chart of the same (log scale: the bars span two orders of magnitude).
fig, ax = plt.subplots(figsize=(9, 4))
names = list(timings)
colors = ["tab:gray" if "BLAS" in n else "tab:green" if "Cython" in n else "tab:blue"
          for n in names]
ax.barh(names, [1e3 * timings[n] for n in names], color=colors)
ax.set_xscale("log")
ax.xaxis.set_minor_formatter(plt.NullFormatter())
for i, n in enumerate(names):
    ax.text(1e3 * timings[n], i, f" {1e3 * timings[n]:.1f} ms", va="center")
ax.set_xlim(right=4e3 * max(timings.values()))
ax.set_xlabel("milliseconds (median)")
ax.set_title(f"min-selector GEMM vs exact GEMM, LeNet conv2 shape, {n_images} images")
ax.invert_yaxis()
fig.tight_layout()

# %%
# Why the min kernel cannot beat the GEMM on this CPU
# ---------------------------------------------------
# Count vector instructions per 8 (input, weight) pairs, on an AVX2 + FMA core
# like the one these notes were measured on (AMD Zen 3):
#
# * **exact GEMM**: one fused multiply-add, :math:`a \mathrel{+}= x\,w`, on 8 lanes.
#   Two pipes accept an FMA every cycle: 0.5 cycle per 8 pairs, and BLAS runs
#   close to that peak.
# * **min-selector**: three instructions, :math:`t = \max(x, -|w|)`,
#   :math:`t = \min(t, |w|)`, :math:`a \mathrel{+}= \operatorname{sgn}(w)\,t` (an FMA
#   by :math:`\pm 1`, or a sign flip and an add). Even spread perfectly over the
#   core's four floating-point pipes (min and max cannot go to every pipe), that
#   is about 0.75-1 cycle per 8 pairs.
#
# So even a perfect min kernel needs roughly **1.5-2x the time of the BLAS GEMM**
# on this kind of CPU (the project's performance notes say 1.6-2x): an
# instruction-level limit, not a lack of tuning (tinymin's kernel measured about
# 1.3-1.5x on this shape and 1.8x on a 3x3 layer, one thread, against a BLAS using
# the same vector width). If the line below prints less than 1x, the two do not use
# the same vectors: for example an OpenBLAS held to its AVX2 kernels by the
# environment variable ``OPENBLAS_CORETYPE`` on a CPU for which tinymin's kernel was
# compiled with AVX-512 (``threadpoolctl.threadpool_info()`` names BLAS's kernels).
# The paper's argument is
# about *hardware*: a comparator and a 4-to-1 multiplexer (Table 2) are much
# cheaper in silicon and energy than a multiplier. On a CPU, which
# already has fast multipliers, a min costs as much as a multiply, and the clip
# identity needs two of them.
#
# AVX-512DQ changes the count: ``VRANGEPS`` is the whole clip, so a pair costs two
# instructions, the range and an FMA by :math:`\operatorname{sgn}(x)`. On Zen 4 and
# Zen 5 the range runs on other pipes than the FMA (in a loop of nothing else, a
# range and an FMA per pair ran at the rate of FMAs alone), so the gap to the exact
# kernel shrinks to what the extra broadcasts and loads cost: the project measured
# the fused LeNet conv2 kernel at 1.2-1.3x the exact fused kernel's time there.
#
# Measured timings are noisy, especially with several threads on a shared machine:
# a BLAS whose threads wait for a busy core can even lose to the kernel. Trust the
# one-thread ratio, and rerun it a few times.
#
# The training cost is smaller than this ratio suggests: only the forward GEMM of a
# min layer is a min-selector; its backward is two ordinary GEMMs (chapter 7).
if fast is not None:
    print(f"measured here, one thread each: Cython min_gemm takes "
          f"{timings['Cython min_gemm, 1 thread'] / blas:.1f}x the BLAS GEMM time")
plt.show()

# %%
# Across layer shapes
# -------------------
# One shape says little about another. ``python benchmarks/bench_training.py
# --threads 1 --skip-epochs --plot FILE`` times the min-selector and the exact
# convolution (forward, im2col included) against :math:`K = C_\mathrm{in} k_h k_w`
# and against :math:`C_\mathrm{out}`, and a training epoch against the batch size
# beside PyTorch. This is its figure from the project's benchmark machine
# (``benchmarks/README.md`` gives the machine, the date and the tables):
#
# .. image:: /_static/benchmark_scaling.png
#    :alt: convolution time against K and C_out, epoch time against batch size
#
# Both convolutions grow linearly in :math:`K` and :math:`C_\mathrm{out}`, and their
# ratio stays between 1.3x and 1.7x, at or under the 1.5-2x that the instruction
# count above predicts (the exact side pays for im2col too).

# %%
# Exercise
# --------
# **kernel_timing**: write the measurement that must follow every change to a kernel:
# check it against its numpy twin, then time both in interleaved rounds and quote the
# medians (``tinymin._ext.twins.compare_to_twin`` is tinymin's own).
#
# .. code-block:: bash
#
#     python -m tinymin exercise start kernel_timing    # writes my_kernel_timing.py to fill in
#     python -m tinymin exercise check kernel_timing --file my_kernel_timing.py
#     python -m tinymin exercise hint kernel_timing 1   # stuck? 2 and 3 say more
#
# **Try this:** set ``PANEL_MAX_K = 0`` in ``tinymin/_ext/_min_gemm.pyx`` (every K then
# takes the k-vectorised tile), rebuild with ``python setup.py build_ext --inplace``,
# and measure ``compare_to_twin(_ext.min_gemm, reference.min_gemm, (cols, w_hat))``
# before and after, with your function or tinymin's; rerun each a few times, as the
# machine is noisy. Put the line back and rebuild when you are done.
#
# The checker, its hints and ``exercise status``: :doc:`/guides/learning_path`.
