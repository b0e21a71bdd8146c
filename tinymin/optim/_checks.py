"""Checks shared by the optimizers and the schedulers.

Each check raises a ValueError that starts with ``where`` (``"Adam"`` for a constructor,
``"StepLR.load_state_dict"`` for a loaded state), names the value and says what it
must be. The constructors and ``load_state_dict`` run the same checks, so a corrupt
checkpoint is refused when it is loaded, with a message, rather than crashing (or
training with a NaN learning rate) some steps later.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["check_choice", "check_flag", "check_int", "check_number", "check_numbers",
           "check_state_dict_layout", "is_int", "is_number"]


def is_number(value: Any) -> bool:
    """An int or a float (numpy's too, and a 0-d array of one), but not a bool: True is
    a flag, not a rate. (A tensor ``lr``, which torch takes, is refused: the updates
    are numpy's, and a tensor does not enter numpy arithmetic.)"""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, numbers.Real):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


def is_int(value: Any) -> bool:
    """An int (numpy's too), but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value: Any, name: str, where: str, minimum: int) -> None:
    """Raise ValueError unless ``value`` is an int ``>= minimum``."""
    if not is_int(value):
        raise ValueError(f"{where}: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")


def check_number(value: Any, name: str, where: str, low: float | None = None,
                 high: float | None = None, *, closed: str = "left",
                 finite: bool = False) -> None:
    """Raise ValueError unless ``value`` is a number in the interval from ``low`` to
    ``high`` (None: unbounded on that side), never NaN.

    Parameters
    ----------
    closed : {"left", "right", "both", "neither"}
        Which ends belong to the interval, as in ``pandas.Interval``: the default
        "left" is ``low <= value < high``.
    finite : bool, default False
        Refuse infinities too.
    """
    if not is_number(value):
        raise ValueError(f"{where}: {name} must be a number, got {value!r}")
    value = value if is_int(value) else float(np.asarray(value))  # a 0-d array: its number
    left, right = closed in ("left", "both"), closed in ("right", "both")
    # written so that NaN fails every comparison, and so every bound
    above_low = low is None or (value >= low if left else value > low)
    below_high = high is None or (value <= high if right else value < high)
    if not (above_low and below_high):
        raise ValueError(f"{where}: {name} must be {_interval(low, high, left, right)}, "
                         f"got {value}")
    if is_int(value):
        return  # never NaN or infinite (and math.isnan would overflow on a huge one)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(f"{where}: {name} must be {'finite' if finite else 'a number'}, "
                         f"got {value}")


def _interval(low: float | None, high: float | None, left: bool, right: bool) -> str:
    """``>= 0``, ``< 1`` or ``in [0, 1)``, as the project's messages write ranges."""
    if high is None:
        return f"{'>=' if left else '>'} {low}"
    if low is None:
        return f"{'<=' if right else '<'} {high}"
    return f"in {'[' if left else '('}{low}, {high}{']' if right else ')'}"


def check_numbers(values: Any, name: str, where: str, length: int, low: float | None = None,
                  *, finite: bool = True) -> None:
    """Raise ValueError unless ``values`` is a list (or tuple) of ``length`` numbers,
    each ``>= low`` (when given), e.g. one learning rate per parameter group."""
    if not isinstance(values, (list, tuple)) or len(values) != length:
        raise ValueError(f"{where}: {name} must be a list of {length} numbers (one per "
                         f"parameter group), got {values!r}")
    for index, value in enumerate(values):
        check_number(value, f"{name}[{index}]", where, low, finite=finite)


def check_flag(value: Any, name: str, where: str) -> None:
    """Raise ValueError unless ``value`` is True or False (numpy's bool too), or 0 or 1
    (torch takes ``amsgrad=1`` as True)."""
    if not (isinstance(value, (bool, np.bool_)) or (is_int(value) and value in (0, 1))):
        raise ValueError(f"{where}: {name} must be True or False, got {value!r}")


def check_choice(value: Any, name: str, where: str, choices: Sequence[str]) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        allowed = " or ".join(repr(choice) for choice in choices)
        raise ValueError(f"{where}: {name} must be {allowed}, got {value!r}")


def check_state_dict_layout(state_dict: Mapping[str, Any], where: str) -> None:
    """Refuse a state_dict whose parts are not the containers :meth:`tinymin.optim.Optimizer.state_dict`
    makes: a list of group dicts, each listing its parameters by int index, and a dict
    of per-parameter state dicts."""
    groups, state = state_dict["param_groups"], state_dict["state"]
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, Mapping) for g in groups):
        raise ValueError(f"{where}: 'param_groups' must be a list of dicts, got {groups!r}")
    for g, group in enumerate(groups):
        indices = group.get("params")
        if not isinstance(indices, (list, tuple)) or not all(is_int(i) for i in indices):
            raise ValueError(f"{where}: parameter group {g}: 'params' must be a list of "
                             f"parameter indices (ints), got {indices!r}")
    if not isinstance(state, Mapping) or not all(isinstance(s, Mapping) for s in state.values()):
        raise ValueError(f"{where}: 'state' must be a dict of per-parameter dicts, "
                         f"got {type(state).__name__}")
