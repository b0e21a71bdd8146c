"""Grade a learner's file in a child process, with a time limit per case.

The learner's code may loop forever, call ``sys.exit`` or ``os._exit``, raise anything
at import, recurse without end, be killed, or write to tinymin's own files. None of
that may pass, hang the checker or end in a traceback. So the file is imported and its
cases run in a separate Python process (:func:`child_main`), which
reports each step as one JSON line on a pipe of its own (the learner's prints go to a
log, never into the results):

``ready`` (the cases are built) -> ``loaded`` (the file imported) or ``load_error`` ->
for each case ``start`` then ``result`` -> ``done``.

The parent waits for each line with a time limit. When a case runs over its limit the
child is killed and the case fails as ``timeout``; a child that dies fails its case as
``crash``, with the exit status or the signal. Either way the cases after it are not
run (they count as not passed). Before and after, the parent compares tinymin's own
source files: one that the learner's code changed fails the check, and is put back as it
was. POSIX only (``select`` on a pipe).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tinymin
from tinymin.checkpoint.atomic import atomic_file
from tinymin.exercises.checker import Failure, LoadError, load_functions, run_case
from tinymin.exercises.report import CaseResult, Report, decode_failure, encode_failure

PACKAGE = Path(tinymin.__file__).resolve().parent
#: The child's program. The current folder leaves ``sys.path`` first: a learner's
#: ``random.py`` or ``selectors.py`` there must not stand in for the standard library's.
_CHILD = ("import sys; del sys.path[0]; from tinymin.exercises.sandbox import child_main; "
          "child_main(sys.argv[1], sys.argv[2], int(sys.argv[3]))")
_WATCHED_SUFFIXES = (".py", ".pyx", ".pxd")


@dataclass(frozen=True)
class Limits:
    """Time limits in seconds: ``case`` for importing the learner's file and for each
    case; ``startup`` for the child to import tinymin and build the cases (not the
    learner's doing, so generous)."""

    case: float = 10.0
    startup: float = 120.0


def check_file(name: str, path: str | os.PathLike, limits: Limits | None = None) -> Report:
    """Grade the functions of exercise ``name`` in the file at ``path``, sandboxed
    (``limits``: :class:`Limits`, its defaults when None)."""
    from tinymin.exercises.registry import get_exercise

    limits = Limits() if limits is None else limits
    exercise = get_exercise(name)
    path = Path(path)
    report = Report(name, str(path), total=0)
    if not path.is_file():
        report.load_error = f"no file {path}"
        return report
    if importlib.util.find_spec("hypothesis") is None:  # say so here, not from the child
        report.load_error = ('the checker draws its random cases with hypothesis, which '
                             '"pip install -e ." does not install: pip install -e ".[exercises]"')
        return report
    before = _snapshot()
    try:
        _run_child(exercise.name, path.resolve(), limits, report)
    finally:
        report.tampered = _compare_and_restore(before)
    return report


# ------------------------------------------------------------------ the parent side
def _run_child(name: str, path: Path, limits: Limits, report: Report) -> None:
    """Run the cases in one child, until they are done, one times out or the child dies
    (the cases after it are not run: they would most likely cost their time limit too)."""
    read_fd, write_fd = os.pipe()
    log = tempfile.TemporaryFile()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")) if p))
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, name, str(path), str(write_fd)],
        stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, pass_fds=(write_fd,), env=env,
        start_new_session=True)  # its own process group: a Ctrl-C reaches only the parent
    os.close(write_fd)
    channel = _Channel(read_fd, secrets.token_hex(16))
    try:  # the child reads its token before it imports anything of the learner's
        child.stdin.write(channel.token.encode() + b"\n")
        child.stdin.close()
    except OSError:
        pass  # the child is gone already: the channel will say so
    try:
        _follow(channel, child, log, limits, report)
    finally:  # after the last case, a timeout, or a Ctrl-C in the parent alike
        _kill(child)
        os.close(read_fd)
        log.close()


def _follow(channel: _Channel, child: subprocess.Popen, log, limits: Limits, report: Report) -> None:
    event = channel.next_event(limits.startup)
    if not isinstance(event, dict) or event.get("event") != "ready":
        report.load_error = "the checker " + _what_happened(event, child, log, limits.startup, "starting")
        return
    report.total = int(event["cases"])
    event = channel.next_event(limits.case)
    if isinstance(event, dict) and event.get("event") == "load_error":
        report.load_error = str(event["message"])
        return
    if not isinstance(event, dict) or event.get("event") != "loaded":
        report.load_error = "the process " + _what_happened(event, child, log, limits.case,
                                                            "importing your file")
        return
    name = "(between cases)"
    while True:
        event = channel.next_event(limits.case)
        if isinstance(event, dict) and event.get("event") == "done":
            return
        if isinstance(event, dict) and event.get("event") == "start":
            name = str(event["name"])
            continue
        if isinstance(event, dict) and event.get("event") == "result":
            report.results.append(CaseResult(str(event["name"]), decode_failure(event["failure"])))
            continue
        kind = "timeout" if event == "timeout" else "crash"
        problem = "the process " + _what_happened(event, child, log, limits.case, "running this case")
        report.results.append(CaseResult(name, Failure(name, {}, "an answer", kind, problem, "", kind)))
        return


