"""``python -m tinymin exercise list|show|start|path|check|hint|status``.

``check`` grades a learner's file in a child process (:mod:`tinymin.exercises.sandbox`)
and records the score (:mod:`tinymin.exercises.progress`); exit status 0 when every
case passes, 1 when a case fails, 2 when the file cannot be graded (missing, not
importable, a dependency missing here) or a progress file is corrupt.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tinymin.checkpoint.atomic import write_bytes_atomic
from tinymin.exercises import progress
from tinymin.exercises.registry import EXERCISES, get_exercise
from tinymin.exercises.report import Report
from tinymin.exercises.sandbox import Limits, check_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``exercise`` sub-command's actions (the CLI calls this, then :func:`run`)."""
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the exercises, in chapter order")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    show = actions.add_parser("show", help="what an exercise asks, its cases and how to start")
    show.add_argument("name", choices=list(EXERCISES))
    start = actions.add_parser("start", help="copy an exercise's template to a file of your own")
    start.add_argument("name", choices=list(EXERCISES))
    start.add_argument("--to", default=None, help="the file to write (default: my_NAME.py here)")
    path = actions.add_parser("path", help="where an exercise's template is")
    path.add_argument("name", choices=list(EXERCISES))
    check = actions.add_parser("check", help="grade your solution of one exercise (or --all)")
    check.add_argument("name", nargs="?", choices=list(EXERCISES), help="the exercise")
    check.add_argument("--file", help="your solution (default: the unfilled template)")
    check.add_argument("--all", action="store_true",
                       help="grade every exercise: DIR/my_NAME.py or DIR/NAME.py")
    check.add_argument("--dir", default=".", help="with --all, the folder of solutions")
    check.add_argument("--verbose", action="store_true", help="print the arrays of every failure")
    check.add_argument("--json", action="store_true", help="machine-readable output (for a teacher)")
    check.add_argument("--hint", type=int, default=0, metavar="N", help="also print hints 1 to N")
    check.add_argument("--time-limit", type=_positive_float, default=Limits.case, metavar="SECONDS",
                       help="limit for importing the file and for each case")
    hint = actions.add_parser("hint", help="staged hints: 1 names the idea, later ones say more")
    hint.add_argument("name", choices=list(EXERCISES))
    hint.add_argument("level", nargs="?", type=int, default=1, help="how many hints to print")
    status = actions.add_parser("status", help="your progress: which exercises pass")
    status.add_argument("--json", action="store_true", help="machine-readable output")


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    """Carry out the parsed ``exercise`` action; returns the exit status."""
    try:
        return _ACTIONS[args.action](args)
    except progress.ProgressError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: the sandbox has stopped the checking process
        print("exercise: interrupted", file=sys.stderr)
        return 130


def _list(args) -> int:
    if args.json:
        print(json.dumps([{"name": e.name, "chapter": e.chapter, "summary": e.summary,
                           "functions": list(e.functions), "template": str(e.template)}
                          for e in EXERCISES.values()], indent=1))
        return 0
    width = max(len(name) for name in EXERCISES)
    for e in EXERCISES.values():
        print(f"{e.chapter:>2}  {e.name:<{width}}  {e.summary}")
    print(f"\n{len(EXERCISES)} exercises. Start one: python -m tinymin exercise start NAME; "
          "check it: python -m tinymin exercise check NAME --file my_NAME.py")
    return 0


def _show(args) -> int:
    e = get_exercise(args.name)
    signatures = [line.rstrip(":").strip() for line in _signature_lines(e.template)]
    print(f"{e.name} (chapter {e.chapter}): {e.summary}")
    print("write: " + "; ".join(signatures))
    print(f"template: {e.template}")
    print("cases:")
    for case in e.cases():
        print(f"  - {case.name}: {case.hint}")
    print(f"start:  python -m tinymin exercise start {e.name}")
    print(f"check:  python -m tinymin exercise check {e.name} --file my_{e.name}.py")
    print(f"stuck:  python -m tinymin exercise hint {e.name} 1   (up to {len(e.hints)})")
    return 0


def _signature_lines(template: Path) -> list[str]:
    """The ``def`` lines of a template, joined when a signature spans several lines."""
    lines, current = [], ""
    for line in template.read_text(encoding="utf-8").splitlines():
        if line.startswith("def ") or current:
            current += (" " if current else "") + line.strip()
            if current.endswith(":"):
                lines.append(current)
                current = ""
    return lines


def _start(args) -> int:
    e = get_exercise(args.name)
    target = Path(args.to or f"my_{e.name}.py")
    if target.exists():
        print(f"error: {target} exists already; check it with: python -m tinymin exercise check "
              f"{e.name} --file {target}", file=sys.stderr)
        return 2
    # atomic: an interrupted copy would leave half a template that "exists already"
    write_bytes_atomic(target, e.template.read_bytes())
    print(f"wrote {target}: write its body, then: python -m tinymin exercise check {e.name} --file {target}")
    return 0


