"""
Chapter 11: Other approximate operators on the same network
===========================================================

Why the *minimum*? Section 2 of the paper compares candidates for replacing the
product :math:`|x||w|` by how strongly they correlate with it (Table 1): the
min-selector, the addition :math:`|x| + |w|` and the max-selector. tinymin's
:class:`~tinymin.nn.MinConv2d` takes an ``operator`` argument, so the same
Algorithm 1 (same scales, clip, exact backward) runs with three stand-ins for
multiplication:

.. math::

    \\text{min: } \\operatorname{sgn}(a)\\operatorname{sgn}(b)\\min(|a|, |b|), \\qquad
    \\text{max: } \\operatorname{sgn}(a)\\operatorname{sgn}(b)\\max(|a|, |b|), \\qquad
    \\text{adder: } -|a - b|

(the last one is AdderNet's: the output is minus the :math:`L_1` distance between a
patch and a filter). We measure them on random numbers, on a whole layer, and
inside a LeNet trained on the embedded MNIST subset.
"""

# %%
# Table 1 on random numbers
# -------------------------
# Magnitude and sign are treated separately (the sign is an XNOR of sign bits), so
# the paper correlates each operator of :math:`|x|, |w|` with :math:`|x||w|`, using
# Pearson's
#
# .. math::
#
#     \rho(a, b) = \frac{\operatorname{cov}(a, b)}{\sigma_a \sigma_b}.
#
# :func:`tinymin.analysis.operator_correlations` returns one row of Table 1: the
# correlations of min-selector, addition and max-selector with the product.
import os

import matplotlib.pyplot as plt
import numpy as np

import tinymin as tm
from tinymin import _ext, optim
from tinymin.analysis import TABLE1_COLUMNS, operator_correlations
from tinymin.data import DataLoader, TensorDataset
from tinymin.data.datasets import EmbeddedMNIST
from tinymin.models import lenet
from tinymin.train import fit

QUICK = os.environ.get("TINYMIN_QUICK") == "1"
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
rng = np.random.default_rng(0)
n = 200_000 if QUICK else 2_000_000

distributions = {
    "N(0,1) x N(0,1)": (rng.normal(0, 1, n), rng.normal(0, 1, n)),
    "N(0,1) x N(0,10^2)": (rng.normal(0, 1, n), rng.normal(0, 10, n)),
    "U(-1,1) x U(-1,1)": (rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)),
    "U(-1,1) x U(-10,10)": (rng.uniform(-1, 1, n), rng.uniform(-10, 10, n)),
}
print(f"{'x ~ / w ~':<22}" + "".join(f"{c:>14}" for c in TABLE1_COLUMNS))
for name, (xs, ws) in distributions.items():
    print(f"{name:<22}" + "".join(f"{r:>14.3f}" for r in operator_correlations(xs, ws)))

# %%
# The min-selector wins, and by most when :math:`E|x| = E|w|` (the similarity
# constraint); when the scales differ by 10x, all three drop. That is why Algorithm 1
# rescales the weights so that :math:`E|\hat w| = E|x|` (Eq. 12).
#
# The three operators of MinConv2d, signed
# ----------------------------------------
# The layer uses *signed* operators. We correlate each with the signed product
# :math:`x w`, per element and summed over a receptive field of :math:`K = 800`
# terms (what a conv2-like layer outputs), with both operands scaled to
# :math:`E|x| = E|w|`. The GEMM-shaped kernels :func:`tinymin._ext.min_gemm`,
# ``max_gemm`` and ``adder_gemm`` compute the sums.
x = rng.standard_normal(n)
w = rng.standard_normal(n)
elementwise = {
    "min": np.sign(x) * np.sign(w) * np.minimum(np.abs(x), np.abs(w)),
    "max": np.sign(x) * np.sign(w) * np.maximum(np.abs(x), np.abs(w)),
    "adder": -np.abs(x - w),
}
P, K, C = (512, 800, 16) if QUICK else (4096, 800, 64)
cols = rng.standard_normal((P, K)).astype(np.float32)
filters = rng.standard_normal((C, K)).astype(np.float32)
exact_sum = cols @ filters.T
kernels = {"min": _ext.min_gemm, "max": _ext.max_gemm, "adder": _ext.adder_gemm}
corr_elem, corr_sum = {}, {}
print(f"{'operator':<10}{'corr per element':>18}{'corr of the K-sum':>20}")
for op in kernels:
    corr_elem[op] = np.corrcoef(elementwise[op], x * w)[0, 1]
    corr_sum[op] = np.corrcoef(kernels[op](cols, filters).ravel(), exact_sum.ravel())[0, 1]
    print(f"{op:<10}{corr_elem[op]:>18.3f}{corr_sum[op]:>20.3f}")

