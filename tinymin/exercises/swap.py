"""Your code inside the framework: swap your exercise functions in for tinymin's own.

::

    from tinymin.exercises import use

    with use({"im2col": "my_im2col.py", "adam": "my_adam.py"}):
        fit(model, optimizer, loader, epochs=1)      # runs on your im2col and adam_step

    swap = use({"sum_to": "my_sum_to.py"})           # or as a plain call ...
    swap.undo()                                      # ... and back to tinymin's own

or, from the command line, ``python -m tinymin train ... --mine DIR`` and
``python -m tinymin milestone --mine DIR`` (the files ``my_<exercise>.py`` that
``exercise start`` writes, or ``<exercise>.py``).

Each of your functions becomes a :class:`Piece` in :mod:`tinymin.overrides`, which
tinymin's own function consults on its first line. Your file is imported into this
process (training needs its speed), with care: a file that does not import, lacks a
function or cannot take the arguments tinymin passes is refused with one line, before
anything runs; an exception inside your function later is re-raised as a
:class:`~tinymin.exercises.pieces.LearnerCodeError` that names the piece, your file and
its line.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import traceback
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Union

from tinymin import overrides
from tinymin.exercises.pieces import (
    NO_COUNTERPART,
    PIECES,
    LearnerCodeError,
    PieceSpec,
    WrongAnswer,
    exercise_pieces,
    exercises_with_pieces,
)

__all__ = ["LearnerCodeError", "LoadError", "Piece", "Swap", "find_files", "load_pieces", "use", "use_folder"]

#: What a learner's piece may be given as: a file, an imported module, or a function.
Source = Union[str, os.PathLike, types.ModuleType, Callable]


class LoadError(ValueError):
    """A learner's file cannot be swapped in: it does not import, lacks a function, or
    the function cannot take tinymin's arguments. Raised before anything runs."""


class Piece:
    """One learner's function in tinymin's place: what :data:`tinymin.overrides.lookup`
    returns for its name.

    Calling it turns tinymin's call into a call of the learner's function
    (``spec.adapt``), runs that function with tinymin's own of the same name in reach
    (:func:`tinymin.overrides.bypassed`) and names the piece in any error.
    ``observer`` (the milestone's first-batch comparison) sees every call.
    """

    def __init__(self, spec: PieceSpec, function: Callable, source: str) -> None:
        self.spec, self.function, self.source = spec, function, source
        self.observer: Callable | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.spec.adapt(self.call, *args, **kwargs)
        except WrongAnswer as err:
            raise LearnerCodeError(f"{self.label}: {err}") from None

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """The learner's function on the learner's arguments."""
        if self.observer is not None:
            return self.observer(self, args, kwargs)
        return self.call_learner(*args, **kwargs)

    def call_learner(self, *args: Any, **kwargs: Any) -> Any:
        """Run the learner's function; any exception becomes one that names this piece."""
        with overrides.bypassed(self.spec.dispatch):
            try:
                return self.function(*args, **kwargs)
            except (KeyboardInterrupt, LearnerCodeError):  # another piece's error names itself
                raise
            except BaseException as err:  # SystemExit too: a sys.exit() must not end training quietly
                raise LearnerCodeError(f"{self.label} raised {type(err).__name__}: "
                                       f"{_first_line(err)}{_where(err, self.source)}") from err

    @property
    def label(self) -> str:
        return f"your {self.spec.function} ({self.source})"

    def announcement(self) -> str:
        """The line that says this piece is the learner's."""
        return f"mine: {self.spec.function:<19} from {self.source}, in {self.spec.where}"


class Swap:
    """The learner's pieces, swapped in when made; ``undo()`` (or the end of a ``with``
    block) puts back what was there before."""

    def __init__(self, pieces: list[Piece], announce: bool = True) -> None:
        self.pieces = pieces
        if announce:
            for piece in pieces:
                print(piece.announcement(), flush=True)
        self._undo: Callable[[], None] | None = overrides.install(
            {piece.spec.dispatch: piece for piece in pieces})

    def undo(self) -> None:
        """Back to tinymin's own functions (or to an earlier swap's); twice is harmless."""
        if self._undo is not None:
            self._undo()
            self._undo = None

    def __enter__(self) -> Swap:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.undo()

    @property
    def names(self) -> list[str]:
        return [piece.spec.dispatch for piece in self.pieces]


def use(mine: Mapping[str, Source], announce: bool = True) -> Swap:
    """Swap the learner's functions in for tinymin's own; a context manager, or a plain
    call whose result has ``undo()``.

    Parameters
    ----------
    mine : mapping
        Exercise name -> the learner's file (a path), an imported module, or (for an
        exercise with one function) the function itself. Every function of the
        exercise that has a counterpart in tinymin is swapped
        (:data:`tinymin.exercises.pieces.PIECES`).
    announce : bool
        Print one line per piece: which function is yours, from where, used where.

    Raises
    ------
    LoadError
        Before anything is swapped: an unknown exercise, a file that does not import,
        a missing function, a function that cannot take tinymin's arguments.
    """
    return Swap(load_pieces(mine), announce)


