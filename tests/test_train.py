"""The training loop and its acceptance figure: an MLP on the embedded MNIST subset."""


import numpy as np
import pytest

import tinymin as tm
from tinymin import nn, optim, tensor
from tinymin.checkpoint import load_checkpoint
from tinymin.data import DataLoader, TensorDataset
from tinymin.data.datasets import EmbeddedMNIST
from tinymin.experiment import EpochWriter
from tinymin.models import mlp
from tinymin.run_folder import (
    METRIC_FIELDS,
    MetricsFileError,
    RunFolder,
    append_metrics,
    read_metrics,
    truncate_metrics,
)
from tinymin.train import NonFiniteLossError, evaluate, fit, predict, resume_training, train_step


def _writes_to(run_dir, model, opt, loader, config=None):
    """The ``on_epoch_end`` that keeps a run folder (fit itself writes nothing)."""
    return EpochWriter(RunFolder(run_dir), config or {}).hook(model, opt, None, loader)


def test_mlp_reaches_90_percent_on_embedded_mnist():
    tm.manual_seed(0)
    model = mlp(hidden=128)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    train = DataLoader(EmbeddedMNIST(train=True), 64, shuffle=True, seed=0)
    test = DataLoader(EmbeddedMNIST(train=False), 500)
    history = fit(model, opt, train, epochs=5, test_loader=test, progress=False, log=None)
    assert history[-1]["test_accuracy"] >= 0.90
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_fit_writes_metrics_and_checkpoint(tmp_path):
    tm.manual_seed(1)
    x = np.random.default_rng(0).normal(size=(64, 1, 4, 4)).astype(np.float32)
    y = (x.reshape(64, -1).sum(1) > 0).astype(np.int64)
    loader = DataLoader(TensorDataset(x, y), 16, shuffle=True, seed=0)
    model = mlp(num_classes=2, input_size=4, hidden=8)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, opt, loader, 3, loader, progress=False, log=None,
                  on_epoch_end=_writes_to(tmp_path, model, opt, loader, {"k": 1}))
    rows = read_metrics(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["test_accuracy"] == history[-1]["test_accuracy"]
    assert load_checkpoint(tmp_path / "checkpoint.npz").config == {"k": 1}
    assert evaluate(model, loader)["accuracy"] == history[-1]["test_accuracy"]
    assert predict(model, x).shape == (64, 2)


def test_fit_writes_nothing_and_calls_on_epoch_end_with_each_row(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, opt, loader = _dropout_run(2, 2)
    calls = []
    history = fit(model, opt, loader, 2, start_epoch=3, progress=False, log=None,
                  on_epoch_end=lambda epoch, row: calls.append((epoch, row)))
    assert calls == [(4, history[0]), (5, history[1])]
    assert list(tmp_path.iterdir()) == []


def test_append_metrics_keeps_previous_rows(tmp_path):
    row = {"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "test_loss": 1.0,
           "test_accuracy": 0.5, "lr": 0.1, "seconds": 1.0}
    append_metrics(tmp_path / "m.csv", row)
    append_metrics(tmp_path / "m.csv", {**row, "epoch": 2})
    assert [r["epoch"] for r in read_metrics(tmp_path / "m.csv")] == [1, 2]


def _dropout_run(seed_for_init, loader_seed):
    """A model with dropout and a shuffling loader: both draw random numbers every epoch."""
    tm.manual_seed(seed_for_init)
    x = np.random.default_rng(0).normal(size=(96, 1, 4, 4)).astype(np.float32)
    y = (x.reshape(96, -1).sum(1) > 0).astype(np.int64)
    loader = DataLoader(TensorDataset(x, y), 16, shuffle=True, seed=loader_seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 2))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    return model, opt, loader


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    model, opt, loader = _dropout_run(5, 7)
    fit(model, opt, loader, 3, on_epoch_end=_writes_to(tmp_path / "straight", model, opt, loader),
        progress=False, log=None)

    model, opt, loader = _dropout_run(5, 7)
    fit(model, opt, loader, 1, on_epoch_end=_writes_to(tmp_path / "resumed", model, opt, loader),
        progress=False, log=None)
    # a new process: other seeds everywhere, then the checkpoint puts them back
    model, opt, loader = _dropout_run(99, 98)
    checkpoint = load_checkpoint(tmp_path / "resumed" / "checkpoint.npz")
    start = resume_training(checkpoint, model, opt, None, loader, tmp_path / "resumed")
    assert start == 1
    fit(model, opt, loader, 2, start_epoch=start, progress=False, log=None,
        on_epoch_end=_writes_to(tmp_path / "resumed", model, opt, loader))

    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.npz").model_state
    resumed = load_checkpoint(tmp_path / "resumed" / "checkpoint.npz").model_state
    for key in straight:
        np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)
    losses = [r["train_loss"] for r in read_metrics(tmp_path / "resumed")]
    assert losses == [r["train_loss"] for r in read_metrics(tmp_path / "straight")]


