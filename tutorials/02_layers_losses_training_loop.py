r"""
Chapter 2: Layers, losses and the training loop
===============================================

Chapter 1 gave us gradients. Now we put them to work: a small multi-layer
perceptron (MLP) learns to read handwritten digits.

* :class:`tinymin.nn.Module` collects parameters and sub-modules;
* :class:`tinymin.nn.Linear` is the affine map :math:`y = xW^\top + b`;
* :func:`tinymin.nn.functional.cross_entropy` turns scores into a loss, through
  the log-softmax;
* the training loop is four lines, which we first write by hand and then
  hand over to :func:`tinymin.train.fit`.

The data is the MNIST subset shipped inside tinymin
(:class:`~tinymin.data.datasets.EmbeddedMNIST`: 5,000 training digits and the
official 10,000-image MNIST test set, no download). ``TINYMIN_QUICK=1`` trains on
1,000 images for fewer epochs.
"""

# %%
# Setup
# -----
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

import tinymin as tm
from tinymin import nn, optim
from tinymin.data import DataLoader, TensorDataset
from tinymin.data.datasets import EmbeddedMNIST
from tinymin.nn import functional as F
from tinymin.train import evaluate, fit, predict

QUICK = os.environ.get("TINYMIN_QUICK") == "1"
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
N_TRAIN = 1000 if QUICK else 5000
EPOCHS = 3 if QUICK else 10
tm.manual_seed(0)  # weights, shuffling: every random choice in tinymin
np.set_printoptions(precision=4, suppress=True)

# %%
# ``nn.Linear``: one affine layer
# -------------------------------
# A linear layer with ``in_features`` inputs and ``out_features`` outputs holds a
# weight :math:`W` of shape ``(out, in)`` and a bias :math:`b` (PyTorch's layout),
# and maps a batch :math:`X` of shape ``(N, in)`` to
#
# .. math::
#
#     Y = X W^\top + b .
#
# Its parameters are :class:`~tinymin.nn.Parameter` objects: tensors with
# ``requires_grad=True`` that the module registers by attribute name.
layer = nn.Linear(4, 3)
print(layer)
for name, p in layer.named_parameters():
    print(f"  {name:6s} shape={p.shape}")
X = tm.randn(2, 4)
assert np.allclose(layer(X).data, X.data @ layer.weight.data.T + layer.bias.data, atol=1e-6)
print("layer(X) == X @ W.T + b:", True)

# %%
# A network is a ``Module`` of modules
# ------------------------------------
# Subclass :class:`~tinymin.nn.Module`, assign layers as attributes in
# ``__init__``, write ``forward``. Parameters are found recursively, in
# definition order. Our MLP maps a 28x28 image to 10 scores (*logits*):
#
# .. math::
#
#     z = W_2\, \mathrm{relu}(W_1 x + b_1) + b_2, \qquad x \in \mathbb{R}^{784},\;
#     z \in \mathbb{R}^{10} .


class MLP(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.flatten = nn.Flatten()          # (N, 1, 28, 28) -> (N, 784)
        self.fc1 = nn.Linear(28 * 28, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(self.flatten(x))))


model = MLP()
print(model)
print([name for name, _ in model.named_parameters()])
print("learnable scalars:", nn.count_parameters(model), "= 784*128 + 128 + 128*10 + 10")

# %%
# Cross-entropy through the log-softmax
# -------------------------------------
# The softmax turns logits into probabilities,
# :math:`p_c = e^{z_c} / \sum_{c'} e^{z_{c'}}`, and the loss is the mean negative
# log-probability of the true class :math:`t_n`:
#
# .. math::
#
#     L = -\frac{1}{N}\sum_n \log p_{n,t_n}
#       = -\frac{1}{N}\sum_n \Big( z_{n,t_n} - \log \sum_c e^{z_{n,c}} \Big).
#
# Computing :math:`\log\sum e^{z}` naively overflows for large logits; subtracting
# :math:`m = \max_c z_c` first changes nothing mathematically,
# :math:`\log\sum_c e^{z_c} = m + \log\sum_c e^{z_c - m}`, and keeps every
# exponent :math:`\le 0`. The gradient is remarkably simple:
#
# .. math::
#
#     \frac{\partial L}{\partial z_{n,c}} = \frac{1}{N}\big(p_{n,c} - [c = t_n]\big).
z = tm.tensor([[2.0, 1.0, 0.1], [500.0, 0.0, -500.0]], requires_grad=True)
t = np.array([0, 2])
loss = F.cross_entropy(z, t)
loss.backward()

