"""One seeded random generator for the whole framework.

Every random choice in tinymin (weight initialisation, dropout masks, shuffling,
random transforms) draws from the generator returned by :func:`default_rng`, so
``tinymin.manual_seed(s)`` makes a whole run reproducible, as ``torch.manual_seed``
does in PyTorch.
"""

from __future__ import annotations

import json

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


def get_rng_state() -> str:
    """The global generator's state as JSON text (store it to resume a run exactly).

    JSON, because numpy's PCG64 state holds 128-bit integers that no fixed-size array
    dtype can hold; the text fits in a checkpoint's ``extra/`` section.
    """
    return generator_state_to_json(_generator)


def set_rng_state(state: str) -> None:
    """Restore the global generator from :func:`get_rng_state`'s text."""
    generator_state_from_json(_generator, state)


def generator_state_to_json(generator: np.random.Generator) -> str:
    """Any numpy ``Generator``'s bit-generator state as JSON text (arrays in the
    state, as MT19937 and Philox have, become lists)."""
    return json.dumps(generator.bit_generator.state, sort_keys=True, default=_to_list)


def _to_list(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def generator_state_from_json(generator: np.random.Generator, state: str) -> None:
    """Set ``generator`` to a state saved by :func:`generator_state_to_json`.

    Raises
    ------
    ValueError
        If the text is not such a state, or was saved from another bit generator.
    """
    try:
        parsed = json.loads(state)
        expected = generator.bit_generator.state["bit_generator"]
        if parsed.get("bit_generator") != expected:
            raise ValueError(f"state of {parsed.get('bit_generator')!r}, generator is {expected!r}")
        generator.bit_generator.state = parsed
    except (json.JSONDecodeError, TypeError, KeyError, AttributeError, ValueError) as exc:
        raise ValueError(f"not a random generator state: {exc}") from None
