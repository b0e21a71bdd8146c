"""The Tensor's conversions and PyTorch's helper names: ``size()``, ``device``,
``to``/``cpu``/``cuda``, ``long()``/``float()``/... and ``type``, ``float(t)``/``int(t)``,
``view_as``/``reshape_as``/``expand_as``/``type_as``, ``new_zeros``/``new_ones``/
``new_full``/``new_tensor``, ``isnan``, ``norm``.

A mixin of :class:`~tinymin.tensor.Tensor`, kept in its own file so each file has one
job. Each method is a line or two over the engine's ops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinymin import ops
from tinymin._arrays import reduction_args, shape_args, to_array
from tinymin.device import CPU, as_device, device, gpu_error, parse_to_args
from tinymin.dtypes import as_dtype, is_floating_point, type_name
from tinymin.ops.reduction import normalize_axes

if TYPE_CHECKING:  # for type hints only; tensor.py is built on this module
    from tinymin.tensor import Tensor


class Size(tuple):
    """A tensor's shape, as ``torch.Size``: a tuple of ints (``x.size()``)."""

    def numel(self) -> int:
        """The number of elements of a tensor of this shape."""
        return int(np.prod(self, dtype=np.int64))

    def __repr__(self) -> str:
        return f"tinymin.Size({list(self)})"


