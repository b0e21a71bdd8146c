"""What an exercise is: its name, chapter, the functions a learner writes, hints, cases.

Each exercise lives in its own folder, ``tinymin/exercises/<name>/``: ``template.py``
(the signatures and docstrings a learner fills in), ``cases.py`` (the checks against
tinymin's own functions, and ``reference()``: tinymin's answer in the template's
signatures) and ``__init__.py``, which builds its :class:`Exercise` with the staged
hints. :mod:`tinymin.exercises.registry` lists them in chapter order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tinymin.exercises.checker import Case


@dataclass(frozen=True)
class Exercise:
    """One exercise.

    Parameters
    ----------
    name : str
        Stable name (the command line's, and the key a learner's functions are known by).
    summary : str
        What the learner builds, in a few words.
    chapter : int
        The tutorial chapter whose end it closes.
    functions : tuple of str
        The functions the template declares, with the signatures of the tinymin
        functions they mirror.
    hints : tuple of str
        Staged hints: the first names the idea, each later one says more; none gives
        the solution.
    cases : callable
        Returns the list of :class:`~tinymin.exercises.checker.Case`, in order.
    reference : callable or None
        Returns tinymin's own answer as ``{function name: callable}``; None where it
        lives in a layer the exercises may not import (``torch_clip``'s is
        ``tinymin.torch.functional.step3_clip``; its cases check against the numpy twin).
    folder : pathlib.Path
        The exercise's folder (its ``template.py`` is there).
    """

    name: str
    summary: str
    chapter: int
    functions: tuple[str, ...]
    hints: tuple[str, ...]
    cases: Callable[[], list[Case]]
    reference: Callable[[], dict[str, Callable]] | None
    folder: Path

    @property
    def template(self) -> Path:
        return self.folder / "template.py"
