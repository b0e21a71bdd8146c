"""Whether operations record the graph: ``no_grad``, ``enable_grad``,
``set_grad_enabled`` and ``inference_mode``, as in ``torch``.

One module-level flag, read by :meth:`tinymin.autograd.Function.apply` before it
records a node. Each switch works in a ``with`` block and as a decorator, with or
without parentheses (``@tm.no_grad`` or ``@tm.no_grad()``), as PyTorch's do. One
difference: a decorated generator function has the switch around the call that
creates the generator, not around each of its steps (PyTorch wraps those too), so
use ``with tm.no_grad():`` inside a generator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True unless inside :func:`no_grad`."""
    return _grad_enabled


@contextlib.contextmanager
def _recording(enabled: bool) -> Iterator[None]:
    """Set the flag to ``enabled`` for the ``with`` block (or the decorated call), then
    put back what it was."""
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = enabled
    try:
        yield
    finally:
        _grad_enabled = previous


def no_grad(func: Callable | None = None) -> Any:
    """Context manager (and decorator) in which no operation records a graph
    (evaluation, parameter updates).

    Examples
    --------
    >>> import tinymin as tm
    >>> w = tm.tensor([1.0, 2.0], requires_grad=True)
    >>> with tm.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    >>> @tm.no_grad
    ... def double(x):
    ...     return x * 2
    >>> double(w).requires_grad
    False
    """
    if func is not None:  # @no_grad without parentheses
        return _recording(False)(func)
    return _recording(False)


def enable_grad(func: Callable | None = None) -> Any:
    """Context manager (and decorator) that turns graph recording back on inside
    :func:`no_grad`."""
    if func is not None:
        return _recording(True)(func)
    return _recording(True)


class set_grad_enabled:  # noqa: N801 (PyTorch's name; a class so it works both ways)
    """Turn graph recording on or off: at once when called, and back as it was when
    used as a context manager leaves its ``with`` block, as ``torch.set_grad_enabled``.

    Examples
    --------
    >>> import tinymin as tm
    >>> with tm.set_grad_enabled(False):
    ...     tm.is_grad_enabled()
    False
    >>> tm.is_grad_enabled()
    True
    """

    def __init__(self, mode: bool) -> None:
        global _grad_enabled
        self.previous, self.mode = _grad_enabled, bool(mode)
        _grad_enabled = self.mode

    def __call__(self, func: Callable) -> Callable:
        """``@set_grad_enabled(mode)``: the mode inside each call of ``func`` only, and
        as it was everywhere else (undoing the switch that building this made)."""
        global _grad_enabled
        _grad_enabled = self.previous
        return _recording(self.mode)(func)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: Any) -> None:
        global _grad_enabled
        _grad_enabled = self.previous


def inference_mode(mode: Any = True) -> Any:
    """``torch.inference_mode``: here the same as :func:`no_grad` (``mode=False``
    records as usual; a function instead of ``mode`` is decorated). PyTorch also skips
    version counting in it; tinymin's counter is one integer, so there is nothing to
    skip."""
    if callable(mode):  # @inference_mode without parentheses
        return _inference(True)(mode)
    return _inference(bool(mode))


@contextlib.contextmanager
def _inference(mode: bool) -> Iterator[None]:
    """No recording while ``mode``; with ``mode`` False, recording stays as it was."""
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = previous and not mode
    try:
        yield
    finally:
        _grad_enabled = previous
