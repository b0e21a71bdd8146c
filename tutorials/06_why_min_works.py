r"""
Chapter 6: Why a minimum can stand in for a multiplication
==========================================================

A MinConvNet replaces every product :math:`x\,w` in a convolution by the
*signed minimum*

.. math::

    s(x, w) = \operatorname{sgn}(x)\,\operatorname{sgn}(w)\,\min(|x|, |w|),

which needs a comparison and a sign test, no multiplier. Section 2 of the paper
argues that this is reasonable in two steps, and this chapter measures both with
:mod:`tinymin.analysis`:

1. **similarity** (Table 1): :math:`\min(|x|,|w|)` is strongly *correlated* with
   :math:`|x||w|`, best when :math:`\mathbb{E}|x| = \mathbb{E}|w|`;
2. **approximation** (Eq. 6-7, Figure 3): :math:`s(x, w)` is actually *close* to
   :math:`xw` when magnitudes concentrate around 1, which rescaling to
   :math:`\mathbb{E}|x| = \mathbb{E}|w| = 1` achieves (Eq. 8-13).

Finally Table 2: :math:`s` computed by a 4-to-1 multiplexer. The formulas were
lost from the paper's text and rebuilt in :doc:`/guides/minconv_math`;
``TINYMIN_QUICK=1`` uses fewer Monte Carlo samples.
"""

# %%
# Setup
# -----
import os

import matplotlib.pyplot as plt
import numpy as np

from tinymin import _ext
from tinymin.analysis import (
    PAPER_TABLE1,
    TABLE1_ROWS,
    elementwise_relative_error,
    format_table1,
    operator_correlations,
    plot_figure3a,
    plot_figure3b,
    plot_figure3c,
    plot_table1_scatter,
    relative_error,
    table1,
)
from tinymin.minconv.operators import multiplexer

QUICK = os.environ.get("TINYMIN_QUICK") == "1"
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
N_TABLE = 200_000 if QUICK else 2_000_000     # pairs per row of Table 1
N_FIG = 10_000 if QUICK else 100_000          # pairs per point of Figure 3
rng = np.random.default_rng(0)
np.set_printoptions(precision=4, suppress=True)


def signed_min(x, w):
    return np.sign(x) * np.sign(w) * np.minimum(np.abs(x), np.abs(w))


# %%
# Magnitude and sign, separately
# ------------------------------
# The sign of a product is :math:`\operatorname{sgn}(x)\operatorname{sgn}(w)` (an
# XNOR of two sign bits), and :math:`s` reproduces it exactly. Only the
# magnitude is approximated: :math:`\min(|x|,|w|)` in place of :math:`|x||w|`.
x, w = rng.standard_normal(8), rng.standard_normal(8)
print("x w          :", x * w)
print("s(x, w)      :", signed_min(x, w))
print("same sign everywhere:", np.array_equal(np.sign(x * w), np.sign(signed_min(x, w))))

# %%
# Similarity: Pearson correlation (Eq. 3)
# ---------------------------------------
# Two operations are *similar* when their outputs on the same random inputs are
# strongly correlated:
#
# .. math::
#
#     \rho(a, b) = \frac{\operatorname{cov}(a, b)}{\sigma_a\, \sigma_b} .
#
# Table 1 of the paper correlates :math:`|x||w|` with three candidates,
# :math:`\min(|x|,|w|)`, :math:`|x|+|w|` (the AdderNet idea) and
# :math:`\max(|x|,|w|)`, for six pairs of distributions. Its row labels were lost;
# Monte Carlo identifies them (:ref:`math-similarity`). We reproduce the table with
# :func:`tinymin.analysis.table1`, printed beside the published values:
measured = table1(n_samples=N_TABLE, seed=0)
print(format_table1(measured))
print(f"({N_TABLE:,} pairs per row; Monte Carlo error about {1 / np.sqrt(N_TABLE):.4f})")

