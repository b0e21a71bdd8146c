# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The Adam update in one pass (float32 and float64 through the fused type ``floating``).

For every entry ``i`` (the equations of :class:`tinymin.optim.Adam`)::

    m[i] = beta1 * m[i] + (1 - beta1) * g[i]
    v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
    vmax[i] = max(vmax[i], v[i])                       (AMSGrad only; then v = vmax)
    param[i] -= step_size * (m[i] / (sqrt(v[i]) / sqrt_bias_correction2 + eps))

How it works: the readable twin (:func:`tinymin._ext.reference.adam_update`) runs
these lines as whole-array numpy operations, each one pass through memory (3.3 M
LeNet parameters are 13 MB per array, far more than the caches). Here each entry is
read once, updated in registers and written once. The entries are split into chunks
of ``CHUNK`` shared among OpenMP threads (``schedule="dynamic"``: a core busy with
another process does not hold the step up); each chunk is a plain loop in an inline
helper, which gcc vectorises (``sqrt`` included: the extension is built with
``-fno-math-errno``).

The public, validating entry point is :func:`tinymin._ext.adam_update`.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt, sqrtf

from tinymin._ext.threads import num_threads as _num_threads

cdef enum:
    CHUNK = 16384  # entries per OpenMP work item (64 KB of float32 per array)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline void _adam_chunk(floating* p, const floating* g, floating* m, floating* v,
                             Py_ssize_t n, floating beta1, floating one_minus_beta1,
                             floating beta2, floating one_minus_beta2, floating step_size,
                             floating sqrt_bc2, floating eps) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, mi, vi
    for i in range(n):
        gi = g[i]
        mi = beta1 * m[i] + one_minus_beta1 * gi
        vi = beta2 * v[i] + one_minus_beta2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= step_size * (mi / (_sqrt(vi) / sqrt_bc2 + eps))


cdef inline void _amsgrad_chunk(floating* p, const floating* g, floating* m, floating* v,
                                floating* vmax, Py_ssize_t n, floating beta1,
                                floating one_minus_beta1, floating beta2,
                                floating one_minus_beta2, floating step_size,
                                floating sqrt_bc2, floating eps) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, mi, vi
    for i in range(n):
        gi = g[i]
        mi = beta1 * m[i] + one_minus_beta1 * gi
        vi = beta2 * v[i] + one_minus_beta2 * gi * gi
        m[i] = mi
        v[i] = vi
        vi = vmax[i] if vmax[i] > vi else vi  # keeps a NaN in v, as np.maximum does
        vmax[i] = vi
        p[i] -= step_size * (mi / (_sqrt(vi) / sqrt_bc2 + eps))


cdef _adam_typed(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
                 floating[::1] vmax, bint amsgrad, double beta1, double beta2,
                 double step_size, double sqrt_bc2, double eps, int nt):
    cdef Py_ssize_t n = p.shape[0], c, start, size
    cdef Py_ssize_t nchunks = (n + CHUNK - 1) // CHUNK
    cdef floating* vmax_ptr = &vmax[0] if amsgrad else NULL
    # the constants rounded to the dtype once, as numpy rounds a Python float operand
    cdef floating b1 = beta1, c1 = 1 - beta1, b2 = beta2, c2 = 1 - beta2
    cdef floating lr_t = step_size, scale = sqrt_bc2, tiny = eps
    if nchunks < 2:
        nt = 1  # a small parameter: threads would cost more than they save
    for c in prange(nchunks, nogil=True, schedule="dynamic", num_threads=nt):
        start = c * CHUNK
        size = n - start if n - start < CHUNK else CHUNK
        if amsgrad:
            _amsgrad_chunk(&p[start], &g[start], &m[start], &v[start], vmax_ptr + start, size,
                           b1, c1, b2, c2, lr_t, scale, tiny)
        else:
            _adam_chunk(&p[start], &g[start], &m[start], &v[start], size,
                        b1, c1, b2, c2, lr_t, scale, tiny)


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, beta1, beta2, step_size,
                sqrt_bias_correction2, eps):
    """One Adam step on ``param``, ``exp_avg``, ``exp_avg_sq`` (and ``max_exp_avg_sq``).

    Arguments are validated by :func:`tinymin._ext.adam_update`; see there.
    """
    if param.size == 0:
        return
    p, g, m, v = (a.reshape(-1) for a in (param, grad, exp_avg, exp_avg_sq))
    amsgrad = max_exp_avg_sq is not None
    vmax = max_exp_avg_sq.reshape(-1) if amsgrad else v  # not read without amsgrad
    nt = _num_threads()
    if p.dtype.itemsize == 4:
        _adam_typed[float](p, g, m, v, vmax, amsgrad, beta1, beta2, step_size,
                           sqrt_bias_correction2, eps, nt)
    else:
        _adam_typed[double](p, g, m, v, vmax, amsgrad, beta1, beta2, step_size,
                            sqrt_bias_correction2, eps, nt)
