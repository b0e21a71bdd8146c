"""Checkpoints: round trip, atomic writes, corrupt files rejected with path and reason."""

import json
import zipfile

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn, optim
from tinymin.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinymin.checkpoint.archive import read_npz


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
        np.testing.assert_array_equal(a.numpy(), b.numpy())
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


# ------------------------------------------------------------------------------------------------
# load_checkpoint validates the metadata and every entry's size before trusting it: a malformed or
# hostile file is a CheckpointError naming the path, never a crash.


@pytest.fixture()
def checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "good.npz", nn.Linear(2, 3), {"model": {"name": "x"}}, epoch=2)


def _rewrite(source, target, **replace):
    with np.load(source) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays.update(replace)
    np.savez(target, **arrays)
    return target


@pytest.mark.parametrize("key, value, message", [
    ("meta/epoch", np.array([1, 2]), r"'meta/epoch' must be one integer.*shape \(2,\)"),
    ("meta/epoch", np.array(1.5), r"'meta/epoch' must be one integer, got a float64"),
    ("meta/epoch", np.array(-1), "'meta/epoch' must be a non-negative integer, got -1"),
    ("meta/format_version", np.array("1"), "'meta/format_version' must be one integer"),
    ("meta/config", np.array(json.dumps([1, 2])), "config must be a JSON object, got list"),
    ("meta/config", np.array(json.dumps({"model": [1]})), "config 'model' must be a JSON object"),
    ("meta/config", np.array([1.0]), "'meta/config' must be one string of JSON"),
])
def test_malformed_metadata_is_refused(tmp_path, checkpoint, key, value, message):
    bad = _rewrite(checkpoint, tmp_path / "bad.npz", **{key: value})
    with pytest.raises(CheckpointError, match=message) as error:
        load_checkpoint(bad)
    assert str(bad) in str(error.value)


def test_an_entry_whose_header_claims_8_tib_is_refused_before_reading(tmp_path, checkpoint):
    bad = _rewrite(checkpoint, tmp_path / "huge.npz")
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }".ljust(117) + "\n"
    with zipfile.ZipFile(bad, "a") as archive:
        archive.writestr("model/huge.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
                         + header.encode("latin1") + b"\0" * 64)
    with pytest.raises(CheckpointError, match=r"entry 'model/huge' claims shape \(1099511627776,\) "
                                              r"of float64 \(8,796,093,022,208 bytes\)"):
        load_checkpoint(bad)


def test_a_npy_file_is_not_a_checkpoint(tmp_path):
    npy = tmp_path / "weights.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(CheckpointError, match=r"weights\.npy: a single \.npy array"):
        load_checkpoint(npy)


def test_a_good_checkpoint_still_loads(checkpoint):
    loaded = load_checkpoint(checkpoint)
    assert loaded.epoch == 2 and loaded.config == {"model": {"name": "x"}}


def _rewritten(path, change) -> None:
    """``path`` rewritten as a zip whose entries are compressed (deflate), then ``change``
    applied to its bytes."""
    with zipfile.ZipFile(path) as original:
        entries = [(info.filename, original.read(info)) for info in original.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as rewritten:
        for name, data in entries:
            rewritten.writestr(name, data)
    path.write_bytes(change(path.read_bytes()))


def test_a_damaged_compressed_entry_or_an_unknown_method_is_rejected_with_path(tmp_path):
    path = save_checkpoint(tmp_path / "ck.npz", small_model(), {}, epoch=1)
    original = path.read_bytes()

    def damage_the_largest_entry(data: bytes) -> bytes:
        with zipfile.ZipFile(path) as archive:
            info = max(archive.infolist(), key=lambda i: i.compress_size)
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        middle = start + info.compress_size // 2
        return data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 8]) + data[middle + 8:]

    _rewritten(path, damage_the_largest_entry)
    with pytest.raises(CheckpointError, match="ck.npz: not a readable .npz checkpoint"):
        load_checkpoint(path)

    path.write_bytes(original)
    _rewritten(path, _method_99)  # zipfile: NotImplementedError, "compression type 99"
    with pytest.raises(CheckpointError, match="ck.npz: not a readable .npz checkpoint"):
        load_checkpoint(path)


def _method_99(data: bytes) -> bytes:
    """Every entry's compression method set to 99 (AES), in the local headers (offset 8)
    and in the central directory (offset 10)."""
    patched = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = patched.find(signature)
        while start != -1:
            patched[start + offset:start + offset + 2] = (99).to_bytes(2, "little")
            start = patched.find(signature, start + 4)
    return bytes(patched)


