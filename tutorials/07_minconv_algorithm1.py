"""
Chapter 7: MinConv2d and Algorithm 1, step by step
==================================================

A min-conv layer keeps the *shape* of a convolution (im2col, one GEMM-like
reduction per output) but replaces every product :math:`x\\,w` by the signed
minimum

.. math::

    m(a, b) = \\operatorname{sgn}(a)\\,\\operatorname{sgn}(b)\\,\\min(|a|, |b|).

Algorithm 1 of the paper (:ref:`math-algorithm1`) says how to do that in a
network that still trains with ordinary gradients:

* **forward** (steps 1-5): measure the scales :math:`\\mu_x`, :math:`\\mu_w`, clip,
  rescale the weights, then the approximate convolution;
* **backward** (steps 6-7): the *exact* gradient of ``conv2d(x_c, w_c)``, then the
  clip masks.

In tinymin every step is a small named function in
``tinymin/minconv/functional.py``. In this chapter we call them one by one by
hand, check that together they equal :func:`tinymin.nn.functional.min_conv2d`,
record a whole forward + backward with ``tm.trace()``, verify the backward, and
measure how good the approximation is.
"""

# %%
# Setup
# -----
# A batch of real MNIST digits from the embedded subset (no download) and a small
# min-conv layer: 1 input channel, 6 filters of 3x3, padding 1.
import os

import matplotlib.pyplot as plt
import numpy as np

import tinymin as tm
from tinymin import _ext, nn
from tinymin.data.datasets import EmbeddedMNIST
from tinymin.minconv import MinConvSpec, MinConvState
from tinymin.minconv import functional as A  # the named steps of Algorithm 1
from tinymin.minconv.layer import clipped_operands
from tinymin.minconv.operators import multiplexer
from tinymin.nn import functional as F
from tinymin.ops.conv import conv_geometry

QUICK = os.environ.get("TINYMIN_QUICK") == "1"
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
tm.manual_seed(0)
np.set_printoptions(precision=4, suppress=True)

images, labels = EmbeddedMNIST(train=True).arrays()
x = images[:8]                     # (8, 1, 28, 28), pixels in [0, 1]
layer = nn.MinConv2d(1, 6, kernel_size=3, padding=1)
w = layer.weight.data              # (6, 1, 3, 3)
b = layer.bias.data                # (6,)
T = layer.clip_value               # the clip bound, in units of the mean magnitude
print("input", x.shape, " weight", w.shape, " clip bound T =", T)

# %%
# Step 1: the input scale
# -----------------------
# In training, :math:`\mu_x = \operatorname{mean}|x|` of *this batch*, and the
# moving average (a buffer, like batch norm's running mean) moves towards it:
#
# .. math::
#
#     \hat\mu_x \leftarrow (1 - m)\,\hat\mu_x + m\,\mu_x, \qquad m = 0.1
#
# (PyTorch's momentum convention; the paper's :math:`\alpha` is :math:`1-m`). In
# evaluation :math:`\hat\mu_x` is used instead. Step 1 is not differentiated, so
# ``min_conv2d`` runs it before the autograd Function. We update *copies* of the
# layer's buffers so the layer itself is not changed.
running = layer.running_abs_mean.copy()      # starts at 1.0
counted = layer.num_batches_tracked.copy()
mu_x = A.step1_input_scale(x, running, training=True)
A.update_running_mean(running, counted, mu_x, momentum=0.1)
print(f"mu_x = mean|x| = {mu_x:.4f}   (numpy: {np.abs(x).mean():.4f})")
print(f"mu_x_hat: 1.0 -> {running[0]:.4f}   (= 0.9 * 1 + 0.1 * {mu_x:.4f})")

# %%
# Step 2: the weight scale
# ------------------------
# :math:`\mu_w = \operatorname{mean}|w|` over the whole layer (``scale="layer"``,
# the paper) or per output channel (``scale="channel"``).
mu_w = A.step2_weight_scale(w, "layer")
print(f"mu_w = mean|w| = {float(mu_w):.4f}")
print("per channel:", A.step2_weight_scale(w, "channel").ravel())

# %%
# Step 3: clip (Eq. 14)
# ---------------------
# Both operands are clipped in *normalised* units, with the bound :math:`T`:
#
# .. math::
#
#     x_c = \mu_x \operatorname{clip}(x/\mu_x, -T, T), \qquad
#     w_c = \mu_w \operatorname{clip}(w/\mu_w, -T, T)
#
# ``step3_clip`` also returns the mask :math:`|a/\mu| \le T` that step 7 needs.
x_c, x_inside = A.step3_clip(x, mu_x, T)
w_c, w_inside = A.step3_clip(w, mu_w, T)
print(f"input bound T*mu_x = {T * mu_x:.4f}: {1 - x_inside.mean():.1%} of the pixels are clipped")
print(f"weight bound T*mu_w = {T * float(mu_w):.4f}: {1 - w_inside.mean():.1%} of the weights are clipped")

