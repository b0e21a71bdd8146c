"""One seeded random generator for the whole framework.

Every random choice in tinymin (weight initialisation, dropout masks, shuffling,
random transforms) draws from the generator returned by :func:`default_rng`, so
``tinymin.manual_seed(s)`` makes a whole run reproducible, as ``torch.manual_seed``
does in PyTorch.
"""

from __future__ import annotations

import numpy as np

_generator: np.random.Generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed tinymin's global generator and return it.

    Parameters
    ----------
    seed : int
        Any non-negative integer.
    """
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_rng() -> np.random.Generator:
    """The generator every random operation in tinymin draws from."""
    return _generator
