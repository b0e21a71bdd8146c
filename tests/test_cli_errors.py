"""Every user error on the command line is one line on stderr and exit status 2,
never a traceback."""

import json
import zipfile

import numpy as np
import pytest

from tinymin.cli import main

QUICK = ["--train-limit", "64", "--test-limit", "32", "--batch-size", "32", "--no-progress"]


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
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(run), *QUICK]) == 0
    return run


def test_train_out_naming_an_existing_file(tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    fails_with_one_line(["train", "--model", "mlp", "--epochs", "1", "--out", str(existing), *QUICK],
                        capsys, str(existing))
    assert existing.read_text() == "mine"


def test_train_out_naming_a_finished_run_without_resume(capsys, mlp_run):
    # a second run there would append its epochs to the first run's metrics.csv
    before = (mlp_run / "metrics.csv").read_text()
    fails_with_one_line(["train", "--model", "mlp", "--epochs", "1", "--out", str(mlp_run), *QUICK],
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
    extra = QUICK if command == "train" else []
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
                         str(mlp_run / "checkpoint.npz"), *QUICK], capsys, "--model", "mlp", "lenet")
