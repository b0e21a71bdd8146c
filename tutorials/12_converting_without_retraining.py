"""
Chapter 12: Converting a trained CNN without retraining
=======================================================

The paper gets a MinConvNet as accurate as its exact twin by *transfer learning*:
copy the weights, then fine-tune for hundreds of epochs (Table 5). Chapter 8 saw
why fine-tuning is needed: the copied min layers keep the *shape* of each output
(high correlation) but not its *scale*, and the exact layers after them were
trained for the exact scale.

This chapter fixes the scale directly, once, at conversion, with
:func:`tinymin.nn.calibrate_min`, on a few hundred images and without any
gradient:

1. for every min layer, the **target** is the exact convolution of its input with
   its own weights, :math:`t = \\operatorname{conv2d}(x, w) + b`;
2. choose :math:`\\hat\\mu_x` among multiples of the measured :math:`\\operatorname{mean}|x|`;
3. fit a per-output-channel **gain and offset** :math:`t \\approx g_c\\,s + o_c` by
   least squares, stored in the layer (``output_gain``, ``output_offset``);
4. in the first layer (a short receptive field, ``fit_max_k``), fit every
   threshold :math:`|\\hat w_{ck}|` on its own instead of all in proportion to the
   weights (*stage 2*, :mod:`tinymin.minconv.thresholds`), kept only if the layer's
   output gets closer to the target;
5. optionally (``linear_correction=True``), a gain and offset per unit of the first
   ``Linear`` layer after the convolutions.

Steps 1-3 are the core; this chapter looks at them closely, then measures what step
4 adds. The maths is in :doc:`/guides/minconv_math` (section 4, the clip identity).
"""

# %%
# An exact LeNet to convert
# -------------------------
# Quick mode trains it briefly on a few hundred images (expect a weak network); the
# full run trains 5 epochs on the 5,000 embedded training digits.
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import tinymin as tm
from tinymin import optim
from tinymin.data import DataLoader, TensorDataset
from tinymin.data.datasets import EmbeddedMNIST
from tinymin.minconv.calibrate import approximate_output, fit_gain_offset, relative_squared_error
from tinymin.minconv.reconstruct import layer_errors, reconstruct_min
from tinymin.models import lenet
from tinymin.nn import calibrate_min, convert_to_min, min_layers, recalibrate_running_statistics
from tinymin.nn import functional as F
from tinymin.train import evaluate, fit

QUICK = os.environ.get("TINYMIN_QUICK") == "1"
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
N_TRAIN, N_TEST, EPOCHS, BATCH = (224, 200, 1, 16) if QUICK else (5000, 10000, 5, 64)
N_CALIBRATION = 64 if QUICK else 256

x_train, y_train = EmbeddedMNIST(train=True).arrays()
x_test, y_test = EmbeddedMNIST(train=False).arrays()
rng = np.random.default_rng(0)
tr = rng.permutation(len(x_train))[:N_TRAIN]
te = rng.permutation(len(x_test))[:N_TEST]
train_set = TensorDataset(x_train[tr], y_train[tr])
test_loader = DataLoader(TensorDataset(x_test[te], y_test[te]), batch_size=250)
images = x_train[tr[:N_CALIBRATION]]          # calibration images (training split)

tm.manual_seed(0)
exact = lenet(conv="exact")
t0 = time.perf_counter()
fit(exact, optim.Adam(exact.parameters(), lr=1e-3),
    DataLoader(train_set, batch_size=BATCH, shuffle=True, seed=0), EPOCHS, progress=False, log=None)
accuracy = {"exact": evaluate(exact, test_loader)["accuracy"]}
print(f"exact LeNet: {accuracy['exact']:.2%} ({time.perf_counter() - t0:.0f} s of training)")

# %%
# Convert, and measure the copy
# -----------------------------
# ``convert_to_min`` deep-copies the model and replaces every ``Conv2d`` by a
# ``MinConv2d`` holding the same weights. Its :math:`\hat\mu_x` starts at 1; then we
# recalibrate it to the true mean :math:`|x|` of each layer's input, which is
# :math:`\hat w = w_c\,\hat\mu_x/\mu_w` exactly as Eq. 12 prescribes.
model = convert_to_min(exact)
model.eval()
accuracy["copy, mu_x_hat = 1"] = evaluate(model, test_loader)["accuracy"]
recalibrate_running_statistics(model, [images])
accuracy["copy, recalibrated"] = evaluate(model, test_loader)["accuracy"]
for name, layer in min_layers(model):
    print(f"layer {name}: mu_x_hat = {layer.running_abs_mean[0]:.4f}")
