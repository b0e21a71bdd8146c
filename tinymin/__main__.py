"""``python -m tinymin``: see :mod:`tinymin.cli`."""

import sys

from tinymin.cli import main

if __name__ == "__main__":
    sys.exit(main())
