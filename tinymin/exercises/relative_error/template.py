"""Exercise relative_error: how far the signed minimum is from the product, Eq. 6 (chapter 6).

The min-selector replaces the product :math:`m = xw` by the signed minimum
:math:`s(x, w) = \\operatorname{sgn}(x)\\operatorname{sgn}(w)\\min(|x|, |w|)`. Its
relative error (Eq. 6 of docs/guides/minconv_math.rst) is

.. math::

    e(x, w) = \\frac{|m - s(x, w)|}{|m|}

undefined where :math:`m = 0`. Chapter 6 shows, from Eq. 7, why it is small when
the magnitudes sit near 1, and hence why Algorithm 1 rescales both operands.

Check your answer::

    python -m tinymin exercise check relative_error --file this_file.py

tinymin's own answer: ``tinymin.analysis.approximation.elementwise_relative_error``.
"""

import numpy as np


def elementwise_relative_error(x, w) -> np.ndarray:
    """The relative error :math:`e(x, w)` of Eq. 6, element by element.

    Parameters
    ----------
    x, w : array_like
        The operands (lists, arrays, numbers); broadcast against each other.

    Returns
    -------
    numpy.ndarray
        float64, of the broadcast shape; NaN where :math:`xw = 0`, with no warning.
    """
    raise NotImplementedError
