"""The training loop and its acceptance figure: an MLP on the embedded MNIST subset."""

import time

import numpy as np

import tinymin as tm
from tinymin import optim
from tinymin.data import DataLoader, TensorDataset
from tinymin.data.datasets import EmbeddedMNIST
from tinymin.models import mlp
from tinymin.train import append_metrics, evaluate, fit, predict, read_metrics


def test_mlp_reaches_90_percent_on_embedded_mnist():
    start = time.perf_counter()
    tm.manual_seed(0)
    model = mlp(hidden=128)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    train = DataLoader(EmbeddedMNIST(train=True), 64, shuffle=True, seed=0)
    test = DataLoader(EmbeddedMNIST(train=False), 500)
    history = fit(model, opt, train, epochs=5, test_loader=test, progress=False, log=None)
    assert history[-1]["test_accuracy"] >= 0.90
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert time.perf_counter() - start < 60


def test_fit_writes_metrics_and_checkpoint(tmp_path):
    tm.manual_seed(1)
    x = np.random.default_rng(0).normal(size=(64, 1, 4, 4)).astype(np.float32)
    y = (x.reshape(64, -1).sum(1) > 0).astype(np.int64)
    loader = DataLoader(TensorDataset(x, y), 16, shuffle=True, seed=0)
    model = mlp(num_classes=2, input_size=4, hidden=8)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, opt, loader, 3, loader, run_dir=tmp_path, config={"k": 1},
                  progress=False, log=None)
    rows = read_metrics(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["test_accuracy"] == history[-1]["test_accuracy"]
    assert (tmp_path / "checkpoint.npz").exists()
    assert evaluate(model, loader)["accuracy"] == history[-1]["test_accuracy"]
    assert predict(model, x).shape == (64, 2)


def test_append_metrics_keeps_previous_rows(tmp_path):
    row = {"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "test_loss": 1.0,
           "test_accuracy": 0.5, "lr": 0.1, "seconds": 1.0}
    append_metrics(tmp_path / "m.csv", row)
    append_metrics(tmp_path / "m.csv", {**row, "epoch": 2})
    assert [r["epoch"] for r in read_metrics(tmp_path / "m.csv")] == [1, 2]
