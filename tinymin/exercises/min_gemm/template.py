"""Exercise min_gemm: the signed min-selector GEMM, Eq. 13 (chapters 6-7).

A min-conv layer replaces each product of an input and a weight by the signed minimum

.. math::

    m(a, b) = \\operatorname{sgn}(a)\\,\\operatorname{sgn}(b)\\,\\min(|a|, |b|)

and otherwise computes what a matrix product computes (Eq. 13, the sum without its
factor :math:`\\mu_w`):

.. math::

    \\mathrm{out}[p, c] = \\sum_k m(\\mathrm{cols}[p, k],\\ \\hat w[c, k])

``cols`` is the im2col matrix of the clipped input, ``w_hat`` the rescaled weights, one
filter per row. Write it with numpy (no Python loop over ``p`` is needed).

Check your answer::

    python -m tinymin exercise check min_gemm --file this_file.py

tinymin's own answer: ``tinymin._ext.reference.min_gemm`` and the Cython kernel in
``tinymin/_ext/_min_gemm.pyx``; the maths is in docs/guides/minconv_math.rst.
"""

import numpy as np


def min_gemm(cols: np.ndarray, w_hat: np.ndarray) -> np.ndarray:
    """Signed min-selector "matrix product" of ``cols`` and the filters ``w_hat``.

    Parameters
    ----------
    cols : numpy.ndarray, shape (P, K)
    w_hat : numpy.ndarray, shape (C, K)

    Returns
    -------
    numpy.ndarray, shape (P, C)
    """
    raise NotImplementedError
