r"""
Chapter 5: Convolution as im2col + one matrix product
=====================================================

A convolution slides a small filter over an image and, at every position, takes
a dot product of the filter with the patch under it (Eq. 1-2 of the paper):

.. math::

    y_{n,c,i,j} = b_c + \sum_{c'} \sum_{u < k_h} \sum_{v < k_w}
        w_{c,c',u,v}\; x_{n,c',\, s i + u - p,\; s j + v - p} .

Written as loops this is slow in Python. The classic trick, **im2col**, copies
every patch into one row of a matrix ``cols`` (``P`` rows, one per output
position; ``K = C_in k_h k_w`` columns, one per filter weight). The whole layer is
then *one* matrix product, which BLAS computes fast:

.. math::

    Y = \mathrm{cols}\, W^\top + b, \qquad
    \mathrm{cols} \in \mathbb{R}^{P \times K},\; W \in \mathbb{R}^{C_{out} \times K}.

This chapter checks that the two agree, pictures ``cols``, derives the backward
pass (two more products and **col2im**, the adjoint of im2col), compares the
Cython kernels with their numpy twins, and bounds the memory ``cols`` takes. The
same im2col is the skeleton of the min-convolution in chapter 7: only the matrix
product changes. ``TINYMIN_QUICK=1`` uses smaller timing problems.
"""

# %%
# Setup
# -----
import os
import time
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np

import tinymin as tm
from tinymin import _ext
from tinymin.nn import functional as F
from tinymin.ops import conv as conv_module

QUICK = os.environ.get("TINYMIN_QUICK") == "1"
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
rng = np.random.default_rng(0)
np.set_printoptions(precision=4, suppress=True)

N, C_IN, H, W_ = 2, 3, 7, 7
C_OUT, K, STRIDE, PAD = 4, 3, 2, 1
x = rng.standard_normal((N, C_IN, H, W_))            # float64: exact comparisons
w = rng.standard_normal((C_OUT, C_IN, K, K))
b = rng.standard_normal(C_OUT)
OH, OW = _ext.conv_output_shape(H, W_, K, STRIDE, PAD)
print(f"input {x.shape}, weight {w.shape}, stride {STRIDE}, padding {PAD} -> output "
      f"({N}, {C_OUT}, {OH}, {OW});  OH = (H + 2p - k) // s + 1 = "
      f"{(H + 2 * PAD - K) // STRIDE + 1}")

# %%
# 1. The direct sliding window
# ----------------------------
# Pad with zeros, then for every image, output channel and output position take
# the dot product of the filter with the patch under it. Clear, and slow.


