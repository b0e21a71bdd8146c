"""Exercise sum_to: the backward of broadcasting (chapter 1).

When ``a`` of shape ``shape`` is broadcast to a bigger array in the forward pass, each
element of ``a`` is used once for every position it was copied to. Its gradient is
therefore the sum of the output gradient over those positions:

.. math::

    \\frac{\\partial L}{\\partial a_i} = \\sum_{j \\,:\\, j \\mapsto i} \\frac{\\partial L}{\\partial y_j}

Broadcasting copies in two ways (numpy's rules): it *prepends* axes on the left, and it
*stretches* axes of size 1. Undo both.

Check your answer::

    python -m tinymin exercise check sum_to --file this_file.py

tinymin's own answer: ``tinymin.autograd.sum_to``.
"""

import numpy as np


def sum_to(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, the shape of the operand before broadcasting.

    Parameters
    ----------
    grad : numpy.ndarray
        Gradient with respect to the broadcast result.
    shape : tuple of int
        Shape of the operand before broadcasting (``grad.shape`` can be broadcast from it).

    Returns
    -------
    numpy.ndarray
        An array of exactly ``shape``.
    """
    raise NotImplementedError
