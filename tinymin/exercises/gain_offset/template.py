"""Exercise gain_offset: the least-squares gain and offset of conversion (chapter 12).

Converting a trained exact network, each min layer's output :math:`s` is fitted to the
exact convolution's output :math:`t` by a gain and an offset per output channel
:math:`c`, over all images and pixels :math:`i` of that channel:

.. math::

    \\min_{g_c,\\, o_c} \\sum_i (t_{ci} - g_c\\, s_{ci} - o_c)^2

With one gain shared by every channel (``per_channel=False``: the scale then folds into
the next min layer), the offsets stay per channel and the sum runs over the channels
too:

.. math::

    \\min_{g,\\, o_1, \\dots, o_C} \\sum_c \\sum_i (t_{ci} - g\\, s_{ci} - o_c)^2

A channel (or, shared, every channel) whose :math:`s` is constant cannot tell a gain
from an offset: take gain 1 there.

Check your answer::

    python -m tinymin exercise check gain_offset --file this_file.py

tinymin's own answer: ``fit_gain_offset`` in ``tinymin/minconv/calibrate.py``, used by
``calibrate_min``.
"""

import numpy as np


def fit_gain_offset(approx: np.ndarray, target: np.ndarray, per_channel: bool = True) -> tuple:
    """Least-squares ``target ~ gain * approx + offset`` per channel (axis 1).

    Parameters
    ----------
    approx, target : numpy.ndarray, shape (N, C, H, W)
        The min layer's outputs :math:`s` and the exact ones :math:`t`.
    per_channel : bool
        One gain per channel (True) or one shared by all channels (False).

    Returns
    -------
    (gain, offset) : tuple of numpy.ndarray
        Each of shape (C,), float64 (with ``per_channel=False`` every gain is equal).
    """
    raise NotImplementedError
