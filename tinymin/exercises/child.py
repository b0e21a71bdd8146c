"""The checking process: ``python -m tinymin.exercises.child NAME FILE FD``.

Started by :mod:`tinymin.exercises.sandbox`, never by hand: it builds exercise NAME's
cases, imports FILE and runs them, reporting on file descriptor FD.
"""

import sys

from tinymin.exercises.sandbox import child_main

if __name__ == "__main__":
    child_main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
