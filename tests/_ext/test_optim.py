"""The fused Adam update (tinymin._ext.adam_update): Cython kernel, numpy twin, checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from backends import BACKENDS, needs_cython

from tinymin import _ext
from tinymin._ext import threads


def adam_loop(p, g, m, v, vmax, beta1, beta2, step_size, sqrt_bc2, eps):
    """The definition, one entry at a time, in float64 Python arithmetic."""
    p, m, v = p.astype(float), m.astype(float), v.astype(float)
    vmax = None if vmax is None else vmax.astype(float)
    for i in range(p.size):
        m.flat[i] = beta1 * m.flat[i] + (1 - beta1) * g.flat[i]
        v.flat[i] = beta2 * v.flat[i] + (1 - beta2) * g.flat[i] ** 2
        second = v.flat[i]
        if vmax is not None:
            second = vmax.flat[i] = max(vmax.flat[i], second)
        p.flat[i] -= step_size * m.flat[i] / (math.sqrt(second) / sqrt_bc2 + eps)
    return p, m, v, vmax


def state(rng, shape, dtype, amsgrad):
    p = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    m = (0.1 * rng.standard_normal(shape)).astype(dtype)
    v = (0.01 * rng.random(shape)).astype(dtype)
    vmax = (0.02 * rng.random(shape)).astype(dtype) if amsgrad else None
    return p, g, m, v, vmax


HYPER = dict(beta1=0.9, beta2=0.999, step_size=1e-3 / (1 - 0.9**3),
             sqrt_bias_correction2=math.sqrt(1 - 0.999**3), eps=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_update_matches_the_loop_definition(backend, amsgrad):
    p, g, m, v, vmax = state(np.random.default_rng(0), (3, 7), np.float64, amsgrad)
    expected = adam_loop(p, g, m, v, vmax, *HYPER.values())
    with _ext.use_backend(backend):
        _ext.adam_update(p, g, m, v, vmax, **HYPER)
    for got, want in zip((p, m, v, vmax), expected):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@needs_cython
@pytest.mark.parametrize("dtype,rtol", [(np.float32, 2e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("shape", [(5,), (64, 32, 5, 5), (40_003,)])  # past one OpenMP chunk
def test_cython_kernel_equals_numpy_twin(dtype, rtol, amsgrad, shape):
    twins = []
    for backend in ("numpy", "cython"):
        arrays = state(np.random.default_rng(1), shape, dtype, amsgrad)
        with _ext.use_backend(backend):
            for _ in range(3):
                _ext.adam_update(*arrays, **HYPER)
        twins.append(arrays)
    for a, b in zip(*twins):
        if a is not None:
            assert a.dtype == b.dtype == dtype
            np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)  # entries are O(1)


@needs_cython
def test_adam_update_does_not_depend_on_thread_count():
    before = threads.num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            threads.set_num_threads(n)
            arrays = state(np.random.default_rng(2), (50_000,), np.float32, True)
            with _ext.use_backend("cython"):
                _ext.adam_update(*arrays, **HYPER)
            results.append(arrays)
    finally:
        threads.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def _bad(**change):
    arrays = dict(zip(("param", "grad", "exp_avg", "exp_avg_sq"),
                      state(np.random.default_rng(3), (4, 3), np.float32, False)))
    arrays.update(change)
    return lambda: _ext.adam_update(arrays["param"], arrays["grad"], arrays["exp_avg"],
                                    arrays["exp_avg_sq"], arrays.get("max_exp_avg_sq"), **HYPER)


_read_only = np.zeros((4, 3), np.float32)
_read_only.setflags(write=False)
_shared = np.zeros((4, 3), np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "call,exc,message",
    [
        (_bad(grad=np.zeros((3, 4), np.float32)), ValueError, "grad has shape"),
        (_bad(exp_avg=np.zeros((4, 3), np.float64)), TypeError, "exp_avg"),
        (_bad(param=np.zeros((4, 3), np.int32)), TypeError, "param must be float32"),
        (_bad(exp_avg_sq=np.zeros((3, 4), np.float32).T), ValueError, "not C-contiguous"),
        (_bad(exp_avg=_read_only), ValueError, "exp_avg is read-only"),
        (_bad(exp_avg=_shared, exp_avg_sq=_shared), ValueError, "overlap"),
        (_bad(max_exp_avg_sq=np.zeros(12, np.float32)), ValueError, "max_exp_avg_sq"),
        (_bad(grad=[[0.0] * 3] * 4), TypeError, "grad must be a numpy ndarray"),
    ],
)
def test_bad_arguments_raise_naming_the_function(backend, call, exc, message):
    with _ext.use_backend(backend), pytest.raises(exc, match=f"^adam_update: .*{message}"):
        call()