# %%
# MNIST pixels are mostly 0, with strokes near 1: their mean :math:`|x|` is about
# 0.13, so a bound of :math:`T\mu_x \approx 0.4` clips most of the stroke pixels.
# Keep that in mind: we will see below that this clip changes nothing in the
# forward pass, only in the backward one.
#
# Step 4: rescale the weights (Eq. 12)
# ------------------------------------
# .. math::
#
#     \hat w = w_c\, \mu_x / \mu_w
#
# so that :math:`E|\hat w| \approx E|x|`: the *similarity constraint* under which the
# minimum tracks the product best (Table 1).
w_hat = A.step4_rescale(w_c, mu_x, mu_w)
print(f"E|w_hat| = {np.abs(w_hat).mean():.4f}  vs  mu_x = {mu_x:.4f}")

# %%
# Step 5: the approximate convolution (Eq. 13)
# --------------------------------------------
# .. math::
#
#     y_{p,c} = \mu_w \sum_k m(x_{c;\,p,k},\ \hat w_{c,k}) + b_c
#
# through im2col and the min-selector GEMM. This is the only line of Algorithm 1
# where the approximation lives.
geom = conv_geometry("min_conv2d", x.shape, w.shape, layer.stride, layer.padding)
y_steps = A.step5_approximate_conv(x_c, w_hat, mu_w, geom) + b.reshape(1, -1, 1, 1)
print("y", y_steps.shape)

# %%
# The same thing in one call: :func:`tinymin.nn.functional.min_conv2d` (again on
# fresh copies of the buffers). The two must agree to the last bit.
spec = MinConvSpec(stride=1, padding=1, clip_value=T, momentum=0.1)
state = MinConvState(layer.running_abs_mean.copy(), layer.num_batches_tracked.copy())
y_fn = F.min_conv2d(tm.Tensor(x), layer.weight, layer.bias, spec, state, training=True).data
print("max |steps - F.min_conv2d| =", np.abs(y_steps - y_fn).max())

# %%
# One output by hand, with the multiplexer of Table 2
# ---------------------------------------------------
# ``multiplexer(a, b)`` is the signed minimum written as the paper's 4-to-1
# multiplexer: one magnitude comparison and one sign test select
# :math:`a, -a, b` or :math:`-b`. No multiplication. We recompute the output of
# image 0, filter 2, pixel (14, 14) as a plain Python sum over the receptive field
# (row :math:`p = (n\,OH + i)\,OW + j` of the im2col matrix).
cols = _ext.im2col(np.ascontiguousarray(x_c), (3, 3), 1, 1)     # (8*28*28, 9)
n, c, i, j = 0, 2, 14, 14
p = (n * geom.out_h + i) * geom.out_w + j
w_rows = w_hat.reshape(6, -1)
by_hand = float(mu_w) * sum(multiplexer(float(a), float(bb)) for a, bb in zip(cols[p], w_rows[c]))
by_hand += float(b[c])
print(f"by hand: {by_hand:.6f}   layer: {y_steps[n, c, i, j]:.6f}")
print("Table 2 on four sign cases:",
      [multiplexer(a, bb) for a, bb in [(0.3, 0.5), (0.3, -0.5), (-0.7, 0.5), (0.7, -0.5)]])

# %%
# The whole thing, traced: forward and backward of a MinConv2d
# ------------------------------------------------------------
# ``with tm.trace() as steps:`` records every named step (shapes and summary
# statistics) of every min layer inside the block, including the two backward
# steps. We take the loss :math:`L = \sum y \odot g` for a fixed random
# :math:`g`, so that :math:`\partial L/\partial y = g`.
rng = np.random.default_rng(0)
g = rng.standard_normal(y_fn.shape).astype(np.float32)
xt = tm.Tensor(x, requires_grad=True)
layer.train()
with tm.trace() as steps:
    y = layer(xt)
    loss = (y * tm.Tensor(g)).sum()
    loss.backward()
print(steps)

