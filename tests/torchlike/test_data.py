"""``tinymin.utils.data`` (issue #20, item 2) against ``torch.utils.data``: the same
arguments, checks, lengths and batches; and the worker processes: batches equal to the
single-process ones, in order, seeded, errors re-raised, shut down cleanly."""

import gc
import os
import random
import warnings

import numpy as np
import pytest

import tinymin as tm
import tinymin.data
from tinymin.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    get_worker_info,
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


@pytest.mark.parametrize("arguments, keywords", [
    ((True,), {}),                      # DataLoader(ds, True): batch_size=True
    ((4, 1), {}),                       # shuffle=1
    ((), {"batch_size": 2.0}),
    ((), {"num_workers": "2"}),
    ((), {"collate_fn": 3}),
    ((), {"generator": 0}),
    ((), {"drop_last": "yes"}),
    ((), {"sampler": 5}),
])
def test_wrong_types_are_refused_with_a_type_error(arguments, keywords):
    x, y = arrays()
    with pytest.raises(TypeError, match="DataLoader: "):
        DataLoader(TensorDataset(x, y), *arguments, **keywords)


def test_the_misplaced_shuffle_gets_a_hint():
    x, y = arrays()
    with pytest.raises(TypeError, match="did you mean shuffle=True"):
        DataLoader(TensorDataset(x, y), True)


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


def test_generator_makes_shuffling_reproducible_and_separate():
    x, y = arrays()

    def epoch_orders(loader):
        return [np.concatenate([as_numpy(b[1]) for b in loader]).tolist() for _ in range(2)]

    g1, g2 = tm.Generator().manual_seed(7), tm.Generator().manual_seed(7)
    a = epoch_orders(DataLoader(TensorDataset(x, y), 5, shuffle=True, generator=g1))
    tm.manual_seed(0)  # the global generator plays no part
    b = epoch_orders(DataLoader(TensorDataset(x, y), 5, shuffle=True, generator=g2))
    assert a == b and a[0] != a[1]
    assert sorted(a[0]) == sorted(y.tolist())
    g1.manual_seed(7)  # reseeding in place restarts the loader's stream
    assert epoch_orders(DataLoader(TensorDataset(x, y), 5, shuffle=True, generator=g1)) == a


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


def test_random_split_with_a_generator_partitions_the_dataset():
    parts = random_split(range(20), [0.5, 0.25, 0.25], generator=tm.Generator().manual_seed(1))
    again = random_split(range(20), [10, 5, 5], generator=tm.Generator().manual_seed(1))
    assert [list(p.indices) for p in parts] == [list(p.indices) for p in again]
    assert sorted(i for p in parts for i in p.indices) == list(range(20))
    assert all(isinstance(p, Subset) for p in parts)
    with pytest.raises(ValueError, match="between 0 and 1"):
        random_split(range(4), [1.5, -0.5])


def test_samplers_draw_from_their_generator():
    g = tm.Generator().manual_seed(3)
    first = list(RandomSampler(range(10), generator=g))
    assert sorted(first) == list(range(10))
    assert list(RandomSampler(range(10), generator=tm.Generator().manual_seed(3))) == first
    with_replacement = list(RandomSampler(range(4), replacement=True, num_samples=50, generator=g))
    assert len(with_replacement) == 50 and set(with_replacement) <= {0, 1, 2, 3}
    assert sorted(SubsetRandomSampler([3, 9, 4], generator=g)) == [3, 4, 9]


# ------------------------------------------------------------------ worker processes
class RandomDraws(Dataset):
    """Each sample: its index, the worker that loaded it, and draws from every global
    generator the worker seeded."""

    def __len__(self):
        return 24

    def __getitem__(self, index):
        info = get_worker_info()
        worker = -1 if info is None else info.id
        return (np.array([index, worker]), tm.random.default_rng().random(),
                float(np.random.random()), random.random())


