# cython: language_level=3
"""The OpenMP runtime itself, no computation: what ``tinymin/_ext/threads.py`` needs from it.

``start_team(n)`` runs one parallel region of ``n`` threads in the calling thread, so
that the runtime (libgomp) keeps a pool of ``n - 1`` docked, sleeping workers for that
thread. threads.py uses it once, from a thread of its own, when another library loaded
libgomp before tinymin could set its wait policy (step 4 of the policy there).
"""

from cython.parallel cimport prange


def start_team(int n) -> int:
    """Run one parallel region of ``n`` threads here; returns ``0 + 1 + ... + (n - 1)``."""
    cdef int i, total = 0
    for i in prange(n, nogil=True, num_threads=n, schedule="static", chunksize=1):
        total += i
    return total