zz = z.data.astype(np.float64)
m = zz.max(axis=1, keepdims=True)
log_p = zz - (m + np.log(np.exp(zz - m).sum(axis=1, keepdims=True)))
by_hand = -log_p[np.arange(2), t].mean()
p = np.exp(log_p)
grad_by_hand = (p - np.eye(3)[t]) / 2
print(f"F.cross_entropy = {loss.item():.4f}   by hand = {by_hand:.4f}")
print("(sample 2 is confidently wrong, -log p = 1000: large, but no overflow at z = 500)")
print("dL/dz by autograd:\n", z.grad, "\n(p - onehot) / N:\n", grad_by_hand)
assert np.isclose(loss.item(), by_hand, rtol=1e-5)
assert np.allclose(z.grad, grad_by_hand, atol=1e-6)

# %%
# The data
# --------
# ``arrays()`` returns the whole split as float32 images in [0, 1], shape
# ``(N, 1, 28, 28)``, and int64 labels. A
# :class:`~tinymin.data.TensorDataset` pairs them and a
# :class:`~tinymin.data.DataLoader` cuts shuffled mini-batches (chapter 4 looks at
# both in detail).
x_train, y_train = EmbeddedMNIST(train=True).arrays()
x_test, y_test = EmbeddedMNIST(train=False).arrays()
x_train, y_train = x_train[:N_TRAIN], y_train[:N_TRAIN]
train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=0)
test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=500)
print(f"train {x_train.shape}, test {x_test.shape}; {len(train_loader)} batches per epoch")
before = evaluate(model, test_loader)
print(f"before training: test loss {before['loss']:.3f}, accuracy {before['accuracy']:.1%} "
      "(chance: ln 10 = 2.303, 10%)")

# %%
# The MLP's graph, one cluster per layer
# --------------------------------------
# One forward and backward pass on two images records the graph that every training
# step below rebuilds. :func:`tinymin.viz.show_graph` with ``params=model`` names the
# parameters (``fc1.weight`` ...) and, with ``group_by_module=True``, draws each layer's
# Functions and parameters in one box, so the picture reads like the ``forward`` method:
# the flattened images (a plain box: flattening data that needs no gradient records
# nothing), ``fc1``, ReLU, ``fc2``, then the loss. After ``backward`` each parameter box
# shows the norm of its gradient. (A rendered picture where Graphviz is installed, the
# DOT text otherwise.)
from tinymin import viz

graph_loss = F.cross_entropy(model(tm.tensor(x_train[:2])), y_train[:2])
graph_loss.backward()
viz.show_graph(graph_loss, params=model, group_by_module=True, title="MLP, after backward")
model.zero_grad()  # the gradients of this one look are not for training

# %%
# The training loop, by hand
# --------------------------
# One optimisation step is always the same four moves:
#
# 1. ``optimizer.zero_grad()``: clear last step's gradients (they accumulate!);
# 2. forward: ``logits = model(x)``, ``loss = F.cross_entropy(logits, y)``;
# 3. ``loss.backward()``: fill every ``p.grad`` with :math:`\partial L/\partial p`;
# 4. ``optimizer.step()``: update, here SGD with momentum (chapter 3),
#    :math:`\theta \leftarrow \theta - \gamma\, b`, :math:`b \leftarrow \mu b + \nabla L`.
#
# We run one epoch like this and keep every batch's loss.
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
model.train()
batch_losses, correct = [], 0
for xb, yb in train_loader:
    optimizer.zero_grad()                     # 1
    logits = model(xb)                        # 2
    loss = F.cross_entropy(logits, yb)
    loss.backward()                           # 3
    optimizer.step()                          # 4
    batch_losses.append(loss.item())
    correct += int((logits.data.argmax(axis=1) == yb.data).sum())
test_after_1 = evaluate(model, test_loader)
epoch1 = {"epoch": 1, "train_loss": float(np.mean(batch_losses)),
          "train_accuracy": correct / N_TRAIN,
          "test_loss": test_after_1["loss"], "test_accuracy": test_after_1["accuracy"]}
