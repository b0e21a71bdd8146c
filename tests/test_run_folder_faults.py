"""Faults of a run folder (issue 21): one writer at a time, outputs that never replace
an input or another run's files without ``--force``, and a folder whose first save was
interrupted taken back by one command that the error names."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tinymin.checkpoint import load_checkpoint
from tinymin.cli import main
from tinymin.run_folder import RunFolder
from tinymin.run_lock import FolderLock

ROOT = Path(__file__).resolve().parents[1]
TINY = ["train", "--model", "mlp", "--train-limit", "32", "--test-limit", "16", "--batch-size", "16",
        "--no-progress"]

HOLDER = textwrap.dedent("""
    import sys
    from tinymin.run_folder import RunFolder
    folder = RunFolder(sys.argv[1])  # kept: the lock lives as long as the object
    folder.lock()
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until killed or stdin closes
""")


@pytest.fixture
def other_writer(tmp_path):
    """Start another process that takes the run folder ``tmp_path / "run"``; yields it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                     os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "run")], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "locked\n"
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path, other_writer, capsys):
    run = tmp_path / "run"
    for extra in ([], ["--resume"], ["--restart"]):
        assert main([*TINY, "--epochs", "1", "--out", str(run), *extra]) == 2
        err = one_error_line(capsys)
        assert "another process is writing this run folder" in err
        assert f"pid {other_writer.pid} on " in err and "-c" in err
    assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing written beside it


def test_the_lock_is_taken_over_once_its_holder_is_killed(tmp_path, other_writer, capsys):
    run = tmp_path / "run"
    other_writer.send_signal(signal.SIGKILL)
    other_writer.wait()
    assert (run / ".lock").exists()  # left behind, but no longer held
    assert main([*TINY, "--epochs", "1", "--out", str(run)]) == 0
    assert not (run / ".lock").exists()  # released at the end of the run


