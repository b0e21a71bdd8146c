r"""
Chapter 1: Tensors and automatic differentiation
================================================

Training a network means following the gradient of a loss with respect to
millions of weights. Nobody writes those derivatives by hand: the framework
records every operation of the forward pass in a *graph*, then walks it
backwards applying the chain rule. This is **reverse-mode automatic
differentiation**, and it is what :mod:`tinymin.autograd` does in under 300
lines.

In this chapter we

* differentiate a tiny scalar expression by hand, then with ``.backward()``;
* look at the graph the forward pass records (``grad_fn``);
* see how broadcasting is undone in the backward pass (``sum_to``);
* switch recording off with ``tm.no_grad()``;
* watch gradients *accumulate*, and clear them;
* write our own operation as a :class:`tinymin.Function`;
* check it with :func:`tinymin.gradcheck`, and plot a derivative computed by
  autograd next to finite differences.

Run it with ``python tutorials/01_tensors_and_autograd.py``
(``TINYMIN_QUICK=1`` changes nothing here: this chapter is already fast).
"""

# %%
# A tensor is a numpy array with a memory
# ---------------------------------------
# :class:`tinymin.Tensor` wraps a numpy array: ``x.numpy()`` returns it (the same
# memory, no copy). When it is created with ``requires_grad=True`` it is a *leaf* of
# the graph whose gradient we want; ``.grad`` will hold :math:`\partial L / \partial x`
# after ``backward``, as a Tensor (``x.grad.numpy()`` is its array). As in PyTorch,
# ``x.data`` is a Tensor too: the same memory without the history, for updates that
# autograd must not see (``w.data.normal_(0, 0.01)``).
import os

import matplotlib.pyplot as plt
import numpy as np

import tinymin as tm

QUICK = os.environ.get("TINYMIN_QUICK") == "1"  # nothing to shrink in this chapter
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
np.set_printoptions(precision=4, suppress=True)

x = tm.tensor(1.5, requires_grad=True)
w = tm.tensor(-2.0, requires_grad=True)
print(x, "| data:", x.numpy(), type(x.numpy()).__name__, x.dtype, "| leaf:", x.is_leaf)

# %%
# The chain rule by hand
# ----------------------
# Take :math:`L = \tanh(w x)^2`, built from three simple steps
#
# .. math::
#
#     a = w x, \qquad b = \tanh(a), \qquad L = b^2 .
#
# The chain rule multiplies the local derivatives along the path from
# :math:`L` back to each leaf:
#
# .. math::
#
#     \frac{\partial L}{\partial x}
#       = \underbrace{2b}_{\partial L/\partial b}\;
#         \underbrace{(1 - b^2)}_{\partial b/\partial a}\;
#         \underbrace{w}_{\partial a/\partial x},
#     \qquad
#     \frac{\partial L}{\partial w} = 2b\,(1 - b^2)\,x .
#
# Reverse mode computes exactly this, right to left, starting from
# :math:`\partial L/\partial L = 1`.
a_ = w.item() * x.item()
b_ = np.tanh(a_)
dL_db = 2 * b_
dL_da = dL_db * (1 - b_**2)
by_hand = {"x": dL_da * w.item(), "w": dL_da * x.item()}
print(f"by hand:   dL/dx = {by_hand['x']:.6f}   dL/dw = {by_hand['w']:.6f}")

# %%
# The same with ``.backward()``
# -----------------------------
# We write only the forward pass; every operation records its own local
# derivative, and ``backward`` multiplies them along the graph.
from tinymin.nn import functional as F

a = w * x
b = F.tanh(a)
L = b * b
L.backward()
print(f"autograd:  dL/dx = {x.grad.item():.6f}   dL/dw = {w.grad.item():.6f}")
assert np.isclose(x.grad.item(), by_hand["x"], rtol=1e-5)
assert np.isclose(w.grad.item(), by_hand["w"], rtol=1e-5)

# %%
# The graph
# ---------
# Every tensor produced by an operation remembers the node that made it,
# ``grad_fn`` (a :class:`tinymin.autograd.Context`): which ``Function`` ran,
# on which inputs, and what it saved for the backward pass. Leaves have no
# ``grad_fn``. Walking ``grad_fn.inputs`` from ``L`` prints the whole graph,
# exactly what ``backward`` visits (in reverse topological order). ``b`` feeds
# ``L = b * b`` twice, so ``MulBackward`` returns two gradients for it, which
# ``backward`` adds before going further down.
print("L =", L)


