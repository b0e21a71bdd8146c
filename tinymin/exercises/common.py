"""Helpers every exercise's cases use: hypothesis strategies, fixed random arrays, and
the "hand-picked cases, then random ones" pattern."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tinymin.exercises.checker import Case


def strategies() -> tuple[Any, Any]:
    """hypothesis' strategies and its numpy strategies, imported when a check runs."""
    try:
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp
    except ImportError as err:
        raise ImportError('the exercise checker needs hypothesis: pip install -e ".[exercises]"') from err
    return st, hnp


def floats(st, bound: float = 10.0):
    """Finite float64 values in ``[-bound, bound]``."""
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=64)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def fixed_then_random(fixed: dict[str, Any], make_test: Callable[[str], Callable], hints: dict[str, str],
                      random_name: str, strategy, **options) -> list[Case]:
    """A case per entry of ``fixed`` (in order, by name, each with its hint from
    ``hints``), then the same test on inputs hypothesis draws from ``strategy``
    (``options``: e.g. ``max_examples``; its hint is ``hints[random_name]``)."""
    cases = [Case(name, make_test(name), hints[name]) for name in fixed]
    cases.append(Case(random_name, make_test(random_name), hints[random_name], strategy=strategy, **options))
    return cases