# %%
# Checking the backward (steps 6-7)
# ---------------------------------
# The backward pass is *exact*: it is the gradient of the ordinary convolution at
# the clipped operands, masked by the clip (Eq. 15):
#
# .. math::
#
#     \frac{\partial L}{\partial x} = \frac{\partial L}{\partial x_c}\,[\,|x/\mu_x| \le T\,],
#     \qquad
#     \frac{\partial L}{\partial w} = \frac{\partial L}{\partial w_c}\,[\,|w/\mu_w| \le T\,]
#
# with :math:`\mu_x, \mu_w` treated as constants. We rebuild it with the exact
# ``F.conv2d`` on leaf tensors holding :math:`x_c` and :math:`w_c`.
xc_t = tm.Tensor(x_c, requires_grad=True)
wc_t = tm.Tensor(w_c, requires_grad=True)
(F.conv2d(xc_t, wc_t, layer.bias, 1, 1) * tm.Tensor(g)).sum().backward()
print("max |dL/dx - dL/dx_c * mask| =", np.abs(xt.grad - xc_t.grad * x_inside).max())
print("max |dL/dw - dL/dw_c * mask| =", np.abs(layer.weight.grad - wc_t.grad * w_inside).max())
print(f"input gradient zeroed by the clip: {1 - x_inside.mean():.1%} of the pixels")

# %%
# Algorithm 1 in the graph
# ------------------------
# The graph of that traced forward and backward pass shows the split.
# :func:`tinymin.viz.show_graph` draws the min-conv node as its two halves: the
# solid path runs through "forward: approximate, Eq. 13" (steps 1-5) to the output,
# and the gradient comes back, dashed, through "backward: exact conv2d gradients x
# clip masks" (steps 6-7) to the input and the parameters, whose boxes show the
# norms of the gradients just computed. The rest of the graph (``y * g``, the sum)
# is ordinary autograd. (A rendered picture where Graphviz is installed, the DOT
# text otherwise.)
from tinymin import viz

viz.show_graph(loss, params=layer, title="one MinConv2d layer, after backward")

# %%
# Consequence: the input clip does nothing in the forward pass
# ------------------------------------------------------------
# (:ref:`math-algorithm1`.) Every :math:`|\hat w| \le T\mu_w \cdot \mu_x/\mu_w = T\mu_x`,
# and the clip keeps the sign. An input beyond :math:`T\mu_x` is therefore never
# the selected minimum: :math:`m(x, \hat w) = m(x_c, \hat w)`. The clip of
# :math:`x` only shapes the *backward*: the mask, and :math:`x_c` in the weight
# gradient.
print(f"max |w_hat| = {np.abs(w_hat).max():.4f} <= T*mu_x = {T * mu_x:.4f}")
y_unclipped = A.step5_approximate_conv(x, w_hat, mu_w, geom)
y_clipped = A.step5_approximate_conv(x_c, w_hat, mu_w, geom)
print("min-conv: max |y(x) - y(x_c)| =", np.abs(y_unclipped - y_clipped).max())
exact_x = F.conv2d(tm.Tensor(x), tm.Tensor(w_c), None, 1, 1).data
exact_xc = F.conv2d(tm.Tensor(x_c), tm.Tensor(w_c), None, 1, 1).data
print("exact conv: max |conv(x) - conv(x_c)| =", np.abs(exact_x - exact_xc).max(),
      " (the clip does change the exact convolution)")

# %%
# How good is the approximation?
# ------------------------------
# We compare the min-conv output with the exact convolution of the same clipped
# operands, :math:`\operatorname{conv2d}(x_c, w_c) + b`: the function whose
# gradient the backward pass uses. Two cases: our MNIST layer (non-negative,
# sparse inputs, :math:`K = 9`) and a conv2-like layer of LeNet on Gaussian inputs
# (32 channels, 5x5 filters, :math:`K = 800`).
#
# .. math::
#
#     \rho = \operatorname{corr}(y_{\min}, y_{\text{exact}}), \qquad
#     e = \lVert y_{\min} - y_{\text{exact}}\rVert / \lVert y_{\text{exact}}\rVert


def approx_vs_exact(conv_layer, inputs):
    """Training-mode min-conv output and the exact conv of the clipped operands."""
    ops = clipped_operands(conv_layer, inputs)  # steps 1-4, the layer's buffers untouched
    with tm.no_grad():
        spec = MinConvSpec(stride=conv_layer.stride, padding=conv_layer.padding,
                             clip_value=conv_layer.clip_value)
        approx = F.min_conv2d(tm.Tensor(inputs), conv_layer.weight, conv_layer.bias, spec,
                              training=True).data
        exact = F.conv2d(tm.Tensor(ops.x_c), tm.Tensor(ops.w_c), conv_layer.bias,
                         conv_layer.stride, conv_layer.padding).data
    rho = np.corrcoef(approx.ravel(), exact.ravel())[0, 1]
    err = np.linalg.norm(approx - exact) / np.linalg.norm(exact)
    return approx, exact, rho, err


