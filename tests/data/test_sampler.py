"""tinymin.data.sampler and tinymin.Generator: samplers, reproducible shuffling, and
random_split with a generator (against torch: tests/torchlike/test_data.py)."""

import numpy as np
import pytest

import tinymin as tm
from tinymin.utils.data import (
    DataLoader,
    RandomSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    random_split,
)


def as_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def arrays(n=23):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return x, np.arange(n) % 4


def batches(loader):
    return [tuple(as_numpy(part) for part in batch) for batch in loader]


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


def test_concat_dataset_and_dataset_addition_index_as_torchs():
    torch_data = pytest.importorskip("torch.utils.data", reason="the oracle is PyTorch")
    from tinymin.data import ConcatDataset

    parts = [list(range(3)), list(range(10, 12)), [], list(range(20, 24))]
    ours, theirs = ConcatDataset(parts), torch_data.ConcatDataset(parts)
    assert len(ours) == len(theirs) == 9 and ours.cumulative_sizes == theirs.cumulative_sizes
    assert [ours[i] for i in range(-9, 9)] == [theirs[i] for i in range(-9, 9)]
    with pytest.raises(IndexError, match="index 9 is out of range for 9 samples"):
        ours[9]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])
    added = TensorDataset(np.arange(2)) + TensorDataset(np.arange(5, 7))
    assert [int(added[i][0]) for i in range(4)] == [0, 1, 5, 6]


def test_weighted_random_sampler_draws_in_proportion_and_checks_its_arguments():
    from tinymin.data import WeightedRandomSampler

    tm.manual_seed(0)
    drawn = list(WeightedRandomSampler([1.0, 0.0, 3.0], 4000))
    counts = np.bincount(drawn, minlength=3)
    assert counts[1] == 0 and 0.70 < counts[2] / 4000 < 0.80  # 3/4 expected
    once = list(WeightedRandomSampler([1.0, 1.0, 1.0, 0.0], 3, replacement=False))
    assert sorted(once) == [0, 1, 2]
    for bad, message in (([1.0, -1.0], "non-negative"), ([0.0, 0.0], "not all zero"),
                         ([1.0, float("nan")], "finite")):
        with pytest.raises(ValueError, match=message):
            WeightedRandomSampler(bad, 2)
    with pytest.raises(ValueError, match="3 samples without replacement from 2 non-zero"):
        WeightedRandomSampler([1.0, 1.0, 0.0], 3, replacement=False)
