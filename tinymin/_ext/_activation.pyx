# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The leaky ReLU's backward in one pass (float32 and float64 through ``floating``).

For every entry ``i`` (:class:`tinymin.ops.activation.LeakyReLUFunction`, with the
forward's output ``y`` as the mask: for a slope ``alpha >= 0``, ``y > 0`` exactly where
``x > 0``)::

    out[i] = grad[i]            if y[i] > 0
             alpha * grad[i]    otherwise

The readable twin (:func:`tinymin._ext.reference.leaky_relu_backward`) builds the slope
``max([y > 0], alpha)`` as an array and multiplies: three passes through memory (LeNet's
first activation is 6.4 MB), one of them a bool-to-float cast. Here each entry is read
once and written once, the select a vector blend (no branch), in chunks of ``CHUNK``
shared among OpenMP threads like the Adam update's.

The public, validating entry point is :func:`tinymin._ext.leaky_relu_backward`.
"""

from cython cimport floating
from cython.parallel cimport prange

from tinymin._ext.threads import num_threads as _num_threads

cdef enum:
    CHUNK = 32768  # entries per OpenMP work item (128 KB of float32 per array)


cdef inline void _leaky_chunk(const floating* y, const floating* g, floating* out,
                              Py_ssize_t n, floating alpha) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = g[i] * (1 if y[i] > 0 else alpha)


def leaky_relu_backward(y, grad, alpha, out):
    """``out = grad * (1 if y > 0 else alpha)``; arguments checked by the caller."""
    if y.dtype == "float32":
        _run[float](y.reshape(-1), grad.reshape(-1), out.reshape(-1), alpha)
    else:
        _run[double](y.reshape(-1), grad.reshape(-1), out.reshape(-1), alpha)
    return out


cdef _run(const floating[::1] y, const floating[::1] g, floating[::1] out, double alpha):
    cdef Py_ssize_t n = y.shape[0], nchunks = (n + CHUNK - 1) // CHUNK, c, start, size
    cdef floating a = <floating>alpha
    cdef int nt = _num_threads()
    if n == 0:
        return
    for c in prange(nchunks, nogil=True, schedule="dynamic", num_threads=nt):
        start = c * CHUNK
        size = n - start if n - start < CHUNK else CHUNK
        _leaky_chunk(&y[start], &g[start], &out[start], size, a)
