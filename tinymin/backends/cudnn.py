"""``tinymin.backends.cudnn``: flags that PyTorch programs set; here they change nothing.

tinymin has no cuDNN, and its CPU kernels give the same result on every run, which is
what ``deterministic = True`` asks for.
"""

from __future__ import annotations

enabled = False
deterministic = False
benchmark = False


def is_available() -> bool:
    """False: tinymin has no cuDNN."""
    return False
