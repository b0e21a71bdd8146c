"""The argument checks, kept under their old name for code that imports them from here.

They live in :mod:`tinymin.ops.checks`, below both ``nn`` and ``minconv``.
"""

from tinymin.ops.checks import FLOAT_DTYPES, check_float, pair

__all__ = ["FLOAT_DTYPES", "check_float", "pair"]