def _path(args) -> int:
    print(get_exercise(args.name).template)
    return 0


def _check(args) -> int:
    if args.all and args.name is not None:
        print(f"error: exercise check: name one exercise ({args.name}) or give --all, not both",
              file=sys.stderr)
        return 2
    if not args.all and args.name is None:
        print("error: exercise check: name one exercise, or give --all", file=sys.stderr)
        return 2
    limits = Limits(case=args.time_limit)
    names = list(EXERCISES) if args.all else [args.name]
    reports = [_check_one(name, _solution_file(args, name), limits) for name in names]
    if args.json:
        data = [r.to_dict() for r in reports]
        print(json.dumps(data[0] if not args.all else {
            "exercises": data, "passed": sum(r.passed for r in reports), "total": len(reports)}, indent=1))
    else:
        print("\n\n".join(r.format(verbose=args.verbose) for r in reports))
        if args.all:
            print(f"\n{sum(r.passed for r in reports)} of {len(reports)} exercises pass")
        for line in _hints(get_exercise(names[0]), args.hint) if not args.all else []:
            print(line)
    return _exit_status(reports)


def _exit_status(reports: list[Report]) -> int:
    """0: every case of every exercise passes; 2: one exercise checked and its file could
    not be graded (not loadable, or every case skipped here); 1 otherwise."""
    if all(r.passed for r in reports):
        return 0
    if len(reports) == 1 and (reports[0].load_error is not None or reports[0].skipped == reports[0].total):
        return 2
    return 1


def _solution_file(args, name: str) -> Path:
    if not args.all:
        return Path(args.file) if args.file else get_exercise(name).template
    folder = Path(args.dir)
    mine = folder / f"my_{name}.py"
    return mine if mine.exists() else folder / f"{name}.py"


def _check_one(name: str, path: Path, limits: Limits) -> Report:
    report = check_file(name, path, limits)
    if path.resolve() != get_exercise(name).template.resolve() and path.is_file():
        try:
            progress.record(report)
        except (OSError, progress.ProgressError) as err:
            print(f"warning: progress not saved: {err}", file=sys.stderr)
    return report


def _hints(e, level: int) -> list[str]:
    level = min(max(level, 0), len(e.hints))
    return [f"hint {i} of {len(e.hints)}: {e.hints[i - 1]}" for i in range(1, level + 1)]


def _hint(args) -> int:
    e = get_exercise(args.name)
    if args.level < 1:
        print("error: exercise hint: the level counts from 1", file=sys.stderr)
        return 2
    for line in _hints(e, args.level):
        print(line)
    if args.level < len(e.hints):
        print(f"(more: python -m tinymin exercise hint {e.name} {args.level + 1})")
    return 0


def _status(args) -> int:
    recorded = progress.load()
    if args.json:
        print(json.dumps({"state": str(progress.state_path()), "exercises": [
            {"name": name, "chapter": e.chapter, **recorded.get(name, {"passed": False, "score": None}),
             "passed_so_far": progress.has_passed(recorded.get(name))}  # what the text counts
            for name, e in EXERCISES.items()]}, indent=1))
        return 0
    width = max(len(name) for name in EXERCISES)
    for name, e in EXERCISES.items():
        entry = recorded.get(name)
        if entry is None:
            state = "not tried"
        elif entry["passed"] or not entry.get("passed_once"):
            state = f"{'passed' if entry['passed'] else 'failing'} {_result(entry)}"
        else:  # a pass, then a failing check (a template, another file)
            state = f"passed {_result(entry['passed_once'])}; latest check failing {_result(entry)}"
        print(f"{e.chapter:>2}  {name:<{width}}  {state}")
    passed = sum(progress.has_passed(recorded.get(name)) for name in EXERCISES)
    print(f"{passed} of {len(EXERCISES)} exercises pass (kept in {progress.state_path()})")
    return 0


def _result(entry: dict) -> str:
    return f"{entry['score']}/{entry['total']}  ({entry['checked']}, {Path(entry['file']).name})"


_ACTIONS = {"list": _list, "show": _show, "start": _start, "path": _path, "check": _check, "hint": _hint,
            "status": _status}


def main(argv: Sequence[str]) -> int:
    """``python -m tinymin exercise ...`` without the rest of the command line."""
    parser = argparse.ArgumentParser(prog="python -m tinymin exercise",
                                     description="Exercises that a checker grades.")
    add_arguments(parser)
    return run(parser.parse_args(list(argv)))
