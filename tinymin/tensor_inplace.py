"""The Tensor's in-place methods: ``add_ sub_ mul_ div_ clamp_``, ``+= -= *= /=``,
``zero_ fill_ copy_ normal_ uniform_`` and ``x[i] = v``.

A mixin of :class:`~tinymin.tensor.Tensor`, kept in its own file so each file has one
job. Every in-place change bumps the tensor's version counter
(:class:`~tinymin.autograd.VersionCounter`), so a backward that saved the old values
raises instead of using the new ones. Three cases, as in PyTorch:

* outside the graph (no grad needed, or inside :func:`~tinymin.grad_mode.no_grad`): the
  numbers are written, nothing is recorded. This is how optimizers, initialisers and
  ``w.data.normal_(0, 0.01)`` change parameters;
* a leaf that requires grad, or a view of a tensor in the graph: refused, because
  the gradient would be of a tensor that no longer exists;
* any other tensor in the graph (``c += c + 1`` on ``c = a + b``): the arithmetic is
  recorded as the out-of-place op would be, and the tensor becomes that op's output
  (its ``grad_fn`` changes) while keeping its memory, so views see the new values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinymin import autograd, ops
from tinymin._arrays import broadcasts_to, torch_index_steps

if TYPE_CHECKING:  # for type hints only; tensor.py is built on this module
    from tinymin.tensor import Tensor


class InPlaceMethods:
    """Methods that change a Tensor's numbers in its own memory."""

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (as in PyTorch)."""
        return self._version_counter.value

    # ------------------------------------------------------------- arithmetic
    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """In place :math:`x \\leftarrow x + \\alpha \\cdot \\text{other}`."""
        return self._arithmetic_("add_", ops.AddFunction, np.add, _scaled(other, alpha))

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """In place :math:`x \\leftarrow x - \\alpha \\cdot \\text{other}`."""
        return self._arithmetic_("sub_", ops.SubFunction, np.subtract, _scaled(other, alpha))

    def mul_(self, other: Any) -> Tensor:
        """In place :math:`x \\leftarrow x \\cdot \\text{other}`."""
        return self._arithmetic_("mul_", ops.MulFunction, np.multiply, other)

    def div_(self, other: Any) -> Tensor:
        """In place :math:`x \\leftarrow x / \\text{other}`."""
        return self._arithmetic_("div_", ops.DivFunction, np.true_divide, other)

    def __iadd__(self, other: Any) -> Tensor:
        return self._arithmetic_("+=", ops.AddFunction, np.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._arithmetic_("-=", ops.SubFunction, np.subtract, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._arithmetic_("*=", ops.MulFunction, np.multiply, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._arithmetic_("/=", ops.DivFunction, np.true_divide, other)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (torch names)
        """In-place :meth:`clamp`."""
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        if self._in_graph(None):
            return self._record_("clamp_", ops.ClipFunction.apply, min, max)
        return self._write_("clamp_", lambda d: np.clip(d, _value(min), _value(max), out=d))

    def _arithmetic_(self, op: str, function, ufunc, other: Any) -> Tensor:
        if self._in_graph(other):
            return self._record_(op, function.apply, other)
        return self._write_(op, lambda d: ufunc(d, _value(other), out=d, casting="same_kind"))

    # -------------------------------------------------------------- new values
    def zero_(self) -> Tensor:
        """Set every element to 0, in place."""
        return self._overwrite_("zero_", lambda d: d.fill(0))

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value``, in place."""
        return self._overwrite_("fill_", lambda d: d.fill(_value(value)), value)

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        """Fill with samples of :math:`\\mathcal N(\\text{mean}, \\text{std}^2)` from
        tinymin's seeded generator, in place (``w.data.normal_(0, 0.01)``)."""
        from tinymin.random import default_rng

        return self._overwrite_("normal_", lambda d: np.copyto(
            d, default_rng().normal(mean, std, d.shape), casting="unsafe"))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        """Fill with samples of the uniform distribution on :math:`[a, b)`, in place."""
        from tinymin.random import default_rng

        return self._overwrite_("uniform_", lambda d: np.copyto(
            d, default_rng().uniform(a, b, d.shape), casting="unsafe"))

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast to this shape, same-kind casting) into this tensor."""
        source = np.asarray(_value(src))
        if not broadcasts_to(source.shape, self.shape):
            raise ValueError(f"copy_: cannot copy shape {source.shape} into shape {self.shape}")
        return self._overwrite_("copy_", lambda d: np.copyto(d, source, casting="same_kind"), src)

    def __setitem__(self, index: Any, value: Any) -> None:
        from tinymin.tensor import _unwrap_index

        index = _unwrap_index(index)
        steps = torch_index_steps(index)  # ints beside index arrays: PyTorch's order
        if steps is not None:
            self._overwrite_("__setitem__",
                             lambda d: d[steps[0]].__setitem__(steps[1], _value(value)), value)
            return
        self._overwrite_("__setitem__", lambda d: d.__setitem__(index, _value(value)), value)

    # ------------------------------------------------------------- machinery
    def _in_graph(self, other: Any) -> bool:
        """Whether an in-place op on this tensor with ``other`` must be recorded."""
        return autograd.is_grad_enabled() and (
            self.requires_grad or bool(getattr(other, "requires_grad", False)))

    def _write_(self, op: str, write) -> Tensor:
        """Change the numbers outside the graph and count the change."""
        write(self._array)
        self._version_counter.bump(op)
        return self

    def _overwrite_(self, op: str, write, source: Any = None) -> Tensor:
        """A write whose result is not arithmetic on the old values: allowed outside
        the graph only (tinymin records arithmetic, not overwrites)."""
        if self._in_graph(source):
            self._refuse_in_graph(op)
            raise RuntimeError(
                f"{op}: tinymin does not record this in-place write into the graph (a "
                f"tensor that requires grad: this one, or the value written). Build the "
                f"new tensor out of place (tinymin.where, tinymin.cat, x * 0 + v), or do "
                f"the write inside tinymin.no_grad() if no gradient should flow through it"
            )
        return self._write_(op, write)

    def _refuse_in_graph(self, op: str) -> None:
        """PyTorch's two refusals: a leaf that requires grad, and a view in the graph."""
        if self.requires_grad and self.grad_fn is None:
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad is being used in an in-place "
                f"operation; wrap the update in tinymin.no_grad() (an optimizer step), or "
                f"change p.data"
            )
        ctx = self.grad_fn
        if ctx is not None and any(
            getattr(a, "_array", None) is not None and a is not self
            and np.may_share_memory(self._array, a._array) for a in ctx.inputs
        ):
            raise RuntimeError(
                f"{op}: in-place change of a view (slice, reshape, transpose) of a tensor "
                f"in the graph; tinymin records in-place ops on whole tensors only. "
                f"Use the out-of-place op, or change a .clone() of the view"
            )
        # PyTorch rebases the other tensors over the same memory onto the in-place op;
        # tinymin cannot, so their gradients would be computed from the old graph:
        # refused where a view of this tensor is in the graph, or this tensor is itself
        # a view of another live tensor
        others, is_view = self._version_counter.sharing(self)
        if any(other.requires_grad for other in others) or (others and is_view):
            raise RuntimeError(
                f"{op}: in-place change of a tensor that shares its memory with another "
                f"one still in use (a view of it, or the tensor it is a view of: a slice, "
                f"reshape, transpose or detach()); tinymin records in-place ops only on "
                f"tensors without such views. Use the out-of-place op, or change a .clone()"
            )

    def _record_(self, op: str, apply, *args: Any) -> Tensor:
        """Record ``apply(self, *args)`` in the graph and write its result into this
        tensor's memory; this tensor becomes the op's output (its new ``grad_fn``).

        The op reads a copy of the old values, with a version counter of its own, so
        what it saves for its backward stays valid after the write. Every earlier op
        that saved this tensor sees the counter move and raises in backward.
        """
        self._refuse_in_graph(op)
        memory, counter = self._array, self._version_counter
        self._array, self._version_counter = memory.copy(), autograd.VersionCounter()
        try:
            result = apply(self, *args)
        finally:
            self._array, self._version_counter = memory, counter
        np.copyto(memory, result._array, casting="same_kind")
        counter.bump(op)
        self.grad_fn, self.requires_grad = result.grad_fn, result.requires_grad
        return self


def _value(value: Any) -> Any:
    """A Tensor's numpy array; any other value as it is."""
    return value._array if hasattr(value, "_array") else value


def _scaled(other: Any, alpha: Any) -> Any:
    """``alpha * other``, in the graph if ``other`` is a Tensor (``add_(x, alpha=)``)."""
    if alpha == 1:
        return other
    return other * alpha if hasattr(other, "_array") else np.multiply(other, alpha)
