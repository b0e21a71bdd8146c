"""Faults of a torchrun run (issue 21), two processes on the CPU (gloo): a resumed run
continues bit-exactly, workers leave when their launcher is killed, and a user error is
one line from rank 0 with exit status 2, the other rank leaving quietly.

The workers import the package from the working tree (``PYTHONPATH``), installed or not.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch engine needs the optional extra: "
                            'pip install -e ".[torch]"')
if not torch.distributed.is_available():  # pragma: no cover - builds without distributed
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)
if not sys.platform.startswith("linux"):  # pragma: no cover - /proc is read below
    pytest.skip("reads /proc", allow_module_level=True)

from tinymin.checkpoint import load_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
#: lenet keeps its dropout (p=0.5): every rank draws masks from its own torch generator
TRAIN = ["-m", "tinymin", "train", "--engine", "torch", "--model", "lenet", "--train-limit", "128",
         "--test-limit", "16", "--batch-size", "16", "--no-progress"]


def torchrun_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            *args]


def environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def torchrun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(torchrun_command(*args), capture_output=True, text=True, timeout=600,
                          env=environment())


def test_a_two_process_run_resumed_is_bit_identical_to_one_run_through(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    for args in (["--epochs", "2", "--out", str(straight)], ["--epochs", "1", "--out", str(resumed)],
                 ["--epochs", "2", "--out", str(resumed), "--resume"]):
        result = torchrun(*TRAIN, *args)
        assert result.returncode == 0, result.stdout + result.stderr
    a, b = load_checkpoint(straight / "checkpoint.npz"), load_checkpoint(resumed / "checkpoint.npz")
    assert a.epoch == b.epoch == 2
    for key, value in a.model_state.items():
        np.testing.assert_array_equal(b.model_state[key], value, err_msg=key)
    # every rank's generators are saved, and they went on as in the uninterrupted run
    assert {"torch_rng_cpu", "rng_global", "rank1/torch_rng_cpu", "rank1/rng_global"} <= set(a.extra)
    for key, value in a.extra.items():
        np.testing.assert_array_equal(b.extra[key], value, err_msg=key)
    assert (straight / "metrics.csv").read_text().splitlines()[1:] != []


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_the_workers_stop_when_the_launcher_is_killed(tmp_path):
    out = tmp_path / "run"
    launcher = subprocess.Popen(torchrun_command(*TRAIN, "--model", "mlp", "--train-limit", "2000",
                                                 "--epochs", "1000", "--out", str(out)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=environment())
    workers: list[int] = []
    try:
        assert wait_until(lambda: (out / "metrics.csv").exists(), 300), "the run never trained"
        workers = children_of(launcher.pid)
        assert len(workers) == 2
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
        assert wait_until(lambda: not any(running(pid) for pid in workers), 10), \
            "workers outlived their launcher"
    finally:
        for pid in workers:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    # the folder is free: a resume starts at once (here refused only for its --epochs)
    result = subprocess.run([sys.executable, *TRAIN, "--model", "mlp", "--train-limit", "2000",
                             "--epochs", "1", "--out", str(out), "--resume"],
                            capture_output=True, text=True, env=environment(), timeout=300)
    assert result.returncode == 2 and "is not above" in result.stderr, result.stderr


@pytest.mark.parametrize("args, message", [
    (["--epochs", "-1"], "error: --epochs must be in [1, inf), got -1"),  # before the group
    (["--epochs", "2", "--resume"], "holds no run to continue"),  # after it: rank 0 alone
])
def test_a_user_error_is_one_line_from_rank_0_and_exit_status_2(tmp_path, args, message):
    result = torchrun(*TRAIN, "--out", str(tmp_path / "run"), *args)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "[rank" not in result.stderr and "gloo" not in result.stderr, result.stderr
    # torchrun's summary: a rank exited 2; the other did too, or was stopped by torchrun
    codes = set(re.findall(r"exitcode\s*:\s*(-?\d+)", result.stderr))
    assert "2" in codes and codes <= {"2", str(-signal.SIGTERM)}, result.stderr
