"""What every tutorial chapter promises its reader, read from the source (the chapters
themselves run in the docs build): the mode line comes first, the graph is drawn where
the issue asks, and every exercise a chapter names exists and is named by a chapter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tinymin.exercises import EXERCISES

ROOT = Path(__file__).parents[1]
CHAPTERS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


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
