"""Dropout: zero random activations while training, scale the rest."""

from __future__ import annotations

from tinymin.random import default_rng
from tinymin.tensor import Tensor


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: keep each element with probability :math:`1-p`.

    .. math::

        y = \\frac{m \\odot x}{1 - p}, \\qquad m_i \\sim \\operatorname{Bernoulli}(1 - p)

    so :math:`\\mathbb{E}[y] = x` and evaluation needs no rescaling. The mask comes from
    tinymin's seeded generator.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = default_rng().random(x.shape) >= p
    scale = (keep / (1 - p)).astype(x.dtype)
    return x * scale
