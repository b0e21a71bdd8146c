"""
Chapter 10: Multiplication-free inference, folding the scales
=============================================================

In evaluation mode a min-conv layer computes (Eq. 12-13, :ref:`math-approximate-conv`)

.. math::

    y = \\mu_w \\sum_k m(x_k, \\hat w_k) + b, \\qquad
    \\hat w = w_c\\, \\hat\\mu_x / \\mu_w .

:math:`\\hat w` is a constant once training is over, so it is computed once. One
product is left per output: the factor :math:`\\mu_w`. This chapter removes it too,
with :func:`tinymin.minconv.fold.fold_min_model`, checks that the folded network gives
the same logits, and counts what each network computes per image with
:func:`tinymin.minconv.fold.operation_counts`.
"""

# %%
# Three identities
# ----------------
# For a positive scale :math:`s > 0`:
#
# .. math::
#
#     \operatorname{lrelu}(s z) = s \operatorname{lrelu}(z), \qquad
#     \max_{i \in \text{window}} s z_i = s \max_{i} z_i, \qquad
#     m(s a, b) = s\, m(a, b/s).
#
# The first two: a positive factor changes neither the sign of :math:`z` (which
# branch of the leaky ReLU applies) nor the order of the values (which one is the
# maximum). The third: :math:`\operatorname{sgn}(s a) = \operatorname{sgn}(a)` and
# :math:`\min(s|a|, |b|) = s \min(|a|, |b|/s)`.
#
# So instead of multiplying a layer's output by :math:`\mu_w`, the network may store
# :math:`y/\mu_w` and carry the pending scale :math:`s = \mu_w` forward: through the
# leaky ReLU and the max-pool untouched, into the next min layer by dividing its
# weights (offline) by :math:`s`, and finally into the first exact Linear layer,
# whose weights absorb it: :math:`W (s\,z) = (W s)\, z`. Let us check the identities.
import os

import matplotlib.pyplot as plt
import numpy as np

import tinymin as tm
from tinymin import nn, optim
from tinymin.data import DataLoader, TensorDataset
from tinymin.data.datasets import EmbeddedMNIST
from tinymin.minconv.fold import fold_min_model, format_operation_table, operation_counts
from tinymin.minconv.operators import multiplexer
from tinymin.models import lenet
from tinymin.train import evaluate, fit

QUICK = os.environ.get("TINYMIN_QUICK") == "1"
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
tm.manual_seed(0)
rng = np.random.default_rng(0)

s = 0.37
z = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
lrelu = nn.LeakyReLU(0.01)
pool = nn.MaxPool2d(2)
print("lrelu(s z) - s lrelu(z):", np.abs(lrelu(tm.Tensor(s * z)).data - s * lrelu(tm.Tensor(z)).data).max())
print("pool(s z)  - s pool(z): ", np.abs(pool(tm.Tensor(s * z)).data - s * pool(tm.Tensor(z)).data).max())
a, b = rng.standard_normal(1000), rng.standard_normal(1000)
print("m(s a, b) - s m(a, b/s):", max(abs(multiplexer(s * ai, bi) - s * multiplexer(ai, bi / s))
                                      for ai, bi in zip(a, b)))

# %%
# A min LeNet to fold
# -------------------
# Folding needs an eval-mode network with a meaningful :math:`\hat\mu_x` in every min
# layer. In the full run we train it for two epochs on the 5,000 embedded digits
# (learning rate :math:`3 \cdot 10^{-3}`, the from-scratch recipe's); in quick mode we
# keep the random initial weights and only recalibrate :math:`\hat\mu_x` (a few
# forward passes, no gradient). Folding works the same either way.
x_train, y_train = EmbeddedMNIST(train=True).arrays()
x_test, y_test = EmbeddedMNIST(train=False).arrays()
model = lenet(conv="min")
if QUICK:
    used = nn.recalibrate_running_statistics(model, DataLoader(TensorDataset(x_train[:256]), batch_size=64))
    print(f"random weights, mu_x_hat recalibrated on {used} batches")
else:
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
    fit(model, optim.Adam(model.parameters(), lr=3e-3), loader, 2, progress=False)
model.eval()
for name, layer in nn.min_layers(model):
    print(f"layer {name}: mu_x_hat = {layer.running_abs_mean[0]:.4f}, "
          f"mu_w = {float(layer.weight_scale()):.4f}")

# %%
# Folding
# -------
# ``fold_min_model`` walks the ``Sequential`` once, carrying the pending scale
# :math:`s` (the network below stores activation :math:`/\,s`):
#
# * at a min layer with incoming scale :math:`s`, by the third identity,
#
#   .. math::
#
#       y = \mu_w \sum_k m(s\,x'_k, \hat w_k) + b = \mu_w s \Big(\sum_k m(x'_k, \hat w_k/s)
#       + \frac{b}{\mu_w s}\Big),
#
#   so the folded layer stores :math:`\hat w / s` and :math:`b/(\mu_w s)`, computes
#   the bracket (comparisons, sign flips, additions), and passes on
#   :math:`s \leftarrow \mu_w s`;
# * leaky ReLU, max-pool, flatten and dropout (identity in eval) are applied as they are;
# * the first Linear layer gets :math:`W \operatorname{diag}(s)` and the scale
#   returns to 1.
folded = fold_min_model(model)
print(folded)
for step in folded.steps:
    if type(step).__name__ == "FoldedMinConv":
        print(f"  FoldedMinConv: weight {step.weight.shape}, mean|weight| {np.abs(step.weight).mean():.4f}, "
              f"input clip bound {step.input_bound:.4f}")

