"""The code stays in small files: no module of tinymin over 500 lines."""

from pathlib import Path

import pytest

from tinymin import _ext

PACKAGE = Path(__file__).resolve().parents[1] / "tinymin"
MAX_LINES = 500
MODULES = sorted(PACKAGE.rglob("*.py")) + sorted(PACKAGE.rglob("*.pyx"))


@pytest.mark.parametrize("module", MODULES, ids=[m.relative_to(PACKAGE).as_posix() for m in MODULES])
def test_module_is_at_most_500_lines(module: Path):
    lines = len(module.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module.relative_to(PACKAGE)} has {lines} lines; split it by job"


def test_backend_fixture_selects_the_kernels(backend):
    assert _ext.backend() == backend
