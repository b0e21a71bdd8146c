"""The command line, end to end on tiny subsets of the embedded data."""

import json
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import tinymin
from tinymin.checkpoint import load_checkpoint
from tinymin.cli import build_parser, main
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


def test_convert_reconstruct_fits_every_min_layer(tmp_path, capsys):
    exact = tmp_path / "exact"
    main(["train", "--model", "lenet", "--epochs", "1", "--out", str(exact), *QUICK])
    out = tmp_path / "min.npz"
    assert main(["convert", "--checkpoint", str(exact / "checkpoint.npz"), "--calibrate", "16",
                 "--reconstruct", "3", "--test-limit", "64", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("reconstructed") == 2 and "3 steps" in text
    state = load_checkpoint(out).model_state
    assert not np.all(state["3.output_gain"] == 1)


def test_convert_reconstruct_refuses_the_options_it_ignores(capsys):
    for option in ("--shared-gain", "--linear-correction"):
        fails_with_one_line(["convert", "--checkpoint", "x.npz", "--reconstruct", option], capsys,
                            "--reconstruct fits a gain per channel")


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


# ------------------------------------------------------------------------------------------------
# Every user error on the command line is one line on stderr and exit status 2, never a traceback.


TINY = ["--train-limit", "64", "--test-limit", "32", "--batch-size", "32", "--no-progress"]


def fails_with_one_line(argv, capsys, *expected):
    """Run the CLI; it must exit 2 with one ``error:`` line naming each ``expected``."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for text in expected:
        assert text in err, (text, err)
    return err


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "mlp"
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(run), *TINY]) == 0
    return run


def test_train_out_naming_an_existing_file(tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    fails_with_one_line(["train", "--model", "mlp", "--epochs", "1", "--out", str(existing), *TINY],
                        capsys, str(existing))
    assert existing.read_text() == "mine"


def test_train_out_naming_a_finished_run_without_resume(capsys, mlp_run):
    # a second run there would append its epochs to the first run's metrics.csv
    before = (mlp_run / "metrics.csv").read_text()
    fails_with_one_line(["train", "--model", "mlp", "--epochs", "1", "--out", str(mlp_run), *TINY],
                        capsys, str(mlp_run), "--resume")
    assert (mlp_run / "metrics.csv").read_text() == before


@pytest.mark.parametrize("option", ["--train-limit", "--test-limit", "--batch-size"])
def test_a_limit_of_zero_names_the_option(tmp_path, capsys, option):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--model", "mlp", "--out", str(tmp_path / "r"), option, "0"])
    assert exit_.value.code == 2
    assert f"argument {option}: must be >= 1, got 0" in capsys.readouterr().err


def test_convert_out_naming_an_existing_folder(tmp_path, capsys, mlp_run):
    fails_with_one_line(["convert", "--checkpoint", str(mlp_run / "checkpoint.npz"),
                         "--out", str(tmp_path)], capsys, str(tmp_path))


def test_plot_out_naming_a_folder(tmp_path, capsys, mlp_run):
    fails_with_one_line(["plot", str(mlp_run), "--out", str(tmp_path)], capsys, "--out")


@pytest.mark.parametrize("option", ["eval --checkpoint", "train --init-from"])
def test_a_npy_file_given_as_a_checkpoint(tmp_path, capsys, option):
    npy = tmp_path / "weights.npy"
    np.save(npy, np.zeros(3))
    command, flag = option.split()
    extra = TINY if command == "train" else []
    fails_with_one_line([command, flag, str(npy), *extra], capsys, str(npy))


def _rewrite(checkpoint, target, **replace):
    with np.load(checkpoint) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays.update(replace)
    np.savez(target, **arrays)
    return target


def test_a_checkpoint_whose_config_is_a_json_list(tmp_path, capsys, mlp_run):
    bad = _rewrite(mlp_run / "checkpoint.npz", tmp_path / "list.npz",
                   **{"meta/config": np.array(json.dumps([1, 2]))})
    fails_with_one_line(["eval", "--checkpoint", str(bad)], capsys, str(bad), "config")


def test_a_checkpoint_whose_epoch_has_the_wrong_shape(tmp_path, capsys, mlp_run):
    bad = _rewrite(mlp_run / "checkpoint.npz", tmp_path / "epoch.npz",
                   **{"meta/epoch": np.array([1, 2])})
    fails_with_one_line(["eval", "--checkpoint", str(bad)], capsys, str(bad), "epoch")


def test_a_checkpoint_entry_whose_header_claims_8_tib(tmp_path, capsys, mlp_run):
    bad = tmp_path / "huge.npz"
    _rewrite(mlp_run / "checkpoint.npz", bad)
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }"
    header = header.ljust(117) + "\n"
    with zipfile.ZipFile(bad, "a") as archive:
        archive.writestr("model/huge.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
                         + header.encode("latin1"))
    fails_with_one_line(["eval", "--checkpoint", str(bad)], capsys, str(bad), "model/huge")


def test_init_from_with_another_model_names_the_option(tmp_path, capsys, mlp_run):
    fails_with_one_line(["train", "--model", "lenet", "--epochs", "1", "--init-from",
                         str(mlp_run / "checkpoint.npz"), *TINY], capsys, "--model", "mlp", "lenet")


# ------------------------------------------------------------------------------------------------
# --help of every subcommand says what each option means and its default.


def _subparsers():
    parser = build_parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return action.choices


def _option_blocks(help_text):
    """{first option string: its help block, whitespace collapsed} from ``--help``."""
    options = help_text.split("options:", 1)[1]
    blocks = re.split(r"\n  (?=-)", "\n" + options)
    return {block.split()[0].rstrip(","): " ".join(block.split()) for block in blocks if block.strip()}


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_option_shows_its_meaning_and_its_default(command):
    sub = _subparsers()[command]
    blocks = _option_blocks(sub.format_help())
    for action in sub._actions:
        if not action.option_strings or action.dest == "help":
            continue
        block = blocks[action.option_strings[0]]
        assert action.help, f"{command} {action.option_strings[0]}: no help text"
        if not action.required:
            assert "(default: " in block, f"{command} {action.option_strings[0]}: no default shown"


# ------------------------------------------------------------------------------------------------
# --resume continues the saved run: options that would change it are refused with the saved and
# the given value; --epochs (to extend), progress and limits may change.


RUN = ["train", "--model", "mlp", "--optimizer", "adam", "--lr", "0.001", "--seed", "0"]


@pytest.fixture()
def run(tmp_path):
    folder = tmp_path / "run"
    assert main([*RUN, "--epochs", "1", "--out", str(folder), *TINY]) == 0
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
    argv = [*RUN, "--epochs", "2", "--out", str(run), "--resume", *TINY, *change]
    assert main(argv) == 2
    err = _one_line_error(capsys)
    assert f"{change[0]} {given} (saved: {saved})" in err
    assert (run / "config.json").read_bytes() == config  # not rewritten on failure


def test_epochs_progress_and_limits_may_change(run, capsys):
    argv = [*RUN, "--epochs", "2", "--out", str(run), "--resume", "--train-limit", "32",
            "--test-limit", "16", "--batch-size", "32"]
    assert main(argv) == 0


def test_resume_with_epochs_not_above_the_epochs_done_says_so(run, capsys):
    assert main([*RUN, "--epochs", "1", "--out", str(run), "--resume", *TINY]) == 2
    err = _one_line_error(capsys)
    assert "--epochs 1" in err and "1 epoch" in err


@pytest.mark.parametrize("scheduler", ["cosine", "step"])
def test_extending_a_run_whose_scheduler_follows_epochs_is_refused(tmp_path, capsys, scheduler):
    # the saved scheduler keeps the old period: a cosine run extended from 1 to 3 epochs
    # would anneal to 0 and climb back
    run = tmp_path / "run"
    assert main([*RUN, "--scheduler", scheduler, "--epochs", "1", "--out", str(run), *TINY]) == 0
    capsys.readouterr()
    argv = [*RUN, "--scheduler", scheduler, "--epochs", "3", "--out", str(run), "--resume", *TINY]
    assert main(argv) == 2
    err = _one_line_error(capsys)
    assert f"--epochs 3 differs from the saved run's 1, and --scheduler {scheduler}" in err


def test_eval_of_weights_that_do_not_fit_or_an_unknown_dataset_is_one_error_line(tmp_path,
                                                                                  capsys):
    from tinymin.checkpoint import save_checkpoint
    from tinymin.models import build_model

    model = build_model("mlp", num_classes=10, in_channels=1, input_size=28)
    config = {"model": {"name": "mlp", "num_classes": 10, "in_channels": 1, "input_size": 28,
                        "hidden": 32}, "data": "mnist-embedded"}  # hidden 32: not the weights'
    wrong_shapes = save_checkpoint(tmp_path / "shapes.npz", model, config)
    assert main(["eval", "--checkpoint", str(wrong_shapes)]) == 2
    err = _one_line_error(capsys)
    assert "shapes.npz: its weights do not fit the model its config names" in err
    unknown = save_checkpoint(tmp_path / "unknown.npz", model,
                              {**config, "model": {**config["model"], "hidden": 256},
                               "data": "nosuch"})
    assert main(["eval", "--checkpoint", str(unknown)]) == 2
    assert "unknown.npz: config names the dataset 'nosuch'" in _one_line_error(capsys)


@pytest.mark.parametrize("csv_text, message", [
    ("loss,accuracy\n0.5,0.9\n", "metrics.csv: not a tinymin metrics file (no 'epoch' column)"),
    ("epoch,train_loss\nabc,0.5\n", "metrics.csv: a row has epoch 'abc', not a number"),
])
def test_a_corrupt_metrics_file_is_named_when_resuming(run, capsys, csv_text, message):
    (run / "metrics.csv").write_text(csv_text)
    assert main([*RUN, "--epochs", "2", "--out", str(run), "--resume", *TINY]) == 2
    err = _one_line_error(capsys)
    assert message in err and "check --model" not in err


@pytest.mark.parametrize("content, reason", [
    (b"epoch,train_loss,test_accuracy\n1,1\n", "a row has 2 fields, the header 3 (line 2)"),
    (b"epoch,train_loss,test_accuracy\n1,x,0.5\n", "train_loss is 'x', not a number (line 2)"),
    (b"epoch,train_loss,test_accuracy\n1,0.5,\xff\n", "not UTF-8 text (line 2: invalid start byte"),
], ids=["short-row", "not-a-number", "bad-utf8"])
def test_plot_of_a_corrupt_metrics_file_names_the_file_line_and_reason(tmp_path, capsys, content,
                                                                       reason):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.csv").write_bytes(content)
    png = tmp_path / "curves.png"
    fails_with_one_line(["plot", str(tmp_path / "run"), "--out", str(png)], capsys,
                        f"error: {tmp_path / 'run' / 'metrics.csv'}: {reason}")
    assert not png.exists()