# %%
# Same logits?
# ------------
# The folded network is a list of numpy steps; it must reproduce the eval-mode
# model up to float32 rounding (a different order of the same operations).
batch = x_test[:64 if QUICK else 256]
with tm.no_grad():
    reference = model(tm.Tensor(batch)).data
folded_logits = folded(batch)
print(f"max |logits(eval model) - logits(folded)| = {np.abs(reference - folded_logits).max():.2e}"
      f"   (logits up to {np.abs(reference).max():.2f})")
print("same predictions:", bool((reference.argmax(1) == folded_logits.argmax(1)).all()))
if not QUICK:
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=250)
    # 1,000 images at a time: the whole test set at once would hold each layer's
    # activations for 10,000 images (1 GB after the first convolution)
    predictions = np.concatenate([folded(x_test[start:start + 1000]).argmax(1)
                                  for start in range(0, len(x_test), 1000)])
    folded_acc = float((predictions == y_test).mean())
    eval_acc = evaluate(model, test_loader)["accuracy"]
    print(f"test accuracy: eval model {eval_acc:.2%}, folded {folded_acc:.2%}")

# %%
# Counting operations per image
# -----------------------------
# ``operation_counts`` goes layer by layer. Exact convolution: one multiplication
# and one addition per (output, :math:`k`) pair. Min convolution (Table 2): one
# magnitude comparison, one sign selection and one addition per pair, plus, if not
# folded, one :math:`\mu_w` multiplication per output. The Linear layers stay exact
# in both networks, and leaky ReLU is counted as one multiplication per element
# (its slope; an upper bound, only negative inputs need it).
exact = lenet(conv="exact")
shape = (1, 28, 28)
tables = {
    "exact LeNet": operation_counts(exact, shape),
    "min LeNet, not folded": operation_counts(model, shape, folded=False),
    "min LeNet, folded": operation_counts(model, shape, folded=True),
}
for title, rows in tables.items():
    print(f"\n{title}\n{format_operation_table(rows)}")

# %%
# The convolution layers alone: the folded min network has no multiplication left
# in them.
for title, rows in tables.items():
    conv_mults = sum(r["multiplications"] for r in rows if "Conv" in r["layer"])
    print(f"{title:<24} multiplications in the convolutions: {conv_mults:>12,}")

# %%
# A bar chart of the same counts, for the whole network (left) and for the
# convolution layers only (right), in millions per image.
kinds = ["multiplications", "comparisons", "sign_flips", "additions"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
width = 0.27
pos = np.arange(len(kinds))
for ax, (title, keep) in zip(axes, [("whole network", lambda r: True),
                                    ("convolution layers only", lambda r: "Conv" in r["layer"])]):
    for i, (label, rows) in enumerate(tables.items()):
        totals = [sum(r[k] for r in rows if keep(r)) / 1e6 for k in kinds]
        bars = ax.bar(pos + (i - 1) * width, totals, width, label=label)
        for bar, value in zip(bars, totals):
            if value < 0.1:  # make the (near) zeros visible
                ax.text(bar.get_x() + bar.get_width() / 2, 0.2, f"{value * 1e6:,.0f}",
                        ha="center", rotation=90, fontsize=7)
    ax.set_xticks(pos, kinds)
    ax.set_title(f"LeNet, one 28x28 image: {title}")
axes[0].set_ylabel("millions of operations per image")
axes[0].set_ylim(0, 17)
axes[0].legend(loc="upper center", ncol=3, fontsize=8)
fig.tight_layout()

# %%
# The multiplications left in the min network are those of the two Linear layers
# (3136 x 1024 and 1024 x 10) and the leaky-ReLU slopes: the paper replaces the
# convolutions only. A slope of 0.01 could itself be a shift in fixed point, and the
# Linear layers could be min layers too; that is beyond the paper.
#
# Per-channel scales cost a multiplication
# ----------------------------------------
# With ``scale="channel"`` every output channel has its own :math:`\mu_w`. The
# third identity needs *one* :math:`s` for a whole receptive field, which spans all
# input channels, so the scales cannot pass into the next min layer: a
# ``ChannelRescale`` step multiplies each activation once, and ``operation_counts``
# says what it costs.
channel_model = lenet(conv="min", scale="channel")
nn.recalibrate_running_statistics(channel_model, DataLoader(TensorDataset(x_train[:128]), batch_size=64))
channel_folded = fold_min_model(channel_model)
print(channel_folded)
with tm.no_grad():
    diff = np.abs(channel_model(tm.Tensor(batch[:16])).data - channel_folded(batch[:16])).max()
print(f"max |logits difference| = {diff:.2e}")
rows = operation_counts(channel_model, shape)
print("multiplications in the convolutions:",
      f"{sum(r['multiplications'] for r in rows if 'Conv' in r['layer']):,}")
plt.show()

# %%
# Exercise
# --------
# **operation_counts**: count the multiplications, comparisons, sign flips and additions
# of each layer, folded or not, against :func:`tinymin.minconv.fold.operation_counts`.
#
# .. code-block:: bash
#
#     python -m tinymin exercise start operation_counts    # writes my_operation_counts.py to fill in
#     python -m tinymin exercise check operation_counts --file my_operation_counts.py
#     python -m tinymin exercise hint operation_counts 1   # stuck? 2 and 3 say more
#
# **Try this:** count the ``scale="channel"`` model above with tinymin's
# ``operation_counts`` and yours: which multiplications does the exercise leave out, and
# why must they stay?
#
# The checker, its hints and ``exercise status``: :doc:`/guides/learning_path`.
