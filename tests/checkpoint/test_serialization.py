"""tinymin.save / tinymin.load: state dicts and tensors in an .npz file, no pickle."""

import io
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
    model.weight.grad = tm.ones(2, 2)
    model.bias.grad = tm.ones(2)
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
    np.testing.assert_array_equal(back["model"]["weight"], model.weight.numpy())


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


def test_load_takes_torch_loads_keywords(tmp_path):
    """``torch.load(path, map_location="cpu", weights_only=True)`` ports unchanged; a GPU
    or weights_only=False is refused, never ignored."""
    path = tmp_path / "model.pth"
    tm.save({"w": np.arange(3.0)}, path)
    for kwargs in ({}, {"map_location": "cpu"}, {"map_location": tm.device("cpu")}, {"weights_only": True}):
        np.testing.assert_array_equal(tm.load(path, **kwargs)["w"], np.arange(3.0))
    with pytest.raises(RuntimeError, match="--engine torch"):
        tm.load(path, map_location="cuda:0")
    with pytest.raises(ValueError, match="weights_only must be True"):
        tm.load(path, weights_only=False)


def test_file_objects_round_trip_like_torch_save(tmp_path):
    """``torch.save(state, buffer)`` / ``torch.load(buffer)`` port unchanged: a BytesIO
    or an open binary file, written and read at its position."""
    model = nn.Linear(3, 2)
    buffer = io.BytesIO(b"head")
    buffer.seek(4)
    assert tm.save(model.state_dict(), buffer) is None
    buffer.seek(4)
    back = tm.load(buffer)
    np.testing.assert_array_equal(back["weight"], model.weight.numpy())
    assert buffer.read() == b""  # read to its end, and still open for the caller
    with open(tmp_path / "t.npz", "wb") as f:
        tm.save(tm.arange(4.0), f)
    with open(tmp_path / "t.npz", "rb") as f:
        assert tm.load(f).tolist() == [0.0, 1.0, 2.0, 3.0]
        assert not f.closed


def test_bad_file_objects_are_named_in_the_error(tmp_path):
    with pytest.raises(CheckpointError, match="<BytesIO>: not a readable .npz"):
        tm.load(io.BytesIO(b"not a zip at all"))
    (tmp_path / "junk.bin").write_bytes(b"PK\x03\x04 truncated")
    with open(tmp_path / "junk.bin", "rb") as f, pytest.raises(CheckpointError, match="junk.bin"):
        tm.load(f)
    good = tm.save({"w": np.ones(2)}, tmp_path / "good.npz")  # a real file: not UTF-8 text
    with open(good) as f, pytest.raises(TypeError, match="good.npz: the file object is open in "
                                                         "text mode; open it with 'rb'"):
        tm.load(f)
    with open(tmp_path / "out.npz", "w") as f, pytest.raises(
            TypeError, match="out.npz: the file object is open in text mode; open it with 'wb'"):
        tm.save({"w": np.ones(2)}, f)
    with open(good, "rb") as f, pytest.raises(TypeError, match="good.npz: .*not open for writing"):
        tm.save({"w": np.ones(2)}, f)
    with open(tmp_path / "w.npz", "wb") as f, pytest.raises(TypeError, match="w.npz: .*not open "
                                                                              "for reading"):
        tm.load(f)
    buffer = io.BytesIO()
    with pytest.raises(TypeError, match="save: .*'x' is an array of dtype object"):
        tm.save({"x": np.array([object()])}, buffer)
    assert buffer.getvalue() == b""
