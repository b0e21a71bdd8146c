"""
Chapter 13: The same model on PyTorch, and back
===============================================

tinymin runs Algorithm 1 on numpy, on one CPU: the right place to read it, step
through it and change it. The paper's CIFAR-10 rows took hundreds to thousands of
epochs, which is a job for a GPU, or for many processes. This chapter takes one
min-conv LeNet through a round trip:

1. train it a few steps in tinymin;
2. move it to PyTorch with :func:`tinymin.torch.to_torch` (the same layers, the same
   ``state_dict`` keys and values, Algorithm 1 as a ``torch.autograd.Function`` with
   the same named steps) and check that both engines compute the same thing;
3. train it on the torch engine (here on the CPU; ``.to("cuda")`` on a GPU);
4. bring it back with :func:`tinymin.torch.from_torch`, fold it into a
   multiplication-free network and count its operations.

Steps 2 to 4 need the optional extra, ``pip install -e ".[torch]"``; without torch
the chapter runs step 1, says so, and skips the rest (the ``docs`` extra does not
install torch). The command-line version of step 3, with GPUs and ``torchrun``, is in
:doc:`/guides/scaling_out`.
"""

# %%
# 1. A few steps in tinymin
# -------------------------
# Quick mode (``TINYMIN_QUICK=1``) trains one epoch on 128 images (too little to
# learn much: the point is the round trip); the full run uses all 5,000 embedded
# training digits.
import os

import numpy as np

import tinymin as tm
from tinymin import optim
from tinymin.data import DataLoader, TensorDataset
from tinymin.data.datasets import EmbeddedMNIST
from tinymin.minconv import DEFAULT_CLIP_VALUE
from tinymin.minconv.fold import fold_min_model, format_operation_table, operation_counts
from tinymin.models import lenet
from tinymin.train import evaluate, fit

try:
    import torch

    from tinymin.torch import from_torch, to_torch
except ImportError:  # the optional engine is not installed: steps 2 to 4 are skipped
    torch = None
SKIPPED = 'skipped: this step needs torch (pip install -e ".[torch]")'

QUICK = os.environ.get("TINYMIN_QUICK") == "1"
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
N_TRAIN, N_TEST = (128, 250) if QUICK else (5000, 10000)
if torch is None:
    print("torch is not installed: this chapter runs step 1 only and skips steps 2 to 4")
else:
    torch.set_num_threads(1)  # small operations: one thread is faster than two that wait

x_train, y_train = EmbeddedMNIST(train=True).arrays()
x_test, y_test = EmbeddedMNIST(train=False).arrays()
x_train, y_train, x_test, y_test = x_train[:N_TRAIN], y_train[:N_TRAIN], x_test[:N_TEST], y_test[:N_TEST]
test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=250)

tm.manual_seed(0)
model = lenet(conv="min")
fit(model, optim.Adam(model.parameters(), lr=1e-3),
    DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=0), 1,
    progress=False, log=None)
print(f"tinymin, after one epoch: {evaluate(model, test_loader)['accuracy']:.2%}")
print("mu_x_hat of the first min layer:", model[0].running_abs_mean)

# %%
# 2. To PyTorch
# -------------
# ``to_torch`` builds the equivalent ``torch.nn.Sequential``: tinymin's ``MinConv2d``
# becomes :class:`tinymin.torch.MinConv2d`, everything else its ``torch.nn`` twin. The
# ``state_dict`` has the same keys, and the same bytes.
if torch is None:
    print(SKIPPED)
else:
    net = to_torch(model)
    print(net)
    ours, theirs = model.state_dict(), net.state_dict()
    print("same keys:", list(ours) == list(theirs))
    print("same values:", all(np.array_equal(ours[k], theirs[k].numpy()) for k in ours))

# %%
# Same computation? Both models go to float64 and evaluation mode (a copy: the float32
# originals stay), and get the same batch and the same upstream gradient.
def relative_differences(x: np.ndarray) -> dict[str, float]:
    """max |tinymin - torch| / max |tinymin| for the output and two gradients."""
    xt, xp = tm.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_t, out_p = model64(xt), twin64(xp)
    out_t.sum().backward()
    out_p.sum().backward()
    pairs = {"output": (out_t.data, out_p.detach().numpy()), "input gradient": (xt.grad, xp.grad.numpy()),
             "conv1 weight gradient": (model64[0].weight.grad, twin64[0].weight.grad.numpy())}
    model64.zero_grad()
    twin64.zero_grad()
    return {k: float(np.abs(a - b).max() / np.abs(a).max()) for k, (a, b) in pairs.items()}


if torch is None:
    print(SKIPPED)
else:
    twin64 = to_torch(model).double().eval()
    model64 = from_torch(twin64)

    rng = np.random.default_rng(0)
    batches = {"random images": rng.random((8, 1, 28, 28)), "MNIST digits": x_test[:8].astype(np.float64)}
    for name, x in batches.items():
        print(name + ": " + ", ".join(f"{k} {v:.1e}" for k, v in relative_differences(x).items()))

