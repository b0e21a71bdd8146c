"""The Tensor: a numpy array that remembers how it was made, so it can be differentiated.

``t.data`` is the numpy array, ``t.grad`` the gradient (a numpy array, or None),
``t.grad_fn`` the graph node (:class:`~tinymin.autograd.Context`) of the operation
that produced ``t``. Every method below is one primitive op from :mod:`tinymin.ops`
or a short composition of them.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinymin import autograd, ops
from tinymin.ops.reduction import normalize_axes

#: What ``Tensor.max(dim=...)`` returns, as ``torch.return_types.max`` does.
MaxResult = namedtuple("MaxResult", ["values", "indices"])

_FLOAT_TYPES = (np.float16, np.float32, np.float64)


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert ``data`` to a numpy array with tinymin's dtype rules (no copy if possible).

    Python floats become float32 (the default); numpy float arrays keep float32 or
    float64 (float16 is widened to float32); integers and booleans keep their type.
    """
    if isinstance(data, Tensor):
        data = data.data
    array = np.asarray(data, dtype=dtype)
    if dtype is not None:
        return array
    if array.dtype == np.float64 and not _is_float64_source(data):
        return array.astype(np.float32)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if array.dtype == object:
        raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__} data")
    return array


def _is_float64_source(data: Any) -> bool:
    return isinstance(data, (np.ndarray, np.floating)) and data.dtype == np.float64