def show_graph(t, depth=0, seen=None):
    seen = set() if seen is None else seen
    name = t.grad_fn.name if t.grad_fn is not None else "leaf"
    again = "  (used twice: shown above)" if id(t) in seen else ""
    print("    " * depth + f"{name}  value={float(t.numpy()):.4f}{again}")
    if t.grad_fn is None or id(t) in seen:
        return
    seen.add(id(t))
    for parent in t.grad_fn.inputs:
        if isinstance(parent, tm.Tensor) and parent.requires_grad:
            show_graph(parent, depth + 1, seen)


show_graph(L)

# %%
# The graph, drawn
# ----------------
# :func:`tinymin.viz.to_dot` writes the same walk in Graphviz's DOT language:
# tensors as boxes (name, shape, dtype, the value of a one-element tensor and, after
# ``backward``, the norm of its gradient), Functions as ovals. Where Graphviz is
# installed (``pip install -e ".[graph]"`` and the ``dot`` program),
# :func:`tinymin.viz.show_graph` draws it as a picture; elsewhere it prints the DOT
# text, which any Graphviz viewer renders. ``draw_graph(L, "graph.png")`` writes the
# picture to a file (or the ``.dot`` file, with the command that renders it).
#
# The same expression again, on fresh leaves, before ``backward``:
from tinymin import viz

x2 = tm.tensor(1.5, requires_grad=True)
w2 = tm.tensor(-2.0, requires_grad=True)
b2 = F.tanh(w2 * x2)
L2 = b2 * b2
viz.show_graph(L2, params={"x": x2, "w": w2}, title="before backward")

# %%
# and after it: the leaves now carry ``|grad|``, the same numbers as ``x.grad``
# and ``w.grad`` above (the intermediate tensors keep no gradient unless they
# call ``retain_grad()``).
L2.backward()
viz.show_graph(L2, params={"x": x2, "w": w2}, title="after backward")

# %%
# Broadcasting and ``sum_to``
# ---------------------------
# Adding a bias of shape ``(3,)`` to a batch of shape ``(4, 3)`` *copies* the bias
# to every row. Each copy contributes to the loss, so the gradient of the bias is
# the **sum** over the copies:
#
# .. math::
#
#     y_{ij} = h_{ij} + b_j \quad\Longrightarrow\quad
#     \frac{\partial L}{\partial b_j} = \sum_i \frac{\partial L}{\partial y_{ij}} .
#
# One helper, :func:`tinymin.autograd.sum_to`, undoes any broadcast this way; every
# broadcasting op (``+ - * /``) calls it in its backward.
from tinymin.autograd import sum_to

h = tm.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
bias = tm.tensor([0.1, 0.2, 0.3], requires_grad=True)
y = h + bias                      # (4, 3) + (3,) -> (4, 3)
y.backward(np.ones((4, 3)))       # a non-scalar output needs an explicit dL/dy
print("bias.grad =", bias.grad, " (4 rows, each contributing 1)")
print("sum_to(ones(4, 2, 3), (1, 3)) =", sum_to(np.ones((4, 2, 3)), (1, 3)))

# %%
# Switching the graph off: ``no_grad``
# ------------------------------------
# Recording costs memory (every node keeps its inputs). Evaluation and the
# optimizer's parameter updates need no gradient, so they run inside
# ``tm.no_grad()``: the results are plain tensors without ``grad_fn``.
with tm.no_grad():
    z = w * x
print("inside no_grad: requires_grad =", z.requires_grad, ", grad_fn =", z.grad_fn)
print("outside:        requires_grad =", (w * x).requires_grad, ", grad_fn =", (w * x).grad_fn)

# %%
# Gradients accumulate
# --------------------
# ``backward`` *adds* into ``.grad``; it never overwrites. That is what lets a
# parameter used in two places get the sum of both contributions, and it is why
# every training step starts with ``optimizer.zero_grad()``. Forget it, and the
# second step uses the sum of two gradients:
#
# .. math::
#
#     L = 3x \;\Rightarrow\; \partial L/\partial x = 3,
#     \qquad \text{after two backward calls: } 3 + 3 = 6 .
v = tm.tensor(1.0, requires_grad=True)
(3 * v).backward()
print("after one backward:  v.grad =", v.grad)
(3 * v).backward()
print("after two backwards: v.grad =", v.grad, " <- accumulated")
v.grad = None                     # what zero_grad(set_to_none=True) does
(3 * v).backward()
print("after clearing:      v.grad =", v.grad)

# %%
# Your own operation: a ``tm.Function``
# -------------------------------------
# A new primitive is a subclass of :class:`tinymin.Function` with two static
# methods side by side: ``forward`` (numpy in, numpy out) and ``backward``
# (gradient of the output in, one gradient per input out). ``ctx`` carries what
# the forward pass wants to remember. Here is :math:`\sin`, with
#
# .. math::
#
#     y = \sin x, \qquad \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\cos x .


