"""A loss that becomes NaN or inf stops training before the bad update, and the last
good checkpoint is never overwritten with non-finite weights."""

import numpy as np
import pytest

from tinymin import nn, optim, tensor
from tinymin.data import DataLoader, TensorDataset
from tinymin.experiment import EpochWriter
from tinymin.run_folder import RunFolder
from tinymin.train import NonFiniteLossError, fit, train_step

# the forward pass warns about the NaN it computes; the error is what these tests check
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _data(n=32):
    rng = np.random.default_rng(0)
    return TensorDataset(rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n))


def test_a_nan_loss_stops_fit_and_keeps_the_last_checkpoint(tmp_path):
    model = nn.Linear(4, 3)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    dataset = _data()
    loader = DataLoader(dataset, 8)
    keep = EpochWriter(RunFolder(tmp_path), {}).hook(model, optimizer, None, loader)
    fit(model, optimizer, loader, 1, progress=False, log=None, on_epoch_end=keep)
    saved = (tmp_path / "checkpoint.npz").read_bytes()
    weights = model.weight.data.copy()
    dataset.arrays[0][12] = np.nan  # the second batch of the next epoch
    with pytest.raises(NonFiniteLossError, match=r"the loss became nan in epoch 2, batch 2 of 4: "
                                                 r"training stopped \(a smaller"):
        fit(model, optimizer, loader, 1, start_epoch=1, progress=False, log=None, on_epoch_end=keep)
    assert (tmp_path / "checkpoint.npz").read_bytes() == saved
    assert np.all(np.isfinite(model.weight.data))
    assert not np.array_equal(model.weight.data, weights)  # batch 1 of epoch 2 did train


def test_train_step_takes_no_step_on_an_infinite_loss():
    model = nn.Linear(4, 3)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.data.copy()
    x, y = _data(2).arrays
    x = x.copy()
    x[0, 0] = np.inf
    with pytest.raises(NonFiniteLossError, match="the loss became (nan|inf)"):
        train_step(model, optimizer, tensor(x), tensor(y))
    np.testing.assert_array_equal(model.weight.data, before)


def test_weights_that_overflow_are_not_checkpointed(tmp_path):
    model = nn.Linear(4, 3)
    optimizer = optim.SGD(model.parameters(), lr=1e300)  # one step overflows float32
    loader = DataLoader(_data(8), 8)
    with pytest.raises(NonFiniteLossError, match="parameter (weight|bias) became non-finite in epoch 1"):
        fit(model, optimizer, loader, 1, progress=False, log=None,
            on_epoch_end=EpochWriter(RunFolder(tmp_path), {}).hook(model, optimizer))
    assert not (tmp_path / "checkpoint.npz").exists()


def test_the_command_line_stops_a_diverging_run_with_exit_status_1(tmp_path, capsys):
    from tinymin.cli import main

    run = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--optimizer", "sgd", "--lr", "1e300", "--epochs", "2",
                 "--out", str(run), "--train-limit", "64", "--test-limit", "32", "--batch-size",
                 "32", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "error: " in err and "training stopped" in err and "became" in err
    assert f"training stopped; {run / 'checkpoint.npz'} is left as it was" in err
    assert not (run / "checkpoint.npz").exists()
