"""What stands in for multiplication: the signed selectors and Table 2's multiplexer.

A min-conv layer computes :math:`\\sum_k m(x_k, \\hat w_k)` where a convolution computes
:math:`\\sum_k x_k w_k` (docs/guides/minconv_math.rst, section 4). Three choices of
:math:`m` are built in, each a GEMM-shaped kernel in :mod:`tinymin._ext` with a numpy
twin in :mod:`tinymin._ext.reference`:

``"min"`` (the paper)
    :math:`m(a, b) = \\operatorname{sgn}(a)\\operatorname{sgn}(b)\\min(|a|, |b|)`
``"max"`` (an ablation, section 2)
    :math:`\\operatorname{sgn}(a)\\operatorname{sgn}(b)\\max(|a|, |b|)`
``"adder"`` (AdderNet-style)
    :math:`-|a - b|`

:func:`multiplexer` is the scalar min-selector written as the paper's Table 2: one
comparison and one sign test, no multiplication.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tinymin import _ext

#: The selector operators that can stand in for multiplication (one GEMM each).
OPERATORS = ("min", "max", "adder")

SelectorGemm = Callable[[np.ndarray, np.ndarray], np.ndarray]


def selector_kernel(operator: str) -> SelectorGemm:
    """The GEMM-shaped kernel ``(P, K) x (C_out, K) -> (P, C_out)`` of an operator.

    Looked up at call time, because the backend (Cython or numpy) can change.
    """
    if operator == "min":
        return _ext.min_gemm
    if operator == "max":
        return _ext.max_gemm
    if operator == "adder":
        return _ext.adder_gemm
    raise ValueError(f"min_conv2d: operator must be one of {OPERATORS}, got {operator!r}")


def multiplexer(a: float, b: float) -> float:
    """Table 2 of the paper: the signed min-selector as a 4-to-1 multiplexer.

    No multiplication: one magnitude comparison and one sign test pick one of
    ``a, -a, b, -b``.

    ====================  ===========  =========
    comparison            sign test    m(a, b)
    ====================  ===========  =========
    ``|a| <= |b|``        ``b >= 0``   ``a``
    ``|a| <= |b|``        ``b < 0``    ``-a``
    ``|a| >  |b|``        ``a >= 0``   ``b``
    ``|a| >  |b|``        ``a < 0``    ``-b``
    ====================  ===========  =========

    It equals :math:`\\operatorname{sgn}(a)\\operatorname{sgn}(b)\\min(|a|, |b|)`.
    """
    if abs(a) <= abs(b):
        return a if b >= 0 else -a
    return b if a >= 0 else -b
