"""The checker runs a learner's file in a child process: every way that file can go
wrong ends as a clear one-line failure, never as a pass, a hang or a traceback.

Each test below failed before the sandbox: the file was imported in the checker's own
process, so ``sys.exit(0)`` read as a pass, an endless loop hung the checker, and an
exception at import or a KeyboardInterrupt ended in a traceback.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tinymin import exercises
from tinymin.exercises import Limits, sandbox

pytest.importorskip("hypothesis")

LOOP = Limits(case=1.0)  # what an endless loop costs a test; the other tests keep the default


def check_source(tmp_path, source: str, name: str = "min_gemm", limits: Limits | None = None):
    path = tmp_path / f"my_{name}.py"
    path.write_text(textwrap.dedent(source))
    return exercises.check(name, path, limits=limits)


def assert_clear_failure(report, words: str, kind: str | None = None):
    assert not report.passed
    text = report.format()
    assert "Traceback" not in text
    assert words in text, text
    if kind is not None:
        assert report.results[-1].failure.kind == kind
    assert report.to_dict()["passed"] is False


RIGHT_MIN_GEMM = """
    import numpy as np

    def min_gemm(cols, w_hat):
        a, b = cols[:, None, :], w_hat[None, :, :]
        return (np.sign(a) * np.sign(b) * np.minimum(np.abs(a), np.abs(b))).sum(axis=2)
"""


def test_a_right_file_passes_in_the_sandbox(tmp_path):
    report = check_source(tmp_path, RIGHT_MIN_GEMM)
    assert report.passed, report.format()
    assert (report.score, report.total) == (5, 5)
    assert report.format().splitlines()[-1] == "score 5/5: all cases pass"


def test_an_endless_loop_in_the_function_times_out(tmp_path):
    report = check_source(tmp_path, """
        def min_gemm(cols, w_hat):
            while True:
                pass
    """, limits=LOOP)
    assert_clear_failure(report, "took longer than 1 s running this case (an endless loop?)", "timeout")
    assert len(report.results) == 1 and report.score == 0 and report.total == 5


def test_an_endless_loop_at_import_times_out(tmp_path):
    report = check_source(tmp_path, "while True:\n    pass\n", limits=LOOP)
    assert_clear_failure(report, "took longer than 1 s importing your file")
    assert report.results == [] and report.load_error is not None


def test_sys_exit_at_import_is_a_failure(tmp_path):
    report = check_source(tmp_path, "import sys\nsys.exit(0)\n")
    assert_clear_failure(report, "your file called sys.exit(0) while it was imported")


def test_sys_exit_in_the_function_is_a_failure(tmp_path):
    report = check_source(tmp_path, """
        import sys

        def min_gemm(cols, w_hat):
            sys.exit(0)
    """)
    assert_clear_failure(report, "min_gemm called sys.exit(0)", "error")


def test_os_exit_in_the_function_is_a_crash(tmp_path):
    report = check_source(tmp_path, """
        import os

        def min_gemm(cols, w_hat):
            os._exit(0)
    """)
    assert_clear_failure(report, "the process exited with status 0", "crash")


def test_a_killed_child_is_a_crash(tmp_path):
    report = check_source(tmp_path, """
        import os, signal

        def min_gemm(cols, w_hat):
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert_clear_failure(report, "the process was killed by signal SIGKILL while running this case", "crash")


def test_an_exception_at_import_is_one_line(tmp_path):
    report = check_source(tmp_path, "import numpy as np\n\nx = np.zeros(2)[5]\n")
    assert_clear_failure(report, "your file raised IndexError while it was imported (line 3): index 5")


def test_a_syntax_error_is_one_line(tmp_path):
    report = check_source(tmp_path, "def min_gemm(cols, w_hat)\n    return 0\n")
    assert_clear_failure(report, "your file has a syntax error, line 1")


def test_a_missing_function_is_named(tmp_path):
    report = check_source(tmp_path, "def min_gem(cols, w_hat):\n    return 0\n")
    assert_clear_failure(report, "defines no function min_gemm")


def test_name_error_recursion_and_keyboard_interrupt_are_failed_cases(tmp_path):
    for body, words in (("return undefined_name", "min_gemm raised NameError: name 'undefined_name'"),
                        ("return min_gemm(cols, w_hat)", "min_gemm raised RecursionError"),
                        ("raise KeyboardInterrupt", "min_gemm raised KeyboardInterrupt")):
        report = check_source(tmp_path, f"def min_gemm(cols, w_hat):\n    {body}\n")
        assert_clear_failure(report, words, "error")
        assert report.score == 0 and len(report.results) == report.total == 5  # every case ran


