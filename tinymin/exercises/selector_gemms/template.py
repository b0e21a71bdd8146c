"""Exercise selector_gemms: two other operators in place of the product (chapter 11).

A min-conv layer computes :math:`\\sum_k m(x_k, w_k)` where a convolution computes
:math:`\\sum_k x_k w_k`. Chapter 11 tries two other choices of :math:`m`, each a
GEMM-shaped kernel ``(P, K) x (C, K) -> (P, C)``:

.. math::

    \\text{max-selector:}\\quad
    \\mathrm{out}[p, c] = \\sum_k \\operatorname{sgn}(\\mathrm{cols}[p, k])\\,
        \\operatorname{sgn}(w[c, k])\\, \\max(|\\mathrm{cols}[p, k]|, |w[c, k]|)

.. math::

    \\text{adder (AdderNet):}\\quad
    \\mathrm{out}[p, c] = -\\sum_k |\\mathrm{cols}[p, k] - w[c, k]|

Check your answer::

    python -m tinymin exercise check selector_gemms --file this_file.py

tinymin's own answer: ``max_gemm`` and ``adder_gemm`` in ``tinymin/_ext/reference.py``
(and the Cython kernels in ``tinymin/_ext/_selector_gemm.pyx``).
"""

import numpy as np


def max_gemm(cols: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The signed max-selector GEMM.

    Parameters
    ----------
    cols : numpy.ndarray, shape (P, K)
    w : numpy.ndarray, shape (C, K)

    Returns
    -------
    numpy.ndarray, shape (P, C)
    """
    raise NotImplementedError


def adder_gemm(cols: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Minus the L1 distance between every row of ``cols`` and every filter of ``w``.

    Parameters
    ----------
    cols : numpy.ndarray, shape (P, K)
    w : numpy.ndarray, shape (C, K)

    Returns
    -------
    numpy.ndarray, shape (P, C)
    """
    raise NotImplementedError
