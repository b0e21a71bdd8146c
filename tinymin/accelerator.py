"""``tinymin.accelerator``: PyTorch's device-neutral questions, answered for the CPU.

There is no accelerator: :func:`is_available` is False, :func:`device_count` 0 and
:func:`current_accelerator` None, so programs that ask fall back to the CPU.
"""

from __future__ import annotations


def is_available() -> bool:
    """False: tinymin computes on the CPU only."""
    return False


def device_count() -> int:
    """0: no accelerator."""
    return 0


def current_accelerator(check_available: bool = False) -> None:
    """None: no accelerator."""
    return None
