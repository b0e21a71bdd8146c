"""tinymin.analysis.similarity: Table 1 (Pearson correlations of the product with the
min-selector, the addition and the max-selector) against the paper."""

from __future__ import annotations

import numpy as np
import pytest

from tinymin.analysis import (
    PAPER_TABLE1,
    TABLE1_COLUMNS,
    TABLE1_DISTRIBUTIONS,
    TABLE1_ROWS,
    format_table1,
    operator_correlations,
    pearson,
    table1,
)


@pytest.fixture(scope="module")
def measured_table1() -> np.ndarray:
    return table1(n_samples=200_000, seed=0)




def test_table1_constants_are_consistent():
    assert PAPER_TABLE1.shape == (len(TABLE1_ROWS), len(TABLE1_COLUMNS)) == (6, 3)
    assert len(TABLE1_DISTRIBUTIONS) == 6
    assert TABLE1_ROWS[0] == "N(0,1) x N(0,1)"
    assert TABLE1_COLUMNS == ("min-selector", "addition", "max-selector")
    np.testing.assert_allclose(PAPER_TABLE1[0], [0.908, 0.882, 0.673])
    with pytest.raises(ValueError):
        PAPER_TABLE1[0, 0] = 0.0  # the published values are read-only


def test_table1_matches_the_paper(measured_table1):
    assert measured_table1.shape == (6, 3)
    np.testing.assert_allclose(measured_table1, PAPER_TABLE1, atol=0.01)


def test_table1_symmetric_rows_agree(measured_table1):
    # every operator is symmetric in x and w: rows 2/3 and 5/6 estimate the same numbers
    np.testing.assert_allclose(measured_table1[1], measured_table1[2], atol=0.01)
    np.testing.assert_allclose(measured_table1[4], measured_table1[5], atol=0.01)


def test_table1_min_selector_beats_addition_when_similar(measured_table1):
    # the paper's lesson: with E|x| = E|w| the min-selector correlates best
    for row in (0, 3):
        assert measured_table1[row, 0] > measured_table1[row, 1] > measured_table1[row, 2]


def test_table1_is_deterministic_per_seed():
    a = table1(n_samples=5_000, seed=3)
    np.testing.assert_array_equal(a, table1(n_samples=5_000, seed=3))
    assert not np.array_equal(a, table1(n_samples=5_000, seed=4))


def test_format_table1_shows_both_values(measured_table1):
    text = format_table1(measured_table1)
    lines = text.splitlines()
    for label, m_row, p_row in zip(TABLE1_ROWS, measured_table1, PAPER_TABLE1):
        line = next(line for line in lines if line.startswith(label))
        for m, p in zip(m_row, p_row):
            assert f"{m:.3f}" in line and f"{p:.3f}" in line
    diff = np.max(np.abs(measured_table1 - PAPER_TABLE1))
    assert lines[-1] == f"max |measured - paper| = {diff:.4f}"
    for column in TABLE1_COLUMNS:
        assert column in text


def test_format_table1_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        format_table1(np.zeros((5, 3)))


def test_pearson_matches_numpy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=1000)
    b = a + rng.normal(size=1000)
    assert pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    assert pearson(a, 3 * a + 1) == pytest.approx(1.0)


def test_operator_correlations_uses_magnitudes_only():
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=2000), rng.normal(size=2000)
    expected = operator_correlations(np.abs(x), np.abs(w))
    np.testing.assert_allclose(operator_correlations(-x, w), expected)
    np.testing.assert_allclose(operator_correlations(w, x), expected)  # symmetric


@pytest.mark.parametrize(
    "call",
    [
        lambda: table1(n_samples=1),
        lambda: table1(n_samples=2.5),
        lambda: table1(n_samples=True),
        lambda: table1(n_samples=10, seed=-1),
        lambda: pearson([1.0, 2.0], [1.0, 2.0, 3.0]),
        lambda: pearson([1.0], [1.0]),
        lambda: pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]),
        lambda: pearson([1.0, np.nan], [1.0, 2.0]),
        lambda: operator_correlations([0.0, 0.0], [1.0, 2.0]),
    ],
)
def test_table1_bad_arguments_raise(call):
    with pytest.raises(ValueError):
        call()
