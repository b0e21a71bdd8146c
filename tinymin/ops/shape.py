"""Operations that move elements around: reshape, permute, indexing, cat, stack, where,
and the C-contiguous copy."""

from __future__ import annotations

import numpy as np

from tinymin._arrays import float_operands, torch_index_steps
from tinymin.autograd import Context, Function, sum_to


class ReshapeFunction(Function):
    """Same elements, new shape; the gradient is reshaped back."""

    @staticmethod
    def forward(ctx: Context, a, shape):
        ctx.save_for_backward(np.shape(a))
        try:
            return np.reshape(a, shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {np.shape(a)} "
                f"({np.size(a)} elements) into {tuple(shape)}"
            ) from None

    @staticmethod
    def backward(ctx: Context, grad):
        (shape,) = ctx.saved_tensors
        return (np.reshape(grad, shape), None)


class PermuteFunction(Function):
    """Reorder axes: ``y = a.transpose(dims)``; backward applies the inverse order."""

    @staticmethod
    def forward(ctx: Context, a, dims):
        dims = tuple(int(d) % np.ndim(a) for d in dims)
        if sorted(dims) != list(range(np.ndim(a))):
            raise ValueError(f"permute: dims {dims} are not a permutation of {np.ndim(a)} axes")
        ctx.save_for_backward(dims)
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx: Context, grad):
        (dims,) = ctx.saved_tensors
        return (np.transpose(grad, np.argsort(dims)), None)


class ContiguousFunction(Function):
    """The same values in a C-contiguous array (a copy only when needed); the gradient
    passes through unchanged."""

    @staticmethod
    def forward(ctx: Context, a):
        return np.ascontiguousarray(a)

    @staticmethod
    def backward(ctx: Context, grad):
        return (grad,)


def _is_basic_index(index) -> bool:
    """Basic indexing (ints, slices, None, Ellipsis) never selects an element twice."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice, type(None), type(Ellipsis))) for i in items)


class GetItemFunction(Function):
    """``y = a[index]``: the gradient is scattered back to the selected positions.

    Advanced (integer-array) indexing may select an element more than once, so its
    backward accumulates with ``np.add.at``. An index that mixes ints with index arrays
    is taken in PyTorch's two steps (:func:`tinymin._arrays.torch_index_steps`).
    """

    @staticmethod
    def forward(ctx: Context, a, index):
        steps = torch_index_steps(index)
        ctx.save_for_backward(np.shape(a), a.dtype, index, steps)
        return a[index] if steps is None else a[steps[0]][steps[1]]

    @staticmethod
    def backward(ctx: Context, grad):
        shape, dtype, index, steps = ctx.saved_tensors
        out = np.zeros(shape, dtype=np.result_type(dtype, grad.dtype))
        if steps is not None:
            np.add.at(out[steps[0]], steps[1], grad)  # out[ints] is a view of out
        elif _is_basic_index(index):
            out[index] = grad
        else:
            np.add.at(out, index, grad)
        return (out, None)


class CatFunction(Function):
    """Concatenate along ``axis``; backward splits the gradient at the same points."""

    @staticmethod
    def forward(ctx: Context, *arrays, axis=0):
        arrays = float_operands(*arrays)  # an int64 part of a float32 cat: float32, as PyTorch
        shapes = [np.shape(a) for a in arrays]
        try:
            out = np.concatenate(arrays, axis=axis)
        except ValueError:
            raise ValueError(f"cat: shapes {shapes} do not match except along dim {axis}") from None
        ctx.save_for_backward(shapes, axis % out.ndim)
        return out

    @staticmethod
    def backward(ctx: Context, grad):
        shapes, axis = ctx.saved_tensors
        splits = np.cumsum([s[axis] for s in shapes])[:-1]
        return tuple(np.split(grad, splits, axis=axis))


class StackFunction(Function):
    """Stack equal-shaped arrays along a new ``axis``; backward unstacks."""

    @staticmethod
    def forward(ctx: Context, *arrays, axis=0):
        arrays = float_operands(*arrays)
        shapes = {np.shape(a) for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"stack: all shapes must be equal, got {sorted(shapes)}")
        out = np.stack(arrays, axis=axis)
        ctx.save_for_backward(axis % out.ndim, len(arrays))
        return out

    @staticmethod
    def backward(ctx: Context, grad):
        axis, n = ctx.saved_tensors
        return tuple(np.take(grad, i, axis=axis) for i in range(n))


class WhereFunction(Function):
    """``y = a`` where ``condition`` else ``b``; each side gets the gradient where chosen."""

    @staticmethod
    def forward(ctx: Context, condition, a, b):
        condition = np.asarray(condition, dtype=bool)
        a, b = float_operands(a, b)
        ctx.save_for_backward(condition, np.shape(a), np.shape(b))
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx: Context, grad):
        condition, shape_a, shape_b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[1:]
        zero = np.zeros((), dtype=grad.dtype)
        return (None,
                sum_to(np.where(condition, grad, zero), shape_a) if need_a else None,
                sum_to(np.where(condition, zero, grad), shape_b) if need_b else None)
