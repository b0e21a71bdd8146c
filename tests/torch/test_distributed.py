"""DistributedDataParallel on the CPU (gloo): two processes started by torchrun train exactly
what one process trains on the same global batch, and the min-conv input scale is the
same on every rank."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch engine needs the optional extra: "
                            'pip install -e ".[torch]"')
if not torch.distributed.is_available():  # pragma: no cover - builds without distributed
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)

from tinymin.checkpoint import load_checkpoint  # noqa: E402


def torchrun(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=N ...`` (a local rendezvous on a free port)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={processes}", *args]
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


WORKER = textwrap.dedent('''
    import sys
    import torch
    import torch.distributed as dist
    from tinymin.torch import MinConv2d
    from tinymin.torch.distributed import synchronise_input_scales

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    layer = MinConv2d(2, 3, 3, padding=1)  # the same weights on every rank
    synchronise_input_scales(layer)
    batches = torch.randn(3, world * 4, 2, 6, 6) * torch.tensor([1.0, 2.0, 0.5]).view(3, 1, 1, 1, 1)
    for batch in batches:  # each rank sees its quarter of every global batch
        layer(batch[rank * 4:(rank + 1) * 4]).sum().backward()
    every = [torch.zeros(1) for _ in range(world)]
    dist.all_gather(every, layer.running_abs_mean)
    if rank == 0:
        single = MinConv2d(2, 3, 3, padding=1)
        single.load_state_dict({**layer.state_dict(), "running_abs_mean": torch.ones(1),
                                "num_batches_tracked": torch.zeros(1, dtype=torch.int64)})
        for batch in batches:  # one process, the whole global batch
            single(batch)
        print("ranks", *[float(v) for v in every])
        print("single", float(single.running_abs_mean))
    # rank 1 must not tear down while rank 0 still works: gloo aborts the process whose
    # peer has gone ("terminate called without an active exception")
    dist.barrier()
    dist.destroy_process_group()
''')


def test_the_min_conv_input_scale_is_averaged_over_ranks(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    lines = dict(line.split(" ", 1) for line in torchrun(str(script)).stdout.splitlines()
                 if line.startswith(("ranks", "single")))
    ranks = [float(v) for v in lines["ranks"].split()]
    assert ranks[0] == ranks[1]  # identical on all ranks: no broadcast needed
    np.testing.assert_allclose(ranks[0], float(lines["single"]), rtol=1e-6)
    assert ranks[0] != 1.0  # it moved


def train(out, processes: int, batch_size: int) -> None:
    args = ["-m", "tinymin", "train", "--engine", "torch", "--model", "lenet", "--conv", "min",
            "--dropout", "0", "--train-limit", "512", "--test-limit", "64", "--epochs", "1",
            "--optimizer", "sgd", "--lr", "0.05", "--batch-size", str(batch_size),
            "--no-progress", "--out", str(out)]
    result = torchrun(*args, processes=processes)
    assert f"{processes} process(es) x batch {batch_size} = global batch 128" in result.stdout
    assert result.stdout.count("final test accuracy") == 1  # only rank 0 reports


def test_two_processes_train_what_one_process_trains_on_the_same_global_batch(tmp_path):
    train(tmp_path / "two", processes=2, batch_size=64)
    train(tmp_path / "one", processes=1, batch_size=128)
    two = load_checkpoint(tmp_path / "two" / "checkpoint.npz")
    one = load_checkpoint(tmp_path / "one" / "checkpoint.npz")
    assert two.config["engine"]["world_size"] == 2 and one.config["engine"]["world_size"] == 1
    assert list(two.model_state) == list(one.model_state)
    for key, expected in one.model_state.items():
        actual = two.model_state[key]
        if key.endswith("num_batches_tracked"):
            assert actual[0] == expected[0] == 4  # 512 images / global batch 128
            continue
        error = np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-30)
        assert error <= 1e-5, f"{key}: relative difference {error:.2g}"
    for name in ("0", "3"):  # the input scale moved, and moved the same way
        assert one.model_state[f"{name}.running_abs_mean"][0] != 1.0
