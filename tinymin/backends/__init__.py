"""``tinymin.backends``: the settings PyTorch programs touch, for the CPU.

``tinymin.backends.mps.is_available()`` is False, and the ``cudnn`` flags that
tutorials set for reproducibility (``deterministic``, ``benchmark``) can be set and
change nothing: tinymin is deterministic on the CPU already.
"""

from tinymin.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
