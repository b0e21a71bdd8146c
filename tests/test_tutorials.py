"""Every tutorial chapter runs to completion in its quick mode.

The chapters run once in CI, in the docs build (sphinx-gallery executes each one in
quick mode and fails the build if one raises), so a plain ``pytest`` deselects them
(the ``tutorial`` marker, see pyproject.toml). Run them here with
``python -m pytest -m tutorial``.

Each ``tutorials/NN_*.py`` runs as its own process (as a learner runs it), with
``TINYMIN_QUICK=1`` (small data, few epochs) and the non-interactive matplotlib
backend, from a temporary working directory so that a chapter can never write into
the repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinymin.exercises import EXERCISES

ROOT = Path(__file__).parents[1]
CHAPTERS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 120


def test_there_are_chapters():
    assert CHAPTERS, f"no tutorials/NN_*.py found under {ROOT}"


@pytest.mark.tutorial
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_chapter_runs_in_quick_mode(chapter: Path, tmp_path: Path):
    env = dict(os.environ, TINYMIN_QUICK="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    try:
        result = subprocess.run(
            [sys.executable, str(chapter)], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as err:
        output = err.stdout or b""  # bytes, whatever text= says
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        pytest.fail(f"{chapter.name} ran past {TIMEOUT_S} s in quick mode; last output:\n"
                    f"{output[-3000:]}")
    seconds = time.perf_counter() - start
    print(f"{chapter.name}: {seconds:.1f} s")
    assert result.returncode == 0, (
        f"{chapter.name} exited with code {result.returncode} after {seconds:.1f} s\n"
        f"--- stdout (tail) ---\n{result.stdout[-3000:]}\n"
        f"--- stderr (tail) ---\n{result.stderr[-5000:]}"
    )


# ------------------------------------------------------------------------------------------------
# What every tutorial chapter promises its reader, read from the source (the chapters themselves
# run in the docs build): the mode line comes first, the graph is drawn where the issue asks, and
# every exercise a chapter names exists and is named by a chapter.




@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_the_first_thing_a_chapter_prints_is_its_mode(chapter: Path):
    code_lines = [line for line in chapter.read_text().splitlines() if line.startswith("print(")]
    assert code_lines, f"{chapter.name} prints nothing"
    assert code_lines[0].startswith('print("mode:", "quick (TINYMIN_QUICK=1)'), (
        f"{chapter.name}: the first print is {code_lines[0]!r}, not the mode line")


@pytest.mark.parametrize("number", ["01", "02", "07"])
def test_chapters_1_2_and_7_draw_the_graph(number: str):
    (chapter,) = [path for path in CHAPTERS if path.name.startswith(number)]
    assert "viz.show_graph(" in chapter.read_text()


def test_chapters_name_existing_exercises_and_every_exercise_is_named():
    named = set()
    for chapter in CHAPTERS:
        for name in re.findall(r"python -m tinymin exercise check (\w+)", chapter.read_text()):
            assert name in EXERCISES, f"{chapter.name} names an exercise {name!r} that does not exist"
            named.add(name)
    assert named == set(EXERCISES)
