"""Which form of the AVX-512DQ min tile runs: x and sgn(x) broadcast into registers
once per row and k (``"registers"``), or x read by each VRANGE as an embedded
broadcast and sgn(x) loaded whole from a table of sign vectors (``"operands"``).

Both forms compute the same sums in the same order, so they give the same bits; only
the speed differs, by core: ``tinymin/_ext/_panel_tiles.h`` (point 4) says what was
measured where. The default is the form measured faster on this kind of CPU. The
setter exists to compare the two (``benchmarks/bench_kernels.py`` and chapter 9's
speed table time both in one run) and for tests; training never needs it.
"""

from __future__ import annotations

import importlib

try:
    _min_gemm = importlib.import_module("tinymin._ext._min_gemm")
except ImportError:  # not built: the numpy twins run, and there is no tile to choose
    _min_gemm = None

FORMS = ("registers", "operands")


def _tile_built() -> bool:
    return _min_gemm is not None and _min_gemm.HAS_VRANGE


def min_tile_broadcasts() -> str | None:
    """The form in use, ``"registers"`` or ``"operands"``; None where the AVX-512DQ tile
    is not built (then the portable tile or the numpy twin runs)."""
    return _min_gemm.tile_broadcasts() if _tile_built() else None


def set_min_tile_broadcasts(form: str) -> None:
    """Run the AVX-512DQ min tile in ``form``: ``"registers"``, ``"operands"``, or
    ``"auto"`` for this CPU's default. Nothing to set where the tile is not built."""
    if form != "auto" and form not in FORMS:
        raise ValueError(f"set_min_tile_broadcasts: form must be 'auto' or one of {FORMS}, "
                         f"got {form!r}")
    if _tile_built():
        _min_gemm.set_tile_broadcasts(form)
