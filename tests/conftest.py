"""Shared test settings: a hypothesis profile sized for a 2-core CI machine, the
``backend`` fixture that runs a test under both kernel backends, and the ``tutorial``
marker (chapters run by the docs build, not by a plain ``pytest``)."""

import os

import pytest
from backends import BACKENDS
from hypothesis import HealthCheck, settings

from tinymin import _ext

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=10, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Run the test under ``TINYMIN_BACKEND``'s two values: the readable numpy twins
    (what a learner steps into) and the compiled Cython kernels."""
    with _ext.use_backend(request.param):
        yield request.param