def test_resume_drops_metric_rows_after_the_checkpoint(tmp_path):
    model, opt, loader = _dropout_run(1, 1)
    fit(model, opt, loader, 2, on_epoch_end=_writes_to(tmp_path, model, opt, loader),
        progress=False, log=None)
    # a crash after logging epoch 3 but before its checkpoint was written
    append_metrics(tmp_path / "metrics.csv", {**read_metrics(tmp_path)[-1], "epoch": 3})
    checkpoint = load_checkpoint(tmp_path / "checkpoint.npz")
    resume_training(checkpoint, model, opt, None, loader, tmp_path)
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1, 2]


def test_truncate_metrics_keeps_header_and_ignores_missing_file(tmp_path):
    path = tmp_path / "m.csv"
    truncate_metrics(path, 1)  # no file: nothing to do
    assert not path.exists()
    for epoch in (1, 2, 3):
        append_metrics(path, {"epoch": epoch, "x": epoch * 10}, fields=["epoch", "x"])
    truncate_metrics(path, 1)
    assert path.read_text().splitlines() == ["epoch,x", "1,10"]


HEADER = ",".join(METRIC_FIELDS)
ROW = {"epoch": 2, "train_loss": 1.5, "train_accuracy": 0.5, "test_loss": 1.25,
       "test_accuracy": 0.75, "lr": 0.001, "seconds": 3.0}


