r"""
Chapter 3: Optimizers
=====================

``loss.backward()`` tells us which way is downhill; the *optimizer* decides how
far to go. In this chapter we write four update rules in a few lines of numpy
each (plain SGD, momentum, Nesterov momentum and Adam), check that
:mod:`tinymin.optim` computes exactly the same steps, race them on a famously
awkward 2-D function, and finish with learning-rate schedules.

Every optimizer in :mod:`tinymin.optim` follows PyTorch's conventions:
``optimizer.zero_grad()``, ``loss.backward()``, ``optimizer.step()``, with the
hyper-parameters in ``optimizer.param_groups`` and per-parameter buffers in
``optimizer.state``. ``TINYMIN_QUICK=1`` runs fewer steps.
"""

# %%
# The test function: Rosenbrock's valley
# --------------------------------------
# .. math::
#
#     f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2,
#
# minimum :math:`f = 0` at :math:`(1, 1)`, at the bottom of a long, narrow,
# curved valley. Its gradient is
#
# .. math::
#
#     \nabla f = \begin{pmatrix} -2(1 - x) - 400\,x\,(y - x^2) \\ 200\,(y - x^2) \end{pmatrix}.
#
# We write :math:`f` with tinymin tensors (autograd gives the gradient) and the
# gradient in numpy (for the hand-written optimizers), and check they agree.
import os

import matplotlib.pyplot as plt
import numpy as np

import tinymin as tm
from tinymin import optim
from tinymin.nn import Parameter

QUICK = os.environ.get("TINYMIN_QUICK") == "1"
print("mode:", "quick (TINYMIN_QUICK=1): less data, fewer steps; smoke-test numbers" if QUICK
      else "full: the numbers the text discusses")
STEPS = 500 if QUICK else 2000
START = np.array([-1.5, 2.0])
np.set_printoptions(precision=6, suppress=True)


def rosenbrock(p):
    """f(p) for a tensor p = (x, y): tinymin ops, so autograd can differentiate it."""
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_grad(p):
    """The gradient in plain numpy, for the hand-written optimizers."""
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


p = tm.tensor(START, requires_grad=True)
rosenbrock(p).backward()
print("autograd:", p.grad, " numpy formula:", rosenbrock_grad(START))

# %%
# Why it is hard: curvature
# -------------------------
# Near the minimum :math:`f` is a quadratic with Hessian :math:`H`. Gradient
# descent with step :math:`\gamma` is stable only if :math:`\gamma < 2/\lambda_{\max}(H)`,
# but then it crawls along the direction of :math:`\lambda_{\min}`: the number of
# steps grows with the *condition number* :math:`\lambda_{\max}/\lambda_{\min}`.
H = np.array([[802.0, -400.0], [-400.0, 200.0]])  # Hessian of f at (1, 1)
eig = np.linalg.eigvalsh(H)
print(f"Hessian eigenvalues at the minimum: {eig}, condition number {eig[1] / eig[0]:.0f}")
print(f"plain gradient descent is stable for lr < 2 / lambda_max = {2 / eig[1]:.5f}")

# %%
# Four update rules in numpy
# --------------------------
# With gradient :math:`g_t` and learning rate :math:`\gamma`:
#
# **SGD**: :math:`\theta_t = \theta_{t-1} - \gamma\, g_t`.
#
# **Momentum** (PyTorch's form, :math:`b_1 = g_1`): a running sum of past
# gradients, so steps grow along directions where gradients agree and cancel where
# they oscillate,
#
# .. math::
#
#     b_t = \mu\, b_{t-1} + g_t, \qquad \theta_t = \theta_{t-1} - \gamma\, b_t .
#
# **Nesterov**: the same buffer, but the step looks one momentum step ahead,
# :math:`\theta_t = \theta_{t-1} - \gamma\,(g_t + \mu\, b_t)`.
#
# **Adam**: per-coordinate steps, scaled by running estimates of the gradient's
# first and second moments, bias-corrected because both start at zero:
#
# .. math::
#
#     m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
#     v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \\
#     \hat m_t &= \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t}, \qquad
#     \theta_t = \theta_{t-1} - \gamma\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} .


def sgd_numpy(theta, g, state, lr):
    return theta - lr * g