conv2_like = nn.MinConv2d(32, 64, 5, padding=2)
gauss = rng.standard_normal((2 if QUICK else 8, 32, 14, 14)).astype(np.float32)
cases = [("conv1 on MNIST (K = 9)", layer, x), ("conv2-like on N(0,1) (K = 800)", conv2_like, gauss)]
results = []
for name, lyr, inp in cases:
    approx, exact, rho, err = approx_vs_exact(lyr, inp)
    results.append((name, approx, exact))
    print(f"{name:<32} corr = {rho:.4f}   relative error = {err:.3f}")

# %%
# The scatter plot shows the approximation tracks the exact output (a strong
# correlation) but along a line of slope below 1 (large outputs are compressed,
# since a minimum never exceeds its smaller operand) and with some spread: the
# relative error is large even where the correlation is high. Training adapts
# the next layers to that; chapter 12 fits the scale away after conversion.
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
for ax, (name, approx, exact) in zip(axes, results):
    sel = rng.choice(exact.size, size=min(exact.size, 4000), replace=False)
    ax.scatter(exact.ravel()[sel], approx.ravel()[sel], s=3, alpha=0.4)
    lim = [min(exact.min(), approx.min()), max(exact.max(), approx.max())]
    ax.plot(lim, lim, "k--", lw=1, label="y = x")
    ax.set_xlabel("exact conv2d(x_c, w_c) + b")
    ax.set_ylabel("min-conv output")
    ax.set_title(name)
    ax.legend()
fig.tight_layout()

# %%
# The moving average :math:`\hat\mu_x` over training batches
# ----------------------------------------------------------
# :math:`\hat\mu_x` starts at 1 and moves towards the true mean :math:`|x|` with
# momentum 0.1, so after :math:`t` batches its distance to the target shrinks as
# :math:`0.9^t`. With ``momentum=None`` the buffer is the plain (cumulative) average
# of the batches seen, which is what
# :func:`tinymin.nn.recalibrate_running_statistics` uses after a weight copy. Only
# forward passes are needed (no gradient).
n_batches = 15 if QUICK else 40
ema_layer = nn.MinConv2d(1, 6, 3, padding=1)                    # momentum 0.1
cum_layer = nn.MinConv2d(1, 6, 3, padding=1, momentum=None)     # cumulative average
batch_means, ema_trace, cum_trace = [], [], []
with tm.no_grad():
    for t in range(n_batches):
        xb = images[32 * t: 32 * (t + 1)]
        ema_layer(tm.Tensor(xb))
        cum_layer(tm.Tensor(xb))
        batch_means.append(float(np.abs(xb).mean()))
        ema_trace.append(float(ema_layer.running_abs_mean[0]))
        cum_trace.append(float(cum_layer.running_abs_mean[0]))
print(f"after {n_batches} batches: mu_x_hat (momentum 0.1) = {ema_trace[-1]:.4f}, "
      f"cumulative = {cum_trace[-1]:.4f}, mean of batch means = {np.mean(batch_means):.4f}")

fig, ax = plt.subplots(figsize=(7, 4))
steps_axis = np.arange(1, n_batches + 1)
ax.plot(steps_axis, batch_means, "o", ms=3, label="batch mean |x|  (mu_x)")
ax.plot(steps_axis, ema_trace, label="mu_x_hat, momentum 0.1")
ax.plot(steps_axis, cum_trace, label="mu_x_hat, momentum None (cumulative)")
ax.set_xlabel("training batch")
ax.set_ylabel("input scale")
ax.set_title("The moving average of mean |x| in a MinConv2d")
ax.legend()
fig.tight_layout()

# %%
# Summary
# -------
# * Steps 1-5 are five small functions; together they are ``F.min_conv2d``.
# * The approximation lives in one place (step 5); the backward is the exact
#   convolution gradient at :math:`(x_c, w_c)` times the clip masks.
# * The input clip is invisible in the forward pass but zeroes gradient for every
#   input beyond :math:`T\mu_x`: choose :math:`T` with care for sparse inputs.
# * Before using a layer in ``eval()`` its :math:`\hat\mu_x` must have seen data:
#   a few batches with momentum 0.1 are not enough, which is why
#   ``recalibrate_running_statistics`` uses a cumulative average.
plt.show()

# %%
# Exercise: ``clip_and_rescale``
# ------------------------------
# Write steps 3, 4 and 7: the clip with its mask, the rescaling of the weights and
# the straight-through gradient. The checker compares them with what ``tm.trace()``
# records inside ``F.min_conv2d`` and checks that your mask is the derivative of
# your clip. (Step 5 is the ``min_gemm`` exercise of chapter 6.)
# ``python -m tinymin exercise path clip_and_rescale`` prints where its template is (the
# signature, the equation, a body to write); copy it, fill it in, and
# ``python -m tinymin exercise check clip_and_rescale --file my_clip_and_rescale.py`` runs it against
# tinymin's own and names the first case that fails (see :doc:`/guides/learning_path`).