# %%
# Read the rows in pairs. When :math:`x` and :math:`w` have the same scale (rows 1
# and 4), the min-selector wins clearly (0.91, 0.96). When one is ten times larger
# (rows 2-3, 5-6), every operator does worse, and min loses its edge: the min is
# then almost always the smaller operand, and :math:`\min(|x|, |w|) \approx |x|`
# ignores :math:`w` entirely.
#
# The scatter plots show it: each point is one pair, at
# :math:`(|x||w|,\ \min(|x|,|w|))`. With equal scales the cloud follows a curve;
# with :math:`w` ten times larger it collapses onto the horizontal band of
# :math:`|x|`.
fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
for ax, row in zip(axes, (0, 1, 3)):
    plot_table1_scatter(row, ax=ax, n_points=3000 if QUICK else 5000, seed=0)
fig.suptitle(r"Each point is one pair $(x, w)$: $\min(|x|,|w|)$ against $|x||w|$")
plt.show()

# %%
# The similarity constraint :math:`\mathbb{E}|x| = \mathbb{E}|w|`
# ----------------------------------------------------------------
# Table 1 has only two scale ratios. Sweeping the ratio shows the whole story:
# :math:`x \sim N(0, 1)`, :math:`w \sim N(0, r^2)` for :math:`r` from 1/100 to 100,
# and the three correlations of :func:`~tinymin.analysis.operator_correlations`.
# The min-selector peaks exactly at :math:`r = 1`, where
# :math:`\mathbb{E}|x| = \mathbb{E}|w|`, and there it beats addition and max.
ratios = np.logspace(-2, 2, 17 if QUICK else 41)
n_sweep = 20_000 if QUICK else 200_000
x_sweep = rng.standard_normal(n_sweep)
z_sweep = rng.standard_normal(n_sweep)
curves = np.array([operator_correlations(x_sweep, r * z_sweep) for r in ratios])
best = ratios[np.argmax(curves[:, 0])]
print(f"min-selector correlation is largest at r = {best:.2f}: {curves[:, 0].max():.3f}")

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
for k, label in enumerate(("min-selector", "addition", "max-selector")):
    ax.plot(ratios, curves[:, k], "o-", ms=3, label=label)
ax.axvline(1.0, color="0.5", ls=":")
ax.set_xscale("log")
ax.set_xlabel(r"scale ratio $r = \mathbb{E}|w| \,/\, \mathbb{E}|x|$")
ax.set_ylabel(r"$\rho(|x||w|,\ \mathrm{op}(|x|, |w|))$")
ax.set_title(r"$x \sim N(0, 1)$, $w \sim N(0, r^2)$: min is most similar at $r = 1$")
ax.legend()
plt.show()

# %%
# Approximation: the relative error (Eq. 6)
# -----------------------------------------
# Correlation is not closeness: :math:`\min(|x|,|w|)` can track :math:`|x||w|` and
# still be far from it. Per element, say :math:`|x| \le |w|`; then
# :math:`|s| = |x|` and :math:`|xw - s| / |xw| = |1 - |x|/(|x||w|)| = |1 - 1/|w||`.
# In general
#
# .. math::
#
#     e(x, w) = \frac{|xw - s(x, w)|}{|xw|} = \left|1 - \frac{1}{\max(|x|, |w|)}\right|,
#
# zero exactly when the larger magnitude is 1. We check the closed form against the
# definition (:func:`~tinymin.analysis.elementwise_relative_error` computes the
# definition):
xa, wa = rng.standard_normal(100_000) * 2, rng.standard_normal(100_000) * 2
closed_form = np.abs(1 - 1 / np.maximum(np.abs(xa), np.abs(wa)))
definition = elementwise_relative_error(xa, wa)
print(f"max |definition - closed form| = {np.nanmax(np.abs(definition - closed_form)):.2e}")
print("examples:", elementwise_relative_error([1.0, 0.5, 3.0, -1.0], [0.5, 1.0, 2.0, 4.0]))

