"""load_checkpoint validates the metadata and every entry's size before trusting it:
a malformed or hostile file is a CheckpointError naming the path, never a crash."""

import json
import zipfile

import numpy as np
import pytest

from tinymin import nn
from tinymin.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


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
