"""Check analytic gradients against central finite differences (in float64)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import numpy as np

from tinymin.autograd import no_grad
from tinymin.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with the numerical one."""


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Compare ``backward`` with central finite differences for every input needing grad.

    The output is reduced to a scalar with a fixed random projection
    :math:`L = \\sum_j r_j\\, f(x)_j`, so every output element is checked. For each
    input element :math:`x_i`:

    .. math::

        \\frac{\\partial L}{\\partial x_i} \\approx
        \\frac{L(x + \\varepsilon e_i) - L(x - \\varepsilon e_i)}{2 \\varepsilon}

    Parameters
    ----------
    fn : callable
        Takes the ``inputs`` (Tensors) and returns a Tensor.
    inputs : sequence of Tensor
        Float64 tensors; those with ``requires_grad=True`` are checked.
    eps, atol, rtol : float
        Step and tolerances: passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.
    seed : int
        Seed of the random projection.

    Returns
    -------
    bool
        True; raises :class:`GradcheckError` naming the input and worst element otherwise.
    """
    inputs = list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 tensors")

    output = fn(*inputs)
    projection = np.random.default_rng(seed).standard_normal(output.shape)
    for i in checked:
        inputs[i].grad = None
    (output * projection).sum().backward()

    for i in checked:
        grad = inputs[i].grad
        analytic = grad.numpy() if grad is not None else np.zeros(inputs[i].shape)
        numeric = _numerical_gradient(fn, inputs, i, projection, eps)
        _compare(i, analytic, numeric, atol, rtol)
    return True


def _numerical_gradient(fn, inputs, index: int, projection: np.ndarray, eps: float) -> np.ndarray:
    """Central differences of ``sum(projection * fn(inputs))`` w.r.t. ``inputs[index]``."""
    data = inputs[index].numpy()
    numeric = np.zeros_like(data)
    with no_grad():
        for position in np.ndindex(data.shape):
            original = data[position]
            data[position] = original + eps
            plus = float((fn(*inputs).numpy() * projection).sum())
            data[position] = original - eps
            minus = float((fn(*inputs).numpy() * projection).sum())
            data[position] = original
            numeric[position] = (plus - minus) / (2 * eps)
    return numeric


def _compare(index: int, analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float):
    error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if np.all(error <= 0):
        return
    worst = np.unravel_index(np.argmax(error), error.shape)
    raise GradcheckError(
        f"gradcheck: input {index}, element {tuple(int(w) for w in worst)}: analytic "
        f"{analytic[worst]:.6g} vs numerical {numeric[worst]:.6g} "
        f"(max abs difference {np.max(np.abs(analytic - numeric)):.3g})"
    )
