"""The engine's operations: the primitives, one :class:`~tinymin.autograd.Function`
each, and what is built from them.

Each class keeps its ``forward`` and its ``backward`` side by side. Tensor methods and
the ``tinymin.*`` functions call ``SomeFunction.apply``, or the same composite operation
(``maximum``, ``logsumexp``, ``split``, ...; see ``tinymin/ops/composite.py``), which
is written from these primitives instead of as a new Function, so autograd derives its
backward.

Every autograd Function in tinymin ends in ``Function`` (the name without it belongs
to the Module or function a user calls), and lives in one of these files:

``tinymin/ops/arithmetic.py``
    AddFunction, SubFunction, MulFunction, DivFunction, NegFunction, PowFunction,
    MatMulFunction
``tinymin/ops/reduction.py``
    SumFunction, MaxFunction
``tinymin/ops/shape.py``
    ReshapeFunction, PermuteFunction, ContiguousFunction, GetItemFunction, CatFunction,
    StackFunction, WhereFunction
``tinymin/ops/unary.py``
    ExpFunction, LogFunction, SqrtFunction, AbsFunction, ClipFunction, AsTypeFunction
    (``Tensor.astype``)
``tinymin/ops/activation.py``
    ReLUFunction, LeakyReLUFunction, SigmoidFunction, TanhFunction, LogSoftmaxFunction
``tinymin/nn/functional/conv.py``
    Conv2dFunction
``tinymin/nn/functional/linear.py``
    LinearFunction
``tinymin/nn/functional/pooling.py``
    MaxPool2dFunction, AvgPool2dFunction
``tinymin/minconv/functional.py``
    MinConv2dFunction (Algorithm 1 of the paper)

Beside the Functions, the package holds what the layers above share:
``tinymin/ops/composite.py`` (``maximum``, ``logsumexp``, ``expand``, ``split`` ...,
written from the primitives), ``tinymin/ops/conv.py`` (the convolution machinery under
both ``conv2d`` and ``min_conv2d``: geometry, im2col in chunks, the exact backward) and
``tinymin/ops/checks.py`` (argument checks). The package imports nothing above the
engine: ``nn`` and ``minconv`` build on it, never the other way.
"""

from tinymin.ops.arithmetic import (
    AddFunction,
    DivFunction,
    MatMulFunction,
    MulFunction,
    NegFunction,
    PowFunction,
    SubFunction,
)
from tinymin.ops.reduction import MaxFunction, SumFunction
from tinymin.ops.shape import (
    CatFunction,
    ContiguousFunction,
    GetItemFunction,
    PermuteFunction,
    ReshapeFunction,
    StackFunction,
    WhereFunction,
)
from tinymin.ops.unary import (
    AbsFunction,
    AsTypeFunction,
    ClipFunction,
    ExpFunction,
    LogFunction,
    SqrtFunction,
)

__all__ = [
    "AbsFunction", "AddFunction", "AsTypeFunction", "CatFunction", "ClipFunction", "ContiguousFunction",
    "DivFunction",
    "ExpFunction", "GetItemFunction", "LogFunction", "MatMulFunction", "MaxFunction",
    "MulFunction", "NegFunction", "PermuteFunction", "PowFunction", "ReshapeFunction",
    "SqrtFunction", "StackFunction", "SubFunction", "SumFunction", "WhereFunction",
]