def test_one_process_cannot_take_a_folder_twice(tmp_path):
    first, second = FolderLock(tmp_path / ".lock"), FolderLock(tmp_path / ".lock")
    assert first.acquire() is None
    assert f"pid {os.getpid()}" in second.acquire()
    assert second.holder() is not None and first.holder() is None  # first holds it
    first.release()
    assert second.acquire() is None and not first.held
    second.release()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_start_leaves_no_folder_and_no_lock(tmp_path, capsys):
    run = tmp_path / "new"
    assert main([*TINY, "--epochs", "1", "--out", str(run), "--resume"]) == 2
    assert "holds no run to continue" in one_error_line(capsys)
    assert not run.exists()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-epoch mlp run: (its folder, its checkpoint's bytes)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main([*TINY, "--epochs", "2", "--out", str(run)]) == 0
    return run, (run / "checkpoint.npz").read_bytes()


def interrupted_copy(finished, tmp_path, leftover: bool) -> Path:
    """The folder of ``finished`` as a kill during its first checkpoint leaves it."""
    run, _ = finished
    copy = tmp_path / "interrupted"
    copy.mkdir()
    (copy / "config.json").write_text((run / "config.json").read_text())
    (copy / "metrics.csv").write_text("".join((run / "metrics.csv").read_text().splitlines(True)[:2]))
    if leftover:
        (copy / ".checkpoint.npz.0123abcd.tmp").write_bytes(b"half a checkpoint")
    return copy


@pytest.mark.parametrize("leftover", [True, False])
def test_a_run_killed_in_its_first_save_resumes_from_scratch(finished, tmp_path, capsys, leftover):
    copy = interrupted_copy(finished, tmp_path, leftover)
    assert main([*TINY, "--epochs", "2", "--out", str(copy)]) == 2
    err = one_error_line(capsys)
    assert "--resume to continue it, --restart to discard it" in err
    assert main([*TINY, "--epochs", "2", "--out", str(copy), "--resume"]) == 0
    assert "holds no checkpoint yet: the run starts again from epoch 1" in capsys.readouterr().out
    assert sorted(p.name for p in copy.iterdir()) == ["checkpoint.npz", "config.json", "metrics.csv"]
    assert [row.split(",")[0] for row in (copy / "metrics.csv").read_text().splitlines()] == \
        ["epoch", "1", "2"]
    straight = load_checkpoint(finished[0] / "checkpoint.npz")
    again = load_checkpoint(copy / "checkpoint.npz")
    for key, value in straight.model_state.items():
        np.testing.assert_array_equal(again.model_state[key], value)


def test_restart_discards_a_run_and_starts_again(finished, tmp_path, capsys):
    copy = interrupted_copy(finished, tmp_path, leftover=True)
    (copy / "notes.txt").write_text("mine")
    assert main([*TINY, "--epochs", "1", "--out", str(copy), "--restart"]) == 0
    assert load_checkpoint(copy / "checkpoint.npz").epoch == 1
    assert (copy / "notes.txt").read_text() == "mine"  # not a run file: kept
    assert not list(copy.glob(".*.tmp"))


def test_a_corrupt_checkpoint_names_the_way_out(finished, tmp_path, capsys):
    copy = interrupted_copy(finished, tmp_path, leftover=False)
    (copy / "checkpoint.npz").write_bytes(b"PK\x03\x04 truncated")
    assert main([*TINY, "--epochs", "3", "--out", str(copy), "--resume"]) == 2
    assert "pass --restart instead of --resume" in one_error_line(capsys)


@pytest.mark.parametrize("where", ["input", "existing", "run folder"])
def test_convert_never_replaces_an_input_or_a_run_file_without_force(finished, tmp_path, capsys,
                                                                    where):
    run, original = finished
    out = {"input": run / "checkpoint.npz", "existing": tmp_path / "mine.npz",
           "run folder": run / "min.npz"}[where]
    if where == "existing":
        out.write_bytes(b"my file")
    before = out.read_bytes() if out.exists() else None
    assert main(["convert", "--checkpoint", str(run / "checkpoint.npz"), "--out", str(out),
                 "--calibrate", "0"]) == 2
    err = one_error_line(capsys)
    assert {"input": "is the input", "existing": "exists; choose another file name",
            "run folder": "is the folder of a training run"}[where] in err and "--force" in err
    assert (out.read_bytes() if out.exists() else None) == before
    assert (run / "checkpoint.npz").read_bytes() == original


def test_convert_force_passes_the_guard(tmp_path, capsys):
    target = tmp_path / "mine.npz"
    target.write_bytes(b"old")
    fake = tmp_path / "exact.npz"
    fake.write_bytes(b"not a checkpoint")
    assert main(["convert", "--checkpoint", str(fake), "--out", str(target), "--force"]) == 2
    assert "not a readable .npz checkpoint" in one_error_line(capsys)  # the input, not the guard


def test_convert_into_a_folder_being_written_is_refused_even_with_force(tmp_path, other_writer,
                                                                        capsys):
    fake = tmp_path / "exact.npz"
    fake.write_bytes(b"x")
    assert main(["convert", "--checkpoint", str(fake), "--out", str(tmp_path / "run" / "m.npz"),
                 "--force"]) == 2
    assert f"is being written by a run (pid {other_writer.pid}" in one_error_line(capsys)


def test_clear_removes_only_run_files(tmp_path):
    folder = RunFolder(tmp_path)
    for name in ("config.json", "metrics.csv", "scales.csv", "checkpoint.npz", ".metrics.csv.ab.tmp",
                 "other.txt"):
        (tmp_path / name).write_text("x")
    assert len(folder.clear()) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["other.txt"]


# -------------------------------------------- a resumed run's log files, links and JSON
def finished_copy(finished, tmp_path) -> Path:
    """A copy of the finished 2-epoch run's folder, to damage."""
    run, _ = finished
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("config.json", "metrics.csv", "checkpoint.npz"):
        (copy / name).write_bytes((run / name).read_bytes())
    return copy


def test_resume_ends_a_metrics_row_that_lacks_its_newline(finished, tmp_path, capsys):
    copy = finished_copy(finished, tmp_path)
    metrics = copy / "metrics.csv"
    metrics.write_bytes(metrics.read_bytes().rstrip(b"\r\n"))
    assert main([*TINY, "--epochs", "3", "--out", str(copy), "--resume"]) == 0
    lines = metrics.read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch", "1", "2", "3"]
    assert all(line.count(",") == 6 for line in lines)  # 7 columns each: nothing glued


@pytest.mark.parametrize("header", [
    "seconds,lr,test_accuracy,test_loss,train_accuracy,train_loss,epoch",
    "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds",
], ids=["reordered", "no-lr"])
def test_resume_refuses_a_metrics_file_with_other_columns(finished, tmp_path, capsys, header):
    copy = finished_copy(finished, tmp_path)
    metrics = copy / "metrics.csv"
    metrics.write_text(header + "\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    assert main([*TINY, "--epochs", "3", "--out", str(copy), "--resume"]) == 2
    err = one_error_line(capsys)
    assert f"error: {metrics}: has the columns {header}, but this run writes epoch,train_loss," \
           "train_accuracy,test_loss,test_accuracy,lr,seconds;" in err
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before  # nothing written


@pytest.mark.parametrize("name, content, reason", [
    ("metrics.csv", b"epoch,train_loss,train_accuracy,test_loss,test_accuracy,lr,seconds\n"
                    b"1,2.2,0.23,2.04,0.46,0.001,0.01\n2,\xff\xfe,1,1,1,1,1\n",
     "not UTF-8 text (line 3: invalid start byte"),
    ("metrics.csv", b"epoch,train_loss,train_accuracy,test_loss,test_accuracy,lr,seconds\n"
                    b"1,2.2,0.23,2.04,0.46,0.001,0.01,EXTRA\n2,1,1,1,1,1,1\n",
     "a row has 8 fields, the header 7 (line 2)"),
    ("scales.csv", "epoch,a\n1,1\n".encode("utf-16"), "not UTF-8 text (line 1: invalid start byte"),
], ids=["metrics-bad-utf8", "metrics-extra-field", "scales-utf16"])
def test_a_bad_log_file_is_named_not_the_checkpoint(finished, tmp_path, capsys, name, content,
                                                     reason):
    copy = finished_copy(finished, tmp_path)
    (copy / name).write_bytes(content)
    assert main([*TINY, "--epochs", "3", "--out", str(copy), "--resume"]) == 2
    err = one_error_line(capsys)
    assert err.startswith(f"error: {copy / name}: {reason}") and "checkpoint" not in err, err
    assert (copy / name).read_bytes() == content


def test_a_broken_checkpoint_link_is_refused_not_replaced(finished, tmp_path, capsys):
    copy = finished_copy(finished, tmp_path)
    link, target = copy / "checkpoint.npz", tmp_path / "moved" / "checkpoint.npz"
    link.unlink()
    link.symlink_to(target)
    metrics = (copy / "metrics.csv").read_bytes()
    assert main([*TINY, "--epochs", "3", "--out", str(copy), "--resume"]) == 2
    assert one_error_line(capsys) == (
        f"error: --resume: {link} -> {target}: a symbolic link to a file that does not exist; "
        "restore the file it points to, or pass --restart instead of --resume to discard this "
        "run and start it again\n")
    assert main([*TINY, "--epochs", "3", "--out", str(copy)]) == 2  # nor is a new run started
    assert "this folder already holds a run" in one_error_line(capsys)
    assert link.is_symlink() and (copy / "metrics.csv").read_bytes() == metrics
    assert main([*TINY, "--epochs", "1", "--out", str(copy), "--restart"]) == 0  # the way out
    assert not link.is_symlink() and load_checkpoint(link).epoch == 1


def test_a_deeply_nested_config_is_a_one_line_error(finished, tmp_path, capsys):
    copy = interrupted_copy(finished, tmp_path, leftover=False)  # no checkpoint: config.json read
    (copy / "config.json").write_text("[" * 100_000)
    assert main([*TINY, "--epochs", "2", "--out", str(copy), "--resume"]) == 2
    err = one_error_line(capsys)
    assert err.startswith(f"error: --resume: {copy / 'config.json'} is not readable JSON "
                          "(maximum recursion depth exceeded") and "--restart" in err


def test_a_deeply_nested_lock_file_names_the_lock(tmp_path, other_writer, capsys):
    lock = tmp_path / "run" / ".lock"
    lock.write_text("[" * 100_000)  # the holder's description, garbled
    assert main([*TINY, "--epochs", "1", "--out", str(tmp_path / "run")]) == 2
    assert f"another process is writing this run folder (its lock {lock} names no process yet)" \
        in one_error_line(capsys)
