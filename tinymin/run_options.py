"""The one check of ``train``'s options, shared by both engines.

:func:`check_options` runs before anything is built: on tinymin's engine, and on the
torch engine before the process group is joined (so that under torchrun a bad option is
one line from rank 0, not a hang or a traceback from each rank). Both engines accept and
refuse exactly the same arguments: ``tests/test_options_both_engines.py`` runs every
case on each.
"""

from __future__ import annotations

import functools
import math
from typing import Any

#: The largest ``--seed``: torch seeds its generators with ``seed + rank`` and its
#: sampler with ``seed + epoch``, in 64 bits.
MAX_SEED = 2**62


def check_options(options: Any) -> None:
    """The one check of the training options, run by both engines before anything is
    built (and, under torchrun, before the process group is joined), so that the
    engines accept and refuse exactly the same arguments.

    Raises
    ------
    ValueError
        Naming the option and the range it must be in.
    """
    number = functools.partial(_check_range, options)
    number("epochs", 1)
    number("lr", 0, low_open=True)
    number("momentum", 0, 1)
    number("weight_decay", 0)
    number("clip_value", 0, low_open=True)
    number("dropout", 0, 1)
    number("seed", 0, MAX_SEED, high_open=False)
    for name in ("batch_size", "train_limit", "test_limit"):
        number(name, 1)
    for name in ("calibrate", "fit_max_k"):
        number(name, 0)
    if getattr(options, "calibrate", 0) and (not options.init_from or options.conv != "min"):
        raise ValueError("--calibrate needs --conv min and --init-from an exact checkpoint")
    if options.resume and not options.out:
        raise ValueError("--resume needs --out pointing at the run to continue")
    if getattr(options, "restart", False) and (options.resume or not options.out):
        raise ValueError("--restart starts the run in --out again from scratch: it needs --out "
                         "and cannot go with --resume")
    if getattr(options, "dropout", None) is not None and options.model == "mlp":
        raise ValueError("--dropout: the mlp model has no dropout layer")
    if getattr(options, "device", None) is not None and options.engine != "torch":
        raise ValueError("--device needs --engine torch (tinymin's engine runs on the CPU)")


def _check_range(options: Any, name: str, low: float, high: float = math.inf,
                 low_open: bool = False, high_open: bool = True) -> None:
    """Refuse ``options.<name>`` outside the interval (NaN and infinities included)."""
    value = getattr(options, name, None)
    if value is None:
        return
    above_low = low < value if low_open else low <= value
    below_high = value < high if high_open else value <= high
    if not (above_low and below_high):  # False for NaN
        bounds = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"--{name.replace('_', '-')} must be in {bounds}, got {value}")
