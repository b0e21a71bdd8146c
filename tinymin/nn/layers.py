"""Basic layers: Linear, activations, Dropout, Dropout2d, Flatten, Identity, Sequential."""

from __future__ import annotations

import math
import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from tinymin.nn import functional as F
from tinymin.nn import init
from tinymin.nn.containers import _check_module, renumber
from tinymin.nn.module import Module
from tinymin.nn.parameter import Parameter, factory_dtype
from tinymin.tensor import Tensor


class Linear(Module):
    """Affine layer :math:`y = x W^\\top + b`, ``W`` of shape ``(out_features, in_features)``.

    Initialised like PyTorch: :math:`W, b \\sim U(-1/\\sqrt{\\text{in}}, 1/\\sqrt{\\text{in}})`.
    ``device`` (the CPU) and ``dtype`` (float32 or float64) as PyTorch's factory
    arguments.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear: sizes must be positive, got {in_features}, {out_features}")
        dt = factory_dtype("Linear", device, dtype)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dt))
        self.bias = Parameter(np.empty(out_features, dtype=dt)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class ReLU(Module):
    """:math:`\\max(x, 0)` as a layer. ``inplace`` is accepted for PyTorch's signature
    (``nn.ReLU(inplace=True)``); the result is always a new tensor."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """Leaky ReLU as a layer; the paper's networks use it after every convolution."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace  # accepted, as ReLU's

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Dropout(Module):
    """Zeroes each element with probability ``p`` in training mode; identity in eval."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p
        self.inplace = inplace  # accepted, as ReLU's

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` (by default all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout2d(Module):
    """Zeroes whole channels with probability ``p`` in training mode; identity in eval.

    For ``(N, C, H, W)`` input (3-D input as PyTorch reads it); see
    :func:`tinymin.nn.functional.dropout2d`.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout2d: p must be in [0, 1], got {p}")
        self.p = p
        self.inplace = inplace  # accepted, as ReLU's

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Identity(Module):
    """Returns its input unchanged; its arguments are accepted and ignored, as in PyTorch."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x


class Sequential(Module):
    """Modules applied one after another; children are named ``"0"``, ``"1"``, ...

    Also accepts an ``OrderedDict`` of named modules, as PyTorch does.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            named = list(modules[0].items())
        else:
            named = [(str(i), m) for i, m in enumerate(modules)]
        for name, module in named:
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: {name} is a {type(module).__name__}, not a Module")
            self.add_module(name, module)

    def forward(self, x: Tensor) -> Tensor:
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index: int | slice) -> Module:
        """The module at ``index``; a slice gives a ``Sequential`` of those modules, with
        their names (as PyTorch), so ``model[:-1](x)`` runs all but the last."""
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    # ---------------------------------------------- editing in place, as PyTorch's
    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end, named ``str(len(self))``."""
        self.add_module(str(len(self)), _check_module("Sequential", len(self), module))
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Put ``module`` before position ``index``; the modules are renumbered."""
        entries = list(self)
        if not -len(entries) <= index <= len(entries):
            raise IndexError(f"Sequential.insert: index {index} is out of range for "
                             f"{len(entries)} modules")
        entries.insert(index, _check_module("Sequential", index, module))
        renumber(self, entries)
        return self

    def __setitem__(self, index: int, module: Module) -> None:
        """Replace the module at ``index``, under the same name."""
        name = list(self._modules)[operator.index(index)]
        setattr(self, name, _check_module("Sequential", index, module))

    def __delitem__(self, index: int | slice) -> None:
        """Remove the module(s) at ``index``; the rest are renumbered, as in PyTorch."""
        entries = list(self)
        del entries[index]
        renumber(self, entries)

    def pop(self, index: int | slice) -> Module:
        module = self[index]
        del self[index]
        return module