def momentum_numpy(theta, g, state, lr, mu=0.9, nesterov=False):
    b = g.copy() if "b" not in state else mu * state["b"] + g
    state["b"] = b
    return theta - lr * (g + mu * b if nesterov else b)


def adam_numpy(theta, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps)


# %%
# Checking them against ``tinymin.optim``
# ---------------------------------------
# Each pair starts from the same point and takes 20 steps on :math:`f`; the
# tinymin side uses autograd and ``optimizer.step()``, the numpy side the formula
# above. The parameters must agree to rounding error at every step. The learning
# rates are the ones we will race with below.
CONTENDERS = {
    "SGD": (lambda ps: optim.SGD(ps, lr=1.5e-3),
            lambda th, g, s: sgd_numpy(th, g, s, lr=1.5e-3)),
    "momentum": (lambda ps: optim.SGD(ps, lr=1e-3, momentum=0.9),
                 lambda th, g, s: momentum_numpy(th, g, s, lr=1e-3)),
    "Nesterov": (lambda ps: optim.SGD(ps, lr=1e-3, momentum=0.9, nesterov=True),
                 lambda th, g, s: momentum_numpy(th, g, s, lr=1e-3, nesterov=True)),
    "Adam": (lambda ps: optim.Adam(ps, lr=0.05),
             lambda th, g, s: adam_numpy(th, g, s, lr=0.05)),
}


def run_tinymin(make_optimizer, steps):
    """Optimise f with a tinymin optimizer; return the path (steps+1, 2) and losses."""
    param = Parameter(START.copy())             # float64: START is a float64 array
    optimizer = make_optimizer([param])
    path, losses = [param.data.copy()], []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = rosenbrock(param)
        loss.backward()
        optimizer.step()
        path.append(param.data.copy())
        losses.append(loss.item())
    return np.array(path), np.array(losses)


def run_numpy(update, steps):
    theta, state, path = START.copy(), {}, [START.copy()]
    for _ in range(steps):
        theta = update(theta, rosenbrock_grad(theta), state)
        path.append(theta)
    return np.array(path)


for name, (make_optimizer, update) in CONTENDERS.items():
    ours, _ = run_tinymin(make_optimizer, 20)
    ref = run_numpy(update, 20)
    print(f"{name:9s} max |tinymin - numpy| over 20 steps = {np.abs(ours - ref).max():.2e}"
          f"   after 3 steps: {ours[3]}")
    assert np.allclose(ours, ref, rtol=1e-10, atol=1e-12)

# %%
# A look at the optimizer's state
# -------------------------------
# ``param_groups`` holds the hyper-parameters, ``state[p]`` the buffers the rule
# needs: the momentum buffer :math:`b_t`, or Adam's step count and moments.
param = Parameter(START.copy())
adam = optim.Adam([param], lr=0.05)
for _ in range(3):
    adam.zero_grad()
    rosenbrock(param).backward()
    adam.step()
print("param_groups[0]:", {k: v for k, v in adam.param_groups[0].items() if k != "params"})
print("state:", {k: v for k, v in adam.state[param].items()})

# %%
# The race
# --------
# Each optimizer gets the same start :math:`(-1.5, 2)` and the same number of
# steps, with a learning rate close to the largest that stays stable. (These were
# picked by trying a few values; a larger SGD step diverges.)
results = {name: run_tinymin(make, STEPS) for name, (make, _) in CONTENDERS.items()}
for name, (path, losses) in results.items():
    print(f"{name:9s} after {STEPS} steps: (x, y) = {path[-1]}, f = {losses[-1]:.2e}")

# %%
# Trajectories on the contour map of :math:`\log_{10} f`. Plain SGD's step is
# limited by the steep walls: it bounces across the valley at first, then crawls
# along the flat floor. Momentum and Nesterov overshoot early (the buffer needs a
# few steps to turn), then pick up speed along the floor. Adam's per-coordinate
# scaling makes every step about :math:`\gamma` long in each coordinate,
# whatever the size of the gradient, so it walks down the floor at a steady pace.
colors = {"SGD": "C0", "momentum": "C1", "Nesterov": "C2", "Adam": "C3"}
widths = {"SGD": 1.0, "momentum": 3.5, "Nesterov": 1.5, "Adam": 1.0}
gx, gy = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-1, 3, 300))
gf = (1 - gx) ** 2 + 100 * (gy - gx**2) ** 2
fig, ax = plt.subplots(figsize=(7, 6))
ax.contour(gx, gy, np.log10(gf + 1e-3), levels=20, colors="0.75", linewidths=0.7)
for name, (path, _) in results.items():
    ax.plot(path[:, 0], path[:, 1], "-", color=colors[name], lw=widths[name], alpha=0.8,
            label=name)
