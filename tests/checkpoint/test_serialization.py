"""tinymin.save / tinymin.load: state dicts and tensors in an .npz file, no pickle."""

import zipfile

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn, optim
from tinymin.checkpoint import CheckpointError, save_checkpoint


def test_a_model_state_dict_round_trips(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = tm.save(model.state_dict(), tmp_path / "model.npz")
    fresh = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fresh.load_state_dict(tm.load(path))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[key], value)


def test_a_tensor_and_an_array_round_trip(tmp_path):
    t = tm.tensor(np.arange(6, dtype=np.float64).reshape(2, 3))
    back = tm.load(tm.save(t, tmp_path / "t.npz"))
    assert isinstance(back, tm.Tensor) and back.dtype == np.float64 and back.tolist() == t.tolist()
    array = np.array([1, 2], dtype=np.int32)
    back = tm.load(tm.save(array, tmp_path / "a.npz"))
    assert isinstance(back, np.ndarray) and back.dtype == np.int32


def test_a_dict_of_state_dicts_round_trips_with_types(tmp_path):
    model = nn.Linear(2, 2)
    opt = optim.Adam(model.parameters(), lr=0.01)
    model.weight.grad = np.ones((2, 2), dtype=np.float32)
    model.bias.grad = np.ones(2, dtype=np.float32)
    opt.step()
    tm.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
             "note": "warm start"}, tmp_path / "all.npz")
    back = tm.load(tmp_path / "all.npz")
    assert back["epoch"] == 3 and back["note"] == "warm start"
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    restored = optim.Adam(nn.Linear(2, 2).parameters())
    restored.load_state_dict(back["optimizer"])
    np.testing.assert_array_equal(restored.state_dict()["state"][0]["exp_avg"],
                                  opt.state_dict()["state"][0]["exp_avg"])
    np.testing.assert_array_equal(back["model"]["weight"], model.weight.data)


def test_an_optimizer_state_dict_alone_round_trips(tmp_path):
    opt = optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    back = tm.load(tm.save(opt.state_dict(), tmp_path / "opt.npz"))
    assert back["param_groups"] == opt.state_dict()["param_groups"]


def test_the_file_holds_no_pickle(tmp_path):
    path = tm.save({"w": tm.ones(2)}, tmp_path / "w.npz")
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            header = archive.read(name)[:128]
            assert b"'descr': '|O'" not in header  # no object arrays, so nothing to unpickle


@pytest.mark.parametrize("obj, error, message", [
    (object(), TypeError, "save: can save a Tensor, an array or a state dict"),
    ({"a/b": np.zeros(1)}, ValueError, "save: .*without '/'"),
    ({"f": print}, TypeError, "save: .*cannot store 'f'"),
])
def test_what_cannot_be_saved_is_refused(tmp_path, obj, error, message):
    with pytest.raises(error, match=message):
        tm.save(obj, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_load_refuses_files_it_did_not_write(tmp_path):
    checkpoint = save_checkpoint(tmp_path / "checkpoint.npz", nn.Linear(1, 1), {})
    with pytest.raises(CheckpointError, match="not written by tinymin.save.*load_checkpoint"):
        tm.load(checkpoint)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="junk.npz"):
        tm.load(tmp_path / "junk.npz")
