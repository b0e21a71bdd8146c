"""Exercise matmul_backward: the gradients of a batched matrix product (chapters 1-2).

For :math:`Y = A B` with ``a`` of shape ``(..., m, k)`` and ``b`` of shape ``(..., k, n)``
(numpy's ``a @ b``: the leading "batch" axes broadcast against each other):

.. math::

    \\frac{\\partial L}{\\partial A} = \\frac{\\partial L}{\\partial Y} B^\\top, \\qquad
    \\frac{\\partial L}{\\partial B} = A^\\top \\frac{\\partial L}{\\partial Y}

where :math:`^\\top` swaps the last two axes only. When one operand was broadcast over
the batch axes of the other, its gradient must be summed back to its own shape (the
sum_to exercise).

Check your answer::

    python -m tinymin exercise check matmul_backward --file this_file.py

tinymin's own answer: ``MatMulFunction.backward`` in ``tinymin/ops/arithmetic.py``.
"""

import numpy as np


def matmul_backward(a: np.ndarray, b: np.ndarray, grad: np.ndarray) -> tuple:
    """Gradients of ``y = a @ b`` with respect to ``a`` and ``b``.

    Parameters
    ----------
    a : numpy.ndarray, shape (..., m, k), at least 2-D
    b : numpy.ndarray, shape (..., k, n), at least 2-D
    grad : numpy.ndarray
        :math:`\\partial L / \\partial Y`, of the shape of ``a @ b``.

    Returns
    -------
    (grad_a, grad_b) : tuple of numpy.ndarray
        Of the shapes of ``a`` and ``b``.
    """
    raise NotImplementedError