# %%
# Figure 3: the mean relative error (Eq. 7)
# -----------------------------------------
# Averaging over :math:`x, w \sim N(\mu, \sigma^2)` (pairs with :math:`xw = 0`
# dropped, Eq. 7 is undefined there):
#
# .. math::
#
#     D(\mu, \sigma) = \mathbb{E}\left[\left|1 - \frac{1}{\max(|x|, |w|)}\right|\right].
#
# The paper's Figure 3 was lost with the formulas; its text says what the panels
# show, and :mod:`tinymin.analysis` redraws them: (a) :math:`D` against
# :math:`\mu` for small :math:`\sigma`, smallest at :math:`\mu = \pm 1`; (b) the
# best :math:`\mu` against :math:`\sigma`, close to 1 while :math:`\sigma` is small;
# (c) :math:`D(0, \sigma)`, the case of zero-mean inputs (after batch norm),
# smallest near :math:`\sigma \approx 1.7`, where
# :math:`\mathbb{E}|x| = \sigma\sqrt{2/\pi} \approx 1.36`, "not far from 1".
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
plot_figure3a(axes[0], n_samples=N_FIG)
plot_figure3b(axes[1], n_samples=max(5_000, N_FIG // 5))
plot_figure3c(axes[2], n_samples=N_FIG)
fig.suptitle(r"Mean relative error of the min-selector, $x, w \sim N(\mu, \sigma^2)$ (Eq. 7)")
plt.show()

# %%
# The numbers behind panels (a) and (c), to check against :ref:`math-approximation`
# (:math:`\sigma = 0.05`: :math:`D_{\min} \approx 0.04` at :math:`\mu \approx 1`;
# :math:`\mu = 0`: minimum near :math:`\sigma \approx 1.7`):
mus = np.linspace(0.5, 1.5, 21)
d_small = np.array([relative_error(m, 0.05, n_samples=N_FIG) for m in mus])
sigmas = np.linspace(1.0, 2.5, 16)
d_zero = np.array([relative_error(0.0, s, n_samples=N_FIG) for s in sigmas])
print(f"sigma = 0.05: min D = {d_small.min():.3f} at mu = {mus[d_small.argmin()]:.2f}")
print(f"mu = 0:       min D = {d_zero.min():.3f} at sigma = {sigmas[d_zero.argmin()]:.2f}")

# %%
# The approximation constraint :math:`\mathbb{E}|x| = \mathbb{E}|w| = 1`
# ------------------------------------------------------------------------
# Real activations and weights are not centred on 1, but they can be rescaled
# (Eq. 8): :math:`\tilde x = x / \mathbb{E}|x|`, :math:`\tilde w = w/\mathbb{E}|w|`
# both have mean magnitude 1, so
#
# .. math::
#
#     x w = \mathbb{E}|x|\,\mathbb{E}|w|\;\tilde x \tilde w
#       \approx \mathbb{E}|x|\,\mathbb{E}|w|\; s(\tilde x, \tilde w)
#       = \mathbb{E}|w|\; s\!\Big(x,\; w\,\frac{\mathbb{E}|x|}{\mathbb{E}|w|}\Big)
#
# (the min commutes with a positive scale, Eq. 10-11). The weights are rescaled
# once, :math:`\hat w = w\,\mathbb{E}|x|/\mathbb{E}|w|` (Eq. 12), and one
# multiplication by :math:`\mathbb{E}|w|` per *output* remains (Eq. 13).
#
# Here is what that buys on whole dot products :math:`y = \sum_k x_k w_k` with
# :math:`K = 5 \cdot 5 \cdot 32 = 800` terms, LeNet's second layer: inputs like
# ReLU activations (:math:`|N(0, 0.5^2)|`, :math:`\mathbb{E}|x| \approx 0.4`),
# weights :math:`N(0, 0.05^2)`. Without rescaling, :math:`|w|` is the smaller
# operand almost everywhere, so :math:`s(x, w) \approx w` and the sum nearly
# ignores the input. After rescaling, both operands are compared on the same scale.
K_DOT, N_DOT = 800, 500 if QUICK else 2000
xs = np.abs(rng.normal(0.0, 0.5, (N_DOT, K_DOT)))
ws = rng.normal(0.0, 0.05, (N_DOT, K_DOT))
exact = (xs * ws).sum(axis=1)
plain = signed_min(xs, ws).sum(axis=1)
mu_x, mu_w = np.abs(xs).mean(), np.abs(ws).mean()
w_hat = ws * mu_x / mu_w                                      # Eq. 12
rescaled = mu_w * signed_min(xs, w_hat).sum(axis=1)           # Eq. 13
print(f"E|x| = {mu_x:.3f}, E|w| = {mu_w:.4f}, E|w_hat| = {np.abs(w_hat).mean():.3f}")
print(f"fraction of terms where |w| < |x|: plain {np.mean(np.abs(ws) < xs):.0%}, "
      f"rescaled {np.mean(np.abs(w_hat) < xs):.0%}")
for name, approx in (("plain s(x, w)", plain), ("rescaled, Eq. 13", rescaled)):
    slope = float(exact @ approx / (exact @ exact))          # least squares: approx ~ slope * exact
    print(f"{name:17s}: correlation with exact {np.corrcoef(exact, approx)[0, 1]:.3f}, "
          f"best-fit slope {slope:.2f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained", sharey=True)
lim = np.abs(exact).max() * 1.1
for ax, approx, title in ((axes[0], plain, r"plain: $\sum_k s(x_k, w_k)$"),
                          (axes[1], rescaled,
                           r"rescaled: $\mathbb{E}|w| \sum_k s(x_k, \hat w_k)$")):
    rho = np.corrcoef(exact, approx)[0, 1]
    ax.scatter(exact, approx, s=4, alpha=0.5, label=rf"$\rho = {rho:.2f}$")
    ax.plot([-lim, lim], [-lim, lim], color="C3", lw=1, label="y = x")
    ax.set_xlabel(r"exact $\sum_k x_k w_k$")
    ax.set_title(title)
    ax.legend()
axes[0].set_ylabel("approximation")
fig.suptitle(f"{N_DOT} dot products of length {K_DOT}")
plt.show()

# %%
# The rescaled sum follows the exact one closely (higher correlation, much less
# scatter) but along a line flatter than :math:`y = x`: the min-selector shrinks
# large products (:math:`\min(|\tilde x|, |\tilde w|) < |\tilde x||\tilde w|` once
# both exceed 1), and large products dominate the sum. A constant gain like this is
# harmless in a network: the next layer, a bias or batch norm absorbs it, and
# training *with* the approximation (chapter 7's Algorithm 1) learns around it.

# %%
# Table 2: the min-selector as a multiplexer
# ------------------------------------------
# In hardware :math:`s(a, b)` needs no multiplier: compare :math:`|a|` with
# :math:`|b|`, test one sign, and pass one of :math:`a, -a, b, -b`:
#
# =======================  ===================  ===================
# comparison               sign test            :math:`m(a, b)`
# =======================  ===================  ===================
# :math:`|a| \le |b|`      :math:`b \ge 0`      :math:`a`
# :math:`|a| \le |b|`      :math:`b < 0`        :math:`-a`
# :math:`|a| > |b|`        :math:`a \ge 0`      :math:`b`
# :math:`|a| > |b|`        :math:`a < 0`        :math:`-b`
# =======================  ===================  ===================
#
# :func:`tinymin.minconv.operators.multiplexer` is that table, line for line.
# We check it against :math:`\operatorname{sgn}(a)\operatorname{sgn}(b)\min(|a|,|b|)`
# on every combination of signs, both orders of magnitude, ties and zeros:
print(f"{'a':>5} {'b':>5}  {'comparison':11} {'sign test':9}  {'mux':>5} {'formula':>7}")
magnitudes = [(1.0, 3.0), (3.0, 1.0), (2.0, 2.0), (0.0, 3.0), (3.0, 0.0)]
cases = sorted({(sa * ma + 0.0, sb * mb + 0.0)          # + 0.0 turns -0.0 into 0.0
                for ma, mb in magnitudes for sa in (1, -1) for sb in (1, -1)},
               key=lambda ab: (abs(ab[0]) > abs(ab[1]), -ab[0], -ab[1]))
for a, b in cases:
    mux = multiplexer(a, b)
    formula = float(np.sign(a) * np.sign(b) * min(abs(a), abs(b)))
    if abs(a) <= abs(b):
        comparison, test = "|a| <= |b|", ("b >= 0" if b >= 0 else "b < 0")
    else:
        comparison, test = "|a| >  |b|", ("a >= 0" if a >= 0 else "a < 0")
    print(f"{a:5.1f} {b:5.1f}  {comparison:11} {test:9}  {mux + 0.0:5.1f} {formula + 0.0:7.1f}")
    assert mux == formula
print(f"multiplexer == sgn(a) sgn(b) min(|a|, |b|) in all {len(cases)} cases")

# %%
# The same selection, summed over ``K``, is the min-selector GEMM that runs inside
# every min-convolution (:func:`tinymin._ext.min_gemm`,
# :math:`\mathrm{out}[p, c] = \sum_k m(\mathrm{cols}[p,k], \hat w[c,k])`). One row
# of it, by multiplexer:
cols = rng.standard_normal((3, 6))
w_rows = rng.standard_normal((2, 6))
by_mux = np.array([[sum(multiplexer(a, b) for a, b in zip(row, filt)) for filt in w_rows]
                   for row in cols])
print("min_gemm:\n", _ext.min_gemm(cols, w_rows), "\nby multiplexer:\n", by_mux)
assert np.allclose(_ext.min_gemm(cols, w_rows), by_mux)

# %%
# What to remember
# ----------------
# * The sign of :math:`xw` is kept exactly; only the magnitude is approximated.
# * Similarity (Table 1): :math:`\min` tracks :math:`|x||w|` best when
#   :math:`\mathbb{E}|x| = \mathbb{E}|w|`.
# * Approximation (Eq. 6-7): the error :math:`|1 - 1/\max(|x|,|w|)|` is small when
#   magnitudes sit near 1, hence the rescaling to
#   :math:`\mathbb{E}|x| = \mathbb{E}|w| = 1`, folded into :math:`\hat w` (Eq. 12-13).
# * In hardware it is a comparator and a 4-to-1 multiplexer (Table 2).
print("paper's Table 1 rows:", TABLE1_ROWS[0], "...", TABLE1_ROWS[-1],
      "| max |measured - paper| =", f"{np.abs(measured - PAPER_TABLE1).max():.3f}")

# %%
# Exercises
# ---------
# **min_gemm**: write the signed min-selector GEMM of Eq. 13, the whole approximation in
# one function, against the kernel behind every min-conv layer.
#
# .. code-block:: bash
#
#     python -m tinymin exercise start min_gemm    # writes my_min_gemm.py to fill in
#     python -m tinymin exercise check min_gemm --file my_min_gemm.py
#     python -m tinymin exercise hint min_gemm 1   # stuck? 2 and 3 say more
#
# **relative_error**: write the relative error of Eq. 6, NaN where the product is 0,
# against :func:`tinymin.analysis.approximation.elementwise_relative_error`.
#
# .. code-block:: bash
#
#     python -m tinymin exercise start relative_error    # writes my_relative_error.py to fill in
#     python -m tinymin exercise check relative_error --file my_relative_error.py
#     python -m tinymin exercise hint relative_error 1   # stuck? 2 and 3 say more
#
# **Try this:** evaluate your relative error on a grid of :math:`x, w \in [0.1, 3]`,
# find where it is zero, and explain the curve with Eq. 7.
#
# The checker, its hints and ``exercise status``: :doc:`/guides/learning_path`.
