"""Both engines accept and refuse exactly the same ``train`` options (issue 21): one
check, :func:`tinymin.run_options.check_options`, runs before either builds anything."""

import pytest

from tinymin.cli import main

pytest.importorskip("torch", reason="the torch engine needs the optional extra")

ENGINES = ["tinymin", "torch"]
TINY = ["train", "--model", "mlp", "--train-limit", "32", "--test-limit", "16", "--epochs", "1",
        "--batch-size", "16", "--no-progress"]

REFUSED = [
    (["--epochs", "-1"], "--epochs must be in [1, inf), got -1"),
    (["--epochs", "0"], "--epochs must be in [1, inf), got 0"),
    (["--lr", "0"], "--lr must be in (0, inf), got 0.0"),
    (["--lr", "-0.1"], "--lr must be in (0, inf), got -0.1"),
    (["--lr", "nan"], "--lr must be in (0, inf), got nan"),
    (["--lr", "inf"], "--lr must be in (0, inf), got inf"),
    (["--optimizer", "sgd", "--momentum", "5"], "--momentum must be in [0, 1), got 5.0"),
    (["--momentum", "1"], "--momentum must be in [0, 1), got 1.0"),
    (["--momentum", "-0.5"], "--momentum must be in [0, 1), got -0.5"),
    (["--weight-decay", "-1"], "--weight-decay must be in [0, inf), got -1.0"),
    (["--weight-decay", "nan"], "--weight-decay must be in [0, inf), got nan"),
    (["--conv", "min", "--model", "lenet", "--clip-value", "0"], "--clip-value must be in (0, inf)"),
    (["--conv", "min", "--model", "lenet", "--clip-value", "nan"], "--clip-value must be in (0, inf)"),
    (["--model", "lenet", "--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
    (["--model", "lenet", "--dropout", "-0.1"], "--dropout must be in [0, 1), got -0.1"),
    (["--dropout", "0.2"], "--dropout: the mlp model has no dropout layer"),
    (["--seed", "-1"], "--seed must be in [0, 4611686018427387904], got -1"),
    (["--seed", str(2**64)], "--seed must be in [0, 4611686018427387904]"),
    (["--calibrate", "8"], "--calibrate needs --conv min and --init-from an exact checkpoint"),
    (["--resume"], "--resume needs --out pointing at the run to continue"),
    (["--restart"], "--restart starts the run in --out again from scratch"),
]

ACCEPTED = [
    ["--optimizer", "sgd", "--momentum", "0"],
    ["--optimizer", "sgd", "--momentum", "0.99", "--weight-decay", "0.5"],
    ["--lr", "1e-9"],
    ["--seed", str(2**62)],
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("args, message", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_both_engines_refuse_the_same_options_with_the_same_line(engine, args, message, capsys):
    assert main([*TINY, "--engine", engine, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("args", ACCEPTED, ids=[" ".join(a) for a in ACCEPTED])
def test_both_engines_accept_the_same_options(engine, args, capsys):
    assert main([*TINY, "--engine", engine, *args]) == 0
    assert "final test accuracy" in capsys.readouterr().out
