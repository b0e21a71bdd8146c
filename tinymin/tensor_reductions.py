"""The Tensor's reductions: ``sum mean var std prod logsumexp max min argmax argmin
all any``.

A mixin of :class:`~tinymin.tensor.Tensor`, kept in its own file so each file has one
job. Every reduction takes PyTorch's ``dim``/``keepdim`` and numpy's ``axis``/``keepdims``
alike (one of each pair), so code written for either library runs.
"""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING, Any

import numpy as np

from tinymin import ops
from tinymin._arrays import reduction_args
from tinymin.ops import composite
from tinymin.ops.reduction import normalize_axes

if TYPE_CHECKING:  # for type hints only; tensor.py is built on this module
    from tinymin.tensor import Tensor

#: What ``Tensor.max(dim=...)`` returns, as ``torch.return_types.max`` does.
MaxResult = namedtuple("MaxResult", ["values", "indices"])


class ReductionMethods:
    """Reductions of a Tensor over some dims (all of them by default)."""

    def sum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
            axis: Any = None, keepdims: bool | None = None) -> Tensor:
        """Sum over ``dim`` (PyTorch) or ``axis`` (numpy); all elements by default.

        Integer and bool tensors are summed as int64 (torch's rule; numpy would keep
        unsigned types unsigned). ``dtype=`` converts the tensor first and gives the
        result that type, as in PyTorch (an integer one wraps around as torch's does).
        """
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        total = ops.SumFunction.apply(self._reduction_input(dtype), dim, keepdim)
        return total if dtype is None else total.type(dtype)

    def mean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
             axis: Any = None, keepdims: bool | None = None) -> Tensor:
        """Arithmetic mean: ``sum / count`` over the reduced axes (``dtype=`` as in
        :meth:`sum`)."""
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        axes = normalize_axes(dim, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        if dtype is not None and np.dtype(dtype).kind not in "fc":
            raise TypeError(f"mean: dtype must be a floating dtype, got {np.dtype(dtype)} "
                            "(as in PyTorch)")
        return self._reduction_input(dtype).sum(dim, keepdim) / count

    def _reduction_input(self, dtype: Any) -> Tensor:
        """This tensor converted to ``dtype`` (in the graph for a float one), or itself."""
        return self if dtype is None else self.type(dtype)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None, axis: Any = None,
            keepdims: bool | None = None) -> Tensor:
        """Variance over ``dim`` with Bessel's correction by default, as in PyTorch; see
        :func:`tinymin.ops.composite.var`."""
        return composite.var(self, dim, unbiased, keepdim, correction=correction, axis=axis,
                             keepdims=keepdims)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None, axis: Any = None,
            keepdims: bool | None = None) -> Tensor:
        """Standard deviation, :math:`\\sqrt{\\operatorname{var}}`; see :meth:`var`."""
        return composite.std(self, dim, unbiased, keepdim, correction=correction, axis=axis,
                             keepdims=keepdims)

    def prod(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
             axis: Any = None, keepdims: bool | None = None) -> Tensor:
        """Product over ``dim``; all elements by default (``dtype=`` as in :meth:`sum`).
        See :class:`tinymin.ops.reduction.ProdFunction`."""
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        product = ops.ProdFunction.apply(self._reduction_input(dtype), dim, keepdim)
        return product if dtype is None else product.type(dtype)

    def logsumexp(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
                  keepdims: bool | None = None) -> Tensor:
        """:math:`\\log \\sum e^{x}` along ``dim``, overflow-free; see :func:`tinymin.logsumexp`."""
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        return composite.logsumexp(self, dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor:
        """Whether every element (along ``dim``) is non-zero; a bool tensor, no gradient."""
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        return self._from_array(np.asarray(np.all(self._array, axis=dim, keepdims=keepdim)))

    def any(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor:
        """Whether some element (along ``dim``) is non-zero; a bool tensor, no gradient."""
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        return self._from_array(np.asarray(np.any(self._array, axis=dim, keepdims=keepdim)))

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor | MaxResult:
        """Largest element; with one int dim (``dim=`` or ``axis=``), a ``(values,
        indices)`` pair as in PyTorch; with a tuple of dims, only the values."""
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        values = ops.MaxFunction.apply(self, dim, keepdim)
        if not isinstance(dim, (int, np.integer)):
            return values
        return MaxResult(values, self.argmax(dim, keepdim))

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Tensor | MaxResult:
        """Smallest element, computed as ``-max(-x)`` for floats (so the gradient is
        :meth:`max`'s), directly for integers and bools (their negation would wrap
        around; they carry no gradient); same return rules as :meth:`max`."""
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        if self.dtype.kind == "f":
            values = -ops.MaxFunction.apply(-self, dim, keepdim)
        else:
            axes = normalize_axes(dim, self.ndim)
            values = self._from_array(np.asarray(np.min(self._array, axis=axes, keepdims=keepdim)))
        if not isinstance(dim, (int, np.integer)):
            return values
        return MaxResult(values, self.argmin(dim, keepdim))

    def argmax(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
               keepdims: bool | None = None) -> Tensor:
        """Index of the largest element (of the flattened tensor without ``dim``)."""
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        return self._from_array(_index_of(np.argmax, self._array, dim, keepdim))

    def argmin(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
               keepdims: bool | None = None) -> Tensor:
        """Index of the smallest element (of the flattened tensor without ``dim``)."""
        dim, keepdim = reduction_args(dim, keepdim, axis, keepdims)
        return self._from_array(_index_of(np.argmin, self._array, dim, keepdim))


def _index_of(argfunction, data: np.ndarray, dim: int | None, keepdim: bool) -> np.ndarray:
    """The int64 index array of ``argfunction`` (``np.argmax``/``np.argmin``) over ``dim``."""
    out = np.asarray(argfunction(data, axis=dim), dtype=np.int64)
    if keepdim:
        out = np.expand_dims(out, dim) if dim is not None else out.reshape((1,) * data.ndim)
    return out
