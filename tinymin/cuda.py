"""``tinymin.cuda``: what PyTorch programs ask before choosing a device.

tinymin computes on the CPU, so there is no CUDA device: :func:`is_available` is
False and :func:`device_count` 0, and ``device = "cuda" if tinymin.cuda.is_available()
else "cpu"`` picks the CPU. Seeding a GPU that is absent does nothing, as in PyTorch.
To train on a GPU, see :mod:`tinymin.device` (``--engine torch``).
"""

from __future__ import annotations


def is_available() -> bool:
    """False: tinymin has no CUDA device."""
    return False


def device_count() -> int:
    """0: tinymin has no CUDA device."""
    return 0


def manual_seed(seed: int) -> None:
    """Nothing to seed without a GPU (PyTorch does the same without CUDA)."""


def manual_seed_all(seed: int) -> None:
    """Nothing to seed without a GPU (PyTorch does the same without CUDA)."""