def conv_direct(x, w, b, stride, pad):
    n, _, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.empty((n, c_out, oh, ow))
    for i_n in range(n):
        for c in range(c_out):
            for i in range(oh):
                for j in range(ow):
                    patch = xp[i_n, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    y[i_n, c, i, j] = np.sum(patch * w[c]) + b[c]
    return y


y_direct = conv_direct(x, w, b, STRIDE, PAD)

# %%
# 2. im2col + one GEMM
# --------------------
# :func:`tinymin._ext.im2col` lays the patches out as
#
# .. math::
#
#     \mathrm{cols}[(n\,OH + i)\,OW + j,\; (c\,k_h + u)\,k_w + v]
#         = x_{\mathrm{pad}}[n, c,\; s i + u,\; s j + v],
#
# so row ``p`` is the patch of output position :math:`p = (n, i, j)`, flattened in
# the same order as a filter ``w[c_out].ravel()``. The product gives a
# ``(P, C_out)`` matrix; reshaping to ``(N, OH, OW, C_out)`` and moving the channel
# axis gives NCHW.
cols = _ext.im2col(x, K, STRIDE, PAD)
print("cols:", cols.shape, f"= (N*OH*OW, C_in*k*k) = ({N * OH * OW}, {C_IN * K * K})")
y_rows = cols @ w.reshape(C_OUT, -1).T + b              # (P, C_out)
y_im2col = y_rows.reshape(N, OH, OW, C_OUT).transpose(0, 3, 1, 2)

# %%
# 3. ``F.conv2d``
# ---------------
# :func:`tinymin.nn.functional.conv2d` is exactly step 2 inside an autograd
# ``Function``. All three agree to rounding error:
y_F = F.conv2d(tm.tensor(x), tm.tensor(w), tm.tensor(b), stride=STRIDE, padding=PAD).numpy()
print(f"max |direct - im2col|   = {np.abs(y_direct - y_im2col).max():.2e}")
print(f"max |direct - F.conv2d| = {np.abs(y_direct - y_F).max():.2e}")
assert np.allclose(y_direct, y_im2col) and np.allclose(y_direct, y_F)

# %%
# What ``cols`` looks like
# ------------------------
# One 6x6 single-channel image whose pixel values are their own indices 0..35,
# a 3x3 kernel, no padding, stride 1: 16 output positions, so ``cols`` is 16 x 9.
# Row ``p`` lists the 9 pixels under the kernel at output position ``p``. Each
# pixel appears in up to :math:`k^2 = 9` rows (the diagonal stripes): im2col
# trades memory (here 144 numbers for 36 pixels) for one big fast product.
img = np.arange(36, dtype=np.float64).reshape(1, 1, 6, 6)
small_cols = _ext.im2col(img, 3)
fig, (ax_img, ax_cols) = plt.subplots(1, 2, figsize=(9, 5), layout="constrained",
                                      gridspec_kw={"width_ratios": [6, 9]})
ax_img.imshow(img[0, 0], cmap="viridis")
for (r, c), v in np.ndenumerate(img[0, 0]):
    ax_img.text(c, r, int(v), ha="center", va="center", color="w", fontsize=9)
ax_img.add_patch(plt.Rectangle((0.5, 0.5), 3, 3, fill=False, ec="red", lw=2))
ax_img.set_title("6x6 image (pixel = its index);\nred: the patch of output (1, 1)")
ax_cols.imshow(small_cols, cmap="viridis", aspect="auto")
for (r, c), v in np.ndenumerate(small_cols):
    ax_cols.text(c, r, int(v), ha="center", va="center", color="w", fontsize=8)
ax_cols.add_patch(plt.Rectangle((-0.5, 4.5), 9, 1, fill=False, ec="red", lw=2))
ax_cols.set_xlabel("column k = (c, u, v): position in the 3x3 patch")
ax_cols.set_ylabel("row p = (i, j): output position")
ax_cols.set_title("im2col: the 16 x 9 column matrix")
plt.show()

# %%
# The backward pass: two GEMMs and col2im
# ---------------------------------------
# Let :math:`G = \partial L/\partial Y` laid out like :math:`Y`'s rows
# (``P x C_out``). From :math:`Y = \mathrm{cols}\, W^\top + b`:
#
# .. math::
#
#     \frac{\partial L}{\partial W} = G^\top \mathrm{cols}, \qquad
#     \frac{\partial L}{\partial b} = \sum_p G_p, \qquad
#     \frac{\partial L}{\partial\, \mathrm{cols}} = G\, W .
#
# The last one is a gradient with respect to the *copies*; every pixel was copied
# into several rows, so its gradient is the **sum** over its copies. That folding
# is ``col2im``:
# :math:`\partial L/\partial x = \mathrm{col2im}(G W)`.
# We check all three against autograd on ``F.conv2d``.
xt = tm.tensor(x, requires_grad=True)
wt = tm.tensor(w, requires_grad=True)
bt = tm.tensor(b, requires_grad=True)
g = rng.standard_normal((N, C_OUT, OH, OW))                # some dL/dY
F.conv2d(xt, wt, bt, stride=STRIDE, padding=PAD).backward(g)

G = g.transpose(0, 2, 3, 1).reshape(-1, C_OUT)             # (P, C_out), rows like cols
dW = (G.T @ cols).reshape(w.shape)
db = G.sum(axis=0)
dx = _ext.col2im(G @ w.reshape(C_OUT, -1), x.shape, K, STRIDE, PAD)
for name, ours, auto in (("dW", dW, wt.grad.numpy()), ("db", db, bt.grad.numpy()),
                         ("dx", dx, xt.grad.numpy())):
    print(f"{name}: max |by hand - autograd| = {np.abs(ours - auto).max():.2e}")
    assert np.allclose(ours, auto)

# %%
# col2im is the adjoint of im2col
# -------------------------------
# im2col is a linear map :math:`A: x \mapsto \mathrm{cols}`. The gradient of a
# linear map is its transpose, :math:`A^\top`, which is what col2im computes.
# The defining property of the transpose, for every :math:`x` and every
# :math:`c`:
#
# .. math::
#
#     \langle A x,\; c \rangle = \langle x,\; A^\top c \rangle .
c = rng.standard_normal(cols.shape)
lhs = np.sum(_ext.im2col(x, K, STRIDE, PAD) * c)
rhs = np.sum(x * _ext.col2im(c, x.shape, K, STRIDE, PAD))
print(f"<im2col(x), c> = {lhs:.10f}\n<x, col2im(c)> = {rhs:.10f}")
assert np.isclose(lhs, rhs, rtol=1e-12)

# %%
# And the usual finite-difference check of the whole layer (chapter 1):
small = [tm.tensor(rng.standard_normal(s), requires_grad=True)
         for s in ((1, 2, 5, 5), (3, 2, 3, 3), (3,))]
print("gradcheck(conv2d):",
      tm.gradcheck(lambda a, k, bb: F.conv2d(a, k, bb, stride=2, padding=1), small))

# %%
# Two backends: Cython kernels and numpy twins
# --------------------------------------------
# Every kernel in :mod:`tinymin._ext` (im2col, col2im and the selector GEMMs of
# later chapters) exists twice: compiled Cython (OpenMP-parallel) and a readable
# numpy twin in ``tinymin/_ext/reference.py`` that a debugger can step into. Pick
# one with the environment variable ``TINYMIN_BACKEND=numpy|cython`` before
# starting Python, or at run time with ``_ext.set_backend(...)`` or, for one block,
# ``with _ext.use_backend("numpy"):``. Both give the same numbers.
#
# We time a LeNet-sized convolution (batch x 8 x 28 x 28, 16 filters of 5x5) and
# the min-selector GEMM that replaces its matrix product in chapter 7. Timings
# depend on the machine and its load: they are printed, not asserted.
print("Cython kernels built:", _ext.HAVE_CYTHON, "| backend now:", _ext.backend())
batch, repeats = (8, 3) if QUICK else (32, 7)
xb = rng.standard_normal((batch, 8, 28, 28)).astype(np.float32)
wb = rng.standard_normal((16, 8, 5, 5)).astype(np.float32)


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


timings, outputs = {}, {}
backends = ["cython", "numpy"] if _ext.HAVE_CYTHON else ["numpy"]
big_cols = _ext.im2col(xb, 5, 1, 2)
w_rows = wb.reshape(16, -1)
for name in backends:
    with _ext.use_backend(name):
        outputs[name] = F.conv2d(tm.tensor(xb), tm.tensor(wb), padding=2).numpy()
        timings[name] = {
            "im2col": median_time(lambda: _ext.im2col(xb, 5, 1, 2), repeats),
            "conv2d forward": median_time(
                lambda: F.conv2d(tm.tensor(xb), tm.tensor(wb), padding=2), repeats),
            "min_gemm": median_time(lambda: _ext.min_gemm(big_cols, w_rows), repeats),
        }
print(f"x {xb.shape}, w {wb.shape}, cols {big_cols.shape}; median of {repeats} runs:")
for op in timings[backends[0]]:
    row = "  ".join(f"{name} {1e3 * timings[name][op]:7.2f} ms" for name in backends)
    print(f"  {op:15s} {row}")
if len(backends) == 2:
    print("same result from both backends:",
          np.allclose(outputs["cython"], outputs["numpy"], rtol=1e-5, atol=1e-4))

# %%
# The exact convolution spends much of its time in the BLAS matrix product, which
# is the same for both backends, so only its im2col part differs. The min-selector
# GEMM has no BLAS to lean on: that is where the compiled kernel earns its keep.
fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
ops = list(timings[backends[0]])
pos = np.arange(len(ops))
for k, name in enumerate(backends):
    ax.barh(pos + 0.4 * k, [1e3 * timings[name][op] for op in ops], height=0.4, label=name)
ax.set_yticks(pos + 0.2 * (len(backends) - 1), ops)
ax.invert_yaxis()
ax.set_xlabel("milliseconds (median)")
ax.legend(title="backend")
ax.set_title(f"Kernels on a {batch} x 8 x 28 x 28 batch, 16 filters 5x5")
plt.show()

# %%
# Bounding memory: chunked im2col
# -------------------------------
# ``cols`` is :math:`k_h k_w` times bigger than the input (25 times for 5x5
# filters). For a large batch tinymin therefore never builds more than a set
# number of bytes of ``cols`` at once (256 MiB by default): above that it walks the
# batch in chunks of images, and the backward pass rebuilds each chunk's columns
# instead of keeping them. :func:`~tinymin.ops.conv.set_im2col_limit`
# changes the bound and returns the old one. The result is the same; peak memory
# (measured with :mod:`tracemalloc`, which sees numpy's allocations) drops. The
# bound is about the whole ``cols`` this chapter builds, so the cell runs on the
# numpy backend: with the AVX-512 kernels the exact layer never builds it (the
# fused kernel unfolds a few rows at a time while it multiplies, and the weight
# gradient reads ``x`` itself), and there is nothing left to bound.
bytes_per_image = 28 * 28 * (8 * 5 * 5) * 4
print(f"cols of one image: {bytes_per_image / 2**10:.0f} KiB, of the batch: "
      f"{batch * bytes_per_image / 2**20:.1f} MiB")
peaks, results = {}, {}
for limit in (conv_module.get_im2col_limit(), 2 * bytes_per_image):
    previous = conv_module.set_im2col_limit(limit)
    try:
        with _ext.use_backend("numpy"):
            tracemalloc.start()
            results[limit] = F.conv2d(tm.tensor(xb), tm.tensor(wb), padding=2).numpy()
            peaks[limit] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    finally:
        conv_module.set_im2col_limit(previous)
for limit, peak in peaks.items():
    chunk = max(1, limit // bytes_per_image)
    print(f"limit {limit / 2**20:8.2f} MiB: chunks of {min(chunk, batch):3d} images, "
          f"peak {peak / 2**20:6.2f} MiB")
first, second = results.values()
# BLAS may sum in a different order for a different matrix size: equal up to float32
# rounding, not bit for bit.
print(f"max |difference| between the two outputs: {np.abs(first - second).max():.1e} "
      f"(outputs of size up to {np.abs(first).max():.0f})")
assert np.allclose(first, second, rtol=1e-5, atol=1e-4)

# %%
# What to remember
# ----------------
# * Convolution = im2col + GEMM; backward = two GEMMs + col2im.
# * col2im is the transpose (adjoint) of im2col: the gradient of a copy is a sum.
# * ``TINYMIN_BACKEND`` / ``_ext.use_backend`` switch between compiled kernels and
#   readable numpy twins with the same results.
# * ``set_im2col_limit`` trades a little speed for bounded memory.

# %%
# Exercise
# --------
# **im2col**: write ``im2col`` in numpy, with stride and padding; the checker also
# multiplies your columns by flattened filters and compares the result with
# ``F.conv2d``.
#
# .. code-block:: bash
#
#     python -m tinymin exercise start im2col    # writes my_im2col.py to fill in
#     python -m tinymin exercise check im2col --file my_im2col.py
#     python -m tinymin exercise hint im2col 1   # stuck? 2 and 3 say more
#
# **Try this:** time your ``im2col`` against ``tinymin._ext.im2col`` on a ``(64, 1, 28,
# 28)`` batch (the ``kernel_timing`` exercise of chapter 9 writes the function that does
# it).
#
# The checker, its hints and ``exercise status``: :doc:`/guides/learning_path`.
