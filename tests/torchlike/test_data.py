"""``tinymin.utils.data`` (issue #20, item 2) against ``torch.utils.data``: the same
arguments, errors, lengths, batches and split sizes. What needs no torch is in
tests/data: the worker processes (test_workers.py), samplers and generators
(test_sampler.py), the argument types (test_dataloader_arguments.py)."""

import warnings

import numpy as np
import pytest

import tinymin as tm
import tinymin.data
from tinymin.utils.data import (
    BatchSampler,
    DataLoader,
    SequentialSampler,
    TensorDataset,
    random_split,
)

torch = pytest.importorskip("torch", reason="the PyTorch oracle tests need torch (the torch extra)")
tdata = torch.utils.data


def as_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def arrays(n=23):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return x, np.arange(n) % 4


def both_loaders(n=23, **options):
    x, y = arrays(n)
    ours = DataLoader(TensorDataset(x, y), **options)
    theirs = tdata.DataLoader(tdata.TensorDataset(torch.tensor(x), torch.tensor(y)), **options)
    return ours, theirs


def batches(loader):
    return [tuple(as_numpy(part) for part in batch) for batch in loader]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for batch_a, batch_b in zip(a, b):
        for part_a, part_b in zip(batch_a, batch_b):
            np.testing.assert_array_equal(part_a, part_b)
            assert part_a.dtype == part_b.dtype


def test_the_alias_path_is_the_same_objects():
    import tinymin.utils.data as alias

    assert alias.DataLoader is tinymin.data.DataLoader
    assert alias.random_split is tinymin.data.random_split
    assert tm.utils.data.Dataset is tinymin.data.Dataset


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")  # torch's, on a CPU
@pytest.mark.parametrize("options", [
    {}, {"batch_size": 4}, {"batch_size": 5, "drop_last": True}, {"batch_size": 23},
    {"batch_size": 30, "drop_last": False}, {"batch_size": 6, "pin_memory": True},
])
def test_batches_and_lengths_match_torch(options):
    ours, theirs = both_loaders(**options)
    assert len(ours) == len(theirs)
    assert_same_batches(batches(ours), batches(theirs))


def test_batch_size_none_hands_out_single_converted_samples_like_torch():
    ours, theirs = both_loaders(n=4, batch_size=None)
    assert len(ours) == len(theirs) == 4
    assert_same_batches(batches(ours), batches(theirs))
    assert isinstance(next(iter(ours))[0], tm.Tensor)


def test_sampler_and_batch_sampler_like_torch():
    order = [5, 3, 0, 22, 7, 1, 1]
    ours, theirs = both_loaders(batch_size=3, sampler=order)
    assert_same_batches(batches(ours), batches(theirs))
    groups = [[0, 1], [7], [22, 2, 3]]
    ours, theirs = both_loaders(batch_sampler=groups)
    assert len(ours) == 3
    assert_same_batches(batches(ours), batches(theirs))
    assert list(BatchSampler(SequentialSampler(range(7)), 3, False)) == \
        list(tdata.BatchSampler(tdata.SequentialSampler(range(7)), 3, False))
    assert len(BatchSampler(range(7), 3, True)) == len(tdata.BatchSampler(range(7), 3, True)) == 2


@pytest.mark.parametrize("keywords", [
    {"shuffle": True, "sampler": [0, 1]},
    {"batch_sampler": [[0]], "batch_size": 2},
    {"batch_sampler": [[0]], "drop_last": True},
    {"batch_size": None, "drop_last": True},
    {"persistent_workers": True},
    {"prefetch_factor": 2},
    {"num_workers": -1},
    {"timeout": -1},
])
def test_torchs_value_errors_are_raised_alike(keywords):
    x, y = arrays()
    with pytest.raises(ValueError):
        tdata.DataLoader(tdata.TensorDataset(torch.tensor(x)), **keywords)
    with pytest.raises(ValueError, match="DataLoader"):
        DataLoader(TensorDataset(x, y), **keywords)


@pytest.mark.parametrize("n, fractions", [
    (10, [0.3, 0.7]), (11, [0.3, 0.7]), (7, [0.5, 0.25, 0.25]), (101, [0.8, 0.1, 0.1]),
    (3, [0.1, 0.1, 0.8]), (10, [1.0]),
])
def test_random_split_fractions_give_torchs_lengths(n, fractions):
    with warnings.catch_warnings():  # both warn about an empty split
        warnings.simplefilter("ignore")
        theirs = [len(s) for s in tdata.random_split(list(range(n)), fractions)]
        ours = [len(s) for s in random_split(list(range(n)), fractions, seed=0)]
    assert ours == theirs


# ------------------------------------------------------------------ worker processes


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")
def test_pin_memory_is_accepted_and_changes_nothing():
    ours_plain, _ = both_loaders(batch_size=4)
    ours_pinned, _ = both_loaders(batch_size=4, pin_memory=True, pin_memory_device="")
    assert_same_batches(batches(ours_plain), batches(ours_pinned))


def test_torch_utils_data_spelled_through_the_package():
    """``import torch; torch.utils.data.DataLoader(...)`` ports with the import alone."""
    import tinymin as torch_like

    assert torch_like.utils.data.DataLoader is DataLoader


def _structure(batch):
    """The batch's containers and leaves: ("list", [...]), ("Pair", [...]), ("dict", {...}),
    ("strings", [...]) or ("tensor", dtype name)."""
    if isinstance(batch, dict):
        return "dict", {k: _structure(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and all(isinstance(b, str) for b in batch):
        return "strings", list(batch)  # torch: the sequence it was handed (a tuple inside)
    if isinstance(batch, (list, tuple)):
        return type(batch).__name__, [_structure(b) for b in batch]
    if hasattr(batch, "numpy"):
        return "tensor", str(as_numpy(batch).dtype)
    return batch


def test_default_collate_builds_torchs_containers():
    from collections import namedtuple

    Pair = namedtuple("Pair", "image label")
    image = np.zeros((1, 2, 2), np.float32)
    for samples in ([(image, 1, "a.png"), (image, 2, "b.png")],
                    [[image, 1], [image, 2]],
                    [Pair(image, 1), Pair(image, 2)],
                    [{"image": image, "names": ("x", 3)}, {"image": image, "names": ("y", 4)}]):
        assert _structure(tm.data.default_collate(samples)) == \
            _structure(tdata.default_collate(samples))
        assert _structure(tm.data.dataloader.default_convert(samples[0])) == \
            _structure(tdata.default_convert(samples[0]))  # batch_size=None