def _what_happened(event: Any, child: subprocess.Popen, log, limit: float, doing: str) -> str:
    """One line: why no valid message came while ``doing``."""
    if event == "timeout":
        return f"took longer than {limit:g} s {doing} (an endless loop?)"
    if event == "garbage":
        return f"wrote something unreadable on the checker's pipe while {doing}"
    if event == "forged":
        return f"got a message the checker did not send, while {doing}"
    if event != "eof":
        return f"sent an unexpected message while {doing}: {str(event)[:80]}"
    try:
        code = child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return f"closed the checker's pipe while {doing}"
    if code < 0:
        what = f"was killed by signal {signal.Signals(-code).name}"
    else:
        what = f"exited with status {code} (sys.exit or os._exit?)"
    tail = _last_line(log)
    return f"{what} while {doing}" + (f"; its last output: {tail}" if tail else "")


def _last_line(log) -> str:
    log.seek(0)
    lines = [line.strip() for line in log.read()[-4000:].decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:160] if lines else ""


def _kill(child: subprocess.Popen) -> None:
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGKILL)  # the child and anything it started
        except ProcessLookupError:
            pass
    child.wait()


class _Channel:
    """Reads one JSON line at a time from the child, with a time limit per line.

    Every message carries ``token``, which the child read from its stdin before it
    imported the learner's file: a line printed or written by the learner's code
    without it is "forged", not a result.
    """

    def __init__(self, fd: int, token: str) -> None:
        self.fd, self.token, self.buffer = fd, token, b""

    def next_event(self, timeout: float) -> dict[str, Any] | str:
        """The next message, or "timeout", "eof" (the pipe closed), "garbage" or "forged"."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return "timeout"
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return "eof"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            event = json.loads(line)
        except ValueError:
            return "garbage"
        if not isinstance(event, dict):
            return "garbage"
        return event if event.pop("token", None) == self.token else "forged"


# ------------------------------------------------------------------ tampering
def _snapshot() -> dict[Path, bytes]:
    """The bytes of every source file of the installed tinymin package."""
    return {p: p.read_bytes() for p in sorted(PACKAGE.rglob("*"))
            if p.suffix in _WATCHED_SUFFIXES and p.is_file() and "__pycache__" not in p.parts}


def _compare_and_restore(before: dict[Path, bytes]) -> list[str]:
    """The package's source files that differ from ``before`` (relative paths), each
    changed or deleted one written back as it was (a file added is only named).

    The checker cannot tell the learner's code from an editor that saved a file of
    tinymin during the check, so nothing is thrown away: each changed version is
    first copied to a folder of its own under the temporary directory, which the
    entry names."""
    after = _snapshot()
    changed = sorted({p for p in before if after.get(p) != before[p]} | (set(after) - set(before)))
    for path in changed:  # restore first: keeping the copies below may fail (a full disk)
        if path in before:
            with atomic_file(path) as f:
                f.write(before[path])
    return [str(path.relative_to(PACKAGE.parent)) + _keep_copy(path, after.get(path))
            for path in changed]


def _keep_copy(path: Path, changed: bytes | None) -> str:
    """Copy a changed version to a folder of its own under the temporary directory, and
    say where; best effort (a copy that cannot be written is said so, not raised)."""
    if changed is None:  # deleted: nothing to keep
        return ""
    try:
        folder = Path(tempfile.mkdtemp(prefix="tinymin-check-changed-"))
        copy = folder / path.relative_to(PACKAGE.parent)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(changed)
    except OSError as err:
        return f", changed version not kept ({err})"
    return f", changed version kept as {copy}"


# ------------------------------------------------------------------ the child side
def _send(fd: int, token: str, **message: Any) -> None:
    data = (json.dumps({**message, "token": token}) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def child_main(name: str, file: str, fd: int) -> None:
    """Build the cases, import ``file``, run the cases, reporting to ``fd``: the child
    process's whole job (its first line on stdin is the token of every message)."""
    from tinymin.exercises.registry import get_exercise

    token = sys.stdin.readline().strip()
    exercise = get_exercise(name)
    cases = exercise.cases()
    _send(fd, token, event="ready", cases=len(cases))
    try:
        functions = load_functions(file, exercise.functions)
    except BaseException as err:  # noqa: BLE001 (whatever the import raised is the learner's)
        _send(fd, token, event="load_error", message=_load_error(err))
        return
    _send(fd, token, event="loaded")
    for index in range(len(cases)):
        _send(fd, token, event="start", case=index, name=cases[index].name)
        failure = run_case(cases[index], functions)
        _send(fd, token, event="result", case=index, name=cases[index].name,
              failure=encode_failure(failure))
        if failure is not None and failure.kind == "not_written":
            break
    _send(fd, token, event="done")


def _load_error(err: BaseException) -> str:
    """One line for a file that could not be imported."""
    if isinstance(err, LoadError):
        return str(err)
    if isinstance(err, SystemExit):
        return f"your file called sys.exit({err.code!r}) while it was imported"
    if isinstance(err, SyntaxError):
        return f"your file has a syntax error, line {err.lineno}: {err.msg}"
    line, tb = "", err.__traceback__
    while tb is not None:  # the deepest line of the learner's module itself
        if tb.tb_frame.f_code.co_name == "<module>" and tb.tb_frame.f_globals.get("__name__", "").startswith(
                "_tinymin_exercise_"):
            line = f" (line {tb.tb_lineno})"
        tb = tb.tb_next
    text = str(err).strip()
    message = f": {text.splitlines()[0][:200]}" if text else ""
    return f"your file raised {type(err).__name__} while it was imported{line}{message}"
