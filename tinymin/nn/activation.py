"""Normalising activations as layers: ``Softmax``, ``LogSoftmax`` and ``LogSigmoid``
(the elementwise ones, ``ReLU``, ``Sigmoid``, ... are in :mod:`tinymin.nn.layers`)."""

from __future__ import annotations

import warnings

from tinymin.nn import functional as F
from tinymin.nn.module import Module
from tinymin.tensor import Tensor

__all__ = ["LogSigmoid", "LogSoftmax", "Softmax"]


def implicit_dim(name: str, ndim: int) -> int:
    """PyTorch's choice when ``dim`` is not given: 0 for 0-, 1- and 3-D inputs, else 1
    (with PyTorch's warning: name the dim)."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """:math:`\\operatorname{softmax}(x)_i = e^{x_i} / \\sum_j e^{x_j}` along ``dim``.

    Parameters
    ----------
    dim : int, optional
        The axis that sums to 1. Give it: without it PyTorch's deprecated guess is used
        (axis 0 for 1-D and 3-D inputs, else axis 1), with a warning.
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        dim = implicit_dim("Softmax", x.ndim) if self.dim is None else self.dim
        return F.softmax(x, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """:math:`\\log\\operatorname{softmax}(x)_i = x_i - \\log \\sum_j e^{x_j}` along ``dim``,
    computed stably (see :class:`Softmax` for ``dim=None``)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        dim = implicit_dim("LogSoftmax", x.ndim) if self.dim is None else self.dim
        return F.log_softmax(x, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSigmoid(Module):
    """:math:`\\log \\sigma(x)` elementwise; see :func:`tinymin.nn.functional.logsigmoid`."""

    def forward(self, x: Tensor) -> Tensor:
        return F.logsigmoid(x)
