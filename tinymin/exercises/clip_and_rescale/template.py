"""Exercise clip_and_rescale: Algorithm 1's steps 3, 4 and 7 (chapter 7).

Before the min-selector sees them, both operands are clipped in units of their mean
magnitude :math:`\\mu` (step 3, Eq. 14), and the weights are rescaled so that both have
the same mean magnitude (step 4, Eq. 12):

.. math::

    a_c = \\mu\\,\\operatorname{clip}(a / \\mu,\\ -T,\\ T), \\qquad
    \\hat w = w_c\\, \\frac{\\mu_x}{\\mu_w}

In the backward pass the gradient of the exact convolution goes back through the clip
as its derivative, the straight-through mask (step 7, Eq. 15): 1 where
:math:`|a / \\mu| \\le T`, 0 outside; :math:`\\mu_x` and :math:`\\mu_w` count as constants.

Check your answer::

    python -m tinymin exercise check clip_and_rescale --file this_file.py

tinymin's own answer: the functions of the same names in
``tinymin/minconv/functional.py`` (``tinymin.trace()`` prints what they compute).
"""

from __future__ import annotations

import numpy as np


def step3_clip(a: np.ndarray, mu: float, clip_value: float | None) -> tuple:
    """Step 3: the clipped array and the mask of the entries inside the bound.

    Returns
    -------
    (a_c, inside) : tuple
        ``a_c`` of ``a``'s shape; ``inside`` a boolean array, True where
        :math:`|a| \\le T \\mu` (the bound itself counts as inside). A ``clip_value``
        of None clips nothing: ``(a, None)``.
    """
    raise NotImplementedError


def step4_rescale(w_c: np.ndarray, mu_x: float, mu_w: float) -> np.ndarray:
    """Step 4: :math:`\\hat w = w_c\\, \\mu_x / \\mu_w` (``mu_w`` > 0 here)."""
    raise NotImplementedError


def step7_through_clip(grad: np.ndarray, inside: np.ndarray | None) -> np.ndarray:
    """Step 7: the gradient with respect to ``a`` from the one with respect to ``a_c``
    (``grad`` itself when ``inside`` is None: nothing was clipped)."""
    raise NotImplementedError
