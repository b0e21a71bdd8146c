"""``Module``: the base class of every layer and network, shaped like PyTorch's."""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Iterator, Mapping
from typing import Any, Callable

import numpy as np

from tinymin.device import gpu_error, parse_to_args
from tinymin.dtypes import as_dtype
from tinymin.nn.parameter import Parameter
from tinymin.tensor import Tensor

#: Returned by :meth:`Module.load_state_dict`, as in PyTorch.
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class for layers and networks.

    Subclasses create parameters and sub-modules in ``__init__`` (plain attribute
    assignment registers them, in definition order) and compute in ``forward``.
    Calling the module calls ``forward``.
    """

    def __init__(self) -> None:
        # object.__setattr__ because our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())

    # ------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        """Register Parameters and Modules by the attribute name they are given."""
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() first")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            if value is not None and not isinstance(value, (np.ndarray, Tensor)):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(numpy array, Tensor or None expected)")
            object.__setattr__(self, name, value)  # a buffer being updated stays a buffer
            return
        if isinstance(value, (Parameter, Module)):  # a buffer of that name stops being one
            self._buffers.pop(name, None)
            self._non_persistent_buffers.discard(name)
        # Replacing an entry keeps its place (dict order is definition order).
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._modules[name] = value
        else:
            for registry, kind in ((self._parameters, "parameter"), (self._modules, "module")):
                if name in registry and value is not None:  # as PyTorch: not dropped silently
                    expected = "tinymin.nn.Parameter" if kind == "parameter" else "Module"
                    raise TypeError(f"cannot assign '{type(value).__name__}' as {kind} "
                                    f"'{name}' ({expected} or None expected)")
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        self._non_persistent_buffers.discard(name)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: np.ndarray | Tensor | None,
                        persistent: bool = True) -> None:
        """Add state that is not learned (running means), as ``torch.nn.Module``'s.

        A persistent buffer is saved in ``state_dict`` and loaded by
        ``load_state_dict``; ``persistent=False`` keeps it out of both (a cache, a
        constant the module rebuilds). ``None`` declares the name without a value:
        skipped by ``named_buffers`` and ``state_dict`` until an array is assigned.
        Assigning the attribute later keeps the name a buffer.

        Raises
        ------
        KeyError
            If ``name`` is empty, holds a ``"."`` or is already another attribute.
        TypeError
            If ``name`` is not a string, or ``tensor`` is not an array, a Tensor or None.
        """
        self._check_new_name("buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, (np.ndarray, Tensor)):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer "
                            f"'{name}' (numpy array, Tensor or None required)")
        object.__setattr__(self, name, tensor)
        self._buffers[name] = None  # the attribute holds the value; this marks the name
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add ``param`` under ``name``, as assigning the attribute would, with PyTorch's checks.

        ``None`` declares the name without a value (a layer without bias): it is skipped by
        ``named_parameters`` and ``state_dict`` until a Parameter is registered under it.
        """
        self._check_new_name("parameter", name)
        if hasattr(self, name) and name not in self._parameters and getattr(self, name) is not None:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(tinymin.nn.Parameter or None required)")
        setattr(self, name, param)

    def _check_new_name(self, kind: str, name: Any) -> None:
        """PyTorch's checks of a ``kind`` ("buffer", "parameter") name being registered."""
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() first")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')

    def add_module(self, name: str, module: Module) -> None:
        setattr(self, name, module)

    # --------------------------------------------------------------- traversal
    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs in definition order, each parameter once."""
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield _join(module_name, name), param

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """``(name, buffer)`` pairs, persistent or not; a name declared with None is skipped."""
        for module_name, module in self.named_modules(prefix):
            for name in module._buffers:
                value = getattr(module, name)
                if value is not None:
                    yield _join(module_name, name), value

    def buffers(self) -> Iterator[np.ndarray]:
        for _, buf in self.named_buffers():
            yield buf

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules with their names, in definition order; a module held
        under two names (a tied layer) once, under its first, as in PyTorch."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct sub-modules (see :meth:`named_children`)."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True
                      ) -> Iterator[tuple[str, Module]]:
        """This module and all below it, depth first, in definition order; a module
        reached by two names (tied layers) once, unless ``remove_duplicate=False``."""
        stack = [(prefix, self)]
        seen: set[int] = set()
        while stack:
            name, module = stack.pop()
            if remove_duplicate and id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(_join(name, n), m) for n, m in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def get_submodule(self, target: str) -> Module:
        """The sub-module at the dotted path ``target`` (``"0.conv"``; ``""`` is this
        module), as PyTorch's."""
        module = self
        for name in target.split(".") if target else []:
            if not isinstance(module._modules.get(name), Module):
                raise AttributeError(f"{type(module).__name__} has no sub-module {name!r} "
                                     f"(in {target!r})")
            module = module._modules[name]
        return module

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` of every parameter (``False`` freezes the module, as
        when fine-tuning only its last layers); returns the module, as PyTorch's."""
        for parameter in self.parameters():
            parameter.requires_grad = bool(requires_grad)
        return self

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every sub-module, then on this one, in PyTorch's order: each
        child's whole subtree first (children in definition order), the module last."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch statistics used) recursively."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Set evaluation mode: ``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of all parameters."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad.zero_()

    def astype(self, dtype: Any) -> Module:
        """Convert parameters and floating buffers in place to ``dtype``."""
        for param in self.parameters():
            param.data = param.data.type(dtype)
            param.grad = None
        for module in self.modules():
            for name in module._buffers:
                value = getattr(module, name)
                if isinstance(value, Tensor) and value.is_floating_point():
                    object.__setattr__(module, name, value.type(dtype))  # stays a Tensor
                elif isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
                    object.__setattr__(module, name, value.astype(dtype))
        return self

    def double(self) -> Module:
        return self.astype(np.float64)

    def float(self) -> Module:
        return self.astype(np.float32)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, as ``torch.nn.Module.to``:
        this module itself, its floating parameters and buffers converted in place to a
        float ``dtype`` if one is given. The device must be the CPU (a GPU raises the
        error that names ``--engine torch``)."""
        _, dtype, _ = parse_to_args("Module.to", args, kwargs)
        if dtype is not None:
            dtype = as_dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to: only floating-point dtypes, got {dtype}")
            self.astype(dtype)
        return self

    def cpu(self) -> Module:
        """This module: it is on the CPU already."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Refused with the error that names tinymin's PyTorch engine."""
        raise gpu_error("Module.cuda()", "cuda" if device is None else device)

    # ---------------------------------------------------------- serialisation
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and persistent buffer, keyed like PyTorch (``"0.weight"``):
        a layer or parameter tied under two names is saved under both, as PyTorch does."""
        state: OrderedDict[str, np.ndarray] = OrderedDict()
        for module_name, module in self.named_modules(remove_duplicate=False):
            for name, param in module._parameters.items():
                state[_join(module_name, name)] = param.numpy().copy()
            for name in module._saved_buffers():
                state[_join(module_name, name)] = np.array(getattr(module, name), copy=True)
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` (numpy arrays or Tensors) into this module.

        All or nothing: every key, shape and dtype is checked before anything is copied,
        so a failure leaves the module as it was. A value must cast to the model's dtype
        under numpy's ``same_kind`` rule (float64 into float32 is fine, float into an
        integer buffer or a complex number into a float parameter is not).

        Raises
        ------
        RuntimeError
            With ``strict=True`` when keys are missing or unexpected, and always when a
            shape or dtype does not fit; the message names every offending key.
        """
        own = self._state_slots()
        # a tied layer or parameter is one slot under two names: either name fills it
        # (tinymin's checkpoints before 2026-12-08 held the first name only)
        filled = {(id(m), name) for k, (m, name, _) in own.items() if k in state_dict}
        missing = [k for k, (m, name, _) in own.items()
                   if k not in state_dict and (id(m), name) not in filled]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        values = {}
        for key, (module, name, is_param) in own.items():
            if key not in state_dict:
                continue
            value = np.asarray(state_dict[key])
            current = np.asarray(module._parameters[name].numpy() if is_param else getattr(module, name))
            if value.shape != current.shape:
                problems.append(f"{key}: checkpoint shape {value.shape} != model shape {current.shape}")
            elif not np.can_cast(value.dtype, current.dtype, casting="same_kind"):
                problems.append(f"{key}: checkpoint dtype {value.dtype} cannot be cast to the "
                                f"model's {current.dtype}")
            values[key] = value
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if problems:
            raise RuntimeError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        for key, value in values.items():
            module, name, is_param = own[key]
            module._load_value(name, is_param, value)
        return IncompatibleKeys(missing, unexpected)

    def _state_slots(self) -> OrderedDict[str, tuple[Module, str, bool]]:
        slots: OrderedDict[str, tuple[Module, str, bool]] = OrderedDict()
        for module_name, module in self.named_modules(remove_duplicate=False):
            for name in module._parameters:
                slots[_join(module_name, name)] = (module, name, True)
            for name in module._saved_buffers():
                slots[_join(module_name, name)] = (module, name, False)
        return slots

    def _saved_buffers(self) -> list[str]:
        """The buffers ``state_dict`` holds: persistent ones that have a value."""
        return [name for name in self._buffers if name not in self._non_persistent_buffers
                and getattr(self, name) is not None]

    def _load_value(self, name: str, is_param: bool, value: np.ndarray) -> None:
        if is_param:
            target = self._parameters[name].numpy()
            np.copyto(target, value, casting="same_kind")  # in place: optimizers keep it
        else:
            current = getattr(self, name)
            loaded = np.array(value, dtype=np.asarray(current).dtype)
            # a buffer registered as a Tensor stays a Tensor (forward may call its methods)
            object.__setattr__(self, name, Tensor(loaded) if isinstance(current, Tensor) else loaded)

    # ----------------------------------------------------------------- calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------------- display
    def extra_repr(self) -> str:
        """One line of settings shown in the repr, e.g. ``in_features=4``."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def count_parameters(module: Module) -> int:
    """Number of learnable scalars in ``module``."""
    return sum(p.numel() for p in module.parameters())


__all__ = ["IncompatibleKeys", "Module", "count_parameters"]