class Pids(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        return os.getpid()


class Failing(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, index):
        if index == 7:
            raise ValueError(f"sample {index} is corrupt")
        return np.array([index])


@pytest.mark.parametrize("shuffle", [False, True])
def test_worker_batches_equal_the_single_process_batches_in_order(shuffle):
    x, y = arrays(37)
    single = DataLoader(TensorDataset(x, y), 4, shuffle=shuffle, seed=5)
    multi = DataLoader(TensorDataset(x, y), 4, shuffle=shuffle, seed=5, num_workers=3,
                       prefetch_factor=3)
    for _ in range(2):  # two epochs: the shuffling stream is the same too
        assert_same_batches(batches(single), batches(multi))


def test_workers_leave_the_global_generator_where_a_single_process_leaves_it():
    x, y = arrays()
    states = []
    for workers in (0, 2):
        tm.manual_seed(1)
        list(DataLoader(TensorDataset(x, y), 4, shuffle=True, num_workers=workers))
        states.append(tm.get_rng_state())
    assert states[0] == states[1]


def test_workers_are_seeded_deterministically_and_differently():
    def draws():
        tm.manual_seed(0)
        loader = DataLoader(RandomDraws(), 3, num_workers=2)
        return [tuple(as_numpy(part).tolist() for part in batch) for batch in loader]

    first, second = draws(), draws()
    assert first == second  # reproducible from the global seed
    workers = {tuple(row[1] for row in b[0]) for b in first}
    assert workers == {(0, 0, 0), (1, 1, 1)}  # batches dealt out round robin
    by_worker = {}
    for batch in first:
        by_worker.setdefault(int(batch[0][0][1]), []).append(batch[1:])
    assert by_worker[0][0] != by_worker[1][0]  # every generator differs between workers


def test_worker_init_fn_and_worker_info():
    seen = DataLoader(RandomDraws(), 4, num_workers=2,
                      worker_init_fn=lambda i: tm.manual_seed(100 + i))
    tm.manual_seed(100)
    expected = tm.random.default_rng().random()
    first = next(iter(seen))
    assert as_numpy(first[1])[0] == expected  # worker 0 reseeded by worker_init_fn
    assert get_worker_info() is None  # in the main process


def test_a_worker_error_is_raised_with_the_worker_traceback():
    loader = DataLoader(Failing(), 2, num_workers=2)
    with pytest.raises(ValueError, match="sample 7 is corrupt") as info:
        list(loader)
    text = str(info.value)
    assert "in DataLoader worker process 1" in text and "Traceback" in text
    assert "__getitem__" in text


def test_workers_stop_at_the_end_of_an_epoch_and_after_a_break():
    loader = DataLoader(Pids(), 2, num_workers=2)
    iterator = iter(loader)
    next(iterator)
    workers = list(iterator.workers)
    assert all(w.is_alive() for w in workers)
    del iterator  # a loop left with break
    assert not any(w.is_alive() for w in workers)
    iterator = iter(loader)
    pids = [int(p) for batch in iterator for p in as_numpy(batch)]
    assert os.getpid() not in pids and len(set(pids)) == 2
    assert not any(w.is_alive() for w in iterator.workers)


def test_persistent_workers_live_across_epochs():
    loader = DataLoader(Pids(), 2, num_workers=2, persistent_workers=True)
    first = {int(p) for batch in loader for p in as_numpy(batch)}
    iterator = iter(loader)
    next(iterator)  # leave the second epoch early: the third must not see its batches
    third = [int(p) for batch in loader for p in as_numpy(batch)]
    assert set(third) == first and len(third) == 8
    workers = loader._iterator.workers
    assert all(w.is_alive() for w in workers)
    del loader, iterator
    gc.collect()
    assert not any(w.is_alive() for w in workers)


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")
def test_pin_memory_is_accepted_and_changes_nothing():
    ours_plain, _ = both_loaders(batch_size=4)
    ours_pinned, _ = both_loaders(batch_size=4, pin_memory=True, pin_memory_device="")
    assert_same_batches(batches(ours_plain), batches(ours_pinned))


def test_torch_utils_data_spelled_through_the_package():
    """``import torch; torch.utils.data.DataLoader(...)`` ports with the import alone."""
    import tinymin as torch_like

    assert torch_like.utils.data.DataLoader is DataLoader
