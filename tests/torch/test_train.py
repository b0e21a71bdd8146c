"""``train --engine torch``: tinymin's run folder and checkpoints, resumed across engines both
ways; torch's optimizers continue tinymin's state exactly; errors that say what to do."""

import json
import subprocess
import sys

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn, optim
from tinymin.checkpoint import load_checkpoint
from tinymin.cli import main
from tinymin.models import build_model, lenet
from tinymin.tensor import Tensor

QUICK = ["--model", "lenet", "--conv", "min", "--train-limit", "128", "--test-limit", "64",
         "--batch-size", "32", "--no-progress"]


def run_cli(*argv: str) -> int:
    return main(list(argv))


def test_dropout_is_a_model_option():
    assert lenet()[9].p == 0.5  # the paper's value stays the default
    assert lenet(dropout=0.2)[9].p == 0.2
    assert build_model("mini_cifar", dropout=0.0)[17].p == 0.0


def test_bad_train_options_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("train", "--device", "cpu", "--out", str(out), *QUICK) == 2
    assert capsys.readouterr().err == ("error: --device needs --engine torch "
                                       "(tinymin's engine runs on the CPU)\n")
    assert run_cli("train", "--dropout", "1.5", *QUICK) == 2
    assert "--dropout must be in [0, 1)" in capsys.readouterr().err
    assert run_cli("train", "--model", "mlp", "--dropout", "0.1") == 2
    assert "mlp model has no dropout layer" in capsys.readouterr().err
    assert not out.exists()


def test_engine_torch_without_torch_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from tinymin.cli import main\n"
            f"sys.exit(main(['train', '--engine', 'torch', '--out', {str(tmp_path / 'run')!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == ('error: --engine torch needs PyTorch, which is not installed: pip install -e '
                             '".[torch]" (or train with --engine tinymin)\n')
    assert not (tmp_path / "run").exists()


torch = pytest.importorskip("torch", reason="the torch engine needs the optional extra: "
                            'pip install -e ".[torch]"')

from tinymin.torch.train import (  # noqa: E402
    optimizer_state_from_numpy,
    optimizer_state_to_numpy,
    scheduler_state_from_numpy,
    scheduler_state_to_numpy,
)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the error cannot happen")
def test_a_missing_cuda_device_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("train", "--engine", "torch", "--device", "cuda", "--out", str(out), *QUICK) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device cuda: this machine has no CUDA device") and err.count("\n") == 1
    assert "use --device cpu" in err
    assert not out.exists()


def test_an_unknown_device_is_a_one_line_error(capsys):
    assert run_cli("train", "--engine", "torch", "--device", "tpu", *QUICK) == 2
    assert capsys.readouterr().err.startswith("error: --device 'tpu':")


@pytest.mark.parametrize("engine", ["tinymin", "torch"])
def test_a_checkpoint_of_another_model_is_refused(engine, tmp_path, capsys):
    source = tmp_path / "source"
    assert run_cli("train", "--epochs", "1", "--out", str(source), *QUICK) == 0
    capsys.readouterr()
    out = tmp_path / "run"
    other = ["--model", "mlp", "--train-limit", "64", "--test-limit", "32", "--no-progress"]
    assert run_cli("train", "--engine", engine, "--init-from", str(source / "checkpoint.npz"),
                   "--out", str(out), *other) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {source / 'checkpoint.npz'}: the checkpoint holds a 'lenet' "
                          "model, but --model is 'mlp'") and err.count("\n") == 1
    assert not out.exists()
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    assert run_cli("train", "--engine", engine, "--resume", "--epochs", "2", "--out", str(source),
                   *other) == 2
    assert "--model mlp (saved: lenet)" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before  # nothing rewritten


def read_rows(folder):
    lines = (folder / "metrics.csv").read_text().splitlines()
    return [line.split(",")[0] for line in lines[1:]]


