"""Dropout: zero random activations (or whole channels) while training, scale the rest."""

from __future__ import annotations

import warnings

from tinymin.random import default_rng
from tinymin.tensor import Tensor


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: keep each element with probability :math:`1-p`.

    .. math::

        y = \\frac{m \\odot x}{1 - p}, \\qquad m_i \\sim \\operatorname{Bernoulli}(1 - p)

    so :math:`\\mathbb{E}[y] = x` and evaluation needs no rescaling. The mask comes from
    tinymin's seeded generator. ``inplace`` is accepted for PyTorch's signature; the
    result is always a new tensor.
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


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Channel dropout: keep each whole feature map with probability :math:`1-p`.

    .. math::

        y_{n,c} = \\frac{m_{n,c}\\, x_{n,c}}{1 - p}, \\qquad
        m_{n,c} \\sim \\operatorname{Bernoulli}(1 - p)

    one draw per ``(sample, channel)`` shared by all the channel's pixels (neighbouring
    pixels are correlated, so per-pixel dropout regularises convolutions little).

    Parameters
    ----------
    x : Tensor
        ``(N, C, H, W)``. A 3-D input is read as PyTorch (still) reads it, with its
        warning: as ``(N, C, L)``, one draw per ``(n, c)``.
    p, training
        As :func:`dropout`.
    inplace : bool
        Accepted for PyTorch's signature; the result is always a new tensor.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout2d: p must be in [0, 1], got {p}")
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected (N, C, H, W) or (N, C, L) input, got {x.shape}")
    if x.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L), where C is the channel dim (as PyTorch does).",
                      UserWarning, stacklevel=3)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    mask_shape = x.shape[:2] + (1,) * (x.ndim - 2)
    keep = default_rng().random(mask_shape) >= p
    return x * (keep / (1 - p)).astype(x.dtype)
