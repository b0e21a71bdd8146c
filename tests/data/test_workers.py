"""tinymin.data.workers: DataLoader(num_workers=N) loads the single-process batches, in
order, in seeded worker processes; errors come back with the worker's traceback; the
workers stop at the end of an epoch, after a break, or with a persistent loader."""

import gc
import os
import random

import numpy as np
import pytest

import tinymin as tm
from tinymin.utils.data import DataLoader, Dataset, TensorDataset, get_worker_info


def as_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def arrays(n=23):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return x, np.arange(n) % 4


def batches(loader):
    return [tuple(as_numpy(part) for part in batch) for batch in loader]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for batch_a, batch_b in zip(a, b):
        for part_a, part_b in zip(batch_a, batch_b):
            np.testing.assert_array_equal(part_a, part_b)
            assert part_a.dtype == part_b.dtype


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


class Unpicklable(Dataset):
    """Sample 5 holds a lambda: it loads, but cannot be pickled back to the main process."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return (lambda: index) if index == 5 else np.array([index])


class LocalError(Dataset):
    """Sample 3 raises an exception whose class, defined in a function, cannot be pickled."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        class SampleError(Exception):
            pass

        if index == 3:
            raise SampleError("sample 3 is corrupt")
        return np.array([index])


def test_a_batch_that_cannot_be_pickled_is_an_error_not_a_hang():
    loader = DataLoader(Unpicklable(), 2, num_workers=2, collate_fn=list)
    seen = []
    with pytest.raises(Exception, match="while sending batch 2 back to the main process") as info:
        for batch in loader:
            seen.append(batch)
    assert len(seen) == 2  # the batches before it arrived
    assert "lambda" in str(info.value)


def test_an_error_of_a_type_that_cannot_be_pickled_comes_back_as_a_runtime_error():
    with pytest.raises(RuntimeError, match="SampleError: sample 3 is corrupt"):
        list(DataLoader(LocalError(), 2, num_workers=2))


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


def test_a_persistent_loader_starts_new_workers_after_an_error():
    loader = DataLoader(Failing(), 2, num_workers=2, persistent_workers=True)
    for _ in range(2):  # the error shut the workers down; the next epoch starts new ones
        with pytest.raises(ValueError, match="sample 7 is corrupt"):
            list(loader)


class Dying(Dataset):
    """A worker that dies outright (as from the OOM killer) at sample 3."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        if index == 3:
            os._exit(3)
        return np.array([index])


def test_a_worker_that_dies_is_reported_not_waited_for():
    with pytest.raises(RuntimeError, match="exited unexpectedly .*exit code 3"):
        list(DataLoader(Dying(), 2, num_workers=2))


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_resumed_loader_draws_in_its_workers_what_an_uninterrupted_one_draws(shuffle):
    # what a checkpoint saves (tinymin.train.rng_states) and a resume restores: the
    # generators and the passes, of which each pass's worker seeds are made
    from tinymin.train import rng_states

    def draws(loader):
        return [as_numpy(batch[1]) for batch in loader]

    tm.manual_seed(0)
    straight = DataLoader(RandomDraws(), 6, shuffle=shuffle, seed=1, num_workers=2)
    draws(straight)
    saved = rng_states(straight)  # after epoch 1, as a checkpoint holds them
    expected = draws(straight)
    assert "train_loader_worker_passes" in saved

    tm.manual_seed(123)  # another process, another start
    resumed = DataLoader(RandomDraws(), 6, shuffle=shuffle, seed=1, num_workers=2)
    tm.random.set_rng_state(str(saved["rng_global"]))
    resumed.set_rng_state(str(saved["rng_train_loader"]))
    resumed.worker_passes = int(saved["train_loader_worker_passes"])
    got = draws(resumed)
    assert_same_batches([tuple(expected)], [tuple(got)])


def test_each_new_loader_on_the_global_generator_gets_other_worker_seeds_until_reseeded():
    """Loaders made anew each epoch used to hand their workers the same seeds, so
    random augmentations repeated every epoch (nothing had moved the generator)."""
    def first_draws():
        batch = next(iter(DataLoader(RandomDraws(), 4, num_workers=2)))
        return as_numpy(batch[1]).tolist()

    tm.manual_seed(0)
    one, two = first_draws(), first_draws()
    assert one != two
    tm.manual_seed(0)
    assert first_draws() == one  # manual_seed starts the passes over, as in PyTorch


class FailsAtFour(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, index):
        if index == 4:
            raise ValueError("sample 4 is bad")
        return np.array([index])


@pytest.mark.parametrize("workers", [0, 2])
def test_after_a_caught_error_the_pass_goes_on_to_its_end_as_in_torch(workers):
    it = iter(DataLoader(FailsAtFour(), 2, num_workers=workers))
    seen = []
    while True:
        try:
            seen.append(as_numpy(next(it)).ravel().tolist())
        except ValueError as err:
            assert "sample 4 is bad" in str(err)
            seen.append("error")
        except StopIteration:
            break
    assert seen == [[0, 1], [2, 3], "error", [6, 7], [8, 9]]