@pytest.mark.parametrize("first,second", [("torch", "tinymin"), ("tinymin", "torch")])
def test_a_run_resumes_on_the_other_engine(first, second, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("train", "--engine", first, "--epochs", "1", "--out", str(out), *QUICK) == 0
    config = json.loads((out / "config.json").read_text())
    checkpoint = load_checkpoint(out / "checkpoint.npz")
    assert config["train_args"]["engine"] == first == checkpoint.config["train_args"]["engine"]
    if first == "torch":
        assert config["engine"] == {"name": "torch", "torch": torch.__version__, "device": "cpu",
                                    "world_size": 1, "global_batch": 32}
    assert checkpoint.optimizer_state["state"][0]["step"] == 4  # 128 images, batch 32
    assert read_rows(out) == ["1"] and (out / "scales.csv").is_file()

    assert run_cli("train", "--engine", second, "--epochs", "2", "--resume", "--out", str(out),
                   *QUICK) == 0
    assert "resuming" in capsys.readouterr().out
    resumed = load_checkpoint(out / "checkpoint.npz")
    assert resumed.epoch == 2 and read_rows(out) == ["1", "2"]
    assert resumed.optimizer_state["state"][0]["step"] == 8  # the optimizer went on counting
    assert resumed.config["train_args"]["engine"] == second
    model = build_model("lenet", conv="min")
    model.load_state_dict(resumed.model_state)  # tinymin reads what either engine wrote
    assert not np.allclose(resumed.model_state["0.weight"], checkpoint.model_state["0.weight"])
    assert run_cli("eval", "--checkpoint", str(out / "checkpoint.npz"), "--test-limit", "32") == 0


def test_a_torch_generator_state_that_does_not_fit_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("train", "--engine", "torch", "--epochs", "1", "--out", str(out), *QUICK) == 0
    checkpoint = out / "checkpoint.npz"
    with np.load(checkpoint) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["extra/torch_rng_cpu"] = np.zeros(3, np.uint8)  # torch's holds 5056 bytes
    np.savez(checkpoint, **arrays)
    capsys.readouterr()
    assert run_cli("train", "--engine", "torch", "--epochs", "2", "--resume", "--out", str(out),
                   *QUICK) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {checkpoint}: cannot resume this run from it (") and \
        "RNG state" in err and err.count("\n") == 1


def test_a_bad_metrics_row_is_named_on_the_torch_engine(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("train", "--engine", "torch", "--epochs", "1", "--out", str(out), *QUICK) == 0
    metrics = out / "metrics.csv"
    metrics.write_text(metrics.read_text().rstrip("\r\n") + ",EXTRA\n")
    capsys.readouterr()
    assert run_cli("train", "--engine", "torch", "--epochs", "2", "--resume", "--out", str(out),
                   *QUICK) == 2
    assert capsys.readouterr().err == (f"error: {metrics}: a row has 8 fields, the header 7 "
                                       "(line 2); mend or move the file\n")


def test_init_from_and_calibrate_on_the_torch_engine(tmp_path, capsys):
    exact = tmp_path / "exact"
    assert run_cli("train", "--conv", "exact", "--epochs", "1", "--out", str(exact),
                   *[a for a in QUICK if a not in ("--conv", "min")]) == 0
    out = tmp_path / "min"
    assert run_cli("train", "--engine", "torch", "--epochs", "1", "--dropout", "0",
                   "--init-from", str(exact / "checkpoint.npz"), "--calibrate", "32",
                   "--out", str(out), *QUICK) == 0
    assert "calibrated" in capsys.readouterr().out
    state = load_checkpoint(out / "checkpoint.npz")
    assert state.config["model"]["dropout"] == 0.0
    assert not np.all(state.model_state["0.output_gain"] == 1)  # the calibration came along


def make_pair(name):
    """The same two parameters in tinymin and in torch, and an optimizer for each."""
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
    ours = [nn.Parameter(v.copy()) for v in values]
    theirs = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    if name == "sgd":
        return (ours, theirs, optim.SGD(ours, lr=0.1, momentum=0.9),
                torch.optim.SGD(theirs, lr=0.1, momentum=0.9))
    if name == "adam":
        return ours, theirs, optim.Adam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    return ours, theirs, optim.AdamW(ours, lr=0.01), torch.optim.AdamW(theirs, lr=0.01)


def step(params, optimizer, grads, engine):
    for p, g in zip(params, grads):
        p.grad = tm.tensor(g) if engine == "tinymin" else torch.tensor(g)
    optimizer.step()


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_optimizer_state_moves_between_engines_and_the_next_step_agrees(name):
    rng = np.random.default_rng(1)
    grads = [[rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
             for _ in range(3)]
    ours, theirs, our_opt, their_opt = make_pair(name)
    for g in grads[:2]:  # two steps on torch, then the state moves to tinymin
        step(theirs, their_opt, g, "torch")
    for p, t in zip(ours, theirs):
        p.numpy()[...] = t.detach().numpy()
    our_opt.load_state_dict(optimizer_state_to_numpy(their_opt.state_dict()))
    step(ours, our_opt, grads[2], "tinymin")
    step(theirs, their_opt, grads[2], "torch")
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-6, atol=1e-7)

    ours, theirs, our_opt, their_opt = make_pair(name)  # and the other way
    for g in grads[:2]:
        step(ours, our_opt, g, "tinymin")
    with torch.no_grad():
        for p, t in zip(ours, theirs):
            t.copy_(torch.from_numpy(p.numpy()))
    their_opt.load_state_dict(optimizer_state_from_numpy(our_opt.state_dict(), their_opt))
    step(ours, our_opt, grads[2], "tinymin")
    step(theirs, their_opt, grads[2], "torch")
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(t.detach().numpy(), p.numpy(), rtol=1e-6, atol=1e-7)


def test_scheduler_state_moves_between_engines():
    param = torch.nn.Parameter(torch.zeros(1))
    torch_opt = torch.optim.SGD([param], lr=1.0)
    theirs = torch.optim.lr_scheduler.StepLR(torch_opt, step_size=2, gamma=0.1)
    for _ in range(3):
        torch_opt.step()
        theirs.step()
    our_opt = optim.SGD([nn.Parameter(np.zeros(1, np.float32))], lr=1.0)
    ours = optim.StepLR(our_opt, step_size=2, gamma=0.1)
    ours.load_state_dict(scheduler_state_to_numpy(theirs.state_dict()))
    assert ours.last_epoch == 3
    again = torch.optim.lr_scheduler.StepLR(torch.optim.SGD([param], lr=1.0), step_size=2, gamma=0.1)
    again.load_state_dict(scheduler_state_from_numpy(ours.state_dict()))
    assert again.last_epoch == 3 and again.state_dict()["_step_count"] == 4


def test_a_torch_trained_model_runs_the_same_in_tinymin(tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", "--engine", "torch", "--epochs", "1", "--dropout", "0", "--out", str(out),
                   *QUICK) == 0
    state = load_checkpoint(out / "checkpoint.npz").model_state
    model = build_model("lenet", conv="min", dropout=0.0)
    model.load_state_dict(state)
    from tinymin.torch import to_torch

    x = np.random.default_rng(0).random((4, 1, 28, 28)).astype(np.float32)
    ours = model.eval()(Tensor(x)).numpy()
    theirs = to_torch(model).eval()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-5)


def test_a_non_finite_loss_stops_before_the_update():
    from tinymin.torch.distributed import Placement
    from tinymin.torch.train import fit
    from tinymin.train import NonFiniteLossError

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.ones(8, 1, 2, 2)
    x[5] = float("nan")  # the second batch of four
    dataset = [(x[i].numpy(), 0) for i in range(8)]
    placement = Placement(torch.device("cpu"))
    loader = torch.utils.data.DataLoader(dataset, batch_size=4)  # in order: batch 2 holds the NaN
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(NonFiniteLossError, match="the loss became nan in batch 2 of 2 of epoch 1: "
                                                 "training stopped"):
        fit(model, optimizer, loader, 1, None, None, placement)
    after = list(model.parameters())
    assert all(torch.isfinite(p).all() for p in after)  # batch 1 updated them, batch 2 did not
    assert not all(torch.equal(a, b) for a, b in zip(before, after))