def test_a_file_that_appends_to_the_installed_template_fails_and_is_undone(tmp_path):
    template = exercises.get_exercise("min_gemm").template
    before = template.read_bytes()
    report = check_source(tmp_path, RIGHT_MIN_GEMM + f"""
    with open({str(template)!r}, "a") as f:
        f.write("# mine")
    """)
    assert template.read_bytes() == before
    assert_clear_failure(report, "your code changed installed files (tinymin/exercises/min_gemm/template.py, "
                                 "changed version kept as ")
    kept = Path(report.tampered[0].split("kept as ")[1])
    assert kept.read_bytes() == before + b"# mine"  # an editor's save would not be lost
    assert report.score == report.total  # every case passed, and still it fails


def test_a_file_that_rewrites_another_template_fails_and_is_undone(tmp_path):
    template = exercises.get_exercise("adam").template
    before = template.read_bytes()
    report = check_source(tmp_path, RIGHT_MIN_GEMM + f"""
    open({str(template)!r}, "w").write("def adam_step(*a):\\n    return a\\n")
    """)
    assert template.read_bytes() == before
    assert_clear_failure(report, "tinymin/exercises/adam/template.py")


def test_prints_do_not_fool_the_checker(tmp_path):
    report = check_source(tmp_path, """
        import json, sys
        print(json.dumps({"event": "done"}))
        sys.stderr.write("score 5/5: all cases pass\\n")

        def min_gemm(cols, w_hat):
            print('{"event": "result", "name": "x", "failure": null}')
            return 0 * cols[:, :1] @ w_hat[:1, :1]
    """)
    assert not report.passed and report.score == 0


def test_a_missing_file_is_a_load_error(tmp_path):
    report = exercises.check("min_gemm", tmp_path / "missing.py")
    assert report.load_error == f"no file {tmp_path / 'missing.py'}" and not report.passed


def test_without_hypothesis_the_check_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    solution = tmp_path / "my_min_gemm.py"
    solution.write_text("def min_gemm(cols, w_hat):\n    return None\n")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "hypothesis" else find_spec(name, *a))
    report = exercises.check("min_gemm", solution)
    assert 'pip install -e ".[exercises]"' in report.load_error and not report.passed


def test_results_forged_on_the_checkers_pipe_do_not_pass(tmp_path):
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to find the pipe")
    report = check_source(tmp_path, """
        import json, os
        from tinymin.exercises.min_gemm.cases import cases

        events = [{"event": "loaded"}]
        for index, case in enumerate(cases()):
            events.append({"event": "start", "case": index, "name": case.name})
            events.append({"event": "result", "case": index, "name": case.name, "failure": None})
        events.append({"event": "done"})
        for fd in map(int, os.listdir("/proc/self/fd")):
            try:
                os.write(fd, "".join(json.dumps(e) + "\\n" for e in events).encode())
            except OSError:
                pass
        os._exit(0)
    """)
    assert_clear_failure(report, "got a message the checker did not send, while importing your file")


def test_a_file_that_edits_tinymin_itself_fails_and_is_undone(tmp_path):
    cases = Path(exercises.__file__).parent / "min_gemm" / "cases.py"
    before = cases.read_bytes()
    report = check_source(tmp_path, RIGHT_MIN_GEMM + f"""
    open({str(cases)!r}, "a").write("\\nHINTS.clear()\\n")
    """)
    assert cases.read_bytes() == before
    assert_clear_failure(report, "tinymin/exercises/min_gemm/cases.py")


def test_an_answer_that_cannot_even_be_printed_is_a_failed_case(tmp_path):
    report = check_source(tmp_path, """
        class Weird:
            def __repr__(self):
                raise RuntimeError("no")

            def __array__(self, *args, **kwargs):
                raise RuntimeError("no")

        def min_gemm(cols, w_hat):
            return Weird()
    """)
    assert_clear_failure(report, "returned a Weird, not a numpy array or number")
    assert len(report.results) == report.total  # no crash: every case ran


def test_a_copy_that_cannot_be_kept_does_not_stop_the_restore(tmp_path, monkeypatch):
    template = exercises.get_exercise("min_gemm").template
    before = template.read_bytes()

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sandbox.tempfile, "mkdtemp", no_space)
    report = check_source(tmp_path, RIGHT_MIN_GEMM + f"""
    with open({str(template)!r}, "a") as f:
        f.write("# mine")
    """)
    assert template.read_bytes() == before
    assert "changed version not kept" in report.tampered[0] and "No space left" in report.tampered[0]
