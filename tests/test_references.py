"""Every file the repository's text refers to exists in the repository.

Docstrings, comments, tutorials, docs and benchmark notes send readers to other files
(``docs/guides/minconv_math.rst``, ``benchmarks/README.md``, ...). This test reads
them all and fails on a reference to a file that is not there, or to a file outside
the repository, so a reader is never sent to a page that does not exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["tinymin", "tutorials", "docs", "benchmarks", "tests", "tools", "README.md",
           "setup.py", "pyproject.toml"]
SUFFIXES = {".py", ".pyx", ".pxd", ".rst", ".md", ".txt", ".toml", ".cfg"}
SKIPPED_DIRS = {"_build", "auto_tutorials", "__pycache__", "build"}

#: A path into the repository: a top-level folder, then folders and a file name.
REPO_PATH = re.compile(r"(?<![\w/.-])((?:tinymin|tutorials|docs|benchmarks|tests|tools)"
                       r"(?:/[\w.-]+)+\.(?:py|pyx|pxd|rst|md|txt|toml|npz|csv))\b")
#: A file name in capitals stands for many files (``tests/exercises/solutions/NAME.py``).
PLACEHOLDER = re.compile(r"/[A-Z][A-Z_]*\.py$")
#: Any Markdown file named on its own, e.g. ``README.md``.
MARKDOWN = re.compile(r"(?<![\w/.-])([\w.-]+\.md)\b")
#: Files that live outside the repository (the project's working notes).
OUTSIDE = re.compile("|".join(re.escape(name) for name in
                              ("MATH" + ".md", "PERFORMANCE" + ".md", "DESIGN" + ".md",
                               "../" + "shared")))


def text_files() -> list[Path]:
    files = []
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            files.append(path)
            continue
        for file in sorted(path.rglob("*")):
            if (file.is_file() and file.suffix in SUFFIXES
                    and not SKIPPED_DIRS.intersection(file.relative_to(ROOT).parts)):
                files.append(file)
    return files


def missing_references(file: Path) -> list[str]:
    """``"line N: reference"`` for each reference in ``file`` that resolves to nothing."""
    problems = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        for match in OUTSIDE.finditer(line):
            problems.append(f"line {number}: {match.group(0)} is not in the repository")
        for match in REPO_PATH.finditer(line):
            if PLACEHOLDER.search(match.group(1)):
                continue  # a pattern such as solutions/NAME.py, not one file
            if not (ROOT / match.group(1)).exists():
                problems.append(f"line {number}: {match.group(1)} does not exist")
        for match in MARKDOWN.finditer(line):
            name = match.group(1)
            if OUTSIDE.search(name):
                continue  # reported above
            if not ((ROOT / name).exists() or (file.parent / name).exists()
                    or list(ROOT.glob(f"*/{name}"))):
                problems.append(f"line {number}: {name} does not exist")
    return problems


FILES = text_files()


def test_the_scan_finds_the_sources():
    names = {file.relative_to(ROOT).as_posix() for file in FILES}
    assert {"README.md", "tinymin/minconv/functional.py", "docs/guides/minconv_math.rst"} <= names


@pytest.mark.parametrize("file", FILES, ids=[f.relative_to(ROOT).as_posix() for f in FILES])
def test_every_referenced_file_exists(file: Path):
    problems = missing_references(file)
    assert not problems, f"{file.relative_to(ROOT)}:\n  " + "\n  ".join(problems)


def test_the_scan_catches_a_missing_file(tmp_path: Path):
    page = tmp_path / "page.rst"
    page.write_text("See docs/guides/" + "no_such_page.rst and " + "MATH" + ".md section 2.\n")
    problems = missing_references(page)
    assert len(problems) == 2 and "no_such_page.rst" in problems[1]
