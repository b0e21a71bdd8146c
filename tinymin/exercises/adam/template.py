"""Exercise adam: one Adam update with bias correction (chapter 3).

Adam keeps two moving averages per parameter, started at zero, and corrects their
bias towards zero at step :math:`t = 1, 2, \\dots`:

.. math::

    m_t &= \\beta_1 m_{t-1} + (1 - \\beta_1)\\, g_t \\\\
    v_t &= \\beta_2 v_{t-1} + (1 - \\beta_2)\\, g_t^2 \\\\
    \\hat m_t &= m_t / (1 - \\beta_1^t), \\qquad \\hat v_t = v_t / (1 - \\beta_2^t) \\\\
    \\theta_t &= \\theta_{t-1} - \\gamma\\, \\hat m_t / (\\sqrt{\\hat v_t} + \\epsilon)

Check your answer::

    python -m tinymin exercise check adam --file this_file.py

tinymin's own answer: ``tinymin.optim.Adam`` (its class docstring has the same
equations, written the way PyTorch computes them).
"""

import numpy as np


def adam_step(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, step: int,
              lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
              eps: float = 1e-8) -> tuple:
    """One Adam update; returns new arrays and leaves the inputs unchanged.

    Parameters
    ----------
    param, grad, m, v : numpy.ndarray
        :math:`\\theta_{t-1}`, :math:`g_t`, :math:`m_{t-1}`, :math:`v_{t-1}` (same shape).
    step : int
        :math:`t`, counted from 1.

    Returns
    -------
    (param, m, v) : tuple of numpy.ndarray
        :math:`\\theta_t`, :math:`m_t`, :math:`v_t`.
    """
    raise NotImplementedError
