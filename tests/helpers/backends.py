"""The two kernel backends, for tests that parametrise over them (``conftest.py``'s
``backend`` fixture, and the kernel tests that pass the name on)."""

import pytest

from tinymin import _ext

needs_cython = pytest.mark.skipif(
    not _ext.HAVE_CYTHON, reason="Cython kernels not built (python setup.py build_ext --inplace)")

BACKENDS = ["numpy", pytest.param("cython", marks=needs_cython)]
