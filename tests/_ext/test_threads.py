"""Step 4 of the thread policy (tinymin/_ext/threads.py): a libgomp loaded before tinymin
(torch's, by ``import torch`` first) is kept from spinning; otherwise nothing happens."""

import os
import subprocess
import sys

import pytest

from tinymin import _ext

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_REPORT = ("import threading; from tinymin._ext import threads; "
           "print(threads.spinning_runtime_quieted(), "
           "any(t.name == 'tinymin-openmp-park' for t in threading.enumerate()))")


def quieted_in_fresh_process(first_import: str, **env) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    environment.update(env)
    result = subprocess.run([sys.executable, "-c", f"{first_import}; import tinymin; {_REPORT}"],
                            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


needs_built_openmp = pytest.mark.skipif(not _ext.HAVE_CYTHON, reason="the Cython kernels are not built")


@needs_built_openmp
def test_start_team_runs_one_region_of_n_threads():
    from tinymin._ext._openmp import start_team

    assert start_team(3) == 0 + 1 + 2


@needs_built_openmp
def test_a_libgomp_loaded_first_is_quieted():
    pytest.importorskip("torch", reason="the torch extra loads its own libgomp")
    assert quieted_in_fresh_process("import torch") == ["True", "True"]


@needs_built_openmp
def test_nothing_happens_when_tinymin_loads_libgomp_or_you_set_the_policy():
    assert quieted_in_fresh_process("import numpy") == ["False", "False"]
    pytest.importorskip("torch", reason="the torch extra loads its own libgomp")
    assert quieted_in_fresh_process("import torch", OMP_WAIT_POLICY="PASSIVE") == ["False", "False"]
    assert quieted_in_fresh_process("import torch", GOMP_SPINCOUNT="0") == ["False", "False"]


def test_kernel_threads_holds_for_the_calling_python_thread_only():
    # two threads in overlapping blocks (the torch op called from two threads at once)
    # must not leave each other's count, or the global one, changed
    import threading

    before = _ext.num_threads()
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def other():
        with _ext.kernel_threads(before + 2):
            inside.set()
            release.wait(timeout=30)
            seen["other"] = _ext.num_threads()

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(timeout=30)
    with _ext.kernel_threads(before + 1):
        seen["here, inside"] = _ext.num_threads()
        release.set()
        thread.join()
    seen["here, after"] = _ext.num_threads()
    assert seen == {"other": before + 2, "here, inside": before + 1, "here, after": before}
