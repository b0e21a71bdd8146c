"""Tests of tinymin.analysis: Table 1, Eq. 6-7 and the Figure 3 plots."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # tests only: the library itself never picks a backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from strategies import nonzero_floats  # noqa: E402

from tinymin.analysis import (  # noqa: E402
    PAPER_TABLE1,
    TABLE1_COLUMNS,
    TABLE1_DISTRIBUTIONS,
    TABLE1_ROWS,
    elementwise_relative_error,
    format_table1,
    operator_correlations,
    optimal_mu,
    pearson,
    plot_figure3,
    plot_figure3a,
    plot_figure3b,
    plot_figure3c,
    plot_relative_error_map,
    plot_table1_scatter,
    relative_error,
    relative_error_grid,
    save_figure,
    table1,
)
from tinymin.analysis.statistics import _relative_error_pairs  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def measured_table1() -> np.ndarray:
    return table1(n_samples=200_000, seed=0)


# --------------------------------------------------------------------------- #
# Table 1
# --------------------------------------------------------------------------- #


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


# --------------------------------------------------------------------------- #
# Eq. 6-7: relative error
# --------------------------------------------------------------------------- #


def test_elementwise_relative_error_equals_eq6_formula():
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 2.0, size=10_000)
    w = rng.standard_cauchy(size=10_000)
    formula = np.abs(1.0 - 1.0 / np.maximum(np.abs(x), np.abs(w)))
    np.testing.assert_allclose(elementwise_relative_error(x, w), formula, rtol=1e-12, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    nonzero_floats,
    nonzero_floats,
)
def test_elementwise_relative_error_formula_property(x, w):
    got = float(elementwise_relative_error(x, w))
    assert got == pytest.approx(abs(1.0 - 1.0 / max(abs(x), abs(w))), rel=1e-9, abs=1e-12)


def test_elementwise_relative_error_is_nan_where_the_product_is_zero():
    out = elementwise_relative_error([0.0, 2.0, 0.0], [1.0, 0.0, 0.0])
    assert np.all(np.isnan(out))
    assert elementwise_relative_error([[2.0], [-4.0]], [1.0, 3.0]).shape == (2, 2)


def test_relative_error_is_the_mean_of_eq6_on_the_same_draws():
    # relative_error draws x = mu + sigma z1, w = mu + sigma z2 with z from default_rng(seed)
    mu, sigma, n = 0.7, 0.4, 4_000
    z = np.random.default_rng(9).standard_normal((2, n))
    direct = np.mean(elementwise_relative_error(mu + sigma * z[0], mu + sigma * z[1]))
    assert relative_error(mu, sigma, n_samples=n, seed=9) == pytest.approx(direct, rel=1e-10)


def test_relative_error_drops_zero_products():
    # x = [0, 1, 2], w = [1, 1, 0.5]: the first pair has x w = 0 and is dropped,
    # the others have errors |1 - 1/1| = 0 and |1 - 1/2| = 0.5
    z = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 0.5]])
    got = _relative_error_pairs(z, np.array([0.0]), np.array([1.0]))
    np.testing.assert_allclose(got, [0.25])
    all_zero = _relative_error_pairs(np.zeros((2, 3)), np.array([0.0]), np.array([1.0]))
    assert np.isnan(all_zero[0])


def test_relative_error_minimum_near_one_for_small_sigma():
    mus = np.linspace(0.5, 1.5, 51)
    curve = relative_error_grid(mus, [0.05], n_samples=50_000, seed=0)[:, 0]
    best = int(np.argmin(curve))
    assert 0.9 <= mus[best] <= 1.1
    assert 0.02 <= curve[best] <= 0.06  # docs/guides/minconv_math.rst section 3: D_min ~ 0.04
    # D(-mu) = D(mu) in distribution (the draws differ, so only up to Monte Carlo error)
    mirrored = relative_error(-mus[best], 0.05, n_samples=50_000)
    assert mirrored == pytest.approx(curve[best], rel=0.05)


def test_relative_error_minimum_near_sigma_1_7_at_mu_0():
    sigmas = np.linspace(0.5, 4.0, 36)
    curve = relative_error_grid([0.0], sigmas, n_samples=100_000, seed=0)[0]
    best = sigmas[int(np.argmin(curve))]
    assert 1.3 <= best <= 2.1
    assert 1.0 <= best * math.sqrt(2 / math.pi) <= 1.7  # E|x| "not far from 1"


def test_relative_error_grid_equals_pointwise_calls():
    mus, sigmas = [0.0, 0.8, -2.0], [0.1, 1.0]
    grid = relative_error_grid(mus, sigmas, n_samples=3_000, seed=4)
    assert grid.shape == (3, 2)
    for i, mu in enumerate(mus):
        for j, sigma in enumerate(sigmas):
            expected = relative_error(mu, sigma, n_samples=3_000, seed=4)
            assert grid[i, j] == pytest.approx(expected, rel=1e-12)


def test_relative_error_is_seeded():
    a = relative_error(0.5, 0.5, n_samples=2_000, seed=1)
    assert a == relative_error(0.5, 0.5, n_samples=2_000, seed=1)
    assert a != relative_error(0.5, 0.5, n_samples=2_000, seed=2)


def test_optimal_mu_stays_near_one_for_small_sigma():
    best = optimal_mu([0.02, 0.05, 0.1, 0.2], n_samples=20_000)
    assert best.shape == (4,)
    assert np.all(np.abs(best - 1.0) <= 0.1)


@pytest.mark.parametrize(
    "call",
    [
        lambda: relative_error(1.0, 0.0),
        lambda: relative_error(1.0, -1.0),
        lambda: relative_error(1.0, float("nan")),
        lambda: relative_error(float("inf"), 1.0),
        lambda: relative_error(1.0, 1.0, n_samples=1),
        lambda: relative_error(1.0, 1.0, n_samples=10, seed=1.5),
        lambda: relative_error_grid([0.0], [1.0, 0.0]),
        lambda: relative_error_grid([], [1.0]),
        lambda: relative_error_grid([[0.0, 1.0]], [1.0]),
        lambda: optimal_mu([-0.1]),
    ],
)
def test_relative_error_bad_arguments_raise(call):
    with pytest.raises(ValueError):
        call()


def test_sigma_error_message_is_clear():
    with pytest.raises(ValueError, match="sigma must be finite and > 0"):
        relative_error(0.0, 0.0)


# --------------------------------------------------------------------------- #
# Figures
# --------------------------------------------------------------------------- #

FAST = {"n_samples": 2_000}


def test_plot_figure3a_one_curve_per_sigma():
    fig = plot_figure3a(sigmas=(0.05, 0.2), mus=np.linspace(-2, 2, 21), **FAST)
    (ax,) = fig.axes
    assert len(ax.lines) == 2 + 2  # two curves, two reference lines at mu = +-1
    assert ax.get_yscale() == "log"


def test_plot_figure3b_and_3c_draw_on_a_given_axes():
    fig, axes = plt.subplots(1, 2)
    assert plot_figure3b(axes[0], sigmas=[0.05, 0.1], mus=np.linspace(0, 2, 11), **FAST) is fig
    assert plot_figure3c(axes[1], sigmas=np.linspace(0.5, 3, 6), **FAST) is fig
    assert len(fig.axes) == 2
    assert len(axes[0].lines) == 2  # argmin curve, reference at mu = 1
    assert len(axes[1].lines) == 2  # curve, marked minimum
    np.testing.assert_allclose(axes[1].lines[0].get_xdata(), np.linspace(0.5, 3, 6))


def test_plot_relative_error_map_and_scatter():
    fig = plot_relative_error_map(mus=np.linspace(-2, 2, 9), sigmas=[0.1, 0.5, 1.0], **FAST)
    assert len(fig.axes) == 2  # the map and its colour bar
    fig = plot_table1_scatter(row=4, n_points=500)
    assert len(fig.axes) == 1 and len(fig.axes[0].collections) == 1
    assert TABLE1_ROWS[4] in fig.axes[0].get_title()


@pytest.mark.parametrize(
    "call",
    [
        lambda: plot_table1_scatter(row=6),
        lambda: plot_table1_scatter(row=-1),
        lambda: plot_table1_scatter(n_points=1),
        lambda: plot_figure3a(sigmas=(0.0,)),
        lambda: plot_figure3c(sigmas=[1.0], mu=float("nan")),
    ],
)
def test_plot_bad_arguments_raise(call):
    with pytest.raises(ValueError):
        call()


def test_plot_figure3_saves_a_png_atomically(tmp_path):
    path = tmp_path / "figure3.png"
    path.write_bytes(b"old")  # replaced, never appended to
    fig = plot_figure3(path=path, dpi=40, **FAST)
    assert len(fig.axes) == 3
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure3.png"]  # no temp left


def test_plot_figure3_without_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(plot_figure3(**FAST).axes) == 3
    assert list(tmp_path.iterdir()) == []


def test_save_figure_leaves_no_temp_file_on_failure(tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "figure.notaformat")
    assert list(tmp_path.iterdir()) == []
