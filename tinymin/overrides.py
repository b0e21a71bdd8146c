"""Who computes each exercise's function: tinymin, or the learner's own code.

Every tinymin function that an exercise asks a learner to rebuild starts with a
dispatch line, in its own module and layer::

    mine = overrides.lookup("sum_to")
    if mine is not None:  # the learner's sum_to (tinymin.exercises.use)
        return mine(grad, shape)

:data:`lookup` is one dictionary lookup: with no learner's code swapped in (the
normal case) it returns None and tinymin's own lines below it run. A debugger that
steps into ``sum_to`` sees that line, and where it goes when a learner's function is
in: :class:`tinymin.exercises.swap.Piece`, which calls the learner's function and
checks what it returns.

This module is the bottom of the stack: it imports nothing from tinymin, so every
layer, the kernels in ``tinymin/_ext`` included, may consult it. It only holds the
table; :func:`tinymin.exercises.use` loads the learner's files and fills it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Callable

__all__ = ["active", "bypassed", "install", "lookup", "suspended"]

#: The functions swapped in, by dispatch name (``"sum_to"``, ``"im2col"``, ...).
_active: dict[str, Callable] = {}


#: ``lookup(name, default=None)``: the function swapped in for ``name``, or ``default``
#: (None) when there is none. It is the table's own ``dict.get``, so a dispatch line costs
#: one call of a C function and no Python frame (the table is only ever changed in place).
lookup: Callable[..., Callable | None] = _active.get


def active() -> dict[str, Callable]:
    """A copy of the table: every dispatch name now swapped, with its function."""
    return dict(_active)


def install(functions: Mapping[str, Callable]) -> Callable[[], None]:
    """Swap ``functions`` in (dispatch name -> callable); returns ``undo()``, which puts
    back what each name had before (tinymin's own, or an earlier swap)."""
    previous = {name: _active.get(name) for name in functions}
    _active.update(functions)

    def undo() -> None:
        for name, function in previous.items():
            if function is None:
                _active.pop(name, None)
            else:
                _active[name] = function

    return undo


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """Inside the block, every dispatch runs tinymin's own code (to compare with it)."""
    saved = dict(_active)
    _active.clear()
    try:
        yield
    finally:
        _active.clear()
        _active.update(saved)


@contextlib.contextmanager
def bypassed(name: str) -> Iterator[None]:
    """Inside the block, ``name`` alone dispatches to tinymin's own code.

    A learner's function runs inside this block for its own name: if it calls
    tinymin's function of the same name (to compare, or because its file imports it),
    that call is tinymin's own and does not come back to the learner's (no recursion).
    """
    saved = _active.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            _active[name] = saved