print(f"min copy: mu_x_hat = 1: {accuracy['copy, mu_x_hat = 1']:.2%}, "
      f"recalibrated: {accuracy['copy, recalibrated']:.2%}")

# %%
# Calibrate
# ---------
# ``calibrate_min`` goes through the network in order, on the *min* network's own
# activations (so each layer also corrects the errors of the layers before it),
# and prints per layer the chosen multiple of :math:`\operatorname{mean}|x|`, the
# relative squared error :math:`\lVert s - t\rVert^2/\lVert t\rVert^2` and the
# correlation before and after.
t0 = time.perf_counter()
report = calibrate_min(model, images)
print(f"calibrated on {len(images)} images in {time.perf_counter() - t0:.1f} s")
for row in report:
    print(row)
accuracy["calibrated"] = evaluate(model, test_loader)["accuracy"]
print(f"calibrated min LeNet: {accuracy['calibrated']:.2%}")

# %%
# What stage 2 adds
# -----------------
# By Eq. 12 every threshold of a layer is its weight times one shared factor,
# :math:`|\hat w_{ck}| = |w_{ck}|\,\hat\mu_x/\mu_w`. For one weight the min-selector
# is :math:`\operatorname{sgn}(\hat w)\operatorname{clip}(x, -|\hat w|, |\hat w|)`:
# slope 1 up to the threshold, flat beyond. So the threshold is the only number a
# min layer has per weight, and nothing forces it to follow the exact weight. Stage
# 2 chooses each threshold of the first layer by coordinate descent, to minimise
# the error left after the gain and offset. ``fit_max_k=0`` switches it off: the
# same calibration with steps 1-3 alone, on a fresh copy.
steps_1_to_3 = convert_to_min(exact)
steps_1_to_3.eval()
recalibrate_running_statistics(steps_1_to_3, [images])
first_layer = calibrate_min(steps_1_to_3, images, fit_max_k=0)[0]
print(f"first layer, steps 1-3:  relative squared error {first_layer.error_after:.4f}")
print(f"first layer, with stage 2: relative squared error {report[0].error_after:.4f}"
      f"{' (thresholds fitted)' if report[0].thresholds_fitted else ''}")
print(f"test accuracy: steps 1-3 {evaluate(steps_1_to_3, test_loader)['accuracy']:.2%}, "
      f"with stage 2 {accuracy['calibrated']:.2%}")

# %%
# Reconstruction: every threshold of every layer, fitted to the exact network
# ---------------------------------------------------------------------------
# Stage 2 fits the thresholds of the first layer only: its coordinate descent
# costs :math:`C_{out} K` trials per sweep, 64 times more in the second layer.
# ``calibrate_min(..., method="reconstruct")`` (:mod:`tinymin.minconv.reconstruct`)
# fits all of them in every min layer with a gradient instead, the way
# post-training quantization (AdaRound, AdaQuant, BRECQ) fits integer networks
# without labels:
#
# * layer by layer in network order, on the *converted* network's own inputs, and
#   against the *exact network's* output of that layer, so each layer also makes up
#   for what the layers before it lost;
# * the only numbers it moves are the thresholds :math:`\tau_{ck} = |\hat w_{ck}|`
#   (as :math:`\log\tau`, by Adam, a fixed number of steps on random output
#   positions), with the gain and offset refitted by least squares at every step;
# * the gradient is the true one of the approximate forward,
#   :math:`\partial\, m(x, \hat w)/\partial\tau = \operatorname{sgn}(\hat w)
#   \operatorname{sgn}(x)\,[|x| > \tau]`: a threshold moves only where it clips.
#
# No label and no loss of the network: each fit sees one layer. We measure each
# layer's error against the exact network on test images that no calibration saw
# (``layer_errors``): the fit must carry over to them, not only lower the error on
# its own images.
held_out = x_test[te[:200]]
reconstructed = convert_to_min(exact)
recalibrate_running_statistics(reconstructed, [images])
copy_errors = layer_errors(reconstructed, exact, held_out)
t0 = time.perf_counter()
for row in reconstruct_min(reconstructed, images, steps=40 if QUICK else 300):
    print(row)
print(f"reconstructed on {len(images)} images in {time.perf_counter() - t0:.1f} s")
accuracy["reconstructed"] = evaluate(reconstructed, test_loader)["accuracy"]
for name, errors in (("copy", copy_errors), ("calibrated", layer_errors(model, exact, held_out)),
                     ("reconstructed", layer_errors(reconstructed, exact, held_out))):
    print(f"held-out error per layer, {name:<14}" + "  ".join(
        f"layer {layer}: {error:.4f}" for layer, error in errors.items()))
