"""micrograd's "more ops" check, spelled with tinymin and compared with PyTorch.

micrograd (Karpathy) checks its engine on one expression that mixes ``+ - * / **``,
``relu``, a reflected ``10.0 / f`` and in-place ``c += ...`` / ``d += ...`` on tensors
that are already in the graph. Here the same kind of expression is built twice, on
0-d tensors of tinymin and of torch, from the same code; the values and both
gradients must agree.
"""

import numpy as np
import pytest

import tinymin as tm

torch = pytest.importorskip("torch", reason="the oracle tests compare with PyTorch (pip install torch)")


def expression(lib, x, y):
    """An expression in micrograd's style; returns (inputs, output)."""
    a = lib.tensor(x, dtype=lib.float64, requires_grad=True)
    b = lib.tensor(y, dtype=lib.float64, requires_grad=True)
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    return a, b, g


@pytest.mark.parametrize("x, y", [(-4.0, 2.0), (1.5, -0.5), (0.3, 0.7)])
def test_values_and_gradients_match_torch(x, y):
    a, b, g = expression(tm, x, y)
    ta, tb, tg = expression(torch, x, y)
    np.testing.assert_allclose(g.item(), tg.item(), rtol=1e-12)
    np.testing.assert_allclose(a.grad.item(), ta.grad.item(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.item(), tb.grad.item(), rtol=1e-12)


def test_the_readme_numbers():
    """micrograd's README prints g = 24.7041, a.grad = 138.8338, b.grad = 645.5773."""
    a, b, g = expression(tm, -4.0, 2.0)
    assert f"{g.item():.4f} {a.grad.item():.4f} {b.grad.item():.4f}" == "24.7041 138.8338 645.5773"
