"""The primitive differentiable operations, one :class:`~tinymin.autograd.Function` each.

Each class keeps its ``forward`` and its ``backward`` side by side. Tensor methods and
the ``tinymin.*`` functions call ``SomeOp.apply``; composite operations (``mean``,
``softmax``, ...) are written from these primitives instead of as new Functions.
"""

from tinymin.ops.arithmetic import Add, Div, MatMul, Mul, Neg, Pow, Sub
from tinymin.ops.reduction import Max, Sum
from tinymin.ops.shape import Cat, GetItem, Permute, Reshape, Stack, Where
from tinymin.ops.unary import Abs, Clip, Exp, Log, Sqrt

__all__ = [
    "Abs", "Add", "Cat", "Clip", "Div", "Exp", "GetItem", "Log", "MatMul", "Max", "Mul",
    "Neg", "Permute", "Pow", "Reshape", "Sqrt", "Stack", "Sub", "Sum", "Where",
]
