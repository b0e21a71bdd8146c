"""Normalising activations as layers: ``Softmax``, ``LogSoftmax`` and ``LogSigmoid``
(the elementwise ones, ``ReLU``, ``Sigmoid``, ... are in :mod:`tinymin.nn.layers`)."""

from __future__ import annotations

from tinymin.nn import functional as F
from tinymin.nn.module import Module
from tinymin.ops.activation import implicit_dim
from tinymin.tensor import Tensor

__all__ = ["LogSigmoid", "LogSoftmax", "Softmax"]


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
