"""The Tensor: a numpy array that remembers how it was made, so it can be differentiated.

As in PyTorch, ``t.data`` is a Tensor that shares ``t``'s memory without its history,
``t.grad`` the gradient (a Tensor, or None) and ``t.grad_fn`` the graph node
(:class:`~tinymin.autograd.Context`) of the operation that produced ``t``. The numbers
themselves are one numpy array, ``t.numpy()`` (the attribute ``_array`` inside, which is
what a debugger shows). Every method below is one op from :mod:`tinymin.ops` (a
primitive, a composite or an activation) or a short composition of them; the in-place
methods live in :mod:`tinymin.tensor_inplace`, the conversions and PyTorch's
``new_*``/``*_as`` names in :mod:`tinymin.tensor_torchlike`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinymin import autograd, ops
from tinymin._arrays import shape_args, to_array
from tinymin.ops import activation, composite
from tinymin.ops.reduction import normalize_axes
from tinymin.tensor_inplace import InPlaceMethods
from tinymin.tensor_reductions import MaxResult, ReductionMethods  # noqa: F401 (MaxResult: its home for users)
from tinymin.tensor_torchlike import TorchlikeMethods

_FLOAT_TYPES = (np.float16, np.float32, np.float64)


class Tensor(ReductionMethods, InPlaceMethods, TorchlikeMethods):
    """A multi-dimensional array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data : array_like
        Numbers; see :func:`tensor` for the dtype rules.
    requires_grad : bool
        Whether ``backward`` should compute a gradient for this tensor.
    dtype : numpy dtype, optional
        Force a dtype (``np.float64`` for gradient checks).
    """

    # Make numpy hand mixed expressions (ndarray + Tensor) to the Tensor's methods.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        #: The numbers: one numpy array (``numpy()`` returns it; ``data`` wraps it).
        self._array: np.ndarray = to_array(data._array if isinstance(data, Tensor) else data, dtype)
        if requires_grad and self._array.dtype not in _FLOAT_TYPES:
            raise TypeError(
                f"tensor: only floating-point tensors can require grad, got {self._array.dtype}"
            )
        self.requires_grad: bool = bool(requires_grad)
        self._grad: Tensor | None = None
        self.grad_fn: autograd.Context | None = None
        self._retain_grad = False
        # Shared with views of the same memory; see autograd.VersionCounter.
        self._version_counter = autograd.VersionCounter()

    @staticmethod
    def _from_array(array: np.ndarray) -> Tensor:
        """A new Tensor around ``array`` as it is (no copy, no dtype change)."""
        return Tensor(array, dtype=array.dtype)

    # ------------------------------------------------------------------ basics
    @property
    def data(self) -> Tensor:
        """This tensor's numbers as a new Tensor that shares its memory but not its
        history: no ``grad_fn``, no ``requires_grad``, and changes made through it are
        not seen by autograd (PyTorch's ``.data``; prefer :meth:`detach`)."""
        return Tensor._from_array(self._array)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}; "
                            "wrap an array with tinymin.from_numpy")
        self._array = value._array

    @property
    def grad(self) -> Tensor | None:
        """The gradient ``backward`` accumulated here: a Tensor of this shape, or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad: assigned grad expected to be a Tensor or None, "
                                f"got {type(value).__name__}")
            if value.shape != self.shape:
                raise ValueError(f"grad: assigned grad has shape {value.shape}, "
                                 f"the tensor has shape {self.shape}")
        self._grad = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self._array.shape

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    @property
    def ndim(self) -> int:
        return self._array.ndim

    def dim(self) -> int:
        return self._array.ndim

    def __len__(self) -> int:
        return len(self._array)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def numpy(self) -> np.ndarray:
        """The underlying numpy array (shared, not copied), like ``torch.Tensor.numpy``."""
        return self._array

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Let numpy functions (``np.asarray``, ``np.testing``) read the numbers."""
        return self._array if dtype is None else self._array.astype(dtype, copy=False)

    def item(self) -> float | int | bool:
        if self._array.size != 1:
            raise ValueError(f"item: only one-element tensors convert to a number, shape {self.shape}")
        return self._array.item()

    def tolist(self) -> Any:
        return self._array.tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory and the version counter)."""
        out = Tensor._from_array(self._array)
        out._version_counter = self._version_counter
        self._version_counter.share(self, out)
        return out

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self._array.dtype not in _FLOAT_TYPES:
            raise TypeError(f"requires_grad_: {self.dtype} tensors cannot require grad")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor too (handy when studying a graph)."""
        self._retain_grad = True

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Compute gradients of this tensor with respect to every leaf that needs one.

        See :func:`tinymin.autograd.backward`.
        """
        autograd.backward(self, gradient, retain_graph)

    def __repr__(self) -> str:
        body = np.array2string(self._array, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # The graph is keyed by identity; comparisons below return Tensors, not bools.
    __hash__ = object.__hash__

    # ------------------------------------------------------------- arithmetic
    def __add__(self, other: Any) -> Tensor:
        return ops.AddFunction.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.AddFunction.apply(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.SubFunction.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.SubFunction.apply(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.MulFunction.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.MulFunction.apply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.DivFunction.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.DivFunction.apply(other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        return ops.PowFunction.apply(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return ops.PowFunction.apply(base, self)

    def __neg__(self) -> Tensor:
        return ops.NegFunction.apply(self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.MatMulFunction.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.MatMulFunction.apply(other, self)

    def matmul(self, other: Any) -> Tensor:
        return ops.MatMulFunction.apply(self, other)

    # ---------------------------------------------------- elementwise functions
    def exp(self) -> Tensor:
        return ops.ExpFunction.apply(self)

    def log(self) -> Tensor:
        return ops.LogFunction.apply(self)

    def sqrt(self) -> Tensor:
        return ops.SqrtFunction.apply(self)

    def abs(self) -> Tensor:
        return ops.AbsFunction.apply(self)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (torch names)
        """Clamp into ``[min, max]``; either bound may be ``None``."""
        if min is None and max is None:
            raise ValueError("clip: at least one of min and max must be given")
        return ops.ClipFunction.apply(self, min, max)

    clamp = clip

    def pow(self, exponent: Any) -> Tensor:
        """:math:`x^{\\text{exponent}}`, the same as ``x ** exponent``."""
        return ops.PowFunction.apply(self, exponent)

    def square(self) -> Tensor:
        """:math:`x^2`, written as ``x * x``."""
        return self * self

    def sign(self) -> Tensor:
        """-1, 0 or 1 by the sign of each element; constant, so no gradient flows back
        (its derivative is 0 wherever it exists)."""
        return Tensor(np.sign(self._array))

    def maximum(self, other: Any) -> Tensor:
        """Elementwise larger of ``self`` and ``other``; see :func:`tinymin.maximum`."""
        return composite.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        """Elementwise smaller of ``self`` and ``other``; see :func:`tinymin.minimum`."""
        return composite.minimum(self, other)

    def relu(self) -> Tensor:
        """:math:`\\max(x, 0)`; see :func:`tinymin.ops.activation.relu`."""
        return activation.relu(self)

    def sigmoid(self) -> Tensor:
        """:math:`1/(1+e^{-x})`; see :func:`tinymin.ops.activation.sigmoid`."""
        return activation.sigmoid(self)

    def tanh(self) -> Tensor:
        """:math:`\\tanh x`; see :func:`tinymin.ops.activation.tanh`."""
        return activation.tanh(self)

    def softmax(self, dim: int | None = None, *, axis: int | None = None) -> Tensor:
        """:math:`e^{x_i} / \\sum_j e^{x_j}` along ``dim``; see :func:`tinymin.ops.activation.softmax`."""
        return activation.softmax(self, dim, axis=axis)

    def log_softmax(self, dim: int | None = None, *, axis: int | None = None) -> Tensor:
        """:math:`x_i - \\log \\sum_j e^{x_j}` along ``dim``; see
        :func:`tinymin.ops.activation.log_softmax`."""
        return activation.log_softmax(self, dim, axis=axis)

    def clone(self) -> Tensor:
        """A copy with its own memory that stays in the graph (the gradient passes through)."""
        return ops.AsTypeFunction.apply(self, self.dtype)  # astype always copies

    def contiguous(self) -> Tensor:
        """This tensor if its data is C-contiguous, else a C-contiguous copy (in the graph)."""
        return self if self._array.flags.c_contiguous else ops.ContiguousFunction.apply(self)

    # -------------------------------------------------------------- reshaping
    def reshape(self, *shape: Any) -> Tensor:
        return ops.ReshapeFunction.apply(self, shape_args(shape))

    def view(self, *shape: Any) -> Tensor:
        """Same as :meth:`reshape` (numpy decides whether a copy is needed)."""
        return ops.ReshapeFunction.apply(self, shape_args(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge the axes ``start_dim..end_dim`` into one; see :func:`tinymin.flatten`."""
        return composite.flatten(self, start_dim, end_dim)

    def permute(self, *dims: Any) -> Tensor:
        return ops.PermuteFunction.apply(self, shape_args(dims))

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """Swap two axes (the last two by default); a 0-d tensor takes 0 and -1, and
        comes back as it is, as in PyTorch."""
        first, second = (normalize_axes(d, self.ndim) for d in (dim0, dim1))
        if self.ndim == 0:
            return self
        dims = list(range(self.ndim))
        dims[first[0]], dims[second[0]] = dims[second[0]], dims[first[0]]
        return ops.PermuteFunction.apply(self, tuple(dims))

    def t(self) -> Tensor:
        """Transpose a 2-D tensor; 0-D and 1-D tensors come back as they are."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with <= 2 dims, got shape {self.shape}; "
                             "use transpose(dim0, dim1) or permute")
        return self.transpose(0, 1) if self.ndim == 2 else self

    def expand(self, *sizes: Any) -> Tensor:
        """Broadcast to ``sizes`` (``-1`` keeps a size); see :func:`tinymin.expand`."""
        return composite.expand(self, *sizes)

    def repeat(self, *repeats: Any) -> Tensor:
        """Tile ``repeats[i]`` copies along each dim; see :func:`tinymin.repeat`."""
        return composite.repeat(self, *repeats)

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Cut into pieces along ``dim``; see :func:`tinymin.split`."""
        return composite.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """Cut into ``chunks`` nearly equal pieces along ``dim``; see :func:`tinymin.chunk`."""
        return composite.chunk(self, chunks, dim)

    @property
    def T(self) -> Tensor:  # noqa: N802 (numpy and torch name)
        return ops.PermuteFunction.apply(self, tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int) -> Tensor:
        return self.reshape(np.expand_dims(self._array, dim).shape)

    def squeeze(self, dim: Any = None) -> Tensor:
        """Drop the dims of size 1 (of those in ``dim`` if given; a named dim of another
        size is kept, as in PyTorch)."""
        dims = range(self.ndim) if dim is None else normalize_axes(dim, self.ndim)
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if not (i in dims and n == 1)))

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItemFunction.apply(self, _unwrap_index(index))

    # ------------------------------------------------ comparisons (no gradient)
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        """``self == other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self._array == _data(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        """``self != other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self._array != _data(other))

    def __lt__(self, other: Any) -> Tensor:
        """``self < other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self._array < _data(other))

    def __le__(self, other: Any) -> Tensor:
        """``self <= other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self._array <= _data(other))

    def __gt__(self, other: Any) -> Tensor:
        """``self > other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self._array > _data(other))

    def __ge__(self, other: Any) -> Tensor:
        """``self >= other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self._array >= _data(other))

    # The method names PyTorch gives the comparisons above.
    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__


def _data(value: Any) -> Any:
    return value._array if isinstance(value, Tensor) else value


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_data(i) for i in index)
    return _data(index)
