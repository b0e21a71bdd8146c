"""One seeded random generator for the whole framework.

Every random choice in tinymin (weight initialisation, dropout masks, shuffling,
random transforms) draws from the generator returned by :func:`default_rng`, so
``tinymin.manual_seed(s)`` makes a whole run reproducible, as ``torch.manual_seed``
does in PyTorch. A :class:`Generator` is a stream of its own, for the data pipeline.
"""

from __future__ import annotations

import json

import numpy as np

#: The seed of the global generator: from the OS's entropy at import, as given to
#: :func:`manual_seed` after it (:func:`initial_seed` returns it).
_seed: int = np.random.SeedSequence().entropy % 2**63
_generator: np.random.Generator = np.random.default_rng(_seed)
#: DataLoader passes with workers on the global generator since it was last seeded.
_global_worker_passes = 0


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed tinymin's global generator and return it.

    Parameters
    ----------
    seed : int
        Any non-negative integer.
    """
    global _generator, _global_worker_passes, _seed
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _seed = int(seed)
    _generator = np.random.default_rng(_seed)
    _global_worker_passes = 0
    return _generator


def initial_seed() -> int:
    """The seed the global generator started from, as ``torch.initial_seed``: the last
    :func:`manual_seed`, else one drawn from the OS at import. In a DataLoader worker it
    is the worker's seed, so ``initial_seed() % 2**32`` seeds another library there, as
    PyTorch's recipe for ``worker_init_fn`` does."""
    return _seed


def next_global_worker_pass() -> int:
    """The number of the next DataLoader pass with workers on the global generator
    (0 after :func:`manual_seed`): part of those workers' seeds, so each such pass
    gets other numbers (see ``DataLoader.worker_base_seed``)."""
    global _global_worker_passes
    _global_worker_passes += 1
    return _global_worker_passes - 1


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
        If the text is not such a state (not JSON, keys that differ from the
        generator's own, a negative or too large number), or was saved from another
        bit generator.
    """
    try:
        parsed = json.loads(state)
        if not isinstance(parsed, dict):
            raise ValueError(f"expected a JSON object, got {type(parsed).__name__} {parsed!r:.60}")
        expected = generator.bit_generator.state["bit_generator"]
        if parsed.get("bit_generator") != expected:
            raise ValueError(f"state of {parsed.get('bit_generator')!r}, generator is {expected!r}")
        _check_like(parsed, generator.bit_generator.state, "state")
        generator.bit_generator.state = parsed
    except OverflowError as exc:  # a number past the bit generator's width (>= 2**128)
        raise ValueError(f"not a random generator state: a number in it is too large "
                         f"({exc})") from None
    except (json.JSONDecodeError, TypeError, KeyError, AttributeError, ValueError,
            RecursionError) as exc:
        raise ValueError(f"not a random generator state: {exc}") from None


def _check_like(value: object, reference: object, path: str) -> None:
    """Raise ValueError unless ``value`` (parsed JSON) has the layout of the generator's
    own state ``reference``: the same keys, and non-negative ints where it holds ints
    (numpy would raise a bare OverflowError for a negative one)."""
    if isinstance(reference, dict):
        if not isinstance(value, dict) or set(value) != set(reference):
            found = sorted(value) if isinstance(value, dict) else value
            raise ValueError(f"{path} must hold the keys {sorted(reference)}, got {found!r}")
        for key in reference:
            _check_like(value[key], reference[key], f"{path}[{key!r}]")
    elif isinstance(reference, (np.ndarray, list)):  # MT19937's key: a list of ints
        if not isinstance(value, list):
            raise ValueError(f"{path} must be a list of non-negative ints, got {value!r}")
        for index, item in enumerate(value):
            _check_like(item, 0, f"{path}[{index}]")
    elif isinstance(reference, (int, np.integer)) and not isinstance(reference, bool):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{path} must be a non-negative int, got {value!r}")


class Generator:
    """A random generator of its own, as ``torch.Generator``: pass it as ``generator=``
    to a DataLoader, a sampler or :func:`~tinymin.data.random_split` to keep their draws
    apart from (and reproducible independently of) the global generator.

    >>> import tinymin as tm
    >>> g = tm.Generator().manual_seed(42)
    >>> g.initial_seed()
    42

    It wraps a ``numpy.random.Generator`` (:attr:`numpy_generator`), reseeded by
    :meth:`manual_seed`. Without a seed it starts from fresh OS entropy (PyTorch's
    starts from a fixed default seed).

    Parameters
    ----------
    device : str, default "cpu"
        Accepted for PyTorch's signature; tinymin runs on the CPU only.
    """

    def __init__(self, device: str = "cpu") -> None:
        if str(device) != "cpu":
            raise ValueError(f"Generator: tinymin runs on the CPU only, got device={device!r}")
        self.device = "cpu"
        self._seed = int(np.random.SeedSequence().entropy % (2**63))
        self.numpy_generator = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        """Reseed; returns the generator itself, so ``Generator().manual_seed(0)`` works."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"Generator.manual_seed: seed must be a non-negative int, got {seed!r}")
        self._seed = int(seed)
        # in place: a sampler or loader holding numpy_generator sees the new seed
        self.numpy_generator.bit_generator.state = np.random.PCG64(self._seed).state
        return self

    def seed(self) -> int:
        """Reseed from OS entropy and return the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy % (2**63)))
        return self._seed

    def initial_seed(self) -> int:
        """The seed the generator was last seeded with."""
        return self._seed

    def get_state(self) -> str:
        """The state as JSON text (PyTorch returns a byte tensor; the use is the same)."""
        return generator_state_to_json(self.numpy_generator)

    def set_state(self, state: str) -> Generator:
        """Restore a state from :meth:`get_state`."""
        generator_state_from_json(self.numpy_generator, state)
        return self

    def __repr__(self) -> str:
        return f"Generator(device='cpu', initial_seed={self._seed})"
