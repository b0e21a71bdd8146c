"""``python -m tinymin exercise``: list, show, start, hint, check (text, --verbose,
--json, --all) and status, with the progress kept in a small JSON file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinymin import exercises
from tinymin.exercises import EXERCISES, progress

pytest.importorskip("hypothesis")

SOLUTIONS = Path(__file__).parent / "solutions"
ROOT = Path(__file__).parents[2]


@pytest.fixture(autouse=True)
def state_file(tmp_path, monkeypatch):
    path = tmp_path / "state" / "exercises.json"
    monkeypatch.setenv("TINYMIN_EXERCISE_STATE", str(path))
    return path


def test_list_names_every_exercise_in_chapter_order(capsys):
    assert exercises.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines[:len(EXERCISES)]] == list(EXERCISES)
    assert exercises.main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["chapter"] for e in listed] == sorted(e["chapter"] for e in listed)


def test_show_start_and_path(tmp_path, capsys, monkeypatch):
    assert exercises.main(["show", "gain_offset"]) == 0
    out = capsys.readouterr().out
    assert ("write: def fit_gain_offset(approx: np.ndarray, target: np.ndarray, per_channel: bool = True)"
            in out)
    assert "- a constant channel:" in out
    monkeypatch.chdir(tmp_path)
    assert exercises.main(["start", "sum_to"]) == 0
    assert (tmp_path / "my_sum_to.py").read_text() == EXERCISES["sum_to"].template.read_text()
    assert exercises.main(["start", "sum_to"]) == 2  # never overwrites the learner's work
    assert "exists already" in capsys.readouterr().err
    assert exercises.main(["path", "sum_to"]) == 0
    assert capsys.readouterr().out.strip() == str(EXERCISES["sum_to"].template)


def test_hints_are_staged_and_never_the_code(capsys):
    for e in EXERCISES.values():
        assert exercises.main(["hint", e.name, "1"]) == 0
        first = capsys.readouterr().out
        assert first.startswith(f"hint 1 of {len(e.hints)}: ") and "hint 2" not in first
        assert exercises.main(["hint", e.name, str(len(e.hints))]) == 0
        every = capsys.readouterr().out
        assert every.count("\nhint ") == len(e.hints) - 1
        for hint in e.hints:
            code = ("return np", "return (", "def ", "lambda", "= np.", "= torch.")  # no line of a solution
            assert not any(word in hint for word in code), (e.name, hint)


def test_check_short_verbose_and_json(tmp_path, capsys):
    wrong = tmp_path / "wrong.py"
    wrong.write_text("import numpy as np\n\ndef min_gemm(cols, w_hat):\n"
                     "    return np.minimum(np.abs(cols)[:, None], np.abs(w_hat)[None]).sum(axis=2)\n")
    assert exercises.main(["check", "min_gemm", "--file", str(wrong)]) == 1
    short = capsys.readouterr().out
    assert ("FAIL  negative operands (the sign): wrong values (largest difference at index (0, 0): "
            "expected -3.0, obtained 5.0, off by 8, 2.67 relative)") in short
    assert "score 1/5: 4 case(s) failed" in short and len(short.splitlines()) <= 14
    assert "expected [[-3.]], obtained [[5.]]" in short
    assert exercises.main(["check", "min_gemm", "--file", str(wrong), "--verbose"]) == 1
    verbose = capsys.readouterr().out
    assert verbose.count("expected: array") == 4 and len(verbose.splitlines()) > len(short.splitlines())
    assert exercises.main(["check", "min_gemm", "--file", str(wrong), "--json", "--hint", "1"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["exercise"], data["passed"], data["score"], data["total"]) == ("min_gemm", False, 1, 5)
    assert data["cases"][1] == {"name": "negative operands (the sign)", "status": "FAIL", "kind": "wrong",
                                "problem": "wrong values (largest difference at index (0, 0): "
                                           "expected -3.0, obtained 5.0, off by 8, 2.67 relative)"}


def test_check_prints_hints_on_request(capsys):
    assert exercises.main(["check", "sum_to", "--hint", "2"]) == 1
    out = capsys.readouterr().out
    assert "hint 1 of 3:" in out and "hint 2 of 3:" in out and "hint 3 of 3:" not in out


def test_check_all_grades_a_folder_for_a_teacher(tmp_path, capsys):
    for name in ("sum_to", "min_gemm"):
        (tmp_path / f"{name}.py").write_text((SOLUTIONS / f"{name}.py").read_text())
    assert exercises.main(["check", "--all", "--dir", str(tmp_path), "--json", "--time-limit", "20"]) == 1
    data = json.loads(capsys.readouterr().out)
    by_name = {r["exercise"]: r for r in data["exercises"]}
    assert list(by_name) == list(EXERCISES)
    assert by_name["sum_to"]["passed"] and by_name["min_gemm"]["passed"]
    assert by_name["adam"]["load_error"].startswith("no file")
    assert data["passed"] == 2 and data["total"] == len(EXERCISES)


def test_status_records_the_latest_check_atomically(tmp_path, state_file, capsys):
    assert exercises.main(["status"]) == 0
    assert "0 of 14 exercises pass" in capsys.readouterr().out
    mine = tmp_path / "my_min_gemm.py"
    mine.write_text((SOLUTIONS / "min_gemm.py").read_text())
    assert exercises.main(["check", "min_gemm", "--file", str(mine)]) == 0
    assert exercises.main(["check", "sum_to"]) == 1  # the template: not recorded
    capsys.readouterr()
    recorded = json.loads(state_file.read_text())
    assert recorded["format"] == progress.FORMAT and list(recorded["exercises"]) == ["min_gemm"]
    assert recorded["exercises"]["min_gemm"]["score"] == 5 and recorded["exercises"]["min_gemm"]["passed"]
    assert [p.name for p in state_file.parent.iterdir()] == ["exercises.json"]  # no temporary left
    assert exercises.main(["status"]) == 0
    out = capsys.readouterr().out
    assert " 6  min_gemm " in out and "passed 5/5" in out and "1 of 14 exercises pass" in out
    assert exercises.main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exercises"][0] == {"name": "sum_to", "chapter": 1,
                                                                   "passed": False, "score": None,
                                                                   "passed_so_far": False}


def test_a_corrupt_progress_file_is_named_not_overwritten(state_file, capsys):
    state_file.parent.mkdir(parents=True)
    state_file.write_text("{not json")
    assert exercises.main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {state_file}: not a progress file") and "delete it" in err
    assert state_file.read_text() == "{not json"


@pytest.mark.parametrize("content, reason", [
    ("[" * 100_000, "not a progress file"),  # nested past Python's recursion limit
    ('{"format": "%s", "exercises": {"sum_to": {}}}', "the record of 'sum_to' has no 'passed'"),
    ('{"format": "%s", "exercises": {"sum_to": 5}}', "the record of 'sum_to' is a int"),
    ('{"format": "%s", "exercises": {"sum_to": {"passed": true}}}', "has no 'score'"),
    ('{"format": "%s", "exercises": {"sum_to": {"passed": 1, "score": 1, "total": 1, "file": "f", '
     '"checked": "c"}}}', "has 'passed' = 1"),
    ('{"format": "%s", "exercises": {"sum_to": {"passed": true, "score": 1, "total": 1, "file": "f", '
     '"checked": "c", "passed_once": {"score": true}}}}', "its 'passed_once' has 'score' = True"),
])
def test_a_malformed_progress_record_is_named_for_status_and_check(tmp_path, state_file, capsys,
                                                                   content, reason):
    state_file.parent.mkdir(parents=True)
    text = content % progress.FORMAT if "%s" in content else content
    state_file.write_text(text)
    assert exercises.main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {state_file}: ") and reason in err and "delete" in err
    mine = tmp_path / "my_min_gemm.py"  # a passing check still passes; only the record is lost
    mine.write_text((SOLUTIONS / "min_gemm.py").read_text())
    assert exercises.main(["check", "min_gemm", "--file", str(mine)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: progress not saved: {state_file}: ") and reason in err
    assert state_file.read_text() == text


def test_python_m_tinymin_exercise_exits_with_the_status(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "tinymin", "exercise", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    passed = run("check", "min_gemm", "--file", str(SOLUTIONS / "min_gemm.py"))
    assert passed.returncode == 0 and passed.stdout.strip().endswith("all cases pass"), passed.stdout
    loads_nothing = run("check", "min_gemm", "--file", str(tmp_path / "missing.py"))
    assert loads_nothing.returncode == 2 and "FAILED: no file" in loads_nothing.stdout
    usage = run("check")
    assert usage.returncode == 2 and "name one exercise, or give --all" in usage.stderr


def test_an_exercise_that_cannot_run_here_is_skipped_not_passed():
    from tinymin.exercises.checker import Failure
    from tinymin.exercises.report import CaseResult, Report

    skipped = Failure("a case", {}, None, None, "skipped: torch is not installed", "", kind="skipped")
    report = Report("torch_clip", "my_torch_clip.py", total=2,
                    results=[CaseResult("a case", skipped), CaseResult("another", skipped)])
    assert not report.passed and report.verdict == "skipped: torch is not installed"
    assert [r.status for r in report.results] == ["skip", "skip"]
    assert report.to_dict()["skipped"] == 2
    report.results[1] = CaseResult("another", None)
    assert report.passed and report.verdict == "score 1/1 (1 skipped): all cases pass"


def test_a_failing_check_after_a_pass_keeps_the_pass(tmp_path, state_file, capsys):
    mine = tmp_path / "my_min_gemm.py"
    mine.write_text((SOLUTIONS / "min_gemm.py").read_text())
    assert exercises.main(["check", "min_gemm", "--file", str(mine)]) == 0
    unfilled = tmp_path / "scratch.py"
    unfilled.write_text("def min_gemm(cols, w_hat):\n    raise NotImplementedError\n")
    assert exercises.main(["check", "min_gemm", "--file", str(unfilled)]) == 1
    capsys.readouterr()
    assert exercises.main(["status"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if " min_gemm " in line)
    assert "passed 5/5" in line and "my_min_gemm.py" in line
    assert "latest check failing 0/5" in line and "scratch.py" in line
    assert "1 of 14 exercises pass" in out
    assert exercises.main(["check", "min_gemm", "--file", str(mine)]) == 0  # passes again
    capsys.readouterr()
    assert exercises.main(["status"]) == 0
    assert "latest check failing" not in capsys.readouterr().out
    assert exercises.main(["check", "min_gemm", "--file", str(unfilled)]) == 1
    capsys.readouterr()
    assert exercises.main(["status", "--json"]) == 0
    entry = next(e for e in json.loads(capsys.readouterr().out)["exercises"] if e["name"] == "min_gemm")
    assert entry["passed"] is False and entry["passed_so_far"] is True  # the text counts it too


def test_check_says_which_of_its_two_mistakes_was_made(capsys):
    assert exercises.main(["check", "sum_to", "--all"]) == 2
    assert "name one exercise (sum_to) or give --all, not both" in capsys.readouterr().err
    assert exercises.main(["check"]) == 2
    assert "name one exercise, or give --all" in capsys.readouterr().err
