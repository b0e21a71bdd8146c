"""Devices: tinymin computes on the CPU, and says so clearly when asked for a GPU.

``tinymin.device("cpu")``, ``Tensor.device``, ``.to(device)`` and ``.cpu()`` exist so
that PyTorch programs run unchanged. Asking for any other device (``"cuda"``,
``"mps"``, ``.cuda()``) raises :class:`RuntimeError` with one message: the way to a GPU
is tinymin's optional PyTorch engine, ``python -m tinymin train --engine torch`` and the
:mod:`tinymin.torch` package.
"""

from __future__ import annotations

from typing import Any

GPU_MESSAGE = (
    "tinymin computes on the CPU only, and {what} asks for the device '{name}'. To train "
    "on a GPU, use tinymin's PyTorch engine: `python -m tinymin train --engine torch`, or "
    "from Python the tinymin.torch package (tinymin.torch.to_torch converts a model). "
    "Code that picks its device with tinymin.cuda.is_available() runs on the CPU unchanged."
)


def gpu_error(what: str, name: Any) -> RuntimeError:
    """The one error every request for a GPU raises."""
    return RuntimeError(GPU_MESSAGE.format(what=what, name=name))


class device:  # noqa: N801 (PyTorch's name)
    """A device, as ``torch.device``: ``device("cpu")``, ``device("cpu", 0)``,
    ``device("cpu:0")``. Any other type raises the error of :func:`gpu_error`.

    Attributes
    ----------
    type : str
        Always ``"cpu"``.
    index : int or None
    """

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002 (torch name)
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        name, _, number = type.partition(":")
        if name != "cpu":
            raise gpu_error("tinymin.device", type)
        if number:
            index = int(number)
        self.type = name
        self.index = index

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (other.type, other.index) == (self.type, self.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"


CPU = device("cpu")


def as_device(value: Any, what: str) -> device:
    """``value`` (a device, a string, or an int, which PyTorch reads as a CUDA index)
    as a :class:`device`; ``what`` names the caller in the error for a GPU."""
    if isinstance(value, device):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        raise gpu_error(what, f"cuda:{value}")
    if isinstance(value, str) and value.partition(":")[0] != "cpu":
        raise gpu_error(what, value)
    return device(value)


def is_device(value: Any) -> bool:
    """Whether ``.to(value)`` means a device (not a dtype): a device or a device string."""
    if isinstance(value, device):
        return True
    return isinstance(value, str) and value.partition(":")[0] in (
        "cpu", "cuda", "mps", "xpu", "meta", "hip", "xla", "ipu", "hpu", "mtia", "privateuseone")


def parse_to_args(what: str, args: tuple, kwargs: dict) -> tuple[device | None, Any, bool]:
    """Read the arguments of ``.to(...)`` as PyTorch does: ``to(device)``,
    ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` (its dtype) and the keywords
    ``device=``, ``dtype=``, ``non_blocking=``, ``copy=``, ``memory_format=``.

    Returns
    -------
    (device or None, dtype or None, copy)
        The device is checked (the CPU, or the GPU error); the dtype is as given.
    """
    kwargs = dict(kwargs)
    target, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    copy = bool(kwargs.pop("copy", False))
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"{what}: unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if hasattr(arg, "_array"):  # a tensor: its dtype (and its device, the CPU)
            dtype = arg.dtype
        elif is_device(arg) or (isinstance(arg, int) and not isinstance(arg, bool)):
            target = arg
        else:
            dtype = arg
    return (None if target is None else as_device(target, what)), dtype, copy