class Tensor:
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
        self.data: np.ndarray = _to_array(data, dtype)
        if requires_grad and self.data.dtype not in _FLOAT_TYPES:
            raise TypeError(
                f"tensor: only floating-point tensors can require grad, got {self.data.dtype}"
            )
        self.requires_grad: bool = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self.grad_fn: autograd.Context | None = None
        self._retain_grad = False

    # ------------------------------------------------------------------ basics
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        return len(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def numpy(self) -> np.ndarray:
        """The underlying numpy array (shared, not copied), like ``torch.Tensor.numpy``."""
        return self.data

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors convert to a number, shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory)."""
        return Tensor(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype not in _FLOAT_TYPES:
            raise TypeError(f"requires_grad_: {self.dtype} tensors cannot require grad")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor too (handy when studying a graph)."""
        self._retain_grad = True

    def backward(self, gradient: Any = None) -> None:
        """Compute gradients of this tensor with respect to every leaf that needs one.

        See :func:`tinymin.autograd.backward`.
        """
        autograd.backward(self, gradient)

    def astype(self, dtype: Any) -> Tensor:
        """A copy converted to ``dtype`` (the gradient is converted back)."""
        return _AsType.apply(self, np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4)
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

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous"
            )
        return bool(self.data)

    # ------------------------------------------------------------- arithmetic
    def __add__(self, other: Any) -> Tensor:
        return ops.Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.Add.apply(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        return ops.Pow.apply(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return ops.Pow.apply(base, self)

    def __neg__(self) -> Tensor:
        return ops.Neg.apply(self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(other, self)

    def matmul(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self, other)

    # In-place updates are for optimizers and initialisers, never inside a graph.
    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace(np.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace(np.subtract, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace(np.multiply, other)

    def _inplace(self, ufunc, other: Any) -> Tensor:
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(
                "in-place update of a tensor that requires grad; wrap it in tinymin.no_grad()"
            )
        ufunc(self.data, getattr(other, "data", other), out=self.data, casting="same_kind")
        return self

    # ---------------------------------------------------- elementwise functions
    def exp(self) -> Tensor:
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        return ops.Log.apply(self)

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(self)

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (torch names)
        """Clamp into ``[min, max]``; either bound may be ``None``."""
        if min is None and max is None:
            raise ValueError("clip: at least one of min and max must be given")
        return ops.Clip.apply(self, min, max)

    clamp = clip

    # --------------------------------------------------------------- reductions
    def sum(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor:
        """Sum over ``dim`` (PyTorch) or ``axis`` (numpy); all elements by default."""
        dim, keepdim = _reduction_args(dim, keepdim, axis, keepdims)
        return ops.Sum.apply(self, dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
             keepdims: bool | None = None) -> Tensor:
        """Arithmetic mean: ``sum / count`` over the reduced axes."""
        dim, keepdim = _reduction_args(dim, keepdim, axis, keepdims)
        axes = normalize_axes(dim, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        return self.sum(dim, keepdim) / count

    def var(self, dim: Any = None, keepdim: bool = False, unbiased: bool = False) -> Tensor:
        """Variance :math:`\\frac{1}{n}\\sum (x - \\bar x)^2` (biased by default)."""
        axes = normalize_axes(dim, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        centred = self - self.mean(dim, keepdim=True)
        return (centred * centred).sum(dim, keepdim) / (count - 1 if unbiased else count)

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor | MaxResult:
        """Largest element; with an int ``dim=``, a ``(values, indices)`` pair as in PyTorch.

        With numpy's ``axis=`` (or a tuple of dims) only the values are returned.
        """
        with_indices = isinstance(dim, (int, np.integer)) and axis is None
        dim, keepdim = _reduction_args(dim, keepdim, axis, keepdims)
        values = ops.Max.apply(self, dim, keepdim)
        if not with_indices:
            return values
        return MaxResult(values, self.argmax(dim, keepdim))

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor | MaxResult:
        """Smallest element, computed as ``-max(-x)``; same return rules as :meth:`max`."""
        with_indices = isinstance(dim, (int, np.integer)) and axis is None
        dim, keepdim = _reduction_args(dim, keepdim, axis, keepdims)
        values = -ops.Max.apply(-self, dim, keepdim)
        if not with_indices:
            return values
        indices = np.argmin(self.data, axis=dim)
        return MaxResult(values, Tensor(np.expand_dims(indices, dim) if keepdim else indices))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the largest element (no gradient)."""
        out = np.argmax(self.data, axis=dim)
        if keepdim and dim is not None:
            out = np.expand_dims(out, dim)
        return Tensor(out)

    # -------------------------------------------------------------- reshaping
    def reshape(self, *shape: Any) -> Tensor:
        return ops.Reshape.apply(self, _shape_args(shape))

    def view(self, *shape: Any) -> Tensor:
        """Same as :meth:`reshape` (numpy decides whether a copy is needed)."""
        return ops.Reshape.apply(self, _shape_args(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge the axes ``start_dim..end_dim`` into one."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        merged = int(np.prod(self.shape[start : end + 1]))
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1 :])

    def permute(self, *dims: Any) -> Tensor:
        return ops.Permute.apply(self, _shape_args(dims))

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """Swap two axes (the last two by default)."""
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return ops.Permute.apply(self, tuple(dims))

    @property
    def T(self) -> Tensor:  # noqa: N802 (numpy and torch name)
        return ops.Permute.apply(self, tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int) -> Tensor:
        return self.reshape(np.expand_dims(self.data, dim).shape)

    def squeeze(self, dim: int | None = None) -> Tensor:
        return self.reshape(np.squeeze(self.data, axis=dim).shape)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItem.apply(self, _unwrap_index(index))

    # ------------------------------------------------ comparisons (no gradient)
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data == _data(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data != _data(other))

    def __lt__(self, other: Any) -> Tensor:
        return Tensor(self.data < _data(other))

    def __le__(self, other: Any) -> Tensor:
        return Tensor(self.data <= _data(other))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor(self.data > _data(other))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor(self.data >= _data(other))


class _AsType(autograd.Function):
    """Change the dtype; the gradient goes back in the input's dtype."""

    @staticmethod
    def forward(ctx: autograd.Context, a, dtype):
        ctx.save_for_backward(a.dtype)
        return a.astype(dtype)

    @staticmethod
    def backward(ctx: autograd.Context, grad):
        (dtype,) = ctx.saved_tensors
        return (grad.astype(dtype), None)


def _data(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_data(i) for i in index)
    return _data(index)


def _shape_args(args: tuple) -> tuple[int, ...]:
    """Accept both ``reshape(2, 3)`` and ``reshape((2, 3))``, as PyTorch does."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _reduction_args(dim: Any, keepdim: bool, axis: Any, keepdims: bool | None):
    """Reconcile PyTorch's ``dim``/``keepdim`` with numpy's ``axis``/``keepdims``."""
    if axis is not None:
        if dim is not None:
            raise TypeError("pass either dim= or axis=, not both")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, keepdim


# ---------------------------------------------------------------- constructors
def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Create a :class:`Tensor`.

    Python floats become float32; numpy float64 arrays stay float64; integer and
    boolean data keep their type (labels, masks). Pass ``dtype=`` to force one.

    Examples
    --------
    >>> import tinymin as tm
    >>> x = tm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        data = data.copy()  # like torch.tensor: the new tensor owns its data
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape_args(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape_args(shape), dtype=dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros_like(_data(t)), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones_like(_data(t)), requires_grad=requires_grad)


def arange(*args: Any, dtype: Any = None) -> Tensor:
    return Tensor(np.arange(*args, dtype=dtype))


def randn(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from tinymin's seeded generator."""
    from tinymin.random import default_rng

    data = default_rng().standard_normal(_shape_args(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform samples in ``[0, 1)`` from tinymin's seeded generator."""
    from tinymin.random import default_rng

    data = default_rng().random(_shape_args(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """Wrap a numpy array without copying or changing its dtype, like ``torch.from_numpy``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array, dtype=array.dtype)


# ------------------------------------------------- functions mirroring methods
def exp(x: Tensor) -> Tensor:
    return ops.Exp.apply(x)


def log(x: Tensor) -> Tensor:
    return ops.Log.apply(x)


def sqrt(x: Tensor) -> Tensor:
    return ops.Sqrt.apply(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001 (torch name)
    return ops.Abs.apply(x)


def clip(x: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    return _as_tensor(x).clip(min, max)


clamp = clip


def matmul(a: Any, b: Any) -> Tensor:
    return ops.MatMul.apply(a, b)


def sum(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:  # noqa: A001
    return _as_tensor(x).sum(dim, keepdim, **kw)


def mean(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
    return _as_tensor(x).mean(dim, keepdim, **kw)


def max(x: Tensor, dim: Any = None, keepdim: bool = False, **kw: Any):  # noqa: A001
    return _as_tensor(x).max(dim, keepdim, **kw)


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    return ops.Reshape.apply(x, tuple(shape))


def permute(x: Tensor, dims: Sequence[int]) -> Tensor:
    return ops.Permute.apply(x, tuple(dims))


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    return _as_tensor(x).transpose(dim0, dim1)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return _as_tensor(x).flatten(start_dim, end_dim)


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Concatenate along an existing axis ``dim``."""
    if len(tensors) == 0:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    return ops.Cat.apply(*tensors, axis=dim)


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Stack equal-shaped tensors along a new axis ``dim``."""
    if len(tensors) == 0:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    return ops.Stack.apply(*tensors, axis=dim)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a if condition else b`` (broadcasting)."""
    return ops.Where.apply(_data(condition), a, b)


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)