print(f"epoch 1 by hand: first batch loss {batch_losses[0]:.3f}, last {batch_losses[-1]:.3f}; "
      f"test accuracy {epoch1['test_accuracy']:.1%}")

# %%
# The same loop, packaged: ``fit``
# --------------------------------
# :func:`tinymin.train.fit` runs exactly those four lines
# (:func:`~tinymin.train.train_step`) over the loader each epoch, evaluates on the
# test loader in ``eval`` mode under ``no_grad``, and returns one row of
# metrics per epoch. It writes no files: after each epoch it calls
# ``on_epoch_end(epoch, row)`` if you give one, and the command line gives its run's
# writer there (:class:`tinymin.experiment.EpochWriter`: ``metrics.csv`` and a
# checkpoint every epoch).
history = fit(model, optimizer, train_loader, epochs=EPOCHS - 1, test_loader=test_loader,
              start_epoch=1, progress=False)
history = [epoch1] + history

# %%
# Learning curves
# ---------------
# Left: the per-batch loss of the hand-written first epoch (grey, drawn between
# epoch 0 and 1), then the mean train loss and the test loss after each epoch.
# Right: accuracy. The train numbers are averages *during* the epoch, while the
# weights still change, so early on they lag the test numbers measured at its
# end. In the full run, training accuracy then climbs past test accuracy: the
# network starts to memorise its 5,000 training digits (overfitting).
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
ax_loss.plot(np.linspace(0, 1, len(batch_losses)), batch_losses, color="0.7", lw=1,
             label="batch loss (epoch 1, by hand)")
ax_loss.plot([row["epoch"] for row in history], [row["train_loss"] for row in history],
             "o-", label="train loss")
ax_loss.plot([row["epoch"] for row in history], [row["test_loss"] for row in history],
             "s-", label="test loss")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("cross-entropy")
ax_loss.set_yscale("log")
ax_loss.legend()
ax_acc.plot([row["epoch"] for row in history], [100 * row["train_accuracy"] for row in history],
            "o-", label="train")
ax_acc.plot([row["epoch"] for row in history], [100 * row["test_accuracy"] for row in history],
            "s-", label="test")
ax_acc.set_xlabel("epoch")
for ax in (ax_loss, ax_acc):
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax_acc.set_ylabel("accuracy (%)")
ax_acc.legend()
fig.suptitle(f"MLP 784-128-10 on {N_TRAIN} embedded MNIST digits, SGD + momentum")
plt.show()

# %%
# What did it learn?
# ------------------
# :func:`tinymin.train.predict` returns the logits of a whole array (in eval mode,
# in batches). We show the first 24 test digits with the predicted class and its
# softmax probability; mistakes are in red.
logits = predict(model, x_test)
probs = np.exp(F.log_softmax(tm.tensor(logits), dim=1).data)
pred = probs.argmax(axis=1)
print(f"test accuracy: {np.mean(pred == y_test):.2%} ({np.sum(pred != y_test)} mistakes "
      f"out of {len(y_test)})")

fig, axes = plt.subplots(3, 8, figsize=(10, 4.3))
for i, ax in enumerate(axes.flat):
    ax.imshow(x_test[i, 0], cmap="gray_r")
    ok = pred[i] == y_test[i]
    ax.set_title(f"{pred[i]} ({probs[i, pred[i]]:.0%})" + ("" if ok else f"\ntrue {y_test[i]}"),
                 color="black" if ok else "red", fontsize=9)
    ax.axis("off")
fig.suptitle("Test digits: prediction (confidence)")
fig.tight_layout()
plt.show()

# %%
# What to remember
# ----------------
# * A ``Module`` registers the ``Parameter`` and ``Module`` attributes it is given;
#   ``parameters()`` finds them all, in definition order.
# * Cross-entropy is the log-softmax of the true class; its gradient is
#   :math:`(p - \text{onehot})/N`.
# * Training is ``zero_grad``, forward, ``backward``, ``step``, over and over;
#   ``fit`` only adds evaluation and bookkeeping.
#
# Exercise: ``matmul_backward``
# -----------------------------
# A linear layer's backward is a matrix product's backward. Write the gradients of
# a batched ``a @ b``, broadcasting included, in the template that
# ``python -m tinymin exercise path matmul_backward`` points to, then check it with
# ``python -m tinymin exercise check matmul_backward --file my_matmul_backward.py``
# (finite differences included; see :doc:`/guides/learning_path`).
