"""compare_to_twin: a kernel is checked against its numpy twin before it is timed."""

import numpy as np
import pytest

from tinymin import _ext
from tinymin._ext import reference
from tinymin._ext.twins import compare_to_twin


def test_the_kernels_agree_with_their_twins_and_are_timed():
    cols = np.random.default_rng(0).standard_normal((64, 27))
    w = np.random.default_rng(1).standard_normal((4, 27))
    for kernel, twin in ((_ext.min_gemm, reference.min_gemm), (_ext.max_gemm, reference.max_gemm),
                         (_ext.adder_gemm, reference.adder_gemm)):
        row = compare_to_twin(kernel, twin, (cols, w), repeats=3)
        assert row["kernel_seconds"] > 0 and row["twin_seconds"] > 0
        assert row["speedup"] == row["twin_seconds"] / row["kernel_seconds"]
        assert row["max_abs_difference"] < 1e-10


def test_medians_come_from_the_clock_given():
    # kernel 1, 2, 1 s; twin 2, 9, 2 s (one slow outlier): medians 1 and 2
    ticks = iter([0.0, 1.0, 1.0, 3.0, 3.0, 5.0, 5.0, 14.0, 14.0, 15.0, 15.0, 17.0])
    row = compare_to_twin(lambda: np.zeros(2), lambda: np.zeros(2), (), repeats=3, clock=lambda: next(ticks))
    assert row == {"kernel_seconds": 1.0, "twin_seconds": 2.0, "speedup": 2.0, "max_abs_difference": 0.0}


@pytest.mark.parametrize("twin_answer, message", [(np.ones(3), "disagree"), (np.zeros(4), "shape")])
def test_a_twin_that_disagrees_is_refused(twin_answer, message):
    with pytest.raises(ValueError, match=message):
        compare_to_twin(lambda: np.zeros(3), lambda: twin_answer, ())


def test_repeats_must_be_positive():
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        compare_to_twin(lambda: 0, lambda: 0, (), repeats=0)


def test_nan_where_both_give_nan_is_agreement():
    # a NaN input must give NaN from the kernel and the twin alike
    cols = np.random.default_rng(2).standard_normal((16, 9))
    w = np.random.default_rng(3).standard_normal((3, 9))
    cols[5, 2] = np.nan
    row = compare_to_twin(_ext.min_gemm, reference.min_gemm, (cols, w), repeats=1)
    assert np.isfinite(row["max_abs_difference"]) and row["max_abs_difference"] < 1e-10
    with pytest.raises(ValueError, match="disagree"):  # NaN on one side only is not
        compare_to_twin(lambda: np.array([np.nan, 1.0]), lambda: np.array([0.0, 1.0]), ())
