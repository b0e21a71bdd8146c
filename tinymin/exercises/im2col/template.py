"""Exercise im2col: unfold image patches into the rows of a matrix (chapter 5).

A convolution becomes one matrix product when every receptive field (patch) of the
image is copied into one row of a matrix ``cols``. With ``x`` of shape ``(N, C, H, W)``,
a kernel ``(KH, KW)``, stride ``s`` and zero padding ``p`` on every side,
``OH = (H + 2p - KH) // s + 1`` and ``OW = (W + 2p - KW) // s + 1``, and

.. math::

    \\mathrm{cols}[(n \\cdot OH + i) \\cdot OW + j,\\ (c \\cdot KH + u) \\cdot KW + v]
        = x_{\\mathrm{padded}}[n, c,\\ i s + u,\\ j s + v]

so that ``cols @ weight.reshape(C_out, -1).T`` holds the convolution's outputs, one row
per output position ``(n, i, j)``.

Check your answer::

    python -m tinymin exercise check im2col --file this_file.py

tinymin's own answer: ``tinymin._ext.reference.im2col`` (readable numpy) and the Cython
kernel in ``tinymin/_ext/_im2col.pyx``.
"""

import numpy as np


def im2col(x: np.ndarray, kernel_size: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The column matrix of ``x`` for a square ``kernel_size`` kernel.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, C, H, W)
    kernel_size, stride : int
        Positive.
    padding : int
        Zeros added on each side of H and W (non-negative).

    Returns
    -------
    numpy.ndarray, shape (N * OH * OW, C * kernel_size * kernel_size)
    """
    raise NotImplementedError
