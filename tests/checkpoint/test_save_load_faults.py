"""Faults of tinymin.save / tinymin.load (issue 21): only numeric and bool arrays under
string names, no two values under one name, no pickle ever written or read, and a
malformed file refused with its path and the reason."""

import json
import zipfile

import numpy as np
import pytest

import tinymin as tm
from tinymin.checkpoint import CheckpointError, write_npz_atomic


@pytest.mark.parametrize("obj, message", [
    ({"w": np.array([object()], dtype=object)}, "'w' is an array of dtype object"),
    (np.array([1, "a"], dtype=object), "dtype object"),
    (np.array(["a", "b"]), "dtype <U1"),
    ({"w": np.array([b"x"])}, "'w' is an array of dtype |S1"),
    ({"m": {"w": np.array([None])}}, "'m/w' is an array of dtype object"),
    ({1: np.zeros(1), "1": np.ones(1)}, "key 1, a int"),
    ({"m": {2: np.zeros(1)}}, "section 'm' has the key 2"),
    ({(1, 2): np.zeros(1)}, r"key \(1, 2\), a tuple"),
])
def test_save_refuses_what_is_not_numbers_under_names(tmp_path, obj, message):
    with pytest.raises(TypeError, match=message):
        tm.save(obj, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_no_file_write_ever_pickles(tmp_path):
    with pytest.raises(TypeError, match="entry 'x' is an object array"):
        write_npz_atomic(tmp_path / "x.npz", {"x": np.array([{}], dtype=object)})
    assert list(tmp_path.iterdir()) == []


def _raw_file(path, layout, **arrays):
    np.savez(path, **{"tinymin/layout": np.array(json.dumps(layout)), **arrays})
    return path


@pytest.mark.parametrize("layout, arrays, message", [
    ({"type": "dict", "sections": [1]}, {"x:int": np.array(1)}, "sections must be a list of names"),
    ({"type": "dict", "sections": "model"}, {}, "sections must be a list of names"),
    ({"type": "dict", "sections": ["a/b"]}, {}, "sections must be a list of names"),
    ([1, 2], {}, "unknown layout"),
    ({"type": "pickle"}, {}, "unknown layout"),
    ({"type": "ndarray"}, {"tensor": np.array(["s"])}, "dtype <U1"),
    ({"type": "dict", "sections": []}, {"x": np.array([object()], dtype=object)},
     "entry 'x' is an object array"),
])
def test_load_refuses_a_malformed_file_with_its_path_and_reason(tmp_path, layout, arrays, message):
    path = _raw_file(tmp_path / "bad.npz", layout, **arrays)
    with pytest.raises(CheckpointError, match=message) as error:
        tm.load(path)
    assert str(path) in str(error.value)


def test_a_pickle_inside_the_archive_is_never_unpickled(tmp_path, monkeypatch):
    import pickle

    path = _raw_file(tmp_path / "evil.npz", {"type": "dict", "sections": []},
                     x=np.array([{"a": 1}], dtype=object))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(CheckpointError, match="never unpickles"):
        tm.load(path)
    with zipfile.ZipFile(path) as archive:  # the file did hold a pickle
        assert any(b"'descr': '|O'" in archive.read(n)[:128] for n in archive.namelist())


def test_numeric_and_bool_values_still_round_trip(tmp_path):
    state = {"w": np.arange(3, dtype=np.int16), "b": np.array([True, False]),
             "c": np.array([1 + 2j]), "epoch": 4, "note": "ok", "m": {"x": np.ones(2)}}
    back = tm.load(tm.save(state, tmp_path / "ok.npz"))
    assert back["epoch"] == 4 and back["note"] == "ok" and back["b"].dtype == bool
    np.testing.assert_array_equal(back["m"]["x"], np.ones(2))


def test_a_section_that_would_overwrite_the_layout_is_refused(tmp_path):
    """{"tinymin": {"layout": ...}} flattens to the file's own "tinymin/layout" entry,
    and its value was silently lost on loading."""
    with pytest.raises(ValueError, match="save: the name 'tinymin/layout' is tinymin's own"):
        tm.save({"tinymin": {"layout": np.ones(2), "b": np.zeros(1)}}, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    back = tm.load(tm.save({"tinymin": {"b": np.zeros(1)}}, tmp_path / "y.npz"))
    assert list(back) == ["tinymin"] and back["tinymin"]["b"].tolist() == [0.0]


def test_a_layout_nested_past_the_recursion_limit_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "deep.npz"
    np.savez(path, **{"tinymin/layout": np.array("[" * 100_000)})
    with pytest.raises(CheckpointError, match=r"deep.npz: malformed tinymin.save file \(RecursionError"):
        tm.load(path)