print(f"reconstructed min LeNet: {accuracy['reconstructed']:.2%}")

# %%
# The least-squares fit
# ---------------------
# For one output channel :math:`c`, with :math:`s` the min layer's outputs and
# :math:`t` the exact ones over all images and pixels, minimise
#
# .. math::
#
#     E(g, o) = \sum_i (t_i - g\,s_i - o)^2 .
#
# Setting :math:`\partial E/\partial o = 0` gives :math:`o = \bar t - g\,\bar s`;
# substituting and setting :math:`\partial E/\partial g = 0` gives
#
# .. math::
#
#     g = \frac{\sum_i (s_i - \bar s)(t_i - \bar t)}{\sum_i (s_i - \bar s)^2}
#       = \frac{\operatorname{cov}(s, t)}{\operatorname{var}(s)} .
#
# It is the slope of the regression line through the scatter plot of chapter 7. A
# gain cannot raise the correlation of one channel, but it restores the scale the
# next layers expect, and the per-channel offset removes a bias. We check
# ``fit_gain_offset`` against ``np.polyfit`` on the second min layer.
index = 3                                       # the second conv of LeNet
layer = model[index]
with tm.no_grad():
    x_in = images
    for module in list(model)[:index]:           # the min network's own activations
        x_in = module(tm.Tensor(x_in)).numpy()
    target = F.conv2d(tm.Tensor(x_in), layer.weight, layer.bias, layer.stride, layer.padding).numpy()
mean_abs = float(np.abs(x_in).mean())
approx = approximate_output(layer, x_in, mean_abs)      # mu_x_hat = 1 x mean|x|, no gain
gain, offset = fit_gain_offset(approx, target)
slope, intercept = np.polyfit(approx[:, 0].ravel(), target[:, 0].ravel(), 1)
print(f"channel 0: gain {gain[0]:.4f} offset {offset[0]:.4f}   np.polyfit: {slope:.4f} {intercept:.4f}")

# %%
# Why the scale of mu_x_hat matters
# ---------------------------------
# :math:`\hat\mu_x` sets the rescaled weights :math:`\hat w = w_c\,\hat\mu_x/\mu_w`.
# Taking it a few times larger than :math:`\operatorname{mean}|x|` makes
# :math:`|\hat w|` larger than most inputs, so the minimum mostly selects the input,
# :math:`m(x, \hat w) = \operatorname{sgn}(\hat w)\,x`: the layer behaves like a
# convolution with weights :math:`\pm 1`, which keeps more of the product's shape
# than the "balanced" scale of Eq. 12. Too large, and all information in the weight
# magnitudes is lost. We sweep the multiple for this layer and measure the relative
# squared error, raw and after the least-squares fit (per channel, and with one gain
# shared by the layer).
multiples = np.array([0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 32] if QUICK else
                     [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64])
raw, fitted, shared = [], [], []
for m in multiples:
    s = approximate_output(layer, x_in, m * mean_abs)
    raw.append(relative_squared_error(s, target))
    for per_channel, out in ((True, fitted), (False, shared)):
        g, o = fit_gain_offset(s, target, per_channel)
        out.append(relative_squared_error(s * g.reshape(1, -1, 1, 1) + o.reshape(1, -1, 1, 1), target))
chosen = report[1].chosen_multiple
print(f"{'multiple':>9}{'raw':>10}{'fit/channel':>13}{'fit/layer':>11}")
for m, r, f, sh in zip(multiples, raw, fitted, shared):
    print(f"{m:>9.2f}{r:>10.4f}{f:>13.4f}{sh:>11.4f}")
print(f"calibrate_min chose {chosen:g} x mean|x| for this layer")

# %%
# Raw, the error falls as the multiple grows (the minimum selects the input more
# and more often) and then levels off. After the fit the overall scale no longer
# matters, and what is left is the error of the *shape*: smallest at a few times
# the mean, where enough inputs are selected but the weight magnitudes still count.
# One gain per layer is almost as good as one per channel, and keeps the folded
# network free of multiplications (chapter 10).
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
ax = axes[0]
ax.plot(multiples, raw, "o-", label="raw min-conv output")
ax.plot(multiples, fitted, "s-", label="after gain + offset per channel")
ax.plot(multiples, shared, "^-", label="after one gain per layer")
ax.axvline(chosen, color="k", ls="--", lw=1, label=f"chosen: {chosen:g}")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xticks([0.5, 1, 2, 4, 8, 16, 32], ["0.5", "1", "2", "4", "8", "16", "32"])
ax.xaxis.set_minor_formatter(plt.NullFormatter())
ax.yaxis.set_minor_formatter(plt.NullFormatter())
ax.set_xlabel("mu_x_hat / mean|x|")
ax.set_ylabel("relative squared error vs exact conv")
ax.set_title(f"layer {index} of LeNet")
ax.legend(fontsize=8)