@pytest.mark.parametrize("change, message", [
    (lambda state: state.pop("exp_avg"), r"state lacks \['exp_avg'\]"),
    (lambda state: state.update(step=-5), "state 'step' must be a non-negative integer, got -5"),
])
def test_an_incomplete_adam_state_is_refused_on_loading_not_at_the_next_step(tmp_path, change,
                                                                              message):
    model = small_model()
    optimizer = optim.Adam(model.parameters(), lr=0.1)
    model(tm.ones(2, 3)).sum().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "ck.npz", model, {}, epoch=1, optimizer=optimizer)
    saved = load_checkpoint(path).optimizer_state
    change(saved["state"][0])
    fresh = optim.Adam(small_model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match=f"Adam.load_state_dict: parameter 0 .*{message}"):
        fresh.load_state_dict(saved)
    assert fresh.state == {} or not any(fresh.state.values())  # nothing changed


def test_an_entry_marked_encrypted_is_a_checkpoint_error_not_zipfiles_runtime_error(tmp_path):
    path = save_checkpoint(tmp_path / "ck.npz", small_model(), {}, epoch=1)
    patched = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # flag bit 0: encrypted
        start = patched.find(signature)
        while start != -1:
            patched[start + offset] |= 1
            start = patched.find(signature, start + 4)
    path.write_bytes(bytes(patched))
    with pytest.raises(CheckpointError, match="ck.npz: not a readable .npz checkpoint file .*encrypted"):
        load_checkpoint(path)


def _npy_header(shape, descr="<f8"):
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".ljust(117) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1")


def test_an_entry_whose_zip_directory_also_claims_terabytes_is_counted_not_believed(tmp_path,
                                                                                     checkpoint):
    """The zip's own size field is the file's word too: a 16-byte entry that claims 1 TiB
    in its .npy header *and* in the zip64 directory used to reach numpy's allocation."""
    bad = _rewrite(checkpoint, tmp_path / "lie.npz")
    with zipfile.ZipFile(bad, "a") as archive:
        archive.writestr("model/huge.npy", _npy_header((2**37,)) + b"\0" * 16)
        archive.getinfo("model/huge.npy").file_size = 2**41  # written into the directory
    with pytest.raises(CheckpointError, match=r"entry 'model/huge' claims shape \(137438953472,\) of "
                                              r"float64 \(1,099,511,627,776 bytes\) but holds 16 bytes"):
        load_checkpoint(bad)


def test_an_entry_holding_more_than_its_header_says_is_refused(tmp_path, checkpoint):
    bad = _rewrite(checkpoint, tmp_path / "long.npz")
    with zipfile.ZipFile(bad, "a") as archive:  # a header of 2 values over 6 stored ones
        archive.writestr("model/long.npy", _npy_header((2,)) + np.arange(6.0).tobytes())
    with pytest.raises(CheckpointError, match=r"entry 'model/long' claims shape \(2,\) of float64 "
                                              r"\(16 bytes\) but holds more"):
        load_checkpoint(bad)


def test_a_name_stored_twice_is_refused(tmp_path, checkpoint):
    bad = _rewrite(checkpoint, tmp_path / "twice.npz")
    with zipfile.ZipFile(bad, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("meta/epoch.npy", _npy_header((), "<i8") + np.int64(7).tobytes())
    with pytest.raises(CheckpointError, match=r"twice.npz: entry 'meta/epoch' appears twice"):
        load_checkpoint(bad)


def test_a_folder_and_nested_json_are_named_as_such(tmp_path, checkpoint):
    with pytest.raises(CheckpointError, match=r"a folder, not a checkpoint file"):
        load_checkpoint(tmp_path)
    bad = _rewrite(checkpoint, tmp_path / "deep.npz", **{"meta/config": np.array("[" * 100_000)})
    with pytest.raises(CheckpointError, match=r"deep.npz: config is not valid JSON \(RecursionError"):
        load_checkpoint(bad)


def test_every_layout_numpy_writes_reads_back_writable(tmp_path):
    """read_npz reads the arrays itself (once, counting the bytes): Fortran order, 0-d,
    empty, big-endian, unicode and bool arrays, stored or deflated, come back as
    np.load gives them, and can be changed in place."""
    arrays = {"f": np.asfortranarray(np.arange(12.0).reshape(3, 4)), "z": np.array(3),
              "u": np.array('{"json": 1}'), "b": np.array([True, False]),
              "be": np.arange(5, dtype=">i4"), "e": np.zeros((0, 3)),
              "s": np.arange(6, dtype=np.float32).reshape(2, 3)[:, ::2]}
    np.savez(tmp_path / "plain.npz", **arrays)
    np.savez_compressed(tmp_path / "deflated.npz", **arrays)
    for name in ("plain.npz", "deflated.npz"):
        back = read_npz(tmp_path / name)
        for key, value in arrays.items():
            assert back[key].dtype == value.dtype and back[key].shape == value.shape, key
            np.testing.assert_array_equal(back[key], value)
        back["s"][0, 0] = 7.0


def test_an_entry_that_is_not_an_npy_array_is_refused(tmp_path, checkpoint):
    bad = _rewrite(checkpoint, tmp_path / "extra.npz")
    with zipfile.ZipFile(bad, "a") as archive:
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(CheckpointError, match=r"extra.npz: entry 'notes.txt' is not an .npy array"):
        load_checkpoint(bad)
