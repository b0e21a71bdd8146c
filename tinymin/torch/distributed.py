"""Where this process runs: device, rank and world size, and the few collectives training needs.

``torchrun --nproc_per_node=N -m tinymin train --engine torch ...`` starts N processes
with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in their environment;
:func:`setup_placement` reads them, joins the process group (gloo on the CPU, nccl on
CUDA) and gives each process its device (``cuda:LOCAL_RANK`` on a GPU machine). A
plain ``python -m tinymin train --engine torch`` is a world of one: no process group,
no communication. Nothing here is home-made distributed code: PyTorch's
DistributedDataParallel averages the gradients, this module only reads the
environment and sums a few numbers for the logs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from tinymin.torch.layer import MinConv2d


@dataclass(frozen=True)
class Placement:
    """This process's device, rank and world size."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, shows progress and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(text: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a device that exists on this machine.

    Raises
    ------
    ValueError
        For another device type, or a CUDA device this machine does not have; the
        message says what to do instead.
    """
    try:
        device = torch.device(text)
    except RuntimeError:
        raise ValueError(f"--device {text!r}: expected cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(f"--device {text!r}: the torch engine runs on cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(f"--device {text}: this machine has no CUDA device "
                         f"(torch {torch.__version__}, torch.cuda.is_available() is False); "
                         "use --device cpu, or install a CUDA build of torch on a GPU machine")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ValueError(f"--device {text}: this machine has {count} CUDA device(s), "
                         f"cuda:0 to cuda:{count - 1}")
    return device


def setup_placement(device_text: str) -> Placement:
    """Read torchrun's environment, join the process group, and pick this process's device.

    Under torchrun with ``--device cuda`` each process takes ``cuda:LOCAL_RANK`` (the
    backend is nccl); with ``--device cpu`` the backend is gloo.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_text)
    if "TORCHELASTIC_RUN_ID" in os.environ:  # started by torchrun: leave when it goes
        exit_with_launcher(int(os.environ.get("RANK", "0")))
    if world_size == 1:
        return Placement(device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if device.index is not None:
            raise ValueError(f"--device {device_text}: under torchrun use --device cuda; "
                             "each process takes cuda:LOCAL_RANK")
        device = resolve_device(f"cuda:{local_rank}")
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Placement(device, rank, world_size, local_rank)


def exit_with_launcher(rank: int, poll_seconds: float = 0.5) -> threading.Thread:
    """Stop this process when the torchrun launcher that started it is gone.

    A worker whose launcher was killed (``SIGKILL`` leaves it no time to stop its
    workers) would go on training and writing its run folder for minutes, beside any
    run started meanwhile. On Linux the kernel sends this process ``SIGTERM`` when its
    parent dies (``prctl(PR_SET_PDEATHSIG)``), even while it waits inside a collective;
    elsewhere, and as a second guard, a daemon thread checks every ``poll_seconds``
    whether the parent is still the launcher and, when it is not, ends the process at
    once (``os._exit``). The run folder's lock goes with the process, and the last
    checkpoint is whole, since every write is atomic.
    """
    launcher = os.getppid()
    _signal_when_parent_dies(signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == launcher:
            time.sleep(poll_seconds)
        print(f"rank {rank}: the torchrun launcher (pid {launcher}) is gone; stopping",
              file=sys.stderr, flush=True)
        os._exit(1)

    thread = threading.Thread(target=watch, name="tinymin-launcher-watch", daemon=True)
    thread.start()
    return thread


def _signal_when_parent_dies(signum: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, signum)`` on Linux; False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, int(signum), 0, 0, 0) == 0  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def first_error(error: BaseException | None, placement: Placement) -> str | None:
    """Tell every rank whether any rank met a user error (a collective: every rank calls
    it). Returns the first one's message (``"rank r: ..."`` for a rank above 0), or None
    when every rank passes ``None``."""
    messages: list[str | None] = [None] * placement.world_size
    dist.all_gather_object(messages, None if error is None else " ".join(str(error).split()))
    for rank, message in enumerate(messages):
        if message is not None:
            return message if rank == 0 else f"rank {rank}: {message}"
    return None


def gather_to_main(value: Any, placement: Placement) -> list[Any]:
    """Every rank's ``value`` (a collective: every rank calls it), in rank order; a world
    of one gets ``[value]``."""
    if not placement.distributed:
        return [value]
    values: list[Any] = [None] * placement.world_size
    dist.all_gather_object(values, value)
    return values


def teardown(placement: Placement) -> None:
    """Leave the process group (if this process joined one)."""
    if placement.distributed and dist.is_initialized():
        dist.destroy_process_group()


def synchronise_input_scales(model: torch.nn.Module, enabled: bool = True) -> int:
    """Make every :class:`~tinymin.torch.MinConv2d` average its batch statistic
    :math:`\\operatorname{mean}|x|` over all ranks (step 1), as SyncBatchNorm does for
    batch norm. Then :math:`\\mu_x` and ``running_abs_mean`` are the same on every rank
    and equal to a single process's on the whole global batch. Returns the number of
    layers set."""
    layers = [m for m in model.modules() if isinstance(m, MinConv2d)]
    for layer in layers:
        layer.synchronise_input_scale = enabled
    return len(layers)


def sum_over_ranks(values: list[float], placement: Placement) -> list[float]:
    """Element-wise sum of a few numbers over all ranks (for the logged loss and accuracy)."""
    if not placement.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=placement.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()