ax.plot(*START, "ko", label="start")
ax.plot(1, 1, "*", color="gold", ms=15, mec="k", label="minimum (1, 1)")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.legend(loc="lower right")
ax.set_title(f"{STEPS} steps on the Rosenbrock function (contours of log f)")
plt.show()

# %%
# Loss against step, on a log scale: the speed-up from momentum is orders of
# magnitude here.
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
for name, (_, losses) in results.items():
    ax.plot(np.arange(1, STEPS + 1), losses, color=colors[name], label=name)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel(r"$f(x_t, y_t)$")
ax.legend()
ax.set_title("Loss against step")
plt.show()

# %%
# Learning-rate schedules
# -----------------------
# Large steps early, small steps late: a scheduler rewrites each group's ``"lr"``
# once per epoch (call ``scheduler.step()`` after the epoch's optimizer steps).
# With :math:`\eta_0` the initial rate and :math:`e` the epoch,
#
# .. math::
#
#     \text{StepLR:}\quad \eta_e = \eta_0\, \gamma^{\lfloor e / s \rfloor},
#     \qquad
#     \text{CosineAnnealingLR:}\quad
#     \eta_e = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})\Big(1 + \cos\frac{\pi e}{T_{\max}}\Big).
#
# We record the rate each scheduler sets over 60 epochs and check it against the
# formulas.
EPOCHS = 60
schedules = {}
for name, make in {
    "StepLR(step_size=20, gamma=0.3)":
        lambda o: optim.StepLR(o, step_size=20, gamma=0.3),
    "CosineAnnealingLR(T_max=60, eta_min=0.001)":
        lambda o: optim.CosineAnnealingLR(o, T_max=EPOCHS, eta_min=0.001),
}.items():
    optimizer = optim.SGD([Parameter(np.zeros(1))], lr=0.1)
    scheduler = make(optimizer)
    lrs = []
    for _epoch in range(EPOCHS + 1):
        lrs.append(optimizer.param_groups[0]["lr"])   # the rate used during this epoch
        scheduler.step()
    schedules[name] = np.array(lrs)

e = np.arange(EPOCHS + 1)
assert np.allclose(schedules["StepLR(step_size=20, gamma=0.3)"], 0.1 * 0.3 ** (e // 20))
assert np.allclose(schedules["CosineAnnealingLR(T_max=60, eta_min=0.001)"],
                   0.001 + 0.5 * (0.1 - 0.001) * (1 + np.cos(np.pi * e / EPOCHS)))
print("both schedules match their formulas")

fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
for name, lrs in schedules.items():
    ax.step(e, lrs, where="post", label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("learning rate")
ax.legend()
ax.set_title(r"Learning-rate schedules from $\eta_0 = 0.1$")
plt.show()

# %%
# What to remember
# ----------------
# * An optimizer is a few lines of arithmetic per parameter, plus a buffer.
# * Ill-conditioning limits plain SGD: the stable step is set by the steepest
#   direction, progress by the flattest. Momentum and Adam are two answers.
# * Schedules are closed-form functions of the epoch; call ``scheduler.step()``
#   once per epoch.

# %%
# Exercise
# --------
# **adam**: write one Adam update with its bias correction, the equations of this
# chapter, checked step after step against :class:`tinymin.optim.Adam`.
#
# .. code-block:: bash
#
#     python -m tinymin exercise start adam    # writes my_adam.py to fill in
#     python -m tinymin exercise check adam --file my_adam.py
#     python -m tinymin exercise hint adam 1   # stuck? 2 and 3 say more
#
# **Try this:** rerun the valley above with ``betas=(0.0, 0.999)``: without the first
# moving average, how does Adam's path change?
#
# The checker, its hints and ``exercise status``: :doc:`/guides/learning_path`.
