"""Exercise kernel_timing: a kernel against its numpy twin, checked then timed (chapter 9).

Chapter 9 opens the Cython min-selector kernel. Change it (a tile size, a loop order),
rebuild it with ``python setup.py build_ext --inplace``, and the question is whether
it is still right and whether it got faster. Write the function that answers both.

1. Call ``kernel(*args)`` once, then ``twin(*args)`` once, untimed: this warms caches
   up and gives two answers, which must have the same shape and agree as
   ``numpy.allclose`` decides; raise ValueError otherwise.
2. Run ``repeats`` rounds. In each round, time one call of the kernel, then one call of
   the twin: the time of a call is ``clock()`` after it minus ``clock()`` before it.
3. Return the medians :math:`t_\\mathrm{kernel}` and :math:`t_\\mathrm{twin}` of the
   timed calls, the speedup :math:`t_\\mathrm{twin} / t_\\mathrm{kernel}` (infinite
   when :math:`t_\\mathrm{kernel} = 0`) and :math:`\\max |a_\\mathrm{kernel} - a_\\mathrm{twin}|`.

Interleaving makes a change of the machine's load hit both alike; the median ignores a
slow outlier.

Check your answer::

    python -m tinymin exercise check kernel_timing --file this_file.py

tinymin's own answer: ``tinymin._ext.twins.compare_to_twin``.
"""

import time

import numpy as np


def compare_to_twin(kernel, twin, args, repeats: int = 5, clock=time.perf_counter) -> dict:
    """Check that the kernel and its twin agree on ``args``, then time both.

    Parameters
    ----------
    kernel, twin : callable
        Called as ``kernel(*args)`` and ``twin(*args)``.
    args : sequence
    repeats : int
        Timed rounds (at least 1; raise ValueError otherwise).
    clock : callable
        ``clock()`` returns the time in seconds.

    Returns
    -------
    dict
        ``{"kernel_seconds": ..., "twin_seconds": ..., "speedup": ...,
        "max_abs_difference": ...}``, floats.
    """
    raise NotImplementedError