class Sin(tm.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)          # backward needs x to compute cos(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * np.cos(x)    # one gradient per input of forward


t = tm.tensor(0.5, requires_grad=True)
s = Sin.apply(t)
s.backward()
print(f"{s}  d/dx sin(x) at 0.5 = {t.grad.item():.6f}  (cos 0.5 = {np.cos(0.5):.6f})")

# %%
# Checking a backward: ``gradcheck``
# ----------------------------------
# A wrong backward trains badly but silently. :func:`tinymin.gradcheck`
# compares it with central finite differences, in float64, for every element:
#
# .. math::
#
#     \frac{\partial L}{\partial x_i} \approx
#     \frac{L(x + \varepsilon e_i) - L(x - \varepsilon e_i)}{2\varepsilon} .
#
# It returns True, or raises naming the worst element. Below it checks our
# ``Sin`` composed with built-in ops, then catches a deliberately wrong backward.
def f(x):
    return Sin.apply(x) * (-(x * x) / 4).exp()


x64 = tm.tensor(np.linspace(-3, 3, 7), requires_grad=True, dtype=np.float64)
print("gradcheck(f):", tm.gradcheck(f, [x64]))


class WrongSin(Sin):
    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * np.sin(x)    # a typo: sin instead of cos


try:
    tm.gradcheck(WrongSin.apply, [x64])
except AssertionError as err:
    print("gradcheck(WrongSin) failed, as it should:\n   ", err)

# %%
# A derivative, three ways
# ------------------------
# For :math:`f(x) = \sin(x)\, e^{-x^2/4}` the derivative is
#
# .. math::
#
#     f'(x) = \Big(\cos x - \frac{x}{2}\sin x\Big)\, e^{-x^2/4} .
#
# Because :math:`f` acts elementwise, one ``backward`` of :math:`\sum_i f(x_i)`
# gives :math:`f'(x_i)` at every point at once. We compare it with the formula
# and with finite differences.
grid = np.linspace(-6, 6, 241)
xs = tm.tensor(grid, requires_grad=True, dtype=np.float64)
f(xs).sum().backward()
autograd_df = xs.grad.numpy()
formula_df = (np.cos(grid) - grid / 2 * np.sin(grid)) * np.exp(-grid**2 / 4)
eps = 1e-5
with tm.no_grad():
    fd_df = (f(tm.tensor(grid + eps)).numpy() - f(tm.tensor(grid - eps)).numpy()) / (2 * eps)
print(f"max |autograd - formula|            = {np.abs(autograd_df - formula_df).max():.2e}")
print(f"max |autograd - finite differences| = {np.abs(autograd_df - fd_df).max():.2e}")

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
ax.plot(grid, f(tm.tensor(grid)).numpy(), color="0.3", label=r"$f(x) = \sin(x)\,e^{-x^2/4}$")
ax.plot(grid, autograd_df, linewidth=3, alpha=0.6, label=r"$f'(x)$ by autograd")
ax.plot(grid[::6], fd_df[::6], "o", markersize=4, label=r"$f'(x)$ by finite differences")
ax.axhline(0, color="0.8", linewidth=0.8)
ax.set_xlabel("x")
ax.legend()
ax.set_title("One backward pass gives the derivative at every point")
plt.show()

# %%
# What to remember
# ----------------
# * The forward pass builds the graph; ``backward`` walks it in reverse and
#   applies one local derivative per node.
# * Broadcasting in forward becomes a sum in backward (``sum_to``).
# * Gradients accumulate: clear them before each step.
# * A new op is a ``Function`` with ``forward``/``backward`` side by side; verify
#   it with ``gradcheck``.
#
# Chapter 2 builds layers, losses and a training loop on top of this.

# %%
# Exercise
# --------
# **sum_to**: rebuild :func:`~tinymin.autograd.sum_to`, the backward of broadcasting;
# the checker runs it against tinymin's own on edge cases, random broadcasts and an
# adjoint check.
#
# .. code-block:: bash
#
#     python -m tinymin exercise start sum_to    # writes my_sum_to.py to fill in
#     python -m tinymin exercise check sum_to --file my_sum_to.py
#     python -m tinymin exercise hint sum_to 1   # stuck? 2 and 3 say more
#
# **Try this:** broadcast a ``(3, 1)`` tensor against a ``(4, 3, 5)`` one, call
# ``backward``, and say the gradient's shape before you print it.
#
# The checker, its hints and ``exercise status``: :doc:`/guides/learning_path`.
