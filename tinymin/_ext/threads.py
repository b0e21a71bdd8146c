"""One thread budget for the whole framework: OpenMP kernels and BLAS take turns.

tinymin computes with two thread pools: the OpenMP threads of its Cython kernels
(im2col, col2im, the selector GEMMs) and the threads of the BLAS behind numpy's
``@`` (OpenBLAS here), used by the exact convolutions, the linear layers and every
backward pass. Both pools *spin* for a while after finishing, waiting for more
work. On a 2-core machine a pool that spins while the other computes takes a core
away from it.

The policy
----------
1. **One budget.** :func:`set_num_threads` sets the thread count of both pools (the
   OpenMP kernels read :func:`num_threads` on every call; BLAS is set through
   ``threadpoolctl``). Default: the number of CPUs this process may run on, or the
   environment variable ``TINYMIN_NUM_THREADS``.
2. **OpenBLAS does not spin after a GEMM.** ``import tinymin`` sets
   ``OPENBLAS_THREAD_TIMEOUT=4`` (unless you set it) before numpy loads OpenBLAS, so
   its idle workers sleep at once instead of spinning for about 0.1 s. OpenBLAS reads
   the variable only when it loads: if numpy was imported *before* tinymin, set it
   yourself before numpy is imported (the benchmarks do, at their top).
3. **OpenMP does not spin after a kernel.** Unless you set it yourself,
   ``OMP_WAIT_POLICY=PASSIVE`` is set before the extension (and so libgomp) is
   loaded, so idle kernel threads sleep instead of spinning into the next BLAS call.
4. **Not even when another library loaded OpenMP first.** libgomp reads
   ``OMP_WAIT_POLICY`` once, when it is loaded, and a process has one libgomp per
   name: ``import torch`` before ``import tinymin`` loads torch's bundled
   ``libgomp.so.1``, with no wait policy set, and tinymin's extension then binds to that
   copy. Its idle workers spin for about 300,000 rounds (measured: about 11 ms of CPU
   per kernel call) into the BLAS call that follows, and on two cores tinymin's
   two-thread step ran no faster than one thread. The runtime has no call to change
   the policy later, but it spins only briefly ("throttled", about 1,000 rounds) while
   it manages more threads than the process has CPUs. So when libgomp is already
   loaded as tinymin starts (and neither ``OMP_WAIT_POLICY`` nor ``GOMP_SPINCOUNT`` is
   set), tinymin starts one idle thread that runs a parallel region of ``n_cpus``
   threads (:func:`tinymin._ext._openmp.start_team`) and then waits forever: its
   ``n_cpus - 1`` docked workers sleep, cost no CPU, and keep the runtime throttled.
   :func:`spinning_runtime_quieted` says whether this happened. Setting
   ``OMP_WAIT_POLICY=PASSIVE`` before starting Python makes it unnecessary.

All four are set here and nowhere else. ``threadpoolctl`` (a dependency, see
``pyproject.toml``) sets the BLAS thread count; if it cannot find the BLAS,
:func:`set_num_threads` sets only the OpenMP kernels (set ``OPENBLAS_NUM_THREADS``
before starting Python instead).

Tried and removed: keeping BLAS single-threaded while a kernel ran (a context
manager around every kernel call) cost 23 us per call through threadpoolctl and
changed nothing measurable (min_gemm + im2col on LeNet conv2's shape right after a
BLAS GEMM, 2 threads: 131 ms with it, 129 ms without, medians of 15, loaded
machine): the kernels and BLAS run from one Python thread, one after the other.

Measured effect (2-core AMD EPYC, OpenBLAS 0.3.31, conv2 shape of LeNet,
P = 12544, K = 800, C = 64, float32, 2 threads, medians of 9, quiet machine):

* min-selector GEMM alone: 24.5 ms; right after a BLAS GEMM with OpenBLAS's default
  timeout: 32-34 ms; with ``OPENBLAS_THREAD_TIMEOUT=4``: 24-24.5 ms.
* BLAS GEMM ``cols @ W.T`` alone: 17 ms; right after a kernel with libgomp's default
  spinning: 23 ms; with ``OMP_WAIT_POLICY=PASSIVE``: 16 ms (earlier measurement).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator
from numbers import Integral

__all__ = ["kernel_threads", "num_threads", "set_num_threads"]


def _set_environment_defaults() -> None:
    """Steps 2 and 3 of the policy: environment variables, unless you set them.

    Runs when this module is imported, which ``import tinymin`` does before it imports
    numpy: OpenBLAS and libgomp read these variables only when they are loaded.
    """
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _libgomp_already_loaded() -> bool:
    """Whether some library loaded libgomp into this process before tinymin's extension."""
    try:
        ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD | os.RTLD_NOW)  # a handle only if already loaded
    except (OSError, AttributeError):  # not loaded, or no RTLD_NOLOAD on this platform
        return False
    return True