# %%
# Fine-tuning after calibration
# -----------------------------
# The gains and offsets are frozen buffers; fine-tuning trains the weights (with a
# small learning rate) and the gain scales the gradient that flows back. Calibration
# also stored each layer's chosen multiple in ``input_scale_multiple``: in ``train()``
# the layer uses :math:`\mu_x = c \operatorname{mean}|x|` with that same :math:`c`, so
# the moving average :math:`\hat\mu_x` stays at the calibrated scale while we train.
FINE_TUNE_EPOCHS = 1 if QUICK else 2
fine_tune_set = TensorDataset(x_train[tr[:128]], y_train[tr[:128]]) if QUICK else train_set
before = {name: float(layer.running_abs_mean[0]) for name, layer in min_layers(model)}
t0 = time.perf_counter()
fit(model, optim.Adam(model.parameters(), lr=1e-5),
    DataLoader(fine_tune_set, batch_size=BATCH, shuffle=True, seed=1), FINE_TUNE_EPOCHS,
    progress=False, log=None)
print(f"{FINE_TUNE_EPOCHS} epoch(s) of fine-tuning on {len(fine_tune_set)} labeled images: "
      f"{time.perf_counter() - t0:.1f} s")
accuracy["calibrated + fine-tuned"] = evaluate(model, test_loader)["accuracy"]
for name, layer in min_layers(model):
    print(f"layer {name}: multiple c = {layer.input_scale_multiple[0]:g}, mu_x_hat "
          f"{before[name]:.4f} before and {layer.running_abs_mean[0]:.4f} after fine-tuning")

# %%
# All the accuracies side by side.
ax = axes[1]
names = list(accuracy)
bars = ax.bar(range(len(names)), [accuracy[n] for n in names],
              color=["tab:gray", "tab:red", "tab:red", "tab:green", "tab:purple",
                     "tab:blue"][:len(names)])
for bar, n in zip(bars, names):
    ax.text(bar.get_x() + bar.get_width() / 2, accuracy[n] + 0.01, f"{accuracy[n]:.0%}", ha="center")
ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)
ax.set_ylim(0, 1.08)
ax.set_ylabel("test accuracy")
ax.set_title("exact vs converted LeNet")
fig.tight_layout()
for n in names:
    print(f"{n:<32} {accuracy[n]:.2%}")

# %%
# What to expect: on the digits the calibrated network stays within a few tenths of
# a point of the exact one without a gradient step, and fine-tuning keeps it there.
# :doc:`/guides/results` has the measured figures (3 seeds, the official 10,000 test
# images, exact LeNet trained 10 epochs), and the harder case, Fashion-MNIST, where
# the copy loses far more and stage 2 and a short fine-tune matter. There the
# reconstruction, with no label and no epoch, ends within about a tenth of a point
# of the exact network, as it does on the digits and for the six-layer mini_cifar
# network (section "Reconstruction: every threshold, layer by layer" of that page,
# three seeds each). The command line does the same conversions:
# ``python -m tinymin convert --checkpoint run/checkpoint.npz --calibrate 256 --out min.npz``
# and ``python -m tinymin convert --checkpoint run/checkpoint.npz --calibrate 1024
# --reconstruct --out min.npz``.
plt.show()

# %%
# Exercise
# --------
# **gain_offset**: write the least-squares gain and offset of the fit above, per channel
# and with one shared gain, against tinymin's ``fit_gain_offset``.
#
# .. code-block:: bash
#
#     python -m tinymin exercise start gain_offset    # writes my_gain_offset.py to fill in
#     python -m tinymin exercise check gain_offset --file my_gain_offset.py
#     python -m tinymin exercise hint gain_offset 1   # stuck? 2 and 3 say more
#
# **Try this:** fit the second min layer with ``per_channel=False`` and compare its
# relative squared error with the per-channel fit above.
#
# The checker, its hints and ``exercise status``: :doc:`/guides/learning_path`.
