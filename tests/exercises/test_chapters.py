"""Every chapter ends with work: its closing section names the exercises the registry
gives that chapter, with the command that checks each, and a "Try this" line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tinymin.exercises import by_chapter

CHAPTERS = sorted((Path(__file__).parents[2] / "tutorials").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_the_last_section_is_the_chapters_exercises(chapter: Path):
    number = int(chapter.name[:2])
    last = chapter.read_text().rsplit("# %%\n", 1)[1]
    assert re.match(r"# Exercises?\n# -+\n", last), f"{chapter.name} does not end with its exercises"
    named = re.findall(r"python -m tinymin exercise check (\w+) --file my_\1\.py", last)
    assert named == [e.name for e in by_chapter()[number]]
    assert "# **Try this:** " in last


NUMBER_WORDS = {14: "fourteen", 15: "fifteen", 16: "sixteen"}
ROOT = Path(__file__).parents[2]


def test_the_learning_path_lists_every_exercise_in_order_with_the_true_figures():
    from tinymin.exercises import EXERCISES, Limits

    page = (ROOT / "docs" / "guides" / "learning_path.rst").read_text()
    assert re.findall(r"\* - Exercise ``(\w+)``", page) == list(EXERCISES)
    assert f"{NUMBER_WORDS[len(EXERCISES)]} exercises" in page
    assert f"time limit ({Limits().case:g} s, ``--time-limit``)" in page
    readme = (ROOT / "README.md").read_text()
    assert f"ending with an exercise, {NUMBER_WORDS[len(EXERCISES)]} in all" in readme
