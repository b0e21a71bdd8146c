"""default_collate promotes dtypes across a batch and refuses samples whose
structures differ, instead of truncating or dropping values silently."""

import numpy as np
import pytest

from tinymin.data import default_collate


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