# %%
# The approximate forward (steps 1-5) and the exact backward (steps 6 and 7) agree to
# about 1e-15. One thing can differ on real images, and it is not an error: the black
# background of MNIST makes thousands of max-pool windows whose values are exactly
# equal, and where the two engines round one such value differently in its last bit,
# a different (equally valid) element is the maximum and receives that window's
# gradient. Both engines are right; they break a tie apart. (It happened with this
# chapter's quick model trained on 256 images instead of 128: the input gradient of
# these eight digits differed by 4.5e-4, the outputs still by 1e-15.)

# %%
# The steps have the same names on both sides (:mod:`tinymin.minconv.functional`
# and :mod:`tinymin.torch.functional`): here is step 3, the clip, on both engines.
if torch is None:
    print(SKIPPED)
else:
    from tinymin.minconv import functional as numpy_steps
    from tinymin.torch import functional as torch_steps

    w = model[0].weight.data
    mu_w = numpy_steps.step2_weight_scale(w, "layer")
    w_c, inside = numpy_steps.step3_clip(w, mu_w, DEFAULT_CLIP_VALUE)
    w_c_torch, inside_torch = torch_steps.step3_clip(torch.from_numpy(w), torch.tensor(mu_w),
                                                     DEFAULT_CLIP_VALUE)
    same = np.array_equal(w_c, w_c_torch.numpy())
    print(f"step 3 on the weights: {inside.mean():.2%} inside the clip in tinymin, "
          f"{inside_torch.float().mean().item():.2%} in torch; the same w_c: {same}")

# %%
# 3. Train on the torch engine
# ----------------------------
# An ordinary PyTorch loop with ``torch.optim.Adam``. On a GPU, move the model and the
# batches with ``.to("cuda")``: nothing else changes. The min-conv's running scale
# :math:`\hat\mu_x` goes on moving exactly as it does in tinymin.
if torch is None:
    print(SKIPPED)
else:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    net = net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xs, ys = torch.from_numpy(x_train).to(device), torch.from_numpy(y_train).to(device)
    generator = torch.Generator().manual_seed(0)
    for _ in range(1 if QUICK else 3):
        order = torch.randperm(len(xs), generator=generator)
        for start in range(0, len(xs), 32):
            batch = order[start:start + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xs[batch]), ys[batch]).backward()
            opt.step()
    print(f"trained on {device}; mu_x_hat of the first min layer now {net[0].running_abs_mean.item():.4f}")

# %%
# 4. Back to tinymin: evaluate, fold, count
# -----------------------------------------
# ``from_torch`` returns a tinymin model with the torch model's weights and buffers.
# Everything tinymin has works on it: evaluation, the folded multiplication-free
# network of chapter 10, and the operation counts.
if torch is None:
    print(SKIPPED)
else:
    back = from_torch(net.cpu()).eval()
    print(f"tinymin, after training on torch: {evaluate(back, test_loader)['accuracy']:.2%}")
    folded = fold_min_model(back)
    logits = folded(x_test[:64])
    with tm.no_grad():
        reference = back(tm.Tensor(x_test[:64])).data
    same = bool((logits.argmax(1) == reference.argmax(1)).all())
    print(f"folded network: the same predictions as the model: {same}")
    rows = operation_counts(back, (1, 28, 28), folded=True)
    print(format_operation_table(rows))
    conv_mults = sum(r["multiplications"] for r in rows if "Conv" in r["layer"])
    print(f"multiplications left in the convolutions: {conv_mults}")

# %%
# From the command line the same trip is ``python -m tinymin train --engine torch``
# (one process, ``--device cuda`` for a GPU) or
# ``torchrun --nproc_per_node=N -m tinymin train --engine torch`` (N processes with
# DistributedDataParallel). Both write tinymin's own run folder and checkpoint, so
# ``eval``, ``plot``, ``convert`` and ``--resume`` work on either engine's runs:
# :doc:`/guides/scaling_out`.

# %%
# Exercise
# --------
# **torch_clip**: write the PyTorch twin of Algorithm 1's step 3, the clip and its mask,
# in torch operations that autograd records; the checker compares it with the numpy
# step it mirrors (skipped where torch is missing).
#
# .. code-block:: bash
#
#     python -m tinymin exercise start torch_clip    # writes my_torch_clip.py to fill in
#     python -m tinymin exercise check torch_clip --file my_torch_clip.py
#     python -m tinymin exercise hint torch_clip 1   # stuck? 2 and 3 say more
#
# **Try this:** call your ``step3_clip`` on float16 tensors (and on a GPU if you have
# one) and compare with ``tinymin.torch.functional.step3_clip``.
#
# The checker, its hints and ``exercise status``: :doc:`/guides/learning_path`.
