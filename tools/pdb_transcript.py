"""Run a command under ``pdb`` with scripted commands and print the session as a transcript.

The pdb session of ``docs/guides/algorithm1.rst`` is produced by this function inside a
doctest (``sphinx-build -b doctest``), so the values it shows (the input scale, the clip
bound) are the code's, never typed by hand. pdb reads commands from a pipe without
echoing them; the transcript puts each command back after its ``(Pdb)`` prompt, the
way the session looks in a terminal. Paths inside the repository are shown as
``.../tinymin/...``.

From the repository root::

    python tools/pdb_transcript.py "python -m pdb -m tinymin --help" "continue"
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "(Pdb) "


def pdb_transcript(command_lines: list[str] | str, pdb_commands: list[str],
                   timeout: float = 600.0) -> str:
    """The terminal transcript of ``command_lines`` run from the repository root.

    Parameters
    ----------
    command_lines : list of str or str
        The shell command as displayed, one string per displayed line (joined with
        `` \\`` continuations); leading ``NAME=value`` words set environment variables,
        a leading ``python`` is this interpreter, and this checkout comes first on
        ``PYTHONPATH``.
    pdb_commands : list of str
        What is typed at the ``(Pdb)`` prompts, in order.
    timeout : float
        Seconds before the run is stopped (an error).

    Returns
    -------
    str
        ``$ command``, then every prompt with its command and what pdb printed.
    """
    if isinstance(command_lines, str):
        command_lines = [command_lines]
    words = " ".join(command_lines).split()
    env = dict(os.environ)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    if words[0] == "python":
        words[0] = sys.executable
    # This checkout's tinymin, installed or not (a script in tutorials/ would not see it).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(words, input="\n".join(pdb_commands) + "\n", capture_output=True,
                            text=True, cwd=ROOT, env=env, timeout=timeout)
    chunks = result.stdout.split(PROMPT)
    lines = ["$ " + " \\\n      ".join(line.strip() for line in command_lines)]
    lines.append(chunks[0])
    for typed, printed in zip(pdb_commands, chunks[1:]):
        lines.append(PROMPT + typed + "\n" + printed)
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    text = text.replace(str(ROOT), "...")
    return "\n".join(line.rstrip() for line in text.rstrip("\n").split("\n"))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(pdb_transcript(sys.argv[1], sys.argv[2:]))