# %%
# The ranking is the same signed as unsigned: min first, then max, then the
# adder. The adder is not even trying to approximate a product: :math:`-|x - w|` is
# largest when :math:`x = w`, whatever their size, so it measures how close a patch
# is to a template. It still correlates with :math:`x w` because, for the squared
# distance, :math:`-(x - w)^2 = 2xw - x^2 - w^2`: the product is one of its terms,
# mixed with two terms that do not depend on the other operand. Summing over
# :math:`K` does not remove that mixture. The min-selector is the one closest to the
# product to begin with.
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
ax = axes[0]
table = np.array([operator_correlations(xs, ws) for xs, ws in distributions.values()])
for j, col in enumerate(TABLE1_COLUMNS):
    ax.bar(np.arange(len(distributions)) + (j - 1) * 0.27, table[:, j], 0.27, label=col)
ax.set_xticks(np.arange(len(distributions)), list(distributions), rotation=15, fontsize=8)
ax.set_ylabel("correlation with |x||w|")
ax.set_title("Table 1: magnitudes")
ax.legend(fontsize=8)
ax = axes[1]
ops = list(kernels)
ax.bar(np.arange(3) - 0.2, [corr_elem[o] for o in ops], 0.4, label="per element")
ax.bar(np.arange(3) + 0.2, [corr_sum[o] for o in ops], 0.4, label=f"sum of K = {K}")
ax.set_xticks(np.arange(3), ops)
ax.axhline(0, color="k", lw=0.8)
ax.set_ylabel("correlation with x w")
ax.set_title("signed operators, N(0,1) inputs")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# LeNet with each operator
# ------------------------
# Now the real test: the same LeNet, the same seed, data and optimizer, with
# ``lenet(conv="min", operator=...)``, next to the exact network. In quick mode a
# handful of training steps only shows that everything runs; the full run trains
# 3 epochs on 2,000 images.
N_TRAIN, N_TEST, EPOCHS, BATCH = (128, 200, 1, 16) if QUICK else (2000, 1000, 3, 64)
x_train, y_train = EmbeddedMNIST(train=True).arrays()
x_test, y_test = EmbeddedMNIST(train=False).arrays()
tr = rng.permutation(len(x_train))[:N_TRAIN]
te = rng.permutation(len(x_test))[:N_TEST]
train_set = TensorDataset(x_train[tr], y_train[tr])
test_loader = DataLoader(TensorDataset(x_test[te], y_test[te]), batch_size=250)

accuracy = {}
for name, options in [("exact", {"conv": "exact"}), ("min", {"conv": "min", "operator": "min"}),
                      ("max", {"conv": "min", "operator": "max"}),
                      ("adder", {"conv": "min", "operator": "adder"})]:
    tm.manual_seed(0)
    model = lenet(**options)
    loader = DataLoader(train_set, batch_size=BATCH, shuffle=True, seed=0)
    history = fit(model, optim.Adam(model.parameters(), lr=1e-3), loader, EPOCHS,
                  test_loader=test_loader, progress=False, log=None)
    accuracy[name] = history[-1]["test_accuracy"]
    print(f"{name:<6} test accuracy {accuracy[name]:.2%}  "
          f"(train loss {history[-1]['train_loss']:.3f}, {sum(r['seconds'] for r in history):.0f} s)")

# %%
# Accuracy per operator.
fig, ax = plt.subplots(figsize=(6, 4))
bars = ax.bar(list(accuracy), list(accuracy.values()),
              color=["tab:gray", "tab:green", "tab:orange", "tab:purple"])
for bar, value in zip(bars, accuracy.values()):
    ax.text(bar.get_x() + bar.get_width() / 2, value + 0.01, f"{value:.1%}", ha="center")
ax.set_ylim(0, 1.05)
ax.set_ylabel("test accuracy")
ax.set_title(f"LeNet, {N_TRAIN} MNIST images, {EPOCHS} epoch(s)")
fig.tight_layout()

# %%
# The backward pass is the same exact convolution gradient for all three
# operators (Algorithm 1, steps 6-7): only the forward changes. The further the
# forward is from the product, the more the gradient "lies" about what the layer
# computes, and the harder training gets. That mismatch is small for the
# min-selector, which is the paper's reason to choose it.
print("final accuracies:", {k: f"{v:.2%}" for k, v in accuracy.items()})
plt.show()

# %%
# Exercise
# --------
# **selector_gemms**: write the max-selector and the adder GEMMs that this chapter compares
# with the minimum, against ``tinymin._ext.max_gemm`` and ``adder_gemm``.
#
# .. code-block:: bash
#
#     python -m tinymin exercise start selector_gemms    # writes my_selector_gemms.py to fill in
#     python -m tinymin exercise check selector_gemms --file my_selector_gemms.py
#     python -m tinymin exercise hint selector_gemms 1   # stuck? 2 and 3 say more
#
# **Try this:** add a fourth operator to the comparison, :math:`m(a, b) =
# \operatorname{sgn}(ab)\sqrt{|ab|}`, by writing its GEMM like yours, and measure its
# correlation with the product as in chapter 6.
#
# The checker, its hints and ``exercise status``: :doc:`/guides/learning_path`.