class TorchlikeMethods:
    """Conversions between dtypes and devices, numbers out of one-element tensors, and
    PyTorch's ``*_as`` and ``new_*`` names."""

    # ----------------------------------------------------------------- sizes
    def size(self, dim: int | None = None) -> Size | int:
        """The shape as a :class:`Size` (a tuple), or the length of dim ``dim``."""
        if dim is None:
            return Size(self._array.shape)
        if not -self.ndim <= dim < max(self.ndim, 1):
            raise IndexError(f"size: dim {dim} out of range for a tensor with {self.ndim} dims")
        return self._array.shape[dim]

    def numel(self) -> int:
        """The number of elements."""
        return self._array.size

    def element_size(self) -> int:
        """Bytes per element (4 for float32)."""
        return self._array.itemsize

    # --------------------------------------------------------------- devices
    @property
    def device(self) -> device:
        """Where the numbers live: always ``device(type='cpu')``."""
        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def cpu(self) -> Tensor:
        """This tensor (it is on the CPU already), as ``torch.Tensor.cpu``."""
        return self

    def cuda(self, device: Any = None, non_blocking: bool = False) -> Tensor:
        """Refused with the error that names tinymin's PyTorch engine."""
        raise gpu_error("Tensor.cuda()", "cuda" if device is None else device)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)`` (its dtype),
        with ``dtype=``/``device=``/``non_blocking=``/``copy=`` keywords, as in PyTorch.

        The device must be the CPU; a dtype conversion is :meth:`type`. Returns this
        tensor itself when nothing changes (unless ``copy=True``).
        """
        _, dtype, copy = parse_to_args("Tensor.to", args, kwargs)
        out = self if dtype is None else self.type(dtype)
        return out.clone() if copy and out is self else out

    # ---------------------------------------------------------------- dtypes
    def type(self, dtype: Any = None) -> Tensor | str:
        """Without an argument, the type's name (``'tinymin.FloatTensor'``); with one,
        this tensor converted to that dtype (itself if it has it already).

        A conversion to a float dtype stays in the graph (the gradient is converted
        back); one to an integer or bool dtype does not (they carry no gradient).
        """
        if dtype is None:
            return type_name(self.dtype)
        dtype = as_dtype(dtype)
        if dtype == self.dtype:
            return self
        if not is_floating_point(dtype):
            return self._from_array(self._array.astype(dtype))
        return ops.AsTypeFunction.apply(self, dtype)

    def astype(self, dtype: Any) -> Tensor:
        """numpy's name for a conversion: always a copy (see :meth:`type`)."""
        dtype = as_dtype(dtype)
        return self.clone() if dtype == self.dtype else self.type(dtype)

    def float(self) -> Tensor:
        """float32."""
        return self.type(np.float32)

    def double(self) -> Tensor:
        """float64."""
        return self.type(np.float64)

    def long(self) -> Tensor:
        """int64 (truncates toward zero, as in PyTorch)."""
        return self.type(np.int64)

    def int(self) -> Tensor:
        """int32."""
        return self.type(np.int32)

    def bool(self) -> Tensor:
        """bool: True where non-zero."""
        return self.type(np.bool_)

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor converted to ``other``'s dtype."""
        return self.type(other.dtype)

    def is_floating_point(self) -> bool:
        return is_floating_point(self.dtype)

    # ------------------------------------------------- one element to a number
    def __bool__(self) -> bool:
        if self._array.size != 1:
            raise ValueError(f"the truth value of a tensor with {self._array.size} elements is "
                             f"ambiguous (use .any() or .all())")
        return bool(self._array.item())

    def __float__(self) -> float:
        return float(self._one_element("float"))

    def __int__(self) -> int:
        return int(self._one_element("int"))

    def __index__(self) -> int:
        """Lets an integer one-element tensor index a list or size a ``range``."""
        if self.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors of a single element can be converted to an "
                            f"index, got dtype {self.dtype}")
        return int(self._one_element("index"))

    def _one_element(self, what: str) -> Any:
        if self._array.size != 1:
            raise ValueError(f"{what}: only a one-element tensor converts to a Python number; "
                             f"this one has shape {self.shape} ({self._array.size} elements)")
        return self._array.item()

    # ------------------------------------------------------- shapes of others
    def view_as(self, other: Tensor) -> Tensor:
        """:meth:`view` with ``other``'s shape."""
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        """:meth:`reshape` with ``other``'s shape."""
        return self.reshape(other.shape)

    def expand_as(self, other: Tensor) -> Tensor:
        """:meth:`expand` to ``other``'s shape."""
        return self.expand(other.shape)

    # -------------------------------------------- new tensors like this one
    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Tensor:
        """Zeros of ``size``, with this tensor's dtype unless ``dtype=``."""
        return self.new_full(shape_args(size), 0, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Tensor:
        """Ones of ``size``, with this tensor's dtype unless ``dtype=``."""
        return self.new_full(shape_args(size), 1, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_full(self, size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Tensor:
        """``fill_value`` everywhere in ``size``, with this tensor's dtype unless ``dtype=``."""
        return self._new(np.full(tuple(size), fill_value, dtype=self._dtype_or(dtype)),
                         device, requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Tensor:
        """Zeros (tinymin never hands out uninitialised memory) of ``size``."""
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_tensor(self, data: Any, *, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False) -> Tensor:
        """A copy of ``data`` with this tensor's dtype unless ``dtype=``."""
        array = to_array(getattr(data, "_array", data))
        return self._new(np.array(array, dtype=self._dtype_or(dtype)), device, requires_grad)

    def _dtype_or(self, dtype: Any) -> np.dtype:
        return self.dtype if dtype is None else as_dtype(dtype)

    def _new(self, array: np.ndarray, target_device: Any, requires_grad: bool) -> Tensor:
        if target_device is not None:
            as_device(target_device, "new tensor")
        return self._from_array(array).requires_grad_(requires_grad)

    # ------------------------------------------------------------- tests
    def isnan(self) -> Tensor:
        """Where the elements are NaN (a bool tensor, no gradient)."""
        return self._from_array(np.isnan(self._array))

    def isinf(self) -> Tensor:
        """Where the elements are +-inf (a bool tensor, no gradient)."""
        return self._from_array(np.isinf(self._array))

    def isfinite(self) -> Tensor:
        """Where the elements are finite (a bool tensor, no gradient)."""
        return self._from_array(np.isfinite(self._array))

    def norm(self, p: Any = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The vector p-norm over ``dim`` (all elements by default), in the graph:

        .. math:: \\|x\\|_p = \\Big(\\sum_i |x_i|^p\\Big)^{1/p}

        ``p`` may be a positive number, ``"fro"`` (= 2), ``inf`` or ``-inf`` (the
        largest or smallest magnitude), or 0 (the number of non-zero elements, no
        gradient), as in PyTorch.
        """
        if p == "fro":
            p = 2
        if p == float("inf"):
            return self.abs().max(dim, keepdim) if dim is None else self.abs().amax(dim, keepdim)
        if p == float("-inf"):
            return self.abs().min(dim, keepdim) if dim is None else -(-self.abs()).amax(dim, keepdim)
        if p == 0:
            count = (self != 0).sum(dim, keepdim)
            return count.type(self.dtype if self.dtype.kind == "f" else np.float32)
        if p == 2:
            return (self * self).sum(dim, keepdim).sqrt()
        if p == 1:
            return self.abs().sum(dim, keepdim)
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The largest values over ``dim`` (values only, even for one int dim; an empty
        ``dim`` reduces every dim, as in PyTorch)."""
        dim, keepdim = reduction_args(dim, keepdim, None, None)
        return ops.MaxFunction.apply(self, dim, keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The smallest values over ``dim`` (values only; see :meth:`amax` and
        :meth:`~tinymin.tensor_reductions.ReductionMethods.min`)."""
        dim, keepdim = reduction_args(dim, keepdim, None, None)
        if self.dtype.kind == "f":
            return -ops.MaxFunction.apply(-self, dim, keepdim)
        axes = normalize_axes(dim, self.ndim)
        return self._from_array(np.asarray(np.min(self._array, axis=axes, keepdims=keepdim)))
