"""The command line, end to end on tiny subsets of the embedded data."""

import subprocess
import sys

import numpy as np
import pytest

import tinymin
from tinymin.checkpoint import load_checkpoint
from tinymin.cli import main
from tinymin.run_folder import read_metrics

QUICK = ["--train-limit", "256", "--test-limit", "128", "--batch-size", "64", "--no-progress"]


def test_version_via_python_m():
    out = subprocess.run([sys.executable, "-m", "tinymin", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == f"tinymin {tinymin.__version__}"


def test_train_resume_eval_plot(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "lenet", "--epochs", "1", "--out", str(run), *QUICK]) == 0
    assert "final test accuracy" in capsys.readouterr().out
    assert main(["train", "--model", "lenet", "--epochs", "2", "--out", str(run), "--resume",
                 *QUICK]) == 0
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2]
    assert load_checkpoint(run / "checkpoint.npz").epoch == 2
    assert main(["eval", "--checkpoint", str(run / "checkpoint.npz"), "--test-limit", "128"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    png = tmp_path / "curves.png"
    assert main(["plot", str(run), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_seed_makes_runs_reproducible(tmp_path):
    for name in ("a", "b"):
        main(["train", "--model", "mlp", "--epochs", "1", "--seed", "3", "--out",
              str(tmp_path / name), *QUICK])
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert a[0]["train_loss"] == b[0]["train_loss"]
    wa = load_checkpoint(tmp_path / "a" / "checkpoint.npz").model_state
    wb = load_checkpoint(tmp_path / "b" / "checkpoint.npz").model_state
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key])


def test_transfer_learning_from_exact_to_min(tmp_path, capsys):
    exact = tmp_path / "exact"
    main(["train", "--model", "lenet", "--epochs", "1", "--out", str(exact), *QUICK])
    assert main(["train", "--model", "lenet", "--conv", "min", "--epochs", "1", "--init-from",
                 str(exact / "checkpoint.npz"), "--out", str(tmp_path / "min"), *QUICK]) == 0
    out = capsys.readouterr().out
    assert "initialised from" in out and "running_abs_mean" in out
    state = load_checkpoint(tmp_path / "min" / "checkpoint.npz").model_state
    assert "0.running_abs_mean" in state
    np.testing.assert_array_equal(state["0.output_gain"], 1.0)  # the paper's plain copy

    assert main(["train", "--model", "lenet", "--conv", "min", "--epochs", "1", "--init-from",
                 str(exact / "checkpoint.npz"), "--calibrate", "64", "--out",
                 str(tmp_path / "calibrated"), *QUICK]) == 0
    assert "calibrated" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "calibrated" / "checkpoint.npz").model_state
    assert not np.all(state["0.output_gain"] == 1.0)  # fitted before fine-tuning
    assert state["0.input_scale_multiple"][0] > 0
    capsys.readouterr()
    assert main(["train", "--model", "lenet", "--conv", "min", "--init-from",
                 str(tmp_path / "min" / "checkpoint.npz"), "--calibrate", "16", *QUICK]) == 2
    assert "not an exact one" in capsys.readouterr().err


def test_calibrate_needs_a_min_model_started_from_a_checkpoint(capsys):
    assert main(["train", "--conv", "min", "--calibrate", "16", *QUICK]) == 2
    assert "--calibrate needs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--calibrate", "-1"])
    assert "must be >= 0" in capsys.readouterr().err


def test_errors_are_reported_not_raised(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert main(["eval", "--checkpoint", str(bad)]) == 2
    assert "bad.npz" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--model", "resnet"])


def test_convert_calibrates_and_saves_an_evaluable_min_checkpoint(tmp_path, capsys):
    exact = tmp_path / "exact"
    main(["train", "--model", "lenet", "--epochs", "1", "--out", str(exact), *QUICK])
    out = tmp_path / "min.npz"
    assert main(["convert", "--checkpoint", str(exact / "checkpoint.npz"), "--calibrate", "64",
                 "--test-limit", "128", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "calibrated on 64 images" in text and "rel. sq. error" in text
    state = load_checkpoint(out).model_state
    assert "0.output_gain" in state and not np.all(state["0.output_gain"] == 1)
    assert main(["eval", "--checkpoint", str(out), "--test-limit", "128"]) == 0


def _write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_eval_on_another_dataset_of_the_same_shape(tmp_path, capsys):
    # The official MNIST test files hold the same 10,000 images as the embedded test
    # split, so a model trained on mnist-embedded scores the same on --data mnist.
    from tinymin.data.datasets import EmbeddedMNIST

    run = tmp_path / "run"
    main(["train", "--model", "mlp", "--epochs", "1", "--out", str(run), *QUICK])
    test = EmbeddedMNIST(train=False)
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)  # only the test files: eval needs no others
    _write_idx(root / "mnist" / "t10k-images-idx3-ubyte", test.data, 0x803)
    _write_idx(root / "mnist" / "t10k-labels-idx1-ubyte", test.targets, 0x801)
    checkpoint = str(run / "checkpoint.npz")
    capsys.readouterr()
    assert main(["eval", "--checkpoint", checkpoint, "--test-limit", "500"]) == 0
    embedded = capsys.readouterr().out
    assert main(["eval", "--checkpoint", checkpoint, "--data", "mnist", "--data-root", str(root),
                 "--test-limit", "500"]) == 0
    full = capsys.readouterr().out
    assert "on 500 mnist images" in full and "on 500 mnist-embedded images" in embedded
    assert embedded.split("test accuracy")[1].split()[0] == full.split("test accuracy")[1].split()[0]


def test_eval_refuses_a_dataset_of_another_shape(tmp_path, capsys):
    run = tmp_path / "run"
    main(["train", "--model", "mlp", "--epochs", "1", "--out", str(run), *QUICK])
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run / "checkpoint.npz"), "--data", "cifar10"]) == 2
    assert ("takes 1x28x28 images and 10 classes, but cifar10 has 3x28x28 images"
            in capsys.readouterr().err)


def test_recipe_fills_in_options_and_explicit_ones_win():
    from tinymin.cli import parse_args
    from tinymin.experiment import RECIPES

    recipe = RECIPES["minconv-scratch"]
    args = parse_args(["train", "--recipe", "minconv-scratch"])
    assert {key: getattr(args, key) for key in recipe} == recipe
    args = parse_args(["train", "--recipe", "minconv-scratch", "--epochs", "2", "--lr", "1e-3"])
    assert (args.epochs, args.lr, args.conv) == (2, 1e-3, "min")
    assert parse_args(["train"]).conv == "exact"  # no recipe: the plain defaults


def test_recipe_is_recorded_in_the_run_config(tmp_path):
    import json

    run = tmp_path / "run"
    assert main(["train", "--recipe", "minconv-scratch", "--epochs", "1", "--out", str(run),
                 *QUICK]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["train_args"]["recipe"] == "minconv-scratch"
    assert config["model"]["conv"] == "min" and config["train_args"]["scheduler"] == "cosine"
