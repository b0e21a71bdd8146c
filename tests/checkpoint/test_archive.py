"""Checkpoints: round trip, atomic writes, corrupt files rejected with path and reason."""

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn, optim
from tinymin.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def small_model():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_round_trip_restores_model_optimizer_and_config(tmp_path):
    tm.manual_seed(0)
    model = small_model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    model(tm.randn(5, 3)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "ck.npz", model, {"model": {"name": "x"}}, epoch=3,
                           optimizer=opt)
    ck = load_checkpoint(path)
    assert ck.epoch == 3 and ck.config == {"model": {"name": "x"}}
    other = small_model()
    other.load_state_dict(ck.model_state)
    for a, b in zip(model.parameters(), other.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    opt2 = optim.Adam(other.parameters(), lr=0.5)
    opt2.load_state_dict(ck.optimizer_state)
    assert opt2.param_groups[0]["lr"] == 0.01
    np.testing.assert_array_equal(opt2.state[other[0].weight]["exp_avg"],
                                  opt.state[model[0].weight]["exp_avg"])
    with np.load(path, allow_pickle=False) as archive:  # loadable without pickle
        assert "meta/config" in archive.files


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    model = small_model()
    target = tmp_path / "ck.npz"
    save_checkpoint(target, model, {}, epoch=1)
    before = target.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(target, model, {}, epoch=2)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "not a readable"), (b"garbage bytes", "not a readable")],
)
def test_corrupt_files_are_rejected_with_path(tmp_path, content, reason):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"bad.npz.*{reason}"):
        load_checkpoint(path)


def test_truncated_checkpoint_is_rejected(tmp_path):
    path = save_checkpoint(tmp_path / "ck.npz", small_model(), {}, epoch=1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="ck.npz"):
        load_checkpoint(path)


def test_foreign_npz_and_missing_file(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(CheckpointError, match="other.npz: not a tinymin checkpoint"):
        load_checkpoint(tmp_path / "other.npz")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.npz")


def test_wrong_version_is_rejected(tmp_path):
    np.savez(tmp_path / "v9.npz", **{"meta/format_version": np.array(9), "meta/epoch": np.array(0),
                                     "meta/config": np.array("{}"), "model/w": np.zeros(1)})
    with pytest.raises(CheckpointError, match="format version 9"):
        load_checkpoint(tmp_path / "v9.npz")
