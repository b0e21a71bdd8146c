"""The Tensor: a numpy array that remembers how it was made, so it can be differentiated.

``t.data`` is the numpy array, ``t.grad`` the gradient (a numpy array, or None),
``t.grad_fn`` the graph node (:class:`~tinymin.autograd.Context`) of the operation
that produced ``t``. Every method below is one op from :mod:`tinymin.ops` (a
primitive, a composite or an activation) or a short composition of them.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from tinymin import autograd, ops
from tinymin._arrays import broadcasts_to, reduction_args, shape_args, to_array
from tinymin.ops import activation, composite
from tinymin.ops.reduction import normalize_axes

#: What ``Tensor.max(dim=...)`` returns, as ``torch.return_types.max`` does.
MaxResult = namedtuple("MaxResult", ["values", "indices"])

_FLOAT_TYPES = (np.float16, np.float32, np.float64)


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
        self.data: np.ndarray = to_array(data.data if isinstance(data, Tensor) else data, dtype)
        if requires_grad and self.data.dtype not in _FLOAT_TYPES:
            raise TypeError(
                f"tensor: only floating-point tensors can require grad, got {self.data.dtype}"
            )
        self.requires_grad: bool = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self.grad_fn: autograd.Context | None = None
        self._retain_grad = False
        # Shared with views of the same memory; see autograd.VersionCounter.
        self._version_counter = autograd.VersionCounter()

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
        """The same data, cut from the graph (shares memory and the version counter)."""
        out = Tensor(self.data)
        out._version_counter = self._version_counter
        return out

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype not in _FLOAT_TYPES:
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

    def astype(self, dtype: Any) -> Tensor:
        """A copy converted to ``dtype`` (the gradient is converted back)."""
        return ops.AsTypeFunction.apply(self, np.dtype(dtype))

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

    # ------------------------------------------------------------- in place
    # For optimizers, initialisers and data you own: refused on a tensor that requires
    # grad while the graph is recorded. Each one bumps the version counter, so a
    # backward that saved this tensor's old values raises instead of using new ones.
    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (as in PyTorch)."""
        return self._version_counter.value

    def _modify(self, op: str, write) -> Tensor:
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(
                f"{op}: in-place update of a tensor that requires grad; "
                "wrap it in tinymin.no_grad()"
            )
        write(self.data)
        self._version_counter.bump(op)
        return self

    def _ufunc_(self, op: str, ufunc, other: Any) -> Tensor:
        return self._modify(op, lambda d: ufunc(d, _data(other), out=d, casting="same_kind"))

    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """In place :math:`x \\leftarrow x + \\alpha \\cdot \\text{other}`."""
        return self._ufunc_("add_", np.add, _data(other) * alpha if alpha != 1 else other)

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """In place :math:`x \\leftarrow x - \\alpha \\cdot \\text{other}`."""
        return self._ufunc_("sub_", np.subtract, _data(other) * alpha if alpha != 1 else other)

    def mul_(self, other: Any) -> Tensor:
        """In place :math:`x \\leftarrow x \\cdot \\text{other}`."""
        return self._ufunc_("mul_", np.multiply, other)

    def zero_(self) -> Tensor:
        """Set every element to 0, in place."""
        return self._modify("zero_", lambda d: d.fill(0))

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value``, in place."""
        return self._modify("fill_", lambda d: d.fill(_data(value)))

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (torch names)
        """In-place :meth:`clamp`."""
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        return self._modify("clamp_", lambda d: np.clip(d, min, max, out=d))

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast to this shape, same-kind casting) into this tensor."""
        source = np.asarray(_data(src))
        if not broadcasts_to(source.shape, self.shape):
            raise ValueError(f"copy_: cannot copy shape {source.shape} into shape {self.shape}")
        return self._modify("copy_", lambda d: np.copyto(d, source, casting="same_kind"))

    def __setitem__(self, index: Any, value: Any) -> None:
        self._modify("__setitem__", lambda d: d.__setitem__(_unwrap_index(index), _data(value)))

    def __iadd__(self, other: Any) -> Tensor:
        return self._ufunc_("+=", np.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._ufunc_("-=", np.subtract, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._ufunc_("*=", np.multiply, other)

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
        return Tensor(np.sign(self.data))

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

    def softmax(self, dim: int = -1) -> Tensor:
        """:math:`e^{x_i} / \\sum_j e^{x_j}` along ``dim``; see :func:`tinymin.ops.activation.softmax`."""
        return activation.softmax(self, dim)

    def log_softmax(self, dim: int = -1) -> Tensor:
        """:math:`x_i - \\log \\sum_j e^{x_j}` along ``dim``; see
        :func:`tinymin.ops.activation.log_softmax`."""
        return activation.log_softmax(self, dim)

    def clone(self) -> Tensor:
        """A copy with its own memory that stays in the graph (the gradient passes through)."""
        return ops.AsTypeFunction.apply(self, self.dtype)  # astype always copies

    def contiguous(self) -> Tensor:
        """This tensor if its data is C-contiguous, else a C-contiguous copy (in the graph)."""
        return self if self.data.flags.c_contiguous else ops.ContiguousFunction.apply(self)

    # --------------------------------------------------------------- reductions
    def sum(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor:
        """Sum over ``dim`` (PyTorch) or ``axis`` (numpy); all elements by default."""
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        return ops.SumFunction.apply(self, dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
             keepdims: bool | None = None) -> Tensor:
        """Arithmetic mean: ``sum / count`` over the reduced axes."""
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        axes = normalize_axes(dim, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        return self.sum(dim, keepdim) / count

    def var(self, dim: Any = None, keepdim: bool = False, unbiased: bool = False) -> Tensor:
        """Variance over ``dim``, biased by default; see :func:`tinymin.ops.composite.var`."""
        return composite.var(self, dim, keepdim, unbiased)

    def std(self, dim: Any = None, keepdim: bool = False, unbiased: bool = False) -> Tensor:
        """Standard deviation, biased by default; see :func:`tinymin.ops.composite.std`."""
        return composite.std(self, dim, keepdim, unbiased)

    def logsumexp(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """:math:`\\log \\sum e^{x}` along ``dim``, overflow-free; see :func:`tinymin.logsumexp`."""
        return composite.logsumexp(self, dim, keepdim)

    def all(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Whether every element (along ``dim``) is non-zero; a bool tensor, no gradient."""
        return Tensor(np.all(self.data, axis=dim, keepdims=keepdim))

    def any(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Whether some element (along ``dim``) is non-zero; a bool tensor, no gradient."""
        return Tensor(np.any(self.data, axis=dim, keepdims=keepdim))

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor | MaxResult:
        """Largest element; with an int ``dim=``, a ``(values, indices)`` pair as in PyTorch.

        With numpy's ``axis=`` (or a tuple of dims) only the values are returned.
        """
        with_indices = isinstance(dim, (int, np.integer)) and axis is None
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        values = ops.MaxFunction.apply(self, dim, keepdim)
        if not with_indices:
            return values
        return MaxResult(values, self.argmax(dim, keepdim))

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor | MaxResult:
        """Smallest element, computed as ``-max(-x)``; same return rules as :meth:`max`."""
        with_indices = isinstance(dim, (int, np.integer)) and axis is None
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        values = -ops.MaxFunction.apply(-self, dim, keepdim)
        if not with_indices:
            return values
        return MaxResult(values, self.argmin(dim, keepdim))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the largest element (of the flattened tensor without ``dim``)."""
        return _index_of(np.argmax, self.data, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the smallest element (of the flattened tensor without ``dim``)."""
        return _index_of(np.argmin, self.data, dim, keepdim)

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
        """Swap two axes (the last two by default)."""
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
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
        return self.reshape(np.expand_dims(self.data, dim).shape)

    def squeeze(self, dim: int | None = None) -> Tensor:
        return self.reshape(np.squeeze(self.data, axis=dim).shape)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItemFunction.apply(self, _unwrap_index(index))

    # ------------------------------------------------ comparisons (no gradient)
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        """``self == other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self.data == _data(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        """``self != other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self.data != _data(other))

    def __lt__(self, other: Any) -> Tensor:
        """``self < other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self.data < _data(other))

    def __le__(self, other: Any) -> Tensor:
        """``self <= other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self.data <= _data(other))

    def __gt__(self, other: Any) -> Tensor:
        """``self > other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self.data > _data(other))

    def __ge__(self, other: Any) -> Tensor:
        """``self >= other`` elementwise: a bool tensor, no gradient."""
        return Tensor(self.data >= _data(other))

    # The method names PyTorch gives the comparisons above.
    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__


def _index_of(argfunction, data: np.ndarray, dim: int | None, keepdim: bool) -> Tensor:
    out = argfunction(data, axis=dim)
    if keepdim and dim is not None:
        out = np.expand_dims(out, dim)
    return Tensor(out)


def _data(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_data(i) for i in index)
    return _data(index)
