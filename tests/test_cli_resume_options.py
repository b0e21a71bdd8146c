"""--resume continues the saved run: options that would change it are refused with the
saved and the given value; --epochs (to extend), progress and limits may change."""

import pytest

from tinymin.cli import main

QUICK = ["--train-limit", "64", "--test-limit", "32", "--batch-size", "32", "--no-progress"]
RUN = ["train", "--model", "mlp", "--optimizer", "adam", "--lr", "0.001", "--seed", "0"]


@pytest.fixture()
def run(tmp_path):
    folder = tmp_path / "run"
    assert main([*RUN, "--epochs", "1", "--out", str(folder), *QUICK]) == 0
    return folder


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize("change, saved, given", [
    (["--optimizer", "sgd"], "adam", "sgd"),
    (["--lr", "0.01"], "0.001", "0.01"),
    (["--model", "lenet"], "mlp", "lenet"),
    (["--conv", "min"], "exact", "min"),
    (["--data", "mnist"], "mnist-embedded", "mnist"),
    (["--batch-size", "16"], "32", "16"),
    (["--seed", "5"], "0", "5"),
])
def test_an_option_that_would_change_the_run_is_refused(run, capsys, change, saved, given):
    config = (run / "config.json").read_bytes()
    argv = [*RUN, "--epochs", "2", "--out", str(run), "--resume", *QUICK, *change]
    assert main(argv) == 2
    err = _one_line_error(capsys)
    assert f"{change[0]} {given} (saved: {saved})" in err
    assert (run / "config.json").read_bytes() == config  # not rewritten on failure


def test_epochs_progress_and_limits_may_change(run, capsys):
    argv = [*RUN, "--epochs", "2", "--out", str(run), "--resume", "--train-limit", "32",
            "--test-limit", "16", "--batch-size", "32"]
    assert main(argv) == 0


def test_resume_with_epochs_not_above_the_epochs_done_says_so(run, capsys):
    assert main([*RUN, "--epochs", "1", "--out", str(run), "--resume", *QUICK]) == 2
    err = _one_line_error(capsys)
    assert "--epochs 1" in err and "1 epoch" in err
