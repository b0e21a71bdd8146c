"""tinymin.data.dataset: Subset and random_subset (random_split and TensorDataset are
tested with the DataLoader in test_dataloader.py)."""

import numpy as np
import pytest

from tinymin.data import Subset, TensorDataset, random_subset


def numbered(n=10):
    return TensorDataset(np.arange(n, dtype=np.float32) * 10, np.arange(n))


def test_subset_serves_the_samples_at_its_indices_in_their_order():
    subset = Subset(numbered(), [7, 2, 2, 9])
    assert len(subset) == 4
    assert [int(subset[i][1]) for i in range(4)] == [7, 2, 2, 9]
    assert float(subset[0][0]) == 70.0
    with pytest.raises(IndexError):
        subset[4]


def test_random_subset_is_seeded_and_distinct():
    data = numbered(50)
    a, b = random_subset(data, 20, seed=3), random_subset(data, 20, seed=3)
    labels = [int(a[i][1]) for i in range(len(a))]
    assert len(a) == 20 and len(set(labels)) == 20
    assert labels == [int(b[i][1]) for i in range(len(b))]
    assert labels != [int(s[1]) for s in random_subset(data, 20, seed=4)]


def test_random_subset_returns_the_dataset_when_no_limit_applies():
    data = numbered(5)
    assert random_subset(data, None, seed=0) is data
    assert random_subset(data, 5, seed=0) is data
    assert random_subset(data, 99, seed=0) is data
    with pytest.raises(ValueError, match="limit must be positive, got 0"):
        random_subset(data, 0, seed=0)