def load_pieces(mine: Mapping[str, Source]) -> list[Piece]:
    """The :class:`Piece` of every function of the given exercises (see :func:`use`)."""
    pieces = []
    for exercise, source in mine.items():
        specs = exercise_pieces(exercise)
        if not specs:
            raise LoadError(_no_pieces(exercise))
        functions, where = _functions(exercise, source, specs)
        pieces += [Piece(spec, _checked(functions, spec, where), where) for spec in specs]
    order = list(PIECES)
    return sorted(pieces, key=lambda piece: order.index(piece.spec.dispatch))


def find_files(folder: str | os.PathLike, engine: str = "tinymin") -> dict[str, Path]:
    """The learner's exercise files in ``folder``: ``my_<exercise>.py`` (what
    ``exercise start`` writes) or else ``<exercise>.py``, for every exercise with pieces
    in ``engine``'s training (``"tinymin"`` or ``"torch"``)."""
    root = Path(folder)
    if not root.is_dir():
        raise LoadError(f"--mine {folder}: no such folder")
    found = {}
    for exercise in exercises_with_pieces(engine):
        candidates = [p for p in (root / f"my_{exercise}.py", root / f"{exercise}.py") if p.is_file()]
        if candidates:  # my_<exercise>.py first, as `exercise check --all DIR` takes it
            found[exercise] = candidates[0]
    return found


def _no_pieces(exercise: str) -> str:
    if exercise in NO_COUNTERPART:
        return f"the {exercise} exercise has no counterpart in tinymin's engine: {NO_COUNTERPART[exercise]}"
    return (f"no exercise {exercise!r} with a counterpart in tinymin; these have one: "
            f"{', '.join(exercises_with_pieces())}")


def _functions(exercise: str, source: Source, specs: list[PieceSpec]) -> tuple[Any, str]:
    """An object holding the learner's functions as attributes, and where they come from."""
    if isinstance(source, (str, os.PathLike)):
        return _import_file(exercise, Path(source)), str(source)
    if isinstance(source, types.ModuleType):
        return source, getattr(source, "__file__", None) or source.__name__
    if callable(source):
        if len(specs) != 1:
            raise LoadError(f"{exercise}: give a file or module for this exercise; it has "
                            f"{len(specs)} functions ({', '.join(s.function for s in specs)})")
        where = f"{getattr(source, '__module__', '?')}.{getattr(source, '__qualname__', source)}"
        return types.SimpleNamespace(**{specs[0].function: source}), where
    raise LoadError(f"{exercise}: expected a file, a module or a function, got {type(source).__name__}")


def _import_file(exercise: str, path: Path) -> types.ModuleType:
    """Import the learner's file as a fresh module (its folder importable meanwhile, so
    that ``from sum_to import sum_to`` finds the file beside it)."""
    if not path.is_file():
        raise LoadError(f"{path}: no such file (the {exercise} exercise)")
    name = f"_tinymin_mine_{exercise}"  # registered, as dataclasses and pickle expect
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # a SyntaxError, an ImportError, a sys.exit() at import ...
        sys.modules.pop(name, None)
        raise LoadError(f"{path}: does not import: {type(err).__name__}: {_first_line(err)}"
                        f"{_where(err, str(path))}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def _checked(functions: Any, spec: PieceSpec, where: str) -> Callable:
    """The learner's function for ``spec``, refused unless tinymin can call it."""
    function = getattr(functions, spec.function, None)
    if function is None:
        raise LoadError(f"{where}: defines no function {spec.function} (the {spec.exercise} exercise)")
    if not callable(function):
        raise LoadError(f"{where}: {spec.function} is a {type(function).__name__}, not a function")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return function  # a builtin without a signature: tinymin can only try it
    try:
        signature.bind(*range(spec.arity), **dict.fromkeys(spec.keywords))
    except TypeError as err:
        wanted = ", ".join([f"{spec.arity} positional arguments"] + [f"{k}=" for k in spec.keywords])
        raise LoadError(f"{where}: {spec.function}{signature} cannot be called as tinymin calls "
                        f"it ({wanted}): {err}") from None
    return function


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "(no message)"


def _where(err: BaseException, source: str) -> str:
    """`` (at my_im2col.py, line 23)`` for the deepest frame in the learner's file."""
    if isinstance(err, SyntaxError) and err.lineno:
        return f" (line {err.lineno})"
    try:
        target = os.path.realpath(source)
    except (TypeError, ValueError):
        return ""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if os.path.realpath(f.filename) == target]
    return f" (at {Path(source).name}, line {frames[-1].lineno})" if frames else ""


def use_folder(folder: str | os.PathLike, engine: str = "tinymin", announce: bool = True) -> Swap:
    """:func:`use` on every exercise file in ``folder`` whose pieces ``engine``'s
    training calls (:func:`find_files`): what ``train --mine DIR`` does."""
    files = find_files(folder, engine)
    if not files:
        raise LoadError(f"--mine {folder}: no exercise files there for the {engine} engine "
                        f"(my_<exercise>.py or <exercise>.py for "
                        f"{', '.join(exercises_with_pieces(engine))}; "
                        "`python -m tinymin exercise start NAME` writes one)")
    return use(files, announce)