#: Step 4's condition, read before anything sets the environment: libgomp was loaded
#: (and read its settings) before tinymin, and you set no wait policy or spin count.
_FOREIGN_SPINNING_RUNTIME = (
    "OMP_WAIT_POLICY" not in os.environ
    and "GOMP_SPINCOUNT" not in os.environ
    and _libgomp_already_loaded()
)
_set_environment_defaults()
_quieted = False


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _default_threads() -> int:
    env = os.environ.get("TINYMIN_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n >= 1:
            return n
    return _available_cpus()


_num_threads: int = _default_threads()
_blas_libs: list | None = None  # threadpoolctl LibControllers of the loaded BLAS


def _blas() -> list:
    """The BLAS libraries threadpoolctl finds (looked up once); [] if it finds none."""
    global _blas_libs
    if _blas_libs is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas_libs = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
        except Exception:  # threadpoolctl not installed or failing: OpenMP only
            _blas_libs = []
    return _blas_libs


def _release(lib) -> None:
    # threadpoolctl >= 3.6 lets only one Python thread set OpenBLAS's pool size (the
    # first one to try); hand that role back so other code can use threadpool_limits
    clear = getattr(lib, "clear_controlling_thread", None)
    if clear is not None:
        clear()


def num_threads() -> int:
    """Threads that tinymin's kernels (and, via :func:`set_num_threads`, BLAS) use: in
    this Python thread, inside :func:`kernel_threads`, that block's count."""
    override = getattr(_kernel_threads_here, "n", None)
    return _num_threads if override is None else override


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in the OpenMP kernels and in BLAS.

    Parameters
    ----------
    n : int
        At least 1. BLAS is limited through ``threadpoolctl`` when it is installed.
    """
    global _num_threads
    if not isinstance(n, Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: n must be an int >= 1, got {n!r}")
    _num_threads = int(n)
    for lib in _blas():
        lib.set_num_threads(_num_threads)
        _release(lib)


#: kernel_threads' count for the Python thread inside the block (``.n``; None outside)
_kernel_threads_here = threading.local()


@contextlib.contextmanager
def kernel_threads(n: int) -> Iterator[int]:
    """Run tinymin's OpenMP kernels on ``n`` threads inside the block (BLAS untouched).

    For callers with a thread setting of their own: the torch engine runs tinymin's
    kernels with ``torch.get_num_threads()`` threads. The count holds for the calling
    Python thread only (two threads in overlapping blocks cannot leave each other's,
    or the global, count changed). Costs an attribute of a ``threading.local``, no
    call into threadpoolctl.
    """
    if not isinstance(n, Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"kernel_threads: n must be an int >= 1, got {n!r}")
    previous = getattr(_kernel_threads_here, "n", None)
    _kernel_threads_here.n = int(n)
    try:
        yield int(n)
    finally:
        _kernel_threads_here.n = previous


def quiet_spinning_runtime(start_team) -> bool:
    """Step 4 of the policy: keep a libgomp loaded before tinymin from spinning.

    Called once by :mod:`tinymin._ext` after its extensions load, with
    :func:`tinymin._ext._openmp.start_team`. Does nothing (returns False) unless step 4's
    condition held when tinymin was imported; otherwise starts the parked thread
    (module docstring) and returns True.
    """
    global _quieted
    if not _FOREIGN_SPINNING_RUNTIME or _quieted:
        return _quieted
    started = threading.Event()

    def park() -> None:
        start_team(_available_cpus() + 1)  # the pool outlives the region while this thread lives
        started.set()
        threading.Event().wait()

    threading.Thread(target=park, name="tinymin-openmp-park", daemon=True).start()
    started.wait()
    _quieted = True
    return True


def spinning_runtime_quieted() -> bool:
    """Whether step 4 of the policy is in effect in this process."""
    return _quieted