def test_append_metrics_ends_a_last_row_that_lacks_its_newline(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_bytes(f"{HEADER}\n1,2.0,0.25,1.75,0.5,0.001,2.5".encode())  # no final newline
    append_metrics(path, ROW)
    assert path.read_text().splitlines() == [HEADER, "1,2.0,0.25,1.75,0.5,0.001,2.5",
                                             "2,1.5,0.5,1.25,0.75,0.001,3.0"]
    assert [r["epoch"] for r in read_metrics(path)] == [1, 2]


@pytest.mark.parametrize("header", [
    ",".join(reversed(METRIC_FIELDS)),  # the same columns in another order
    "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds",  # no lr
], ids=["reordered", "no-lr"])
def test_append_metrics_refuses_a_file_with_other_columns(tmp_path, header):
    path = tmp_path / "metrics.csv"
    text = f"{header}\n" + ",".join(["1"] * len(header.split(","))) + "\n"
    path.write_text(text)
    with pytest.raises(MetricsFileError) as error:
        append_metrics(path, ROW)
    assert str(error.value) == (f"{path}: has the columns {header}, but this run writes {HEADER}; "
                                "new rows would not line up with them: mend or move the file")
    assert path.read_text() == text  # left as it was


@pytest.mark.parametrize("content, reason", [
    (f"{HEADER}\n1,1,1,1,1,1,1\n2,\xff\xfe,1,1,1,1,1\n".encode("latin-1"),
     "not UTF-8 text (line 3: invalid start byte, byte b'\\xff')"),
    (f"{HEADER}\n1,1,1,1,1,1,1,EXTRA\n2,1,1,1,1,1,1\n".encode(),
     "a row has 8 fields, the header 7 (line 2)"),
    (f"{HEADER}\n1,2.2\n2,1,1,1,1,1,1\n".encode(), "a row has 2 fields, the header 7 (line 2)"),
    (f"{HEADER}\n1,1,1,1,1,1,1\nnan,1,1,1,1,1,1\n".encode(),
     "a row has epoch 'nan', not a number (line 3)"),
], ids=["bad-utf8", "extra-field", "short-row", "nan-epoch"])
def test_truncate_metrics_names_the_file_line_and_reason(tmp_path, content, reason):
    path = tmp_path / "metrics.csv"
    path.write_bytes(content)
    with pytest.raises(MetricsFileError) as error:
        truncate_metrics(path, 1, fields=METRIC_FIELDS)
    assert str(error.value) == f"{path}: {reason}; mend or move the file"
    assert path.read_bytes() == content  # left as it was


def test_truncate_metrics_refuses_other_columns_only_when_told_the_columns(tmp_path):
    path = tmp_path / "scales.csv"
    path.write_text("epoch,b,a\n1,2,3\n2,4,5\n")
    truncate_metrics(path, 1)  # scales.csv: its columns depend on the model
    assert path.read_text().splitlines() == ["epoch,b,a", "1,2,3"]
    with pytest.raises(MetricsFileError, match="has the columns epoch,b,a, but this run writes "
                                               "epoch,a,b"):
        truncate_metrics(path, 1, fields=["epoch", "a", "b"])


@pytest.mark.parametrize("content, reason", [
    (b"epoch,train_loss,test_accuracy\n1,1\n", "a row has 2 fields, the header 3 (line 2)"),
    (b"epoch,train_loss,test_accuracy\n1,0.5,1\n2,x,1\n", "train_loss is 'x', not a number (line 3)"),
    (b"epoch,train_loss,test_accuracy\n1,\xff,1\n",
     "not UTF-8 text (line 2: invalid start byte, byte b'\\xff')"),
], ids=["short-row", "not-a-number", "bad-utf8"])
def test_read_metrics_names_the_file_line_and_reason(tmp_path, content, reason):
    path = tmp_path / "metrics.csv"
    path.write_bytes(content)
    with pytest.raises(MetricsFileError) as error:
        read_metrics(tmp_path)
    assert str(error.value) == f"{path}: {reason}; mend or move the file"


def test_read_metrics_reads_nan_and_skips_blank_lines(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,train_loss,test_accuracy\n1,0.5,nan\n\n")
    rows = read_metrics(tmp_path)
    assert len(rows) == 1 and rows[0]["train_loss"] == 0.5 and np.isnan(rows[0]["test_accuracy"])


def test_rng_state_round_trip_and_bad_state():
    tm.manual_seed(3)
    state = tm.get_rng_state()
    first = tm.random.default_rng().random(4)
    tm.set_rng_state(state)
    np.testing.assert_array_equal(tm.random.default_rng().random(4), first)
    with pytest.raises(ValueError, match="not a random generator state"):
        tm.set_rng_state("{not json")
    loader = DataLoader(TensorDataset(np.zeros(4)), 2)
    with pytest.raises(ValueError, match="own generator"):
        loader.set_rng_state(state)


def test_generator_states_of_other_bit_generators_round_trip_through_json():
    from tinymin.random import generator_state_from_json, generator_state_to_json

    for bits in (np.random.MT19937(1), np.random.Philox(2), np.random.SFC64(3)):
        gen = np.random.Generator(bits)
        text = generator_state_to_json(gen)
        first = gen.random(3)
        generator_state_from_json(gen, text)
        np.testing.assert_array_equal(gen.random(3), first)


def test_resume_with_a_loader_that_cannot_restore_its_shuffling_state(tmp_path):
    model, opt, loader = _dropout_run(1, 1)
    fit(model, opt, loader, 1, on_epoch_end=_writes_to(tmp_path, model, opt, loader),
        progress=False, log=None)
    checkpoint = load_checkpoint(tmp_path / "checkpoint.npz")
    with pytest.raises(ValueError, match="cannot restore"):
        resume_training(checkpoint, model, opt, None, list(loader), tmp_path)


# ------------------------------------------------------------------------------------------------
# fit and evaluate refuse a loader that yields no batches, instead of reporting a loss of 0 and an
# accuracy of 0% for work that never happened.


EMPTY = TensorDataset(np.zeros((0, 4), dtype=np.float32), np.zeros(0, dtype=np.int64))
SMALL = TensorDataset(np.zeros((3, 4), dtype=np.float32), np.zeros(3, dtype=np.int64))


def test_evaluate_on_an_empty_loader_raises():
    with pytest.raises(ValueError, match="evaluate: the loader yields no batches"):
        evaluate(nn.Linear(4, 2), DataLoader(EMPTY, 8))


@pytest.mark.parametrize("train, test, name", [
    (DataLoader(EMPTY, 8), None, "loader"),
    (DataLoader(SMALL, 8, drop_last=True), None, "loader"),
    (DataLoader(SMALL, 8), DataLoader(EMPTY, 8), "test loader"),
])
def test_fit_on_an_empty_loader_raises(train, test, name):
    model = nn.Linear(4, 2)
    with pytest.raises(ValueError, match=f"fit: the {name} yields no batches"):
        fit(model, optim.SGD(model.parameters(), lr=0.1), train, 1, test, progress=False, log=None)


# ------------------------------------------------------------------------------------------------
# A loss that becomes NaN or inf stops training before the bad update, and the last good
# checkpoint is never overwritten with non-finite weights.


# the forward pass warns about the NaN it computes; the error is what these tests check
IGNORE_NAN_WARNINGS = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _data(n=32):
    rng = np.random.default_rng(0)
    return TensorDataset(rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n))


@IGNORE_NAN_WARNINGS
def test_a_nan_loss_stops_fit_and_keeps_the_last_checkpoint(tmp_path):
    model = nn.Linear(4, 3)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    dataset = _data()
    loader = DataLoader(dataset, 8)
    keep = EpochWriter(RunFolder(tmp_path), {}).hook(model, optimizer, None, loader)
    fit(model, optimizer, loader, 1, progress=False, log=None, on_epoch_end=keep)
    saved = (tmp_path / "checkpoint.npz").read_bytes()
    weights = model.weight.numpy().copy()
    dataset.arrays[0][12] = np.nan  # the second batch of the next epoch
    with pytest.raises(NonFiniteLossError, match=r"the loss became nan in epoch 2, batch 2 of 4: "
                                                 r"training stopped \(a smaller"):
        fit(model, optimizer, loader, 1, start_epoch=1, progress=False, log=None, on_epoch_end=keep)
    assert (tmp_path / "checkpoint.npz").read_bytes() == saved
    assert np.all(np.isfinite(model.weight.numpy()))
    assert not np.array_equal(model.weight.numpy(), weights)  # batch 1 of epoch 2 did train


@IGNORE_NAN_WARNINGS
def test_train_step_takes_no_step_on_an_infinite_loss():
    model = nn.Linear(4, 3)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.numpy().copy()
    x, y = _data(2).arrays
    x = x.copy()
    x[0, 0] = np.inf
    with pytest.raises(NonFiniteLossError, match="the loss became (nan|inf)"):
        train_step(model, optimizer, tensor(x), tensor(y))
    np.testing.assert_array_equal(model.weight.numpy(), before)


@IGNORE_NAN_WARNINGS
def test_weights_that_overflow_are_not_checkpointed(tmp_path):
    model = nn.Linear(4, 3)
    optimizer = optim.SGD(model.parameters(), lr=1e300)  # one step overflows float32
    loader = DataLoader(_data(8), 8)
    with pytest.raises(NonFiniteLossError, match="parameter (weight|bias) became non-finite in epoch 1"):
        fit(model, optimizer, loader, 1, progress=False, log=None,
            on_epoch_end=EpochWriter(RunFolder(tmp_path), {}).hook(model, optimizer))
    assert not (tmp_path / "checkpoint.npz").exists()


@IGNORE_NAN_WARNINGS
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
