"""``tinymin.backends.mps``: Apple's GPU backend is not available in tinymin."""

from __future__ import annotations


def is_available() -> bool:
    """False: tinymin computes on the CPU only."""
    return False


def is_built() -> bool:
    """False: tinymin has no MPS backend."""
    return False
