"""Containers that hold sub-modules without calling them: ``ModuleList`` and
``ModuleDict``, as in ``torch.nn`` (``Sequential``, which calls them, is in
:mod:`tinymin.nn.layers`)."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tinymin.nn.module import Module

__all__ = ["ModuleDict", "ModuleList"]


def _check_module(owner: str, key: Any, module: Any) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"{owner}: entry {key!r} is a {type(module).__name__}, not a Module")
    return module


def renumber(owner: Module, modules: list[Module]) -> None:
    """Hold ``modules`` under the names ``"0"``, ``"1"``, ... in this order, and nothing
    else (after a deletion or an insertion in a list-like container, as PyTorch)."""
    for name in list(owner._modules):
        delattr(owner, name)
    for index, module in enumerate(modules):
        owner.add_module(str(index), module)


class ModuleList(Module):
    """A list of modules, registered under ``"0"``, ``"1"``, ... so that their
    parameters belong to the owner; indexing, ``append``, ``extend``, ``insert`` and
    ``del`` work as on a list (the names are renumbered after a deletion, as PyTorch).

    It has no ``forward``: the owner decides how to call its entries.
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _entries(self) -> list[Module]:
        return list(self._modules.values())

    def _renumber(self, modules: list[Module]) -> None:
        renumber(self, modules)

    def __getitem__(self, index: int | slice) -> Module | ModuleList:
        if isinstance(index, slice):
            return ModuleList(self._entries()[index])
        return self._entries()[operator.index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        entries = self._entries()
        entries[operator.index(index)] = _check_module("ModuleList", index, module)
        self._renumber(entries)

    def __delitem__(self, index: int | slice) -> None:
        entries = self._entries()
        del entries[index]
        self._renumber(entries)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._entries())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end, under the name ``str(len(self))``."""
        self.add_module(str(len(self)), _check_module("ModuleList", len(self), module))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of ``modules`` (any iterable of modules), in order."""
        if not isinstance(modules, Iterable):
            raise TypeError("ModuleList.extend: expected an iterable of modules, got a "
                            f"{type(modules).__name__}")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        entries = self._entries()
        entries.insert(index, _check_module("ModuleList", index, module))
        self._renumber(entries)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(): iterate over it and call "
                                  "its modules in your own forward()")


class ModuleDict(Module):
    """A dict of modules, registered under their keys (strings), in insertion order.

    Supports ``d[key]``, ``d[key] = module``, ``del d[key]``, ``in``, ``len``,
    iteration over the keys, ``keys()``, ``values()``, ``items()``, ``update()``,
    ``pop()`` and ``clear()``, like a dict and like PyTorch's.
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
                 ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict: keys must be strings, got {type(key).__name__}")
        self.add_module(key, _check_module("ModuleDict", key, module))

    def __delitem__(self, key: str) -> None:
        if key not in self._modules:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> list[str]:
        return list(self._modules.keys())

    def values(self) -> list[Module]:
        return list(self._modules.values())

    def items(self) -> list[tuple[str, Module]]:
        return list(self._modules.items())

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        pairs = modules.items() if isinstance(modules, (Mapping, ModuleDict)) else modules
        for entry in pairs:
            if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
                raise TypeError(f"ModuleDict.update: expected (key, module) pairs, got {entry!r}")
            self[entry[0]] = entry[1]

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        for key in list(self._modules):
            del self[key]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict has no forward(): look up its modules and call "
                                  "them in your own forward()")
