"""Dataset helpers and the DataLoader."""

import numpy as np
import pytest

import tinymin as tm
from tinymin.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    default_convert,
    random_split,
)


def make_dataset(n=10):
    return TensorDataset(np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n))


def test_batches_cover_the_dataset_once():
    loader = DataLoader(make_dataset(), batch_size=4, shuffle=True, seed=0)
    labels = np.concatenate([y.data for _, y in loader])
    assert sorted(labels.tolist()) == list(range(10))
    assert len(loader) == 3
    x, y = next(iter(loader))
    assert x.shape == (4, 2) and x.dtype == np.float32 and y.dtype == np.int64


def test_drop_last_and_no_shuffle_order():
    loader = DataLoader(make_dataset(), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [y.tolist() for _, y in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffle_reproducible_and_changes_each_epoch():
    a = DataLoader(make_dataset(), batch_size=10, shuffle=True, seed=3)
    b = DataLoader(make_dataset(), batch_size=10, shuffle=True, seed=3)
    first_a, second_a = [next(iter(a))[1].tolist() for _ in range(2)]
    assert first_a == next(iter(b))[1].tolist()
    assert first_a != second_a
    tm.manual_seed(1)
    c = next(iter(DataLoader(make_dataset(), 10, shuffle=True)))[1].tolist()
    tm.manual_seed(1)
    assert c == next(iter(DataLoader(make_dataset(), 10, shuffle=True)))[1].tolist()


def test_custom_collate():
    loader = DataLoader(make_dataset(), batch_size=5, collate_fn=lambda s: len(s))
    assert list(loader) == [5, 5]


def test_default_collate_structures():
    batch = default_collate([{"x": np.ones(2), "y": 1.5}, {"x": np.zeros(2), "y": 2.5}])
    assert batch["x"].shape == (2, 2) and batch["y"].dtype == np.float32
    with pytest.raises(TypeError, match="cannot batch"):
        default_collate([object()])


def test_random_split():
    train, test = random_split(make_dataset(), [7, 3], seed=0)
    assert len(train) == 7 and len(test) == 3
    seen = {int(train[i][1]) for i in range(7)} | {int(test[i][1]) for i in range(3)}
    assert seen == set(range(10))
    with pytest.raises(ValueError, match="sum"):
        random_split(make_dataset(), [5, 6])
    for lengths in ([5.0, 5.0], [True, 9]):  # sizes that are not integers: named, not sliced
        with pytest.raises(TypeError, match=r"lengths \[.*\] must be integers"):
            random_split(make_dataset(), lengths)
    assert [len(s) for s in random_split(make_dataset(), [np.int64(4), 6], seed=0)] == [4, 6]


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(make_dataset(), batch_size=0)
    with pytest.raises(ValueError, match="first dimensions differ"):
        TensorDataset(np.ones(3), np.ones(4))


# ------------------------------------------------------------------------------------------------
# default_collate promotes dtypes across a batch and refuses samples whose structures differ,
# instead of truncating or dropping values silently.


def test_a_float_label_after_int_labels_gives_a_float_batch():
    batch = default_collate([1, 2, 2.5])
    assert batch.dtype == np.float32 and batch.tolist() == [1.0, 2.0, 2.5]


def test_number_batches_keep_the_narrowest_type_that_fits_all():
    assert default_collate([True, False]).dtype == np.bool_
    assert default_collate([1, np.int32(2), True]).dtype == np.int64
    assert default_collate([np.float64(0.5), 1]).dtype == np.float32


def test_arrays_of_different_dtypes_promote():
    batch = default_collate([np.array([1, 2]), np.array([0.5, 1.5])])
    assert batch.dtype == np.float64 and batch.tolist() == [[1.0, 2.0], [0.5, 1.5]]


@pytest.mark.parametrize("samples, message", [
    ([(1,), (1, 2)], r"sample 1 is a tuple of 2 but sample 0 is a tuple of 1"),
    ([(1, 2), (1,)], r"sample 1 is a tuple of 1 but sample 0 is a tuple of 2"),
    ([{"x": 1}, {"y": 1}], r"sample 1 is a dict with keys \['y'\]"),
    ([1, np.array([1])], r"sample 1 is an array of shape \(1,\) but sample 0 is an int"),
    ([np.zeros(2), np.zeros(3)],
     r"sample 1 is an array of shape \(3,\) but sample 0 is an array of shape \(2,\)"),
    ([(np.zeros(2), 1), (np.zeros(2), (1, 2))], r"sample 1 is a tuple of 2 but sample 0 is an int"),
])
def test_samples_with_different_structures_raise_value_error(samples, message):
    with pytest.raises(ValueError, match=message):
        default_collate(samples)


class Keyed(Dataset):
    """A dataset of string keys, as in PyTorch a sampler may yield any key."""

    values = {"a": 1, "b": 2, "c": 3}

    def __len__(self):
        return 3

    def __getitem__(self, key):
        return self.values[key]


def test_indices_reach_the_dataset_as_the_sampler_gives_them():
    assert next(iter(DataLoader(Keyed(), batch_size=2, sampler=["a", "c"]))).tolist() == [1, 3]
    rows = TensorDataset(np.arange(5) * 10)
    batched = DataLoader(rows, batch_size=None, sampler=BatchSampler(SequentialSampler(rows), 2,
                                                                     False))
    assert [b[0].tolist() for b in batched] == [[0, 10], [20, 30], [40]]
    with pytest.raises(TypeError):  # a float index is no longer truncated to an int
        next(iter(DataLoader([5, 6], batch_size=1, sampler=[1.5])))


def test_subset_keeps_its_indices_as_given_and_passes_lists_on():
    first, second = random_split(list(range(10)), [5, 5], seed=0)
    assert isinstance(first.indices, list) and sorted(first.indices + second.indices) == list(
        range(10))
    subset = Subset(list(range(100, 110)), [1, 3, 5])
    assert subset[0] == 101 and subset[-1] == 105
    assert Subset(Keyed(), ["a", "c"])[1] == 3
    assert Subset(np.arange(100, 110), [1, 3, 5])[[0, 2]].tolist() == [101, 105]


def test_numpy_scalars_keep_their_dtype_in_a_batch_as_in_torch():
    columns = TensorDataset(np.ones((4, 2)), np.array([16777217.0, 0.1, 0, 0]),
                            np.arange(4, dtype=np.int32), np.arange(4, dtype=np.uint8))
    batch = next(iter(DataLoader(columns, batch_size=4)))
    assert [part.dtype for part in batch] == [np.float64, np.float64, np.int32, np.uint8]
    assert batch[1].numpy()[0] == 16777217.0  # not rounded through float32
    assert default_collate([1.5, 2]).dtype == np.float32  # Python floats: documented float32
    converted = default_convert(np.float64(1.5))
    assert isinstance(converted, tm.Tensor) and converted.dtype == np.float64
    assert default_convert(np.array(["a"])).tolist() == ["a"]


def test_loader_attributes_and_iterator_length_are_torchs():
    torch_data = pytest.importorskip("torch.utils.data", reason="the oracle is PyTorch")
    data = list(range(10))
    for lib in (tm.utils.data, torch_data):
        loader = lib.DataLoader(data, batch_sampler=[[1, 2], [3]])
        assert loader.batch_size is None and type(loader.sampler).__name__ == "SequentialSampler"
        assert loader.prefetch_factor is None and len(iter(loader)) == 2
        with pytest.raises(ValueError, match="batch_size attribute should not be set after"):
            loader.batch_size = 5
    assert tm.utils.data.DataLoader(data, batch_size=3, num_workers=2).prefetch_factor == 2


def test_initial_seed_is_the_last_manual_seed_as_in_torch():
    tm.manual_seed(1234)
    assert tm.initial_seed() == 1234
    assert isinstance(tm.random.initial_seed(), int)
